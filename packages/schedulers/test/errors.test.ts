import { Adam, InvalidOptionError, OptError, ParamGroupError, Parameter, SGD, StateDictError } from '@opt/core';
import {
  ChainedScheduler,
  ConstantLR,
  CosineAnnealingLR,
  CosineAnnealingWarmRestarts,
  CyclicLR,
  ExponentialLR,
  HyperparameterScheduler,
  InverseSqrtLR,
  LambdaLR,
  LinearLR,
  LinearWarmup,
  MultiStepLR,
  OneCycleLR,
  PolynomialLR,
  ReduceLROnPlateau,
  SWALR,
  SequentialLR,
  StepLR,
  WarmupCosineLR,
  WarmupPolynomialLR,
  WarmupStableDecayLR,
  cosineDecaySchedule,
  exponentialDecay,
  joinSchedules,
  linearSchedule,
  polynomialSchedule,
  warmupCosineDecaySchedule,
  wsdSchedule,
} from '../src/index';

function sgd(groups = 2): SGD {
  return new SGD(
    Array.from({ length: groups }, (_, g) => ({ params: [new Parameter(new Float64Array([g]))], lr: 0.1 / (g + 1) })),
    { momentum: 0.9 },
  );
}

/** Expect an InvalidOptionError naming `option`. */
function expectOption(fn: () => unknown, option: string | RegExp): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(InvalidOptionError);
  expect(error).toBeInstanceOf(OptError);
  const name = (error as InvalidOptionError).option;
  if (typeof option === 'string') expect(name).toBe(option);
  else expect(name).toMatch(option);
}

