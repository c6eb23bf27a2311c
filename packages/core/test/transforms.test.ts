import { type FloatArray, InvalidOptionError, Parameter } from '@opt/tensor';
import {
  Adam,
  SGD,
  addDecayedWeights,
  adam,
  adamw,
  applyUpdates,
  centralize,
  chain,
  clip,
  clipByGlobalNorm,
  copyGradients,
  createUpdates,
  identity,
  lion,
  rmsprop,
  scale,
  scaleByAdam,
  scaleByLearningRate,
  scaleByRms,
  scaleBySign,
  setToZero,
  sgd,
  trace,
  type GradientTransformation,
} from '../src/index';

/** Deterministic pseudo-random numbers in [-1, 1) (an LCG), so every run sees the same data. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

function makeParams(dtype: 'float32' | 'float64', seed = 1): Parameter[] {
  const r = rng(seed);
  const shapes = [[3, 4], [4], [1]];
  return shapes.map((shape, i) => Parameter.from(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, r), { shape, dtype, name: `p${i}` }));
}

function cloneParams(params: readonly Parameter[]): Parameter[] {
  return params.map((p) => new Parameter(p.data.slice(), p.shape, p.name));
}

/** The gradient of Σ (p − c)² plus step-dependent noise: it depends on p, so trajectories stay coupled to the update. */
function writeGrads(params: readonly Parameter[], step: number): void {
  const r = rng(1000 + step);
  for (const p of params) {
    const g = p.grad ?? p.ensureGrad();
    for (let j = 0; j < p.size; j++) g[j] = 2 * (p.data[j]! - 0.3) + 0.5 * r();
  }
}

/** Run a transform the layer-1 way for `steps` steps on `params`. */
function runTransform<S>(tx: GradientTransformation<S>, params: Parameter[], steps: number): S {
  const state = tx.init(params);
  const updates = createUpdates(params);
  for (let t = 0; t < steps; t++) {
    writeGrads(params, t);
    copyGradients(params, updates);
    tx.update(updates, state, params);
    applyUpdates(params, updates);
  }
  return state;
}

function maxDiff(a: readonly Parameter[], b: readonly Parameter[]): number {
  let m = 0;
  a.forEach((p, i) => p.data.forEach((x, j) => (m = Math.max(m, Math.abs(x - b[i]!.data[j]!)))));
  return m;
}

function expectBitIdentical(a: readonly Parameter[], b: readonly Parameter[]): void {
  a.forEach((p, i) => expect(Array.from(p.data)).toEqual(Array.from(b[i]!.data)));
}

