import { InvalidOptionError } from '@opt/tensor';
import { AccountantComputationError } from '../errors.js';
import { logAddExp, logErfc, logSubExp } from '../math/special.js';

// Module-level aliases of the global objects: inside a vm context (jest's test environment) every read
// of a global identifier such as `Math` or `Infinity` goes through the context's interceptor and costs
// 10-25x more than a local; these hot numerical loops read them millions of times.
const M = Math;
const N = Number;
const INF = N.POSITIVE_INFINITY;
const NAN = N.NaN;

/**
 * Rényi-DP analysis of the Poisson-subsampled Gaussian mechanism (SGM) and its conversion to
 * (ε, δ)-DP.
 *
 * @packageDocumentation
 */

/**
 * dp_accounting's `DEFAULT_RDP_ORDERS` (156 orders): 1.1, 1.2, …, 10.9, then 11 … 63, then 128, 256,
 * 512, 1024. Built with the same floating-point expression (1 + x/10) so every order is bit-identical to
 * the Python list.
 */
export const DEFAULT_RDP_ORDERS: readonly number[] = Object.freeze(buildOrders(11, true));

/**
 * Opacus' `RDPAccountant.DEFAULT_ALPHAS` (151 orders): 1.1 … 10.9 and 12 … 63, with neither 11 nor
 * anything above 63. Use it to reproduce Opacus' numbers; its grid over-states small ε (the optimum of a
 * small-ε run often sits at 128 or beyond).
 */
export const OPACUS_RDP_ORDERS: readonly number[] = Object.freeze(buildOrders(12, false));

function buildOrders(firstInteger: number, large: boolean): number[] {
  const orders: number[] = [];
  for (let x = 1; x < 100; x++) orders.push(1 + x / 10);
  for (let a = firstInteger; a < 64; a++) orders.push(a);
  if (large) orders.push(128, 256, 512, 1024);
  return orders;
}

/**
 * The RDP-to-(ε, δ) conversion.
 *
 * - `'improved'`: ε = ε(α) + log(1 − 1/α) − log(δα)/(α − 1) (Balle et al. 2020, Thm 21; Canonne, Kamath
 *   and Steinke 2020, Prop. 12), with dp_accounting's refinements: ε = 0 when δ² + expm1(−ε(α)) > 0 (the
 *   KL bound δ ≤ √(1 − e^{−ε(α)})), orders α ≤ 1.01 skipped, result clipped at 0. What dp_accounting and
 *   Opacus report today.
 * - `'basic'`: ε = ε(α) + log(1/δ)/(α − 1) (Mironov 2017, Prop. 3). Every pre-2021 published number uses it
 *   (Abadi et al. 2016, the TensorFlow Privacy and Opacus READMEs).
 */
export type RdpConversion = 'improved' | 'basic';

/** An (ε, δ) guarantee with the RDP order that attains it. */
export interface EpsilonAndOrder {
  /** The smallest ε over the orders. */
  epsilon: number;
  /** The order α at which the minimum is attained (`NaN` when every order gives +∞). */
  order: number;
}

/**
 * log A_α for integer α: A_α = Σ_{k=0..α} C(α,k) (1−q)^{α−k} q^k e^{(k²−k)/(2σ²)}, a finite sum of
 * positive terms accumulated with log-add-exp (Mironov, Talwar, Zhang 2019, §3.3).
 */
function logAInt(q: number, sigma: number, alpha: number): number {
  const logQ = M.log(q);
  const log1mQ = M.log1p(-q);
  const twoSigma2 = 2 * sigma * sigma;
  let logA = -INF;
  let logCoef = 0; // log C(α, 0)
  for (let k = 0; k <= alpha; k++) {
    if (k > 0) logCoef += M.log((alpha - k + 1) / k);
    const s = logCoef + k * logQ + (alpha - k) * log1mQ + (k * k - k) / twoSigma2;
    logA = logAddExp(logA, s);
  }
  return logA;
}

/**
 * log A_α for fractional α, by the two-sided series of Mironov, Talwar, Zhang 2019 (§3.3) with the
 * generalised binomial coefficients, whose sign alternates once k > α. The terms are summed WITH their
 * signs (log-space add or subtract) and the series stops when both new terms fall below e^−30, exactly as
 * Opacus and the original TensorFlow Privacy code do: this is the exact value (within ~1e-9 relative of
 * a 50-digit quadrature), not dp_accounting's absolute-value upper bound, which over-states ε(α) by up to
 * 29 % at α < 3.
 */
