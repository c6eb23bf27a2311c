import { Adam, SGD } from '@opt/core';
import { InvalidOptionError, Parameter, StateDictError } from '@opt/tensor';
import { LR_TIME_SCALES, LearnedLRAdam, learnedLRAdamFactory, scheduleEmbedding, scheduleEmbeddingSize } from '../src/index';

function quadGrad(p: Parameter): void {
  p.grad = new Float64Array(p.size);
  for (let i = 0; i < p.size; i++) p.grad[i] = (i + 1) * p.data[i]!;
}

function params(): Parameter[] {
  return [new Parameter(new Float64Array([1, -2, 0.5]), [3], 'w'), new Parameter(new Float64Array([0.3]), [1], 'b')];
}

describe('LearnedLRAdam', () => {
  test.each(['adam', 'sgdm'] as const)('untrained weights reproduce the base rule exactly (%s)', (base) => {
    const a = params();
    const b = params();
    const reference = base === 'adam' ? new Adam(a, { lr: 0.05 }) : new SGD(a, { lr: 0.05, momentum: 0.9 });
    const factory = learnedLRAdamFactory({ base, lr: 0.05, learnBetas: true });
    const opt = factory.create(b, factory.initialMetaParams());
    for (let i = 0; i < 30; i++) {
      a.forEach(quadGrad);
      b.forEach(quadGrad);
      reference.step();
      opt.step();
    }
    for (let k = 0; k < a.length; k++) expect(Array.from(b[k]!.data)).toEqual(Array.from(a[k]!.data));
  });

  test('the learning rate is lr·exp(θ·ψ(t)) and keeps changing past any horizon', () => {
    const factory = learnedLRAdamFactory({ lr: 0.1 });
    const theta = factory.initialMetaParams();
    expect(theta.length).toBe(scheduleEmbeddingSize(LR_TIME_SCALES));
    theta[1] = -1; // a learned decay on the log(1 + t) term
    const opt = factory.create(params(), theta, { totalSteps: 100 });
    const psi = new Float64Array(theta.length);
    for (const t of [1, 100, 200, 400]) {
      scheduleEmbedding(t, LR_TIME_SCALES, psi);
      expect(opt.learningRateAt(0, t)).toBeCloseTo(0.1 * Math.exp(-psi[1]!), 14);
    }
    // Past the horizon K = 100 the schedule still decays: no clamp at K.
    expect(opt.learningRateAt(0, 400)).toBeLessThan(opt.learningRateAt(0, 200) * 0.95);
  });

  test('each group reads its own meta-parameters', () => {
    const factory = learnedLRAdamFactory({ lr: 0.1, groups: 2, groupOf: (p) => (p.name === 'w' ? 0 : 1) });
    const theta = factory.initialMetaParams();
    const per = theta.length / 2;
    theta[per] = Math.log(3); // group 1's constant term
    const opt = factory.create(params(), theta);
    expect(opt.learningRateAt(0, 5)).toBeCloseTo(0.1, 14);
    expect(opt.learningRateAt(1, 5)).toBeCloseTo(0.3, 14);
  });

  test('the state dict round-trips and resumes bit-identically', () => {
    const factory = learnedLRAdamFactory({ lr: 0.05, learnBetas: true });
    const theta = factory.initialMetaParams().map((_, i) => 0.1 * Math.sin(i + 1));
    const a = params();
    const opt = factory.create(a, theta);
    for (let i = 0; i < 5; i++) {
      a.forEach(quadGrad);
      opt.step();
    }
    const saved = JSON.parse(JSON.stringify(opt.stateDict()));
    const b = a.map((p) => new Parameter(p.data.slice(), p.shape, p.name));
    const resumed = factory.create(b, theta);
    resumed.loadStateDict(saved);
    for (let i = 0; i < 5; i++) {
      a.forEach(quadGrad);
      b.forEach(quadGrad);
      opt.step();
      resumed.step();
    }
    for (let k = 0; k < a.length; k++) expect(Array.from(b[k]!.data)).toEqual(Array.from(a[k]!.data));
    const other = learnedLRAdamFactory({ base: 'sgdm' });
    expect(() => other.create(params(), other.initialMetaParams()).loadStateDict(saved)).toThrow(StateDictError);
  });

  test('bad options throw typed errors', () => {
    expect(() => new LearnedLRAdam(params(), {} as never)).toThrow(InvalidOptionError);
    expect(() => new LearnedLRAdam(params(), { weights: 'untrained', config: { base: 'rmsprop' as never } })).toThrow(/config.base/);
    expect(() => new LearnedLRAdam(params(), { weights: new Float64Array(2) })).toThrow(StateDictError);
    expect(() => new LearnedLRAdam(params(), { weights: 'untrained', momentum: 1 })).toThrow(/momentum/);
    const factory = learnedLRAdamFactory({ groups: 2, groupOf: () => 5 });
    expect(() => factory.create(params(), factory.initialMetaParams())).toThrow(/groupOf/);
  });
});
