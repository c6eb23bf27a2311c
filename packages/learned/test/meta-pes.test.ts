import { SGD } from '@opt/core';
import type { Parameter } from '@opt/tensor';
import { Rng } from '@opt/tensor';
import { MLPClassificationFamily, RandomQuadraticFamily, createDataset } from '@opt/tasks';
import type { LearnedOptimizerFactory } from '../src/learnable';
import { MetaTrainer, PES, familySampler, resolveLossOptions, runSteps, taskProblem } from '../src/meta/index';

/** Learned-lr SGD with momentum: lr = exp(θ₀), momentum = 0.9·sigmoid(θ₁), read at every step. */
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
const factory: LearnedOptimizerFactory = {
  arch: 'toy-lr-sgd',
  metaParamCount: 2,
  initialMetaParams: () => new Float64Array([Math.log(0.05), 0]),
  create: (params, meta) => new LearnedLRSGD(params, meta),
};

// One deterministic full-batch quadratic (a single task seed): the episode's loss is a smooth function of θ.
const family = new RandomQuadraticFamily({ dimension: 4, conditionNumber: 10, startScale: 1 });
const sampler = familySampler(family, [5, 6]);
const T = 20;
const W = 5;

/** The episode's total meta-loss at a fixed θ: the sum over its truncations of each truncation's mean term. */
function episodeLoss(theta: Float64Array): number {
  const problem = sampler(new Rng(0));
  problem.reset();
  const opt = factory.create(problem.parameters, theta);
  const scale = { l0: NaN };
  const options = resolveLossOptions('test', {});
  let total = 0;
  for (let k = 0; k < T / W; k++) {
    const last = k === T / W - 1;
    total += runSteps(problem, opt, W, scale, options, last) / (W + (last ? 1 : 0));
  }
  return total;
}

describe('PES', () => {
  test('summed over an episode, the estimates average to the gradient of the whole-episode meta-loss', () => {
    const theta = new Float64Array([Math.log(0.05), 0.3]);
    const h = 1e-5;
    const truth = [0, 1].map((j) => {
      const up = theta.slice();
      const down = theta.slice();
      up[j]! += h;
      down[j]! -= h;
      return (episodeLoss(up) - episodeLoss(down)) / (2 * h);
    });
    const pes = new PES({ factory, sampler, horizon: T, truncation: W, sigma: 0.01, randomInitialOffset: false });
    const particles = 300;
    const sum = new Float64Array(2);
    const g = new Float64Array(2);
    for (let k = 0; k < T / W; k++) {
      for (let i = 0; i < particles; i++) {
        pes.estimate(theta, g, { metaStep: k, index: i, seed: 1 });
        sum[0]! += g[0]! / particles;
        sum[1]! += g[1]! / particles;
      }
    }
    // Truncated ES without the accumulated perturbations would miss the effect of earlier truncations on later
    // states; PES recovers the full gradient (tolerance: a few standard errors of 300 particles).
    expect(Math.abs(sum[0]! - truth[0]!)).toBeLessThan(0.15 * Math.abs(truth[0]!) + 0.05);
    expect(Math.abs(sum[1]! - truth[1]!)).toBeLessThan(0.15 * Math.abs(truth[1]!) + 0.05);
    expect(Math.abs(truth[0]!)).toBeGreaterThan(0.5);
  });

  test('particles persist across truncations and restart after their episode', () => {
    const pes = new PES({ factory, sampler, horizon: 10, truncation: 4, sigma: 0.01, randomInitialOffset: false });
    const g = new Float64Array(2);
    const theta = factory.initialMetaParams();
    pes.estimate(theta, g, { metaStep: 0, index: 0, seed: 3 });
    pes.estimate(theta, g, { metaStep: 1, index: 0, seed: 3 });
    const mid = pes.stateDict().particles['0']!;
    expect(mid.t).toBe(8);
    expect(mid.episode).toBe(0);
    pes.estimate(theta, g, { metaStep: 2, index: 0, seed: 3 });
    const next = pes.stateDict().particles['0']!;
    expect(next.episode).toBe(1);
    expect(next.t).toBe(0);
  });

  test('the random initial offset shortens each particle`s first episode differently', () => {
    const pes = new PES({ factory, sampler, horizon: 50, truncation: 5 });
    const g = new Float64Array(2);
    for (let i = 0; i < 6; i++) pes.estimate(factory.initialMetaParams(), g, { metaStep: 0, index: i, seed: 2 });
    const ends = Object.values(pes.stateDict().particles).map((p) => p.end);
    expect(new Set(ends).size).toBeGreaterThan(3);
    expect(Math.max(...ends)).toBeLessThanOrEqual(50);
  });

  test('a PES run on mini-batch tasks resumes bit-identically from a JSON checkpoint', () => {
    const rng = new Rng(4);
    const features = rng.fillNormal(new Float64Array(60 * 3));
    const labels = Int32Array.from({ length: 60 }, (_, i) => (features[i * 3]! + 0.3 * features[i * 3 + 1]! > 0 ? 1 : 0));
    const data = createDataset({ name: 'toy', features, labels, d: 3 });
    const mlpFamily = new MLPClassificationFamily(data, { widths: [4], depths: [1], activations: ['tanh'], batchSizes: [8] });
    const make = (): MetaTrainer =>
      new MetaTrainer({
        factory,
        estimator: new PES({ factory, sampler: familySampler(mlpFamily, [0, 50]), horizon: [6, 12], truncation: 4, sigma: 0.05 }),
        metaOptimizer: { lr: 0.05 },
        estimatesPerStep: 3,
        metaSteps: 6,
        seed: 5,
      });
    const straight = make();
    straight.train();
    const first = make();
    first.step();
    first.step();
    first.step();
    const saved = JSON.parse(JSON.stringify(first.stateDict()));
    const resumed = make();
    resumed.loadStateDict(saved);
    resumed.train();
    expect(Buffer.from(resumed.metaParams.buffer).equals(Buffer.from(straight.metaParams.buffer))).toBe(true);
    expect(resumed.history).toEqual(straight.history);
  });

  test('taskProblem replays the same batches after reset', () => {
    const task = new RandomQuadraticFamily({ dimension: 3, startScale: 1 }).sample(1);
    const p = taskProblem(task, 0);
    const a = p.lossAndGrad();
    p.reset();
    expect(p.lossAndGrad()).toBe(a);
  });
});
