import { Adam, type OptimizerStateDict } from '@opt/core';
import { type FloatArray, InvalidOptionError, Parameter, Rng, StateDictError } from '@opt/tensor';
import {
  DEFAULT_MLP_CONFIG,
  MLPLearnedOptimizer,
  MLP_FEATURE_NAMES,
  TransformerLearnedOptimizer,
  MLP_TENSOR_FEATURE_NAMES,
  NUM_ELEMENT_FEATURES,
  NUM_TENSOR_FEATURES,
  UnknownWeightsError,
  type WeightsRecord,
  encodeWeights,
  fanIn,
  mlpFeatureSpec,
  mlpLearnedOptimizerFactory,
  mlpMetaParamCount,
  resolveMLPConfig,
} from '../src/index';

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;

function fill(Arr: Ctor, n: number, f: (i: number) => number): FloatArray {
  const out = new Arr(n);
  for (let i = 0; i < n; i++) out[i] = f(i);
  return out;
}

/** Two tensors of a small least-squares-like problem, with a gradient that depends on the parameters. */
function makeParams(Arr: Ctor, seed = 1): Parameter[] {
  const rng = new Rng(seed);
  const w = new Parameter(fill(Arr, 12, () => rng.normal(0, 1)), [3, 4], 'w');
  const b = new Parameter(fill(Arr, 4, () => rng.normal(0, 0.1)), [4], 'b');
  return [w, b];
}

/** A smooth non-quadratic gradient: g = p³/10 + sin(3p) + (index-dependent offset). */
function setGrads(params: Parameter[], step: number, scale = 1): void {
  for (const p of params) {
    const g = (p.data instanceof Float64Array ? new Float64Array(p.size) : new Float32Array(p.size)) as FloatArray;
    for (let i = 0; i < p.size; i++) {
      const x = p.data[i]!;
      g[i] = scale * ((x * x * x) / 10 + Math.sin(3 * x) + 0.1 * Math.cos(i + step));
    }
    p.grad = g;
  }
}

function run(opt: { step(): unknown }, params: Parameter[], steps: number, from = 0, scale = 1): void {
  for (let s = from; s < from + steps; s++) {
    setGrads(params, s, scale);
    opt.step();
  }
}

/** Meta-parameters with every weight non-zero, so the learned terms matter. */
function randomMeta(count: number, seed = 7, scale = 0.3): Float64Array {
  const rng = new Rng(seed);
  return Float64Array.from({ length: count }, () => rng.normal(0, scale));
}

/** The first step of Adam(1e-2) and of `factory`'s optimizer at `theta` on the same start, per element of the first tensor. */
function firstSteps(factory: ReturnType<typeof mlpLearnedOptimizerFactory>, theta: Float64Array): { adamStep: number; learnedStep: number }[] {
  const p0 = makeParams(Float64Array);
  const a = makeParams(Float64Array);
  const b = makeParams(Float64Array);
  const adam = new Adam(a, { lr: 1e-2 });
  const opt = factory.create(b, theta);
  setGrads(a, 0);
  setGrads(b, 0);
  adam.step();
  opt.step();
  return Array.from(p0[0]!.data, (x, i) => ({ adamStep: x - a[0]!.data[i]!, learnedStep: x - b[0]!.data[i]! }));
}

/** A float64 weights record with placeholder provenance: only its name, architecture, featureSpec and values matter here. */
function testRecord(name: string, arch: string, meta: Float64Array, featureSpec: unknown): WeightsRecord {
  return encodeWeights(
    meta,
    {
      name,
      version: 1,
      arch,
      featureSpec,
      trainedOn: null,
      horizon: 10,
      metaSteps: 0,
      estimator: 'none',
      seed: 0,
      command: 'test',
      gitCommit: 'none',
      createdAt: '2026-01-01T00:00:00Z',
      evalSummary: null,
    },
    'float64',
  );
}

/** Equal to within a few ulps: Adam's kernel multiplies by 1/sqrt(bc2) where the MLP divides (operation order differs). */
function expectUlpClose(got: ArrayLike<number>, want: ArrayLike<number>): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-13 * Math.max(1, Math.abs(want[i]!)));
}

