import { type FloatArray, zerosLike } from '@opt/tensor';

/**
 * Minimiser of the cubic that interpolates two points `(x1, f1, g1)` and
 * `(x2, f2, g2)` of a one-dimensional function (values f, slopes g), clamped to
 * `[lo, hi]` (by default the interval between x1 and x2), as PyTorch's
 * `_cubic_interpolate` (a port of minFunc's `polyinterp`):
 *
 * ```
 * d1 = g1 + g2 − 3(f1 − f2)/(x1 − x2)
 * d2 = √(d1² − g1·g2)                       (if d1² − g1·g2 < 0: return the midpoint of [lo, hi])
 * x* = x2 − (x2 − x1)·(g2 + d2 − d1)/(g2 − g1 + 2·d2)    (x1 ≤ x2; symmetric otherwise)
 * ```
 *
 * @param x1 - first abscissa.
 * @param f1 - value at x1.
 * @param g1 - slope at x1.
 * @param x2 - second abscissa.
 * @param f2 - value at x2.
 * @param g2 - slope at x2.
 * @param lo - lower clamp (default min(x1, x2)).
 * @param hi - upper clamp (default max(x1, x2)).
 * @example
 * ```ts
 * cubicInterpolate(0, 0, -1, 2, 0, 1); // 1: the cubic through (0,0,−1), (2,0,1) bottoms out in the middle
 * ```
 */
export function cubicInterpolate(
  x1: number,
  f1: number,
  g1: number,
  x2: number,
  f2: number,
  g2: number,
  lo: number = Math.min(x1, x2),
  hi: number = Math.max(x1, x2),
): number {
  const d1 = g1 + g2 - (3 * (f1 - f2)) / (x1 - x2);
  const d2Square = d1 * d1 - g1 * g2;
  if (d2Square >= 0) {
    const d2 = Math.sqrt(d2Square);
    const minPos = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2)) : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
    return Math.min(Math.max(minPos, lo), hi);
  }
  return (lo + hi) / 2;
}

/**
 * The objective along a search direction: `evaluateAt(t, gradOut)` evaluates
 * the loss at `x + t·d` (x: the parameters when the search started), writes the
 * flat gradient there into `gradOut`, and leaves the parameters at `x`.
 */
export interface DirectionalObjective {
  evaluateAt(t: number, gradOut: FloatArray): number;
}

/**
 * Strong-Wolfe line search, as PyTorch 1.13's `_strong_wolfe` (minFunc's
 * bracketing and zoom with cubic interpolation). It finds a step `t` along `d`
 * satisfying the sufficient-decrease and curvature conditions
 *
 * ```
 * f(x + t·d) ≤ f(x) + c1·t·∇f(x)ᵀd        |∇f(x + t·d)ᵀd| ≤ −c2·∇f(x)ᵀd
 * ```
 *
 * or gives up after `maxLs` evaluations (or when the bracket shrinks below
 * `toleranceChange` in the max-norm of `d`) and returns the best point found.
 *
 * The searcher owns its gradient buffers (sized for one problem), so a search
 * allocates nothing; results are left in {@link StrongWolfeLineSearch.loss},
 * {@link StrongWolfeLineSearch.t} and {@link StrongWolfeLineSearch.evals}.
 *
 * @example
 * ```ts
 * const ls = new StrongWolfeLineSearch(new Float64Array(2));
 * // objective.evaluateAt(t, g) evaluates f and ∇f at x + t·d
 * ls.search(objective, 1, d, f0, g0, gtd0); // g0 now holds ∇f at x + ls.t·d
 * ```
 */
export class StrongWolfeLineSearch {
  /** Loss at the returned step. */
  loss = 0;
  /** The returned step length. */
  t = 0;
  /** Objective evaluations the last search used. */
  evals = 0;
  private readonly g0: FloatArray;
  private readonly gNew: FloatArray;
  private readonly gPrev: FloatArray;
  private readonly bracketG: [FloatArray, FloatArray];
  private readonly bracket = new Float64Array(2);
  private readonly bracketF = new Float64Array(2);
  private readonly bracketGtd = new Float64Array(2);

  /** @param like - a buffer of the problem's length and dtype (the gradient buffers copy its type). */
  constructor(like: FloatArray) {
    this.g0 = zerosLike(like);
    this.gNew = zerosLike(like);
    this.gPrev = zerosLike(like);
    this.bracketG = [zerosLike(like), zerosLike(like)];
  }

