import {
  ADABELIEF_ADAPTIVE,
  ADABELIEF_MOMENTUM,
  ADABELIEF_NONE,
  ADABELIEF_RECTIFIED,
  type FloatArray,
  type Parameter,
  adabeliefUpdate,
  zerosLike,
} from '@opt/tensor';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import { checkBetas, checkBoolean, checkNonNegative, checkPositive } from '../validation.js';

/** Hyper-parameters of {@link AdaBelief} (the reference's names in camelCase). */
export interface AdaBeliefOptions {
  /** Learning rate. Default 1e-3. */
  lr: number;
  /** Decay rates of the first moment and of the belief (the variance of g around m). Default [0.9, 0.999]. */
  betas: [number, number];
  /** Added to the belief each step and to the denominator. Default 1e-16 (the reference's; 1e-8 suits CNNs better). */
  eps: number;
  /** Weight decay factor; decoupled or an L2 penalty per `weightDecouple`. Default 0. */
  weightDecay: number;
  /** Keep the running maximum of the belief (AMSGrad). Default false. */
  amsgrad: boolean;
  /** Decoupled weight decay `p ← p·(1 − lr·weightDecay)` (AdamW-style) instead of adding `weightDecay·p` to g. Default true. */
  weightDecouple: boolean;
  /** RAdam-style rectification of the adaptive step. Default false (the paper's algorithm; the reference package defaults to true). */
  rectify: boolean;
  /** With `rectify`, take an un-adapted momentum step while the variance is intractable (else no step). Default true. */
  degeneratedToSgd: boolean;
  /** Maximize the objective instead of minimizing. Default false. */
  maximize: boolean;
}

/** Per-parameter state of {@link AdaBelief}, keyed as the reference keys it (`max_exp_avg_var` with AMSGrad). */
export interface AdaBeliefState {
  [key: string]: number | FloatArray;
  step: number;
  exp_avg: FloatArray;
  exp_avg_var: FloatArray;
}

const DEFAULTS: AdaBeliefOptions = {
  lr: 1e-3,
  betas: [0.9, 0.999],
  eps: 1e-16,
  weightDecay: 0,
  amsgrad: false,
  weightDecouple: true,
  rectify: false,
  degeneratedToSgd: true,
  maximize: false,
};

/**
 * AdaBelief (Zhuang et al. 2020, "AdaBelief Optimizer: Adapting Stepsizes by
 * the Belief in Observed Gradients", NeurIPS; arXiv:2010.07468), as the
 * authors' `adabelief_pytorch` package computes it. Adam, with the second
 * moment of g replaced by the variance of g around its prediction m:
 *
 * ```
 * p ← p·(1 − lr·weightDecay)                 (weightDecouple; otherwise g ← g + weightDecay·p)
 * m ← β1·m + (1 − β1)·g
 * s ← β2·s + (1 − β2)·(g − m)² + eps         (AMSGrad: ŝ ← max(ŝ, s), used below in place of s)
 * p ← p − lr/(1 − β1^t) · m / (√s / √(1 − β2^t) + eps)
 * ```
 *
 * With `rectify` (from RAdam): ρ∞ = 2/(1 − β2) − 1, ρ_t = ρ∞ − 2t·β2^t/(1 − β2^t) and
 * ```
 * ρ_t ≥ 5:  p ← p − lr·√((1 − β2^t)(ρ_t − 4)(ρ_t − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρ_t)) / (1 − β1^t) · m / (√s + eps)
 * ρ_t < 5:  p ← p − lr/(1 − β1^t) · m   (degeneratedToSgd; otherwise no step)
 * ```
 *
 * Choices and reference quirks:
 * - `rectify` defaults to false, the paper's Algorithm 2 (adabelief_pytorch ≥ 0.1 defaults to true);
 *   eps 1e-16 and `weightDecouple` true follow the reference package;
 * - eps is added twice: into the state `s` itself and to the denominator, as in the reference;
 * - the rectified adaptive step divides by √s even with `amsgrad` (the reference
 *   overwrites the AMSGrad denominator there; the maximum is still tracked);
 * - the reference's `fixed_decay` (removed in its 0.3 release) is not offered.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { AdaBelief } from '@opt/core';
 * const w = new Parameter(new Float32Array([0.5, -0.5]), [2], 'w');
 * const opt = new AdaBelief([w], { lr: 1e-3, eps: 1e-16, weightDecay: 1e-2 });
 * w.grad = new Float32Array([0.1, -0.3]);
 * opt.step();
 * ```
 */
