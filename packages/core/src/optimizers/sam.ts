import {
  ClosureRequiredError,
  type FloatArray,
  OptError,
  Parameter,
  StateDictError,
  samGradNormSq,
  samPerturb,
  zerosLike,
} from '@opt/tensor';
import type { Closure, Optimizer, OptimizerSettings, ParamGroup, ParamGroupInput, ParamsArg } from '../optimizer.js';
import type { OptimizerStateDict, ParamState } from '../state-dict.js';
import { checkBoolean, checkNonNegative } from '../validation.js';
import { OptimizerWrapper } from './lookahead.js';

/** Hyper-parameters SAM adds to the base optimizer's (settable per group). */
export interface SAMOptions {
  /** Radius ρ of the neighbourhood the ascent step explores. Default 0.05 (SAM), 0.5 (ASAM). */
  rho: number;
  /** Adaptive SAM: scale the neighbourhood by the weights' magnitudes (Kwon et al., 2021). Default false (SAM), true (ASAM). */
  adaptive: boolean;
  /** ASAM's η in the operator `T_w = |w| + η` (only used when `adaptive`). Default 0 (SAM, as davda54/sam), 0.01 (ASAM). */
  eta: number;
}

/** A base optimizer class, as `SAM` takes it: constructed by SAM from the parameters and the base options. */
export type BaseOptimizerClass<O extends object> = new (params: ParamsArg<O>, options: Partial<O> & OptimizerSettings) => Optimizer<O>;

const SAM_KEYS = ['rho', 'adaptive', 'eta'] as const;

/**
 * Sharpness-Aware Minimization (Foret, Kleiner, Mobahi & Neyshabur, 2021) around
 * a base optimizer, with the adaptive variant ASAM (Kwon, Kim, Park & Choi, 2021),
 * following the reference implementation davda54/sam:
 * `new SAM(params, Adam, { rho, adaptive, ...adamOptions })` builds the base
 * optimizer from the same parameters and its options. One `step(closure)`:
 *
 * ```
 * (gradients g at w must already be computed, e.g. by a first closure call)
 * T   = adaptive ? |w| + η : 1                        (element-wise)
 * e   = ρ · T²·g / (‖T·g‖₂ + 1e-12)                   (norm over all parameters)
 * w   ← w + e                                          (first step: ascent)
 * loss, g ← closure()                                  (gradients at w + e)
 * w   ← the saved w; base.step() with g                (second step)
 * ```
 *
 * `ρ`, `adaptive` and `η` may differ per group; the norm is global. The original
 * weights are copied before the ascent and restored exactly (not by subtracting e).
 * Parameters without a gradient are neither perturbed nor counted in the norm.
 *
 * `step()` needs the closure ({@link ClosureRequiredError} otherwise) and returns
 * the loss it computes at `w + e`. To drive the passes yourself, call
 * {@link SAM.firstStep}, compute the gradients at the perturbed weights, then
 * {@link SAM.secondStep}.
 *
 * SAM is an {@link OptimizerWrapper}: `paramGroups` are the base optimizer's own
 * group objects, carrying `rho`, `adaptive` and `eta` too (so schedulers work and
 * the options are saved), and the state dict carries the base's under
 * `extra.inner`. The non-finite policy is SAM's own and is applied to the
 * gradients of both passes (the base optimizer is built with `nonFinite: 'ignore'`):
 * with `'skip'`, a non-finite gradient at w skips the step before anything moves,
 * and one at w + e restores w and skips the base step.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { SAM, SGD } from '@opt/core';
 * const w = new Parameter(new Float64Array([1, -2]), [2], 'w');
 * const closure = () => {
 *   w.grad = new Float64Array([2 * w.data[0]!, 2 * w.data[1]!]);
 *   return w.data[0]! ** 2 + w.data[1]! ** 2;
 * };
 * const opt = new SAM([w], SGD, { rho: 0.05, lr: 0.1, momentum: 0.9 });
 * for (let i = 0; i < 50; i++) {
 *   closure();           // gradients at w
 *   opt.step(closure);   // ascent, gradients at w + e, restore, SGD step
 * }
 * ```
 */
