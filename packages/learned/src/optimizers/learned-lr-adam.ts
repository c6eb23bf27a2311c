import { type FloatArray, InvalidOptionError, type Parameter, StateDictError, adamUpdate, sgdUpdate, zerosLike } from '@opt/tensor';
import {
  Optimizer,
  type OptimizerSettings,
  type ParamGroup,
  type ParamGroupInput,
  type ParamsArg,
  checkBetas,
  checkBoolean,
  checkInRange,
  checkInteger,
  checkNonNegative,
  checkOneOf,
  checkPositive,
} from '@opt/core';
import type { LearnedCreateOptions, LearnedOptimizerFactory } from '../learnable.js';
import { type WeightsSource, getWeightsRecord, loadWeights } from '../weights/index.js';
import { LR_TIME_SCALES, scheduleEmbedding, scheduleEmbeddingSize } from './time-features.js';

/** The base update rule of {@link LearnedLRAdam}. */
export type LearnedLRBase = 'adam' | 'sgdm';

/** The architecture of {@link LearnedLRAdam}: what a weights record's `featureSpec` pins. */
export interface LearnedLRConfig {
  /** `'adam'` or `'sgdm'` (SGD with heavy-ball momentum, PyTorch's form). Default `'adam'`. */
  base: LearnedLRBase;
  /** Number of parameter groups the meta-parameters cover. Default 1. */
  groups: number;
  /** Also learn a constant logit offset of each group's decays (β1, β2 for Adam; μ for SGD-M). Default false. */
  learnBetas: boolean;
  /** τ of the `tanh(t/τ)` terms of the schedule embedding. Default {@link LR_TIME_SCALES}. */
  timeScales: readonly number[];
  /** Bound of the log learning-rate multiplier (the multiplier stays in `[e^−b, e^b]`). Default 10. */
  maxLogMultiplier: number;
}

/** Group hyper-parameters of {@link LearnedLRAdam}. */
export interface LearnedLRAdamOptions {
  /** Base learning rate: the untrained schedule is constant at it. Default 1e-3. */
  lr: number;
  /** Adam's decays (base `'adam'`). Default [0.9, 0.999]. */
  betas: [number, number];
  /** Adam's eps (base `'adam'`). Default 1e-8. */
  eps: number;
  /** Momentum factor (base `'sgdm'`). Default 0.9. */
  momentum: number;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay: number;
}

/** Per-parameter state of {@link LearnedLRAdam}: Adam's keys, or SGD's `momentum_buffer`. */
export interface LearnedLRAdamState {
  [key: string]: number | FloatArray | null;
  step: number;
}

/** Construction settings of {@link LearnedLRAdam}. */
export interface LearnedLRAdamSettings extends OptimizerSettings, LearnedCreateOptions {
  /** `'untrained'` (a constant schedule at `lr`), a registered name, a record, or a raw vector (held by reference). */
  weights: WeightsSource;
  /** Architecture for `'untrained'` or a raw vector (a record's `featureSpec` takes precedence). `groups` defaults to the number of groups given. */
  config?: Partial<LearnedLRConfig>;
}

const DEFAULTS: LearnedLRAdamOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, momentum: 0.9, weightDecay: 0 };
const SETTING_KEYS = ['weights', 'config', 'totalSteps'] as const;
const DEFAULT_CONFIG: LearnedLRConfig = { base: 'adam', groups: 1, learnBetas: false, timeScales: LR_TIME_SCALES, maxLogMultiplier: 10 };

/** Architecture identifier of {@link LearnedLRAdam} weights for a base rule. */
export function learnedLRArch(base: LearnedLRBase): string {
  return `learned-lr-${base}`;
}

/** Validate and complete a partial {@link LearnedLRConfig}. */
export function resolveLearnedLRConfig(config: Partial<LearnedLRConfig> = {}, where = 'LearnedLRAdam'): LearnedLRConfig {
  const c = { ...DEFAULT_CONFIG, ...config };
  checkOneOf(where, 'config.base', c.base, ['adam', 'sgdm'] as const);
  checkInteger(where, 'config.groups', c.groups, 1);
  checkBoolean(where, 'config.learnBetas', c.learnBetas);
  if (!Array.isArray(c.timeScales)) throw new InvalidOptionError('config.timeScales', c.timeScales, 'an array of positive numbers', where);
  c.timeScales.forEach((s, k) => checkPositive(where, `config.timeScales[${k}]`, s));
  checkInRange(where, 'config.maxLogMultiplier', c.maxLogMultiplier, 0, 50);
  return { base: c.base, groups: c.groups, learnBetas: c.learnBetas, timeScales: [...c.timeScales], maxLogMultiplier: c.maxLogMultiplier };
}