describe('constructor validation names the option', () => {
  test.each<[string, () => unknown, string | RegExp]>([
    ['CosineAnnealingLR tMax <= 0', () => new CosineAnnealingLR(sgd(), { tMax: 0 }), 'tMax'],
    ['CosineAnnealingLR negative etaMin', () => new CosineAnnealingLR(sgd(), { tMax: 5, etaMin: -1 }), 'etaMin'],
    ['CosineAnnealingWarmRestarts t0 not a positive integer', () => new CosineAnnealingWarmRestarts(sgd(), { t0: 2.5 }), 't0'],
    ['CosineAnnealingWarmRestarts tMult < 1', () => new CosineAnnealingWarmRestarts(sgd(), { t0: 2, tMult: 0 }), 'tMult'],
    ['StepLR negative gamma', () => new StepLR(sgd(), { stepSize: 2, gamma: -0.5 }), 'gamma'],
    ['StepLR stepSize 0', () => new StepLR(sgd(), { stepSize: 0 }), 'stepSize'],
    ['MultiStepLR negative gamma', () => new MultiStepLR(sgd(), { milestones: [1], gamma: -1 }), 'gamma'],
    ['MultiStepLR fractional milestone', () => new MultiStepLR(sgd(), { milestones: [1.5] }), 'milestones[0]'],
    ['ExponentialLR negative gamma', () => new ExponentialLR(sgd(), { gamma: -0.1 }), 'gamma'],
    ['ConstantLR factor > 1', () => new ConstantLR(sgd(), { factor: 1.5 }), 'factor'],
    ['LinearLR startFactor 0', () => new LinearLR(sgd(), { startFactor: 0 }), 'startFactor'],
    ['PolynomialLR totalIters 0', () => new PolynomialLR(sgd(), { totalIters: 0 }), 'totalIters'],
    ['LambdaLR a lambda per group of the wrong count', () => new LambdaLR(sgd(), { lrLambda: [() => 1] }), 'lrLambda'],
    ['LambdaLR not a function', () => new LambdaLR(sgd(), { lrLambda: 3 as unknown as () => number }), 'lrLambda'],
    ['CyclicLR maxLr < baseLr', () => new CyclicLR(sgd(), { baseLr: 0.1, maxLr: 0.01 }), 'maxLr'],
    ['CyclicLR negative gamma', () => new CyclicLR(sgd(), { baseLr: 0.01, maxLr: 0.1, mode: 'exp_range', gamma: -1 }), 'gamma'],
    ['CyclicLR unknown mode', () => new CyclicLR(sgd(), { baseLr: 0.01, maxLr: 0.1, mode: 'sine' as 'triangular' }), 'mode'],
    ['CyclicLR cycleMomentum on Adam', () => new CyclicLR(new Adam([new Parameter(new Float64Array(1))]), { baseLr: 1e-4, maxLr: 1e-3 }), 'cycleMomentum'],
    ['OneCycleLR no length', () => new OneCycleLR(sgd(), { maxLr: 1 }), 'totalSteps'],
    ['OneCycleLR pctStart > 1', () => new OneCycleLR(sgd(), { maxLr: 1, totalSteps: 10, pctStart: 1.5 }), 'pctStart'],
    ['OneCycleLR anneal strategy', () => new OneCycleLR(sgd(), { maxLr: 1, totalSteps: 10, annealStrategy: 'exp' as 'cos' }), 'annealStrategy'],
    ['ReduceLROnPlateau factor >= 1', () => new ReduceLROnPlateau(sgd(), { factor: 1 }), 'factor'],
    ['ReduceLROnPlateau minLr list length', () => new ReduceLROnPlateau(sgd(), { minLr: [0, 0, 0] }), 'minLr'],
    ['ReduceLROnPlateau unknown mode', () => new ReduceLROnPlateau(sgd(), { mode: 'avg' as 'min' }), 'mode'],
    ['SWALR swaLr list length', () => new SWALR(sgd(), { swaLr: [0.1] }), 'swaLr'],
    ['SequentialLR milestones count', () => { const o = sgd(); return new SequentialLR(o, { schedulers: [new StepLR(o, { stepSize: 1 })], milestones: [3] }); }, 'milestones'],
    ['ChainedScheduler empty', () => new ChainedScheduler([]), 'schedulers'],
    ['WarmupCosineLR negative warmupSteps', () => new WarmupCosineLR(sgd(), { warmupSteps: -1, totalSteps: 10 }), 'warmupSteps'],
    ['WarmupCosineLR totalSteps <= warmupSteps', () => new WarmupCosineLR(sgd(), { warmupSteps: 10, totalSteps: 10 }), 'totalSteps'],
    ['WarmupPolynomialLR power 0', () => new WarmupPolynomialLR(sgd(), { warmupSteps: 1, totalSteps: 10, power: 0 }), 'power'],
    ['WarmupStableDecayLR decaySteps 0', () => new WarmupStableDecayLR(sgd(), { warmupSteps: 1, stableSteps: 1, decaySteps: 0 }), 'decaySteps'],
    ['InverseSqrtLR warmupSteps 0', () => new InverseSqrtLR(sgd(), { warmupSteps: 0 }), 'warmupSteps'],
    ['LinearWarmup fractional warmupSteps', () => new LinearWarmup(sgd(), { warmupSteps: 1.5 }), 'warmupSteps'],
    ['LinearWarmup scheduler of another optimizer', () => new LinearWarmup(sgd(), { warmupSteps: 1, then: new StepLR(sgd(), { stepSize: 1 }) }), 'then'],
    ['HyperparameterScheduler unknown option', () => new HyperparameterScheduler(sgd(), { option: 'nesterov', schedule: () => 1 }), 'option'],
    ['HyperparameterScheduler tuple without a valid index', () => new HyperparameterScheduler(new Adam([new Parameter(new Float64Array(1))]), { option: 'betas', index: 2, schedule: () => 0.9 }), 'index'],
    ['HyperparameterScheduler group out of range', () => new HyperparameterScheduler(sgd(), { option: 'lr', schedule: () => 1, groups: [2] }), 'groups[0]'],
    ['cosineDecaySchedule decaySteps <= 0', () => cosineDecaySchedule({ initValue: 1, decaySteps: 0 }), 'decaySteps'],
    ['linearSchedule transitionSteps <= 0', () => linearSchedule({ initValue: 1, endValue: 0, transitionSteps: -2 }), 'transitionSteps'],
    ['polynomialSchedule non-finite power', () => polynomialSchedule({ initValue: 1, endValue: 0, power: NaN, transitionSteps: 2 }), 'power'],
    ['exponentialDecay decayRate 0', () => exponentialDecay({ initValue: 1, transitionSteps: 1, decayRate: 0 }), 'decayRate'],
    ['warmupCosineDecaySchedule warmupSteps < 0', () => warmupCosineDecaySchedule({ initValue: 0, peakValue: 1, warmupSteps: -1, decaySteps: 5 }), 'warmupSteps'],
    ['warmupCosineDecaySchedule decaySteps <= warmupSteps', () => warmupCosineDecaySchedule({ initValue: 0, peakValue: 1, warmupSteps: 5, decaySteps: 5 }), 'decaySteps'],
    ['wsdSchedule unknown shape', () => wsdSchedule({ peakValue: 1, warmupSteps: 1, stableSteps: 1, decaySteps: 1, decayShape: 'exp' as 'linear' }), 'decayShape'],
    ['joinSchedules boundary count', () => joinSchedules([() => 1, () => 2], []), 'boundaries'],
  ])('%s', (_name, fn, option) => expectOption(fn, option));

  test('a failed constructor leaves the optimizer untouched', () => {
    const opt = sgd();
    expect(() => new CyclicLR(opt, { baseLr: 0.1, maxLr: 0.01 })).toThrow(InvalidOptionError);
    expect(() => new CosineAnnealingLR(opt, { tMax: -1 })).toThrow(InvalidOptionError);
    expect(opt.paramGroups.map((g) => ({ ...g, params: undefined }))).toEqual([
      { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, params: undefined },
      { lr: 0.05, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, params: undefined },
    ]);
  });

  test('lastEpoch other than -1 needs initialLr in every group', () => {
    expectOption(() => new StepLR(sgd(), { stepSize: 2, lastEpoch: 4 }), 'lastEpoch');
  });
});

