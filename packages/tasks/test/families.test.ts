import { LBFGS, SGD } from '@opt/core';
import { InvalidOptionError, Rng, ShapeMismatchError } from '@opt/tensor';
import {
  type GeneralizedLinearObjective,
  LinearRegressionFamily,
  LinearRegressionObjective,
  LogisticRegressionFamily,
  LogisticRegressionObjective,
  type RegressionTask,
} from '../src/families/regression';
import { RandomQuadraticFamily } from '../src/families/quadratic';
import { type Batch, checkGradient, checkHessian, flattenGrads, maxRelativeError, numParameters } from '../src/objective';
import * as tasks from '../src/index';

type Dtype = 'float32' | 'float64';
const FAMILIES: [string, (dtype: Dtype, l2?: number) => LinearRegressionFamily | LogisticRegressionFamily][] = [
  ['LinearRegressionFamily', (dtype, l2 = 0.01) => new LinearRegressionFamily({ numFeatures: [3, 6], numTrain: 64, numTest: 32, dtype, l2 })],
  ['LogisticRegressionFamily', (dtype, l2 = 0.01) => new LogisticRegressionFamily({ numFeatures: [3, 6], numTrain: 64, numTest: 32, dtype, l2 })],
];

/** Move every parameter to N(0, 0.5²) values so derivatives are checked away from the zero start. */
function perturb(objective: GeneralizedLinearObjective, seed: number): void {
  const rng = new Rng(seed);
  for (const p of objective.parameters) rng.fillNormal(p.data, 0, 0.5);
}

/** The first `size` rows of a batch, as a new batch. */
function head(batch: Batch, d: number, size: number): Batch {
  return { x: batch.x.slice(0, size * d), y: batch.y.slice(0, size), size };
}

