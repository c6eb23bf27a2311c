import { InvalidOptionError, type Parameter, ParamGroupError, StateDictError } from '@opt/tensor';
import {
  type Closure,
  type LoadStateDictOptions,
  Optimizer,
  type OptimizerSettings,
  type OptimizerStateDict,
  type ParamGroup,
  checkBoolean,
  checkInRange,
  checkInteger,
  checkPositive,
} from '@opt/core';
import type { LearnedCreateOptions, LearnedOptimizerFactory } from '../learnable.js';

/** Why a step of {@link HybridOptimizer} fell back to the traditional update. */
export type FallbackReason = 'non-finite' | 'explosion';

/** What {@link HybridOptimizerOptions.onFallback} receives. */
export interface FallbackReport {
  /** The hybrid step (1-based) that fell back. */
  step: number;
  /** `'non-finite'`: the learned update held NaN or ±∞; `'explosion'`: its norm exceeded `explodeFactor ×` the traditional one's. */
  reason: FallbackReason;
  /** ‖learned update‖ (NaN when non-finite). */
  learnedNorm: number;
  /** ‖traditional update‖. */
  traditionalNorm: number;
  /** Whether the optimizer has now switched to the traditional one for good (`permanent`). */
  switched: boolean;
}

/** Options of {@link HybridOptimizer}. */
export interface HybridOptimizerOptions extends OptimizerSettings {
  /**
   * Weight w of the learned update: a constant in [0, 1] or a function of the
   * step (1-based) returning one (a schedule, or a learned meta-parameter read
   * by reference, as {@link hybridOptimizerFactory} does). Default 1.
   */
  weight?: number | ((step: number) => number);
  /** A learned update whose norm exceeds this multiple of the traditional update's norm is rejected. Default 10. */
  explodeFactor?: number;
  /** After the first fallback, use only the traditional optimizer for the rest of training. Default false. */
  permanent?: boolean;
  /** Called on every fallback step. */
  onFallback?: (report: FallbackReport) => void;
}

/** Scratch of one parameter: its values before the step, and the learned update. */
interface Scratch {
  start: Float64Array;
  learned: Float64Array;
}

/**
 * Mixes a learned optimizer with a traditional one, with a safety net:
 *
 * ```
 * Δ_L = learned step from θ,  Δ_T = traditional step from θ      (both from the same θ and gradients)
 * θ ← θ + w·Δ_L + (1 − w)·Δ_T
 * unless Δ_L is non-finite or ‖Δ_L‖ > explodeFactor·‖Δ_T‖:  θ ← θ + Δ_T  (counted in fallbackSteps)
 * ```
 *
 * Both optimizers step every time (so the traditional one's moments stay warm
 * for a fallback); each update is obtained by snapshotting the parameters into
 * scratch allocated once at construction, letting the optimizer step, and
 * reading the difference, so any `@opt/core` optimizer can be either side. With
 * `permanent: true` the first fallback switches to the traditional optimizer
 * for good (the learned one is not stepped any more).
 *
 * The hybrid applies its own non-finite gradient policy, then runs the inner
 * optimizers with theirs set to `'ignore'` (the gradients were already checked).
 * Its state dict holds both optimizers' state dicts and its counters under
 * `extra`; a weight given as a function is code, not state, and is not saved.
 *
 * @example
 * ```ts
 * import { Adam, Parameter } from '@opt/core';
 * import { HybridOptimizer, MLPLearnedOptimizer } from '@opt/learned';
 * const w = new Parameter(new Float64Array([1, -1]), [2], 'w');
 * const opt = new HybridOptimizer(new MLPLearnedOptimizer([w], { weights: 'untrained' }), new Adam([w]), {
 *   weight: 0.5,
 *   onFallback: (r) => console.log(`step ${r.step}: ${r.reason}`),
 * });
 * w.grad = new Float64Array([0.1, -0.1]);
 * opt.step();
 * ```
 */
export class HybridOptimizer extends Optimizer<object> {
  /** The learned optimizer. */
  readonly learned: Optimizer<object>;
  /** The traditional optimizer (the fallback). */
  readonly traditional: Optimizer<object>;
  /** Weight of the learned update (constant or schedule); may be changed between steps. */
  weight: number | ((step: number) => number);
  /** Rejection threshold on ‖Δ_L‖ / ‖Δ_T‖. */
  explodeFactor: number;
  /** Whether the first fallback switches for good. */
  permanent: boolean;
  /** Fallback callback. */
  onFallback: ((report: FallbackReport) => void) | undefined;
  /** Steps taken (skipped ones excluded). */
  hybridStep = 0;
  /** Steps that used the traditional update because the learned one was rejected. */
  fallbackSteps = 0;
  /** True once a `permanent` fallback happened: only the traditional optimizer runs. */
  switched = false;
  private readonly scratch: Map<Parameter, Scratch>;
  private readonly ordered: Parameter[];

