import {
  type FloatArray,
  InvalidOptionError,
  Parameter,
  Rng,
  type RngState,
  StateDictError,
  axpy,
  centralizeRows,
  firstNonFinite,
  scaleInto,
  zerosLike,
} from '@opt/tensor';
import { type Closure, Optimizer, type OptimizerSettings, type ParamGroup } from './optimizer.js';
import { OptimizerWrapper } from './optimizers/lookahead.js';
import { checkBoolean, checkInteger, checkNonNegative } from './validation.js';

/** What the gradient utilities accept: a parameter, an iterable of parameters, or an optimizer (all its parameters). */
export type GradientTarget = Parameter | Iterable<Parameter> | Optimizer<object>;

/** The parameters of a {@link GradientTarget}, as an array (iterables may be one-shot generators). */
function paramsOf(target: GradientTarget, where: string): Parameter[] {
  if (target instanceof Parameter) return [target];
  const list = target instanceof Optimizer ? target.paramGroups.flatMap((g) => g.params) : [...target];
  for (const [i, p] of list.entries()) {
    if (!(p instanceof Parameter)) throw new InvalidOptionError(`params[${i}]`, p, 'a Parameter', where);
  }
  return list;
}

// ---------------------------------------------------------------------------
// Gradient centralisation
// ---------------------------------------------------------------------------

/** Options of {@link centralizeGradients}. */
export interface CentralizeOptions {
  /** Also centralise 1-D parameters (over their single dimension; biases, norms' scales). Default false. */
  includeVectors?: boolean;
  /** Only parameters with more than 3 dimensions (the paper's GC_conv variant: convolution kernels). Default false. */
  convOnly?: boolean;
}

/**
 * Gradient centralisation (Yong, Huang, Hua & Zhang, 2020), in place: every
 * gradient of a parameter with at least 2 dimensions loses its mean over all
 * dimensions but the first (for a weight of shape `[out, in, …]`, each output
 * unit's gradient gets zero mean):
 *
 * ```
 * g[i, …] ← g[i, …] − mean_{…} g[i, …]
 * ```
 *
 * Call it between the backward pass and `optimizer.step()`. Parameters without
 * a gradient are skipped. With `includeVectors`, 1-D gradients are centred over
 * their whole length (a 1-element gradient becomes 0).
 *
 * @param params - a parameter, an iterable of parameters, or an optimizer.
 * @param options - see {@link CentralizeOptions}.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { centralizeGradients } from '@opt/core';
 * const w = Parameter.zeros([2, 3], 'float64', 'w');
 * w.grad = new Float64Array([1, 2, 3, 10, 10, 40]);
 * centralizeGradients([w]); // w.grad = [-1, 0, 1, -10, -10, 20]
 * ```
 */
export function centralizeGradients(params: GradientTarget, options: CentralizeOptions = {}): void {
  const includeVectors = checkBoolean('centralizeGradients', 'includeVectors', options.includeVectors ?? false);
  const convOnly = checkBoolean('centralizeGradients', 'convOnly', options.convOnly ?? false);
  for (const p of paramsOf(params, 'centralizeGradients')) {
    const g = p.grad;
    if (g === null || g.length === 0) continue;
    const dims = p.shape.length;
    const eligible = convOnly ? dims > 3 : dims >= 2 || (includeVectors && dims === 1);
    if (!eligible) continue;
    const rows = dims === 1 ? 1 : p.shape[0]!;
    centralizeRows(g, rows, g.length / rows);
  }
}

// ---------------------------------------------------------------------------
// Finite checks
// ---------------------------------------------------------------------------

/** Where {@link findNonFiniteGradient} found a NaN or an infinity. */
export interface NonFiniteGradient {
  /** The parameter whose gradient holds it. */
  parameter: Parameter;
  /** Flat index of the first non-finite element of that gradient. */
  index: number;
  /** The offending value (NaN, Infinity or -Infinity). */
  value: number;
}

/** True when every gradient (of the parameters that have one) is free of NaN and ±Infinity. */
export function gradientsAreFinite(params: GradientTarget): boolean {
  return findNonFiniteGradient(params) === null;
}

