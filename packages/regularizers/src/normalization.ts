/**
 * Weight re-parametrisations used as regularisers: spectral normalisation
 * (Miyato et al. 2018) and weight standardisation (Qiao et al. 2019). Each has
 * a forward pass that writes the re-parametrised weight into a caller buffer
 * and a backward pass that maps the gradient with respect to that weight back
 * to the raw weight.
 */
import {
  type FloatArray,
  OptError,
  ShapeMismatchError,
  StateDictError,
  type TensorJson,
  checkInteger,
  checkNonNegative,
  checkPositive,
  decodeTensor,
  encodeTensor,
} from '@opt/core';
import { Rng } from '@opt/tensor';
import { checkBuffer, checkShape, matrixView, normalize } from './penalties-common.js';

/** Options of {@link SpectralNorm}. */
export interface SpectralNormOptions {
  /** Power iterations per training-mode forward (PyTorch's `n_power_iterations`, default 1; 0 keeps `u`, `v` fixed). */
  nPowerIterations?: number;
  /** Guard of the vector normalisation `x / max(‖x‖, eps)` (default 1e-12). */
  eps?: number;
  /** Seed of the {@link Rng} drawing the initial `u` and `v` (default 0). */
  seed?: number;
}

/** Options of the backward passes: write (default) or add into the gradient buffer. */
export interface BackwardOptions {
  /** Add into `gradW` instead of overwriting it (e.g. straight into `p.grad`). Default `false`. */
  accumulate?: boolean;
}

/** The state of a {@link SpectralNorm}: the power-iteration vectors. */
export interface SpectralNormState {
  u: TensorJson;
  v: TensorJson;
}

/**
 * Spectral normalisation (Miyato, Kataoka, Koyama & Yoshida 2018) of a weight
 * viewed as a matrix `W` of shape `[shape[0], prod(shape[1:])]` (PyTorch's
 * `spectral_norm` with `dim = 0`):
 *
 * ```
 * repeat nPowerIterations (training only):  v ← normalize(Wᵀu),  u ← normalize(Wv)
 * σ  = uᵀ W v
 * Ŵ  = W / σ
 * ∂L/∂W = (G − ⟨G, Ŵ⟩·u vᵀ) / σ,     G = ∂L/∂Ŵ
 * ```
 *
 * The backward treats `u`, `v` as constants (as PyTorch's autograd does: the
 * power iteration runs under `no_grad`), so `∂σ/∂W = u vᵀ`. `u` and `v` persist
 * across calls (one iteration per step suffices because `W` changes slowly),
 * are initialised from a seeded {@link Rng}, and are kept in float64 whatever
 * the weight's dtype; {@link SpectralNorm.stateDict} saves them losslessly. The
 * forward allocates nothing.
 *
 * @example
 * ```ts
 * const w = new Float64Array([3, 1, 0, 2, 1, 1]);       // [2, 3]
 * const sn = new SpectralNorm([2, 3], { seed: 7 });
 * const wHat = new Float64Array(6);
 * const sigma = sn.forward(w, wHat);                    // wHat = w / σ
 * const dWHat = new Float64Array(6).fill(0.1);          // from the layer's backward
 * const dW = sn.backward(w, dWHat, new Float64Array(6));
 * ```
 */
export class SpectralNorm {
  /** Power iterations per training-mode forward. */
  readonly nPowerIterations: number;
  /** Normalisation guard. */
  readonly eps: number;
  /** Rows of the matrix view (`shape[0]`, the length of `u`). */
  readonly rows: number;
  /** Columns of the matrix view (`prod(shape[1:])`, the length of `v`). */
  readonly cols: number;
  private readonly u: Float64Array;
  private readonly v: Float64Array;
  private sigmaValue = NaN;

  /** @param shape - the weight's shape (at least 2-D). */
  constructor(shape: readonly number[], options: SpectralNormOptions = {}) {
    const where = 'SpectralNorm';
    this.nPowerIterations = checkInteger(where, 'nPowerIterations', options.nPowerIterations ?? 1, 0);
    this.eps = checkPositive(where, 'eps', options.eps ?? 1e-12);
    [this.rows, this.cols] = matrixView(where, shape);
    this.u = new Float64Array(this.rows);
    this.v = new Float64Array(this.cols);
    const rng = new Rng(options.seed ?? 0);
    // PyTorch draws u and v from N(0, 1) and normalises both.
    rng.fillNormal(this.u);
    rng.fillNormal(this.v);
    normalize(this.u, this.eps);
    normalize(this.v, this.eps);
  }

