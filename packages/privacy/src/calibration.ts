import { InvalidOptionError } from '@opt/tensor';
import type { PrivacyAccountant } from './accountants/accountant.js';
import { checkStepCount } from './accountants/accountant.js';
import { GDPAccountant } from './accountants/gdp.js';
import { PRVAccountant } from './accountants/prv.js';
import { RDPAccountant } from './accountants/rdp.js';
import { OPACUS_RDP_ORDERS, checkDelta, checkRange, type RdpConversion } from './accountants/rdp-analysis.js';
import { NoiseCalibrationError } from './errors.js';

/**
 * Noise calibration: the noise multiplier σ that makes a DP-SGD run meet an (ε, δ) target.
 *
 * @packageDocumentation
 */

/** Options of {@link getNoiseMultiplier}. Give exactly one of `steps` and `epochs`. */
export interface NoiseMultiplierOptions {
  /** Target ε > 0. */
  targetEpsilon: number;
  /** Target δ in (0, 1). */
  delta: number;
  /** Poisson sampling rate q in (0, 1]. */
  sampleRate: number;
  /** Number of DP-SGD steps (a non-negative integer). */
  steps?: number;
  /** Number of epochs; converted as steps = ⌊epochs / q⌋ (Opacus' `int(epochs / sample_rate)`). */
  epochs?: number;
  /** Accountant: `'rdp'` (default), `'prv'` (its upper bound) or `'gdp'` (CLT approximation, not a bound). */
  accountant?: 'rdp' | 'prv' | 'gdp';
  /**
   * Stop once target − ε(σ) ≤ this (σ is always on the safe side: ε(σ) ≤ target).
   * Default: 1e-9·target for `'bisection'`, 0.01 for `'opacus'`.
   */
  epsilonTolerance?: number;
  /**
   * `'bisection'` (default): bracket the root by doubling/halving from σ = 1, then bisect until ε is
   * within `epsilonTolerance` below the target or the bracket is narrower than 1e-12·σ.
   * `'opacus'`: Opacus' `get_noise_multiplier` step for step (σ_high = 10 doubled until ε ≤ target,
   * then bisection of [0, σ_high] until target − ε ≤ `epsilonTolerance`, default 0.01), with Opacus'
   * default RDP orders unless `orders` is given; reproduces its outputs exactly.
   */
  method?: 'bisection' | 'opacus';
  /** RDP orders (RDP accountant only; default dp_accounting's, or Opacus' in `'opacus'` mode). */
  orders?: readonly number[];
  /** RDP conversion (RDP accountant only; default `'improved'`). */
  conversion?: RdpConversion;
  /** PRV ε error (PRV accountant only; default 0.01). */
  epsError?: number;
  /** Largest σ tried before giving up with `NoiseCalibrationError` (default 1e6, Opacus' `MAX_SIGMA`). */
  maxNoiseMultiplier?: number;
}

/**
 * The noise multiplier σ for which `steps` Poisson-subsampled Gaussian steps at rate q spend at most
 * `targetEpsilon` at `delta` under the chosen accountant, by bracketing and bisection.
 *
 * Guarantee: the returned σ satisfies ε(σ) ≤ target, and (with the default method) either
 * target − ε(σ) ≤ `epsilonTolerance` (default 1e-9·target) or σ is within 1e-12 relative of the smallest
 * such σ the bisection can resolve. ε(σ) is non-increasing in σ for all three accountants, so the
 * bracket [σ_low, σ_high] with ε(σ_low) > target ≥ ε(σ_high) always contains the root.
 *
 * Throws `InvalidOptionError` for bad inputs (target ≤ 0, δ outside (0, 1), q outside (0, 1], both or
 * neither of steps/epochs) and `NoiseCalibrationError` when no σ up to `maxNoiseMultiplier` reaches the
 * target (e.g. a PRV target at or below its `epsError`, which bounds its upper estimate from below).
 *
 * @param options - target, sampling rate, length of training and accountant
 * @returns σ (noise standard deviation / clipping norm)
 *
 * @example
 * ```ts
 * import { getNoiseMultiplier } from '@opt/privacy';
 * const sigma = getNoiseMultiplier({ targetEpsilon: 3, delta: 1e-5, sampleRate: 256 / 60000, epochs: 60 });
 * console.log(sigma.toFixed(4)); // 1.0140
 * ```
 */