  /**
   * Search along `d` from the current point.
   *
   * @param objective - evaluates the loss and gradient at `x + t·d`.
   * @param t - the first trial step.
   * @param d - the search direction (not modified).
   * @param f - the loss at `x`.
   * @param g - the gradient at `x`; receives the gradient at the returned step.
   * @param gtd - `gᵀd` (negative for a descent direction).
   * @param c1 - sufficient-decrease constant. Default 1e-4.
   * @param c2 - curvature constant. Default 0.9.
   * @param toleranceChange - smallest bracket width, measured as width·max|d|. Default 1e-9.
   * @param maxLs - the largest number of line-search iterations. Default 25.
   */
  search(
    objective: DirectionalObjective,
    t: number,
    d: FloatArray,
    f: number,
    g: FloatArray,
    gtd: number,
    c1 = 1e-4,
    c2 = 0.9,
    toleranceChange = 1e-9,
    maxLs = 25,
  ): void {
    const { g0, gNew, gPrev, bracket, bracketF, bracketGtd, bracketG } = this;
    let dNorm = 0;
    for (let i = 0; i < d.length; i++) dNorm = Math.max(dNorm, Math.abs(d[i]!));
    g0.set(g);

    let fNew = objective.evaluateAt(t, gNew);
    let evals = 1;
    let gtdNew = torchDot(gNew, d);

    // Bracketing phase: find an interval containing a point that satisfies the Wolfe conditions.
    let tPrev = 0;
    let fPrev = f;
    let gtdPrev = gtd;
    gPrev.set(g0);
    let done = false;
    let lsIter = 0;
    let bracketLength = 0;
    while (lsIter < maxLs) {
      if (fNew > f + c1 * t * gtd || (lsIter > 1 && fNew >= fPrev)) {
        bracketLength = this.setBracket(tPrev, fPrev, gPrev, gtdPrev, t, fNew, gNew, gtdNew);
        break;
      }
      if (Math.abs(gtdNew) <= -c2 * gtd) {
        bracket[0] = t;
        bracketF[0] = fNew;
        bracketG[0].set(gNew);
        bracketLength = 1;
        done = true;
        break;
      }
      if (gtdNew >= 0) {
        bracketLength = this.setBracket(tPrev, fPrev, gPrev, gtdPrev, t, fNew, gNew, gtdNew);
        break;
      }
      // Extrapolate: the cubic minimiser, kept between 1.01·t − 0.01·tPrev and 10·t.
      const minStep = t + 0.01 * (t - tPrev);
      const maxStep = t * 10;
      const tmp = t;
      t = cubicInterpolate(tPrev, fPrev, gtdPrev, t, fNew, gtdNew, minStep, maxStep);
      tPrev = tmp;
      fPrev = fNew;
      gPrev.set(gNew);
      gtdPrev = gtdNew;
      fNew = objective.evaluateAt(t, gNew);
      evals++;
      gtdNew = torchDot(gNew, d);
      lsIter++;
    }
    if (lsIter === maxLs) {
      // Out of iterations while extrapolating: PyTorch falls back to the bracket [0, t]
      // (its slopes are never read, since the zoom below cannot run either).
      bracket[0] = 0;
      bracket[1] = t;
      bracketF[0] = f;
      bracketF[1] = fNew;
      bracketG[0].set(g0);
      bracketG[1].set(gNew);
      bracketLength = 2;
    }

    // Zoom phase: shrink the bracket until a point satisfies the strong Wolfe conditions.
    let insufficientProgress = false;
    let low = bracketF[0]! <= bracketF[bracketLength - 1]! ? 0 : 1;
    let high = 1 - low;
    while (!done && lsIter < maxLs) {
      if (Math.abs(bracket[1]! - bracket[0]!) * dNorm < toleranceChange) break;
      t = cubicInterpolate(bracket[0]!, bracketF[0]!, bracketGtd[0]!, bracket[1]!, bracketF[1]!, bracketGtd[1]!);

      // A trial too close to an end of the bracket makes little progress: after two such
      // trials in a row (or one exactly on an end) move it to 10% of the width inside.
      const bMax = Math.max(bracket[0]!, bracket[1]!);
      const bMin = Math.min(bracket[0]!, bracket[1]!);
      const eps = 0.1 * (bMax - bMin);
      if (Math.min(bMax - t, t - bMin) < eps) {
        if (insufficientProgress || t >= bMax || t <= bMin) {
          t = Math.abs(t - bMax) < Math.abs(t - bMin) ? bMax - eps : bMin + eps;
          insufficientProgress = false;
        } else {
          insufficientProgress = true;
        }
      } else {
        insufficientProgress = false;
      }

      fNew = objective.evaluateAt(t, gNew);
      evals++;
      gtdNew = torchDot(gNew, d);
      lsIter++;

      if (fNew > f + c1 * t * gtd || fNew >= bracketF[low]!) {
        // Not a sufficient decrease, or not below the low end: the trial becomes the high end.
        bracket[high] = t;
        bracketF[high] = fNew;
        bracketG[high]!.set(gNew);
        bracketGtd[high] = gtdNew;
        low = bracketF[0]! <= bracketF[1]! ? 0 : 1;
        high = 1 - low;
      } else {
        if (Math.abs(gtdNew) <= -c2 * gtd) {
          done = true;
        } else if (gtdNew * (bracket[high]! - bracket[low]!) >= 0) {
          // The slope points away from the high end: the old low end becomes the high end.
          bracket[high] = bracket[low]!;
          bracketF[high] = bracketF[low]!;
          bracketG[high]!.set(bracketG[low]!);
          bracketGtd[high] = bracketGtd[low]!;
        }
        bracket[low] = t;
        bracketF[low] = fNew;
        bracketG[low]!.set(gNew);
        bracketGtd[low] = gtdNew;
      }
    }

    this.t = bracket[low]!;
    this.loss = bracketF[low]!;
    this.evals = evals;
    g.set(bracketG[low]!);
  }

