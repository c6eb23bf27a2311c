import { Adam, AdamW, Parameter, SGD } from '@opt/core';
import {
  CosineAnnealingLR,
  HyperparameterScheduler,
  InverseSqrtLR,
  LambdaLR,
  LinearWarmup,
  WarmupCosineLR,
  WarmupPolynomialLR,
  WarmupStableDecayLR,
  constantSchedule,
  cosineDecaySchedule,
  exponentialDecay,
  inverseSqrtSchedule,
  joinSchedules,
  linearSchedule,
  piecewiseConstantSchedule,
  polynomialSchedule,
  sgdrSchedule,
  warmupConstant,
  warmupCosineDecaySchedule,
  wsdSchedule,
} from '../src/index';

const close = (a: number, b: number) => expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-15 * Math.max(1, Math.abs(b)));

describe('pure schedules (optax semantics)', () => {
  test('constantSchedule returns its value at every step', () => {
    const s = constantSchedule(0.3);
    expect([0, 1, 1e6].map(s)).toEqual([0.3, 0.3, 0.3]);
  });

  test('linearSchedule interpolates after transitionBegin and clamps on both sides', () => {
    const s = linearSchedule({ initValue: 1, endValue: 3, transitionSteps: 4, transitionBegin: 2 });
    expect([0, 2, 3, 4, 6, 100].map(s)).toEqual([1, 1, 1.5, 2, 3, 3]);
  });

  test('polynomialSchedule: (init − end)·(1 − k/T)^p + end', () => {
    const s = polynomialSchedule({ initValue: 2, endValue: 1, power: 3, transitionSteps: 4 });
    expect([0, 1, 2, 4, 9].map(s)).toEqual([2, 1 + 0.75 ** 3, 1.125, 1, 1]);
  });

  test('cosineDecaySchedule with alpha and exponent', () => {
    const s = cosineDecaySchedule({ initValue: 2, decaySteps: 8, alpha: 0.25, exponent: 2 });
    close(s(0), 2);
    close(s(4), 2 * (0.75 * 0.25 + 0.25)); // cosine factor 1/2, squared 1/4
    close(s(8), 0.5);
    close(s(20), 0.5);
    close(s(-3), 2);
  });

  test('exponentialDecay: continuous, staircase, delayed start and a floor', () => {
    close(exponentialDecay({ initValue: 1, transitionSteps: 10, decayRate: 0.5 })(5), Math.SQRT1_2);
    expect(exponentialDecay({ initValue: 1, transitionSteps: 10, decayRate: 0.5, staircase: true })(19)).toBe(0.5);
    const delayed = exponentialDecay({ initValue: 1, transitionSteps: 1, decayRate: 0.5, transitionBegin: 3 });
    expect([0, 3, 4, 5].map(delayed)).toEqual([1, 1, 0.5, 0.25]);
    expect(exponentialDecay({ initValue: 1, transitionSteps: 1, decayRate: 0.5, endValue: 0.2 })(10)).toBe(0.2);
    expect(exponentialDecay({ initValue: 1, transitionSteps: 1, decayRate: 2, endValue: 5 })(10)).toBe(5);
  });

  test('piecewiseConstantSchedule scales once the step is strictly past each boundary', () => {
    const s = piecewiseConstantSchedule({ initValue: 1, boundariesAndScales: { 20: 0.5, 10: 0.1 } });
    expect([0, 10, 11, 20, 21].map(s)).toEqual([1, 1, 0.1, 0.1, 0.05]);
    const pairs = piecewiseConstantSchedule({ initValue: 8, boundariesAndScales: [[1, 0.5], [2, 0.5]] });
    expect([1, 2, 3].map(pairs)).toEqual([8, 4, 2]);
  });

  test('joinSchedules hands each schedule the steps since its boundary', () => {
    const s = joinSchedules([constantSchedule(7), (t) => t, (t) => 100 + t], [3, 5]);
    expect([0, 2, 3, 4, 5, 9].map(s)).toEqual([7, 7, 0, 1, 100, 104]);
  });

  test('warmupCosineDecaySchedule: linear to the peak, cosine to endValue over decaySteps − warmupSteps', () => {
    const s = warmupCosineDecaySchedule({ initValue: 0.1, peakValue: 1, warmupSteps: 4, decaySteps: 12, endValue: 0.2 });
    close(s(0), 0.1);
    close(s(2), 0.55);
    close(s(4), 1);
    close(s(8), 0.2 + 0.8 * 0.5);
    close(s(12), 0.2);
    close(s(50), 0.2);
    const noWarmup = warmupCosineDecaySchedule({ initValue: 0, peakValue: 1, warmupSteps: 0, decaySteps: 2 });
    close(noWarmup(1), 0.5);
  });

  test('warmupConstant ramps then holds', () => {
    expect([0, 1, 4, 10].map(warmupConstant({ initValue: 0.2, peakValue: 1, warmupSteps: 4 }))).toEqual([0.2, 0.4, 1, 1]);
  });

  test('inverseSqrtSchedule: peak·√(W/t) after the warm-up', () => {
    const s = inverseSqrtSchedule({ peakValue: 2, warmupSteps: 4 });
    expect([0, 2, 4, 16, 64].map(s)).toEqual([0, 1, 2, 1, 0.5]);
  });

  test('wsdSchedule: warm-up, plateau, then each decay shape', () => {
    const base = { peakValue: 1, warmupSteps: 2, stableSteps: 4, decaySteps: 4, endValue: 0.2 };
    const lin = wsdSchedule(base);
    expect([0, 1, 2, 5, 6, 8, 10, 20].map(lin)).toEqual([0, 0.5, 1, 1, 1, 0.2 + 0.8 * 0.5, 0.2, 0.2]);
    close(wsdSchedule({ ...base, decayShape: 'cosine' })(7), 0.2 + (0.8 * (1 + Math.cos(Math.PI / 4))) / 2);
    close(wsdSchedule({ ...base, decayShape: '1-sqrt' })(7), 0.2 + 0.8 * (1 - 0.5));
  });

  test('sgdrSchedule restarts each warm-up cosine cycle after its decaySteps', () => {
    const s = sgdrSchedule([
      { initValue: 0, peakValue: 1, warmupSteps: 2, decaySteps: 6 },
      { initValue: 0, peakValue: 0.5, warmupSteps: 1, decaySteps: 5 },
    ]);
    close(s(1), 0.5);
    close(s(4), 0.5);
    expect(s(6)).toBe(0);
    close(s(7), 0.5);
    close(s(9), 0.25);
  });
});

