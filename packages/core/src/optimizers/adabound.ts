import { type FloatArray, InvalidOptionError, type Parameter, StateDictError, adaboundUpdate, zerosLike } from '@opt/tensor';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamGroupInput, type ParamsArg } from '../optimizer.js';
import { checkBetas, checkBoolean, checkInRange, checkNonNegative } from '../validation.js';

/** Hyper-parameters of {@link AdaBound} and {@link AMSBound} (the reference's names in camelCase). */
export interface AdaBoundOptions {
  /** Adam learning rate; its value when the group is created is the base the bounds scale by. Default 1e-3. */
  lr: number;
  /** Decay rates of the first and second moment estimates. Default [0.9, 0.999]. */
  betas: [number, number];
  /** The SGD learning rate both bounds converge to (at the base learning rate). Default 0.1. */
  finalLr: number;
  /** Convergence speed of the bound functions, in [0, 1). Default 1e-3. */
  gamma: number;
  /** Added to √v (uncorrected) in the denominator; ≥ 0 as in the reference. Default 1e-8. */
  eps: number;
  /** L2 penalty added to the gradient (coupled, as the reference). Default 0. */
  weightDecay: number;
  /** Use the running maximum of the second moment (AMSBound). Default false (true for {@link AMSBound}). */
  amsbound: boolean;
  /** Maximize the objective instead of minimizing. Default false. */
  maximize: boolean;
}

/** Per-parameter state of {@link AdaBound}: Adam's, with `max_exp_avg_sq` when `amsbound` is on. */
export interface AdaBoundState {
  [key: string]: number | FloatArray;
  step: number;
  exp_avg: FloatArray;
  exp_avg_sq: FloatArray;
}

const DEFAULTS: AdaBoundOptions = {
  lr: 1e-3,
  betas: [0.9, 0.999],
  finalLr: 0.1,
  gamma: 1e-3,
  eps: 1e-8,
  weightDecay: 0,
  amsbound: false,
  maximize: false,
};

/** Each group's learning rate when it was added: the reference's `base_lrs`. Keyed by the group object. */
const BASE_LRS = new WeakMap<object, number>();

/**
 * AdaBound (Luo, Xiong, Liu & Sun 2019, "Adaptive Gradient Methods with Dynamic
 * Bound of Learning Rate", ICLR), following the authors' reference code
 * (`Luolc/AdaBound`): Adam whose element-wise learning rate is clipped into a
 * band that narrows to `finalLr`, so training moves from Adam to SGD. With t
 * the parameter's step count and lr₀ the group's learning rate at creation:
 *
 * ```
 * g ← ±∇f(p) + weightDecay·p
 * m ← β1·m + (1 − β1)·g
 * v ← β2·v + (1 − β2)·g²                         (AMSBound: v̂ ← max(v̂, v), used below in place of v)
 * f ← finalLr · lr / lr₀
 * lower ← f·(1 − 1/(γ·t + 1)),  upper ← f·(1 + 1/(γ·t))
 * η ← clamp(lr·√(1 − β2^t)/(1 − β1^t) / (√v + eps), lower, upper)
 * p ← p − η·m
 * ```
 *
 * Notes on the reference, reproduced on purpose:
 * - the upper bound uses `1/(γ·t)`, not `1/(γ·t + 1)` (the paper's bound functions agree);
 * - `f` scales with `lr / lr₀`, so a learning-rate schedule moves the bounds
 *   too (the reference records lr₀ at construction; here each group records it
 *   when added, and it travels in the state dict's `extra.base_lrs`);
 * - eps is added to the uncorrected √v, the bias corrections live in the step size.
 *
 * `weightDecay` is the coupled L2 penalty of the reference's `AdaBound` (not its `AdaBoundW`).
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { AdaBound } from '@opt/core';
 * const w = new Parameter(new Float32Array([0.5, -0.5]), [2], 'w');
 * const opt = new AdaBound([w], { lr: 1e-3, finalLr: 0.1 });
 * w.grad = new Float32Array([0.1, -0.3]);
 * opt.step();
 * ```
 */
export class AdaBound extends Optimizer<AdaBoundOptions, AdaBoundState> {
  /** The name written into state dicts. */
  protected static readonly optimizerName: string = 'AdaBound';

  constructor(params: ParamsArg<AdaBoundOptions>, options: Partial<AdaBoundOptions> & OptimizerSettings = {}) {
    super((new.target as typeof AdaBound).optimizerName, params, DEFAULTS, options);
  }