describe.each(FAMILIES)('%s', (_name, family) => {
  test('the full-data and mini-batch gradients match central finite differences (float64, rtol 1e-6)', () => {
    const task = family('float64').sample(1);
    perturb(task.objective, 2);
    expect(checkGradient(task.objective)).toBeLessThan(1e-6);
    const batch = head(task.train, task.numFeatures, 7);
    expect(checkGradient(task.objective, { batch })).toBeLessThan(1e-6);
    expect(checkGradient(task.objective, { batch: task.test })).toBeLessThan(1e-6);
  });

  test('the Hessian matches finite differences of the gradient, and the HVP equals H·v', () => {
    const task = family('float64').sample(3);
    perturb(task.objective, 4);
    const f = task.objective;
    expect(checkHessian(f)).toBeLessThan(1e-6);
    const n = numParameters(f);
    const h = new Float64Array(n * n);
    f.hessian(h);
    const v = new Rng(5).fillNormal(new Float64Array(n));
    const hv = new Float64Array(n);
    f.hessianVectorProduct(v, hv);
    const expected = new Float64Array(n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expected[i] = expected[i]! + h[i * n + j]! * v[j]!;
    expect(maxRelativeError(hv, expected)).toBeLessThan(1e-12);
    // On an explicit batch too.
    const batch = head(task.train, task.numFeatures, 5);
    const hb = new Float64Array(n * n);
    f.hessian(hb, batch);
    f.hessianVectorProduct(v, hv, batch);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += hb[i * n + j]! * v[j]!;
      expect(hv[i]).toBeCloseTo(s, 12);
    }
  });

  test('per-example gradients equal a loop of single-example gradients, and their mean is the batch gradient', () => {
    const task = family('float64').sample(6);
    perturb(task.objective, 7);
    const f = task.objective;
    const d = task.numFeatures;
    const size = 9;
    const batch = head(task.train, d, size);
    const out = [new Float64Array(size * d), new Float64Array(size)];
    f.perExampleGrads(batch, out);
    const mean = new Float64Array(d + 1);
    for (let i = 0; i < size; i++) {
      const single: Batch = { x: batch.x.slice(i * d, (i + 1) * d), y: batch.y.slice(i, i + 1), size: 1 };
      f.lossAndGrad(single);
      const g = flattenGrads(f);
      for (let j = 0; j < d; j++) {
        expect(out[0]![i * d + j]).toBeCloseTo(g[j]!, 14);
        mean[j] = mean[j]! + out[0]![i * d + j]! / size;
      }
      expect(out[1]![i]).toBeCloseTo(g[d]!, 14);
      mean[d] = mean[d]! + out[1]![i]! / size;
    }
    f.lossAndGrad(batch);
    expect(maxRelativeError(mean, flattenGrads(f))).toBeLessThan(1e-14);
  });

  test('the same seed gives an identical task and another seed a different one', () => {
    const a = family('float64').sample(10);
    const b = family('float64').sample(10);
    const c = family('float64').sample(11);
    expect(a.name).toBe(b.name);
    expect(Array.from(a.train.x)).toEqual(Array.from(b.train.x));
    expect(Array.from(a.train.y)).toEqual(Array.from(b.train.y));
    expect(Array.from(a.test.x)).toEqual(Array.from(b.test.x));
    expect(Array.from(a.trueWeights)).toEqual(Array.from(b.trueWeights));
    expect(a.objective.lossAndGrad()).toBe(b.objective.lossAndGrad());
    expect(Array.from(a.train.x)).not.toEqual(Array.from(c.train.x));
    expect(a.name).not.toBe(c.name);
  });

  test('float32 tasks hold float32 data and parameters and agree with the float64 task', () => {
    const t32 = family('float32').sample(12);
    const t64 = family('float64').sample(12);
    expect(t32.params.dtype).toBe('float32');
    expect(t32.train.x).toBeInstanceOf(Float32Array);
    expect(t32.objective.weight.data).toBeInstanceOf(Float32Array);
    expect(Array.from(t32.train.x)).toEqual(Array.from(Float32Array.from(t64.train.x)));
    perturb(t32.objective, 13);
    perturb(t64.objective, 13);
    t64.objective.weight.data.set(t32.objective.weight.data);
    t64.objective.bias.data.set(t32.objective.bias.data);
    const l32 = t32.objective.lossAndGrad();
    const l64 = t64.objective.lossAndGrad();
    expect(Math.abs(l32 - l64) / Math.abs(l64)).toBeLessThan(1e-5);
    expect(t32.objective.weight.grad).toBeInstanceOf(Float32Array);
    expect(maxRelativeError(flattenGrads(t32.objective), flattenGrads(t64.objective))).toBeLessThan(1e-5);
    expect(checkGradient(t32.objective, { eps: 1e-2 })).toBeLessThan(1e-2);
  });

  test('params describes weight [1, d] and bias [1]', () => {
    const task = family('float64').sample(14);
    const d = task.numFeatures;
    expect(d).toBeGreaterThanOrEqual(3);
    expect(d).toBeLessThanOrEqual(6);
    expect(task.params).toEqual({ count: d + 1, shapes: [[1, d], [1]], names: ['weight', 'bias'], dtype: 'float64' });
  });

  test('one epoch of batches visits every training example once, in a seeded order', () => {
    const task = family('float64').sample(15);
    const d = task.numFeatures;
    const rows = (seed: number): string[] => {
      const seen: string[] = [];
      const sizes: number[] = [];
      for (const batch of task.batches(10, seed)) {
        sizes.push(batch.size);
        for (let i = 0; i < batch.size; i++) seen.push(`${Array.from(batch.x.subarray(i * d, (i + 1) * d)).join(',')}|${batch.y[i]}`);
      }
      expect(sizes).toEqual([10, 10, 10, 10, 10, 10, 4]);
      return seen;
    };
    const all = Array.from({ length: task.train.size }, (_, i) => `${Array.from(task.train.x.subarray(i * d, (i + 1) * d)).join(',')}|${task.train.y[i]}`);
    const epoch = rows(1);
    expect([...epoch].sort()).toEqual([...all].sort());
    expect(epoch).not.toEqual(all);
    expect(rows(1)).toEqual(epoch);
    expect(rows(2)).not.toEqual(epoch);
    expect(() => task.batches(0, 1)).toThrow(/batchSize/);
  });

  test('reset restores the zero start and evaluate reports losses at it', () => {
    const task = family('float64').sample(16);
    const before = task.evaluate();
    perturb(task.objective, 17);
    expect(task.evaluate().trainLoss).not.toBe(before.trainLoss);
    task.reset();
    expect(task.evaluate()).toEqual(before);
  });

  test('malformed batches and output buffers are rejected', () => {
    const task = family('float64').sample(18);
    const d = task.numFeatures;
    const short: Batch = { x: new Float64Array(d), y: new Float64Array(2), size: 2 };
    expect(() => task.objective.lossAndGrad(short)).toThrow(ShapeMismatchError);
    expect(() => task.objective.loss({ x: new Float64Array(0), y: new Float64Array(0), size: 0 })).toThrow(InvalidOptionError);
    expect(() => task.objective.perExampleGrads(head(task.train, d, 2), [new Float64Array(2 * d)])).toThrow(ShapeMismatchError);
  });
});

