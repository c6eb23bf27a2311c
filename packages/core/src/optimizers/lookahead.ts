import { type FloatArray, InvalidOptionError, type Parameter, StateDictError, lookaheadSync } from '@opt/tensor';
import {
  type Closure,
  type LoadStateDictOptions,
  Optimizer,
  type OptimizerSettings,
  type ParamGroup,
  type ParamGroupInput,
} from '../optimizer.js';
import type { OptimizerStateDict, ParamState } from '../state-dict.js';
import { checkInRange, checkInteger } from '../validation.js';

/**
 * Base class of optimizers that wrap another optimizer (`inner`): {@link Lookahead},
 * {@link AccumulatingOptimizer}, {@link SAM}.
 *
 * Why a subclass of {@link Optimizer} rather than a standalone class with the same
 * surface: a wrapper must be usable wherever an optimizer is (LR schedulers, SWA,
 * other wrappers, code typed against `Optimizer`), and the base class already
 * provides name/position matching, lossless encoding and the all-or-nothing load.
 * The wrapper therefore:
 * - shares the inner optimizer's group **objects** (`wrapper.paramGroups[i] ===
 *   inner.paramGroups[i]`), so a scheduler setting `paramGroups[i].lr` on the
 *   wrapper drives the inner optimizer; groups added through the wrapper's
 *   `addParamGroup` reach both;
 * - keeps its own per-parameter state in `state` (Lookahead's slow weights,
 *   the accumulated gradients), while the inner's stays in `inner.state`;
 * - writes a state dict whose `state` is its own, whose `param_groups` are the
 *   shared groups, and whose `extra.inner` is the inner optimizer's complete state
 *   dict (loadable on its own into a bare inner optimizer, to unwrap a checkpoint).
 *
 * Loading stays all-or-nothing: the wrapper's own state and options are decoded
 * first, then the inner state dict is loaded last among the checks (the inner
 * load is itself all-or-nothing, and nothing that follows it can fail).
 *
 * @typeParam O - the inner optimizer's hyper-parameters (plus the wrapper's, for SAM).
 * @typeParam S - the wrapper's own per-parameter state.
 */
export abstract class OptimizerWrapper<O extends object, S extends ParamState = ParamState> extends Optimizer<O, S> {
  /** The wrapped optimizer. */
  readonly inner: Optimizer<O>;
  private loadOptions: LoadStateDictOptions = {};

  /**
   * @param name - the wrapper's class name, written into state dicts.
   * @param inner - the optimizer to wrap.
   * @param settings - the wrapper's own non-finite policy settings.
   * @param defaults - the wrapper's defaults; the inner's unless the wrapper adds options (SAM's `rho`).
   */
  protected constructor(name: string, inner: Optimizer<O>, settings: OptimizerSettings, defaults: O = inner.defaults as O) {
    if (!(inner instanceof Optimizer)) {
      throw new InvalidOptionError('inner', inner, 'an Optimizer instance to wrap', name);
    }
    super(name, inner.paramGroups, defaults, settings as Partial<O> & OptimizerSettings);
    this.inner = inner;
    // Replace the copies the base constructor made with the inner's own group
    // objects, so option changes on either side are seen by both.
    this.paramGroups.splice(0, this.paramGroups.length, ...inner.paramGroups);
  }

  /**
   * Group options are the inner optimizer's: it validates them (also when a
   * state dict is loaded). While the base constructor runs, `inner` is not yet
   * set and the groups it is copying were validated by the inner optimizer already.
   */
  protected validateGroup(options: Readonly<O>): void {
    const inner = this.inner as Optimizer<O> | undefined;
    // validateGroup is protected on Optimizer; a wrapper calling it on another
    // instance is exactly the delegation intended, which TypeScript cannot express.
    if (inner !== undefined) (inner as unknown as { validateGroup(o: Readonly<O>): void }).validateGroup(options);
  }

  /** The parameter's name as the inner optimizer knows it (including `[name, param]` pairs). */
  override paramName(param: Parameter): string | undefined {
    const inner = this.inner as Optimizer<O> | undefined;
    return inner === undefined ? super.paramName(param) : inner.paramName(param);
  }

