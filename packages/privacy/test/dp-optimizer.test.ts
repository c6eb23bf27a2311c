import { SGD, Adam, applyUpdates, chain, copyGradients, createUpdates, sgd } from '@opt/core';
import { ClassificationObjective, MSEObjective, batchOf, createDataset, mlp, type Batch } from '@opt/tasks';
import { InvalidOptionError, Parameter, Rng, type FloatArray } from '@opt/tensor';
import {
  DPOptimizer,
  FixedSizeBatchIterator,
  PerExampleClipper,
  PoissonBatchIterator,
  SamplingMismatchError,
  SeededRandomSource,
  clipFactor,
  dpAggregate,
  type DPBatch,
} from '../src/index';

function toyData(n = 40, d = 5, classes = 3, seed = 1) {
  const rng = new Rng(seed);
  const features: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const label = i % classes;
    labels.push(label);
    for (let j = 0; j < d; j++) features.push(rng.normal() + (j === label ? 2 : 0));
  }
  return createDataset({ name: 'toy', features, labels, d, numClasses: classes });
}

function objectiveFor(seed = 0) {
  const data = toyData();
  const objective = new ClassificationObjective(mlp({ sizes: [5, 7, 3], seed }), data);
  return { data, objective };
}

/** Σᵢ clip(gᵢ) computed the long way: one-example lossAndGrad per row. */
function referenceClippedSum(objective: ClassificationObjective, batch: Batch, clip: number): Float64Array[] {
  const params = objective.parameters;
  const sums = params.map((p) => new Float64Array(p.size));
  const d = objective.inputs;
  for (let i = 0; i < batch.size; i++) {
    objective.lossAndGrad({ x: batch.x.slice(i * d, (i + 1) * d), y: batch.y.slice(i, i + 1), size: 1 });
    let sq = 0;
    for (const p of params) for (const g of p.grad!) sq += g * g;
    const c = clipFactor(Math.sqrt(sq), clip);
    params.forEach((p, k) => p.grad!.forEach((g, j) => (sums[k]![j] += c * g)));
  }
  return sums;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function manualBatch(size: number, step = 0, lastPhysical = true, sampling: 'poisson' | 'fixed-size' = 'poisson'): DPBatch {
  return {
    indices: new Int32Array(size),
    size,
    sampling,
    sampleRate: 0.25,
    expectedBatchSize: 4,
    logicalSize: size,
    step,
    physicalIndex: 0,
    lastPhysical,
  };
}

describe('per-example clipping', () => {
  test('ghost clipping gives the clipped per-example sum computed one example at a time', () => {
    const { data, objective } = objectiveFor();
    const batch = batchOf(data, [0, 3, 5, 8, 13, 21], 'float64');
    const clipper = new PerExampleClipper(objective);
    expect(clipper.method).toBe('ghost');
    const clip = 0.3;
    const unclipped = clipper.clipAndSum(batch, clip);
    const got = objective.parameters.map((p) => p.grad!.slice());
    const want = referenceClippedSum(objective, batch, clip);
    for (let k = 0; k < got.length; k++) expect(maxDiff(got[k]!, want[k]!)).toBeLessThan(1e-12);
    expect(unclipped).toBe(Array.from(clipper.norms.subarray(0, 6)).filter((n) => n <= clip).length);
  });

  test('ghost and materialized clipping agree', () => {
    const { data, objective } = objectiveFor(3);
    const batch = batchOf(data, [1, 2, 4, 9, 10, 30, 31], 'float64');
    const ghost = new PerExampleClipper(objective, { method: 'ghost' });
    const mat = new PerExampleClipper(objective, { method: 'materialized' });
    const a = ghost.clipAndSum(batch, 0.5);
    const ga = objective.parameters.map((p) => p.grad!.slice());
    const b = mat.clipAndSum(batch, 0.5);
    expect(a).toBe(b);
    objective.parameters.forEach((p, k) => expect(maxDiff(p.grad!, ga[k]!)).toBeLessThan(1e-12));
  });

  test('with a bound above every norm the clipped sum is B times the batch gradient', () => {
    const { data, objective } = objectiveFor();
    const batch = batchOf(data, [0, 1, 2, 3], 'float64');
    new PerExampleClipper(objective).clipAndSum(batch, 1e9);
    const sums = objective.parameters.map((p) => p.grad!.slice());
    objective.lossAndGrad(batch);
    objective.parameters.forEach((p, k) => expect(maxDiff(sums[k]!, Array.from(p.grad!, (g) => 4 * g))).toBeLessThan(1e-12));
  });

  test('ghost clipping works for the MSE objective', () => {
    const rng = new Rng(2);
    const x = Array.from({ length: 24 }, () => rng.normal());
    const y = Array.from({ length: 12 }, () => rng.normal());
    const objective = new MSEObjective(mlp({ sizes: [2, 6, 1], seed: 1, activation: 'tanh' }), { x, y, inputs: 2 });
    const batch = { x: new Float64Array(x), y: new Float64Array(y), size: 12 };
    const ghost = new PerExampleClipper(objective, { method: 'ghost' });
    ghost.clipAndSum(batch, 0.2);
    const ga = objective.parameters.map((p) => p.grad!.slice());
    new PerExampleClipper(objective, { method: 'materialized' }).clipAndSum(batch, 0.2);
    objective.parameters.forEach((p, k) => expect(maxDiff(p.grad!, ga[k]!)).toBeLessThan(1e-12));
  });

  test('per-layer clipping bounds each tensor of each example by its own budget', () => {
    const w = new Parameter(new Float64Array(2), [2], 'w');
    const b = new Parameter(new Float64Array(1), [1], 'b');
    const dp = new DPOptimizer(new SGD([w, b], { lr: 1 }), {
      noiseMultiplier: 1e-12, maxGradNorm: [1, 0.5], expectedBatchSize: 1, noise: 'seeded',
    });
    // Example 0: w-grad (3, 4) (norm 5 → scaled to norm 1), b-grad 0.25 (kept); example 1: w (0.6, 0), b 2 (→ 0.5).
    dp.accumulatePerExample([new Float64Array([3, 4, 0.6, 0]), new Float64Array([0.25, 2])], 2, manualBatch(2));
    dp.step();
    expect(w.data[0]).toBeCloseTo(-(3 / 5 + 0.6), 6);
    expect(w.data[1]).toBeCloseTo(-(4 / 5), 6);
    expect(b.data[0]).toBeCloseTo(-(0.25 + 0.5), 6);
    expect(dp.noiseClip).toBeCloseTo(Math.sqrt(1.25), 12);
  });
});

describe('DPOptimizer', () => {
  test('the update is (clipped sum + N(0, σ²C²)) divided by the expected batch size', () => {
    const w = new Parameter(new Float64Array([0, 0, 0]), [3], 'w');
    const sigma = 1.3;
    const C = 0.7;
    const m = 4;
    const dp = new DPOptimizer(new SGD([w], { lr: 1 }), { noiseMultiplier: sigma, maxGradNorm: C, expectedBatchSize: m, noise: 'seeded', seed: 9 });
    // Two examples with gradient norm 1.0 (clipped to 0.7) and 0.5 (kept).
    dp.accumulatePerExample([new Float64Array([0.6, 0.8, 0, 0, 0, 0.5])], 2, manualBatch(2));
    dp.step();
    const z = new SeededRandomSource(9);
    const c = clipFactor(1.0, C);
    const want = [0.6 * c, 0.8 * c, 0.5].map((s) => -(s + sigma * C * z.normal()) / m);
    want.forEach((v, j) => expect(w.data[j]).toBeCloseTo(v, 12));
  });

  test('an empty Poisson batch still takes a noise-only step', () => {
    const { objective } = objectiveFor();
    const before = objective.parameters.map((p) => p.data.slice());
    const dp = new DPOptimizer(new SGD(objective.parameters, { lr: 0.1 }), { noiseMultiplier: 1, maxGradNorm: 1, expectedBatchSize: 4, noise: 'seeded' });
    const empty: Batch = { x: new Float64Array(0), y: new Int32Array(0), size: 0 };
    dp.accumulate(objective, empty, manualBatch(0));
    dp.step();
    expect(dp.dpSteps).toBe(1);
    objective.parameters.forEach((p, k) => expect(maxDiff(p.data, before[k]!)).toBeGreaterThan(0));
  });

  test('virtual steps: physical batches of one logical batch give the update of the whole batch', () => {
    const run = (split: boolean) => {
      const { data, objective } = objectiveFor(5);
      const dp = new DPOptimizer(new SGD(objective.parameters, { lr: 0.5 }), {
        noiseMultiplier: 0.8, maxGradNorm: 0.4, expectedBatchSize: 6, noise: 'seeded', seed: 4,
      });
      const rows = [2, 4, 6, 8, 10, 12, 14];
      const parts = split ? [rows.slice(0, 3), rows.slice(3, 6), rows.slice(6)] : [rows];
      parts.forEach((r, k) =>
        dp.accumulate(objective, batchOf(data, r, 'float64'), { ...manualBatch(r.length, 0, k === parts.length - 1), physicalIndex: k }),
      );
      dp.step();
      return objective.parameters.map((p) => p.data.slice());
    };
    const whole = run(false);
    const split = run(true);
    whole.forEach((w, k) => expect(maxDiff(w, split[k]!)).toBeLessThan(1e-12));
  });

  test('stepping in the middle of a logical batch, or with nothing accumulated, is refused', () => {
    const { data, objective } = objectiveFor();
    const dp = new DPOptimizer(new SGD(objective.parameters, { lr: 0.1 }), { noiseMultiplier: 1, maxGradNorm: 1, expectedBatchSize: 4, noise: 'seeded' });
    expect(() => dp.step()).toThrow(SamplingMismatchError);
    dp.accumulate(objective, batchOf(data, [0, 1], 'float64'), manualBatch(2, 0, false));
    expect(() => dp.step()).toThrow(SamplingMismatchError);
  });

  test('a batch from the other sampler is refused with a typed error', () => {
    const { data, objective } = objectiveFor();
    const poissonDp = new DPOptimizer(new SGD(objective.parameters, { lr: 0.1 }), {
      noiseMultiplier: 1, maxGradNorm: 1, expectedBatchSize: 4, noise: 'seeded',
    });
    const fixed = new FixedSizeBatchIterator({ dataSize: data.n, batchSize: 4, noise: 'seeded', seed: 1 });
    const [b] = fixed.nextLogicalBatch();
    expect(() => poissonDp.accumulate(objective, batchOf(data, b!.indices, 'float64'), b)).toThrow(SamplingMismatchError);
    const fixedDp = new DPOptimizer(new SGD(objective.parameters, { lr: 0.1 }), {
      noiseMultiplier: 1, maxGradNorm: 1, expectedBatchSize: 4, noise: 'seeded', sampling: 'fixed-size',
    });
    const poisson = new PoissonBatchIterator({ dataSize: data.n, expectedBatchSize: 4, noise: 'seeded', seed: 1 });
    const [p] = poisson.nextLogicalBatch();
    expect(() => fixedDp.accumulate(objective, batchOf(data, p!.indices, 'float64'), p)).toThrow(SamplingMismatchError);
    fixedDp.accumulate(objective, batchOf(data, b!.indices, 'float64'), b);
    fixedDp.step();
    expect(fixedDp.dpSteps).toBe(1);
  });

  test('invalid sigma, clip bound and sample rate are typed errors naming the option', () => {
    const w = new Parameter(new Float64Array(2), [2], 'w');
    const base = { noiseMultiplier: 1, maxGradNorm: 1, expectedBatchSize: 4, noise: 'seeded' as const };
    expect(() => new DPOptimizer(new SGD([w], { lr: 1 }), { ...base, noiseMultiplier: 0 })).toThrow(/noiseMultiplier/);
    expect(() => new DPOptimizer(new SGD([w], { lr: 1 }), { ...base, noiseMultiplier: -1 })).toThrow(InvalidOptionError);
    expect(() => new DPOptimizer(new SGD([w], { lr: 1 }), { ...base, maxGradNorm: 0 })).toThrow(/maxGradNorm/);
    expect(() => new DPOptimizer(new SGD([w], { lr: 1 }), { ...base, sampleRate: 1.5 })).toThrow(/sampleRate/);
    expect(() => new DPOptimizer(new SGD([w], { lr: 1 }), { ...base, sampleRate: 0 })).toThrow(InvalidOptionError);
    expect(() => new DPOptimizer(new SGD([w], { lr: 1 }), { ...base, maxGradNorm: [1, 2] })).toThrow(/one bound per parameter/);
  });

  test('a seeded run resumes bit-identically from its state dict', () => {
    const steps = (dp: DPOptimizer, objective: ClassificationObjective, data: ReturnType<typeof toyData>, sampler: PoissonBatchIterator, n: number) => {
      for (let s = 0; s < n; s++) {
        for (const b of sampler.nextLogicalBatch()) {
          dp.accumulate(objective, batchOf(data, b.indices, 'float64'), b);
          if (b.lastPhysical) dp.step();
        }
      }
    };
    const make = () => {
      const { data, objective } = objectiveFor(7);
      const dp = new DPOptimizer(new Adam(objective.parameters, { lr: 0.01 }), {
        noiseMultiplier: 1.1, maxGradNorm: 0.5, expectedBatchSize: 8, noise: 'seeded', seed: 11, adaptiveClipping: { countNoiseStd: 2 },
      });
      const sampler = new PoissonBatchIterator({ dataSize: data.n, expectedBatchSize: 8, noise: 'seeded', seed: 12, maxPhysicalBatchSize: 5 });
      return { data, objective, dp, sampler };
    };
    const a = make();
    steps(a.dp, a.objective, a.data, a.sampler, 3);
    const saved = JSON.parse(JSON.stringify({ opt: a.dp.stateDict(), sampler: a.sampler.stateDict() }));
    const savedParams = a.objective.parameters.map((p) => p.data.slice());
    steps(a.dp, a.objective, a.data, a.sampler, 4);

    const b = make();
    b.objective.parameters.forEach((p, k) => p.data.set(savedParams[k]!));
    b.dp.loadStateDict(saved.opt);
    b.sampler.loadStateDict(saved.sampler);
    steps(b.dp, b.objective, b.data, b.sampler, 4);
    a.objective.parameters.forEach((p, k) => expect(Array.from(b.objective.parameters[k]!.data)).toEqual(Array.from(p.data)));
    expect(b.dp.maxGradNorm).toBe(a.dp.maxGradNorm);
    expect(b.dp.dpSteps).toBe(7);
  });

  test('adaptive clipping shrinks C when more than the target quantile of examples is unclipped', () => {
    const { data, objective } = objectiveFor();
    const dp = new DPOptimizer(new SGD(objective.parameters, { lr: 0.01 }), {
      noiseMultiplier: 1, maxGradNorm: 100, expectedBatchSize: 20, noise: 'seeded', seed: 1,
      adaptiveClipping: { targetUnclippedQuantile: 0.5, clipboundLearningRate: 0.2, countNoiseStd: 1 },
    });
    // σ_Δ = (σ⁻² − (2σ_b)⁻²)^(−1/2) = (1 − 1/4)^(−1/2).
    expect(dp.gradientNoiseMultiplier).toBeCloseTo(1 / Math.sqrt(0.75), 12);
    for (let s = 0; s < 5; s++) {
      dp.accumulate(objective, batchOf(data, Array.from({ length: 20 }, (_, i) => i + s), 'float64'), manualBatch(20));
      dp.step();
    }
    // Every norm is far below 100, so b̄ ≈ 1 and C shrinks by about exp(−0.2·0.5) per step.
    expect(dp.maxGradNorm as number).toBeLessThan(100 * Math.exp(-0.2 * 0.5 * 5 * 0.8));
    expect(() => new DPOptimizer(new SGD(objective.parameters, { lr: 0.01 }), {
      noiseMultiplier: 4, maxGradNorm: 1, expectedBatchSize: 20, noise: 'seeded', adaptiveClipping: { countNoiseStd: 1 },
    })).toThrow(/countNoiseStd/);
  });

  test('the default noise mode is the private CSPRNG and seeded mode says it is not private', () => {
    const w = new Parameter(new Float64Array(2), [2], 'w');
    expect(new DPOptimizer(new SGD([w], { lr: 1 }), { noiseMultiplier: 1, maxGradNorm: 1, expectedBatchSize: 4 }).isPrivate).toBe(true);
    const w2 = new Parameter(new Float64Array(2), [2], 'w2');
    expect(new DPOptimizer(new SGD([w2], { lr: 1 }), { noiseMultiplier: 1, maxGradNorm: 1, expectedBatchSize: 4, noise: 'seeded' }).isPrivate).toBe(false);
  });
});

describe('dpAggregate', () => {
  test('in a chain it applies the same update as DPOptimizer over SGD with the same seed', () => {
    const sum = new Float64Array([0.3, -0.4, 0.1]);
    const w1 = new Parameter(new Float64Array([1, 2, 3]), [3], 'w');
    const dp = new DPOptimizer(new SGD([w1], { lr: 0.1 }), { noiseMultiplier: 1.2, maxGradNorm: 1, expectedBatchSize: 8, noise: 'seeded', seed: 5 });
    dp.accumulatePerExample([sum], 1, manualBatch(1));
    dp.step();

    const w2 = new Parameter(new Float64Array([1, 2, 3]), [3], 'w');
    w2.grad = sum.slice();
    const tx = chain(dpAggregate({ noiseMultiplier: 1.2, maxGradNorm: 1, expectedBatchSize: 8, noise: 'seeded', seed: 5 }), sgd(0.1));
    const state = tx.init([w2]);
    const updates: FloatArray[] = createUpdates([w2]);
    copyGradients([w2], updates);
    tx.update(updates, state, [w2]);
    applyUpdates([w2], updates);
    Array.from(w1.data).forEach((v, j) => expect(w2.data[j]).toBeCloseTo(v, 14));
    expect(state[0].count).toBe(1);
  });
});