function sgd(lr = 1): SGD {
  return new SGD(
    [
      { params: [new Parameter(new Float64Array([1]))], lr },
      { params: [new Parameter(new Float64Array([1]))], lr: lr / 10 },
    ],
    { momentum: 0.9 },
  );
}

function run(s: { step(): void }, opt: SGD, steps: number, group = 0): number[] {
  const out = [opt.paramGroups[group]!.lr];
  for (let i = 0; i < steps; i++) {
    s.step();
    out.push(opt.paramGroups[group]!.lr);
  }
  return out;
}

describe('warm-up schedulers', () => {
  test('WarmupCosineLR warms up linearly, peaks at the base lr, anneals to etaMin, holds', () => {
    const opt = sgd();
    const lr = run(new WarmupCosineLR(opt, { warmupSteps: 4, totalSteps: 12, etaMin: 0.1 }), opt, 14);
    expect(lr.slice(0, 5)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    close(lr[8]!, 0.1 + 0.9 * 0.5);
    close(lr[12]!, 0.1);
    close(lr[14]!, 0.1);
    expect(opt.paramGroups[1]!.lr).toBeCloseTo(0.1, 15); // etaMin is absolute for every group
  });

  test('InverseSqrtLR peaks at warmupSteps then decays as 1/√e', () => {
    const opt = sgd();
    const lr = run(new InverseSqrtLR(opt, { warmupSteps: 4, startFactor: 0.5 }), opt, 16);
    expect([lr[0], lr[2], lr[4], lr[16]]).toEqual([0.5, 0.75, 1, 0.5]);
  });

  test('WarmupPolynomialLR decays to endLr with the given power', () => {
    const opt = sgd();
    const lr = run(new WarmupPolynomialLR(opt, { warmupSteps: 2, totalSteps: 6, power: 2, endLr: 0.2 }), opt, 8);
    expect(lr[1]).toBe(0.5);
    close(lr[4]!, 0.2 + 0.8 * 0.25);
    close(lr[8]!, 0.2);
  });

  test('WarmupStableDecayLR holds the base lr through the stable phase', () => {
    const opt = sgd();
    const lr = run(new WarmupStableDecayLR(opt, { warmupSteps: 2, stableSteps: 3, decaySteps: 2 }), opt, 8);
    expect(lr).toEqual([0, 0.5, 1, 1, 1, 1, 0.5, 0, 0]);
  });

  test('LinearWarmup in front of a scheduler: the scheduler starts from its closed form at epoch 0', () => {
    const opt = sgd();
    const cosine = new CosineAnnealingLR(opt, { tMax: 4 });
    const s = new LinearWarmup(opt, { warmupSteps: 2, then: cosine });
    const lr = run(s, opt, 6);
    expect(lr.slice(0, 3)).toEqual([0, 0.5, 1]);
    close(lr[4]!, 0.5);
    expect(lr[6]).toBeLessThan(1e-16);
    expect(cosine.lastEpoch).toBe(4);
    expect(() => s.step(3)).toThrow(/epoch/);
  });

  test('LinearWarmup with a multiplier schedule, and with no warm-up at all', () => {
    const opt = sgd();
    const lr = run(new LinearWarmup(opt, { warmupSteps: 2, startFactor: 0.5, then: (t) => 0.5 ** t }), opt, 4);
    expect(lr).toEqual([0.5, 0.75, 1, 0.5, 0.25]);
    const opt2 = sgd();
    expect(run(new LinearWarmup(opt2, { warmupSteps: 0 }), opt2, 2)).toEqual([1, 1, 1]);
  });

  test('a pure schedule drives LambdaLR as a multiplier', () => {
    const opt = sgd();
    const lr = run(new LambdaLR(opt, { lrLambda: warmupConstant({ peakValue: 1, warmupSteps: 2 }) }), opt, 3);
    expect(lr).toEqual([0, 0.5, 1, 1]);
  });
});

describe('HyperparameterScheduler', () => {
  test('drives weightDecay of every group from step 0 (construction applies schedule(0))', () => {
    const opt = new AdamW([new Parameter(new Float32Array(2))], { lr: 1e-3, weightDecay: 0.5 });
    const s = new HyperparameterScheduler(opt, { option: 'weightDecay', schedule: (t) => 0.1 * (t + 1) });
    expect(opt.paramGroups[0]!.weightDecay).toBe(0.1);
    s.step();
    expect(opt.paramGroups[0]!.weightDecay).toBe(0.2);
    expect(s.getLastValues()).toEqual([0.2]);
  });

  test('multiplier mode scales each group’s value at construction; groups selects the driven ones', () => {
    const opt = sgd();
    const s = new HyperparameterScheduler(opt, { option: 'lr', schedule: (t) => 0.5 ** t, mode: 'multiplier', groups: [1] });
    s.step();
    s.step();
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([1, 0.025]);
  });

  test('drives betas[0] through index with a fresh tuple, one schedule per group', () => {
    const opt = new Adam(
      [{ params: [new Parameter(new Float64Array([1]))] }, { params: [new Parameter(new Float64Array([1]))] }],
      { betas: [0.9, 0.999] },
    );
    const shared = opt.paramGroups[0]!.betas;
    const s = new HyperparameterScheduler(opt, { option: 'betas', index: 0, schedule: [() => 0.8, (t) => 0.95 - t / 100] });
    s.step();
    expect(opt.paramGroups.map((g) => [...g.betas])).toEqual([[0.8, 0.999], [0.94, 0.999]]);
    expect([...shared]).toEqual([0.9, 0.999]);
    expect([...opt.defaults.betas]).toEqual([0.9, 0.999]);
  });

  test('step(t) jumps to a given step', () => {
    const opt = sgd();
    const s = new HyperparameterScheduler(opt, { option: 'momentum', schedule: (t) => 0.9 - t / 100 });
    s.step(50);
    expect(opt.paramGroups[0]!.momentum).toBe(0.4);
    expect(s.lastStep).toBe(50);
  });
});
