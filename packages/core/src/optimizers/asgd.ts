import { type FloatArray, type Parameter, asgdUpdate, zerosLike } from '@opt/tensor';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import { checkBoolean, checkFinite, checkInRange, checkNonNegative } from '../validation.js';

/** Hyper-parameters of {@link ASGD}. */
export interface ASGDOptions {
  /** Learning rate (the initial η). Default 1e-2. */
  lr: number;
  /** Decay term λ. Default 1e-4. */
  lambd: number;
  /** Power α of the η schedule. Default 0.75. */
  alpha: number;
  /** Step after which averaging starts. Default 1e6. */
  t0: number;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay: number;
  /** Maximize the objective instead of minimizing. Default false. */
  maximize: boolean;
}

/** Per-parameter state of {@link ASGD}: step count, step size η, averaging coefficient μ, averaged parameters. */
export interface ASGDState {
  [key: string]: number | FloatArray;
  step: number;
  eta: number;
  mu: number;
  ax: FloatArray;
}

const DEFAULTS: ASGDOptions = { lr: 1e-2, lambd: 1e-4, alpha: 0.75, t0: 1e6, weightDecay: 0, maximize: false };

/**
 * Averaged stochastic gradient descent (Polyak & Juditsky, 1992; schedule of
 * Bottou, 2012), as `torch.optim.ASGD`, with t the parameter's step count:
 *
 * ```
 * g ← ±∇f(p) + weightDecay·p
 * p ← p·(1 − λ·η) − η·g
 * ax ← (μ = 1) ? p : ax + μ·(p − ax)
 * η ← fl32(lr / (1 + λ·lr·t)^α)
 * μ ← fl32(1 / max(1, t − t0))
 * ```
 *
 * starting from `η = fl32(lr)`, `μ = 1`, `ax = 0`. `fl32` rounds to float32
 * (`Math.fround`): PyTorch keeps η and μ in float32 scalar tensors whatever the
 * parameter's dtype, and the rounding shows at 1e-8 relative, so it is kept.
 * The averaged parameters are `state.get(p).ax`.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { ASGD } from '@opt/core';
 * const w = new Parameter(new Float64Array([1, -2]), [2], 'w');
 * const opt = new ASGD([w], { lr: 0.05, t0: 100 });
 * w.grad = new Float64Array([2, -4]);
 * opt.step();
 * const averaged = opt.state.get(w)!.ax;
 * ```
 */
export class ASGD extends Optimizer<ASGDOptions, ASGDState> {
  constructor(params: ParamsArg<ASGDOptions>, options: Partial<ASGDOptions> & OptimizerSettings = {}) {
    super('ASGD', params, DEFAULTS, options);
  }

  protected validateGroup(o: Readonly<ASGDOptions>): void {
    checkNonNegative('ASGD', 'lr', o.lr);
    checkNonNegative('ASGD', 'lambd', o.lambd);
    checkFinite('ASGD', 'alpha', o.alpha);
    // Infinity is meaningful: averaging never starts.
    checkInRange('ASGD', 't0', o.t0, 0, Infinity, '[]');
    checkNonNegative('ASGD', 'weightDecay', o.weightDecay);
    checkBoolean('ASGD', 'maximize', o.maximize);
  }

  protected initState(p: Parameter, group: ParamGroup<ASGDOptions>): ASGDState {
    return { step: 0, eta: Math.fround(group.lr), mu: 1, ax: zerosLike(p.data) };
  }

  protected updateGroup(group: ParamGroup<ASGDOptions>): void {
    const { lr, lambd, alpha, t0, weightDecay, maximize } = group;
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      const t = ++s.step;
      asgdUpdate(p.data, g, s.ax, s.eta, lambd, s.mu, weightDecay, maximize);
      s.eta = Math.fround(lr / (1 + lambd * lr * t) ** alpha);
      s.mu = Math.fround(1 / Math.max(1, t - t0));
    }
  }
}
