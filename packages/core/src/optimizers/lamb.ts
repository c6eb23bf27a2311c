import { type FloatArray, InvalidOptionError, type Parameter, lambUpdate, zerosLike } from '@opt/tensor';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import { checkBetas, checkBoolean, checkNonNegative, checkPositive } from '../validation.js';

/** Hyper-parameters of {@link LAMB}. */
export interface LAMBOptions {
  /** Learning rate. Default 1e-3. */
  lr: number;
  /** Decay rates of the first and second moment estimates. Default [0.9, 0.999]. */
  betas: [number, number];
  /** Added to the bias-corrected √v. Default 1e-6 (the paper's and optax's). */
  eps: number;
  /** Decoupled weight decay λ, added to the Adam direction before the trust ratio. Default 0. */
  weightDecay: number;
  /**
   * Upper clamp φ(‖p‖) = min(‖p‖, clampValue) of the weight norm in the trust
   * ratio; `Infinity` disables it. Default 10, as the widely used PyTorch
   * implementations (pytorch-optimizer's `clamp_value`); the paper leaves φ open.
   */
  clampValue: number;
  /** Maximize the objective instead of minimizing. Default false. */
  maximize: boolean;
}

/** Per-parameter state of {@link LAMB}: Adam's moments and step count. */
export interface LAMBState {
  [key: string]: number | FloatArray;
  step: number;
  exp_avg: FloatArray;
  exp_avg_sq: FloatArray;
}

const DEFAULTS: LAMBOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-6, weightDecay: 0, clampValue: 10, maximize: false };

/**
 * LAMB, layer-wise adaptive moments (You et al. 2019, "Large Batch Optimization
 * for Deep Learning: Training BERT in 76 minutes", ICLR 2020; arXiv:1904.00962,
 * Algorithm 2). With t the parameter's step count:
 *
 * ```
 * g ← ±∇f(p)
 * m ← β1·m + (1 − β1)·g;   v ← β2·v + (1 − β2)·g²
 * u ← (m/(1 − β1^t)) / (√(v/(1 − β2^t)) + eps) + weightDecay·p
 * r ← min(‖p‖, clampValue) / ‖u‖          (r = 1 when ‖p‖ = 0 or ‖u‖ = 0)
 * p ← p − lr·r·u
 * ```
 *
 * Each parameter tensor is one "layer": its norms are over the whole tensor.
 * The trust ratio needs ‖u‖ before any element moves, so each step makes two
 * passes over the parameter (see `lambUpdate`); `u` is written into a scratch
 * buffer allocated once per parameter, with its state, and kept out of the
 * state dict (it is recomputed every step).
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { LAMB } from '@opt/core';
 * const w = new Parameter(new Float32Array([0.5, -0.5, 0.25, 1]), [2, 2], 'w');
 * const opt = new LAMB([w], { lr: 1e-2, weightDecay: 0.01 });
 * w.grad = new Float32Array([0.1, -0.3, 0.2, 0]);
 * opt.step();
 * ```
 */
export class LAMB extends Optimizer<LAMBOptions, LAMBState> {
  private readonly scratch = new WeakMap<Parameter, FloatArray>();

  constructor(params: ParamsArg<LAMBOptions>, options: Partial<LAMBOptions> & OptimizerSettings = {}) {
    super('LAMB', params, DEFAULTS, options);
  }

  protected validateGroup(o: Readonly<LAMBOptions>): void {
    checkNonNegative('LAMB', 'lr', o.lr);
    checkBetas('LAMB', o.betas);
    checkPositive('LAMB', 'eps', o.eps);
    checkNonNegative('LAMB', 'weightDecay', o.weightDecay);
    if (typeof o.clampValue !== 'number' || !(o.clampValue > 0)) {
      throw new InvalidOptionError('clampValue', o.clampValue, 'a number > 0 (Infinity for no clamp)', 'LAMB');
    }
    checkBoolean('LAMB', 'maximize', o.maximize);
  }

  protected initState(p: Parameter): LAMBState {
    this.scratch.set(p, zerosLike(p.data));
    return { step: 0, exp_avg: zerosLike(p.data), exp_avg_sq: zerosLike(p.data) };
  }

  protected updateGroup(group: ParamGroup<LAMBOptions>): void {
    const { lr, betas, eps, weightDecay, clampValue, maximize } = group;
    const beta1 = betas[0];
    const beta2 = betas[1];
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      const t = ++s.step;
      const u = this.scratch.get(p)!;
      lambUpdate(p.data, g, s.exp_avg, s.exp_avg_sq, u, lr, beta1, beta2, 1 - beta1 ** t, 1 - beta2 ** t, eps, weightDecay, clampValue, maximize);
    }
  }
}
