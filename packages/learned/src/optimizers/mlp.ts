import { type FloatArray, InvalidOptionError, type Parameter, Rng, StateDictError, zerosLike } from '@opt/tensor';
import {
  Optimizer,
  type OptimizerSettings,
  type ParamGroup,
  type ParamsArg,
  checkBetas,
  checkFinite,
  checkInRange,
  checkInteger,
  checkNonNegative,
  checkPositive,
} from '@opt/core';
import type { LearnedCreateOptions, LearnedOptimizerFactory } from '../learnable.js';
import { type WeightsSource, getWeightsRecord, loadWeights } from '../weights/index.js';
import type { WeightsRecord } from '../weights/format.js';
import { MLP_FEATURE_NAMES, MLP_TENSOR_FEATURE_NAMES, NUM_ELEMENT_FEATURES, NUM_TENSOR_FEATURES, foldTimeBias, mlpHybridUpdate } from './features.js';
import { MLP_TIME_SCALES, tanhTimeFeatures } from './time-features.js';

/** Architecture identifier of {@link MLPLearnedOptimizer} weights. */
export const MLP_HYBRID_ARCH = 'mlp-hybrid';

/**
 * The architecture of {@link MLPLearnedOptimizer}: what a weights record's
 * `featureSpec` pins besides the meta-parameters.
 */
export interface MLPHybridConfig {
  /** Widths of the two hidden layers. Default `[8, 8]` (the 8-8 network of the feasibility runs). */
  hidden: readonly [number, number];
  /** Time scales τ of the `tanh(t/τ − 1)` features. Default {@link MLP_TIME_SCALES}. */
  timeScales: readonly number[];
  /** Decays of the extra fast and slow momenta (Adam's β1 momentum is the third). Default `[0.5, 0.99]`. */
  momentumDecays: readonly [number, number];
  /** α: scale of the log step magnitude s. Default 1. */
  magnitudeScale: number;
  /** β: weight of the learned direction d against the Adam direction. Default 0.1. */
  directionScale: number;
  /** Bound of α·s before `exp` (the step multiplier stays in `[e^−b, e^b]`). Default 4. */
  maxLogMagnitude: number;
  /**
   * Add the per-tensor signal-to-noise features ({@link MLP_TENSOR_FEATURE_NAMES}) to the network's input.
   * Default false (the `mlp-hybrid-v1` architecture).
   */
  tensorFeatures: boolean;
  /** Bound of the learned direction d (`null`: unbounded, as in `mlp-hybrid-v1`). Default null. */
  maxDirection: number | null;
  /**
   * Learn a depth exponent γ (one more meta-parameter, the last): the base lr is multiplied by `(L/2)^γ`, where L
   * counts the weight matrices (tensors of two or more dimensions) the optimizer updates, 2 for a one-hidden-layer
   * MLP. Per-tensor normalised features cannot tell a deep network from a shallow one, and deeper networks want
   * smaller steps. Default false.
   */
  depthExponent: boolean;
  /**
   * Measure the learned direction d in units of the tensor's Adam step: the direction term is multiplied by the
   * tensor's RMS of `m̂/(√v̂ + eps)`. The features are scale-free, so once a network has converged and its gradients
   * vanish they stay O(1), and an ungated d keeps moving every parameter by `lr·β·d` a step until the loss blows up
   * again (what ended `mlp-hybrid-v8`'s late divergences); gated, d fades with Adam's own step. Default false.
   */
  gateDirection: boolean;
  /**
   * Learn a fan-in exponent η (one more meta-parameter, the last; after γ when both are on): the lr of a weight
   * matrix whose fan-in n (its size over its first dimension, `in` for PyTorch's `[out, in]` layout) exceeds
   * {@link FAN_IN_REFERENCE} is multiplied by `(n / 32)^η`. Adam moves every weight by about lr, so a unit with n
   * inputs sees its pre-activation move by up to n·lr a step; a step learned on fan-ins up to 32 is too large for a
   * 64-input layer. Tensors with smaller fan-ins (and biases) keep factor 1, so the optimizer is unchanged on the
   * networks it was trained on. Default false.
   */
  fanInExponent: boolean;
}

