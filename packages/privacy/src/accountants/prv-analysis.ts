import { AccountantComputationError } from '../errors.js';
import { circularSelfConvolve, linearConvolve } from '../math/fft.js';
import { integrate } from '../math/quadrature.js';
import { erfc } from '../math/special.js';
import type { AccountantHistoryEntry } from './accountant.js';
import { OPACUS_RDP_ORDERS, rdpPoissonGaussian } from './rdp-analysis.js';

// Module-level aliases of the global objects: inside a vm context (jest's test environment) every read
// of a global identifier such as `Math` or `Infinity` goes through the context's interceptor and costs
// 10-25x more than a local; these hot numerical loops read them millions of times.
const M = Math;
const N = Number;
const INF = N.POSITIVE_INFINITY;

/**
 * Numerical composition of privacy random variables (Gopi, Lee, Wutschitz 2021, arXiv:2106.02848), in
 * the form Opacus implements it (`opacus.accountants.analysis.prv`): truncate the privacy loss to
 * [−L, L], discretise it on a uniform grid (CDF differences, then a shift that restores the continuous
 * mean), self-compose by FFT, convolve heterogeneous parts, and read ε(δ) off the composed pmf.
 *
 * @packageDocumentation
 */

/** A uniform grid t_i = tMin + i·dt, i = 0..size−1 (size even), with the accumulated mean shifts. */
export interface PrvDomain {
  /** First grid point. */
  tMin: number;
  /** Last grid point. */
  tMax: number;
  /** Number of points (even). */
  size: number;
  /** Total shift applied to the grid so far (mean corrections). */
  shifts: number;
}

/** A discretised privacy random variable: probability masses on a grid. */
export interface DiscretePrv {
  /** Probability mass at each grid point. */
  pmf: Float64Array;
  /** The grid. */
  domain: PrvDomain;
}

/** ε bounds of a discretised PRV: the estimate and Gopi et al.'s error interval. */
export interface PrvEpsilonBounds {
  /** ε(δ + δ_err) − ε_err: a lower bound on the true ε. */
  lower: number;
  /** ε(δ) of the discretised PRV. */
  estimate: number;
  /** ε(δ − δ_err) + ε_err: an upper bound on the true ε (what Opacus' `get_epsilon` returns). */
  upper: number;
}

/** Grid spacing of a domain: (tMax − tMin)/(size − 1). */
export function domainDt(d: PrvDomain): number {
  return (d.tMax - d.tMin) / (d.size - 1);
}

/**
 * The grid covering [tMin, tMax] with spacing dt, aligned to multiples of dt and extended by one point
 * when needed to make the size even (Opacus' `Domain.create_aligned`).
 *
 * @param tMin - lower end
 * @param tMax - upper end
 * @param dt - spacing
 */
export function createAlignedDomain(tMin: number, tMax: number, dt: number): PrvDomain {
  const lo = M.floor(tMin / dt) * dt;
  let hi = M.ceil(tMax / dt) * dt;
  let size = M.round((hi - lo) / dt) + 1;
  if (size % 2 === 1) {
    size += 1;
    hi += dt;
  }
  const domain = { tMin: lo, tMax: hi, size, shifts: 0 };
  if (M.abs(domainDt(domain) - dt) / dt >= 1e-8) {
    throw new AccountantComputationError(`PRV grid spacing drifted: asked ${dt}, got ${domainDt(domain)}`);
  }
  return domain;
}

function shiftDomain(d: PrvDomain, by: number): PrvDomain {
  return { tMin: d.tMin + by, tMax: d.tMax + by, size: d.size, shifts: d.shifts + by };
}

/** The grid points, as numpy's `linspace` (t_i = tMin + i·dt, last point exactly tMax). */
function gridPoints(d: PrvDomain): Float64Array {
  const ts = new Float64Array(d.size);
  const step = domainDt(d);
  for (let i = 0; i < d.size; i++) ts[i] = d.tMin + i * step;
  ts[d.size - 1] = d.tMax;
  return ts;
}