  /**
   * @param learned - the learned optimizer (any `Optimizer`).
   * @param traditional - the traditional optimizer, over the same parameters in the same order.
   * @param options - weight, explodeFactor, permanent, onFallback and the non-finite settings.
   */
  constructor(learned: Optimizer<object>, traditional: Optimizer<object>, options: HybridOptimizerOptions = {}) {
    const where = 'HybridOptimizer';
    if (!(learned instanceof Optimizer)) throw new InvalidOptionError('learned', learned, 'an Optimizer instance', where);
    if (!(traditional instanceof Optimizer)) throw new InvalidOptionError('traditional', traditional, 'an Optimizer instance', where);
    const weight = options.weight ?? 1;
    if (typeof weight !== 'function') checkInRange(where, 'weight', weight, 0, 1);
    const explodeFactor = checkPositive(where, 'explodeFactor', options.explodeFactor ?? 10);
    const permanent = checkBoolean(where, 'permanent', options.permanent ?? false);
    const lp = learned.paramGroups.flatMap((g) => g.params);
    const tp = traditional.paramGroups.flatMap((g) => g.params);
    if (lp.length !== tp.length || lp.some((p, i) => p !== tp[i])) {
      throw new ParamGroupError(`${where}: the learned and traditional optimizers must hold the same parameters in the same order`);
    }
    const settings: OptimizerSettings = {};
    if (options.nonFinite !== undefined) settings.nonFinite = options.nonFinite;
    if (options.onNonFinite !== undefined) settings.onNonFinite = options.onNonFinite;
    super('HybridOptimizer', learned.paramGroups.map((g) => ({ params: g.params })), {}, settings);
    this.learned = learned;
    this.traditional = traditional;
    this.weight = weight;
    this.explodeFactor = explodeFactor;
    this.permanent = permanent;
    this.onFallback = options.onFallback;
    this.ordered = lp;
    this.scratch = new Map(lp.map((p) => [p, { start: new Float64Array(p.size), learned: new Float64Array(p.size) }]));
    learned.nonFinite = 'ignore';
    traditional.nonFinite = 'ignore';
  }

  protected validateGroup(): void {}

  protected initState(): Record<string, never> {
    return {};
  }

  /** Unused: {@link HybridOptimizer.step} drives both optimizers over all groups at once. */
  protected updateGroup(_group: ParamGroup<object>): void {}

  /** The weight w at a step (1-based). */
  weightAt(step: number): number {
    const w = typeof this.weight === 'function' ? this.weight(step) : this.weight;
    return checkInRange('HybridOptimizer', 'weight', w, 0, 1);
  }

  /**
   * Evaluate the closure (if any), apply the non-finite policy, then take both
   * updates from the same point and combine them (or fall back).
   */
  override step(closure?: Closure): number | undefined {
    const loss = closure ? closure() : undefined;
    if (!this.checkGradients()) return loss;
    const step = ++this.hybridStep;
    if (this.switched) {
      this.traditional.step();
      return loss;
    }
    const w = this.weightAt(step);
    const params = this.ordered;
    for (let k = 0; k < params.length; k++) {
      const p = params[k]!;
      this.scratch.get(p)!.start.set(p.data);
    }
    this.learned.step();
    let learnedSq = 0;
    for (let k = 0; k < params.length; k++) {
      const p = params[k]!;
      const { start, learned } = this.scratch.get(p)!;
      const data = p.data;
      for (let i = 0; i < data.length; i++) {
        const d = data[i]! - start[i]!;
        learned[i] = d;
        learnedSq += d * d;
        data[i] = start[i]!;
      }
    }
    this.traditional.step();
    let traditionalSq = 0;
    for (let k = 0; k < params.length; k++) {
      const p = params[k]!;
      const { start } = this.scratch.get(p)!;
      const data = p.data;
      for (let i = 0; i < data.length; i++) {
        const d = data[i]! - start[i]!;
        traditionalSq += d * d;
      }
    }
    const limit = this.explodeFactor * this.explodeFactor * traditionalSq;
    // `!(a <= b)` is true for NaN too: a non-finite learned update is rejected by the same test.
    if (!Number.isFinite(learnedSq) || !(learnedSq <= limit)) {
      this.fallbackSteps++;
      if (this.permanent) this.switched = true;
      this.onFallback?.({
        step,
        reason: Number.isFinite(learnedSq) ? 'explosion' : 'non-finite',
        learnedNorm: Number.isFinite(learnedSq) ? Math.sqrt(learnedSq) : NaN,
        traditionalNorm: Math.sqrt(traditionalSq),
        switched: this.switched,
      });
      return loss;
    }
    if (w === 0) return loss;
    for (let k = 0; k < params.length; k++) {
      const p = params[k]!;
      const { start, learned } = this.scratch.get(p)!;
      const data = p.data;
      for (let i = 0; i < data.length; i++) {
        data[i] = start[i]! + w * learned[i]! + (1 - w) * (data[i]! - start[i]!);
      }
    }
    return loss;
  }

