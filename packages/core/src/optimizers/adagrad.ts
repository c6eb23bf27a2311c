import { type FloatArray, type Parameter, adagradUpdate, zerosLike } from '@opt/tensor';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import { checkBoolean, checkNonNegative, checkPositive } from '../validation.js';

/** Hyper-parameters of {@link Adagrad}. */
export interface AdagradOptions {
  /** Learning rate. Default 1e-2. */
  lr: number;
  /** Learning-rate decay: step t uses `lr / (1 + (t − 1)·lrDecay)`. Default 0. */
  lrDecay: number;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay: number;
  /** Starting value of every element of the accumulator `sum`. Default 0. */
  initialAccumulatorValue: number;
  /** Added to the root of the accumulator. Default 1e-10. */
  eps: number;
  /** Maximize the objective instead of minimizing. Default false. */
  maximize: boolean;
}

/** Per-parameter state of {@link Adagrad}: the step count and the sum of squared gradients. */
export interface AdagradState {
  [key: string]: number | FloatArray;
  step: number;
  sum: FloatArray;
}

const DEFAULTS: AdagradOptions = {
  lr: 1e-2,
  lrDecay: 0,
  weightDecay: 0,
  initialAccumulatorValue: 0,
  eps: 1e-10,
  maximize: false,
};

/**
 * Adagrad (Duchi et al., 2011), as `torch.optim.Adagrad`, with t the parameter's
 * step count:
 *
 * ```
 * g ← ±∇f(p) + weightDecay·p
 * clr ← lr / (1 + (t − 1)·lrDecay)
 * sum ← sum + g²
 * p ← p − clr · g / (√sum + eps)
 * ```
 *
 * As in PyTorch, the state (`step` = 0, `sum` filled with
 * `initialAccumulatorValue`) is created when a parameter is added, not on its
 * first step, so a fresh optimizer's state dict already lists every parameter.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { Adagrad } from '@opt/core';
 * const w = new Parameter(new Float64Array([1, -2]), [2], 'w');
 * const opt = new Adagrad([w], { lr: 0.1, initialAccumulatorValue: 0.1 });
 * w.grad = new Float64Array([2, -4]);
 * opt.step();
 * ```
 */
export class Adagrad extends Optimizer<AdagradOptions, AdagradState> {
  constructor(params: ParamsArg<AdagradOptions>, options: Partial<AdagradOptions> & OptimizerSettings = {}) {
    super('Adagrad', params, DEFAULTS, options);
  }

  protected validateGroup(o: Readonly<AdagradOptions>): void {
    checkNonNegative('Adagrad', 'lr', o.lr);
    checkNonNegative('Adagrad', 'lrDecay', o.lrDecay);
    checkNonNegative('Adagrad', 'weightDecay', o.weightDecay);
    checkNonNegative('Adagrad', 'initialAccumulatorValue', o.initialAccumulatorValue);
    checkPositive('Adagrad', 'eps', o.eps);
    checkBoolean('Adagrad', 'maximize', o.maximize);
  }

  protected initState(p: Parameter, group: ParamGroup<AdagradOptions>): AdagradState {
    const sum = zerosLike(p.data);
    if (group.initialAccumulatorValue !== 0) sum.fill(group.initialAccumulatorValue);
    return { step: 0, sum };
  }

  protected override onGroupAdded(group: ParamGroup<AdagradOptions>): void {
    for (const p of group.params) this.stateFor(p, group);
  }

  protected updateGroup(group: ParamGroup<AdagradOptions>): void {
    const { lr, lrDecay, weightDecay, eps, maximize } = group;
    for (const p of group.params) {
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      const t = ++s.step;
      const clr = lr / (1 + (t - 1) * lrDecay);
      adagradUpdate(p.data, g, s.sum, clr, eps, weightDecay, maximize);
    }
  }
}
