import { type FloatArray, type Parameter, rmspropUpdate, zerosLike } from '@opt/tensor';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import { checkBoolean, checkInRange, checkNonNegative, checkPositive } from '../validation.js';

/** Hyper-parameters of {@link RMSprop}. */
export interface RMSpropOptions {
  /** Learning rate. Default 1e-2. */
  lr: number;
  /** Smoothing constant α of the running averages. Default 0.99. */
  alpha: number;
  /** Added to the root of the (centered) second moment. Default 1e-8. */
  eps: number;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay: number;
  /** Momentum factor μ. Default 0. */
  momentum: number;
  /** Normalize by the estimated variance (E[g²] − E[g]²) instead of E[g²]. Default false. */
  centered: boolean;
  /** Maximize the objective instead of minimizing. Default false. */
  maximize: boolean;
}

/**
 * Per-parameter state of {@link RMSprop}. As in PyTorch, `momentum_buffer`
 * exists only when momentum > 0 and `grad_avg` only when centered.
 */
export interface RMSpropState {
  [key: string]: number | FloatArray;
  step: number;
  square_avg: FloatArray;
}

const DEFAULTS: RMSpropOptions = { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false };

/**
 * RMSprop (Hinton, 2012; centered variant of Graves, 2013), as `torch.optim.RMSprop`:
 *
 * ```
 * g ← ±∇f(p) + weightDecay·p
 * v ← α·v + (1 − α)·g²
 * centered: ḡ ← α·ḡ + (1 − α)·g;  a ← √(v − ḡ²) + eps
 * else:     a ← √v + eps
 * μ > 0:    b ← μ·b + g/a;  p ← p − lr·b
 * else:     p ← p − lr·g/a
 * ```
 *
 * eps is added outside the root. State: `step`, `square_avg` (v), plus
 * `momentum_buffer` (b) when momentum > 0 and `grad_avg` (ḡ) when centered.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { RMSprop } from '@opt/core';
 * const w = new Parameter(new Float32Array([0.5, -0.5]), [2], 'w');
 * const opt = new RMSprop([w], { lr: 1e-3, momentum: 0.9, centered: true });
 * w.grad = new Float32Array([0.1, -0.3]);
 * opt.step();
 * ```
 */
export class RMSprop extends Optimizer<RMSpropOptions, RMSpropState> {
  constructor(params: ParamsArg<RMSpropOptions>, options: Partial<RMSpropOptions> & OptimizerSettings = {}) {
    super('RMSprop', params, DEFAULTS, options);
  }

  protected validateGroup(o: Readonly<RMSpropOptions>): void {
    checkNonNegative('RMSprop', 'lr', o.lr);
    checkInRange('RMSprop', 'alpha', o.alpha, 0, 1, '[]');
    checkPositive('RMSprop', 'eps', o.eps);
    checkNonNegative('RMSprop', 'weightDecay', o.weightDecay);
    checkNonNegative('RMSprop', 'momentum', o.momentum);
    checkBoolean('RMSprop', 'centered', o.centered);
    checkBoolean('RMSprop', 'maximize', o.maximize);
  }

  protected initState(p: Parameter, group: ParamGroup<RMSpropOptions>): RMSpropState {
    const s: RMSpropState = { step: 0, square_avg: zerosLike(p.data) };
    if (group.momentum > 0) s.momentum_buffer = zerosLike(p.data);
    if (group.centered) s.grad_avg = zerosLike(p.data);
    return s;
  }

  protected updateGroup(group: ParamGroup<RMSpropOptions>): void {
    const { lr, alpha, eps, weightDecay, momentum, centered, maximize } = group;
    for (const p of group.params) {
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      s.step++;
      // A group switched to momentum or centering after its state was created
      // gets the missing buffer now (PyTorch would fail with a KeyError).
      if (momentum > 0 && s.momentum_buffer === undefined) s.momentum_buffer = zerosLike(p.data);
      if (centered && s.grad_avg === undefined) s.grad_avg = zerosLike(p.data);
      const buf = momentum > 0 ? (s.momentum_buffer as FloatArray) : null;
      const gradAvg = centered ? (s.grad_avg as FloatArray) : null;
      rmspropUpdate(p.data, g, s.square_avg, gradAvg, buf, lr, alpha, eps, weightDecay, momentum, maximize);
    }
  }
}
