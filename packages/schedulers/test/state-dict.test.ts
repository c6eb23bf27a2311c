import { Adam, type Optimizer, Parameter, SGD, StateDictError } from '@opt/core';
import {
  CosineAnnealingLR,
  CyclicLR,
  ExponentialLR,
  HyperparameterScheduler,
  InverseSqrtLR,
  LambdaLR,
  LinearWarmup,
  OneCycleLR,
  ReduceLROnPlateau,
  SequentialLR,
  StepLR,
  WarmupCosineLR,
  WarmupPolynomialLR,
  WarmupStableDecayLR,
  cosineDecaySchedule,
  linearSchedule,
} from '../src/index';
import { ALL_FIXTURE_FILES, type Built, type Observation, type SchedulerCase, buildCase, loadFixture, observe, stepCase } from './helpers/fixtures';

const roundTrip = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

/** Observations after construction and after every step, uninterrupted. */
function reference(c: SchedulerCase): Observation[] {
  const built = buildCase(c);
  const out = [observe(c, built)];
  for (let k = 1; k <= c.num_steps; k++) {
    stepCase(c, built, k);
    out.push(observe(c, built));
  }
  return out;
}

/** Run `split` steps, save everything through JSON, load into fresh objects, run the rest. */
function resumed(c: SchedulerCase, split: number): Observation[] {
  const first = buildCase(c);
  for (let k = 1; k <= split; k++) stepCase(c, first, k);
  const optimizerState = roundTrip(first.optimizer.stateDict());
  const schedulerStates = first.schedulers.map((s) => roundTrip(s.stateDict()));
  const second: Built = buildCase(c);
  second.optimizer.loadStateDict(optimizerState);
  second.schedulers.forEach((s, i) => s.loadStateDict(schedulerStates[i]!));
  const out: Observation[] = [];
  for (let k = split + 1; k <= c.num_steps; k++) {
    stepCase(c, second, k);
    out.push(observe(c, second));
  }
  return out;
}

describe('every fixture case resumes bit-identically from a JSON state dict', () => {
  for (const file of ALL_FIXTURE_FILES) {
    for (const c of loadFixture(file).cases) {
      test(`${c.id} resumed at three points continues exactly`, () => {
        const ref = reference(c);
        for (const split of [1, Math.floor(c.num_steps / 2), c.num_steps - 1]) {
          expect(resumed(c, split)).toEqual(ref.slice(split + 1));
        }
      });
    }
  }
});

function twoGroups(): SGD {
  return new SGD(
    [
      { params: [new Parameter(new Float64Array([1]))], lr: 0.1 },
      { params: [new Parameter(new Float64Array([2]))], lr: 0.02 },
    ],
    { momentum: 0.9, weightDecay: 0.01 },
  );
}

type Steppable = { step(): void; stateDict(): unknown; loadStateDict(sd: never): void };

/** Resume check for a scheduler factory on a fresh two-group SGD. */
function checkResume(make: (opt: Optimizer<object>) => Steppable[], steps: number, split: number): void {
  const watch = (opt: Optimizer<object>) =>
    (opt.paramGroups as unknown as Array<Record<string, unknown>>).map((g) => [g.lr, g.momentum, g.weightDecay]);
  const refOpt = twoGroups() as unknown as Optimizer<object>;
  const refScheds = make(refOpt);
  const ref: unknown[] = [];
  for (let k = 0; k < steps; k++) {
    refScheds.forEach((s) => s.step());
    ref.push(watch(refOpt));
  }
  const a = twoGroups() as unknown as Optimizer<object>;
  const aScheds = make(a);
  for (let k = 0; k < split; k++) aScheds.forEach((s) => s.step());
  const optState = roundTrip(a.stateDict());
  const states = aScheds.map((s) => roundTrip(s.stateDict()));
  const b = twoGroups() as unknown as Optimizer<object>;
  const bScheds = make(b);
  b.loadStateDict(optState);
  bScheds.forEach((s, i) => s.loadStateDict(states[i] as never));
  const rest: unknown[] = [];
  for (let k = split; k < steps; k++) {
    bScheds.forEach((s) => s.step());
    rest.push(watch(b));
  }
  expect(rest).toEqual(ref.slice(split));
}