/** Fan-in above which {@link MLPHybridConfig.fanInExponent} scales a weight matrix's lr: the widest fan-in of the base training family. */
export const FAN_IN_REFERENCE = 32;

/** A weights record's `featureSpec` for {@link MLPLearnedOptimizer}: the config plus the feature names. */
export interface MLPFeatureSpec extends MLPHybridConfig {
  /** Names of the per-element features, in input order ({@link MLP_FEATURE_NAMES}). */
  features: readonly string[];
  /** The base learning rate lr0 the weights were meta-trained with (the default `lr` when loading them). */
  lr: number;
}

/** Default {@link MLPHybridConfig}. */
export const DEFAULT_MLP_CONFIG: Readonly<MLPHybridConfig> = Object.freeze({
  hidden: [8, 8] as const,
  timeScales: MLP_TIME_SCALES,
  momentumDecays: [0.5, 0.99] as const,
  magnitudeScale: 1,
  directionScale: 0.1,
  maxLogMagnitude: 4,
  tensorFeatures: false,
  maxDirection: null,
  depthExponent: false,
  gateDirection: false,
  fanInExponent: false,
});

/** Hyper-parameters of {@link MLPLearnedOptimizer} (per group, like Adam's). */
export interface MLPLearnedOptimizerOptions {
  /** Base learning rate lr0: the untrained optimizer is Adam(lr0). Default: the weights' training lr, else 1e-3. */
  lr: number;
  /** Adam's decays [β1, β2] (β1 is also the middle momentum feature). Default [0.9, 0.999]. */
  betas: [number, number];
  /** Adam's eps, added to √v̂. Default 1e-8. */
  eps: number;
  /** L2 penalty added to the gradient (as Adam's). Default 0. */
  weightDecay: number;
}

/** Per-parameter state of {@link MLPLearnedOptimizer}. */
export interface MLPLearnedOptimizerState {
  [key: string]: number | FloatArray;
  step: number;
  exp_avg: FloatArray;
  exp_avg_sq: FloatArray;
  exp_avg_fast: FloatArray;
  exp_avg_slow: FloatArray;
}

/** Construction settings of {@link MLPLearnedOptimizer} beyond the group options. */
export interface MLPLearnedOptimizerSettings extends OptimizerSettings, LearnedCreateOptions {
  /**
   * The meta-parameters: a shipped name (`'mlp-hybrid-v12'`, recommended; `'mlp-hybrid-v11'`, `'mlp-hybrid-v9'`, `'mlp-hybrid-v3'` or `'mlp-hybrid-v1'`; see
   * `availableWeights()`), `'untrained'` (exactly Adam), a weights record, or a
   * raw vector (held by reference: changing it changes the next step).
   */
  weights: WeightsSource;
  /** Architecture for `'untrained'` or a raw vector; a record's `featureSpec` takes precedence. */
  config?: Partial<MLPHybridConfig>;
  /** Keep each parameter's normalised features of the latest step in {@link MLPLearnedOptimizer.features} (for analysis). */
  inspectFeatures?: boolean;
}

const DEFAULTS: MLPLearnedOptimizerOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 };
const SETTING_KEYS = ['weights', 'config', 'inspectFeatures', 'totalSteps'] as const;