/**
 * CDF of the privacy loss of one Poisson-subsampled Gaussian step (Gopi et al. 2021, Prop. B4): with
 * z(t) = log((e^t + q − 1)/q), for t > log(1 − q)
 *
 * F(t) = 1 − (q/2)·erfc((2zσ² − 1)/(2√2σ)) − ((1 − q)/2)·erfc((2zσ² + 1)/(2√2σ)),
 *
 * and F(t) = 0 below.
 *
 * @param q - sampling rate in (0, 1]
 * @param sigma - noise multiplier > 0
 * @param t - privacy-loss value
 */
export function poissonGaussianPrvCdf(q: number, sigma: number, t: number): number {
  if (!(t > M.log(1 - q))) return 0;
  // For t > 0, z = t + log1p((q − 1)e^{−t}) − log q: the same value without the overflow of e^t beyond
  // t ≈ 709, which would silently drop the tail mass of very large losses.
  const z = t > 0 ? t + M.log1p((q - 1) * M.exp(-t)) - M.log(q) : M.log((M.exp(t) + q - 1) / q);
  const s2 = sigma * sigma;
  const d = 2 * M.SQRT2 * sigma;
  return 1 - (q * erfc((2 * z * s2 - 1) / d)) / 2 - ((1 - q) * erfc((2 * z * s2 + 1) / d)) / 2;
}

/** The PRV truncated to [tMin, tMax] and renormalised. */
class TruncatedPrv {
  private readonly fMin: number;
  private readonly mass: number;

  constructor(
    readonly q: number,
    readonly sigma: number,
    readonly tMin: number,
    readonly tMax: number,
  ) {
    this.fMin = poissonGaussianPrvCdf(q, sigma, tMin);
    this.mass = poissonGaussianPrvCdf(q, sigma, tMax) - this.fMin;
  }

  cdf(t: number): number {
    if (t < this.tMin) return 0;
    if (t < this.tMax) return (poissonGaussianPrvCdf(this.q, this.sigma, t) - this.fMin) / this.mass;
    return 1;
  }

  /**
   * E[T] = Σ_pieces [t·F(t)]_l^r − ∫_l^r F, with Opacus' break points at ±1e-5 … ±1e-1 plus, on purpose,
   * log-spaced break points just above t₀ = log(1 − q). For small σ most of the mass piles up within
   * ~1e-3 of t₀, where F rises like Φ(a·log(t − t₀) + b): a quadrature without those break points misses
   * the rise (with scipy 1.17's `quad`, Opacus' own code is off by 8.7e-4 at q = 0.1, σ = 0.5, more than
   * half a grid cell, and then aborts on "discrete mean differs"); with them the mean matches a 30-digit
   * mpmath integral to 1e-12.
   */
  mean(): number {
    const pts = [this.tMin, -1e-1, -1e-2, -1e-3, -1e-4, -1e-5, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, this.tMax];
    const t0 = M.log(1 - this.q);
    if (t0 > this.tMin) {
      pts.push(t0);
      for (let k = -12; k <= -1; k++) pts.push(t0 + 10 ** k);
    }
    const sorted = pts.filter((t) => t >= this.tMin && t <= this.tMax).sort((a, b) => a - b);
    const f = (t: number): number => this.cdf(t);
    let mean = 0;
    for (let i = 0; i + 1 < sorted.length; i++) {
      const l = sorted[i]!;
      const r = sorted[i + 1]!;
      if (r <= l) continue;
      mean += r * this.cdf(r) - l * this.cdf(l) - integrate(f, l, r, 1e-14, 1e-13, 4000);
    }
    return mean;
  }
}

/**
 * Discretises one (truncated) SGM privacy random variable on the grid: mass of each cell
 * [t_i − dt/2, t_i + dt/2] by CDF differences (cell edges computed once and shared by neighbours), then
 * the grid is shifted so the discrete mean equals the continuous one. Throws `AccountantComputationError`
 * when the shift would exceed dt/2 (Opacus' "Discrete mean differs significantly from continuous mean").
 *
 * @param q - sampling rate
 * @param sigma - noise multiplier
 * @param domain - the grid
 */