  private setBracket(
    tPrev: number,
    fPrev: number,
    gPrev: FloatArray,
    gtdPrev: number,
    t: number,
    fNew: number,
    gNew: FloatArray,
    gtdNew: number,
  ): number {
    this.bracket[0] = tPrev;
    this.bracket[1] = t;
    this.bracketF[0] = fPrev;
    this.bracketF[1] = fNew;
    this.bracketG[0].set(gPrev);
    this.bracketG[1].set(gNew);
    this.bracketGtd[0] = gtdPrev;
    this.bracketGtd[1] = gtdNew;
    return 2;
  }
}

/**
 * Σ x·y summed in the order of PyTorch 1.13's CPU `dot` on float64, which calls
 * OpenBLAS's SSE2 `ddot` kernel: eight interleaved partial sums (element i of
 * each 16-block goes to slot i mod 8; the tail's 8-, 4-, 2- and 1-element
 * chunks start again at slot 0), combined as ((s0+s2)+(s4+s6)) + ((s1+s3)+(s5+s7)).
 *
 * L-BFGS amplifies last-ulp differences through its history (the two-loop
 * recursion is ill-conditioned near a minimum), so reproducing the summation
 * order keeps a replay at round-off level instead of drifting to ~1e-9.
 * float32 buffers are summed in order (OpenBLAS's generic `sdot` loop).
 */
export function torchDot(x: FloatArray, y: FloatArray): number {
  const n = x.length;
  if (!(x instanceof Float64Array)) {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i]! * y[i]!;
    return s;
  }
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let s4 = 0;
  let s5 = 0;
  let s6 = 0;
  let s7 = 0;
  let i = 0;
  for (const end = n - (n % 16); i < end; i += 8) {
    s0 += x[i]! * y[i]!;
    s1 += x[i + 1]! * y[i + 1]!;
    s2 += x[i + 2]! * y[i + 2]!;
    s3 += x[i + 3]! * y[i + 3]!;
    s4 += x[i + 4]! * y[i + 4]!;
    s5 += x[i + 5]! * y[i + 5]!;
    s6 += x[i + 6]! * y[i + 6]!;
    s7 += x[i + 7]! * y[i + 7]!;
  }
  if (n & 8) {
    s0 += x[i]! * y[i]!;
    s1 += x[i + 1]! * y[i + 1]!;
    s2 += x[i + 2]! * y[i + 2]!;
    s3 += x[i + 3]! * y[i + 3]!;
    s4 += x[i + 4]! * y[i + 4]!;
    s5 += x[i + 5]! * y[i + 5]!;
    s6 += x[i + 6]! * y[i + 6]!;
    s7 += x[i + 7]! * y[i + 7]!;
    i += 8;
  }
  if (n & 4) {
    s0 += x[i]! * y[i]!;
    s1 += x[i + 1]! * y[i + 1]!;
    s2 += x[i + 2]! * y[i + 2]!;
    s3 += x[i + 3]! * y[i + 3]!;
    i += 4;
  }
  if (n & 2) {
    s0 += x[i]! * y[i]!;
    s1 += x[i + 1]! * y[i + 1]!;
    i += 2;
  }
  if (n & 1) s0 += x[i]! * y[i]!;
  return s0 + s2 + (s4 + s6) + (s1 + s3 + (s5 + s7));
}