/** Validate and complete a partial {@link MLPHybridConfig}. */
export function resolveMLPConfig(config: Partial<MLPHybridConfig> = {}, where = 'MLPLearnedOptimizer'): MLPHybridConfig {
  const c = { ...DEFAULT_MLP_CONFIG, ...config };
  if (!Array.isArray(c.hidden) || c.hidden.length !== 2) throw new InvalidOptionError('config.hidden', c.hidden, 'a pair [h1, h2]', where);
  checkInteger(where, 'config.hidden[0]', c.hidden[0], 1);
  checkInteger(where, 'config.hidden[1]', c.hidden[1], 1);
  if (!Array.isArray(c.timeScales)) throw new InvalidOptionError('config.timeScales', c.timeScales, 'an array of positive numbers', where);
  c.timeScales.forEach((s, k) => checkPositive(where, `config.timeScales[${k}]`, s));
  checkBetas(where, c.momentumDecays, 'config.momentumDecays');
  checkFinite(where, 'config.magnitudeScale', c.magnitudeScale);
  checkFinite(where, 'config.directionScale', c.directionScale);
  checkInRange(where, 'config.maxLogMagnitude', c.maxLogMagnitude, 0, 50);
  if (typeof c.tensorFeatures !== 'boolean') throw new InvalidOptionError('config.tensorFeatures', c.tensorFeatures, 'true or false', where);
  if (c.maxDirection !== null) checkPositive(where, 'config.maxDirection', c.maxDirection);
  if (typeof c.depthExponent !== 'boolean') throw new InvalidOptionError('config.depthExponent', c.depthExponent, 'true or false', where);
  if (typeof c.gateDirection !== 'boolean') throw new InvalidOptionError('config.gateDirection', c.gateDirection, 'true or false', where);
  if (typeof c.fanInExponent !== 'boolean') throw new InvalidOptionError('config.fanInExponent', c.fanInExponent, 'true or false', where);
  return {
    hidden: [c.hidden[0], c.hidden[1]],
    timeScales: [...c.timeScales],
    momentumDecays: [c.momentumDecays[0], c.momentumDecays[1]],
    magnitudeScale: c.magnitudeScale,
    directionScale: c.directionScale,
    maxLogMagnitude: c.maxLogMagnitude,
    tensorFeatures: c.tensorFeatures,
    maxDirection: c.maxDirection,
    depthExponent: c.depthExponent,
    gateDirection: c.gateDirection,
    fanInExponent: c.fanInExponent,
  };
}

/** Number of per-tensor input features of a config (0, or {@link NUM_TENSOR_FEATURES} with `tensorFeatures`). */
export function mlpTensorFeatureCount(config: MLPHybridConfig): number {
  return config.tensorFeatures ? NUM_TENSOR_FEATURES : 0;
}

/** The input feature names of a config: the element features, then the tensor features when enabled. */
export function mlpFeatureNames(config: MLPHybridConfig): string[] {
  return config.tensorFeatures ? [...MLP_FEATURE_NAMES, ...MLP_TENSOR_FEATURE_NAMES] : [...MLP_FEATURE_NAMES];
}

/**
 * Number of meta-parameters of the MLP for a config:
 * `h1·(8 + T + S) + h1 + h2·h1 + h2 + 2·h2 + 2` (S = 3 tensor features or 0).
 */
export function mlpMetaParamCount(config: MLPHybridConfig): number {
  const [h1, h2] = config.hidden;
  return h1 * (NUM_ELEMENT_FEATURES + config.timeScales.length + mlpTensorFeatureCount(config)) + h1 + h2 * h1 + h2 + 2 * h2 + 2 + (config.depthExponent ? 1 : 0) + (config.fanInExponent ? 1 : 0);
}

/** Bound of γ·ln(L/2) and of η·ln(n/32): each factor stays within [e^−3, e^3]. */
const MAX_LOG_LR_FACTOR = 3;

const clampLog = (x: number): number => (x > MAX_LOG_LR_FACTOR ? MAX_LOG_LR_FACTOR : x < -MAX_LOG_LR_FACTOR ? -MAX_LOG_LR_FACTOR : x);

/** The fan-in of a weight matrix (its size over its first dimension), 0 for a vector. */
export function fanIn(shape: readonly number[]): number {
  if (shape.length < 2) return 0;
  let n = 1;
  for (let k = 1; k < shape.length; k++) n *= shape[k]!;
  return n;
}

/**
 * The untrained meta-parameters: He-normal hidden layers drawn from `Rng(seed)`,
 * zero biases and a ZERO last layer, so d = s = 0 and the optimizer is exactly
 * Adam(lr0) until meta-training moves the last layer (the hidden layers are
 * random so that perturbations of the last layer see informative activations).
 */
