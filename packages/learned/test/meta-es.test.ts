import { SGD } from '@opt/core';
import { Rng } from '@opt/tensor';
import { RandomQuadraticFamily } from '@opt/tasks';
import {
  AntitheticES,
  MetaTrainer,
  type MetaObjective,
  UnrollObjective,
  metaSeed,
  familySampler,
} from '../src/meta/index';
import type { LearnedOptimizerFactory } from '../src/learnable';
import type { Parameter } from '@opt/tensor';

/** A 2-meta-parameter learned SGD: lr = exp(θ₀), momentum = 0.9·sigmoid(θ₁), read at every step. */
class LearnedLRSGD extends SGD {
  constructor(params: Parameter[], private readonly meta: Float64Array) {
    super(params, { lr: Math.exp(meta[0]!), momentum: 0.5 });
  }
  override step(closure?: () => number): number | undefined {
    for (const g of this.paramGroups) {
      g.lr = Math.exp(this.meta[0]!);
      g.momentum = 0.9 / (1 + Math.exp(-this.meta[1]!));
    }
    return super.step(closure);
  }
}
const toyFactory: LearnedOptimizerFactory = {
  arch: 'toy-lr-sgd',
  metaParamCount: 2,
  initialMetaParams: () => new Float64Array([Math.log(1e-3), 0]),
  create: (params, meta) => new LearnedLRSGD(params, meta),
};

/** A meta-objective with a known gradient: L(θ) = a·θ + ½θᵀBθ, B diagonal, no noise. */
function quadraticObjective(a: number[], b: number[]): MetaObjective<null> {
  return {
    draw: () => null,
    loss: (theta) => theta.reduce((s, t, i) => s + a[i]! * t + 0.5 * b[i]! * t * t, 0),
  };
}

describe('AntitheticES', () => {
  test('the estimate averages to the true gradient of a quadratic meta-loss', () => {
    const a = [1, -2, 0.5];
    const b = [2, 1, 4];
    const theta = new Float64Array([0.3, -0.1, 0.2]);
    const es = new AntitheticES({ objective: quadraticObjective(a, b), pairs: 1, sigma: 0.1 });
    const grad = new Float64Array(3);
    const mean = new Float64Array(3);
    const n = 4000;
    for (let i = 0; i < n; i++) {
      es.estimate(theta, grad, { metaStep: 0, index: i, seed: 3 });
      for (let j = 0; j < 3; j++) mean[j] = mean[j]! + grad[j]! / n;
    }
    const truth = a.map((ai, i) => ai + b[i]! * theta[i]!);
    // Each coordinate's estimate has variance ≈ ‖∇L‖²+∇L_j² ≈ 6; the mean of 4000 has sd ≈ 0.04.
    for (let j = 0; j < 3; j++) expect(Math.abs(mean[j]! - truth[j]!)).toBeLessThan(0.15);
  });

  test('antithetic pairs cancel the even part of the meta-loss exactly', () => {
    const es = new AntitheticES({ objective: quadraticObjective([0, 0], [3, 5]), pairs: 4, sigma: 0.5 });
    const grad = new Float64Array(2);
    es.estimate(new Float64Array(2), grad, { metaStep: 7, index: 1, seed: 11 });
    // L is even around θ = 0: every pair's difference is exactly 0, whatever ε was drawn.
    expect(Array.from(grad)).toEqual([0, 0]);
  });

  test('a linear meta-loss gives (a·ε)ε per pair: the directional derivative along ε', () => {
    const es = new AntitheticES({ objective: quadraticObjective([2, -1], [0, 0]), pairs: 1, sigma: 0.3 });
    const grad = new Float64Array(2);
    es.estimate(new Float64Array([0.4, 0.1]), grad, { metaStep: 0, index: 0, seed: 5 });
    const eps = new Rng(metaSeed(5, 0, 0)).fillNormal(new Float64Array(2));
    const dot = 2 * eps[0]! - eps[1]!;
    expect(grad[0]).toBeCloseTo(dot * eps[0]!, 12);
    expect(grad[1]).toBeCloseTo(dot * eps[1]!, 12);
  });

  test('a diverging inner run is replaced by the NaN penalty and stopped', () => {
    const family = new RandomQuadraticFamily({ dimension: 5, conditionNumber: 10, startScale: 1 });
    const objective = new UnrollObjective({ factory: toyFactory, sampler: familySampler(family, [0, 100]), horizon: 30, lossClip: 5 });
    const rng = new Rng(1);
    const sample = objective.draw(rng);
    // lr = e^20 ≈ 5e8 multiplies the error by ≥ 5e7 per step: the loss overflows to Infinity within 30 steps.
    const loss = objective.loss(new Float64Array([20, 0]), sample);
    expect(loss).toBe(Math.log(5) + 1);
    const good = objective.loss(new Float64Array([Math.log(0.05), 0]), sample);
    expect(good).toBeLessThan(0);
  });

  test('metaSeed separates coordinates and is stable', () => {
    expect(metaSeed(1, 2, 3)).toBe(metaSeed(1, 2, 3));
    const seen = new Set<number>();
    for (let s = 0; s < 4; s++) for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) seen.add(metaSeed(s, i, j));
    expect(seen.size).toBe(64);
    expect(metaSeed(1, 2, 3)).toBeLessThan(2 ** 52);
  });
});

