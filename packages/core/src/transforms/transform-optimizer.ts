import { type FloatArray, ParamGroupError, type Parameter, StateDictError, zerosLike } from '@opt/tensor';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamGroupInput, type ParamInput } from '../optimizer.js';
import type { ParamState } from '../state-dict.js';
import { checkFinite } from '../validation.js';
import type { InjectHyperparamsState, InjectedTransformation } from './inject-hyperparams.js';
import { type TransformStateJson, transformStateFromJson, transformStateToJson } from './state-json.js';
import { type GradientTransformation, applyUpdates, valueAt } from './types.js';

/** The hyper-parameters a {@link TransformOptimizer} shows in its group: those of an outermost `injectHyperparams`. */
export type TransformHyperparams = Record<string, number>;

/** What a {@link TransformOptimizer} writes into the `extra` field of its state dict. */
export interface TransformOptimizerExtra {
  transform: TransformStateJson;
}

/**
 * Any gradient transformation behind PyTorch's optimizer surface: one
 * parameter group, `step(closure?)`, `zeroGrad`, the non-finite gradient
 * policy, and a lossless `stateDict` / `loadStateDict` whose `extra` field
 * holds the transform's state (per-parameter `state` stays empty: a chain's
 * state is not per parameter).
 *
 * Each step copies the gradients into preallocated update buffers (a missing
 * gradient counts as zero), runs the transform, and adds the updates:
 *
 * ```
 * u ← g;   tx.update(u, state, params);   p ← p + u
 * ```
 *
 * When the transform is built by {@link injectHyperparams}, its
 * hyper-parameters appear in `paramGroups[0]` (`paramGroups[0].lr`): a value
 * written there is used at the next step (so PyTorch-style LR schedulers work),
 * and after each step the group shows the values that step used (a scheduled
 * hyper-parameter follows its schedule).
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { TransformOptimizer, adamw, injectHyperparams } from '@opt/core';
 * const w = new Parameter(new Float64Array([1, -2]), [2], 'w');
 * const tx = injectHyperparams((h) => adamw(h.lr, { weightDecay: 1e-2 }))({ lr: 1e-3 });
 * const opt = new TransformOptimizer([w], tx);
 * w.grad = new Float64Array([2, -4]);
 * opt.step();
 * opt.paramGroups[0]!.lr = 5e-4;  // used by the next step
 * const saved = JSON.stringify(opt.stateDict());
 * ```
 *
 * @typeParam S - the transform's state.
 */
export class TransformOptimizer<S> extends Optimizer<TransformHyperparams, ParamState> {
  /** The transformation stepped. */
  readonly transform: GradientTransformation<S>;
  /** The transform's current state (plain data; replaced by `loadStateDict`). */
  transformState: S;
  private readonly params: Parameter[];
  private readonly updates: FloatArray[];
  private readonly hyperparamNames: readonly string[];

  /**
   * @param params - parameters or `[name, parameter]` pairs (they form the one group).
   * @param transform - the transformation, e.g. `adamw(1e-3)` or `injectHyperparams(...)(...)`.
   * @param settings - the non-finite gradient policy.
   */
  constructor(params: Iterable<ParamInput>, transform: GradientTransformation<S>, settings: OptimizerSettings = {}) {
    super('TransformOptimizer', params, initialHyperparams(transform), settings as Partial<TransformHyperparams> & OptimizerSettings);
    this.transform = transform;
    this.params = this.paramGroups[0]!.params;
    this.updates = this.params.map((p) => zerosLike(p.data));
    this.hyperparamNames = isInjected(transform) ? transform.hyperparamNames : [];
    this.transformState = transform.init(this.params);
  }

  /** A transform's state covers a fixed parameter list, so the optimizer has exactly one group. */
  override addParamGroup(group: ParamGroupInput<TransformHyperparams>): void {
    if (this.paramGroups.length > 0) {
      throw new ParamGroupError(
        'TransformOptimizer: a transform optimizer has one parameter group; use partition() for per-parameter treatment',
      );
    }
    super.addParamGroup(group);
  }

  protected validateGroup(options: Readonly<TransformHyperparams>): void {
    for (const [key, value] of Object.entries(options)) checkFinite('TransformOptimizer', key, value);
  }

  protected initState(): ParamState {
    return {};
  }

  protected updateGroup(group: ParamGroup<TransformHyperparams>): void {
    const params = this.params;
    const updates = this.updates;
    if (params.length !== updates.length) {
      throw new ParamGroupError('TransformOptimizer: the parameter list changed after construction');
    }
    for (let i = 0; i < params.length; i++) {
      const g = params[i]!.grad;
      if (g === null) updates[i]!.fill(0);
      else updates[i]!.set(g);
    }
    const names = this.hyperparamNames;
    const hyperparams = names.length > 0 ? (this.transformState as InjectHyperparamsState<string, unknown>).hyperparams : null;
    if (hyperparams !== null) for (let k = 0; k < names.length; k++) hyperparams[names[k]!] = group[names[k]!]!;
    this.transform.update(updates, this.transformState, params);
    applyUpdates(params, updates);
    if (hyperparams !== null) for (let k = 0; k < names.length; k++) group[names[k]!] = hyperparams[names[k]!]!;
  }

  protected override extraState(): TransformOptimizerExtra {
    return { transform: transformStateToJson(this.transformState) };
  }

  protected override validateExtraState(extra: unknown, where: string): void {
    this.decodeExtra(extra, where);
  }

  protected override loadExtraState(extra: unknown): void {
    this.transformState = this.decodeExtra(extra, 'TransformOptimizer.loadStateDict');
  }

  private decodeExtra(extra: unknown, where: string): S {
    if (typeof extra !== 'object' || extra === null || !('transform' in extra)) {
      throw new StateDictError(`${where}: expected "extra" to hold the transform state ({ transform: … })`);
    }
    try {
      return transformStateFromJson((extra as TransformOptimizerExtra).transform, this.transform.init(this.params));
    } catch (e) {
      if (e instanceof StateDictError) throw new StateDictError(`${where}: extra.${e.message}`);
      throw e;
    }
  }
}

/**
 * Wrap a gradient transformation in the optimizer surface; the same as
 * `new TransformOptimizer(params, transform, settings)`.
 */
export function fromTransform<S>(
  params: Iterable<ParamInput>,
  transform: GradientTransformation<S>,
  settings: OptimizerSettings = {},
): TransformOptimizer<S> {
  return new TransformOptimizer(params, transform, settings);
}

function isInjected<S>(tx: GradientTransformation<S>): tx is GradientTransformation<S> & InjectedTransformation<string, unknown> {
  return Array.isArray((tx as Partial<InjectedTransformation<string, unknown>>).hyperparamNames);
}

function initialHyperparams<S>(tx: GradientTransformation<S>): TransformHyperparams {
  if (!isInjected(tx)) return {};
  const out: TransformHyperparams = {};
  for (const name of tx.hyperparamNames) out[name] = valueAt(tx.hyperparamSources[name]!, 0);
  return out;
}
