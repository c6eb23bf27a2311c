import { writeFileSync } from 'node:fs';
import { Parameter, QUANT_BLOCK_SIZE, Rng, SIGNED_DYNAMIC_MAP, UNSIGNED_DYNAMIC_MAP, dequantizeBlockwise } from '@opt/tensor';
import {
  Adam,
  Adam8bit,
  type Adam8bitState,
  AdamW,
  AdamW8bit,
  InvalidOptionError,
  NonFiniteError,
  type Optimizer,
  StateDictError,
} from '../src/index';

/** Bytes held by typed arrays in an optimizer's state: the same accounting for every optimizer. */
function stateBytes(opt: { state: Map<Parameter, object> }): number {
  let bytes = 0;
  for (const s of opt.state.values()) {
    for (const value of Object.values(s)) if (ArrayBuffer.isView(value)) bytes += value.byteLength;
  }
  return bytes;
}

function stateOf(opt: Adam8bit | AdamW8bit, p: Parameter): Adam8bitState {
  return opt.state.get(p) as unknown as Adam8bitState;
}

/** When OPT_8BIT_REPORT names a file, the measured numbers are written there (one JSON object per line). */
function report(record: object): void {
  const file = process.env.OPT_8BIT_REPORT;
  if (file) writeFileSync(file, `${JSON.stringify(record)}\n`, { flag: 'a' });
}

// ---------------------------------------------------------------------------
// Real tasks with hand-written gradients, large enough for the 8-bit path.
// ---------------------------------------------------------------------------

/**
 * A 2-layer ReLU MLP classifier (32 → 256 → 16, 12,560 parameters: both weight
 * matrices take the 8-bit path, the biases keep 32-bit state) trained with
 * mini-batches of 32 on labels from a random teacher network.
 */
class MlpTask {
  static readonly D = 32;
  static readonly H = 256;
  static readonly C = 16;
  readonly w1: Parameter;
  readonly b1: Parameter;
  readonly w2: Parameter;
  readonly b2: Parameter;
  readonly xTrain: Float32Array;
  readonly yTrain: Int32Array;
  readonly xTest: Float32Array;
  readonly yTest: Int32Array;
  private readonly rng: Rng;
  private readonly hidden: Float64Array;
  private readonly dLogits = new Float64Array(MlpTask.C);
  private readonly dHidden = new Float64Array(MlpTask.H);

  constructor(seed: number, readonly nTrain = 512, readonly nTest = 256, readonly batch = 32) {
    const { D, H, C } = MlpTask;
    // The data (teacher) is the same for every seed; the seed varies the initialisation and batch order.
    const data = new Rng(1234);
    const teacherA = data.fillNormal(new Float64Array(D * 24), 0, 1 / Math.sqrt(D));
    const teacherB = data.fillNormal(new Float64Array(24 * C));
    const sample = (n: number): [Float32Array, Int32Array] => {
      const x = data.fillNormal(new Float32Array(n * D));
      const y = new Int32Array(n);
      const z = new Float64Array(24);
      for (let i = 0; i < n; i++) {
        for (let k = 0; k < 24; k++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += x[i * D + d]! * teacherA[d * 24 + k]!;
          z[k] = Math.tanh(2 * s);
        }
        let best = 0;
        let bestValue = -Infinity;
        for (let c = 0; c < C; c++) {
          let s = 0;
          for (let k = 0; k < 24; k++) s += z[k]! * teacherB[k * C + c]!;
          if (s > bestValue) [best, bestValue] = [c, s];
        }
        y[i] = best;
      }
      return [x, y];
    };
    [this.xTrain, this.yTrain] = sample(nTrain);
    [this.xTest, this.yTest] = sample(nTest);
    this.rng = new Rng(seed);
    this.w1 = new Parameter(this.rng.fillNormal(new Float32Array(D * H), 0, Math.sqrt(2 / D)), [D, H], 'w1');
    this.b1 = new Parameter(new Float32Array(H), [H], 'b1');
    this.w2 = new Parameter(this.rng.fillNormal(new Float32Array(H * C), 0, Math.sqrt(1 / H)), [H, C], 'w2');
    this.b2 = new Parameter(new Float32Array(C), [C], 'b2');
    this.hidden = new Float64Array(H);
    for (const p of this.params()) p.ensureGrad();
  }