describe('MetaTrainer', () => {
  function makeTrainer(metaSteps: number, clipNorm = 10): MetaTrainer {
    const family = new RandomQuadraticFamily({ dimension: [4, 8], conditionNumber: [2, 20], startScale: 1 });
    const objective = new UnrollObjective({ factory: toyFactory, sampler: familySampler(family, [0, 1000]), horizon: [10, 30] });
    return new MetaTrainer({
      factory: toyFactory,
      estimator: new AntitheticES({ objective, sigma: 0.1 }),
      metaOptimizer: { lr: 0.1 },
      estimatesPerStep: 4,
      metaSteps,
      clipNorm,
      seed: 42,
    });
  }

  test('ES meta-training raises a too-small learned learning rate and lowers the meta-loss', () => {
    const trainer = makeTrainer(40);
    const history = trainer.train();
    expect(trainer.metaParams[0]).toBeGreaterThan(Math.log(1e-3) + 1);
    const first = history.slice(0, 5).reduce((s, r) => s + r.metaLoss, 0) / 5;
    const last = history.slice(-5).reduce((s, r) => s + r.metaLoss, 0) / 5;
    expect(last).toBeLessThan(first - 0.1);
  });

  test('the averaged meta-gradient is clipped to clipNorm', () => {
    const trainer = makeTrainer(3, 1e-3);
    const record = trainer.step();
    expect(record.gradNorm).toBeGreaterThan(1e-3);
    expect(record.clipped).toBe(true);
    // Adam's first step moves each coordinate by about lr whatever the scale, so check the gradient handed to it.
    const state = trainer.stateDict();
    const m = (state.metaOptimizer.state['0'] as Record<string, { data: number[] }>)['exp_avg']!.data;
    const norm = Math.hypot(...m.map((v) => v / 0.1));
    expect(norm).toBeCloseTo(1e-3, 9);
  });

  test('a run resumed from its state dict continues bit-identically', () => {
    const straight = makeTrainer(6);
    straight.train();
    const first = makeTrainer(6);
    for (let i = 0; i < 3; i++) first.step();
    const saved = JSON.parse(JSON.stringify(first.stateDict()));
    const resumed = makeTrainer(6);
    resumed.loadStateDict(saved);
    resumed.train();
    expect(Buffer.from(resumed.metaParams.buffer).equals(Buffer.from(straight.metaParams.buffer))).toBe(true);
    expect(resumed.history).toEqual(straight.history);
  });
});