  /** Reset the gradients (shared by both optimizers). */
  override zeroGrad(options?: { setToNone?: boolean }): void {
    this.learned.zeroGrad(options);
  }

  protected override extraState(): unknown {
    return {
      hybrid_step: this.hybridStep,
      fallback_steps: this.fallbackSteps,
      switched: this.switched,
      explode_factor: this.explodeFactor,
      permanent: this.permanent,
      ...(typeof this.weight === 'number' ? { weight: this.weight } : {}),
      learned: this.learned.stateDict(),
      traditional: this.traditional.stateDict(),
    };
  }

  private loadOptions: LoadStateDictOptions = {};

  override loadStateDict(stateDict: OptimizerStateDict | Record<string, unknown>, options: LoadStateDictOptions = {}): void {
    this.loadOptions = options;
    try {
      super.loadStateDict(stateDict, options);
    } finally {
      this.loadOptions = {};
    }
  }

  protected override validateExtraState(extra: unknown, where: string): void {
    if (typeof extra !== 'object' || extra === null) throw new StateDictError(`${where}: "extra" must hold the hybrid counters and both optimizers' state dicts`);
    const e = extra as Record<string, unknown>;
    try {
      checkInteger(where, 'extra.hybrid_step', e.hybrid_step, 0);
      checkInteger(where, 'extra.fallback_steps', e.fallback_steps, 0);
      checkBoolean(where, 'extra.switched', e.switched);
      checkPositive(where, 'extra.explode_factor', e.explode_factor);
      checkBoolean(where, 'extra.permanent', e.permanent);
      if (e.weight !== undefined) checkInRange(where, 'extra.weight', e.weight, 0, 1);
    } catch (err) {
      throw new StateDictError((err as Error).message);
    }
    if (typeof e.learned !== 'object' || e.learned === null || typeof e.traditional !== 'object' || e.traditional === null) {
      throw new StateDictError(`${where}: extra.learned and extra.traditional must be the two optimizers' state dicts`);
    }
    // Last, and undone on failure, so the whole load stays all-or-nothing: the
    // learned load commits only if the traditional one succeeds too.
    const backup = this.learned.stateDict();
    this.learned.loadStateDict(e.learned as Record<string, unknown>, this.loadOptions);
    try {
      this.traditional.loadStateDict(e.traditional as Record<string, unknown>, this.loadOptions);
    } catch (err) {
      this.learned.loadStateDict(backup);
      throw err;
    }
  }

  protected override loadExtraState(extra: unknown): void {
    const e = extra as Record<string, unknown>;
    this.hybridStep = e.hybrid_step as number;
    this.fallbackSteps = e.fallback_steps as number;
    this.switched = e.switched as boolean;
    this.explodeFactor = e.explode_factor as number;
    this.permanent = e.permanent as boolean;
    if (typeof e.weight === 'number') this.weight = e.weight;
  }
}

/** Options of {@link hybridOptimizerFactory}. */
export interface HybridOptimizerFactoryOptions extends Omit<HybridOptimizerOptions, 'weight'> {
  /** Builds the traditional optimizer over the task's parameters (e.g. `(ps) => new Adam(ps, { lr: 1e-2 })`). */
  traditional: (params: Parameter[]) => Optimizer<object>;
  /** Initial mixing weight w0 ∈ (0, 1) (its logit is the extra meta-parameter). Default 0.5. */
  initialWeight?: number;
}

/**
 * A factory whose meta-parameters are the learned optimizer's followed by ONE
 * more: the logit of the mixing weight, `w = sigmoid(θ_last)`, read by reference
 * at every step like the rest.
 *
 * @param learned - the learned optimizer's factory.
 * @param options - the traditional optimizer's builder, the initial weight, and the hybrid's options.
 */
export function hybridOptimizerFactory(
  learned: LearnedOptimizerFactory,
  options: HybridOptimizerFactoryOptions,
): LearnedOptimizerFactory<HybridOptimizer> {
  const where = 'hybridOptimizerFactory';
  const w0 = checkInRange(where, 'initialWeight', options.initialWeight ?? 0.5, 0, 1, '()');
  const { traditional, initialWeight: _w, ...hybridOptions } = options;
  const count = learned.metaParamCount + 1;
  return {
    arch: `hybrid-${learned.arch}`,
    metaParamCount: count,
    initialMetaParams(): Float64Array {
      const out = new Float64Array(count);
      out.set(learned.initialMetaParams());
      out[count - 1] = Math.log(w0 / (1 - w0));
      return out;
    },
    create(params: Parameter[], metaParams: Float64Array, createOptions: LearnedCreateOptions = {}): HybridOptimizer {
      if (metaParams.length !== count) throw new StateDictError(`${where}: expected ${count} meta-parameters, got ${metaParams.length}`);
      const inner = learned.create(params, metaParams.subarray(0, count - 1), createOptions);
      return new HybridOptimizer(inner, traditional(params), {
        ...hybridOptions,
        weight: () => 1 / (1 + Math.exp(-metaParams[count - 1]!)),
      });
    },
  };
}