/**
 * SAM zeroes gradients between its passes in place rather than setting them to
 * null: a closure may write into gradient buffers it captured (`p.ensureGrad()`
 * once, outside the loop), and those must stay the parameters' gradients.
 */
const KEEP_GRAD_BUFFERS = { setToNone: false } as const;

export class SAM<O extends object = object> extends OptimizerWrapper<O & SAMOptions, ParamState> {
  private readonly saved = new Map<Parameter, { old: FloatArray; active: boolean }>();
  private phase: 'idle' | 'perturbed' | 'skipped' = 'idle';
  private gradNorm = 0;

  /**
   * @param params - parameters, named parameters or groups (groups may set `rho`, `adaptive`, `eta` and base options).
   * @param BaseClass - the base optimizer's class (e.g. `SGD`, `Adam`).
   * @param options - `rho`, `adaptive`, `eta`, the non-finite settings, and every option of the base optimizer.
   * @param name - the class name written into state dicts; subclasses pass theirs (`'ASAM'`).
   */
  constructor(
    params: ParamsArg<O & SAMOptions>,
    BaseClass: BaseOptimizerClass<O>,
    options: Partial<SAMOptions> & Partial<O> & OptimizerSettings = {},
    name = 'SAM',
  ) {
    const { rho = 0.05, adaptive = false, eta = 0, nonFinite, onNonFinite, ...baseOptions } = options as Partial<SAMOptions> &
      OptimizerSettings &
      Record<string, unknown>;
    validateSamOptions(name, { rho, adaptive, eta });
    const list = [...(params as Iterable<unknown>)];
    const isGroups =
      list.length > 0 &&
      list.every((x) => typeof x === 'object' && x !== null && !(x instanceof Parameter) && !Array.isArray(x) && 'params' in x);
    const groups = (isGroups ? list : [{ params: list }]) as Array<Record<string, unknown> & { params: unknown }>;
    const samPerGroup = groups.map((g) => {
      const o = { rho: (g.rho as number) ?? rho, adaptive: (g.adaptive as boolean) ?? adaptive, eta: (g.eta as number) ?? eta };
      validateSamOptions(name, o);
      return o;
    });
    const baseGroups = groups.map((g) => stripSamKeys(g));
    // SAM applies the non-finite policy to both passes itself.
    const base = new BaseClass(baseGroups as unknown as ParamsArg<O>, { ...baseOptions, nonFinite: 'ignore' } as unknown as Partial<O> & OptimizerSettings);
    base.paramGroups.forEach((g, i) => Object.assign(g, samPerGroup[i]));
    const defaults = { ...base.defaults, rho, adaptive, eta } as O & SAMOptions;
    super(name, base as unknown as Optimizer<O & SAMOptions>, { nonFinite, onNonFinite }, defaults);
  }

  /** The base optimizer (the same object as `inner`). */
  get baseOptimizer(): Optimizer<O> {
    return this.inner as unknown as Optimizer<O>;
  }

  /** True between {@link SAM.firstStep} and {@link SAM.secondStep}: the parameters hold w + e. */
  get perturbed(): boolean {
    return this.phase === 'perturbed';
  }

  protected override validateGroup(options: Readonly<O & SAMOptions>): void {
    validateSamOptions(this.name, options);
    super.validateGroup(options);
  }