export function mlpInitialMetaParams(config: MLPHybridConfig, seed = 0): Float64Array {
  const [h1, h2] = config.hidden;
  const stride = NUM_ELEMENT_FEATURES + config.timeScales.length + mlpTensorFeatureCount(config);
  const out = new Float64Array(mlpMetaParamCount(config));
  const rng = new Rng(seed);
  const s1 = Math.sqrt(2 / stride);
  for (let i = 0; i < h1 * stride; i++) out[i] = rng.normal(0, s1);
  const oW2 = h1 * stride + h1;
  const s2 = Math.sqrt(2 / h1);
  for (let i = 0; i < h2 * h1; i++) out[oW2 + i] = rng.normal(0, s2);
  return out;
}

/** The `featureSpec` a weights record of this architecture carries. */
export function mlpFeatureSpec(config: MLPHybridConfig, lr: number): MLPFeatureSpec {
  return { ...config, hidden: [...config.hidden] as [number, number], timeScales: [...config.timeScales], features: mlpFeatureNames(config), lr };
}

function configFromRecord(record: WeightsRecord, where: string): { config: MLPHybridConfig; lr: number | undefined } {
  const spec = record.featureSpec as Partial<MLPFeatureSpec> | null;
  if (typeof spec !== 'object' || spec === null) throw new StateDictError(`${where}: weights "${record.name}" have no featureSpec object`);
  const { features, lr, ...rest } = spec;
  let config: MLPHybridConfig;
  try {
    config = resolveMLPConfig(rest, where);
  } catch (e) {
    throw new StateDictError(`${where}: weights "${record.name}" have an invalid featureSpec: ${(e as Error).message}`);
  }
  const expected = mlpFeatureNames(config);
  if (features !== undefined && JSON.stringify(features) !== JSON.stringify(expected)) {
    throw new StateDictError(`${where}: weights "${record.name}" use features [${String(features)}], this version computes [${expected.join(', ')}]`);
  }
  return { config, lr: typeof lr === 'number' ? lr : undefined };
}

/**
 * The main shipped learned optimizer: a hybrid of Adam and a small per-parameter
 * MLP (the small_fc / LOLv2 design of `learned_optimization`, with Adam as the
 * nominal term). For every element of every tensor, the features
 *
 * ```
 * g, p, m(0.5), m(β1), m(0.99), √v̂, m̂/(√v̂ + eps), max(ln(|g_n| + 1e-8)/5, −1)
 * ```
 *
 * each divided by its RMS over the tensor, plus the time features
 * `tanh(t/τ_k − 1)` (the config's τ, no reference to a horizon) and, with
 * `tensorFeatures`, the tensor's momentum signal-to-noise ratios, go through an
 * MLP `(8 + T + S) → h1 → ReLU → h2 → ReLU → 2` that outputs a direction d and
 * a log magnitude s, and
 *
 * ```
 * p ← p − lr0 · λ · exp(clamp(α·s, ±b)) · (m̂/(√v̂ + eps) + β·ρ·clamp(d, ±maxDirection))
 * ```
 *
 * (ρ = 1, or with `gateDirection` the tensor's RMS of m̂/(√v̂ + eps); λ = {@link MLPLearnedOptimizer.lrScale}, 1
 * unless `depthExponent` or `fanInExponent` is on).
 *
 * The last layer starts at zero, so the untrained optimizer is EXACTLY
 * Adam(lr0, betas, eps, weightDecay), bias correction included; meta-training
 * learns when and where to deviate. The step is one fused two-pass loop per
 * tensor over preallocated scratch (see `mlpHybridUpdate`).
 *
 * The meta-parameters are held by reference and read at every step (the
 * `LearnedOptimizerFactory` contract). They are not part of the state dict,
 * which records only the architecture (to refuse a load into another one).
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { MLPLearnedOptimizer } from '@opt/learned';
 * const w = new Parameter(new Float64Array([1, -2, 3]), [3], 'w');
 * const opt = new MLPLearnedOptimizer([w], { weights: 'untrained', lr: 1e-2 });
 * for (let i = 0; i < 100; i++) {
 *   w.grad = w.data.map((x) => 2 * x);
 *   opt.step();
 * }
 * ```
 */