export function getNoiseMultiplier(options: NoiseMultiplierOptions): number {
  const where = 'getNoiseMultiplier';
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', options, 'an options object', where);
  }
  const target = options.targetEpsilon;
  if (typeof target !== 'number' || !Number.isFinite(target) || target <= 0) {
    throw new InvalidOptionError('targetEpsilon', target, 'a finite number > 0', where);
  }
  const delta = checkDelta(options.delta, where);
  const q = checkRange('sampleRate', options.sampleRate, 0, 1, false, true, where);
  const steps = resolveSteps(options, q, where);
  const kind = options.accountant ?? 'rdp';
  if (kind !== 'rdp' && kind !== 'prv' && kind !== 'gdp') {
    throw new InvalidOptionError('accountant', kind, "'rdp', 'prv' or 'gdp'", where);
  }
  const method = options.method ?? 'bisection';
  if (method !== 'bisection' && method !== 'opacus') {
    throw new InvalidOptionError('method', method, "'bisection' or 'opacus'", where);
  }
  const tol = options.epsilonTolerance ?? (method === 'opacus' ? 0.01 : 1e-9 * target);
  if (typeof tol !== 'number' || !(tol >= 0) || !Number.isFinite(tol)) {
    throw new InvalidOptionError('epsilonTolerance', tol, 'a finite number >= 0', where);
  }
  const maxSigma = options.maxNoiseMultiplier ?? 1e6;
  if (typeof maxSigma !== 'number' || !(maxSigma > 0)) {
    throw new InvalidOptionError('maxNoiseMultiplier', maxSigma, 'a number > 0', where);
  }
  const epsError = options.epsError ?? 0.01;
  if (kind === 'prv' && target <= epsError) {
    throw new NoiseCalibrationError(
      target,
      epsError,
      Infinity,
      `the PRV accountant's upper bound is at least its epsError (${epsError}); lower epsError or use 'rdp'`,
    );
  }
  if (steps === 0) return 0;

  const orders = options.orders ?? (method === 'opacus' && kind === 'rdp' ? OPACUS_RDP_ORDERS : undefined);
  const makeAccountant = (): PrivacyAccountant & { getEpsilon(delta: number): number } => {
    if (kind === 'prv') return new PRVAccountant({ maxDomainSize: Infinity });
    if (kind === 'gdp') return new GDPAccountant();
    return new RDPAccountant({ ...(orders ? { orders } : {}), conversion: options.conversion ?? 'improved' });
  };
  const epsilonAt = (sigma: number): number => {
    const acc = makeAccountant();
    acc.step({ noiseMultiplier: sigma, sampleRate: q }, steps);
    if (acc instanceof PRVAccountant) return acc.getEpsilon(delta, { epsError });
    return acc.getEpsilon(delta);
  };

  if (method === 'opacus') return opacusSearch(epsilonAt, target, tol, maxSigma);

  // Bracket: ε(lo) > target ≥ ε(hi).
  let hi = 1;
  let epsHi = epsilonAt(hi);
  let lo = 0;
  if (epsHi > target) {
    lo = hi;
    while (epsHi > target) {
      lo = hi;
      hi *= 2;
      if (hi > maxSigma) {
        throw new NoiseCalibrationError(target, epsHi, hi / 2, 'the target is below what any noise level reaches');
      }
      epsHi = epsilonAt(hi);
    }
  } else {
    lo = hi / 2;
    for (let epsLo = epsilonAt(lo); epsLo <= target; epsLo = epsilonAt(lo)) {
      hi = lo;
      epsHi = epsLo;
      lo /= 2;
      if (lo < 1e-8) return hi;
    }
  }
  while (target - epsHi > tol && hi - lo > 1e-12 * hi) {
    const mid = 0.5 * (lo + hi);
    const eps = epsilonAt(mid);
    if (eps <= target) {
      hi = mid;
      epsHi = eps;
    } else {
      lo = mid;
    }
  }
  return hi;
}

/** Opacus' `get_noise_multiplier` search, operation for operation. */
function opacusSearch(epsilonAt: (s: number) => number, target: number, tol: number, maxSigma: number): number {
  let sigmaLow = 0;
  let sigmaHigh = 10;
  let epsHigh = Infinity;
  while (epsHigh > target) {
    sigmaHigh = 2 * sigmaHigh;
    epsHigh = epsilonAt(sigmaHigh);
    if (sigmaHigh > maxSigma) {
      throw new NoiseCalibrationError(target, epsHigh, sigmaHigh, 'the privacy budget is too low');
    }
  }
  while (target - epsHigh > tol) {
    const sigma = (sigmaLow + sigmaHigh) / 2;
    const eps = epsilonAt(sigma);
    if (eps < target) {
      sigmaHigh = sigma;
      epsHigh = eps;
    } else {
      sigmaLow = sigma;
    }
  }
  return sigmaHigh;
}

function resolveSteps(options: NoiseMultiplierOptions, q: number, where: string): number {
  const hasSteps = options.steps !== undefined;
  const hasEpochs = options.epochs !== undefined;
  if (hasSteps === hasEpochs) {
    throw new InvalidOptionError('steps', options.steps, 'exactly one of steps and epochs', where);
  }
  if (hasSteps) return checkStepCount(options.steps, where, 'steps');
  const epochs = options.epochs;
  if (typeof epochs !== 'number' || !Number.isFinite(epochs) || epochs < 0) {
    throw new InvalidOptionError('epochs', epochs, 'a finite number >= 0', where);
  }
  return Math.floor(epochs / q);
}