  /**
   * Add a group; its learning rate at this moment becomes the base the bounds
   * scale by, so it must be positive (the reference divides by it).
   */
  override addParamGroup(group: ParamGroupInput<AdaBoundOptions>): void {
    const lr = group.lr ?? this.defaults.lr;
    if (typeof lr === 'number' && !(lr > 0)) {
      throw new InvalidOptionError('lr', lr, 'a finite number > 0 when the group is created (the bounds scale by lr / initial lr)', this.name);
    }
    super.addParamGroup(group);
  }

  protected override onGroupAdded(group: ParamGroup<AdaBoundOptions>): void {
    BASE_LRS.set(group, group.lr);
  }

  protected validateGroup(o: Readonly<AdaBoundOptions>): void {
    const where = this.name;
    checkNonNegative(where, 'lr', o.lr);
    checkBetas(where, o.betas);
    checkNonNegative(where, 'finalLr', o.finalLr);
    checkInRange(where, 'gamma', o.gamma, 0, 1, '[)');
    checkNonNegative(where, 'eps', o.eps);
    checkNonNegative(where, 'weightDecay', o.weightDecay);
    checkBoolean(where, 'amsbound', o.amsbound);
    checkBoolean(where, 'maximize', o.maximize);
  }

  protected initState(p: Parameter, group: ParamGroup<AdaBoundOptions>): AdaBoundState {
    const s: AdaBoundState = { step: 0, exp_avg: zerosLike(p.data), exp_avg_sq: zerosLike(p.data) };
    if (group.amsbound) s.max_exp_avg_sq = zerosLike(p.data);
    return s;
  }

  protected updateGroup(group: ParamGroup<AdaBoundOptions>): void {
    const { lr, betas, finalLr, gamma, eps, weightDecay, amsbound, maximize } = group;
    const beta1 = betas[0];
    const beta2 = betas[1];
    const f = (finalLr * lr) / BASE_LRS.get(group)!;
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      const t = ++s.step;
      const stepSize = (lr * Math.sqrt(1 - beta2 ** t)) / (1 - beta1 ** t);
      const lower = f * (1 - 1 / (gamma * t + 1));
      const upper = f * (1 + 1 / (gamma * t));
      let vMax: FloatArray | null = null;
      if (amsbound) {
        // Created on demand when amsbound is switched on after the state exists.
        if (s.max_exp_avg_sq === undefined) s.max_exp_avg_sq = zerosLike(p.data);
        vMax = s.max_exp_avg_sq as FloatArray;
      }
      adaboundUpdate(p.data, g, s.exp_avg, s.exp_avg_sq, vMax, stepSize, lower, upper, beta1, beta2, eps, weightDecay, maximize);
    }
  }

  protected override extraState(): unknown {
    return { base_lrs: this.paramGroups.map((g) => BASE_LRS.get(g)!) };
  }

  protected override validateExtraState(extra: unknown, where: string): void {
    if (extra === undefined) return;
    const baseLrs = (extra as { base_lrs?: unknown } | null)?.base_lrs;
    if (
      !Array.isArray(baseLrs) ||
      baseLrs.length !== this.paramGroups.length ||
      !baseLrs.every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0)
    ) {
      throw new StateDictError(`${where}: extra.base_lrs must hold one positive learning rate per parameter group (${this.paramGroups.length})`);
    }
  }

  protected override loadExtraState(extra: unknown): void {
    if (extra === undefined) return;
    const baseLrs = (extra as { base_lrs: number[] }).base_lrs;
    this.paramGroups.forEach((g, i) => BASE_LRS.set(g, baseLrs[i]!));
  }
}

/**
 * AMSBound (Luo et al. 2019): {@link AdaBound} on the running maximum of the
 * second moment, i.e. `AdaBound` with `amsbound: true` by default. Its state
 * dicts are labelled `"AMSBound"`.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { AMSBound } from '@opt/core';
 * const w = new Parameter(new Float64Array([1, -1]), [2], 'w');
 * const opt = new AMSBound([w], { finalLr: 0.05 });
 * w.grad = new Float64Array([0.2, -0.1]);
 * opt.step();
 * ```
 */
export class AMSBound extends AdaBound {
  protected static override readonly optimizerName: string = 'AMSBound';

  constructor(params: ParamsArg<AdaBoundOptions>, options: Partial<AdaBoundOptions> & OptimizerSettings = {}) {
    super(params, { ...options, amsbound: options.amsbound ?? true });
  }
}