export class MLPLearnedOptimizer extends Optimizer<MLPLearnedOptimizerOptions, MLPLearnedOptimizerState> {
  /** The architecture in use. */
  readonly config: MLPHybridConfig;
  /** The meta-parameters (held by reference; see {@link MLPLearnedOptimizerSettings.weights}). */
  readonly metaParams: Float64Array;
  /** Name of the weights (`'untrained'`, a record's name, or `'custom'`). */
  readonly weightsName: string;
  /** The training horizon the caller declared; informational, since no feature depends on it. */
  readonly totalSteps: number | undefined;
  /** With `inspectFeatures`, each parameter's normalised features `[n × 8]` from its latest step. */
  readonly features = new Map<Parameter, Float64Array>();
  private readonly inspect: boolean;
  private readonly timeFeatures: Float64Array;
  private readonly bias1: Float64Array;
  private readonly hid1: Float64Array;

  /**
   * @param params - parameters or parameter groups.
   * @param options - `weights` (required), group options (`lr`, `betas`, `eps`, `weightDecay`), `config`,
   *   `totalSteps`, `inspectFeatures` and the non-finite settings.
   */
  constructor(params: ParamsArg<MLPLearnedOptimizerOptions>, options: Partial<MLPLearnedOptimizerOptions> & MLPLearnedOptimizerSettings) {
    const where = 'MLPLearnedOptimizer';
    if (options === undefined || options.weights === undefined) {
      throw new InvalidOptionError('weights', undefined, 'a weights name ("untrained" or a shipped one), a WeightsRecord or a Float64Array', where);
    }
    const source = options.weights;
    const record = typeof source === 'string' ? getWeightsRecord(source) : source instanceof Float64Array ? undefined : source;
    const fromRecord = record !== undefined ? configFromRecord(record, where) : undefined;
    const config = fromRecord?.config ?? resolveMLPConfig(options.config, where);
    const loaded = loadWeights(source, mlpTarget(config), where);
    const groupOptions: Record<string, unknown> = { ...options };
    for (const key of SETTING_KEYS) delete groupOptions[key];
    const defaults = fromRecord?.lr !== undefined ? { ...DEFAULTS, lr: fromRecord.lr } : DEFAULTS;
    super('MLPLearnedOptimizer', params, defaults, groupOptions as Partial<MLPLearnedOptimizerOptions> & OptimizerSettings);
    this.config = config;
    this.metaParams = loaded.metaParams;
    this.weightsName = loaded.name;
    this.totalSteps = options.totalSteps === undefined ? undefined : checkInteger(where, 'totalSteps', options.totalSteps, 1);
    this.inspect = options.inspectFeatures ?? false;
    this.timeFeatures = new Float64Array(config.timeScales.length);
    this.bias1 = new Float64Array(config.hidden[0]);
    this.hid1 = new Float64Array(config.hidden[0]);
  }

  protected validateGroup(o: Readonly<MLPLearnedOptimizerOptions>): void {
    const where = 'MLPLearnedOptimizer';
    checkNonNegative(where, 'lr', o.lr);
    checkBetas(where, o.betas);
    checkPositive(where, 'eps', o.eps);
    checkNonNegative(where, 'weightDecay', o.weightDecay);
  }

  protected initState(p: Parameter): MLPLearnedOptimizerState {
    return {
      step: 0,
      exp_avg: zerosLike(p.data),
      exp_avg_sq: zerosLike(p.data),
      exp_avg_fast: zerosLike(p.data),
      exp_avg_slow: zerosLike(p.data),
    };
  }