  /** Add a group: `rho`, `adaptive`, `eta` stay on SAM's side, the rest goes to the base optimizer. */
  override addParamGroup(group: ParamGroupInput<O & SAMOptions>): void {
    if ((this.inner as Optimizer<O & SAMOptions> | undefined) === undefined) {
      super.addParamGroup(group);
      return;
    }
    const g = group as Partial<SAMOptions>;
    const sam = { rho: g.rho ?? this.defaults.rho, adaptive: g.adaptive ?? this.defaults.adaptive, eta: g.eta ?? this.defaults.eta };
    validateSamOptions(this.name, sam);
    super.addParamGroup(stripSamKeys(group as Record<string, unknown> & { params: unknown }) as ParamGroupInput<O & SAMOptions>);
    Object.assign(this.paramGroups[this.paramGroups.length - 1]!, sam);
  }

  /** SAM keeps no persistent per-parameter state (the saved weights live only between the two passes). */
  protected initState(): ParamState {
    return {};
  }

  /** The ascent of one group, w ← w + ρ·T²g/(‖Tg‖ + 1e-12), with the global norm computed by firstStep. */
  protected updateGroup(group: ParamGroup<O & SAMOptions>): void {
    const rho = group.rho;
    const adaptive = group.adaptive;
    const eta = group.eta;
    const scale = rho / (this.gradNorm + 1e-12);
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      let entry = this.saved.get(p);
      if (entry === undefined) {
        entry = { old: zerosLike(p.data), active: false };
        this.saved.set(p, entry);
      }
      samPerturb(p.data, g, entry.old, scale, adaptive, eta);
      entry.active = true;
    }
  }

  /**
   * The first pass: check the gradients (non-finite policy), save w and move to
   * w + e. Returns false when the step is skipped (policy `'skip'`); then
   * nothing moved and the matching {@link SAM.secondStep} does nothing.
   *
   * @param options - `zeroGrad`: reset the gradients to zero afterwards, in place (default false).
   */
  firstStep(options?: { zeroGrad?: boolean }): boolean {
    return this.ascend(options?.zeroGrad === true);
  }

  /**
   * The second pass: restore w exactly, check the gradients now in `p.grad`
   * (computed at w + e) and take the base optimizer's step with them. Returns
   * false when the base step was skipped (non-finite gradient under `'skip'`, or
   * the first pass was skipped).
   *
   * @param options - `zeroGrad`: reset the gradients to zero afterwards, in place (default false).
   */
  secondStep(options?: { zeroGrad?: boolean }): boolean {
    return this.descend(options?.zeroGrad === true);
  }

  /**
   * Both passes: the current gradients (at w) give the ascent, `closure` is
   * evaluated at w + e (gradients reset before it), then w is restored and the
   * base optimizer steps. Returns the closure's loss (at w + e), or undefined
   * when the step was skipped before the closure ran.
   */
  override step(closure?: Closure): number | undefined {
    if (closure === undefined) {
      throw new ClosureRequiredError(this.name, 'the gradient is re-evaluated at the perturbed weights w + e(w)');
    }
    if (!this.ascend(true)) {
      this.phase = 'idle';
      return undefined;
    }
    let loss: number;
    try {
      loss = closure();
    } catch (e) {
      this.restore();
      throw e;
    }
    this.descend(false);
    return loss;
  }

  /** Not available while perturbed (the parameters then hold w + e, not w). */
  override stateDict(): OptimizerStateDict {
    if (this.phase === 'perturbed') {
      throw new StateDictError(`${this.name}.stateDict(): the parameters are perturbed (w + e); call secondStep() first`);
    }
    return super.stateDict();
  }

  protected wrapperState(): Record<string, unknown> {
    return {};
  }

  /** `rho`, `adaptive` and `eta` are group options, checked with the groups; nothing else is optimizer-wide. */
  protected validateWrapperState(): void {}

  protected loadWrapperState(): void {
    this.phase = 'idle';
  }

  private ascend(zeroGrad: boolean): boolean {
    if (this.phase === 'perturbed') {
      throw new OptError('SAM_ORDER', `${this.name}.firstStep(): the parameters are already perturbed; call secondStep() first`);
    }
    if (!this.checkGradients()) {
      this.phase = 'skipped';
      return false;
    }
    let sumSq = 0;
    for (let groupIndex = 0; groupIndex < this.paramGroups.length; groupIndex++) {
      const group = this.paramGroups[groupIndex]!;
      const adaptive = group.adaptive;
      const eta = group.eta;
      for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
        const p = group.params[pIndex]!;
        const g = p.grad;
        if (g !== null) sumSq += samGradNormSq(p.data, g, adaptive, eta);
      }
    }
    this.gradNorm = Math.sqrt(sumSq);
    for (let groupIndex = 0; groupIndex < this.paramGroups.length; groupIndex++) {
      const group = this.paramGroups[groupIndex]!;
      this.updateGroup(group);
    }
    this.phase = 'perturbed';
    if (zeroGrad) this.zeroGrad(KEEP_GRAD_BUFFERS);
    return true;
  }

  private descend(zeroGrad: boolean): boolean {
    if (this.phase === 'skipped') {
      this.phase = 'idle';
      if (zeroGrad) this.zeroGrad(KEEP_GRAD_BUFFERS);
      return false;
    }
    if (this.phase !== 'perturbed') {
      throw new OptError('SAM_ORDER', `${this.name}.secondStep(): call firstStep() first`);
    }
    this.restore();
    if (!this.checkGradients()) return false;
    this.inner.step();
    if (zeroGrad) this.zeroGrad(KEEP_GRAD_BUFFERS);
    return true;
  }

  private restore(): void {
    for (let groupIndex = 0; groupIndex < this.paramGroups.length; groupIndex++) {
      const group = this.paramGroups[groupIndex]!;
      for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
        const p = group.params[pIndex]!;
        const entry = this.saved.get(p);
        if (entry !== undefined && entry.active) {
          p.data.set(entry.old);
          entry.active = false;
        }
      }
    }
    this.phase = 'idle';
  }
}