describe('MLPLearnedOptimizer', () => {
  test.each([
    ['float64', Float64Array],
    ['float32', Float32Array],
  ] as const)('the untrained optimizer matches Adam with the same settings to 1e-13 relative (%s)', (_name, Arr) => {
    const settings = { lr: 3e-2, betas: [0.8, 0.99] as [number, number], eps: 1e-6, weightDecay: 0.01 };
    const a = makeParams(Arr);
    const b = makeParams(Arr);
    const adam = new Adam(a, settings);
    const mlp = new MLPLearnedOptimizer(b, { weights: 'untrained', ...settings });
    run(adam, a, 50);
    run(mlp, b, 50);
    for (let k = 0; k < a.length; k++) {
      expectUlpClose(b[k]!.data, a[k]!.data);
      const sa = adam.state.get(a[k]!)!;
      const sb = mlp.state.get(b[k]!)!;
      expectUlpClose(sb.exp_avg, sa.exp_avg);
      expectUlpClose(sb.exp_avg_sq, sa.exp_avg_sq);
    }
  });

  test('the factory creates the untrained optimizer as exactly Adam(lr0) and reads meta-parameters by reference', () => {
    const factory = mlpLearnedOptimizerFactory({ lr: 1e-2 });
    expect(factory.metaParamCount).toBe(mlpMetaParamCount(DEFAULT_MLP_CONFIG));
    const theta = factory.initialMetaParams();
    const a = makeParams(Float64Array);
    const b = makeParams(Float64Array);
    const adam = new Adam(a, { lr: 1e-2 });
    const opt = factory.create(b, theta, { totalSteps: 20 });
    expect(opt.metaParams).toBe(theta);
    expect(opt.totalSteps).toBe(20);
    run(adam, a, 10);
    run(opt, b, 10);
    expectUlpClose(b[0]!.data, a[0]!.data);
    // Changing the held vector in place changes the very next step.
    theta[theta.length - 1] = 0.5; // bias of s: every step multiplied by e^0.5
    run(adam, a, 1, 10);
    run(opt, b, 1, 10);
    expect(b[0]!.data[0]).not.toBe(a[0]!.data[0]);
  });

  test('the last-layer bias of s scales the whole step by exp(alpha * s)', () => {
    const factory = mlpLearnedOptimizerFactory({ lr: 1e-2 });
    const theta = factory.initialMetaParams();
    theta[theta.length - 1] = Math.log(2); // s = ln 2 → μ = 2
    for (const { adamStep, learnedStep } of firstSteps(factory, theta)) expect(learnedStep).toBeCloseTo(2 * adamStep, 12);
  });

  test('features are normalised per tensor: unit RMS, and invariant to the gradient scale', () => {
    const meta = randomMeta(mlpMetaParamCount(DEFAULT_MLP_CONFIG));
    const features: Float64Array[] = [];
    for (const scale of [1, 1e-6]) {
      const params = makeParams(Float64Array);
      const opt = new MLPLearnedOptimizer(params, { weights: meta, lr: 1e-3, inspectFeatures: true });
      run(opt, params, 1, 0, scale);
      features.push(opt.features.get(params[0]!)!.slice());
    }
    const F = MLP_FEATURE_NAMES.length;
    const n = features[0]!.length / F;
    for (let f = 0; f < F - 1; f++) {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += features[0]![i * F + f]! ** 2;
      expect(Math.sqrt(sum / n)).toBeCloseTo(1, 6);
    }
    // Everything derived from the gradient (grad, the three momenta, rms, log-magnitude) is scale free; the
    // parameters are the same in both runs, and only the Adam direction feels eps at a 1e-6 gradient.
    for (const f of [0, 1, 2, 3, 4, 5, 7]) {
      for (let i = 0; i < n; i++) expect(features[1]![i * F + f]!).toBeCloseTo(features[0]![i * F + f]!, 9);
    }
  });

  test.each([
    ['float64', Float64Array],
    ['float32', Float32Array],
  ] as const)('the exp clamp keeps the update finite on a gradient of 1e30 (%s)', (_name, Arr) => {
    const count = mlpMetaParamCount(DEFAULT_MLP_CONFIG);
    const meta = randomMeta(count, 3, 2);
    meta[count - 1] = 1e6; // the log magnitude far past the clamp
    const params = makeParams(Arr);
    const opt = new MLPLearnedOptimizer(params, { weights: meta, lr: 1e-2 });
    for (let s = 0; s < 5; s++) {
      for (const p of params) p.grad = fill(Arr, p.size, (i) => (i % 2 === 0 ? 1e30 : -1e30));
      opt.step();
      for (const p of params) for (const x of p.data) expect(Number.isFinite(x)).toBe(true);
    }
    // The step multiplier is at most e^4 (maxLogMagnitude), so one step moves a parameter by a bounded amount.
    const before = Array.from(params[1]!.data);
    params[1]!.grad = fill(Arr, 4, () => 1e30);
    params[0]!.grad = null;
    opt.step();
    for (let i = 0; i < 4; i++) expect(Math.abs(params[1]!.data[i]! - before[i]!)).toBeLessThan(1e3);
  });

  test('the state dict round-trips and a resumed optimizer continues bit-identically', () => {
    const meta = randomMeta(mlpMetaParamCount(DEFAULT_MLP_CONFIG));
    const a = makeParams(Float32Array);
    const opt = new MLPLearnedOptimizer(a, { weights: meta, lr: 1e-2 });
    run(opt, a, 7);
    const saved = JSON.parse(JSON.stringify(opt.stateDict())) as OptimizerStateDict;
    const snapshot = a.map((p) => p.data.slice());
    run(opt, a, 5, 7);

    const b = makeParams(Float32Array);
    b.forEach((p, k) => p.data.set(snapshot[k]!));
    const resumed = new MLPLearnedOptimizer(b, { weights: meta, lr: 1e-2 });
    resumed.loadStateDict(saved);
    expect(JSON.stringify(resumed.stateDict())).toBe(JSON.stringify(saved));
    run(resumed, b, 5, 7);
    for (let k = 0; k < a.length; k++) expect(Array.from(b[k]!.data)).toEqual(Array.from(a[k]!.data));
  });

  test('a state dict of another architecture is refused', () => {
    const a = makeParams(Float64Array);
    const opt = new MLPLearnedOptimizer(a, { weights: 'untrained' });
    run(opt, a, 2);
    const saved = opt.stateDict();
    const other = new MLPLearnedOptimizer(makeParams(Float64Array), { weights: 'untrained', config: { hidden: [4, 4] } });
    expect(() => other.loadStateDict(saved)).toThrow(StateDictError);
  });

  test('weights given as a record carry their architecture and base learning rate', () => {
    const config = { ...DEFAULT_MLP_CONFIG, hidden: [4, 6] as [number, number] };
    const factory = mlpLearnedOptimizerFactory({ ...config, lr: 0.05 });
    const theta = randomMeta(factory.metaParamCount);
    const record = testRecord('test-record', factory.arch, theta, mlpFeatureSpec(factory.config, 0.05));
    const opt = new MLPLearnedOptimizer(makeParams(Float64Array), { weights: record });
    expect(opt.config.hidden).toEqual([4, 6]);
    expect(opt.paramGroups[0]!.lr).toBe(0.05);
    expect(Array.from(opt.metaParams)).toEqual(Array.from(theta));
    expect(opt.weightsName).toBe('test-record');
  });

  test('with tensor features the untrained optimizer is still exactly Adam, and the input grows by the 3 tensor features', () => {
    const config = { tensorFeatures: true, maxDirection: 2 };
    const factory = mlpLearnedOptimizerFactory({ ...config, lr: 1e-2 });
    expect(factory.metaParamCount).toBe(mlpMetaParamCount(DEFAULT_MLP_CONFIG) + 3 * DEFAULT_MLP_CONFIG.hidden[0]);
    expect(factory.featureSpec.features).toEqual([...MLP_FEATURE_NAMES, ...MLP_TENSOR_FEATURE_NAMES]);
    const a = makeParams(Float64Array);
    const b = makeParams(Float64Array);
    const adam = new Adam(a, { lr: 1e-2 });
    const opt = factory.create(b, factory.initialMetaParams());
    run(adam, a, 20);
    run(opt, b, 20);
    for (let k = 0; k < a.length; k++) expectUlpClose(b[k]!.data, a[k]!.data);
  });

  test('the tensor features feed the network: their first-layer weights change the step, and a gradient-scale change does not', () => {
    const config = resolveMLPConfig({ tensorFeatures: true });
    const meta = randomMeta(mlpMetaParamCount(config));
    const stride = NUM_ELEMENT_FEATURES + config.timeScales.length + NUM_TENSOR_FEATURES;
    const steps = (theta: Float64Array, scale: number): number[] => {
      const params = makeParams(Float64Array);
      const opt = new MLPLearnedOptimizer(params, { weights: theta, config, lr: 1e-2 });
      run(opt, params, 5, 0, scale);
      return Array.from(params[0]!.data);
    };
    const base = steps(meta, 1);
    // Scale-free: the same trajectory when every gradient is 1000× larger (up to Adam's eps, 1e-8 against |g| ~ 1).
    steps(meta, 1000).forEach((x, i) => expect(x).toBeCloseTo(base[i]!, 7));
    const zeroed = meta.slice();
    for (let j = 0; j < config.hidden[0]; j++) for (let k = 0; k < NUM_TENSOR_FEATURES; k++) zeroed[j * stride + stride - NUM_TENSOR_FEATURES + k] = 0;
    expect(steps(zeroed, 1)).not.toEqual(base);
  });

  test('maxDirection bounds the learned direction: a huge d moves each element by lr·(adamDir + β·maxDirection)', () => {
    const factory = mlpLearnedOptimizerFactory({ lr: 1e-2, maxDirection: 2 });
    const theta = factory.initialMetaParams();
    theta[theta.length - 2] = 1e6; // bias of d
    for (const { adamStep, learnedStep } of firstSteps(factory, theta)) expect(learnedStep).toBeCloseTo(adamStep + 1e-2 * 0.1 * 2, 12);
  });

  test('gateDirection measures d in units of the tensor\'s Adam step, so d stops moving parameters once the gradients vanish', () => {
    const ungated = mlpLearnedOptimizerFactory({ lr: 1e-2 });
    const gated = mlpLearnedOptimizerFactory({ lr: 1e-2, gateDirection: true });
    expect(gated.metaParamCount).toBe(ungated.metaParamCount);
    expect(gated.featureSpec.gateDirection).toBe(true);
    // Untrained (d = 0): still Adam.
    for (const { adamStep, learnedStep } of firstSteps(gated, gated.initialMetaParams())) expect(learnedStep).toBe(adamStep);
    const theta = gated.initialMetaParams();
    theta[theta.length - 2] = 1; // bias of d: d = 1 everywhere
    const steps = firstSteps(gated, theta);
    const rho = Math.sqrt(steps.reduce((a, { adamStep }) => a + (adamStep / 1e-2) ** 2, 0) / steps.length);
    expect(rho).toBeGreaterThan(0.5);
    for (const { adamStep, learnedStep } of steps) expect(learnedStep).toBeCloseTo(adamStep + 1e-2 * 0.1 * rho, 12);
    // 20 steps with gradients, then 200 with none: the ungated d keeps moving every element by lr·β·d a step.
    const drift = (factory: typeof gated): number => {
      const params = makeParams(Float64Array);
      const opt = factory.create(params, theta);
      run(opt, params, 20);
      for (const p of params) p.grad = new Float64Array(p.size);
      for (let t = 0; t < 200; t++) opt.step();
      const before = params[0]!.data.slice();
      for (let t = 0; t < 10; t++) opt.step();
      return Math.max(...Array.from(before, (x, i) => Math.abs(x - params[0]!.data[i]!)));
    };
    expect(drift(ungated)).toBeCloseTo(10 * 1e-2 * 0.1, 6);
    expect(drift(gated)).toBeLessThan(1e-9);
  });

  test('depthExponent scales the base lr by (L/2)^γ over the weight matrices, and γ = 0 is Adam', () => {
    const factory = mlpLearnedOptimizerFactory({ lr: 1e-2, depthExponent: true });
    expect(factory.metaParamCount).toBe(mlpMetaParamCount(DEFAULT_MLP_CONFIG) + 1);
    const theta = factory.initialMetaParams();
    const a = makeParams(Float64Array);
    const b = makeParams(Float64Array);
    const adam = new Adam(a, { lr: 1e-2 });
    const untrained = factory.create(b, theta);
    expect(untrained.lrScale()).toBe(1);
    run(adam, a, 5);
    run(untrained, b, 5);
    for (let k = 0; k < a.length; k++) expectUlpClose(b[k]!.data, a[k]!.data);
    // Four weight matrices (L = 4) and γ = −1: every step is Adam's at lr·(4/2)^−1 = lr/2.
    const rng = new Rng(3);
    const mats = [0, 1, 2, 3].map((k) => new Parameter(Float64Array.from({ length: 6 }, () => rng.normal()), [2, 3], `w${k}`));
    const twins = mats.map((p) => new Parameter(p.data.slice(), [2, 3], p.name));
    theta[theta.length - 1] = -1;
    const learned = factory.create(mats, theta);
    expect(learned.lrScale()).toBeCloseTo(0.5, 15);
    const half = new Adam(twins, { lr: 5e-3 });
    run(learned, mats, 5);
    run(half, twins, 5);
    mats.forEach((p, k) => expectUlpClose(p.data, twins[k]!.data));
    expect(() => new TransformerLearnedOptimizer(makeParams(Float64Array), { weights: 'untrained', mlpWeights: 'untrained', mlpConfig: { depthExponent: true } })).toThrow(/depthExponent/);
  });

  test('fanInExponent scales the lr of weight matrices with fan-in above 32 by (n/32)^η, leaves the others alone, and η = 0 is Adam', () => {
    const factory = mlpLearnedOptimizerFactory({ lr: 1e-2, depthExponent: true, fanInExponent: true });
    expect(factory.metaParamCount).toBe(mlpMetaParamCount(DEFAULT_MLP_CONFIG) + 2);
    const shapes = [[3, 128], [5, 32], [5]];
    const make = () => shapes.map((shape, k) => new Parameter(Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i + k)), shape, `p${k}`));
    expect(shapes.map((s) => fanIn(s))).toEqual([128, 32, 0]);
    const theta = factory.initialMetaParams();
    const untrained = factory.create(make(), theta);
    for (const p of untrained.paramGroups[0]!.params) expect(untrained.lrScale(p)).toBe(1);
    // γ = 0 (L = 2), η = −0.5: the fan-in-128 matrix steps as Adam at lr·(128/32)^−0.5 = lr/2, the others as Adam at lr.
    theta[theta.length - 1] = -0.5;
    const params = make();
    const learned = factory.create(params, theta);
    expect(params.map((p) => learned.lrScale(p))).toEqual([expect.closeTo(0.5, 15), 1, 1]);
    const twins = make();
    const half = new Adam([twins[0]!], { lr: 5e-3 });
    const full = new Adam([twins[1]!, twins[2]!], { lr: 1e-2 });
    for (let t = 0; t < 5; t++) {
      for (const [k, p] of [...params, ...twins].entries()) p.grad = p.data.map((x, i) => x - Math.cos(i + (k % 3)));
      learned.step();
      half.step();
      full.step();
    }
    params.forEach((p, k) => expectUlpClose(p.data, twins[k]!.data));
    // γ sits before η when both are learned.
    theta[theta.length - 2] = -1;
    const deep = factory.create([0, 1, 2, 3].map((k) => new Parameter(new Float64Array(64), [2, 32], `w${k}`)), theta);
    expect(deep.lrScale(deep.paramGroups[0]!.params[0])).toBeCloseTo(0.5, 15);
    expect(() => new TransformerLearnedOptimizer(makeParams(Float64Array), { weights: 'untrained', mlpWeights: 'untrained', mlpConfig: { fanInExponent: true } })).toThrow(/fanInExponent/);
  });

  test('a record whose feature list does not match its config is refused', () => {
    const factory = mlpLearnedOptimizerFactory({ tensorFeatures: true });
    const record = testRecord('bad-features', factory.arch, factory.initialMetaParams(), { ...factory.featureSpec, features: [...MLP_FEATURE_NAMES] });
    expect(() => new MLPLearnedOptimizer(makeParams(Float64Array), { weights: record })).toThrow(/tensor_snr/);
    expect(() => new MLPLearnedOptimizer(makeParams(Float64Array), { weights: 'untrained', config: { maxDirection: -1 } })).toThrow(/config.maxDirection/);
    expect(() => new MLPLearnedOptimizer(makeParams(Float64Array), { weights: 'untrained', config: { gateDirection: 1 as unknown as boolean } })).toThrow(/config.gateDirection/);
    expect(() => new MLPLearnedOptimizer(makeParams(Float64Array), { weights: 'untrained', config: { fanInExponent: 'yes' as unknown as boolean } })).toThrow(/config.fanInExponent/);
  });

  test('bad options throw typed errors naming the option', () => {
    const params = makeParams(Float64Array);
    expect(() => new MLPLearnedOptimizer(params, {} as never)).toThrow(InvalidOptionError);
    expect(() => new MLPLearnedOptimizer(params, { weights: 'untrained', lr: -1 })).toThrow(/lr/);
    expect(() => new MLPLearnedOptimizer(params, { weights: 'untrained', betas: [1.2, 0.9] })).toThrow(/betas\[0\]/);
    expect(() => new MLPLearnedOptimizer(params, { weights: 'untrained', config: { hidden: [0, 8] } })).toThrow(/config.hidden\[0\]/);
    expect(() => new MLPLearnedOptimizer(params, { weights: new Float64Array(3) })).toThrow(StateDictError);
    let caught: unknown;
    try {
      new MLPLearnedOptimizer(params, { weights: 'no-such-weights' });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(UnknownWeightsError);
    expect((caught as UnknownWeightsError).available).toContain('untrained');
    expect((caught as Error).message).toMatch(/"untrained"/);
  });
});
