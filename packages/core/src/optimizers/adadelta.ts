import { type FloatArray, type Parameter, adadeltaUpdate, zerosLike } from '@opt/tensor';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import { checkBoolean, checkInRange, checkNonNegative, checkPositive } from '../validation.js';

/** Hyper-parameters of {@link Adadelta}. */
export interface AdadeltaOptions {
  /** Scales the update Δ; 1 (the default) is the paper's rule. */
  lr: number;
  /** Decay rate ρ of the running averages of g² and Δ². Default 0.9. */
  rho: number;
  /** Added inside both roots. Default 1e-6. */
  eps: number;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay: number;
  /** Maximize the objective instead of minimizing. Default false. */
  maximize: boolean;
}

/** Per-parameter state of {@link Adadelta}. */
export interface AdadeltaState {
  [key: string]: number | FloatArray;
  step: number;
  square_avg: FloatArray;
  acc_delta: FloatArray;
}

const DEFAULTS: AdadeltaOptions = { lr: 1, rho: 0.9, eps: 1e-6, weightDecay: 0, maximize: false };

/**
 * Adadelta (Zeiler, 2012), as `torch.optim.Adadelta`:
 *
 * ```
 * g ← ±∇f(p) + weightDecay·p
 * E[g²] ← ρ·E[g²] + (1 − ρ)·g²
 * Δ ← √(E[Δ²] + eps) / √(E[g²] + eps) · g        (E[Δ²] from the previous step)
 * E[Δ²] ← ρ·E[Δ²] + (1 − ρ)·Δ²
 * p ← p − lr·Δ
 * ```
 *
 * eps sits inside both roots. State: `step`, `square_avg` (E[g²]), `acc_delta` (E[Δ²]).
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { Adadelta } from '@opt/core';
 * const w = new Parameter(new Float64Array([1, -2]), [2], 'w');
 * const opt = new Adadelta([w], { rho: 0.95 });
 * w.grad = new Float64Array([2, -4]);
 * opt.step();
 * ```
 */
export class Adadelta extends Optimizer<AdadeltaOptions, AdadeltaState> {
  constructor(params: ParamsArg<AdadeltaOptions>, options: Partial<AdadeltaOptions> & OptimizerSettings = {}) {
    super('Adadelta', params, DEFAULTS, options);
  }

  protected validateGroup(o: Readonly<AdadeltaOptions>): void {
    checkNonNegative('Adadelta', 'lr', o.lr);
    checkInRange('Adadelta', 'rho', o.rho, 0, 1, '[]');
    checkPositive('Adadelta', 'eps', o.eps);
    checkNonNegative('Adadelta', 'weightDecay', o.weightDecay);
    checkBoolean('Adadelta', 'maximize', o.maximize);
  }

  protected initState(p: Parameter): AdadeltaState {
    return { step: 0, square_avg: zerosLike(p.data), acc_delta: zerosLike(p.data) };
  }

  protected updateGroup(group: ParamGroup<AdadeltaOptions>): void {
    const { lr, rho, eps, weightDecay, maximize } = group;
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      s.step++;
      adadeltaUpdate(p.data, g, s.square_avg, s.acc_delta, lr, rho, eps, weightDecay, maximize);
    }
  }
}
