/**
 * The provider benchmark's measured cases (scripts/bench-providers.mjs), browser-safe so onnxruntime-node (in the
 * script's process or the lavapipe child) and onnxruntime-web (in headless Chromium) run the same code:
 *
 * - `adam`: `DeviceOptimizer` over one float32 parameter of n elements, the float32 Adam step graph, the IO-bound
 *   path it runs by default: per step only the gradient (and the hyper-parameter vector) is uploaded, parameters and
 *   state stay on the device;
 * - `learned`: `LearnedOptimizerRunner` with the `mlp-hybrid-v1` network over n parameters (uploads parameter and
 *   gradient, reads back the parameter every step);
 * - `core-adam` / `core-learned`: `@opt/core` Adam (JS or wasm kernels) and the TypeScript `MLPLearnedOptimizer`,
 *   the host references.
 *
 * Timing: a few warm-up steps (sessions compile on the first), then `samples` samples of k consecutive steps, k
 * chosen so a sample takes about `sampleSeconds`. Each sample ends with a host read of the parameter (GPU work is
 * asynchronous: the read waits for it), so a sample's time covers the device work of its steps; ms/step is the median
 * sample time / k.
 */
import { Adam } from '@opt/core';
import { MLPLearnedOptimizer } from '@opt/learned';
import { Parameter } from '@opt/tensor';
import type { DeviceKind } from '../../src/backends/errors.js';
import type { Backend } from '../../src/backends/runner.js';
import { DeviceOptimizer } from '../../src/device/device-optimizer.js';
import { LearnedOptimizerRunner } from '../../src/learned/runner.js';

/** One benchmark cell. */
export interface BenchCase {
  kind: 'adam' | 'learned' | 'core-adam' | 'core-learned';
  n: number;
  /** onnxruntime device (`adam`, `learned`) or `@opt/core` backend (`core-adam`: `'js' | 'wasm'`). */
  device: string;
}

/** Timing policy. */
export interface BenchPolicy {
  warmup?: number;
  samples?: number;
  sampleSeconds?: number;
}

/** A measured cell. */
export interface BenchResult extends BenchCase {
  /** The device that ran (after fallback), or the core backend. */
  ran: string;
  msPerStep: number;
  /** Spread of the samples: p10–p90 equivalents over few samples (min and max). */
  msMin: number;
  msMax: number;
  elementsPerSecond: number;
  stepsPerSample: number;
  samples: number;
  /** Set when the cell could not run. */
  error?: string;
}

interface Steppable {
  ran: string;
  step(): Promise<void> | void;
  /** Wait until the device has finished every step issued so far (reads the parameter back). */
  flush(): Promise<void> | void;
  release(): Promise<void> | void;
}

function makeParam(n: number): Parameter {
  const p = Parameter.zeros([n], 'float32', 'w');
  for (let i = 0; i < n; i++) p.data[i] = Math.sin(i * 0.7);
  return p;
}

function fixedGrad(n: number): Float32Array {
  const g = new Float32Array(n);
  for (let i = 0; i < n; i++) g[i] = 0.1 * Math.cos(i * 0.3);
  return g;
}

async function open(c: BenchCase, backend: Backend | null): Promise<Steppable> {
  const p = makeParam(c.n);
  const g = fixedGrad(c.n);
  switch (c.kind) {
    case 'adam': {
      const opt = await DeviceOptimizer.create(Adam, [p], { lr: 1e-3 }, { backend: backend!, devices: [c.device as DeviceKind], compute: 'float32' });
      return {
        ran: opt.device,
        step: () => {
          p.grad = g;
          return opt.step();
        },
        // Parameters only: state stays on the device (syncToHost would download it too).
        flush: async () => {
          await opt.syncToHost();
        },
        release: () => opt.release(),
      };
    }
    case 'learned': {
      const opt = new MLPLearnedOptimizer([p], { weights: 'mlp-hybrid-v1', lr: 1e-3 });
      const runner = await LearnedOptimizerRunner.create(opt, { backend: backend!, devices: [c.device as DeviceKind] });
      return {
        ran: runner.device,
        step: async () => {
          p.grad = g;
          await runner.step();
        },
        // The runner reads the parameter back inside every step.
        flush: () => undefined,
        release: () => runner.release(),
      };
    }
    case 'core-adam': {
      const opt = new Adam([p], { lr: 1e-3, backend: c.device as 'js' | 'wasm', nonFinite: 'ignore' });
      return {
        ran: `@opt/core ${opt.backend}`,
        step: () => {
          p.grad = g;
          opt.step();
        },
        flush: () => undefined,
        release: () => undefined,
      };
    }
    case 'core-learned': {
      const opt = new MLPLearnedOptimizer([p], { weights: 'mlp-hybrid-v1', lr: 1e-3 });
      return {
        ran: 'TypeScript MLPLearnedOptimizer',
        step: () => {
          p.grad = g;
          opt.step();
        },
        flush: () => undefined,
        release: () => undefined,
      };
    }
  }
}

/** Measure one cell (errors are reported in the result, not thrown, so one failing provider leaves the table). */
export async function measure(c: BenchCase, backend: Backend | null, policy: BenchPolicy = {}): Promise<BenchResult> {
  const warmup = policy.warmup ?? 3;
  const samples = policy.samples ?? 5;
  const sampleSeconds = policy.sampleSeconds ?? 0.3;
  let s: Steppable | null = null;
  try {
    s = await open(c, backend);
    for (let i = 0; i < warmup; i++) await s.step();
    await s.flush();
    // The first step compiles the session: time two more to size the samples.
    const w1 = performance.now();
    await s.step();
    await s.step();
    await s.flush();
    const perStep = Math.max((performance.now() - w1) / 2, 1e-3);
    const k = Math.max(1, Math.min(200, Math.round((sampleSeconds * 1000) / perStep)));
    const times: number[] = [];
    for (let r = 0; r < samples; r++) {
      const t0 = performance.now();
      for (let i = 0; i < k; i++) await s.step();
      await s.flush();
      times.push((performance.now() - t0) / k);
    }
    times.sort((a, b) => a - b);
    const ms = times[Math.floor(times.length / 2)]!;
    return {
      ...c,
      ran: s.ran,
      msPerStep: ms,
      msMin: times[0]!,
      msMax: times[times.length - 1]!,
      elementsPerSecond: (c.n / ms) * 1000,
      stepsPerSample: k,
      samples,
    };
  } catch (e) {
    return { ...c, ran: '-', msPerStep: Number.NaN, msMin: Number.NaN, msMax: Number.NaN, elementsPerSecond: Number.NaN, stepsPerSample: 0, samples: 0, error: e instanceof Error ? e.message : String(e) };
  } finally {
    if (s !== null) await s.release();
  }
}

/** Measure cells in order. */
export async function measureAll(cases: readonly BenchCase[], backend: Backend | null, policy: BenchPolicy = {}): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  for (const c of cases) out.push(await measure(c, backend, policy));
  return out;
}