  params(): Parameter[] {
    return [this.w1, this.b1, this.w2, this.b2];
  }

  get size(): number {
    return this.params().reduce((n, p) => n + p.size, 0);
  }

  /** Forward one example; with `backward`, accumulate ∂(loss/scale)/∂θ into the gradients. Returns [loss, correct]. */
  private example(x: Float32Array, offset: number, label: number, backward: boolean, scale: number): [number, boolean] {
    const { D, H, C } = MlpTask;
    const w1 = this.w1.data;
    const b1 = this.b1.data;
    const w2 = this.w2.data;
    const b2 = this.b2.data;
    const h = this.hidden;
    for (let j = 0; j < H; j++) h[j] = b1[j]!;
    for (let d = 0; d < D; d++) {
      const xd = x[offset + d]!;
      const row = d * H;
      for (let j = 0; j < H; j++) h[j] = h[j]! + xd * w1[row + j]!;
    }
    for (let j = 0; j < H; j++) if (h[j]! < 0) h[j] = 0;
    const z = this.dLogits;
    let zMax = -Infinity;
    let arg = 0;
    for (let c = 0; c < C; c++) {
      let s = b2[c]!;
      for (let j = 0; j < H; j++) s += h[j]! * w2[j * C + c]!;
      z[c] = s;
      if (s > zMax) [zMax, arg] = [s, c];
    }
    let sumExp = 0;
    for (let c = 0; c < C; c++) sumExp += Math.exp(z[c]! - zMax);
    const loss = Math.log(sumExp) + zMax - z[label]!;
    if (backward) {
      const gw1 = this.w1.grad!;
      const gb1 = this.b1.grad!;
      const gw2 = this.w2.grad!;
      const gb2 = this.b2.grad!;
      for (let c = 0; c < C; c++) z[c] = (Math.exp(z[c]! - zMax) / sumExp - (c === label ? 1 : 0)) * scale;
      const dh = this.dHidden;
      for (let j = 0; j < H; j++) {
        let s = 0;
        for (let c = 0; c < C; c++) {
          gw2[j * C + c] = gw2[j * C + c]! + h[j]! * z[c]!;
          s += w2[j * C + c]! * z[c]!;
        }
        dh[j] = h[j]! > 0 ? s : 0;
      }
      for (let c = 0; c < C; c++) gb2[c] = gb2[c]! + z[c]!;
      for (let j = 0; j < H; j++) gb1[j] = gb1[j]! + dh[j]!;
      for (let d = 0; d < D; d++) {
        const xd = x[offset + d]!;
        if (xd === 0) continue;
        const row = d * H;
        for (let j = 0; j < H; j++) gw1[row + j] = gw1[row + j]! + xd * dh[j]!;
      }
    }
    return [loss, arg === label];
  }

  /** Gradient of the mean cross-entropy over a random mini-batch; returns the batch loss. */
  minibatchGradient(): number {
    for (const p of this.params()) p.grad!.fill(0);
    let loss = 0;
    for (let b = 0; b < this.batch; b++) {
      const i = this.rng.int(this.nTrain);
      loss += this.example(this.xTrain, i * MlpTask.D, this.yTrain[i]!, true, 1 / this.batch)[0];
    }
    return loss / this.batch;
  }

  /** Mean loss and accuracy over a data set. */
  evaluate(split: 'train' | 'test'): { loss: number; accuracy: number } {
    const [x, y] = split === 'train' ? [this.xTrain, this.yTrain] : [this.xTest, this.yTest];
    let loss = 0;
    let correct = 0;
    for (let i = 0; i < y.length; i++) {
      const [l, ok] = this.example(x, i * MlpTask.D, y[i]!, false, 0);
      loss += l;
      if (ok) correct++;
    }
    return { loss: loss / y.length, accuracy: correct / y.length };
  }
}

/**
 * An ill-conditioned quadratic f(x) = ½ Σ λ_i (x_i − c_i)², λ log-spaced over
 * [1, 1000], with noisy gradients (σ = 0.1 per coordinate):
 * a stochastic optimisation problem whose final loss has a noise floor.
 * 4096 dimensions: the smallest tensor that takes the 8-bit path.
 */