/**
 * The first non-finite gradient element, in parameter order, or null when all
 * are finite. Parameters without a gradient are skipped.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { findNonFiniteGradient } from '@opt/core';
 * const w = new Parameter(new Float64Array(3), [3], 'w');
 * w.grad = new Float64Array([0.5, NaN, 1]);
 * const bad = findNonFiniteGradient([w]); // { parameter: w, index: 1, value: NaN }
 * if (bad) console.warn(`${bad.parameter.name}[${bad.index}] = ${bad.value}`);
 * ```
 */
export function findNonFiniteGradient(params: GradientTarget): NonFiniteGradient | null {
  for (const p of paramsOf(params, 'findNonFiniteGradient')) {
    const g = p.grad;
    if (g === null) continue;
    const index = firstNonFinite(g);
    if (index >= 0) return { parameter: p, index, value: g[index]! };
  }
  return null;
}

// ---------------------------------------------------------------------------
// Gradient accumulation
// ---------------------------------------------------------------------------

/** Options of {@link GradientAccumulator.apply}. */
export interface ApplyAccumulatedOptions {
  /** Write the mean over the added micro-batches (default true) rather than their sum. */
  average?: boolean;
}

/**
 * Accumulates gradients over micro-batches: call {@link GradientAccumulator.add}
 * after each backward pass, then, once {@link GradientAccumulator.ready},
 * {@link GradientAccumulator.apply} writes the mean (or sum) into every `p.grad`
 * and starts over:
 *
 * ```
 * add():   S_p ← S_p + g_p                      (parameters with a gradient)
 * apply(): g_p ← S_p / n   (or S_p);  S_p ← 0;  n ← 0
 * ```
 *
 * The sums are preallocated (one buffer per parameter, in its dtype) and
 * `add`/`apply` allocate nothing, except that `apply` gives a parameter whose
 * `grad` is `null` at that moment a buffer of its own (once, reused afterwards).
 * A parameter that received no gradient in any added micro-batch is left as it is.
 * With `average`, the divisor n is the number of `add()` calls, including calls
 * in which that parameter had no gradient (as dividing the loss by n would give).
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { GradientAccumulator, SGD } from '@opt/core';
 * const w = new Parameter(new Float32Array([1, 2]), [2], 'w');
 * const opt = new SGD([w], { lr: 0.1 });
 * const acc = new GradientAccumulator([w], { steps: 4 });
 * for (let i = 0; i < 8; i++) {
 *   opt.zeroGrad();
 *   w.grad = new Float32Array([2 * w.data[0]!, 2 * w.data[1]!]); // one micro-batch's backward
 *   acc.add();
 *   if (acc.ready) {
 *     acc.apply();   // p.grad ← mean of the 4 micro-batch gradients
 *     opt.step();
 *   }
 * }
 * ```
 */
export class GradientAccumulator {
  /** The parameters whose gradients are accumulated, in order. */
  readonly params: readonly Parameter[];
  /** Micro-batches per accumulated step: {@link GradientAccumulator.ready} turns true after this many `add()` calls. */
  readonly steps: number;
  private readonly sums: FloatArray[];
  private readonly seen: boolean[];
  private readonly own: Array<FloatArray | null>;
  private added = 0;

  /**
   * @param params - a parameter, an iterable of parameters, or an optimizer (all its parameters).
   * @param options - `steps`: the number of micro-batches per step (an integer ≥ 1).
   */
  constructor(params: GradientTarget, options: { steps: number }) {
    this.steps = checkInteger('GradientAccumulator', 'steps', options?.steps, 1);
    this.params = paramsOf(params, 'GradientAccumulator');
    this.sums = this.params.map((p) => zerosLike(p.data));
    this.seen = this.params.map(() => false);
    this.own = this.params.map(() => null);
  }

  /** Micro-batches added since the last `apply()` / `reset()`. */
  get count(): number {
    return this.added;
  }

  /** Whether at least `steps` micro-batches have been added. */
  get ready(): boolean {
    return this.added >= this.steps;
  }

