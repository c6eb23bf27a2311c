import { type FloatArray, type Parameter, zerosLike } from '@opt/tensor';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import { checkBetas, checkNonNegative, checkPositive } from '../validation.js';

/** Hyper-parameters of {@link Yogi}. */
export interface YogiOptions {
  /** Learning rate. Default 1e-2 (the paper's). */
  lr: number;
  /** Decay rates of the first and second moment estimates. Default [0.9, 0.999]. */
  betas: [number, number];
  /** Added to the root of the second moment. Default 1e-3 (the paper's). */
  eps: number;
  /** Starting value of every element of the second moment. Default 1e-6 (the paper's). */
  initialAccumulatorValue: number;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay: number;
}

/** Per-parameter state of {@link Yogi}, keyed as Adam's. */
export interface YogiState {
  [key: string]: number | FloatArray;
  step: number;
  exp_avg: FloatArray;
  exp_avg_sq: FloatArray;
}

const DEFAULTS: YogiOptions = { lr: 1e-2, betas: [0.9, 0.999], eps: 1e-3, initialAccumulatorValue: 1e-6, weightDecay: 0 };

/**
 * Yogi (Zaheer et al., NeurIPS 2018): Adam with an additive second-moment update that cannot grow as fast when
 * gradients shrink. With t the parameter's step count and the bias corrections of Adam (as TensorFlow Addons'
 * `Yogi` applies them):
 *
 * ```
 * g ← ∇f(p) + weightDecay·p
 * m ← β1·m + (1 − β1)·g
 * v ← v − (1 − β2)·sign(v − g²)·g²
 * p ← p − lr·√(1 − β2^t)/(1 − β1^t) · m / (√v + eps)
 * ```
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { Yogi } from '@opt/core';
 * const w = new Parameter(new Float64Array([1, -1]));
 * const opt = new Yogi([w], { lr: 0.1 });
 * w.grad = new Float64Array([0.5, -0.5]);
 * opt.step();
 * ```
 */
export class Yogi extends Optimizer<YogiOptions, YogiState> {
  constructor(params: ParamsArg<YogiOptions>, options: Partial<YogiOptions> & OptimizerSettings = {}) {
    super('Yogi', params, DEFAULTS, options);
  }

  protected validateGroup(o: Readonly<YogiOptions>): void {
    checkNonNegative('Yogi', 'lr', o.lr);
    checkBetas('Yogi', o.betas);
    checkPositive('Yogi', 'eps', o.eps);
    checkNonNegative('Yogi', 'initialAccumulatorValue', o.initialAccumulatorValue);
    checkNonNegative('Yogi', 'weightDecay', o.weightDecay);
  }

  protected initState(p: Parameter, group: ParamGroup<YogiOptions>): YogiState {
    const v = zerosLike(p.data);
    v.fill(group.initialAccumulatorValue);
    return { step: 0, exp_avg: zerosLike(p.data), exp_avg_sq: v };
  }

  protected updateGroup(group: ParamGroup<YogiOptions>): void {
    const { lr, eps, weightDecay } = group;
    const b1 = group.betas[0];
    const b2 = group.betas[1];
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      const t = ++s.step;
      const stepSize = (lr * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t);
      const w = p.data;
      const m = s.exp_avg;
      const v = s.exp_avg_sq;
      for (let i = 0; i < w.length; i++) {
        const gi = g[i]! + weightDecay * w[i]!;
        const g2 = gi * gi;
        const mi = b1 * m[i]! + (1 - b1) * gi;
        const vOld = v[i]!;
        const vi = vOld - (1 - b2) * Math.sign(vOld - g2) * g2;
        m[i] = mi;
        v[i] = vi;
        // Read back what was stored: a float32 parameter steps with its float32 moments, as every other optimizer here.
        w[i] = w[i]! - (stepSize * m[i]!) / (Math.sqrt(v[i]!) + eps);
      }
    }
  }
}