  /**
   * The factor the base lr is multiplied by for parameter `p`: `(L/2)^γ` with the learned depth exponent γ and L the
   * number of weight matrices this optimizer updates (1 without `depthExponent`), times `(n/32)^η` with the learned
   * fan-in exponent η for a weight matrix of fan-in n > 32 (1 otherwise, and without `fanInExponent`).
   */
  lrScale(p?: Parameter): number {
    return this.scaleWith(this.logDepthFactor(), p);
  }

  /** ln of the depth factor (0 without `depthExponent`): the same for every parameter, so a step computes it once. */
  private logDepthFactor(): number {
    const { depthExponent, fanInExponent } = this.config;
    if (!depthExponent) return 0;
    let matrices = 0;
    for (const group of this.paramGroups) for (const q of group.params) if (q.shape.length >= 2) matrices++;
    const gamma = this.metaParams[this.metaParams.length - (fanInExponent ? 2 : 1)]!;
    return clampLog(gamma * Math.log(Math.max(1, matrices) / 2));
  }

  /** The whole lr factor of `p` given the step's ln depth factor. */
  private scaleWith(logDepth: number, p: Parameter | undefined): number {
    let x = logDepth;
    const n = p === undefined ? 0 : fanIn(p.shape);
    if (this.config.fanInExponent && n > FAN_IN_REFERENCE) x += clampLog(this.metaParams[this.metaParams.length - 1]! * Math.log(n / FAN_IN_REFERENCE));
    return x === 0 ? 1 : Math.exp(x);
  }

  protected updateGroup(group: ParamGroup<MLPLearnedOptimizerOptions>): void {
    const { betas, eps, weightDecay } = group;
    const beta1 = betas[0];
    const beta2 = betas[1];
    const config = this.config;
    const h1 = config.hidden[0];
    const h2 = config.hidden[1];
    const numTime = config.timeScales.length;
    const numTensor = mlpTensorFeatureCount(config);
    const maxDirection = config.maxDirection ?? Infinity;
    const meta = this.metaParams;
    const scaled = config.depthExponent || config.fanInExponent;
    const logDepth = scaled ? this.logDepthFactor() : 0;
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      // γ = η = 0 gives exactly 1, so the untrained optimizer stays Adam(lr0) bit for bit.
      const lr = scaled ? group.lr * this.scaleWith(logDepth, p) : group.lr;
      const lrBeta = lr * config.directionScale;
      const s = this.stateFor(p, group);
      const t = ++s.step;
      tanhTimeFeatures(t, config.timeScales, this.timeFeatures);
      foldTimeBias(meta, h1, numTime, this.timeFeatures, this.bias1, numTensor);
      const bc1 = 1 - beta1 ** t;
      let featuresOut: Float64Array | null = null;
      if (this.inspect) {
        featuresOut = this.features.get(p) ?? null;
        if (featuresOut === null) {
          featuresOut = new Float64Array(p.size * NUM_ELEMENT_FEATURES);
          this.features.set(p, featuresOut);
        }
      }
      mlpHybridUpdate(
        p.data,
        g,
        s.exp_avg,
        s.exp_avg_sq,
        s.exp_avg_fast,
        s.exp_avg_slow,
        meta,
        h1,
        h2,
        numTime,
        numTensor,
        this.bias1,
        this.hid1,
        lr / bc1,
        Math.sqrt(1 - beta2 ** t),
        1 / bc1,
        lrBeta,
        beta1,
        beta2,
        config.momentumDecays[0],
        config.momentumDecays[1],
        eps,
        weightDecay,
        config.magnitudeScale,
        config.maxLogMagnitude,
        maxDirection,
        config.gateDirection,
        featuresOut,
      );
    }
  }

  /** The architecture and meta-parameter count, so a state dict cannot be loaded into another architecture. */
  protected override extraState(): unknown {
    return { arch: MLP_HYBRID_ARCH, meta_param_count: this.metaParams.length, hidden: [...this.config.hidden] };
  }

  protected override validateExtraState(extra: unknown, where: string): void {
    const e = extra as { arch?: unknown; meta_param_count?: unknown; hidden?: unknown } | undefined;
    if (typeof e !== 'object' || e === null) throw new StateDictError(`${where}: "extra" must record the architecture (arch, meta_param_count)`);
    if (e.arch !== MLP_HYBRID_ARCH || e.meta_param_count !== this.metaParams.length) {
      throw new StateDictError(
        `${where}: the state dict is for ${String(e.arch)} with ${String(e.meta_param_count)} meta-parameters, this optimizer is ${MLP_HYBRID_ARCH} with ${this.metaParams.length}`,
      );
    }
  }
}

