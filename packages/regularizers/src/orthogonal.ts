/**
 * Orthogonality regularisers for 2-D (or higher, viewed as
 * `[shape[0], prod(shape[1:])]`) weights: the soft orthogonality penalty
 * `λ‖WᵀW − I‖²_F` and the spectral restricted isometry property penalty (SRIP,
 * Bansal, Chen & Wang, NeurIPS 2018) `λ·σ_max(WᵀW − I)`.
 */
import {
  InvalidOptionError,
  type Parameter,
  ShapeMismatchError,
  StateDictError,
  type TensorJson,
  checkInteger,
  checkNonNegative,
  checkOneOf,
  checkPositive,
  decodeTensor,
  encodeTensor,
} from '@opt/core';
import { Rng } from '@opt/tensor';
import { matrixView, normalize } from './penalties-common.js';

/**
 * Which Gram matrix is pushed towards the identity: `'columns'` penalises
 * `WᵀW − I` (cols × cols: orthonormal columns, reachable when rows ≥ cols),
 * `'rows'` penalises `WWᵀ − I` (rows × rows: orthonormal rows, reachable when
 * rows ≤ cols). `W` is the parameter viewed as `[shape[0], prod(shape[1:])]`,
 * so for a `[out, in]` linear weight `'columns'` is `WᵀW` over the inputs.
 */
export type OrthogonalSide = 'columns' | 'rows';

/** Options of {@link softOrthogonality}. */
export interface SoftOrthogonalityOptions {
  /** Which Gram matrix to compare with the identity (default `'columns'`: `WᵀW − I`). */
  side?: OrthogonalSide;
  /** Add the gradient into `p.grad` (allocated when `null`). Default `true`. */
  addToGrad?: boolean;
  /**
   * Scratch space of at least `min(rows, cols)²` float64 elements, to make
   * repeated calls allocation-free; allocated per call when omitted.
   */
  workspace?: Float64Array;
}

/**
 * Soft orthogonality (Bansal et al. 2018, "SO"):
 *
 * ```
 * value = λ·‖WᵀW − I_c‖²_F                 (side 'columns')
 *       = λ·‖WWᵀ − I_r‖²_F                 (side 'rows')
 * ∂/∂W  = 4λ·(W·WᵀW − W) = 4λ·(WWᵀ·W − W)  (both sides)
 * ```
 *
 * The two sides differ only by the constant `λ·(c − r)` (the squared
 * Frobenius norms of `WᵀW` and `WWᵀ` are both `Σσᵢ⁴`), so their gradients are
 * equal; the Gram matrix is formed on the smaller side (`min(r, c)²` scratch)
 * and the value is computed from `Σ(G − I)²`, which keeps it accurate near an
 * orthogonal `W` instead of cancelling `‖G‖² − 2‖W‖² + n`.
 *
 * @param p - a parameter with at least 2 dimensions.
 * @param lambda - the strength λ ≥ 0.
 * @returns the penalty value.
 * @example
 * ```ts
 * const w = Parameter.from([1, 0.1, 0, 1, 0.2, 0], { shape: [3, 2], dtype: 'float64' });
 * const value = softOrthogonality(w, 1e-2);   // w.grad += 4λ(W·WᵀW − W)
 * ```
 */
export function softOrthogonality(p: Parameter, lambda: number, options: SoftOrthogonalityOptions = {}): number {
  const where = 'softOrthogonality';
  checkNonNegative(where, 'lambda', lambda);
  const side = checkOneOf<OrthogonalSide>(where, 'side', options.side ?? 'columns', ['columns', 'rows']);
  const [r, c] = matrixView(where, p.shape);
  const w = p.data;
  const k = Math.min(r, c);
  let g = options.workspace;
  if (g === undefined) g = new Float64Array(k * k);
  else if (!(g instanceof Float64Array) || g.length < k * k) {
    throw new ShapeMismatchError(`${where}: workspace must be a Float64Array of at least ${k * k} elements`);
  }
  const byColumns = c <= r;
  // G = WᵀW (c×c) when columns are the smaller side, else WWᵀ (r×r); symmetric, fill both halves.
  if (byColumns) {
    for (let i = 0; i < c; i++) {
      for (let j = i; j < c; j++) {
        let s = 0;
        for (let t = 0; t < r; t++) s += w[t * c + i]! * w[t * c + j]!;
        g[i * k + j] = s;
        g[j * k + i] = s;
      }
    }
  } else {
    for (let i = 0; i < r; i++) {
      for (let j = i; j < r; j++) {
        let s = 0;
        const ri = i * c;
        const rj = j * c;
        for (let t = 0; t < c; t++) s += w[ri + t]! * w[rj + t]!;
        g[i * k + j] = s;
        g[j * k + i] = s;
      }
    }
  }
  let sq = 0;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      const d = g[i * k + j]! - (i === j ? 1 : 0);
      sq += d * d;
    }
  }
  const n = side === 'columns' ? c : r;
  const value = lambda * (sq + (n - k));
  if (options.addToGrad ?? true) {
    const grad = p.ensureGrad();
    const coef = 4 * lambda;
    for (let i = 0; i < r; i++) {
      for (let j = 0; j < c; j++) {
        let m = 0;
        if (byColumns) for (let t = 0; t < c; t++) m += w[i * c + t]! * g[t * k + j]!;
        else for (let t = 0; t < r; t++) m += g[i * k + t]! * w[t * c + j]!;
        grad[i * c + j] = grad[i * c + j]! + coef * (m - w[i * c + j]!);
      }
    }
  }
  return value;
}