  /** σ from the last forward (NaN before the first). */
  get sigma(): number {
    return this.sigmaValue;
  }

  /** Copies of the current `u` (length rows) and `v` (length cols). */
  vectors(): { u: Float64Array; v: Float64Array } {
    return { u: this.u.slice(), v: this.v.slice() };
  }

  /**
   * Compute `Ŵ = W/σ` into `out` and return σ. In training mode (default) the
   * power iterations update `u`, `v` first; with `training: false` the stored
   * vectors are used as they are (PyTorch's eval mode).
   *
   * @param w - the raw weight (rows·cols elements).
   * @param out - receives `W/σ` (same length; may be `w` itself).
   */
  forward(w: FloatArray, out: FloatArray, options: { training?: boolean } = {}): number {
    const where = 'SpectralNorm.forward';
    const r = this.rows;
    const c = this.cols;
    checkBuffer(where, 'w', w, r * c);
    checkBuffer(where, 'out', out, r * c);
    const u = this.u;
    const v = this.v;
    if (options.training ?? true) {
      for (let it = 0; it < this.nPowerIterations; it++) {
        for (let j = 0; j < c; j++) {
          let s = 0;
          for (let i = 0; i < r; i++) s += w[i * c + j]! * u[i]!;
          v[j] = s;
        }
        normalize(v, this.eps);
        for (let i = 0; i < r; i++) {
          let s = 0;
          for (let j = 0; j < c; j++) s += w[i * c + j]! * v[j]!;
          u[i] = s;
        }
        normalize(u, this.eps);
      }
    }
    let sigma = 0;
    for (let i = 0; i < r; i++) {
      let s = 0;
      for (let j = 0; j < c; j++) s += w[i * c + j]! * v[j]!;
      sigma += u[i]! * s;
    }
    this.sigmaValue = sigma;
    const inv = 1 / sigma;
    for (let k = 0; k < r * c; k++) out[k] = w[k]! * inv;
    return sigma;
  }

  /**
   * Map `G = ∂L/∂Ŵ` to `∂L/∂W = (G − ⟨G, W⟩/σ · u vᵀ)/σ`, using the `u`, `v`, σ
   * of the last forward.
   *
   * @param w - the raw weight passed to that forward.
   * @param gradOut - `G`, the gradient with respect to `Ŵ`.
   * @param gradW - receives (or, with `accumulate`, is incremented by) `∂L/∂W`.
   * @returns `gradW`.
   */
  backward<T extends FloatArray>(w: FloatArray, gradOut: FloatArray, gradW: T, options: BackwardOptions = {}): T {
    const where = 'SpectralNorm.backward';
    const r = this.rows;
    const c = this.cols;
    checkBuffer(where, 'w', w, r * c);
    checkBuffer(where, 'gradOut', gradOut, r * c);
    checkBuffer(where, 'gradW', gradW, r * c);
    const sigma = this.sigmaValue;
    if (Number.isNaN(sigma)) throw new OptError('FORWARD_REQUIRED', `${where}: call forward before backward`);
    let dot = 0;
    for (let k = 0; k < r * c; k++) dot += gradOut[k]! * w[k]!;
    const inv = 1 / sigma;
    const coef = dot * inv;
    const acc = options.accumulate ?? false;
    const u = this.u;
    const v = this.v;
    for (let i = 0; i < r; i++) {
      const cu = coef * u[i]!;
      for (let j = 0; j < c; j++) {
        const k = i * c + j;
        const g = (gradOut[k]! - cu * v[j]!) * inv;
        gradW[k] = acc ? gradW[k]! + g : g;
      }
    }
    return gradW;
  }

  /** `u` and `v`, losslessly encoded (float64). */
  stateDict(): SpectralNormState {
    return { u: encodeTensor(this.u), v: encodeTensor(this.v) };
  }

  /** Restore vectors saved by {@link SpectralNorm.stateDict}; nothing changes on error. */
  loadStateDict(state: SpectralNormState): void {
    const where = 'SpectralNorm.loadStateDict';
    if (typeof state !== 'object' || state === null) throw new StateDictError(`${where}: expected {u, v}`);
    const u = decodeTensor(state.u, 'float64', `${where}: u`, this.rows);
    const v = decodeTensor(state.v, 'float64', `${where}: v`, this.cols);
    this.u.set(u);
    this.v.set(v);
  }
}