function mlpTarget(config: MLPHybridConfig, seed = 0): { arch: string; metaParamCount: number; initialMetaParams(): Float64Array } {
  return { arch: MLP_HYBRID_ARCH, metaParamCount: mlpMetaParamCount(config), initialMetaParams: () => mlpInitialMetaParams(config, seed) };
}

/** Options of {@link mlpLearnedOptimizerFactory}: the architecture, the group options and the settings every created optimizer gets. */
export interface MLPLearnedOptimizerFactoryOptions extends Partial<MLPHybridConfig>, Partial<MLPLearnedOptimizerOptions> {
  /** Seed of the untrained hidden layers. Default 0. */
  initSeed?: number;
  /** Non-finite policy of the created optimizers (meta-trainers use `'ignore'` and penalise NaN losses themselves). */
  nonFinite?: OptimizerSettings['nonFinite'];
}

/** A {@link LearnedOptimizerFactory} for {@link MLPLearnedOptimizer}, with what a weights record needs. */
export interface MLPLearnedOptimizerFactory extends LearnedOptimizerFactory<MLPLearnedOptimizer> {
  /** The architecture. */
  readonly config: MLPHybridConfig;
  /** The `featureSpec` to store in a weights record of this factory (includes the base lr). */
  readonly featureSpec: MLPFeatureSpec;
}

/**
 * The factory a meta-trainer perturbs: `create(params, metaParams)` returns an
 * {@link MLPLearnedOptimizer} that reads `metaParams` by reference at every step.
 *
 * @example
 * ```ts
 * const factory = mlpLearnedOptimizerFactory({ lr: 1e-2 });
 * const theta = factory.initialMetaParams(); // exactly Adam(1e-2)
 * const opt = factory.create(task.parameters, theta, { totalSteps: 100 });
 * ```
 */
export function mlpLearnedOptimizerFactory(options: MLPLearnedOptimizerFactoryOptions = {}): MLPLearnedOptimizerFactory {
  const where = 'mlpLearnedOptimizerFactory';
  const { initSeed = 0, nonFinite, lr, betas, eps, weightDecay, ...configOptions } = options;
  const config = resolveMLPConfig(configOptions, where);
  const groupOptions: Partial<MLPLearnedOptimizerOptions> = {};
  if (lr !== undefined) groupOptions.lr = checkNonNegative(where, 'lr', lr);
  if (betas !== undefined) groupOptions.betas = [...checkBetas(where, betas)] as [number, number];
  if (eps !== undefined) groupOptions.eps = checkPositive(where, 'eps', eps);
  if (weightDecay !== undefined) groupOptions.weightDecay = checkNonNegative(where, 'weightDecay', weightDecay);
  const target = mlpTarget(config, checkInteger(where, 'initSeed', initSeed, 0));
  return {
    arch: MLP_HYBRID_ARCH,
    metaParamCount: target.metaParamCount,
    config,
    featureSpec: mlpFeatureSpec(config, groupOptions.lr ?? DEFAULTS.lr),
    initialMetaParams: target.initialMetaParams,
    create(params: Parameter[], metaParams: Float64Array, createOptions: LearnedCreateOptions = {}): MLPLearnedOptimizer {
      return new MLPLearnedOptimizer(params, {
        ...groupOptions,
        weights: metaParams,
        config,
        ...(createOptions.totalSteps === undefined ? {} : { totalSteps: createOptions.totalSteps }),
        ...(nonFinite === undefined ? {} : { nonFinite }),
      });
    },
  };
}