describe('transform aliases against the optimizer classes and the papers', () => {
  test('chain(scaleByAdam, scaleByLearningRate) matches the Adam class over 40 steps (float64, 1e-12)', () => {
    const a = makeParams('float64');
    const b = cloneParams(a);
    runTransform(chain(scaleByAdam({ b1: 0.8, b2: 0.99, eps: 1e-6 }), scaleByLearningRate(0.05)), a, 40);
    const opt = new Adam(b, { lr: 0.05, betas: [0.8, 0.99], eps: 1e-6 });
    for (let t = 0; t < 40; t++) {
      writeGrads(b, t);
      opt.step();
    }
    expect(maxDiff(a, b)).toBeLessThan(1e-12);
    expect(maxDiff(a, makeParams('float64'))).toBeGreaterThan(0.1);
  });

  test('the adam alias keeps the moments in the state, in place, under PyTorch meaning (mu = exp_avg, nu = exp_avg_sq)', () => {
    const a = makeParams('float64');
    const b = cloneParams(a);
    const tx = adam(0.01);
    const state = tx.init(a);
    const mu0 = state[0].mu[0];
    const updates = createUpdates(a);
    const opt = new Adam(b, { lr: 0.01 });
    for (let t = 0; t < 5; t++) {
      writeGrads(a, t);
      writeGrads(b, t);
      copyGradients(a, updates);
      tx.update(updates, state, a);
      applyUpdates(a, updates);
      opt.step();
    }
    expect(state[0].mu[0]).toBe(mu0);
    expect(state[0].count).toBe(5);
    const classState = opt.state.get(b[0]!)!;
    state[0].mu[0]!.forEach((m, j) => expect(m).toBeCloseTo(classState.exp_avg[j]!, 13));
    state[0].nu[0]!.forEach((v, j) => expect(v).toBeCloseTo(classState.exp_avg_sq[j]!, 13));
  });

  test('the adamw alias matches PyTorch AdamW, p ← p·(1 − lr·wd) − lr·adam, over 40 steps (float64, 1e-12)', () => {
    const [lr, wd, b1, b2, eps] = [0.02, 0.1, 0.9, 0.999, 1e-8];
    const a = makeParams('float64');
    const b = cloneParams(a);
    runTransform(adamw(lr, { weightDecay: wd }), a, 40);
    // PyTorch 1.13 _single_tensor_adamw, written out.
    const m = b.map((p) => new Float64Array(p.size));
    const v = b.map((p) => new Float64Array(p.size));
    for (let t = 1; t <= 40; t++) {
      writeGrads(b, t - 1);
      b.forEach((p, i) => {
        const stepSize = lr / (1 - b1 ** t);
        const sqrtBc2 = Math.sqrt(1 - b2 ** t);
        for (let j = 0; j < p.size; j++) {
          const g = p.grad![j]!;
          p.data[j] = p.data[j]! * (1 - lr * wd);
          m[i]![j] = b1 * m[i]![j]! + (1 - b1) * g;
          v[i]![j] = b2 * v[i]![j]! + (1 - b2) * g * g;
          p.data[j] = p.data[j]! - (stepSize * m[i]![j]!) / (Math.sqrt(v[i]![j]!) / sqrtBc2 + eps);
        }
      });
    }
    expect(maxDiff(a, b)).toBeLessThan(1e-12);
  });

  test('the adamw alias decays only the parameters its mask selects', () => {
    const params = [Parameter.from([2], { dtype: 'float64' }), Parameter.from([2], { dtype: 'float64' })];
    const tx = adamw(0.1, { weightDecay: 0.5, mask: [true, false] });
    const state = tx.init(params);
    const updates = [new Float64Array([0]), new Float64Array([0])];
    tx.update(updates, state, params);
    // Zero gradient: Adam's part is 0, so only the decay −lr·wd·p remains.
    expect(updates[0]![0]).toBeCloseTo(-0.1 * 0.5 * 2, 15);
    expect(updates[1]![0]).toBe(-0);
  });

  test.each([
    ['heavy ball', { momentum: 0.9 }, { momentum: 0.9 }],
    ['nesterov', { momentum: 0.8, nesterov: true }, { momentum: 0.8, nesterov: true }],
    ['plain', {}, {}],
  ])('sgd(lr, %s) matches the SGD class bit for bit over 40 steps in float64', (_name, aliasOptions, classOptions) => {
    const a = makeParams('float64');
    const b = cloneParams(a);
    runTransform(sgd(0.05, aliasOptions), a, 40);
    const opt = new SGD(b, { lr: 0.05, ...classOptions });
    for (let t = 0; t < 40; t++) {
      writeGrads(b, t);
      opt.step();
    }
    expectBitIdentical(a, b);
  });

  test('sgd(lr, { momentum }) matches the SGD class within float32 rounding on float32 parameters', () => {
    const a = makeParams('float32');
    const b = cloneParams(a);
    runTransform(sgd(0.05, { momentum: 0.9 }), a, 40);
    const opt = new SGD(b, { lr: 0.05, momentum: 0.9 });
    for (let t = 0; t < 40; t++) {
      writeGrads(b, t);
      opt.step();
    }
    expect(maxDiff(a, b)).toBeLessThan(1e-5);
  });

  test('sgd rejects nesterov without momentum', () => {
    expect(() => sgd(0.1, { nesterov: true })).toThrow(/nesterov/);
  });

  test('the lion alias follows the paper: p ← p − lr·(sign(b1·m + (1 − b1)·g) + wd·p), m ← b2·m + (1 − b2)·g', () => {
    const [lr, wd, b1, b2] = [0.01, 0.1, 0.9, 0.99];
    const a = makeParams('float64');
    const b = cloneParams(a);
    runTransform(lion(lr, { weightDecay: wd }), a, 30);
    const m = b.map((p) => new Float64Array(p.size));
    for (let t = 0; t < 30; t++) {
      writeGrads(b, t);
      b.forEach((p, i) => {
        for (let j = 0; j < p.size; j++) {
          const g = p.grad![j]!;
          const c = b1 * m[i]![j]! + (1 - b1) * g;
          p.data[j] = p.data[j]! - lr * (Math.sign(c) + wd * p.data[j]!);
          m[i]![j] = b2 * m[i]![j]! + (1 - b2) * g;
        }
      });
    }
    expect(maxDiff(a, b)).toBeLessThan(1e-12);
  });

  test.each([
    ['plain', false, undefined],
    ['centered', true, undefined],
    ['centered with momentum', true, 0.7],
  ])('rmsprop(lr, { epsInSqrt: false }) follows PyTorch RMSprop (%s) over 30 steps', (_name, centered, momentum) => {
    const [lr, alpha, eps] = [0.01, 0.95, 1e-8];
    const a = makeParams('float64');
    const b = cloneParams(a);
    runTransform(rmsprop(lr, { decay: alpha, eps, epsInSqrt: false, centered, momentum }), a, 30);
    // PyTorch 1.13 _single_tensor_rmsprop, written out.
    const sq = b.map((p) => new Float64Array(p.size));
    const avg = b.map((p) => new Float64Array(p.size));
    const buf = b.map((p) => new Float64Array(p.size));
    for (let t = 0; t < 30; t++) {
      writeGrads(b, t);
      b.forEach((p, i) => {
        for (let j = 0; j < p.size; j++) {
          const g = p.grad![j]!;
          sq[i]![j] = alpha * sq[i]![j]! + (1 - alpha) * g * g;
          let denom: number;
          if (centered) {
            avg[i]![j] = alpha * avg[i]![j]! + (1 - alpha) * g;
            denom = Math.sqrt(sq[i]![j]! - avg[i]![j]! ** 2) + eps;
          } else {
            denom = Math.sqrt(sq[i]![j]!) + eps;
          }
          if (momentum !== undefined) {
            buf[i]![j] = momentum * buf[i]![j]! + g / denom;
            p.data[j] = p.data[j]! - lr * buf[i]![j]!;
          } else {
            p.data[j] = p.data[j]! - (lr * g) / denom;
          }
        }
      });
    }
    expect(maxDiff(a, b)).toBeLessThan(1e-12);
  });
});

