import { type FloatArray, type Parameter, nadamUpdate, zerosLike } from '@opt/tensor';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import { checkBetas, checkBoolean, checkNonNegative, checkOneOf, checkPositive } from '../validation.js';

/**
 * Which PyTorch NAdam to reproduce:
 * - `'latest'` (default): the corrected schedule of later PyTorch versions,
 *   `Πμ_next = Πμ_t · μ(t+1)`;
 * - `'torch-1.13'`: PyTorch 1.13's `Πμ_next = Πμ_t · μt · μ(t+1)`, which counts μt twice.
 */
export type NAdamCompat = 'latest' | 'torch-1.13';

/** Hyper-parameters of {@link NAdam}. */
export interface NAdamOptions {
  /** Learning rate. Default 2e-3. */
  lr: number;
  /** Decay rates of the first and second moment estimates. Default [0.9, 0.999]. */
  betas: [number, number];
  /** Added to the bias-corrected root of the second moment. Default 1e-8. */
  eps: number;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay: number;
  /** ψ, the decay of the momentum schedule μt. Default 4e-3. */
  momentumDecay: number;
  /** Maximize the objective instead of minimizing (not in PyTorch 1.13). Default false. */
  maximize: boolean;
  /** Momentum-product formula to reproduce; see {@link NAdamCompat}. Default `'latest'`. */
  compat: NAdamCompat;
}

/** Per-parameter state of {@link NAdam}. */
export interface NAdamState {
  [key: string]: number | FloatArray;
  step: number;
  /** Πμ over the steps so far, kept rounded to float32 as PyTorch keeps it (a float32 scalar tensor). */
  mu_product: number;
  exp_avg: FloatArray;
  exp_avg_sq: FloatArray;
}

const DEFAULTS: NAdamOptions = {
  lr: 2e-3,
  betas: [0.9, 0.999],
  eps: 1e-8,
  weightDecay: 0,
  momentumDecay: 4e-3,
  maximize: false,
  compat: 'latest',
};

const COMPAT_MODES: readonly NAdamCompat[] = ['latest', 'torch-1.13'];

/**
 * NAdam, Adam with Nesterov momentum (Dozat, 2016), as `torch.optim.NAdam`, with
 * t the parameter's step count and ψ = momentumDecay:
 *
 * ```
 * g ← ±∇f(p) + weightDecay·p
 * μt = β1·(1 − ½·0.96^(t·ψ)),  μ(t+1) = β1·(1 − ½·0.96^((t+1)·ψ))
 * Πμ ← Πμ·μt                                  (float32, as PyTorch stores it)
 * Πμ_next = Πμ·μ(t+1)                         ('torch-1.13': Πμ·μt·μ(t+1))
 * m ← β1·m + (1 − β1)·g
 * v ← β2·v + (1 − β2)·g²
 * d = sqrt(v/(1 − β2^t)) + eps
 * p ← p − lr·(1 − μt)/(1 − Πμ) · g/d − lr·μ(t+1)/(1 − Πμ_next) · m/d
 * ```
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { NAdam } from '@opt/core';
 * const w = new Parameter(new Float32Array([0.5, -0.5]), [2], 'w');
 * const opt = new NAdam([w], { lr: 1e-2, momentumDecay: 4e-3 });
 * w.grad = new Float32Array([0.1, -0.3]);
 * opt.step();
 * ```
 */
export class NAdam extends Optimizer<NAdamOptions, NAdamState> {
  constructor(params: ParamsArg<NAdamOptions>, options: Partial<NAdamOptions> & OptimizerSettings = {}) {
    super('NAdam', params, DEFAULTS, options);
  }

  protected validateGroup(o: Readonly<NAdamOptions>): void {
    checkNonNegative('NAdam', 'lr', o.lr);
    checkBetas('NAdam', o.betas);
    checkPositive('NAdam', 'eps', o.eps);
    checkNonNegative('NAdam', 'weightDecay', o.weightDecay);
    checkNonNegative('NAdam', 'momentumDecay', o.momentumDecay);
    checkBoolean('NAdam', 'maximize', o.maximize);
    checkOneOf('NAdam', 'compat', o.compat, COMPAT_MODES);
  }

  protected initState(p: Parameter): NAdamState {
    return { step: 0, mu_product: 1, exp_avg: zerosLike(p.data), exp_avg_sq: zerosLike(p.data) };
  }

  protected updateGroup(group: ParamGroup<NAdamOptions>): void {
    const { lr, betas, eps, weightDecay, momentumDecay, maximize, compat } = group;
    const beta1 = betas[0];
    const beta2 = betas[1];
    const legacy = compat === 'torch-1.13';
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      const t = ++s.step;
      const bc2 = 1 - beta2 ** t;
      const mu = beta1 * (1 - 0.5 * 0.96 ** (t * momentumDecay));
      const muNext = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentumDecay));
      // PyTorch keeps mu_product in a float32 scalar tensor, so each product is a
      // float32 multiply (the Python-float factor is rounded to float32 first).
      const muProduct = Math.fround(s.mu_product * Math.fround(mu));
      s.mu_product = muProduct;
      // PyTorch 1.13 evaluates `mu_product * mu * mu_next` after `mu_product *= mu`,
      // multiplying μt in twice, in float32 tensor arithmetic.
      const muProductNext = legacy
        ? Math.fround(Math.fround(muProduct * Math.fround(mu)) * Math.fround(muNext))
        : muProduct * muNext;
      const gradCoef = (lr * (1 - mu)) / (1 - muProduct);
      const momentumCoef = (lr * muNext) / (1 - muProductNext);
      nadamUpdate(p.data, g, s.exp_avg, s.exp_avg_sq, beta1, beta2, bc2, eps, gradCoef, momentumCoef, weightDecay, maximize);
    }
  }
}