  /** Add every parameter's current gradient into the sums (parameters without a gradient add nothing). */
  add(): void {
    const params = this.params;
    for (let i = 0; i < params.length; i++) {
      const g = params[i]!.grad;
      if (g === null) continue;
      axpy(this.sums[i]!, 1, g);
      this.seen[i] = true;
    }
    this.added++;
  }

  /**
   * Write the accumulated gradient into every `p.grad` (the mean over the added
   * micro-batches, or the sum with `average: false`) and reset. Returns false,
   * touching nothing, when nothing was added.
   */
  apply(options: ApplyAccumulatedOptions = {}): boolean {
    if (this.added === 0) return false;
    const factor = options.average === false ? 1 : 1 / this.added;
    const params = this.params;
    for (let i = 0; i < params.length; i++) {
      if (!this.seen[i]) continue;
      const p = params[i]!;
      let out = p.grad;
      if (out === null) {
        out = this.own[i] ?? zerosLike(p.data);
        this.own[i] = out;
        p.grad = out;
      }
      scaleInto(out, factor, this.sums[i]!);
    }
    this.reset();
    return true;
  }

  /** Drop the accumulated sums without writing them. */
  reset(): void {
    for (let i = 0; i < this.sums.length; i++) {
      if (this.seen[i]) this.sums[i]!.fill(0);
      this.seen[i] = false;
    }
    this.added = 0;
  }
}

/** Options of {@link AccumulatingOptimizer}. */
export interface AccumulatingOptions {
  /** Micro-batches (calls to `step()`) per inner optimizer step; an integer ≥ 1. */
  steps: number;
  /** Step with the mean of the micro-batch gradients (default true) rather than their sum. */
  average?: boolean;
}

/** Per-parameter state of {@link AccumulatingOptimizer}: the running gradient sum. */
export interface AccumulationState {
  [key: string]: FloatArray | boolean;
  /** Σ of the gradients added since the last inner step. */
  grad_sum: FloatArray;
  /** Whether any added micro-batch had a gradient for this parameter. */
  has_grad: boolean;
}

/**
 * Gradient accumulation as an optimizer: wraps `inner` so that `step()` only
 * steps it every `steps` calls. Each call adds the current gradients to a
 * running sum (the training loop keeps its usual `zeroGrad(); backward(); step()`
 * shape); the `steps`-th call writes the mean (or the sum) into `p.grad`, steps
 * the inner optimizer and starts over.
 *
 * ```
 * every call:        S_p ← S_p + g_p;  n ← n + 1
 * when n = steps:    g_p ← S_p / n;  inner.step();  S ← 0;  n ← 0
 * ```
 *
 * A micro-batch whose gradients are not finite is handled by the wrapper's
 * non-finite policy before it is added: `'throw'` (default) throws and adds
 * nothing, `'skip'` drops that micro-batch (it does not count towards `steps`),
 * `'ignore'` adds it. It is an {@link OptimizerWrapper}: `paramGroups` are the
 * inner's (schedulers see every inner step's options, but are usually stepped
 * only when {@link AccumulatingOptimizer.lastStepApplied}), and the state dict
 * holds the partial sums, so a checkpoint taken mid-accumulation resumes exactly.
 * Wrap closure-free optimizers: the inner step runs without a closure.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { AccumulatingOptimizer, SGD } from '@opt/core';
 * const w = new Parameter(new Float64Array([1]), [1], 'w');
 * const opt = new AccumulatingOptimizer(new SGD([w], { lr: 0.1 }), { steps: 4 });
 * for (const x of [1, 2, 3, 4]) {
 *   w.grad = new Float64Array([x]);   // one micro-batch's gradient
 *   opt.step();                        // the 4th call steps SGD with the mean, 2.5
 * }
 * ```
 */
export class AccumulatingOptimizer<O extends object = object> extends OptimizerWrapper<O, AccumulationState> {
  /** Micro-batches per inner step (may be changed between steps). */
  steps: number;
  /** Mean (true) or sum (false) of the micro-batch gradients. */
  average: boolean;
  /** Micro-batches accumulated since the last inner step. */
  accumulated = 0;
  /** Whether the last `step()` call stepped the inner optimizer. */
  lastStepApplied = false;