  /** Add a group to the inner optimizer (which validates it) and to the wrapper. */
  override addParamGroup(group: ParamGroupInput<O>): void {
    const inner = this.inner as Optimizer<O> | undefined;
    if (inner === undefined) {
      super.addParamGroup(group);
      return;
    }
    inner.addParamGroup(group);
    const added = inner.paramGroups[inner.paramGroups.length - 1]!;
    this.paramGroups.push(added);
    this.onGroupAdded(added);
  }

  /** Reset the gradients through the inner optimizer. */
  override zeroGrad(options?: { setToNone?: boolean }): void {
    this.inner.zeroGrad(options);
  }

  override loadStateDict(stateDict: OptimizerStateDict | Record<string, unknown>, options: LoadStateDictOptions = {}): void {
    this.loadOptions = options;
    try {
      super.loadStateDict(stateDict, options);
    } finally {
      this.loadOptions = {};
    }
  }

  /** The wrapper's optimizer-wide data (hyper-parameters, counters), JSON. */
  protected abstract wrapperState(): Record<string, unknown>;

  /** Check {@link OptimizerWrapper.wrapperState} data; throw a StateDictError if it is wrong. */
  protected abstract validateWrapperState(extra: Record<string, unknown>, where: string): void;

  /** Restore {@link OptimizerWrapper.wrapperState} data (already validated). */
  protected abstract loadWrapperState(extra: Record<string, unknown>): void;

  protected override extraState(): unknown {
    return { ...this.wrapperState(), inner: this.inner.stateDict() };
  }

  protected override validateExtraState(extra: unknown, where: string): void {
    if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) {
      throw new StateDictError(`${where}: "extra" must hold the ${this.name} data and the wrapped optimizer's state dict`);
    }
    const record = extra as Record<string, unknown>;
    if (typeof record.inner !== 'object' || record.inner === null) {
      throw new StateDictError(`${where}: extra.inner must be the wrapped ${this.inner.name} optimizer's state dict`);
    }
    this.validateWrapperState(record, where);
    // Last on purpose: this commits the inner optimizer (all-or-nothing by
    // itself), and the base class commits nothing fallible after this hook.
    this.inner.loadStateDict(record.inner as Record<string, unknown>, this.loadOptions);
  }

  protected override loadExtraState(extra: unknown): void {
    this.loadWrapperState(extra as Record<string, unknown>);
  }
}

/** Hyper-parameters of {@link Lookahead}. */
export interface LookaheadOptions {
  /** Number of inner (fast) steps between synchronisations. Default 5. */
  k: number;
  /** Slow-weight step size α ∈ [0, 1]. Default 0.5. */
  alpha: number;
}

/** Per-parameter state of {@link Lookahead}: the slow weights φ. */
export interface LookaheadState {
  [key: string]: FloatArray;
  slow_buffer: FloatArray;
}

/**
 * Lookahead (Zhang, Lucas, Hinton & Ba, 2019, "Lookahead Optimizer: k steps
 * forward, 1 step back") around ANY optimizer. The inner optimizer moves the fast
 * weights θ; every k inner steps the slow weights φ (initialised to the
 * parameters at construction, as in the paper) move towards them and the fast
 * weights restart from there:
 *
 * ```
 * θ ← inner.step(θ)                         (every call)
 * every k-th call:  φ ← φ + α·(θ − φ);  θ ← φ
 * ```
 *
 * The inner optimizer's state (momentum, Adam moments) is kept across
 * synchronisations, as in the paper's default. A step the inner optimizer skips
 * for a non-finite gradient (policy `'skip'`) is not counted towards k.
 *
 * Lookahead is an {@link OptimizerWrapper}: `paramGroups` are the inner's own
 * group objects (so LR schedulers work on it), `state` holds the slow weights
 * (key `slow_buffer`), and the state dict carries the inner optimizer's state
 * dict under `extra.inner` together with `k`, `alpha` and the step counter. The
 * non-finite policy settings (`nonFinite`, `onNonFinite`) default to the inner
 * optimizer's and are passed to it at every step, since it is the inner step that
 * evaluates the closure and checks the gradients.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { Adam, Lookahead } from '@opt/core';
 * const w = new Parameter(new Float32Array([1, -1]), [2], 'w');
 * const opt = new Lookahead(new Adam([w], { lr: 1e-2 }), { k: 5, alpha: 0.5 });
 * for (let i = 0; i < 100; i++) {
 *   w.grad = new Float32Array([2 * w.data[0]!, 2 * w.data[1]!]);
 *   opt.step();
 * }
 * ```
 */
