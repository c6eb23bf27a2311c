import { checkInteger, checkPositive } from '@opt/core';
import { InvalidOptionError } from '@opt/tensor';
import type { EstimateContext, MetaGradientEstimator } from '../learnable.js';
import type { MetaObjective } from './inner.js';
import { metaRng } from './seeds.js';

/** Options of {@link AntitheticES}. */
export interface AntitheticESOptions {
  /** The meta-objective: what a pair shares and the meta-loss of one run. */
  objective: MetaObjective;
  /** Antithetic pairs per {@link AntitheticES.estimate} call (default 1; a meta-trainer spreads more calls over threads). */
  pairs?: number;
  /** Perturbation scale σ (default 0.02). */
  sigma?: number;
}

/**
 * Antithetic evolution strategies over full inner unrolls (Salimans et al.
 * 2017; `full_es` in google/learned_optimization): for pairs i = 1..N with
 * ε_i ~ N(0, I) and both members sharing task, initialisation, batches and
 * horizon,
 *
 * ```
 * ĝ = (1/N) Σ_i (L(θ + σε_i) − L(θ − σε_i)) / (2σ) · ε_i
 * ```
 *
 * an unbiased estimate of the gradient of the Gaussian-smoothed meta-loss
 * `E_ε L(θ + σε)`. Sharing the draw within a pair cancels the task-to-task
 * variance, and the antithetic difference cancels every even-order term of
 * L around θ (a quadratic meta-loss is estimated without its curvature noise).
 * The returned meta-loss is the mean over both members of every pair.
 *
 * Randomness: one `Rng` per call, seeded by `(seed, metaStep, index)`, draws
 * each pair's sample, then its ε: the estimate depends on nothing else.
 *
 * @example
 * ```ts
 * const es = new AntitheticES({ objective: new UnrollObjective({ factory, sampler, horizon: 100 }), sigma: 0.02 });
 * const grad = new Float64Array(factory.metaParamCount);
 * const metaLoss = es.estimate(theta, grad, { metaStep: 0, index: 0, seed: 1 });
 * ```
 */
export class AntitheticES implements MetaGradientEstimator {
  readonly name = 'es';
  /** Pairs per call. */
  readonly pairs: number;
  /** Perturbation scale σ. */
  readonly sigma: number;
  private readonly objective: MetaObjective;
  private eps: Float64Array = new Float64Array(0);
  private work: Float64Array = new Float64Array(0);

  constructor(options: AntitheticESOptions) {
    const where = 'AntitheticES';
    if (options.objective === undefined) throw new InvalidOptionError('objective', undefined, 'a MetaObjective', where);
    this.objective = options.objective;
    this.pairs = checkInteger(where, 'pairs', options.pairs ?? 1, 1);
    this.sigma = checkPositive(where, 'sigma', options.sigma ?? 0.02);
  }

  /**
   * The losses `[L(θ + σε), L(θ − σε)]` of one pair, with ε and the shared
   * sample drawn from `rng` (sample first, then ε), and ε written into `eps`.
   */
  pairLosses(metaParams: Float64Array, eps: Float64Array, rng: ReturnType<typeof metaRng>): [number, number] {
    const n = metaParams.length;
    if (this.work.length !== n) this.work = new Float64Array(n);
    const work = this.work;
    const sample = this.objective.draw(rng);
    rng.fillNormal(eps);
    const s = this.sigma;
    for (let j = 0; j < n; j++) work[j] = metaParams[j]! + s * eps[j]!;
    const plus = this.objective.loss(work, sample);
    for (let j = 0; j < n; j++) work[j] = metaParams[j]! - s * eps[j]!;
    const minus = this.objective.loss(work, sample);
    return [plus, minus];
  }

  estimate(metaParams: Float64Array, grad: Float64Array, context: EstimateContext): number {
    const n = metaParams.length;
    if (grad.length !== n) throw new InvalidOptionError('grad', grad.length, `a buffer of ${n} elements`, 'AntitheticES.estimate');
    if (this.eps.length !== n) this.eps = new Float64Array(n);
    const eps = this.eps;
    const rng = metaRng(context.seed, context.metaStep, context.index);
    grad.fill(0);
    let total = 0;
    for (let i = 0; i < this.pairs; i++) {
      const [plus, minus] = this.pairLosses(metaParams, eps, rng);
      const c = (plus - minus) / (2 * this.sigma * this.pairs);
      for (let j = 0; j < n; j++) grad[j] = grad[j]! + c * eps[j]!;
      total += 0.5 * (plus + minus);
    }
    return total / this.pairs;
  }
}