function logAFrac(q: number, sigma: number, alpha: number): number {
  const logQ = M.log(q);
  const log1mQ = M.log1p(-q);
  const sigma2 = sigma * sigma;
  const z0 = sigma2 * M.log(1 / q - 1) + 0.5;
  const invSqrt2Sigma = 1 / (M.SQRT2 * sigma);
  let logA0 = -INF;
  let logA1 = -INF;
  let coef = 1; // C(α, 0), carried as a float for its sign
  let logAbsCoef = 0;
  // The series converges like (1−q)^k k^{−α−1} once k passes z0; the cap only guards against NaN inputs.
  const maxTerms = 100000 + M.ceil(4 * z0);
  for (let i = 0; i < maxTerms; i++) {
    if (i > 0) {
      const r = (alpha - i + 1) / i;
      coef *= r;
      logAbsCoef += M.log(M.abs(r));
      // Keep the float coefficient in range; only its sign is used.
      if (M.abs(coef) < 1e-200 || M.abs(coef) > 1e200) coef = coef > 0 ? 1 : -1;
    }
    const j = alpha - i;
    const logT0 = logAbsCoef + i * logQ + j * log1mQ;
    const logT1 = logAbsCoef + j * logQ + i * log1mQ;
    const logE0 = M.log(0.5) + logErfc((i - z0) * invSqrt2Sigma);
    const logE1 = M.log(0.5) + logErfc((z0 - j) * invSqrt2Sigma);
    const logS0 = logT0 + (i * i - i) / (2 * sigma2) + logE0;
    const logS1 = logT1 + (j * j - j) / (2 * sigma2) + logE1;
    if (coef > 0) {
      logA0 = logAddExp(logA0, logS0);
      logA1 = logAddExp(logA1, logS1);
    } else {
      logA0 = logSubExp(logA0, logS0);
      logA1 = logSubExp(logA1, logS1);
      if (N.isNaN(logA0) || N.isNaN(logA1)) {
        throw new AccountantComputationError(
          `RDP series for order ${alpha} (q ${q}, sigma ${sigma}) went negative: the signed series lost all ` +
            'precision; drop this order from the grid',
        );
      }
    }
    if (M.max(logS0, logS1) < -30) return logAddExp(logA0, logA1);
  }
  throw new AccountantComputationError(
    `RDP series for order ${alpha} (q ${q}, sigma ${sigma}) did not converge in ${maxTerms} terms`,
  );
}

/**
 * RDP ε(α) of ONE step of the Poisson-subsampled Gaussian mechanism with sampling rate q and noise
 * multiplier σ (noise std / L2 sensitivity), under add-or-remove-one adjacency:
 *
 * ε(α) = log(A_α)/(α − 1), A_α = E_{z∼N(0,σ²)}[((1−q) + q·exp((2z−1)/(2σ²)))^α]
 *
 * (Mironov, Talwar, Zhang 2019). Special cases: q = 0 → 0; σ = 0 → +∞; q = 1 → α/(2σ²) (the plain Gaussian
 * mechanism); α = +∞ → +∞. Integer orders use the exact binomial sum; fractional orders the signed series.
 *
 * @param q - sampling rate in [0, 1]
 * @param sigma - noise multiplier ≥ 0
 * @param alpha - order α > 1 (or `Infinity`)
 */
export function rdpPoissonGaussian(q: number, sigma: number, alpha: number): number {
  if (q === 0) return 0;
  if (sigma === 0) return INF;
  if (q === 1) return alpha / (2 * sigma * sigma);
  if (alpha === INF) return INF;
  const logA = N.isInteger(alpha) ? logAInt(q, sigma, alpha) : logAFrac(q, sigma, alpha);
  return logA / (alpha - 1);
}

/**
 * RDP of `steps` compositions of the Poisson-subsampled Gaussian mechanism at every order:
 * ε_T(α) = T·ε(α) (RDP composes additively).
 *
 * @param q - sampling rate in [0, 1]
 * @param sigma - noise multiplier ≥ 0
 * @param steps - number of steps T ≥ 0
 * @param orders - RDP orders (default: dp_accounting's 156)
 * @returns one value per order (`Infinity` where the guarantee is void)
 */
export function computeRdp(
  q: number,
  sigma: number,
  steps: number,
  orders: readonly number[] = DEFAULT_RDP_ORDERS,
): number[] {
  checkRange('q', q, 0, 1, true, true);
  if (!(sigma >= 0)) throw new InvalidOptionError('sigma', sigma, 'a number >= 0', 'computeRdp');
  if (!(N.isInteger(steps) && steps >= 0)) {
    throw new InvalidOptionError('steps', steps, 'an integer >= 0', 'computeRdp');
  }
  checkOrders(orders, 'computeRdp');
  const out = new Array<number>(orders.length);
  for (let i = 0; i < orders.length; i++) {
    const r = rdpPoissonGaussian(q, sigma, orders[i]!);
    // 0 × ∞ stays 0: zero steps spend nothing even when one step would void the guarantee.
    out[i] = steps === 0 ? 0 : r * steps;
  }
  return out;
}