/** Options of {@link SpectralRestrictedIsometry}. */
export interface SpectralRestrictedIsometryOptions {
  /** Strength λ ≥ 0 (default 1e-2). */
  lambda?: number;
  /** Which matrix `A` is used: `WᵀW − I` (`'columns'`, default) or `WWᵀ − I` (`'rows'`). */
  side?: OrthogonalSide;
  /** Power iterations per call, continuing from the previous call's vector (default 2, as in the paper). */
  nPowerIterations?: number;
  /** Seed of the {@link Rng} drawing the initial vector (default 0). */
  seed?: number;
  /** Guard against division by zero when normalising (default 1e-12). */
  eps?: number;
}

/** The state of a {@link SpectralRestrictedIsometry}: its power-iteration vector. */
export interface SpectralRestrictedIsometryState {
  v: TensorJson;
}

/**
 * SRIP penalty (Bansal, Chen & Wang 2018): the spectral norm of the deviation
 * from isometry,
 *
 * ```
 * A     = WᵀW − I        (side 'columns'; WWᵀ − I for 'rows'), symmetric
 * value = λ·σ_max(A) = λ·|μ|,   μ = vᵀAv,  v = the unit eigenvector of A with largest |eigenvalue|
 * ∂/∂W  = 2λ·sign(μ)·(Wv)vᵀ      (side 'columns');   2λ·sign(μ)·v(Wᵀv)ᵀ   (side 'rows')
 * ```
 *
 * Because `A` is symmetric its top singular vectors are `v` and `sign(μ)·v`, so
 * `∂σ/∂A = sign(μ)·vvᵀ`, and `vᵀWᵀWv` differentiates to `2Wvvᵀ`. `v` is found by
 * power iteration with matrix–vector products only (`Av = Wᵀ(Wv) − v`, never
 * forming `A`), warm-started from the previous call's vector (seeded with
 * {@link Rng} initially), and treated as a constant in the gradient (its
 * derivative contributes nothing at a converged eigenvector). The value uses
 * the Rayleigh quotient, whose error is quadratic in the vector's error.
 *
 * Buffers are preallocated per instance; `penalty` allocates no buffers.
 *
 * @example
 * ```ts
 * const w = Parameter.from(new Float64Array(64 * 32).map(() => Math.random() / 8), { shape: [64, 32], dtype: 'float64' });
 * const srip = new SpectralRestrictedIsometry(w.shape, { lambda: 1e-2, seed: 1 });
 * const value = srip.penalty(w);     // adds 2λ·sign(μ)·(Wv)vᵀ into w.grad
 * const saved = srip.stateDict();    // the power-iteration vector, lossless JSON
 * ```
 */
export class SpectralRestrictedIsometry {
  /** The strength λ. */
  readonly lambda: number;
  /** `'columns'` (WᵀW − I) or `'rows'` (WWᵀ − I). */
  readonly side: OrthogonalSide;
  /** Power iterations per call. */
  readonly nPowerIterations: number;
  /** Normalisation guard. */
  readonly eps: number;
  /** Rows of the matrix view of the weight (`shape[0]`). */
  readonly rows: number;
  /** Columns of the matrix view of the weight (`prod(shape[1:])`). */
  readonly cols: number;
  private readonly v: Float64Array;
  private readonly t: Float64Array;
  private readonly av: Float64Array;
  private lastMu = 0;