/**
 * Weight standardisation (Qiao, Wang, Liu, Shen & Yuille 2019), per output
 * channel (the first dimension; each channel's fan-in is `prod(shape[1:])`):
 *
 * ```
 * μ_o = mean_i W_oi,   σ_o = sqrt(mean_i (W_oi − μ_o)² + eps),   Ŵ_oi = (W_oi − μ_o)/σ_o
 * ```
 *
 * (the paper's biased variance with eps inside the root).
 *
 * @param w - the raw weight.
 * @param shape - its shape (at least 2-D).
 * @param out - receives `Ŵ` (may be `w` itself).
 * @param eps - variance guard ≥ 0 (default 1e-5).
 * @returns `out`.
 * @example
 * ```ts
 * const w = new Float64Array([1, 2, 3, 4, -1, 0, 1, 2]);  // [2, 4]
 * const wHat = weightStandardization(w, [2, 4], new Float64Array(8));
 * ```
 */
export function weightStandardization<T extends FloatArray>(w: FloatArray, shape: readonly number[], out: T, eps = 1e-5): T {
  const where = 'weightStandardization';
  const [rows, fanIn] = standardizationView(where, w, shape, eps);
  checkBuffer(where, 'out', out, w.length);
  for (let o = 0; o < rows; o++) {
    const base = o * fanIn;
    const mean = channelMean(w, base, fanIn);
    const invStd = channelInvStd(w, base, fanIn, mean, eps);
    for (let i = 0; i < fanIn; i++) out[base + i] = (w[base + i]! - mean) * invStd;
  }
  return out;
}

/**
 * Backward of {@link weightStandardization}: with `x̂ = Ŵ_o·` and `g = ∂L/∂Ŵ_o·`
 * for a channel of fan-in n,
 *
 * ```
 * ∂L/∂W_oi = (g_i − mean(g) − x̂_i·mean(g ⊙ x̂)) / σ_o
 * ```
 *
 * The statistics are recomputed from `w` (cheap, and nothing is cached between
 * the passes).
 *
 * @param w - the raw weight passed to the forward.
 * @param shape - its shape.
 * @param gradOut - `∂L/∂Ŵ`.
 * @param gradW - receives (or is incremented by, with `accumulate`) `∂L/∂W`.
 * @param eps - the forward's eps (default 1e-5).
 * @returns `gradW`.
 * @example
 * ```ts
 * weightStandardizationBackward(w, [2, 4], dWHat, p.ensureGrad(), 1e-5, { accumulate: true });
 * ```
 */
export function weightStandardizationBackward<T extends FloatArray>(
  w: FloatArray,
  shape: readonly number[],
  gradOut: FloatArray,
  gradW: T,
  eps = 1e-5,
  options: BackwardOptions = {},
): T {
  const where = 'weightStandardizationBackward';
  const [rows, fanIn] = standardizationView(where, w, shape, eps);
  checkBuffer(where, 'gradOut', gradOut, w.length);
  checkBuffer(where, 'gradW', gradW, w.length);
  const acc = options.accumulate ?? false;
  for (let o = 0; o < rows; o++) {
    const base = o * fanIn;
    const mean = channelMean(w, base, fanIn);
    const invStd = channelInvStd(w, base, fanIn, mean, eps);
    let sumG = 0;
    let sumGx = 0;
    for (let i = 0; i < fanIn; i++) {
      const g = gradOut[base + i]!;
      sumG += g;
      sumGx += g * (w[base + i]! - mean) * invStd;
    }
    const meanG = sumG / fanIn;
    const meanGx = sumGx / fanIn;
    for (let i = 0; i < fanIn; i++) {
      const xhat = (w[base + i]! - mean) * invStd;
      const d = (gradOut[base + i]! - meanG - xhat * meanGx) * invStd;
      gradW[base + i] = acc ? gradW[base + i]! + d : d;
    }
  }
  return gradW;
}

function standardizationView(where: string, w: FloatArray, shape: readonly number[], eps: number): [number, number] {
  checkNonNegative(where, 'eps', eps);
  checkBuffer(where, 'w', w, w.length);
  checkShape(where, 'w', shape, w.length, 2);
  const [rows, fanIn] = matrixView(where, shape);
  if (fanIn === 0 && rows > 0) throw new ShapeMismatchError(`${where}: every output channel needs at least one weight`);
  return [rows, fanIn];
}

function channelMean(w: FloatArray, base: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += w[base + i]!;
  return s / n;
}

// Two-pass variance around the mean: the one-pass E[x²] − E[x]² form cancels badly for channels with a large mean.
function channelInvStd(w: FloatArray, base: number, n: number, mean: number, eps: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) {
    const d = w[base + i]! - mean;
    v += d * d;
  }
  return 1 / Math.sqrt(v / n + eps);
}
