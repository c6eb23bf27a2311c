import { type FloatArray, type Parameter, adamaxUpdate, zerosLike } from '@opt/tensor';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import { checkBetas, checkBoolean, checkNonNegative, checkPositive } from '../validation.js';

/** Hyper-parameters of {@link Adamax}. */
export interface AdamaxOptions {
  /** Learning rate. Default 2e-3. */
  lr: number;
  /** Decay rates of the first moment and of the infinity norm. Default [0.9, 0.999]. */
  betas: [number, number];
  /** Added to |g| inside the max. Default 1e-8. */
  eps: number;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay: number;
  /** Maximize the objective instead of minimizing. Default false. */
  maximize: boolean;
}

/** Per-parameter state of {@link Adamax}. */
export interface AdamaxState {
  [key: string]: number | FloatArray;
  step: number;
  exp_avg: FloatArray;
  exp_inf: FloatArray;
}

const DEFAULTS: AdamaxOptions = { lr: 2e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, maximize: false };

/**
 * Adamax, the infinity-norm variant of Adam (Kingma & Ba, 2015, §7.1), as
 * `torch.optim.Adamax`, with t the parameter's step count:
 *
 * ```
 * g ← ±∇f(p) + weightDecay·p
 * m ← β1·m + (1 − β1)·g
 * u ← max(β2·u, |g| + eps)
 * p ← p − lr/(1 − β1^t) · m / u
 * ```
 *
 * State: `step`, `exp_avg` (m), `exp_inf` (u).
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { Adamax } from '@opt/core';
 * const w = new Parameter(new Float32Array([0.5, -0.5]), [2], 'w');
 * const opt = new Adamax([w], { lr: 2e-3 });
 * w.grad = new Float32Array([0.1, -0.3]);
 * opt.step();
 * ```
 */
export class Adamax extends Optimizer<AdamaxOptions, AdamaxState> {
  constructor(params: ParamsArg<AdamaxOptions>, options: Partial<AdamaxOptions> & OptimizerSettings = {}) {
    super('Adamax', params, DEFAULTS, options);
  }

  protected validateGroup(o: Readonly<AdamaxOptions>): void {
    checkNonNegative('Adamax', 'lr', o.lr);
    checkBetas('Adamax', o.betas);
    checkPositive('Adamax', 'eps', o.eps);
    checkNonNegative('Adamax', 'weightDecay', o.weightDecay);
    checkBoolean('Adamax', 'maximize', o.maximize);
  }

  protected initState(p: Parameter): AdamaxState {
    return { step: 0, exp_avg: zerosLike(p.data), exp_inf: zerosLike(p.data) };
  }

  protected updateGroup(group: ParamGroup<AdamaxOptions>): void {
    const { lr, betas, eps, weightDecay, maximize } = group;
    const beta1 = betas[0];
    const beta2 = betas[1];
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      const t = ++s.step;
      const clr = lr / (1 - beta1 ** t);
      adamaxUpdate(p.data, g, s.exp_avg, s.exp_inf, clr, beta1, beta2, eps, weightDecay, maximize);
    }
  }
}
