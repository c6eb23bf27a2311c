import { type FloatArray, InvalidOptionError, Parameter } from '@opt/tensor';
import {
  adam,
  applyIfFinite,
  applyUpdates,
  chain,
  copyGradients,
  createUpdates,
  injectHyperparams,
  masked,
  multiSteps,
  partition,
  scale,
  scaleByAdam,
  scaleByLearningRate,
  setToZero,
  sgd,
  trace,
  transformStateToJson,
  type GradientTransformation,
  type Schedule,
} from '../src/index';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

function makeParams(seed = 1): Parameter[] {
  const r = rng(seed);
  const shapes = [[2, 3], [3], [2]];
  return shapes.map((shape, i) =>
    Parameter.from(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, r), { shape, dtype: 'float64', name: `p${i}` }),
  );
}

function cloneParams(params: readonly Parameter[]): Parameter[] {
  return params.map((p) => new Parameter(p.data.slice(), p.shape, p.name));
}

function gradsFor(params: readonly Parameter[], seed: number): FloatArray[] {
  const r = rng(seed);
  return params.map((p) => Float64Array.from({ length: p.size }, (_, j) => 2 * (p.data[j]! - 0.3) + r()));
}

function step<S>(tx: GradientTransformation<S>, state: S, params: Parameter[], grads: FloatArray[]): FloatArray[] {
  const updates = grads.map((g) => g.slice());
  tx.update(updates, state, params);
  applyUpdates(params, updates);
  return updates;
}

function snapshot(params: readonly Parameter[]): number[][] {
  return params.map((p) => Array.from(p.data));
}

describe('chain', () => {
  test('the state of a chain is the list of its links’ states, in order', () => {
    const params = makeParams();
    const state = chain(scaleByAdam(), trace({ decay: 0.9 }), scaleByLearningRate(0.1)).init(params);
    expect(state).toHaveLength(3);
    expect(Object.keys(state[0])).toEqual(['count', 'mu', 'nu']);
    expect(Object.keys(state[1])).toEqual(['count', 'trace']);
    expect(state[2]).toEqual({ count: 0 });
  });
});

describe('masked', () => {
  test('masked-out updates pass through untouched and the inner state covers only the selected parameters', () => {
    const params = makeParams();
    const tx = masked(chain(scaleByAdam(), scale(2)), [true, false, true]);
    const state = tx.init(params);
    expect(state.inner[0].mu).toHaveLength(2);
    expect(state.inner[0].mu.map((m) => m.length)).toEqual([6, 2]);
    const grads = gradsFor(params, 7);
    const updates = grads.map((g) => g.slice());
    tx.update(updates, state, params);
    expect(Array.from(updates[1]!)).toEqual(Array.from(grads[1]!));
    // Selected ones went through Adam: first step gives ±2·(1 − tiny).
    updates[0]!.forEach((u) => expect(Math.abs(u)).toBeCloseTo(2, 6));
    expect(Math.sign(updates[2]![0]!)).toBe(Math.sign(grads[2]![0]!));
  });

  test('a predicate mask is evaluated on the parameters, once per parameter list', () => {
    const params = makeParams();
    let calls = 0;
    const tx = masked(setToZero(), (p) => {
      calls++;
      return p.shape.length > 1;
    });
    const state = tx.init(params);
    for (let t = 0; t < 5; t++) {
      const updates = params.map((p) => new Float64Array(p.size).fill(1));
      tx.update(updates, state, params);
      expect(updates.map((u) => u[0])).toEqual([0, 1, 1]);
    }
    expect(calls).toBe(params.length);
  });

  test('a boolean mask of the wrong length is rejected, naming the option', () => {
    const params = makeParams();
    expect(() => masked(setToZero(), [true]).init(params)).toThrow(InvalidOptionError);
    expect(() => masked(setToZero(), [true]).init(params)).toThrow(/mask/);
  });
});

