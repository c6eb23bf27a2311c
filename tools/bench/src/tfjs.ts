import { createRequire } from 'node:module';
import path from 'node:path';
import type { BenchCase } from './cases.js';
import { fillPattern } from './cases.js';
import { type Samples, type TimingPolicy, timeSteps } from './measure.js';

type Tf = typeof import('@tensorflow/tfjs');
type Variable = import('@tensorflow/tfjs').Variable;
type Tensor = import('@tensorflow/tfjs').Tensor;

/** The tfjs backends the suite times. */
export type TfBackend = 'wasm' | 'cpu';

/** Per-step cost that tfjs itself reports (`tf.profile` of one step). */
export interface TfProfile {
  /** Kernels launched by one step. */
  kernels: number;
  /** Bytes allocated above the steady state during one step (intermediate tensors). */
  transientBytes: number;
  /** Tensors left behind by one step (0 when disposal is right). */
  newTensors: number;
}

/** A timed tfjs cell. */
export interface TfResult {
  samples: Samples;
  profile: TfProfile | undefined;
  /** Tensors alive after the timing minus before it (0 when disposal is right). */
  leakedTensors: number;
  /** How the update is expressed in tfjs. */
  how: string;
}

/** A loaded tfjs with the backends that initialised. */
export interface TfSession {
  tf: Tf;
  version: string;
  backends: Partial<Record<TfBackend, string>>;
  /** Why a backend is missing, per backend. */
  failures: Partial<Record<TfBackend, string>>;
}

/**
 * Load `@tensorflow/tfjs` and register the wasm backend with its `.wasm` files
 * taken from the installed package's `dist` folder, then initialise each backend.
 */
export async function loadTf(): Promise<TfSession> {
  const tf: Tf = await import('@tensorflow/tfjs');
  const session: TfSession = { tf, version: tf.version.tfjs, backends: {}, failures: {} };
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const require = createRequire(import.meta.url);
    const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
    wasm.setWasmPaths(dist);
    if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") returned false');
    await tf.ready();
    const env = tf.env();
    const simd = env.getBool('WASM_HAS_SIMD_SUPPORT');
    const threads = env.getBool('WASM_HAS_MULTITHREAD_SUPPORT');
    session.backends.wasm = `tfjs-backend-wasm ${wasm.version_wasm}, SIMD ${simd ? 'on' : 'off'}, threads ${threads ? `on (${wasm.getThreadsCount()})` : 'off'}`;
  } catch (e) {
    session.failures.wasm = message(e);
  }
  try {
    if (!(await tf.setBackend('cpu'))) throw new Error('tf.setBackend("cpu") returned false');
    await tf.ready();
    session.backends.cpu = 'tfjs cpu backend (pure JavaScript)';
  } catch (e) {
    session.failures.cpu = message(e);
  }
  return session;
}

interface TfCell {
  step: () => void;
  dispose: () => void;
  how: string;
}

let uid = 0;

function buildCell(tf: Tf, c: BenchCase): TfCell {
  const vars: Variable[] = [];
  const grads: Tensor[] = [];
  // The array form of applyGradients' argument; tfjs's map form wants Variables as gradients.
  const named: Array<{ name: string; tensor: Tensor }> = [];
  const buf = new Float32Array(c.elements);
  for (let k = 0; k < c.tensors; k++) {
    const name = `bench_${uid++}`;
    fillPattern(buf, 12345 + k, 1);
    const v = tf.variable(tf.tensor1d(buf), true, name);
    fillPattern(buf, 54321 + k, 0.1);
    const g = tf.tensor1d(buf);
    vars.push(v);
    grads.push(g);
    named.push({ name, tensor: g });
  }
  const extra: Variable[] = [];
  const disposeAll = (): void => {
    for (const t of [...vars, ...grads, ...extra]) t.dispose();
  };
  const o = c.spec.options as Record<string, number>;
  switch (c.spec.key) {
    case 'adam': {
      const opt = tf.train.adam(o['lr'], 0.9, 0.999, 1e-8);
      return { step: () => opt.applyGradients(named), dispose: () => (opt.dispose(), disposeAll()), how: 'tf.train.adam' };
    }
    case 'adamw': {
      // tfjs has no AdamW: decoupled decay as one assign per variable, then Adam.
      const opt = tf.train.adam(o['lr'], 0.9, 0.999, 1e-8);
      const decay = 1 - o['lr']! * o['weightDecay']!;
      const step = (): void => {
        tf.tidy(() => {
          for (const v of vars) v.assign(tf.mul(v, decay));
        });
        opt.applyGradients(named);
      };
      return { step, dispose: () => (opt.dispose(), disposeAll()), how: 'tf.train.adam + decay assign (no AdamW in tfjs)' };
    }
    case 'sgd_momentum': {
      const opt = tf.train.momentum(o['lr'], o['momentum']!);
      return { step: () => opt.applyGradients(named), dispose: () => (opt.dispose(), disposeAll()), how: 'tf.train.momentum' };
    }
    case 'adagrad': {
      const opt = tf.train.adagrad(o['lr']);
      return { step: () => opt.applyGradients(named), dispose: () => (opt.dispose(), disposeAll()), how: 'tf.train.adagrad' };
    }
    case 'rmsprop': {
      const opt = tf.train.rmsprop(o['lr'], 0.99, 0, 1e-8, false);
      return { step: () => opt.applyGradients(named), dispose: () => (opt.dispose(), disposeAll()), how: 'tf.train.rmsprop' };
    }
    case 'lion': {
      // tfjs has no Lion: the update written with tf ops, as a tfjs user would.
      for (const v of vars) extra.push(tf.variable(tf.zerosLike(v), false));
      const lr = o['lr']!;
      const step = (): void => {
        tf.tidy(() => {
          for (let k = 0; k < vars.length; k++) {
            const v = vars[k]!;
            const m = extra[k]!;
            const g = grads[k]!;
            const u = tf.add(tf.mul(m, 0.9), tf.mul(g, 0.1));
            v.assign(tf.sub(v, tf.mul(tf.sign(u), lr)));
            m.assign(tf.add(tf.mul(m, 0.99), tf.mul(g, 0.01)));
          }
        });
      };
      return { step, dispose: disposeAll, how: 'tf ops in tf.tidy (no Lion in tfjs)' };
    }
  }
}

/** Time one cell on a tfjs backend; float64 is not a tfjs dtype, so such cells throw. */
export async function timeTf(session: TfSession, backend: TfBackend, c: BenchCase, policy: TimingPolicy): Promise<TfResult> {
  const { tf } = session;
  if (c.dtype !== 'float32') throw new Error('tfjs has no float64');
  if (tf.getBackend() !== backend && !(await tf.setBackend(backend))) throw new Error(`cannot switch to the ${backend} backend`);
  const cell = buildCell(tf, c);
  try {
    // The first step creates the optimizer's state tensors; count from after it.
    cell.step();
    const before = tf.memory().numTensors;
    const samples = timeSteps(cell.step, policy);
    const leakedTensors = tf.memory().numTensors - before;
    const perStepMs = samples.samplesNs.reduce((a, b) => a + b, 0) / samples.samplesNs.length / samples.stepsPerSample / 1e6;
    let profile: TfProfile | undefined;
    if (perStepMs < 1000) {
      const baseline = tf.memory().numBytes;
      const info = await tf.profile(() => {
        cell.step();
      });
      profile = { kernels: info.kernels.length, transientBytes: Math.max(0, info.peakBytes - baseline), newTensors: tf.memory().numTensors - before - leakedTensors };
    }
    return { samples, profile, leakedTensors, how: cell.how };
  } finally {
    cell.dispose();
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