  /**
   * @param inner - the optimizer to step every `steps` calls.
   * @param options - `steps`, `average`, and the wrapper's non-finite settings.
   */
  constructor(inner: Optimizer<O>, options: AccumulatingOptions & OptimizerSettings) {
    const steps = checkInteger('AccumulatingOptimizer', 'steps', options?.steps, 1);
    const average = checkBoolean('AccumulatingOptimizer', 'average', options.average ?? true);
    super('AccumulatingOptimizer', inner, { nonFinite: options.nonFinite, onNonFinite: options.onNonFinite });
    this.steps = steps;
    this.average = average;
  }

  protected initState(p: Parameter): AccumulationState {
    return { grad_sum: zerosLike(p.data), has_grad: false };
  }

  protected override onGroupAdded(group: ParamGroup<O>): void {
    for (const p of group.params) this.stateFor(p, group);
  }

  /** Add the group's current gradients into the running sums. */
  protected updateGroup(group: ParamGroup<O>): void {
    for (const p of group.params) {
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      axpy(s.grad_sum, 1, g);
      s.has_grad = true;
    }
  }

  /**
   * Add this micro-batch (after evaluating the closure, whose loss is returned);
   * on the `steps`-th, write the accumulated gradient and step the inner optimizer.
   */
  override step(closure?: Closure): number | undefined {
    const loss = closure ? closure() : undefined;
    this.lastStepApplied = false;
    if (!this.checkGradients()) return loss;
    for (const group of this.paramGroups) this.updateGroup(group);
    this.accumulated++;
    if (this.accumulated >= this.steps) this.flush();
    return loss;
  }

  /**
   * Step the inner optimizer now with what has been accumulated (e.g. the last,
   * shorter accumulation of an epoch). Does nothing when nothing was accumulated.
   */
  flush(): void {
    if (this.accumulated === 0) return;
    const factor = this.average ? 1 / this.accumulated : 1;
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        const s = this.stateFor(p, group);
        if (!s.has_grad) continue;
        // A parameter without a gradient in the last micro-batch needs a buffer; only then is one allocated.
        const out = p.grad ?? (p.grad = zerosLike(p.data));
        scaleInto(out, factor, s.grad_sum);
        s.grad_sum.fill(0);
        s.has_grad = false;
      }
    }
    this.accumulated = 0;
    this.inner.step();
    this.lastStepApplied = true;
  }

  protected wrapperState(): Record<string, unknown> {
    return { steps: this.steps, average: this.average, accumulated: this.accumulated };
  }

  protected validateWrapperState(extra: Record<string, unknown>, where: string): void {
    try {
      checkInteger(where, 'extra.steps', extra.steps, 1);
      checkBoolean(where, 'extra.average', extra.average);
      checkInteger(where, 'extra.accumulated', extra.accumulated, 0);
    } catch (e) {
      throw new StateDictError((e as Error).message);
    }
  }

  protected loadWrapperState(extra: Record<string, unknown>): void {
    this.steps = extra.steps as number;
    this.average = extra.average as boolean;
    this.accumulated = extra.accumulated as number;
  }
}

// ---------------------------------------------------------------------------
// Gradient noise
// ---------------------------------------------------------------------------

/** Options of {@link GradientNoise}. */
export interface GradientNoiseOptions {
  /** η, the initial noise variance. The paper tries 0.01, 0.3 and 1.0. Default 0.01. */
  eta: number;
  /** γ, the decay exponent of the variance. Default 0.55 (the paper's). */
  gamma: number;
  /** Seed of the noise stream (ignored when `rng` is given). Default 0. */
  seed: number;
  /** A generator to draw from instead of a fresh `new Rng(seed)`. */
  rng?: Rng;
}

/** The checkpointable state of a {@link GradientNoise}. */
export interface GradientNoiseState {
  /** Noise steps taken so far. */
  t: number;
  eta: number;
  gamma: number;
  /** The generator's state. */
  rng: RngState;
}