function quadraticRun(make: (params: Parameter[]) => Optimizer<object>, seed: number, steps: number): number {
  const n = 4096;
  const problem = new Rng(77);
  const lambda = new Float64Array(n);
  for (let i = 0; i < n; i++) lambda[i] = 10 ** ((3 * i) / (n - 1));
  const center = problem.fillNormal(new Float64Array(n));
  const rng = new Rng(seed);
  const x = new Parameter(rng.fillNormal(new Float32Array(n), 0, 0.1), [n], 'x');
  const g = x.ensureGrad();
  const opt = make([x]);
  const loss = (): number => {
    let f = 0;
    for (let i = 0; i < n; i++) f += 0.5 * lambda[i]! * (x.data[i]! - center[i]!) ** 2;
    return f;
  };
  // Uniform noise of standard deviation 0.1 from an inline xorshift: cheap enough for 10^6 draws per run.
  let state = rng.nextUint32() | 1;
  const amplitude = 0.1 * Math.sqrt(3) / 2 ** 31;
  for (let t = 0; t < steps; t++) {
    for (let i = 0; i < n; i++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      g[i] = lambda[i]! * (x.data[i]! - center[i]!) + amplitude * (state | 0);
    }
    opt.step();
  }
  return loss();
}

function mlpRun(make: (params: Parameter[]) => Optimizer<object>, seed: number, steps: number): { trainLoss: number; testAccuracy: number } {
  const task = new MlpTask(seed);
  const opt = make(task.params());
  for (let t = 0; t < steps; t++) {
    task.minibatchGradient();
    opt.step();
  }
  return { trainLoss: task.evaluate('train').loss, testAccuracy: task.evaluate('test').accuracy };
}

function meanStd(xs: number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1));
  return { mean, std };
}

// ---------------------------------------------------------------------------

