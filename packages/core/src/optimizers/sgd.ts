import { type FloatArray, InvalidOptionError, sgdUpdate, zerosLike } from '@opt/tensor';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import { checkBoolean, checkNonNegative } from '../validation.js';

/** Hyper-parameters of {@link SGD} (PyTorch's names in camelCase). */
export interface SGDOptions {
  /** Learning rate. Default 1e-3. */
  lr: number;
  /** Momentum factor μ. Default 0. */
  momentum: number;
  /** Dampening for momentum. Default 0. */
  dampening: number;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0). Default false. */
  nesterov: boolean;
  /** Maximize the objective instead of minimizing. Default false. */
  maximize: boolean;
}

/** Per-parameter state of {@link SGD}: the momentum buffer (`null` until the first step with momentum). */
export interface SGDState {
  [key: string]: FloatArray | null;
  momentum_buffer: FloatArray | null;
}

const DEFAULTS: SGDOptions = { lr: 1e-3, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false };

/**
 * Stochastic gradient descent with optional momentum, as `torch.optim.SGD`:
 *
 * ```
 * g ← ±∇f(p) + weightDecay·p
 * b ← g on the first step, else μ·b + (1 − dampening)·g
 * d ← nesterov ? g + μ·b : b          (d = g when μ = 0)
 * p ← p − lr·d
 * ```
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { SGD } from '@opt/core';
 * const w = new Parameter(new Float64Array([1, -2]), [2], 'w');
 * const opt = new SGD([w], { lr: 0.1, momentum: 0.9 });
 * w.grad = new Float64Array([2, -4]); // ∇ of |w|²
 * opt.step();
 * ```
 */
export class SGD extends Optimizer<SGDOptions, SGDState> {
  constructor(params: ParamsArg<SGDOptions>, options: Partial<SGDOptions> & OptimizerSettings = {}) {
    super('SGD', params, DEFAULTS, options);
  }

  protected validateGroup(o: Readonly<SGDOptions>): void {
    checkNonNegative('SGD', 'lr', o.lr);
    checkNonNegative('SGD', 'momentum', o.momentum);
    checkNonNegative('SGD', 'dampening', o.dampening);
    checkNonNegative('SGD', 'weightDecay', o.weightDecay);
    checkBoolean('SGD', 'nesterov', o.nesterov);
    checkBoolean('SGD', 'maximize', o.maximize);
    if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) {
      throw new InvalidOptionError('nesterov', true, 'momentum > 0 and dampening = 0 when nesterov is true', 'SGD');
    }
  }

  protected initState(): SGDState {
    return { momentum_buffer: null };
  }

  protected updateGroup(group: ParamGroup<SGDOptions>): void {
    const { lr, momentum, dampening, weightDecay, nesterov, maximize } = group;
    for (const p of group.params) {
      const g = p.grad;
      if (g === null) continue;
      const state = this.stateFor(p, group);
      let first = false;
      if (momentum !== 0 && state.momentum_buffer === null) {
        state.momentum_buffer = zerosLike(p.data);
        first = true;
      }
      const buf = momentum !== 0 ? state.momentum_buffer : null;
      sgdUpdate(p.data, g, buf, lr, momentum, dampening, weightDecay, nesterov, maximize, first);
    }
  }
}