/**
 * Adaptive SAM (Kwon, Kim, Park & Choi, 2021): {@link SAM} with `adaptive: true`
 * and the ASAM paper's defaults `rho = 0.5`, `eta = 0.01`. The neighbourhood is
 * scaled element-wise by `T_w = |w| + η`, which makes the sharpness measure
 * invariant to rescaling the weights:
 *
 * ```
 * e = ρ · T_w²·g / ‖T_w·g‖₂
 * ```
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { ASAM, SGD } from '@opt/core';
 * const w = new Parameter(new Float32Array([0.5, -1.5]), [2], 'w');
 * const closure = () => {
 *   w.grad = new Float32Array([2 * w.data[0]!, 2 * w.data[1]!]);
 *   return w.data[0]! ** 2 + w.data[1]! ** 2;
 * };
 * const opt = new ASAM([w], SGD, { lr: 0.05 });
 * closure();
 * opt.step(closure);
 * ```
 */
export class ASAM<O extends object = object> extends SAM<O> {
  constructor(
    params: ParamsArg<O & SAMOptions>,
    BaseClass: BaseOptimizerClass<O>,
    options: Partial<SAMOptions> & Partial<O> & OptimizerSettings = {},
  ) {
    super(
      params,
      BaseClass,
      { ...options, rho: options.rho ?? 0.5, adaptive: options.adaptive ?? true, eta: options.eta ?? 0.01 },
      'ASAM',
    );
  }
}

function validateSamOptions(where: string, o: Readonly<Partial<SAMOptions>>): void {
  checkNonNegative(where, 'rho', o.rho);
  checkBoolean(where, 'adaptive', o.adaptive);
  checkNonNegative(where, 'eta', o.eta);
}

function stripSamKeys(group: Record<string, unknown> & { params: unknown }): Record<string, unknown> & { params: unknown } {
  const out: Record<string, unknown> & { params: unknown } = { params: group.params };
  for (const [key, value] of Object.entries(group)) {
    if (!(SAM_KEYS as readonly string[]).includes(key)) out[key] = value;
  }
  return out;
}