describe('Adam8bit / AdamW8bit', () => {
  test('the state of float32 parameters takes at most 26% of the bytes of 32-bit Adam state', () => {
    const shapes = [[512, 256], [256, 64], [64], [4096]];
    const make = (): Parameter[] =>
      shapes.map((shape, i) => {
        const p = Parameter.zeros(shape, 'float32', `p${i}`);
        new Rng(i).fillNormal(p.ensureGrad());
        return p;
      });
    const params8 = make();
    const params32 = make();
    const opt8 = new Adam8bit(params8);
    const opt32 = new Adam(params32);
    opt8.step();
    opt32.step();
    const bytes8 = opt8.stateBytes();
    const bytes32 = stateBytes(opt32);
    expect(stateBytes(opt8 as unknown as { state: Map<Parameter, object> })).toBe(bytes8);
    const elements = params8.reduce((n, p) => n + p.size, 0);
    report({ test: 'memory', elements, bytes8, bytes32, ratio: bytes8 / bytes32 });
    expect(bytes32).toBe(8 * elements);
    expect(bytes8 / bytes32).toBeLessThanOrEqual(0.26);
    // 2 bytes per element of the three 8-bit tensors, 8 bytes per block, and the 64-element bias at 8 bytes per element.
    const big = 512 * 256 + 256 * 64 + 4096;
    expect(bytes8).toBe(2 * big + 8 * (big / QUANT_BLOCK_SIZE) + 8 * 64);
  });

  test('the @example state size holds: 33,280 bytes for a 256×64 weight', () => {
    const w = Parameter.zeros([256, 64], 'float32', 'w');
    const opt = new Adam8bit([w], { lr: 1e-3 });
    w.grad = new Float32Array(w.size).fill(0.01);
    opt.step();
    expect(opt.stateBytes()).toBe(33280);
  });

  test('parameters under min8bitSize keep 32-bit moments and follow Adam / AdamW bit for bit', () => {
    for (const [Quantized, Plain] of [
      [Adam8bit, Adam],
      [AdamW8bit, AdamW],
    ] as const) {
      const a = Parameter.from(new Rng(1).fillNormal(new Float32Array(4095)), { name: 'a' });
      const b = Parameter.from(a.data, { name: 'b' });
      const q = new Quantized([a], { lr: 0.01, weightDecay: 0.1 });
      const r = new Plain([b], { lr: 0.01, weightDecay: 0.1 });
      expect(q.isQuantized(a)).toBe(false);
      const rng = new Rng(2);
      for (let t = 0; t < 5; t++) {
        a.grad = rng.fillNormal(new Float32Array(a.size));
        b.grad = a.grad.slice();
        q.step();
        r.step();
      }
      expect(Array.from(a.data)).toEqual(Array.from(b.data));
      const s = stateOf(q, a);
      expect(s.absmax1).toBeNull();
      expect(Array.from(s.state1 as Float32Array)).toEqual(Array.from(r.state.get(b)!.exp_avg));
    }
  });

  test('a parameter of min8bitSize elements gets one-byte codes and a float32 absmax per 256-element block', () => {
    const p = Parameter.zeros([4096], 'float64', 'p');
    const opt = new Adam8bit([p]);
    p.grad = new Float64Array(4096).fill(1);
    opt.step();
    const s = stateOf(opt, p);
    expect(opt.isQuantized(p)).toBe(true);
    expect(s.state1).toBeInstanceOf(Uint8Array);
    expect(s.state2).toBeInstanceOf(Uint8Array);
    expect(s.absmax1).toBeInstanceOf(Float32Array);
    expect(s.absmax1).toHaveLength(16);
    // A float64 parameter stays float64.
    expect(p.data).toBeInstanceOf(Float64Array);
    expect(new Adam8bit([Parameter.zeros([10])], { min8bitSize: 10 }).isQuantized(Parameter.zeros([10]))).toBe(true);
  });

  test('the first step matches Adam: with zero moments the update is lr·sign(g)', () => {
    const n = 8192;
    const g = new Rng(9).fillNormal(new Float32Array(n));
    const a = Parameter.zeros([n]);
    const b = Parameter.zeros([n]);
    a.grad = g;
    b.grad = g.slice();
    new Adam8bit([a], { lr: 0.1 }).step();
    new Adam([b], { lr: 0.1 }).step();
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(a.data[i]! - b.data[i]!));
    expect(worst).toBeLessThanOrEqual(1e-7);
  });

  test('one optimizer step equals a float AdamW step on the dequantised state, bit for bit in p', () => {
    const n = 3 * QUANT_BLOCK_SIZE * 8;
    const rng = new Rng(4);
    const p8 = Parameter.from(rng.fillNormal(new Float32Array(n)), { name: 'p' });
    const opt = new AdamW8bit([p8], { lr: 0.01, weightDecay: 0.1 });
    for (let t = 0; t < 3; t++) {
      p8.grad = rng.fillNormal(new Float32Array(n));
      opt.step();
    }
    // Float Adam started from the dequantised 8-bit state, held in float64 so no rounding intervenes.
    const s = stateOf(opt, p8);
    const m = new Float64Array(n);
    const v = new Float64Array(n);
    dequantizeBlockwise(s.state1 as Uint8Array, s.absmax1!, SIGNED_DYNAMIC_MAP, m);
    dequantizeBlockwise(s.state2 as Uint8Array, s.absmax2!, UNSIGNED_DYNAMIC_MAP, v);
    const ref = Parameter.from(p8.data, { name: 'p' });
    const float = new AdamW([ref], { lr: 0.01, weightDecay: 0.1 });
    float.state.set(ref, { step: 3, exp_avg: m, exp_avg_sq: v });
    const g = rng.fillNormal(new Float32Array(n));
    p8.grad = g;
    ref.grad = g.slice();
    opt.step();
    float.step();
    expect(Array.from(p8.data)).toEqual(Array.from(ref.data));
    // And the stored moments are the float moments up to the block-wise quantisation error.
    const mNew = new Float64Array(n);
    dequantizeBlockwise(s.state1 as Uint8Array, s.absmax1!, SIGNED_DYNAMIC_MAP, mNew);
    const mRef = float.state.get(ref)!.exp_avg;
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(mNew[i]! - mRef[i]!) / s.absmax1![(i / QUANT_BLOCK_SIZE) | 0]!);
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThanOrEqual(0.0071);
  });

  test('AdamW8bit with a zero gradient only decays the parameter by 1 − lr·weightDecay', () => {
    const p = Parameter.from(new Rng(3).fillNormal(new Float32Array(5000)), { name: 'p' });
    const before = p.data.slice();
    const opt = new AdamW8bit([p], { lr: 0.1, weightDecay: 0.5 });
    p.grad = new Float32Array(p.size);
    opt.step();
    expect(Array.from(p.data)).toEqual(Array.from(before, (x) => Math.fround(x * (1 - 0.1 * 0.5))));
  });

  test('options are validated and named; amsgrad is not an option', () => {
    const p = Parameter.zeros([4]);
    expect(() => new Adam8bit([p], { betas: [0.9, 1] })).toThrow(InvalidOptionError);
    expect(() => new Adam8bit([p], { eps: 0 })).toThrow(/eps/);
    expect(() => new AdamW8bit([p], { weightDecay: -1 })).toThrow(/weightDecay/);
    expect(() => new Adam8bit([p], { min8bitSize: -1 })).toThrow(/min8bitSize/);
    expect(() => new Adam8bit([p], { amsgrad: true } as never)).toThrow(InvalidOptionError);
    expect(new AdamW8bit([p]).defaults.weightDecay).toBe(0.01);
    expect(new Adam8bit([p]).defaults.weightDecay).toBe(0);
  });

  test('the non-finite gradient policy applies before any code is touched', () => {
    const p = Parameter.zeros([5000]);
    const opt = new Adam8bit([p], { nonFinite: 'skip' });
    p.grad = new Float32Array(5000).fill(1);
    p.grad[4000] = NaN;
    opt.step();
    expect(opt.lastStepSkipped).toBe(true);
    expect(opt.state.size).toBe(0);
    expect(() => new Adam8bit([p]).step()).toThrow(NonFiniteError);
  });
});