describe('building blocks', () => {
  const one = () => [Parameter.from([0, 0, 0, 0], { dtype: 'float64', shape: [2, 2] })];

  test('scaleByRms puts eps inside the root by default, as optax does', () => {
    const params = one();
    const tx = scaleByRms({ decay: 0.9, eps: 0.25 });
    const state = tx.init(params);
    const u = [new Float64Array([1, -2, 0, 3])];
    tx.update(u, state, params);
    const expected = [1, -2, 0, 3].map((g) => g / Math.sqrt(0.1 * g * g + 0.25));
    u[0]!.forEach((x, j) => expect(x).toBeCloseTo(expected[j]!, 15));
  });

  test('clipByGlobalNorm rescales all updates together to maxNorm only when their norm reaches it', () => {
    const params = [Parameter.zeros([2], 'float64'), Parameter.zeros([1], 'float64')];
    const tx = clipByGlobalNorm(2.5);
    const state = tx.init(params);
    const small = [new Float64Array([1, 1]), new Float64Array([1])];
    tx.update(small, state, params);
    expect(Array.from(small[0]!)).toEqual([1, 1]);
    const big = [new Float64Array([3, 0]), new Float64Array([4])]; // norm 5
    tx.update(big, state, params);
    expect(big[0]![0]).toBeCloseTo(1.5, 15);
    expect(big[1]![0]).toBeCloseTo(2, 15);
  });

  test('clip clamps each element to [−maxDelta, maxDelta] and keeps NaN', () => {
    const params = one();
    const tx = clip(1.5);
    const u = [new Float64Array([-3, 0.5, 2, NaN])];
    tx.update(u, tx.init(params), params);
    expect(Array.from(u[0]!)).toEqual([-1.5, 0.5, 1.5, NaN]);
  });

  test('centralize subtracts each row mean of a matrix and leaves vectors alone', () => {
    const params = [Parameter.zeros([2, 3], 'float64'), Parameter.zeros([3], 'float64')];
    const u = [new Float64Array([1, 2, 3, 10, 10, 40]), new Float64Array([1, 2, 3])];
    const tx = centralize();
    tx.update(u, tx.init(params), params);
    expect(Array.from(u[0]!)).toEqual([-1, 0, 1, -10, -10, 20]);
    expect(Array.from(u[1]!)).toEqual([1, 2, 3]);
  });

  test('scaleBySign, scale, setToZero and identity do what their names say', () => {
    const params = one();
    const run = (tx: GradientTransformation<unknown>, values: number[]) => {
      const u = [new Float64Array(values)];
      tx.update(u, tx.init(params), params);
      return Array.from(u[0]!);
    };
    expect(run(scaleBySign(), [-2, 0, 3, -0.5])).toEqual([-1, 0, 1, -1]);
    expect(run(scale(-3), [1, 2, 0, -1])).toEqual([-3, -6, -0, 3]);
    expect(run(setToZero(), [1, 2, 3, 4])).toEqual([0, 0, 0, 0]);
    expect(run(identity(), [1, 2, 3, 4])).toEqual([1, 2, 3, 4]);
  });

  test('addDecayedWeights adds wd·p to the selected parameters only', () => {
    const params = [Parameter.from([2, 4], { dtype: 'float64' }), Parameter.from([3], { dtype: 'float64', shape: [1, 1] })];
    const tx = addDecayedWeights(0.5, { mask: (p) => p.shape.length > 1 });
    const u = [new Float64Array([1, 1]), new Float64Array([1])];
    tx.update(u, tx.init(params), params);
    expect(Array.from(u[0]!)).toEqual([1, 1]);
    expect(Array.from(u[1]!)).toEqual([2.5]);
  });

  test('trace starts from a zero buffer, so its first step copies the update (PyTorch momentum)', () => {
    const params = one();
    const tx = trace({ decay: 0.9 });
    const state = tx.init(params);
    const u = [new Float64Array([1, 2, 3, 4])];
    tx.update(u, state, params);
    expect(Array.from(state.trace[0]!)).toEqual([1, 2, 3, 4]);
    u[0]!.set([1, 1, 1, 1]);
    tx.update(u, state, params);
    expect(Array.from(u[0]!)).toEqual([1, 2, 3, 4].map((b) => 1 + 0.9 * b)); // b ← g + μ·b
  });
});