export class Lookahead<O extends object = object> extends OptimizerWrapper<O, LookaheadState> {
  /** Inner steps between synchronisations (an integer ≥ 1; may be changed between steps). */
  k: number;
  /** Slow-weight step size in [0, 1] (may be changed between steps). */
  alpha: number;
  /** Inner steps taken (skipped ones excluded); a synchronisation follows each multiple of k. */
  lookaheadStep = 0;

  /**
   * @param inner - the optimizer to wrap (any {@link Optimizer}); its parameters are the fast weights.
   * @param options - `k` (default 5), `alpha` (default 0.5), and optionally the non-finite settings.
   */
  constructor(inner: Optimizer<O>, options: Partial<LookaheadOptions> & OptimizerSettings = {}) {
    const k = checkInteger('Lookahead', 'k', options.k ?? 5, 1);
    const alpha = checkInRange('Lookahead', 'alpha', options.alpha ?? 0.5, 0, 1);
    super('Lookahead', inner, {
      nonFinite: options.nonFinite ?? inner?.nonFinite,
      onNonFinite: options.onNonFinite ?? inner?.onNonFinite,
    });
    this.k = k;
    this.alpha = alpha;
  }

  /** The slow weights start at the parameters' values when their group is added. */
  protected initState(p: Parameter): LookaheadState {
    return { slow_buffer: p.data.slice() };
  }

  protected override onGroupAdded(group: ParamGroup<O>): void {
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      this.stateFor(p, group);
    }
  }

  /** Synchronise one group: φ ← φ + α(θ − φ), θ ← φ, for every parameter (with or without a gradient). */
  protected updateGroup(group: ParamGroup<O>): void {
    const alpha = this.alpha;
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      lookaheadSync(this.stateFor(p, group).slow_buffer, p.data, alpha);
    }
  }

  /**
   * One inner step (the closure, if any, is evaluated by the inner optimizer and
   * its loss returned), then a synchronisation if this was the k-th counted step.
   */
  override step(closure?: Closure): number | undefined {
    const inner = this.inner;
    inner.nonFinite = this.nonFinite;
    inner.onNonFinite = this.onNonFinite;
    const loss = inner.step(closure);
    this.lastStepSkipped = inner.lastStepSkipped;
    if (this.lastStepSkipped) {
      this.skippedSteps++;
      return loss;
    }
    this.lookaheadStep++;
    if (this.lookaheadStep % this.k === 0) {
      for (let groupIndex = 0; groupIndex < this.paramGroups.length; groupIndex++) {
        const group = this.paramGroups[groupIndex]!;
        this.updateGroup(group);
      }
    }
    return loss;
  }

  protected wrapperState(): Record<string, unknown> {
    return { k: this.k, alpha: this.alpha, lookahead_step: this.lookaheadStep };
  }

  protected validateWrapperState(extra: Record<string, unknown>, where: string): void {
    try {
      checkInteger(where, 'extra.k', extra.k, 1);
      checkInRange(where, 'extra.alpha', extra.alpha, 0, 1);
      checkInteger(where, 'extra.lookahead_step', extra.lookahead_step, 0);
    } catch (e) {
      throw new StateDictError((e as Error).message);
    }
  }

  protected loadWrapperState(extra: Record<string, unknown>): void {
    this.k = extra.k as number;
    this.alpha = extra.alpha as number;
    this.lookaheadStep = extra.lookahead_step as number;
  }
}