describe('LinearRegressionFamily', () => {
  test('LBFGS reaches the closed-form ridge solution, and the test loss is near σ²/2', () => {
    const task = new LinearRegressionFamily({ numFeatures: 8, numTrain: 500, numTest: 500, noise: 0.1 }).sample(21);
    const f = task.objective;
    const opt = new LBFGS(f.parameters, { lineSearchFn: 'strong_wolfe', maxIter: 100, toleranceGrad: 1e-12, toleranceChange: 1e-15 });
    for (let i = 0; i < 3; i++) opt.step(() => f.lossAndGrad());
    const theta = f.solution();
    const got = Float64Array.from([...f.weight.data, ...f.bias.data]);
    expect(maxRelativeError(got, theta)).toBeLessThan(1e-7);
    // The planted weights are recovered to about σ/√n.
    expect(maxRelativeError(theta.subarray(0, 8), task.trueWeights)).toBeLessThan(0.05);
    const { trainLoss, testLoss } = task.evaluate();
    expect(trainLoss).toBeGreaterThan(0.003);
    expect(testLoss).toBeGreaterThan(0.003);
    expect(testLoss).toBeLessThan(0.008);
  });

  test('SGD on shuffled mini-batches fits the planted model', () => {
    const task = new LinearRegressionFamily({ numFeatures: 5, noise: 0.1 }).sample(22);
    const opt = new SGD(task.objective.parameters, { lr: 0.1 });
    for (let epoch = 0; epoch < 20; epoch++) {
      for (const batch of task.batches(32, epoch)) opt.step(() => task.objective.lossAndGrad(batch));
    }
    expect(task.evaluate().testLoss).toBeLessThan(0.01);
  });

  test('the solution with an L2 penalty zeroes the penalised gradient', () => {
    const task = new LinearRegressionFamily({ numFeatures: 4, l2: 0.5 }).sample(23);
    const theta = task.objective.solution();
    task.objective.weight.data.set(theta.subarray(0, 4));
    task.objective.bias.data[0] = theta[4]!;
    task.objective.lossAndGrad();
    expect(Math.max(...Array.from(flattenGrads(task.objective), Math.abs))).toBeLessThan(1e-12);
  });

  test('a hand-made objective recovers y = 2x + 1', () => {
    const f = new LinearRegressionObjective({ x: Float64Array.of(0, 1, 2, 3), y: Float64Array.of(1, 3, 5, 7), size: 4 }, 1);
    const theta = f.solution();
    expect(theta[0]).toBeCloseTo(2, 12);
    expect(theta[1]).toBeCloseTo(1, 12);
    expect(f.loss()).toBeCloseTo((1 + 9 + 25 + 49) / 8, 14);
  });
});