describe('schedules and validation', () => {
  test('a schedule is evaluated at the transform’s own step count, from 0', () => {
    const params = [Parameter.zeros([1], 'float64')];
    const seen: number[] = [];
    const tx = scaleByLearningRate((step) => {
      seen.push(step);
      return 0.1 * (step + 1);
    });
    const state = tx.init(params);
    const outputs: number[] = [];
    for (let t = 0; t < 3; t++) {
      const u = [new Float64Array([2])];
      tx.update(u, state, params);
      outputs.push(u[0]![0]!);
    }
    expect(seen).toEqual([0, 1, 2]);
    expect(outputs[0]).toBeCloseTo(-0.2, 15);
    expect(outputs[1]).toBeCloseTo(-0.4, 15);
    expect(outputs[2]).toBeCloseTo(-0.6, 15);
    expect(state.count).toBe(3);
  });

  test('any numeric hyper-parameter takes a schedule: b1 of scaleByAdam, the decay of trace', () => {
    const params = [Parameter.zeros([1], 'float64')];
    const tx = chain(trace({ decay: (t) => (t === 0 ? 0 : 0.5) }), scaleByAdam({ b1: (t) => (t === 0 ? 0 : 0.9) }));
    const state = tx.init(params);
    const u = [new Float64Array([1])];
    tx.update(u, state, params);
    expect(state[1].mu[0]![0]).toBe(1); // b1 = 0 at step 0: m = g
    u[0]![0] = 1;
    tx.update(u, state, params);
    expect(state[0].trace[0]![0]).toBe(1.5); // decay 0.5 at step 1
  });

  test('constant hyper-parameters are checked at construction, scheduled ones when evaluated, naming the option', () => {
    expect(() => scaleByAdam({ b1: 1.2 })).toThrow(InvalidOptionError);
    expect(() => scaleByAdam({ b1: 1.2 })).toThrow('scaleByAdam: invalid b1: 1.2');
    expect(() => scaleByLearningRate(-1)).toThrow(/learningRate/);
    expect(() => clipByGlobalNorm(0)).toThrow(/maxNorm/);
    const params = [Parameter.zeros([1], 'float64')];
    const tx = scaleByAdam({ b2: () => -0.5 });
    expect(() => tx.update([new Float64Array([1])], tx.init(params), params)).toThrow(/invalid b2: -0.5/);
  });

  test('applyUpdates and copyGradients reject misaligned buffers', () => {
    const params = [Parameter.zeros([2], 'float64')];
    expect(() => applyUpdates(params, [new Float64Array(3)])).toThrow(/update buffer 0 has 3 elements/);
    expect(() => copyGradients(params, [])).toThrow(/0 update buffers for 1 parameters/);
  });

  test('copyGradients writes zeros where a parameter has no gradient', () => {
    const params = [Parameter.zeros([2], 'float64')];
    const updates: FloatArray[] = [new Float64Array([5, 5])];
    copyGradients(params, updates);
    expect(Array.from(updates[0]!)).toEqual([0, 0]);
  });
});
