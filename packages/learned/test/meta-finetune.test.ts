import { SGD } from '@opt/core';
import { Rng, type Parameter } from '@opt/tensor';
import { RandomQuadraticFamily } from '@opt/tasks';
import type { LearnedOptimizerFactory } from '../src/learnable';
import { UnrollObjective, bootstrapMean, divergences, familySampler, finetune, geometricMeanRatio, median, winRate } from '../src/meta/index';

class LearnedLRSGD extends SGD {
  constructor(params: Parameter[], private readonly meta: Float64Array) {
    super(params, { lr: Math.exp(meta[0]!) });
  }
  override step(closure?: () => number): number | undefined {
    for (const g of this.paramGroups) g.lr = Math.exp(this.meta[0]!);
    return super.step(closure);
  }
}
const factory: LearnedOptimizerFactory = {
  arch: 'toy-lr',
  metaParamCount: 1,
  initialMetaParams: () => new Float64Array([Math.log(1e-3)]),
  create: (params, meta) => new LearnedLRSGD(params, meta),
};

describe('finetune', () => {
  test('a few ES steps on a handful of tasks specialise the shipped parameters to the new family', () => {
    const family = new RandomQuadraticFamily({ dimension: 6, conditionNumber: [2, 10], startScale: 1 });
    const shipped = new Float64Array([Math.log(0.01)]);
    const { metaParams, history } = finetune({ factory, metaParams: shipped }, family, { metaSteps: 30, tasks: 4, horizon: 20, sigma: 0.1, lr: 0.1 });
    expect(shipped[0]).toBe(Math.log(0.01));
    expect(history).toHaveLength(30);
    const held = new UnrollObjective({ factory, sampler: familySampler(family, [100, 110]), horizon: 20 });
    const score = (theta: Float64Array): number => {
      let s = 0;
      for (let i = 0; i < 10; i++) s += held.loss(theta, held.draw(new Rng(i)));
      return s / 10;
    };
    expect(score(metaParams)).toBeLessThan(score(shipped) - 0.5);
  });
});

describe('evaluation statistics', () => {
  test('win-rate pairs by seed and bootstraps over tasks', () => {
    const a = [[1, 1, 1], [1, 3, 1], [5, 5, 5], [NaN, 1, 1]];
    const b = [[2, 2, 2], [2, 2, 2], [1, 1, 1], [2, 2, NaN]];
    const w = winRate(a, b, { seed: 1 });
    // Task wins: 1, 2/3, 0, 2/3 (NaN candidate loses, NaN baseline loses).
    expect(w.value).toBeCloseTo((1 + 2 / 3 + 0 + 2 / 3) / 4, 12);
    expect(w.low).toBeLessThanOrEqual(w.value);
    expect(w.high).toBeGreaterThanOrEqual(w.value);
    expect(w.high).toBeLessThanOrEqual(1);
  });

  test('geometric-mean ratio, median, divergences and the bootstrap interval of a constant', () => {
    expect(geometricMeanRatio([[1], [4]], [[2], [2]])).toBeCloseTo(Math.sqrt(0.5 * 2), 12);
    expect(geometricMeanRatio([[NaN], [1]], [[1], [4]])).toBeCloseTo(0.25, 12);
    expect(median([3, 1, 2, 10])).toBe(2.5);
    expect(divergences([[0.5, NaN], [3, 1]], [1, 2])).toBe(2);
    expect(bootstrapMean([0.5, 0.5, 0.5])).toEqual({ value: 0.5, low: 0.5, high: 0.5 });
  });
});
