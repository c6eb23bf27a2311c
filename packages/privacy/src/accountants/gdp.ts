import { InvalidOptionError, StateDictError } from '@opt/tensor';
import { brentRoot } from '../math/roots.js';
import { logNdtr, ndtr } from '../math/special.js';
import { BaseAccountant, type AccountantHistoryEntry, type AccountantMechanism, type MechanismStep } from './accountant.js';

// Module-level aliases of the global objects: inside a vm context (jest's test environment) every read
// of a global identifier such as `Math` or `Infinity` goes through the context's interceptor and costs
// 10-25x more than a local; these hot numerical loops read them millions of times.
const M = Math;
const N = Number;
const INF = N.POSITIVE_INFINITY;

/**
 * μ of the Gaussian-DP (CLT) approximation of T Poisson-subsampled Gaussian steps (Bu, Dong, Long, Su
 * 2020): μ = q·√(T·(e^{1/σ²} − 1)).
 *
 * @param q - sampling rate
 * @param sigma - noise multiplier
 * @param steps - number of steps
 */
export function gdpMuPoisson(q: number, sigma: number, steps: number): number {
  return M.sqrt(M.expm1(1 / (sigma * sigma))) * M.sqrt(steps) * q;
}

/**
 * μ of the CLT approximation for uniform (fixed-size, without replacement) batches (Bu et al. 2020):
 * μ = √2·q·√T·√(e^{1/σ²}Φ(1.5/σ) + 3Φ(−0.5/σ) − 2).
 *
 * @param q - batch size / dataset size
 * @param sigma - noise multiplier
 * @param steps - number of steps
 */
export function gdpMuUniform(q: number, sigma: number, steps: number): number {
  const inner = M.exp(1 / (sigma * sigma)) * ndtr(1.5 / sigma) + 3 * ndtr(-0.5 / sigma) - 2;
  return M.SQRT2 * q * M.sqrt(steps) * M.sqrt(inner);
}

/**
 * The δ of μ-GDP at ε (Dong, Roth, Su 2019): δ(ε) = Φ(−ε/μ + μ/2) − e^ε Φ(−ε/μ − μ/2), the second term
 * evaluated as exp(ε + log Φ(·)) so it neither overflows nor underflows for large ε.
 *
 * @param epsilon - ε ≥ 0
 * @param mu - μ > 0
 */
export function gdpDelta(epsilon: number, mu: number): number {
  return ndtr(-epsilon / mu + mu / 2) - M.exp(epsilon + logNdtr(-epsilon / mu - mu / 2));
}

/**
 * The ε at which μ-GDP gives δ: the root of δ(ε) = δ (Brent's method, tolerance 2e-12 as scipy's
 * `brentq`), bracketed in [0, 500] as Opacus does and widened by doubling when ε is larger; 0 when
 * δ(0) ≤ δ already.
 *
 * @param mu - μ > 0
 * @param delta - target δ in (0, 1)
 */
export function gdpEpsilon(mu: number, delta: number): number {
  if (gdpDelta(0, mu) <= delta) return 0;
  let hi = 500;
  while (gdpDelta(hi, mu) > delta) {
    hi *= 2;
    if (hi > 1e12) return INF;
  }
  return brentRoot((e) => gdpDelta(e, mu) - delta, 0, hi);
}

/** Options of {@link GDPAccountant}. */
export interface GDPAccountantOptions {
  /** Batches drawn by Poisson sampling (default true); false uses the uniform-sampling μ. */
  poisson?: boolean;
}

/**
 * Gaussian-DP accountant from the central limit theorem (Bu, Dong, Long, Su 2020), Opacus'
 * `GaussianAccountant`: T steps of the subsampled Gaussian mechanism are approximated by μ-GDP with
 * μ = q√(T(e^{1/σ²} − 1)), and ε solves Φ(−ε/μ + μ/2) − e^ε Φ(−ε/μ − μ/2) = δ.
 *
 * An asymptotic approximation, NOT an upper bound: it can under-state ε (notably for few steps or
 * large q), so use it for comparison, never for a guarantee. Like Opacus, it accepts only a constant
 * (σ, q): a step with different parameters throws `InvalidOptionError`.
 *
 * @example
 * ```ts
 * import { GDPAccountant } from '@opt/privacy';
 * const accountant = new GDPAccountant();
 * accountant.step({ noiseMultiplier: 1.5, sampleRate: 0.04 }, 2249);
 * console.log(accountant.getEpsilon(1e-5).toFixed(4)); // 6.5998
 * ```
 */
export class GDPAccountant extends BaseAccountant {
  /** Always `'gdp'`. */
  readonly mechanism: AccountantMechanism = 'gdp';
  /** Whether the Poisson-sampling μ is used. */
  readonly poisson: boolean;

  /** @param options - sampling scheme */
  constructor(options: GDPAccountantOptions = {}) {
    super();
    const poisson = options.poisson ?? true;
    if (typeof poisson !== 'boolean') throw new InvalidOptionError('poisson', poisson, 'true or false', 'GDPAccountant');
    this.poisson = poisson;
  }

  /** μ of the history's GDP approximation (0 for an empty history). */
  getMu(): number {
    const e = this.entries[0];
    if (!e) return 0;
    return this.poisson
      ? gdpMuPoisson(e.sampleRate, e.noiseMultiplier, e.steps)
      : gdpMuUniform(e.sampleRate, e.noiseMultiplier, e.steps);
  }

  /**
   * ε at δ under the CLT approximation (0 for an empty history).
   *
   * @param delta - target δ in (0, 1)
   */
  getEpsilon(delta: number): number {
    this.checkDelta(delta);
    if (this.entries.length === 0) return 0;
    return gdpEpsilon(this.getMu(), delta);
  }

  protected override beforeStep(p: MechanismStep): void {
    const last = this.entries[0];
    if (last && (last.noiseMultiplier !== p.noiseMultiplier || last.sampleRate !== p.sampleRate)) {
      throw new InvalidOptionError(
        'params',
        p,
        `the same noise multiplier and sample rate as earlier steps (${last.noiseMultiplier}, ${last.sampleRate}); ` +
          'GDP accounting does not compose heterogeneous steps, use RDPAccountant or PRVAccountant',
        'GDPAccountant.step',
      );
    }
  }

  protected override validateLoadedHistory(entries: readonly AccountantHistoryEntry[]): void {
    if (entries.length > 1) {
      throw new StateDictError('GDPAccountant.loadStateDict: history must have at most one entry (constant noise and rate)');
    }
  }
}