describe('partition', () => {
  test('parameters labelled frozen stay bit-identical while the others follow their own transform', () => {
    const params = makeParams();
    const reference = cloneParams(params).filter((_, i) => i !== 1);
    const frozenBefore = Array.from(params[1]!.data);
    const tx = partition({ train: adam(0.05), frozen: setToZero() }, ['train', 'frozen', 'train']);
    const state = tx.init(params);
    const alone = adam(0.05);
    const aloneState = alone.init(reference);
    for (let t = 0; t < 20; t++) {
      const grads = gradsFor(params, t);
      step(tx, state, params, grads);
      step(alone, aloneState, reference, [grads[0]!, grads[2]!]);
    }
    expect(Array.from(params[1]!.data)).toEqual(frozenBefore);
    expect(snapshot([params[0]!, params[2]!])).toEqual(snapshot(reference));
    expect(state.frozen).toEqual({});
    expect(state.train[0].mu).toHaveLength(2);
  });

  test('per-label hyper-parameters: a label function gives matrices and vectors different learning rates', () => {
    const params = makeParams();
    const tx = partition({ matrix: sgd(0.1), vector: sgd(0.01) }, (p) => (p.shape.length > 1 ? 'matrix' : 'vector'));
    const state = tx.init(params);
    const updates = params.map((p) => new Float64Array(p.size).fill(1));
    tx.update(updates, state, params);
    expect(updates.map((u) => u[0])).toEqual([-0.1, -0.01, -0.01]);
  });

  test('a label without a transform is rejected, naming the label and the known ones', () => {
    const params = makeParams();
    const tx = partition({ a: setToZero() }, ['a', 'b', 'a']);
    expect(() => tx.init(params)).toThrow('partition: invalid labels[1]: "b" (expected one of "a")');
  });
});

describe('multiSteps', () => {
  test('k micro-batches equal one inner step on their mean gradient, with zero updates in between', () => {
    const k = 4;
    const params = makeParams();
    const reference = cloneParams(params);
    const tx = multiSteps(adam(0.05), { everyK: k });
    const state = tx.init(params);
    const inner = adam(0.05);
    const innerState = inner.init(reference);
    for (let round = 0; round < 5; round++) {
      const micro = Array.from({ length: k }, (_, m) => gradsFor(params, 100 * round + m));
      const before = snapshot(params);
      for (let m = 0; m < k; m++) {
        const updates = step(tx, state, params, micro[m]!);
        if (m < k - 1) {
          expect(updates.every((u) => u.every((x) => x === 0))).toBe(true);
          expect(snapshot(params)).toEqual(before);
          expect(state.miniStep).toBe(m + 1);
        }
      }
      const mean = micro[0]!.map((_, i) => micro[0]![i]!.map((_, j) => micro.reduce((s, g) => s + g[i]![j]!, 0) / k));
      step(inner, innerState, reference, mean);
      expect(state.miniStep).toBe(0);
      expect(state.gradientStep).toBe(round + 1);
      params.forEach((p, i) => p.data.forEach((x, j) => expect(Math.abs(x - reference[i]!.data[j]!)).toBeLessThan(1e-12)));
    }
  });

  test('the accumulators are the state’s own preallocated buffers, reused every micro-batch', () => {
    const params = makeParams();
    const tx = multiSteps(sgd(0.1), { everyK: 3 });
    const state = tx.init(params);
    const acc = state.accGrads[0];
    for (let t = 0; t < 7; t++) step(tx, state, params, gradsFor(params, t));
    expect(state.accGrads[0]).toBe(acc);
    expect(state.miniStep).toBe(1);
  });
});

describe('applyIfFinite', () => {
  test('a non-finite update is zeroed and counted, and the inner state is left untouched', () => {
    const params = makeParams();
    const tx = applyIfFinite(adam(0.05), { maxConsecutiveErrors: 3 });
    const state = tx.init(params);
    step(tx, state, params, gradsFor(params, 0));
    const innerBefore = JSON.stringify(transformStateToJson(state.inner));
    const paramsBefore = snapshot(params);
    const bad = gradsFor(params, 1);
    bad[2]![1] = NaN;
    const updates = step(tx, state, params, bad);
    expect(updates.every((u) => u.every((x) => x === 0))).toBe(true);
    expect(snapshot(params)).toEqual(paramsBefore);
    expect(JSON.stringify(transformStateToJson(state.inner))).toBe(innerBefore);
    expect(state).toMatchObject({ notfiniteCount: 1, lastFinite: false, totalNotfinite: 1 });
    step(tx, state, params, gradsFor(params, 2));
    expect(state).toMatchObject({ notfiniteCount: 0, lastFinite: true, totalNotfinite: 1 });
    expect(state.inner[0].count).toBe(2);
  });

  test('after more than maxConsecutiveErrors consecutive non-finite updates the next one goes through', () => {
    const params = makeParams();
    const tx = applyIfFinite(sgd(0.1), { maxConsecutiveErrors: 2 });
    const state = tx.init(params);
    const bad = () => params.map((p) => new Float64Array(p.size).fill(Infinity));
    step(tx, state, params, bad());
    step(tx, state, params, bad());
    expect(params.every((p) => p.data.every(Number.isFinite))).toBe(true);
    step(tx, state, params, bad());
    expect(state.notfiniteCount).toBe(3);
    expect(state.totalNotfinite).toBe(3);
    expect(params[0]!.data[0]).toBe(-Infinity);
  });

  test('maxConsecutiveErrors must be an integer ≥ 0', () => {
    expect(() => applyIfFinite(sgd(0.1), { maxConsecutiveErrors: -1 })).toThrow(/maxConsecutiveErrors/);
  });
});