export function discretizePrv(q: number, sigma: number, domain: PrvDomain): DiscretePrv {
  const prv = new TruncatedPrv(q, sigma, domain.tMin, domain.tMax);
  const n = domain.size;
  const ts = gridPoints(domain);
  const dt = domainDt(domain);
  const pmf = new Float64Array(n);
  let prev = prv.cdf(ts[0]! - dt / 2);
  let meanD = 0;
  for (let i = 0; i < n; i++) {
    const next = prv.cdf(ts[i]! + dt / 2);
    pmf[i] = next - prev;
    prev = next;
    meanD += ts[i]! * pmf[i]!;
  }
  const shift = prv.mean() - meanD;
  if (!(M.abs(shift) < dt / 2)) {
    throw new AccountantComputationError(
      `PRV discretisation failed: discrete mean differs from the continuous mean by ${shift} ` +
        `(more than half the grid spacing ${dt}) for q ${q}, sigma ${sigma}; use the RDP accountant`,
    );
  }
  return { pmf, domain: shiftDomain(domain, shift) };
}

/**
 * k-fold self-composition: irfft(rfft(pmf)^k) (a circular convolution of the grid's length), rolled by
 * k − 1 (plus half the length for even k) so the composed loss sits on the same grid, shifted by the
 * accumulated mean corrections.
 */
function composeSelf(d: DiscretePrv, k: number): DiscretePrv {
  if (k === 1) return d;
  const n = d.pmf.length;
  const conv = circularSelfConvolve(d.pmf, k);
  let m = k - 1;
  if (k % 2 === 0) m += n / 2;
  m %= n;
  const rolled = new Float64Array(n);
  for (let i = 0; i < n; i++) rolled[(i + m) % n] = conv[i]!;
  return { pmf: rolled, domain: shiftDomain(d.domain, d.domain.shifts * (k - 1)) };
}

/** Linear convolution of two discretised PRVs, keeping the centred `size` points (scipy's mode 'same'). */
function composeTwo(left: DiscretePrv, right: DiscretePrv): DiscretePrv {
  const n = left.pmf.length;
  const full = linearConvolve(left.pmf, right.pmf);
  const start = (full.length - n) >> 1;
  return { pmf: full.slice(start, start + n), domain: shiftDomain(left.domain, right.domain.shifts) };
}

/**
 * Composes heterogeneous parts: each (pmf, k) self-composed by FFT, then neighbours convolved pairwise
 * until one remains (Opacus' convolution tree: with an odd count, the last part is carried to the front).
 *
 * @param parts - discretised PRVs on the same grid
 * @param counts - number of self-compositions of each
 */
export function composeHeterogeneous(parts: DiscretePrv[], counts: readonly number[]): DiscretePrv {
  let list = parts.map((p, i) => composeSelf(p, counts[i]!));
  while (list.length > 1) {
    const next: DiscretePrv[] = [];
    if (list.length % 2 === 1) next.push(list.pop()!);
    for (let i = 0; i + 1 < list.length; i += 2) next.push(composeTwo(list[i]!, list[i + 1]!));
    list = next;
  }
  return list[0]!;
}