/** Meta-parameters per group: the schedule coefficients, then the decay offsets when learned. */
export function learnedLRParamsPerGroup(config: LearnedLRConfig): number {
  return scheduleEmbeddingSize(config.timeScales) + (config.learnBetas ? (config.base === 'adam' ? 2 : 1) : 0);
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** β moved by a learned logit offset; exactly β when the offset is 0, so untrained weights reproduce the base rule. */
function shiftLogit(beta: number, offset: number): number {
  return offset === 0 ? beta : sigmoid(Math.log(beta / (1 - beta)) + offset);
}

/**
 * Adam (or SGD with momentum) with a meta-learned learning-rate SCHEDULE per
 * parameter group, linear in a time embedding, and optionally learned decays:
 *
 * ```
 * ψ(t) = [1, log(1 + t)/log(1001), tanh(t/τ_1), …, tanh(t/τ_K)]
 * lr_g(t) = lr_g · exp(clamp(θ_g·ψ(t), ±b))
 * β_g = sigmoid(logit(β_g) + δ_g)                  (learnBetas)
 * then Adam's (or SGD-M's) step with lr_g(t), β_g
 * ```
 *
 * The embedding has no feature that stops at the training horizon: the
 * `log(1 + t)` term makes a learned decay continue as a power law past it,
 * where a schedule of `t/K` clamped at 1 was measured to lose most of its wins
 * at 2K. With θ = 0 (the untrained weights) this is exactly Adam(lr) or
 * SGD(lr, momentum). Bias correction uses the current β^t.
 *
 * The meta-parameters (`groups × (K + 2 [+ 2 or 1])`, group-major) are held by
 * reference and read at every step.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { LearnedLRAdam } from '@opt/learned';
 * const w = new Parameter(new Float64Array([1, -1]), [2], 'w');
 * const opt = new LearnedLRAdam([w], { weights: 'untrained', lr: 1e-2 });
 * w.grad = new Float64Array([0.5, -0.5]);
 * opt.step();
 * ```
 */
export class LearnedLRAdam extends Optimizer<LearnedLRAdamOptions, LearnedLRAdamState> {
  /** The architecture in use. */
  readonly config: LearnedLRConfig;
  /** The meta-parameters (held by reference). */
  readonly metaParams: Float64Array;
  /** Name of the weights (`'untrained'`, a record's name, or `'custom'`). */
  readonly weightsName: string;
  /** The horizon the caller declared; informational, since the embedding does not depend on it. */
  readonly totalSteps: number | undefined;
  private readonly embedding: Float64Array;

  /**
   * @param params - parameters or parameter groups (at most `config.groups` groups).
   * @param options - `weights` (required), group options, `config`, `totalSteps` and the non-finite settings.
   */
  constructor(params: ParamsArg<LearnedLRAdamOptions>, options: Partial<LearnedLRAdamOptions> & LearnedLRAdamSettings) {
    const where = 'LearnedLRAdam';
    if (options === undefined || options.weights === undefined) {
      throw new InvalidOptionError('weights', undefined, 'a weights name ("untrained" or a registered one), a WeightsRecord or a Float64Array', where);
    }
    const source = options.weights;
    const record = typeof source === 'string' ? getWeightsRecord(source) : source instanceof Float64Array ? undefined : source;
    const list = [...(params as Iterable<unknown>)];
    const groupCount = list.length > 0 && list.every((x) => typeof x === 'object' && x !== null && 'params' in x) ? list.length : 1;
    let config: LearnedLRConfig;
    if (record !== undefined) {
      try {
        config = resolveLearnedLRConfig(record.featureSpec as Partial<LearnedLRConfig>, where);
      } catch (e) {
        throw new StateDictError(`${where}: weights "${record.name}" have an invalid featureSpec: ${(e as Error).message}`);
      }
    } else {
      config = resolveLearnedLRConfig({ groups: groupCount, ...options.config }, where);
    }
    if (groupCount > config.groups) {
      throw new InvalidOptionError('params', `${groupCount} groups`, `at most ${config.groups} parameter groups (config.groups)`, where);
    }
    const loaded = loadWeights(source, learnedLRTarget(config), where);
    const groupOptions: Record<string, unknown> = { ...options };
    for (const key of SETTING_KEYS) delete groupOptions[key];
    super('LearnedLRAdam', list as ParamsArg<LearnedLRAdamOptions>, DEFAULTS, groupOptions as Partial<LearnedLRAdamOptions> & OptimizerSettings);
    this.config = config;
    this.metaParams = loaded.metaParams;
    this.weightsName = loaded.name;
    this.totalSteps = options.totalSteps === undefined ? undefined : checkInteger(where, 'totalSteps', options.totalSteps, 1);
    this.embedding = new Float64Array(scheduleEmbeddingSize(config.timeScales));
  }

  /** Groups beyond `config.groups` have no meta-parameters. */
  override addParamGroup(group: ParamGroupInput<LearnedLRAdamOptions>): void {
    const config = this.config as LearnedLRConfig | undefined;
    if (config !== undefined && this.paramGroups.length >= config.groups) {
      throw new InvalidOptionError('params', 'another group', `at most ${config.groups} parameter groups (config.groups)`, 'LearnedLRAdam');
    }
    super.addParamGroup(group);
  }

  protected validateGroup(o: Readonly<LearnedLRAdamOptions>): void {
    const where = 'LearnedLRAdam';
    checkNonNegative(where, 'lr', o.lr);
    checkBetas(where, o.betas);
    checkPositive(where, 'eps', o.eps);
    checkInRange(where, 'momentum', o.momentum, 0, 1, '[)');
    checkNonNegative(where, 'weightDecay', o.weightDecay);
  }

  protected initState(p: Parameter): LearnedLRAdamState {
    if (this.config.base === 'sgdm') return { step: 0, momentum_buffer: null };
    return { step: 0, exp_avg: zerosLike(p.data), exp_avg_sq: zerosLike(p.data) };
  }

  /** The learning rate group `groupIndex` uses at step t (1-based) under the current meta-parameters. */
  learningRateAt(groupIndex: number, t: number): number {
    const group = this.paramGroups[groupIndex];
    if (group === undefined) throw new InvalidOptionError('groupIndex', groupIndex, `an index < ${this.paramGroups.length}`, 'LearnedLRAdam.learningRateAt');
    return group.lr * this.multiplier(groupIndex * learnedLRParamsPerGroup(this.config), t);
  }

  private multiplier(offset: number, t: number): number {
    const e = this.embedding;
    scheduleEmbedding(t, this.config.timeScales, e);
    const meta = this.metaParams;
    let z = 0;
    for (let k = 0; k < e.length; k++) z += meta[offset + k]! * e[k]!;
    const b = this.config.maxLogMultiplier;
    return Math.exp(z > b ? b : z < -b ? -b : z);
  }

  protected updateGroup(group: ParamGroup<LearnedLRAdamOptions>): void {
    const config = this.config;
    const offset = this.paramGroups.indexOf(group) * learnedLRParamsPerGroup(config);
    const betaOffset = offset + this.embedding.length;
    const meta = this.metaParams;
    const { lr, eps, weightDecay } = group;
    if (config.base === 'sgdm') {
      const momentum = config.learnBetas ? shiftLogit(group.momentum, meta[betaOffset]!) : group.momentum;
      for (let k = 0; k < group.params.length; k++) {
        const p = group.params[k]!;
        const g = p.grad;
        if (g === null) continue;
        const s = this.stateFor(p, group);
        const t = ++s.step;
        const first = momentum !== 0 && s.momentum_buffer === null;
        if (first) s.momentum_buffer = zerosLike(p.data);
        const buf = momentum !== 0 ? (s.momentum_buffer as FloatArray) : null;
        sgdUpdate(p.data, g, buf, lr * this.multiplier(offset, t), momentum, 0, weightDecay, false, false, first);
      }
      return;
    }
    const beta1 = config.learnBetas ? shiftLogit(group.betas[0], meta[betaOffset]!) : group.betas[0];
    const beta2 = config.learnBetas ? shiftLogit(group.betas[1], meta[betaOffset + 1]!) : group.betas[1];
    for (let k = 0; k < group.params.length; k++) {
      const p = group.params[k]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      const t = ++s.step;
      const stepSize = (lr * this.multiplier(offset, t)) / (1 - beta1 ** t);
      adamUpdate(p.data, g, s.exp_avg as FloatArray, s.exp_avg_sq as FloatArray, null, stepSize, Math.sqrt(1 - beta2 ** t), beta1, beta2, eps, weightDecay, 1, false);
    }
  }

  protected override extraState(): unknown {
    return { arch: learnedLRArch(this.config.base), meta_param_count: this.metaParams.length };
  }

  protected override validateExtraState(extra: unknown, where: string): void {
    const e = extra as { arch?: unknown; meta_param_count?: unknown } | undefined;
    const arch = learnedLRArch(this.config.base);
    if (typeof e !== 'object' || e === null || e.arch !== arch || e.meta_param_count !== this.metaParams.length) {
      throw new StateDictError(`${where}: the state dict is not from ${arch} with ${this.metaParams.length} meta-parameters`);
    }
  }
}

function learnedLRTarget(config: LearnedLRConfig): { arch: string; metaParamCount: number; initialMetaParams(): Float64Array } {
  const count = config.groups * learnedLRParamsPerGroup(config);
  return { arch: learnedLRArch(config.base), metaParamCount: count, initialMetaParams: () => new Float64Array(count) };
}

/** Options of {@link learnedLRAdamFactory}. */
export interface LearnedLRAdamFactoryOptions extends Partial<LearnedLRConfig>, Partial<LearnedLRAdamOptions> {
  /**
   * Group of each parameter for `create(params)`, in `[0, groups)` (e.g. weights
   * vs biases by name). Default: every parameter in group 0.
   */
  groupOf?: (param: Parameter, index: number) => number;
  /** Non-finite policy of the created optimizers. */
  nonFinite?: OptimizerSettings['nonFinite'];
}

/** A {@link LearnedOptimizerFactory} for {@link LearnedLRAdam}, with what a weights record needs. */
export interface LearnedLRAdamFactory extends LearnedOptimizerFactory<LearnedLRAdam> {
  /** The architecture. */
  readonly config: LearnedLRConfig;
  /** The `featureSpec` to store in a weights record. */
  readonly featureSpec: LearnedLRConfig;
}

/**
 * The factory a meta-trainer perturbs for {@link LearnedLRAdam}: a handful of
 * meta-parameters (`groups × (K + 2)`, plus the decay offsets), zeros untrained.
 *
 * @example
 * ```ts
 * const factory = learnedLRAdamFactory({ lr: 1e-2, groups: 2, groupOf: (p) => (p.shape.length > 1 ? 0 : 1) });
 * const opt = factory.create(task.parameters, factory.initialMetaParams());
 * ```
 */
export function learnedLRAdamFactory(options: LearnedLRAdamFactoryOptions = {}): LearnedLRAdamFactory {
  const where = 'learnedLRAdamFactory';
  const { groupOf, nonFinite, base, groups, learnBetas, timeScales, maxLogMultiplier, ...groupOptions } = options;
  const config = resolveLearnedLRConfig(
    Object.fromEntries(Object.entries({ base, groups, learnBetas, timeScales, maxLogMultiplier }).filter(([, v]) => v !== undefined)),
    where,
  );
  const target = learnedLRTarget(config);
  return {
    arch: target.arch,
    metaParamCount: target.metaParamCount,
    config,
    featureSpec: config,
    initialMetaParams: target.initialMetaParams,
    create(params: Parameter[], metaParams: Float64Array, createOptions: LearnedCreateOptions = {}): LearnedLRAdam {
      const lists: Parameter[][] = Array.from({ length: config.groups }, () => []);
      params.forEach((p, i) => {
        const g = groupOf === undefined ? 0 : groupOf(p, i);
        if (!Number.isInteger(g) || g < 0 || g >= config.groups) {
          throw new InvalidOptionError('groupOf', g, `a group index in [0, ${config.groups})`, where);
        }
        lists[g]!.push(p);
      });
      const groupsArg = lists.filter((l) => l.length > 0).length === config.groups ? lists.map((l) => ({ params: l })) : null;
      if (groupsArg === null) throw new InvalidOptionError('groupOf', 'an empty group', `every one of the ${config.groups} groups to receive a parameter`, where);
      return new LearnedLRAdam(groupsArg, {
        ...groupOptions,
        weights: metaParams,
        config,
        ...(createOptions.totalSteps === undefined ? {} : { totalSteps: createOptions.totalSteps }),
        ...(nonFinite === undefined ? {} : { nonFinite }),
      });
    },
  };
}