describe('injectHyperparams', () => {
  test('a schedule drives the learning rate and the state shows the value each update used', () => {
    const params = makeParams();
    const lr: Schedule = (t) => 0.1 * 0.5 ** t;
    const tx = injectHyperparams((h: { lr: Schedule }) => sgd(h.lr))({ lr });
    const state = tx.init(params);
    expect(state.hyperparams.lr).toBe(0.1);
    for (let t = 0; t < 4; t++) {
      const grads = params.map((p) => new Float64Array(p.size).fill(1));
      const updates = step(tx, state, params, grads);
      expect(updates[0]![0]).toBe(-lr(t));
      expect(state.hyperparams.lr).toBe(lr(t));
      expect(state.count).toBe(t + 1);
    }
  });

  test('a constant hyper-parameter changed in the state takes effect at the next update', () => {
    const params = makeParams();
    const tx = injectHyperparams((h) => chain(trace({ decay: h.momentum }), scaleByLearningRate(h.lr)))({ lr: 0.1, momentum: 0 });
    const state = tx.init(params);
    const ones = () => params.map((p) => new Float64Array(p.size).fill(1));
    expect(step(tx, state, params, ones())[0]![0]).toBeCloseTo(-0.1, 15);
    state.hyperparams.lr = 0.5;
    state.hyperparams.momentum = 1;
    // b ← g + 1·b = 2, u = −0.5·2.
    expect(step(tx, state, params, ones())[0]![0]).toBe(-1);
  });

  test('values written into the state are checked by the inner transform, naming the option', () => {
    const params = makeParams();
    const tx = injectHyperparams((h) => adam(h.lr, { b1: h.b1 }))({ lr: 0.1, b1: 0.9 });
    const state = tx.init(params);
    state.hyperparams.b1 = 2;
    expect(() => step(tx, state, params, gradsFor(params, 0))).toThrow('scaleByAdam: invalid b1: 2');
  });

  test('two states of one injected transform keep their own hyper-parameters', () => {
    const a = makeParams();
    const b = makeParams();
    const tx = injectHyperparams((h) => sgd(h.lr))({ lr: 0.1 });
    const sa = tx.init(a);
    const sb = tx.init(b);
    sb.hyperparams.lr = 0.2;
    const ones = (ps: Parameter[]) => ps.map((p) => new Float64Array(p.size).fill(1));
    expect(step(tx, sa, a, ones(a))[0]![0]).toBe(-0.1);
    expect(step(tx, sb, b, ones(b))[0]![0]).toBe(-0.2);
    expect(step(tx, sa, a, ones(a))[0]![0]).toBe(-0.1);
  });

  test('hyper-parameters must be finite numbers or schedules', () => {
    expect(() => injectHyperparams((h) => sgd(h.lr))({ lr: NaN })).toThrow(InvalidOptionError);
  });
});

describe('createUpdates and copyGradients', () => {
  test('give one zeroed buffer per parameter and fill it with the gradients', () => {
    const params = makeParams();
    params[0]!.grad = new Float64Array(6).fill(3);
    const updates = createUpdates(params);
    copyGradients(params, updates);
    expect(updates.map((u) => u.length)).toEqual([6, 3, 2]);
    expect(updates[0]![5]).toBe(3);
    expect(updates[1]![0]).toBe(0);
  });
});