describe('stepping errors', () => {
  test('a NaN plateau metric', () => {
    expectOption(() => new ReduceLROnPlateau(sgd()).step(NaN), 'metric');
  });

  test('stepping OneCycleLR past totalSteps', () => {
    const s = new OneCycleLR(sgd(), { maxLr: 1, totalSteps: 3 });
    s.step();
    s.step();
    s.step();
    expectOption(() => s.step(), 'totalSteps');
  });

  test('a schedule value that is not finite', () => {
    const s = new HyperparameterScheduler(sgd(), { option: 'momentum', schedule: (t) => (t < 2 ? 0.9 : Infinity) });
    s.step();
    expectOption(() => s.step(), 'momentum');
  });

  test('CosineAnnealingWarmRestarts with a negative epoch', () => {
    expectOption(() => new CosineAnnealingWarmRestarts(sgd(), { t0: 3 }).step(-1), 'epoch');
  });

  test('a group added to the optimizer after the scheduler was built', () => {
    const opt = sgd();
    const schedulers = [
      new StepLR(opt, { stepSize: 1 }),
      new CyclicLR(opt, { baseLr: 0.01, maxLr: 0.1 }),
    ];
    const plateau = new ReduceLROnPlateau(opt);
    const hyper = new HyperparameterScheduler(opt, { option: 'momentum', schedule: () => 0.9 });
    opt.addParamGroup({ params: [new Parameter(new Float64Array([5]))], lr: 0.3 });
    for (const s of schedulers) expect(() => s.step()).toThrow(ParamGroupError);
    expect(() => plateau.step(1)).toThrow(ParamGroupError);
    expect(() => hyper.step()).toThrow(/parameter groups changed/);
    expect(opt.paramGroups[2]!.lr).toBe(0.3);
  });

  test('a group whose parameters were swapped', () => {
    const opt = sgd();
    const s = new ExponentialLR(opt, { gamma: 0.5 });
    opt.paramGroups[1]!.params = [new Parameter(new Float64Array([7]))];
    expect(() => s.step()).toThrow(ParamGroupError);
  });

  test('loading the state of a scheduler of a different optimizer', () => {
    const saved = new StepLR(sgd(3), { stepSize: 2 }).stateDict();
    const s = new StepLR(sgd(2), { stepSize: 2 });
    expect(() => s.loadStateDict(saved)).toThrow(StateDictError);
    expect(() => s.loadStateDict({ format: 'nope' })).toThrow(StateDictError);
  });

  test('SequentialLR and ChainedScheduler take no explicit epoch', () => {
    const opt = sgd();
    const chained = new ChainedScheduler([new ExponentialLR(opt, { gamma: 0.5 })]);
    expectOption(() => chained.step(3), 'epoch');
  });
});