describe('LogisticRegressionFamily', () => {
  test('labels are 0/1 integers and LBFGS reaches a stationary point that classifies well', () => {
    const task = new LogisticRegressionFamily({ numFeatures: 5, l2: 1e-3 }).sample(31);
    expect(task.train.y).toBeInstanceOf(Int32Array);
    expect(new Set(task.train.y)).toEqual(new Set([0, 1]));
    const f = task.objective;
    expect(f.loss()).toBeCloseTo(Math.log(2), 14);
    const opt = new LBFGS(f.parameters, { lineSearchFn: 'strong_wolfe', maxIter: 100, toleranceGrad: 1e-10, toleranceChange: 1e-15 });
    for (let i = 0; i < 3; i++) opt.step(() => f.lossAndGrad());
    f.lossAndGrad();
    expect(Math.max(...Array.from(flattenGrads(f), Math.abs))).toBeLessThan(1e-8);
    const metrics = task.evaluate();
    expect(metrics.testAccuracy).toBeGreaterThan(0.75);
    expect(metrics.trainAccuracy).toBeGreaterThan(0.75);
    expect(metrics.testLoss).toBeLessThan(Math.log(2));
  });

  test('the loss stays finite and exact for huge logits', () => {
    const f = new LogisticRegressionObjective({ x: Float64Array.of(1, -1), y: Int32Array.of(1, 1), size: 2 }, 1);
    f.weight.data[0] = 800;
    // ℓ(800, 1) = log(1 + e^800) − 800 ≈ 0 and ℓ(−800, 1) = log(1 + e^−800) + 800 = 800.
    expect(f.lossAndGrad()).toBeCloseTo(400, 10);
    // ∂ℓ/∂w = (σ(z) − y)·x: 0 for the first example, (0 − 1)·(−1) = 1 for the second.
    expect(f.weight.grad![0]).toBeCloseTo(0.5, 12);
  });
});

describe('RandomQuadraticFamily', () => {
  test('samples dimension and condition number within their ranges, reproducibly', () => {
    const family = new RandomQuadraticFamily({ dimension: [3, 9], conditionNumber: [10, 1e4], startScale: 1 });
    const seen = new Set<number>();
    for (let seed = 0; seed < 12; seed++) {
      const task = family.sample(seed);
      expect(task.dimension).toBeGreaterThanOrEqual(3);
      expect(task.dimension).toBeLessThanOrEqual(9);
      expect(task.conditionNumber).toBeGreaterThanOrEqual(10);
      expect(task.conditionNumber).toBeLessThanOrEqual(1e4);
      expect(task.params.count).toBe(task.dimension);
      seen.add(task.dimension);
      const again = family.sample(seed);
      expect(again.name).toBe(task.name);
      expect(Array.from(again.objective.matrix)).toEqual(Array.from(task.objective.matrix));
      expect(Array.from(again.objective.x.data)).toEqual(Array.from(task.objective.x.data));
    }
    expect(seen.size).toBeGreaterThan(2);
    expect(Array.from(family.sample(1).objective.center)).not.toEqual(Array.from(family.sample(2).objective.center));
  });

  test('each task has the condition number it reports and a gradient that matches finite differences', () => {
    const task = new RandomQuadraticFamily({ dimension: 6, conditionNumber: [100, 100] }).sample(3);
    const lambda = Array.from(task.objective.eigenvalues);
    expect(Math.max(...lambda) / Math.min(...lambda)).toBeCloseTo(100, 8);
    task.objective.x.data.set(new Rng(1).fillNormal(new Float64Array(6)));
    expect(checkGradient(task.objective)).toBeLessThan(1e-6);
    task.reset();
    expect(Array.from(task.objective.x.data)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  test('float32 tasks and invalid options', () => {
    const task = new RandomQuadraticFamily({ dimension: 4, dtype: 'float32' }).sample(0);
    expect(task.objective.x.data).toBeInstanceOf(Float32Array);
    expect(task.objective.lossAndGrad()).toBeGreaterThan(0);
    expect(() => new RandomQuadraticFamily({ dimension: [5, 2] })).toThrow(/dimension/);
    expect(() => new RandomQuadraticFamily({ conditionNumber: 0.5 })).toThrow(/conditionNumber/);
    expect(() => new RandomQuadraticFamily({ startScale: -1 })).toThrow(/startScale/);
  });
});

test('the package entry exports the families and objective helpers', () => {
  expect(tasks.RandomQuadraticFamily).toBe(RandomQuadraticFamily);
  expect(tasks.LinearRegressionFamily).toBe(LinearRegressionFamily);
  expect(tasks.checkGradient).toBe(checkGradient);
  expect(typeof tasks.Rosenbrock).toBe('function');
});

/** A family is `{ sample(seed): Task }`: typed use through the interface. */
const _typed: tasks.TaskFamily<RegressionTask> = new LinearRegressionFamily();
void _typed;
