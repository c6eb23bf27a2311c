import { type FloatArray, type Parameter, sparseAdamUpdate, zerosLike } from '@opt/tensor';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import { checkBetas, checkBoolean, checkPositive } from '../validation.js';

/** Hyper-parameters of {@link SparseAdam}. */
export interface SparseAdamOptions {
  /** Learning rate, > 0. Default 1e-3. */
  lr: number;
  /** Decay rates of the first and second moment estimates. Default [0.9, 0.999]. */
  betas: [number, number];
  /** Added to the uncorrected root of the second moment. Default 1e-8. */
  eps: number;
  /** Maximize the objective instead of minimizing. Default false. */
  maximize: boolean;
}

/** Per-parameter state of {@link SparseAdam}. */
export interface SparseAdamState {
  [key: string]: number | FloatArray;
  step: number;
  exp_avg: FloatArray;
  exp_avg_sq: FloatArray;
}

const DEFAULTS: SparseAdamOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, maximize: false };

/**
 * The lazy Adam of `torch.optim.SparseAdam`, for embedding tables whose gradient
 * touches few rows. Parameters carry dense gradients here; the gradient is read
 * as sparse over dim 0: a row (a slice along the first dimension; an element of a
 * vector) whose gradient is exactly zero everywhere is not in the gradient, so its
 * moments and parameters are left untouched, while the parameter's step count t
 * still advances. Every other row:
 *
 * ```
 * g ← ±∇f(p)
 * m ← m + (g − m)·(1 − β1)
 * v ← v + (g² − v)·(1 − β2)
 * p ← p − lr·sqrt(1 − β2^t)/(1 − β1^t) · m/(sqrt(v) + eps)
 * ```
 *
 * eps is added to the uncorrected root of v, unlike Adam. A row whose gradient
 * PyTorch lists explicitly with all-zero values (the moments would decay) is
 * indistinguishable from an absent row in a dense gradient and is treated as absent.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { SparseAdam } from '@opt/core';
 * const table = Parameter.zeros([4, 2], 'float32', 'embedding');
 * const opt = new SparseAdam([table], { lr: 1e-2 });
 * table.grad = new Float32Array([0, 0, 0.5, -1, 0, 0, 0, 0]); // only row 1 was looked up
 * opt.step(); // rows 0, 2 and 3 keep their values and moments
 * ```
 */
export class SparseAdam extends Optimizer<SparseAdamOptions, SparseAdamState> {
  constructor(params: ParamsArg<SparseAdamOptions>, options: Partial<SparseAdamOptions> & OptimizerSettings = {}) {
    super('SparseAdam', params, DEFAULTS, options);
  }

  protected validateGroup(o: Readonly<SparseAdamOptions>): void {
    // PyTorch's SparseAdam (unlike Adam) rejects lr = 0.
    checkPositive('SparseAdam', 'lr', o.lr);
    checkBetas('SparseAdam', o.betas);
    checkPositive('SparseAdam', 'eps', o.eps);
    checkBoolean('SparseAdam', 'maximize', o.maximize);
  }

  protected initState(p: Parameter): SparseAdamState {
    return { step: 0, exp_avg: zerosLike(p.data), exp_avg_sq: zerosLike(p.data) };
  }

  protected updateGroup(group: ParamGroup<SparseAdamOptions>): void {
    const { lr, betas, eps, maximize } = group;
    const beta1 = betas[0];
    const beta2 = betas[1];
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      const t = ++s.step;
      const stepSize = (lr * Math.sqrt(1 - beta2 ** t)) / (1 - beta1 ** t);
      sparseAdamUpdate(p.data, g, s.exp_avg, s.exp_avg_sq, rowSizeOf(p), stepSize, beta1, beta2, eps, maximize);
    }
  }
}

/** Elements per slice along dim 0: the product of the remaining dimensions (1 for a vector or a scalar). */
function rowSizeOf(p: Parameter): number {
  const shape = p.shape;
  let size = 1;
  for (let d = 1; d < shape.length; d++) size *= shape[d]!;
  return size;
}