  /**
   * @param shape - the weight's shape (at least 2-D; viewed as `[shape[0], prod(shape[1:])]`).
   */
  constructor(shape: readonly number[], options: SpectralRestrictedIsometryOptions = {}) {
    const where = 'SpectralRestrictedIsometry';
    this.lambda = checkNonNegative(where, 'lambda', options.lambda ?? 1e-2);
    this.side = checkOneOf<OrthogonalSide>(where, 'side', options.side ?? 'columns', ['columns', 'rows']);
    this.nPowerIterations = checkInteger(where, 'nPowerIterations', options.nPowerIterations ?? 2, 1);
    this.eps = checkPositive(where, 'eps', options.eps ?? 1e-12);
    [this.rows, this.cols] = matrixView(where, shape);
    const n = this.side === 'columns' ? this.cols : this.rows;
    if (n === 0) throw new InvalidOptionError('shape', shape, 'a shape with no zero dimension', where);
    this.v = new Float64Array(n);
    this.t = new Float64Array(this.side === 'columns' ? this.rows : this.cols);
    this.av = new Float64Array(n);
    new Rng(options.seed ?? 0).fillNormal(this.v);
    normalize(this.v, this.eps);
  }

  /** The eigenvalue estimate μ = vᵀAv from the last call (σ_max = |μ|). */
  get eigenvalue(): number {
    return this.lastMu;
  }

  /** `av ← A·v` for the current weight, via `t ← W·v` (or `Wᵀ·v`). */
  private applyA(w: ArrayLike<number>, v: Float64Array, av: Float64Array): void {
    const r = this.rows;
    const c = this.cols;
    const t = this.t;
    if (this.side === 'columns') {
      for (let i = 0; i < r; i++) {
        let s = 0;
        for (let j = 0; j < c; j++) s += w[i * c + j]! * v[j]!;
        t[i] = s;
      }
      for (let j = 0; j < c; j++) {
        let s = 0;
        for (let i = 0; i < r; i++) s += w[i * c + j]! * t[i]!;
        av[j] = s - v[j]!;
      }
    } else {
      for (let j = 0; j < c; j++) {
        let s = 0;
        for (let i = 0; i < r; i++) s += w[i * c + j]! * v[i]!;
        t[j] = s;
      }
      for (let i = 0; i < r; i++) {
        let s = 0;
        for (let j = 0; j < c; j++) s += w[i * c + j]! * t[j]!;
        av[i] = s - v[i]!;
      }
    }
  }

  /**
   * Run the power iterations on the current weight, then return
   * `λ·σ_max(A)` and (by default) add its gradient into `p.grad`.
   *
   * @param p - the weight; its shape must match the constructor's.
   * @param options - `addToGrad` (default `true`).
   */
  penalty(p: Parameter, options: { addToGrad?: boolean } = {}): number {
    const r = this.rows;
    const c = this.cols;
    if (p.shape.length < 2 || p.shape[0] !== r || p.size !== r * c) {
      throw new ShapeMismatchError(
        `SpectralRestrictedIsometry.penalty: weight has shape [${p.shape.join(', ')}], expected a [${r}, ${c}] matrix view`,
      );
    }
    const w = p.data;
    const v = this.v;
    const av = this.av;
    for (let it = 0; it < this.nPowerIterations; it++) {
      this.applyA(w, v, av);
      let norm = 0;
      for (let i = 0; i < av.length; i++) norm += av[i]! * av[i]!;
      // A zero A·v means W is an exact isometry along v: keep v (any unit vector is an eigenvector of 0).
      if (Math.sqrt(norm) <= this.eps) break;
      v.set(av);
      normalize(v, this.eps);
    }
    // Rayleigh quotient; applyA leaves t = Wv (columns) or Wᵀv (rows), reused in the gradient.
    this.applyA(w, v, av);
    let mu = 0;
    for (let i = 0; i < v.length; i++) mu += v[i]! * av[i]!;
    this.lastMu = mu;
    const value = this.lambda * Math.abs(mu);
    if ((options.addToGrad ?? true) && mu !== 0) {
      const grad = p.ensureGrad();
      const coef = 2 * this.lambda * Math.sign(mu);
      const t = this.t;
      if (this.side === 'columns') {
        for (let i = 0; i < r; i++) {
          const ti = coef * t[i]!;
          for (let j = 0; j < c; j++) grad[i * c + j] = grad[i * c + j]! + ti * v[j]!;
        }
      } else {
        for (let i = 0; i < r; i++) {
          const vi = coef * v[i]!;
          for (let j = 0; j < c; j++) grad[i * c + j] = grad[i * c + j]! + vi * t[j]!;
        }
      }
    }
    return value;
  }

  /** The power-iteration vector, losslessly encoded (float64). */
  stateDict(): SpectralRestrictedIsometryState {
    return { v: encodeTensor(this.v) };
  }

  /** Restore a vector saved by {@link SpectralRestrictedIsometry.stateDict}; the buffer is left unchanged on error. */
  loadStateDict(state: SpectralRestrictedIsometryState): void {
    if (typeof state !== 'object' || state === null) throw new StateDictError('SpectralRestrictedIsometry.loadStateDict: expected {v}');
    const v = decodeTensor(state.v, 'float64', 'SpectralRestrictedIsometry.loadStateDict: v', this.v.length);
    this.v.set(v);
  }
}