describe('Adam8bit state dict', () => {
  function setup(): { params: Parameter[]; opt: AdamW8bit; rng: Rng } {
    const rng = new Rng(21);
    const params = [
      new Parameter(rng.fillNormal(new Float32Array(64 * 130)), [64, 130], 'weight'),
      new Parameter(rng.fillNormal(new Float32Array(130)), [130], 'bias'),
    ];
    return { params, opt: new AdamW8bit(params, { lr: 0.01 }), rng };
  }
  function feed(params: Parameter[], rng: Rng): void {
    for (const p of params) p.grad = rng.fillNormal(new Float32Array(p.size));
  }

  test('codes are written as uint8 tensors and a JSON round trip continues bit-identically', () => {
    const a = setup();
    for (let t = 0; t < 5; t++) {
      feed(a.params, a.rng);
      a.opt.step();
    }
    const json = JSON.stringify(a.opt.stateDict());
    const saved = JSON.parse(json);
    expect(saved.state['0'].state1.dtype).toBe('uint8');
    expect(saved.state['0'].state1.shape).toEqual([64, 130]);
    expect(saved.state['0'].absmax1.data).toHaveLength(Math.ceil((64 * 130) / QUANT_BLOCK_SIZE));
    expect(saved.state['1'].absmax1).toBeNull();
    expect(saved.state['1'].state1.dtype).toBe('float32');

    const b = setup();
    for (const [i, p] of b.params.entries()) p.data.set(a.params[i]!.data);
    b.opt.loadStateDict(saved);
    expect(JSON.stringify(b.opt.stateDict())).toBe(json);
    b.rng.setState(a.rng.getState());
    for (let t = 0; t < 5; t++) {
      feed(a.params, a.rng);
      feed(b.params, b.rng);
      a.opt.step();
      b.opt.step();
    }
    for (const [i, p] of b.params.entries()) expect(Array.from(p.data)).toEqual(Array.from(a.params[i]!.data));
    expect(JSON.stringify(b.opt.stateDict())).toBe(JSON.stringify(a.opt.stateDict()));
  });

  test('loading rejects codes out of [0, 255], a layout that differs from min8bitSize, and wrong keys', () => {
    const a = setup();
    feed(a.params, a.rng);
    a.opt.step();
    const good = JSON.parse(JSON.stringify(a.opt.stateDict()));

    const badCode = structuredClone(good);
    badCode.state['0'].state2.data[17] = 256;
    expect(() => setup().opt.loadStateDict(badCode)).toThrow(/state2\[17\].*\[0, 255\]/);

    const all32 = new AdamW8bit(setup().params, { min8bitSize: 1e9 });
    expect(() => all32.loadStateDict(good)).toThrow(StateDictError);
    expect(() => all32.loadStateDict(good)).toThrow(/8-bit codes/);
    const all8 = new AdamW8bit(setup().params, { min8bitSize: 1 });
    expect(() => all8.loadStateDict(good)).toThrow(/min8bitSize/);

    const missing = structuredClone(good);
    delete missing.state['0'].absmax2;
    expect(() => setup().opt.loadStateDict(missing)).toThrow(/keys/);

    const target = setup();
    expect(() => target.opt.loadStateDict(badCode)).toThrow(StateDictError);
    // All-or-nothing: the failed load left the optimizer empty.
    expect(target.opt.state.size).toBe(0);
  });
});