/**
 * Annealed Gaussian gradient noise (Neelakantan, Vilnis, Le, Sutskever, Kaiser,
 * Kurach & Martens, 2015, "Adding Gradient Noise Improves Learning for Very Deep
 * Networks"): before each optimizer step, every gradient element gets independent
 * noise whose variance decays with the step t = 0, 1, 2, …:
 *
 * ```
 * σ²_t = η / (1 + t)^γ
 * g ← g + N(0, σ²_t)
 * ```
 *
 * Draws come from the library's seedable {@link Rng} in parameter order, so a
 * run is reproducible from the seed, and {@link GradientNoise.stateDict} /
 * {@link GradientNoise.loadStateDict} resume the exact noise stream.
 * Parameters without a gradient get no noise (and consume no draws).
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { GradientNoise, SGD } from '@opt/core';
 * const w = new Parameter(new Float32Array([1, -1]), [2], 'w');
 * const opt = new SGD([w], { lr: 0.1 });
 * const noise = new GradientNoise(opt, { eta: 0.3, seed: 1 }); // every parameter of opt
 * for (let t = 0; t < 10; t++) {
 *   w.grad = new Float32Array([2 * w.data[0]!, 2 * w.data[1]!]);
 *   noise.apply();   // g ← g + N(0, 0.3/(1 + t)^0.55)
 *   opt.step();
 * }
 * ```
 */
export class GradientNoise {
  /** The parameters receiving noise. */
  readonly params: readonly Parameter[];
  /** Initial variance η (may be changed). */
  eta: number;
  /** Decay exponent γ (may be changed). */
  gamma: number;
  /** Steps taken: the next `apply()` uses σ²_t with this t. */
  t = 0;
  /** The noise generator. */
  readonly rng: Rng;

  /**
   * @param params - a parameter, an iterable of parameters, or an optimizer (all its parameters).
   * @param options - η (default 0.01), γ (default 0.55), seed (default 0) or a generator.
   */
  constructor(params: GradientTarget, options: Partial<GradientNoiseOptions> = {}) {
    this.eta = checkNonNegative('GradientNoise', 'eta', options.eta ?? 0.01);
    this.gamma = checkNonNegative('GradientNoise', 'gamma', options.gamma ?? 0.55);
    const seed = options.seed ?? 0;
    if (options.rng !== undefined && !(options.rng instanceof Rng)) {
      throw new InvalidOptionError('rng', options.rng, 'an Rng instance', 'GradientNoise');
    }
    this.rng = options.rng ?? new Rng(seed);
    this.params = paramsOf(params, 'GradientNoise');
  }

  /** The noise variance σ²_t = η/(1 + t)^γ at step t (default: the next step's). */
  variance(t: number = this.t): number {
    return this.eta / (1 + t) ** this.gamma;
  }

  /** Add N(0, σ²_t) to every gradient element, advance t, and return the σ_t used. */
  apply(): number {
    const sigma = Math.sqrt(this.variance(this.t));
    for (const p of this.params) {
      const g = p.grad;
      if (g !== null) this.rng.addNormal(g, sigma);
    }
    this.t++;
    return sigma;
  }

  /** The step counter, the hyper-parameters and the generator state (JSON data). */
  stateDict(): GradientNoiseState {
    return { t: this.t, eta: this.eta, gamma: this.gamma, rng: this.rng.getState() };
  }

  /** Restore a state from {@link GradientNoise.stateDict}, all-or-nothing (`StateDictError` on bad data). */
  loadStateDict(state: GradientNoiseState): void {
    const where = 'GradientNoise.loadStateDict';
    if (typeof state !== 'object' || state === null) throw new StateDictError(`${where}: expected an object`);
    try {
      checkInteger(where, 't', state.t, 0);
      checkNonNegative(where, 'eta', state.eta);
      checkNonNegative(where, 'gamma', state.gamma);
    } catch (e) {
      throw new StateDictError((e as Error).message);
    }
    // Validates the generator state without touching the live generator.
    const probe = new Rng();
    probe.setState(state.rng);
    this.rng.setState(state.rng);
    this.t = state.t;
    this.eta = state.eta;
    this.gamma = state.gamma;
  }
}