export class AdaBelief extends Optimizer<AdaBeliefOptions, AdaBeliefState> {
  constructor(params: ParamsArg<AdaBeliefOptions>, options: Partial<AdaBeliefOptions> & OptimizerSettings = {}) {
    super('AdaBelief', params, DEFAULTS, options);
  }

  protected validateGroup(o: Readonly<AdaBeliefOptions>): void {
    checkNonNegative('AdaBelief', 'lr', o.lr);
    checkBetas('AdaBelief', o.betas);
    checkPositive('AdaBelief', 'eps', o.eps);
    checkNonNegative('AdaBelief', 'weightDecay', o.weightDecay);
    checkBoolean('AdaBelief', 'amsgrad', o.amsgrad);
    checkBoolean('AdaBelief', 'weightDecouple', o.weightDecouple);
    checkBoolean('AdaBelief', 'rectify', o.rectify);
    checkBoolean('AdaBelief', 'degeneratedToSgd', o.degeneratedToSgd);
    checkBoolean('AdaBelief', 'maximize', o.maximize);
  }

  protected initState(p: Parameter, group: ParamGroup<AdaBeliefOptions>): AdaBeliefState {
    const s: AdaBeliefState = { step: 0, exp_avg: zerosLike(p.data), exp_avg_var: zerosLike(p.data) };
    if (group.amsgrad) s.max_exp_avg_var = zerosLike(p.data);
    return s;
  }

  protected updateGroup(group: ParamGroup<AdaBeliefOptions>): void {
    const { lr, betas, eps, weightDecay, amsgrad, weightDecouple, rectify, degeneratedToSgd, maximize } = group;
    const beta1 = betas[0];
    const beta2 = betas[1];
    const decay = weightDecouple ? 1 - lr * weightDecay : 1;
    const l2 = weightDecouple ? 0 : weightDecay;
    const rhoInf = 2 / (1 - beta2) - 1;
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      const t = ++s.step;
      const bc1 = 1 - beta1 ** t;
      const beta2t = beta2 ** t;
      const bc2 = 1 - beta2t;
      let mode = ADABELIEF_ADAPTIVE;
      let stepSize = lr / bc1;
      if (rectify) {
        const rho = rhoInf - (2 * t * beta2t) / bc2;
        if (rho >= 5) {
          mode = ADABELIEF_RECTIFIED;
          // Evaluated in the reference's left-to-right order, then scaled by lr, for the same rounding.
          stepSize = (Math.sqrt((((((bc2 * (rho - 4)) / (rhoInf - 4)) * (rho - 2)) / rho) * rhoInf) / (rhoInf - 2)) / bc1) * lr;
        } else {
          mode = degeneratedToSgd ? ADABELIEF_MOMENTUM : ADABELIEF_NONE;
          stepSize = (1 / bc1) * lr;
        }
      }
      let sMax: FloatArray | null = null;
      if (amsgrad) {
        // Created on demand when amsgrad is switched on after the state exists.
        if (s.max_exp_avg_var === undefined) s.max_exp_avg_var = zerosLike(p.data);
        sMax = s.max_exp_avg_var as FloatArray;
      }
      adabeliefUpdate(p.data, g, s.exp_avg, s.exp_avg_var, sMax, decay, l2, beta1, beta2, eps, mode, stepSize, Math.sqrt(bc2), maximize);
    }
  }
}