/** numpy's `searchsorted(a, v, side='left')` by the same binary search (first i with a[i] ≥ v). */
function searchSortedLeft(a: Float64Array, v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = lo + ((hi - lo) >> 1);
    if (a[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * ε(δ) of a discretised PRV, with the error interval of Gopi et al.: δ(ε) = Σ_t p(t)(1 − e^{ε−t})₊ is
 * computed for every grid ε from suffix sums, and the smallest grid index i with δ(t_i) ≤ target gives
 * ε = log((Σ_{t≥t_i} p − δ)/Σ_{t≥t_i} p e^{−t}), as in Opacus.
 *
 * One deliberate change: Opacus forms Σ_{j≥i} p_j e^{−t_j} and multiplies by e^{t_i}, which overflows once
 * the grid reaches t ≈ −709 (it returns ε = ∞ for q = 1, σ = 0.8, 1000 steps, where the exact ε is 949).
 * Here S_i = Σ_{j≥i} p_j e^{t_i − t_j} is accumulated directly by S_i = p_i + e^{−Δt} S_{i+1}, whose
 * terms never exceed 1, so δ(t_i) = S_i − Σ_{j≥i} p_j and ε = t_i + log((Σ_{j≥i} p_j − δ)/S_i) stay finite.
 *
 * @param d - the composed discretised PRV
 * @param delta - target δ
 * @param deltaError - δ_err
 * @param epsError - ε_err
 */
export function prvEpsilonBounds(d: DiscretePrv, delta: number, deltaError: number, epsError: number): PrvEpsilonBounds {
  if (delta <= 0) return { lower: INF, estimate: INF, upper: INF };
  const n = d.pmf.length;
  if (N.EPSILON * n > delta - deltaError) {
    throw new AccountantComputationError(
      `PRV: floating-point error (${n} grid points) would dominate delta ${delta} - deltaError ${deltaError}; ` +
        'increase delta or reduce the grid (larger epsError)',
    );
  }
  const t = gridPoints(d.domain);
  const p = d.pmf;
  const d1 = new Float64Array(n);
  const scaled = new Float64Array(n);
  const decay = M.exp(-domainDt(d.domain));
  let s1 = 0;
  let s2 = 0;
  for (let i = n - 1; i >= 0; i--) {
    s1 += p[i]!;
    s2 = p[i]! + decay * s2;
    d1[i] = s1;
    scaled[i] = s2;
  }
  const negDelta = new Float64Array(n);
  for (let i = 0; i < n; i++) negDelta[i] = scaled[i]! - d1[i]!;
  const find = (target: number): number => {
    const i = searchSortedLeft(negDelta, -target);
    if (i <= 0 || i >= n) {
      throw new AccountantComputationError(
        `PRV: cannot compute epsilon for delta ${target}: it lies outside the grid's range of deltas`,
      );
    }
    return t[i]! + M.log((d1[i]! - target) / scaled[i]!);
  };
  return {
    lower: find(delta + deltaError) - epsError,
    estimate: find(delta),
    upper: find(delta - deltaError) + epsError,
  };
}

/** Opacus' RDP ε (improved conversion, no KL shortcut, no clipping) on its default orders. */
function opacusRdpEpsilon(history: readonly AccountantHistoryEntry[], delta: number): number {
  let best = INF;
  const logDelta = M.log(delta);
  for (const a of OPACUS_RDP_ORDERS) {
    let r = 0;
    for (const e of history) r += rdpPoissonGaussian(e.sampleRate, e.noiseMultiplier, a) * e.steps;
    const eps = r - (logDelta + M.log(a)) / (a - 1) + M.log((a - 1) / a);
    if (eps < best) best = eps;
  }
  return best;
}

/**
 * Truncation bound L of the PRV grid (Gopi et al., Remark 5.6, as Opacus computes it): the RDP ε of
 * the whole composition at δ_err/4 and of each single step at δ_err/(8k), plus 3.
 *
 * @param history - the composition
 * @param epsError - ε_err
 * @param deltaError - δ_err
 */
export function prvSafeDomainSize(
  history: readonly AccountantHistoryEntry[],
  epsError: number,
  deltaError: number,
): number {
  let total = 0;
  for (const e of history) total += e.steps;
  let lMax = opacusRdpEpsilon(history, deltaError / 4);
  for (const e of history) {
    const one = [{ noiseMultiplier: e.noiseMultiplier, sampleRate: e.sampleRate, steps: 1 }];
    lMax = M.max(lMax, opacusRdpEpsilon(one, deltaError / (8 * total)));
  }
  return M.max(lMax, epsError) + 3;
}

/**
 * The PRV grid for a composition: [−L, L] with mesh h = ε_err / √(k·log(12/δ_err)/2) (k = total steps).
 *
 * @param history - the composition
 * @param epsError - ε_err
 * @param deltaError - δ_err
 */
export function prvDomain(history: readonly AccountantHistoryEntry[], epsError: number, deltaError: number): PrvDomain {
  let total = 0;
  for (const e of history) total += e.steps;
  const l = prvSafeDomainSize(history, epsError, deltaError);
  const mesh = epsError / M.sqrt((total * M.log(12 / deltaError)) / 2);
  return createAlignedDomain(-l, l, mesh);
}

/**
 * Discretises and composes a whole history on one domain.
 *
 * @param history - the composition
 * @param domain - the grid from {@link prvDomain}
 */
export function composePrvHistory(history: readonly AccountantHistoryEntry[], domain: PrvDomain): DiscretePrv {
  const parts = history.map((e) => discretizePrv(e.sampleRate, e.noiseMultiplier, domain));
  return composeHeterogeneous(
    parts,
    history.map((e) => e.steps),
  );
}