/**
 * Converts RDP values at several orders to (ε, δ)-DP and returns the smallest ε with its order.
 *
 * improved: ε_α = r_α + log(1 − 1/α) − log(δα)/(α − 1), or 0 if δ² + expm1(−r_α) > 0, or +∞ if α ≤ 1.01;
 * ε = max(0, min_α ε_α). basic: ε = min_α r_α + log(1/δ)/(α − 1). Ties go to the first order, as in
 * numpy's argmin.
 *
 * @param orders - the orders α > 1
 * @param rdp - RDP value at each order (≥ 0, `Infinity` allowed)
 * @param delta - target δ in (0, 1)
 * @param conversion - `'improved'` (default) or `'basic'`
 */
export function rdpToEpsilon(
  orders: readonly number[],
  rdp: ArrayLike<number>,
  delta: number,
  conversion: RdpConversion = 'improved',
): EpsilonAndOrder {
  checkDelta(delta, 'rdpToEpsilon');
  if (orders.length !== rdp.length) {
    throw new InvalidOptionError('rdp', rdp.length, `one value per order (${orders.length})`, 'rdpToEpsilon');
  }
  const logDelta = M.log(delta);
  let best = INF;
  let bestOrder = NAN;
  for (let i = 0; i < orders.length; i++) {
    const a = orders[i]!;
    const r = rdp[i]!;
    let eps: number;
    if (conversion === 'basic') {
      eps = r - logDelta / (a - 1);
    } else if (delta * delta + M.expm1(-r) > 0) {
      eps = 0;
    } else if (a > 1.01) {
      eps = r + M.log1p(-1 / a) - (logDelta + M.log(a)) / (a - 1);
    } else {
      eps = INF;
    }
    if (eps < best) {
      best = eps;
      bestOrder = a;
    }
  }
  return { epsilon: conversion === 'basic' ? best : M.max(0, best), order: bestOrder };
}

/**
 * The smallest δ for a given ε from RDP values (dp_accounting's `compute_delta`):
 * log δ = min_α min{ ½ log(1 − e^{−r_α}), (α−1)(r_α − ε + log(1 − 1/α)) − log α }, clipped at 1.
 *
 * @param orders - the orders α > 1
 * @param rdp - RDP value at each order
 * @param epsilon - target ε ≥ 0
 */
export function rdpToDelta(orders: readonly number[], rdp: ArrayLike<number>, epsilon: number): number {
  if (!(epsilon >= 0)) throw new InvalidOptionError('epsilon', epsilon, 'a number >= 0', 'rdpToDelta');
  let best = INF;
  for (let i = 0; i < orders.length; i++) {
    const a = orders[i]!;
    const r = rdp[i]!;
    // KL bound δ ≤ √(1 − e^{−KL}), with KL ≤ ε(α) for α ≥ 1.
    let logDelta = 0.5 * M.log(-M.expm1(-r));
    if (a > 1.01) {
      const bound = (a - 1) * (r - epsilon + M.log1p(-1 / a)) - M.log(a);
      if (bound < logDelta) logDelta = bound;
    }
    if (logDelta < best) best = logDelta;
  }
  return M.min(M.exp(best), 1);
}

/** @internal Range check with the library's error type. */
export function checkRange(
  option: string,
  value: unknown,
  lo: number,
  hi: number,
  loClosed: boolean,
  hiClosed: boolean,
  where = 'privacy',
): number {
  const ok =
    typeof value === 'number' &&
    (loClosed ? value >= lo : value > lo) &&
    (hiClosed ? value <= hi : value < hi);
  if (!ok) {
    const range = `${loClosed ? '[' : '('}${lo}, ${hi}${hiClosed ? ']' : ')'}`;
    throw new InvalidOptionError(option, value, `a number in ${range}`, where);
  }
  return value as number;
}

/** @internal δ must be in (0, 1). */
export function checkDelta(delta: unknown, where: string): number {
  return checkRange('delta', delta, 0, 1, false, false, where);
}

/** @internal Orders must be numbers > 1 (`Infinity` allowed). */
export function checkOrders(orders: unknown, where: string): readonly number[] {
  if (!Array.isArray(orders) || orders.length === 0) {
    throw new InvalidOptionError('orders', orders, 'a non-empty array of numbers > 1', where);
  }
  for (const a of orders) {
    if (typeof a !== 'number' || !(a > 1)) {
      throw new InvalidOptionError('orders', a, 'every order a number > 1', where);
    }
  }
  return orders as readonly number[];
}