describe('8-bit Adam converges like 32-bit Adam on real tasks', () => {
  const seeds = [1, 2, 3];

  test('an ill-conditioned noisy quadratic (4096 dimensions): same final loss within the seed-to-seed noise', () => {
    const steps = 300;
    const run = (make: (ps: Parameter[]) => Optimizer<object>): number[] => seeds.map((seed) => quadraticRun(make, seed, steps));
    const full = run((ps) => new Adam(ps, { lr: 0.01 }) as unknown as Optimizer<object>);
    const eight = run((ps) => new Adam8bit(ps, { lr: 0.01 }) as unknown as Optimizer<object>);
    const initial = quadraticRun((ps) => new Adam(ps, { lr: 0 }) as unknown as Optimizer<object>, 1, 1);
    const f = meanStd(full);
    const e = meanStd(eight);
    report({ test: 'quadratic', steps, initial, adam32: full, adam8: eight });
    // Both optimise: a 100-fold reduction from the starting loss.
    expect(f.mean).toBeLessThan(initial / 100);
    expect(e.mean).toBeLessThan(initial / 100);
    // Same noise floor: means within 3 standard deviations (of either) plus 5%.
    expect(Math.abs(e.mean - f.mean)).toBeLessThanOrEqual(3 * Math.max(f.std, e.std) + 0.05 * f.mean);
  }, 120_000);

  test.each([
    ['Adam8bit vs Adam', (ps: Parameter[]) => new Adam8bit(ps, { lr: 1e-2 }), (ps: Parameter[]) => new Adam(ps, { lr: 1e-2 })],
    [
      'AdamW8bit vs AdamW',
      (ps: Parameter[]) => new AdamW8bit(ps, { lr: 1e-2, weightDecay: 0.05 }),
      (ps: Parameter[]) => new AdamW(ps, { lr: 1e-2, weightDecay: 0.05 }),
    ],
  ] as const)(
    'a 2-layer MLP classifier (12,560 parameters): %s reach the same loss and accuracy within the seed-to-seed noise',
    (label, make8, make32) => {
      const steps = 150;
      const eight = seeds.map((seed) => mlpRun((ps) => make8(ps) as unknown as Optimizer<object>, seed, steps));
      const full = seeds.map((seed) => mlpRun((ps) => make32(ps) as unknown as Optimizer<object>, seed, steps));
      const untrained = new MlpTask(1).evaluate('train');
      const e = meanStd(eight.map((r) => r.trainLoss));
      const f = meanStd(full.map((r) => r.trainLoss));
      const ea = meanStd(eight.map((r) => r.testAccuracy));
      const fa = meanStd(full.map((r) => r.testAccuracy));
      report({ test: 'mlp', label, steps, untrained, eight, full });
      // Both learn: the training loss at most half the untrained one, test accuracy far above chance (1/16).
      expect(f.mean).toBeLessThan(untrained.loss / 2);
      expect(e.mean).toBeLessThan(untrained.loss / 2);
      expect(fa.mean).toBeGreaterThan(0.4);
      // Same result within the seed-to-seed noise (3σ) plus a small absolute slack.
      expect(Math.abs(e.mean - f.mean)).toBeLessThanOrEqual(3 * Math.max(e.std, f.std) + 0.02);
      expect(Math.abs(ea.mean - fa.mean)).toBeLessThanOrEqual(3 * Math.max(ea.std, fa.std) + 0.02);
    },
    120_000,
  );
});