describe('schedulers beyond PyTorch resume bit-identically', () => {
  test('WarmupCosineLR', () => checkResume((o) => [new WarmupCosineLR(o, { warmupSteps: 5, totalSteps: 30, etaMin: 1e-3 })], 40, 7));
  test('InverseSqrtLR', () => checkResume((o) => [new InverseSqrtLR(o, { warmupSteps: 4, startFactor: 0.1 })], 20, 3));
  test('WarmupPolynomialLR', () => checkResume((o) => [new WarmupPolynomialLR(o, { warmupSteps: 3, totalSteps: 20, power: 2 })], 25, 10));
  test('WarmupStableDecayLR', () =>
    checkResume((o) => [new WarmupStableDecayLR(o, { warmupSteps: 3, stableSteps: 5, decaySteps: 6, decayShape: 'cosine' })], 20, 9));
  test('LinearWarmup wrapping a scheduler', () =>
    checkResume((o) => [new LinearWarmup(o, { warmupSteps: 4, then: new CosineAnnealingLR(o, { tMax: 10, etaMin: 0.001 }) })], 25, 6));
  test('LinearWarmup with a multiplier schedule', () =>
    checkResume((o) => [new LinearWarmup(o, { warmupSteps: 4, startFactor: 0.2, then: cosineDecaySchedule({ initValue: 1, decaySteps: 10 }) })], 20, 5));
  test('HyperparameterScheduler on weightDecay and momentum alongside an lr scheduler', () =>
    checkResume(
      (o) => [
        new StepLR(o, { stepSize: 3, gamma: 0.5 }),
        new HyperparameterScheduler(o, { option: 'weightDecay', schedule: linearSchedule({ initValue: 0.01, endValue: 0.1, transitionSteps: 10 }) }),
        new HyperparameterScheduler(o, { option: 'momentum', schedule: (t) => 0.9 - 0.01 * t, groups: [1] }),
      ],
      15,
      4,
    ));
  test('LambdaLR keeps the functions it was built with', () => checkResume((o) => [new LambdaLR(o, { lrLambda: (e) => 1 / (1 + e) })], 10, 4));
});

describe('loadStateDict rejects what does not fit, all or nothing', () => {
  test('a state written by another class', () => {
    const opt = twoGroups();
    const sd = new StepLR(opt, { stepSize: 2 }).stateDict();
    expect(() => new ExponentialLR(twoGroups(), { gamma: 0.5 }).loadStateDict(sd)).toThrow(StateDictError);
  });

  test('a state written for an optimizer with other groups', () => {
    const one = new SGD([new Parameter(new Float64Array([1]))], { lr: 0.1 });
    const sd = new StepLR(one, { stepSize: 2 }).stateDict();
    const s = new StepLR(twoGroups(), { stepSize: 2 });
    expect(() => s.loadStateDict(sd)).toThrow(/1 group of \[1\] parameters/);
  });

  test('a missing or mistyped field leaves the scheduler unchanged', () => {
    const s = new CyclicLR(twoGroups(), { baseLr: 0.01, maxLr: 0.1, stepSizeUp: 3 });
    s.step();
    const before = roundTrip(s.stateDict());
    const missing = roundTrip(before);
    delete (missing.state as Record<string, unknown>).totalSize;
    expect(() => s.loadStateDict(missing)).toThrow(/totalSize/);
    const badMode = roundTrip(before);
    badMode.state.mode = 'sawtooth';
    expect(() => s.loadStateDict(badMode)).toThrow(StateDictError);
    const badLength = roundTrip(before);
    badLength.state.maxLrs = [0.1];
    expect(() => s.loadStateDict(badLength)).toThrow(/one per parameter group/);
    expect(roundTrip(s.stateDict())).toEqual(before);
  });

  test('a bad nested state rolls the children back', () => {
    const opt = twoGroups();
    const a = new StepLR(opt, { stepSize: 2 });
    const b = new ExponentialLR(opt, { gamma: 0.5 });
    const seq = new SequentialLR(opt, { schedulers: [a, b], milestones: [3] });
    for (let i = 0; i < 5; i++) seq.step();
    const good = roundTrip(seq.stateDict());
    const bad = roundTrip(good);
    bad.children![0]!.state.lastEpoch = 99;
    bad.children![1]!.scheduler = 'StepLR';
    expect(() => seq.loadStateDict(bad)).toThrow(StateDictError);
    expect(roundTrip(seq.stateDict())).toEqual(good);
  });

  test('ReduceLROnPlateau saves ±Infinity losslessly', () => {
    const s = new ReduceLROnPlateau(twoGroups(), { mode: 'max' });
    const sd = roundTrip(s.stateDict());
    expect(sd.state.best).toBe('-inf');
    const t = new ReduceLROnPlateau(twoGroups(), { mode: 'max' });
    t.best = 3;
    t.loadStateDict(sd);
    expect(t.best).toBe(-Infinity);
  });

  test('OneCycleLR restores its phases and Adam betas cycling', () => {
    const make = () => new Adam([new Parameter(new Float64Array([1]))], { lr: 1e-3 });
    const a = make();
    const sa = new OneCycleLR(a, { maxLr: 1e-2, totalSteps: 20, threePhase: true, annealStrategy: 'linear' });
    for (let i = 0; i < 8; i++) sa.step();
    const b = make();
    const sb = new OneCycleLR(b, { maxLr: 5e-2, totalSteps: 50 });
    b.loadStateDict(roundTrip(a.stateDict()));
    sb.loadStateDict(roundTrip(sa.stateDict()));
    for (let i = 0; i < 12; i++) {
      sa.step();
      sb.step();
      expect(b.paramGroups[0]!.lr).toBe(a.paramGroups[0]!.lr);
      expect(b.paramGroups[0]!.betas).toEqual(a.paramGroups[0]!.betas);
    }
    expect(() => sb.step()).toThrow(/totalSteps/);
  });
});
