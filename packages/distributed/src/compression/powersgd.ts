/**
 * PowerSGD (Vogels, Karimireddy & Jaggi, NeurIPS 2019), as PyTorch's `powerSGD_hook`.
 *
 * @packageDocumentation
 */
import { type FloatArray, InvalidOptionError, Rng } from '@opt/tensor';
import type { Collective, CollectiveOptions } from '../collective.js';
import { PayloadRejectedError } from '../errors.js';
import type { CodecContext, CodecPayload, GradientCodec } from './codec.js';

/** Options of {@link PowerSGD} (PyTorch's `PowerSGDState` arguments, camelCased). */
export interface PowerSGDOptions {
  /** Rank r of the approximation `M ≈ P Qᵀ` (`matrix_approximation_rank`). Default 1. */
  rank?: number;
  /** Reductions with a plain all-reduce (mean) before compression starts (`start_powerSGD_iter`). Default 10. */
  startIter?: number;
  /**
   * Compress a `n × m` matrix only when `n·m > minCompressionRate · r(n + m)` (`min_compression_rate`); others,
   * and every 1-D tensor, are all-reduced uncompressed. Default 2.
   */
  minCompressionRate?: number;
  /** Keep the local compression error and add it to the next gradient (`use_error_feedback`). Default true. */
  errorFeedback?: boolean;
  /** Reuse the previous step's Q as the start of the next power iteration (`warm_start`). Default true. */
  warmStart?: boolean;
  /** Seed of the random initial Q, identical on every rank (`random_seed`). Default 0. */
  seed?: number;
  /** Added to column norms in Gram-Schmidt (`orthogonalization_epsilon`). Default 0. */
  orthogonalizationEpsilon?: number;
}

/** One compressed matrix of a buffer under {@link PowerSGD}: where it lies and where its factors lie. */
export interface MatrixSlot {
  readonly offset: number;
  readonly rows: number;
  readonly cols: number;
  readonly rank: number;
  readonly pOffset: number;
  readonly qOffset: number;
}

/** Per-buffer state of {@link PowerSGD}. */
export interface PowerSGDState {
  [key: string]: unknown;
  /** The local error (`null` before the first compressed step or without error feedback). */
  error: Float32Array | null;
  /** The P factors of every compressed matrix, end to end. */
  p: Float32Array;
  /** The Q factors (the warm start of the next step). */
  q: Float32Array;
  /** Whether `q` holds a previous step's factors (else it is drawn from `rng`). */
  warm: boolean;
  /** The generator of the initial Q (same seed on every rank). */
  rng: Rng;
  /** The shapes of the buffer's tensors (they fix which tensors are compressed). */
  shapes: number[][];
}

/** Layout of one buffer under {@link PowerSGD}: compressed matrices and the uncompressed remainder. */
export interface PowerSGDLayout {
  /** The compressed matrices. */
  readonly matrices: readonly MatrixSlot[];
  /** `[offset, length]` of every tensor sent uncompressed. */
  readonly uncompressed: ReadonlyArray<readonly [number, number]>;
  /** Elements of P and Q in total. */
  readonly pSize: number;
  readonly qSize: number;
  /** Elements sent uncompressed. */
  readonly uncompressedSize: number;
}

/**
 * Orthonormalise the r columns of the row-major `rows × r` matrix `a[off..]` in place by Gram-Schmidt:
 * `a_i ← a_i / (‖a_i‖ + ε)`, then `a_j ← a_j − (a_i·a_j) a_i` for j > i (PyTorch's `_orthogonalize`). A zero column
 * stays zero (PyTorch would divide by zero when ε = 0).
 */
export function orthogonalize(a: Float32Array, off: number, rows: number, r: number, eps = 0): void {
  for (let i = 0; i < r; i++) {
    let s = 0;
    for (let k = 0; k < rows; k++) s += a[off + k * r + i]! * a[off + k * r + i]!;
    const nrm = Math.sqrt(s) + eps;
    const inv = nrm > 0 ? 1 / nrm : 0;
    for (let k = 0; k < rows; k++) a[off + k * r + i] = a[off + k * r + i]! * inv;
    for (let j = i + 1; j < r; j++) {
      let d = 0;
      for (let k = 0; k < rows; k++) d += a[off + k * r + i]! * a[off + k * r + j]!;
      for (let k = 0; k < rows; k++) a[off + k * r + j] = a[off + k * r + j]! - d * a[off + k * r + i]!;
    }
  }
}

/**
 * PowerSGD: every ≥ 2-D tensor, viewed as a `shape[0] × rest` matrix M, is replaced by the rank-r approximation
 * of one power iteration, aggregated with two all-reduces (linear in P and in Q):
 *
 * ```
 * M ← M + e                             error feedback (e: last step's local error)
 * P = M Q;       P ← allReduce(P)       (Q: last step's, re-orthogonalised — warm start — or seeded N(0, 1))
 * P ← Gram-Schmidt(P)
 * Q = Mᵀ P;      Q ← allReduce(Q) / K
 * M̂ = P Qᵀ;     e ← M − M̂
 * ```
 *
 * 1-D tensors and matrices too small to gain `minCompressionRate` are all-reduced uncompressed (mean). During the
 * first `startIter` reductions the whole buffer is all-reduced plainly. Per step a rank sends `r(n + m)` floats
 * per n × m matrix instead of `n·m`. On one rank `D(C(M)) = P Pᵀ M` is an orthogonal projection:
 * `‖M − D(C(M))‖² = ‖M‖² − ‖Pᵀ M‖² ≤ ‖M‖²`.
 *
 * @example
 * ```ts
 * ddp.registerCommHook(new CompressionHookState(new PowerSGD({ rank: 2, startIter: 10 })), compressionHook);
 * ```
 */
export class PowerSGD implements GradientCodec<PowerSGDState> {
  readonly name: string;
  readonly linear = true;
  readonly rank: number;
  readonly startIter: number;
  readonly minCompressionRate: number;
  readonly errorFeedback: boolean;
  readonly warmStart: boolean;
  readonly seed: number;
  readonly orthogonalizationEpsilon: number;
  private readonly layouts = new WeakMap<PowerSGDState, PowerSGDLayout>();

  constructor(options: PowerSGDOptions = {}) {
    const where = 'PowerSGD';
    this.rank = options.rank ?? 1;
    if (!Number.isInteger(this.rank) || this.rank < 1) throw new InvalidOptionError('rank', this.rank, 'an integer >= 1', where);
    this.startIter = options.startIter ?? 10;
    if (!Number.isInteger(this.startIter) || this.startIter < 0) throw new InvalidOptionError('startIter', this.startIter, 'an integer >= 0', where);
    this.minCompressionRate = options.minCompressionRate ?? 2;
    if (!(this.minCompressionRate >= 0)) throw new InvalidOptionError('minCompressionRate', this.minCompressionRate, 'a number >= 0', where);
    this.errorFeedback = options.errorFeedback ?? true;
    this.warmStart = options.warmStart ?? true;
    this.seed = options.seed ?? 0;
    if (!Number.isInteger(this.seed)) throw new InvalidOptionError('seed', this.seed, 'an integer', where);
    this.orthogonalizationEpsilon = options.orthogonalizationEpsilon ?? 0;
    if (!(this.orthogonalizationEpsilon >= 0)) throw new InvalidOptionError('orthogonalizationEpsilon', this.orthogonalizationEpsilon, 'a number >= 0', where);
    this.name = `powersgd(${this.rank})`;
  }

  /** Which tensors of a buffer are compressed, and where their factors go. */
  layout(numel: number, shapes: ReadonlyArray<readonly number[]>): PowerSGDLayout {
    const matrices: MatrixSlot[] = [];
    const uncompressed: Array<[number, number]> = [];
    let offset = 0;
    let pSize = 0;
    let qSize = 0;
    let uncompressedSize = 0;
    for (const shape of shapes) {
      const size = shape.reduce((a, b) => a * b, 1);
      const rows = shape.length >= 2 ? shape[0]! : size;
      const cols = shape.length >= 2 ? size / rows : 1;
      const r = Math.min(rows, cols, this.rank);
      if (shape.length >= 2 && size > 0 && (rows + cols) * r * this.minCompressionRate < size) {
        matrices.push({ offset, rows, cols, rank: r, pOffset: pSize, qOffset: qSize });
        pSize += rows * r;
        qSize += cols * r;
      } else if (size > 0) {
        uncompressed.push([offset, size]);
        uncompressedSize += size;
      }
      offset += size;
    }
    if (offset !== numel) throw new InvalidOptionError('shapes', `${offset} elements`, `shapes whose sizes sum to the buffer length ${numel}`, 'PowerSGD');
    return { matrices, uncompressed, pSize, qSize, uncompressedSize };
  }

  init(numel: number, context: CodecContext): PowerSGDState {
    const layout = this.layout(numel, context.shapes);
    const state: PowerSGDState = {
      error: null,
      p: new Float32Array(layout.pSize),
      q: new Float32Array(layout.qSize),
      warm: false,
      rng: new Rng(this.seed),
      shapes: context.shapes.map((sh) => [...sh]),
    };
    this.layouts.set(state, layout);
    return state;
  }

  private layoutOf(state: PowerSGDState, numel: number): PowerSGDLayout {
    let l = this.layouts.get(state);
    if (l === undefined) {
      // A state decoded from a saved stateDict: rebuild the layout from the shapes it carries.
      l = this.layout(numel, state.shapes);
      this.layouts.set(state, l);
    }
    return l;
  }

  private startQ(state: PowerSGDState, layout: PowerSGDLayout): void {
    const q = state.q;
    if (!this.warmStart || !state.warm) {
      // As PyTorch: a fresh seed per initialisation drawn from the state's generator, so every rank draws the same.
      const g = new Rng(state.rng.int(1_000_000_000));
      for (let i = 0; i < q.length; i++) q[i] = g.normal();
    }
    for (const m of layout.matrices) orthogonalize(q, m.qOffset, m.cols, m.rank, this.orthogonalizationEpsilon);
  }

  private computeP(m: FloatArray, state: PowerSGDState, layout: PowerSGDLayout): void {
    const { p, q } = state;
    for (const s of layout.matrices) {
      const r = s.rank;
      for (let i = 0; i < s.rows; i++) {
        const row = s.offset + i * s.cols;
        for (let c = 0; c < r; c++) {
          let acc = 0;
          for (let j = 0; j < s.cols; j++) acc += m[row + j]! * q[s.qOffset + j * r + c]!;
          p[s.pOffset + i * r + c] = acc;
        }
      }
    }
  }

  private computeQ(m: FloatArray, state: PowerSGDState, layout: PowerSGDLayout): void {
    const { p, q } = state;
    for (const s of layout.matrices) {
      const r = s.rank;
      q.fill(0, s.qOffset, s.qOffset + s.cols * r);
      const acc = new Float64Array(s.cols * r);
      for (let i = 0; i < s.rows; i++) {
        const row = s.offset + i * s.cols;
        for (let c = 0; c < r; c++) {
          const pic = p[s.pOffset + i * r + c]!;
          if (pic === 0) continue;
          for (let j = 0; j < s.cols; j++) acc[j * r + c] = acc[j * r + c]! + m[row + j]! * pic;
        }
      }
      for (let k = 0; k < acc.length; k++) q[s.qOffset + k] = acc[k]!;
    }
  }

  private decompress(out: FloatArray, state: PowerSGDState, layout: PowerSGDLayout): void {
    const { p, q } = state;
    for (const s of layout.matrices) {
      const r = s.rank;
      for (let i = 0; i < s.rows; i++) {
        const row = s.offset + i * s.cols;
        for (let j = 0; j < s.cols; j++) {
          let acc = 0;
          for (let c = 0; c < r; c++) acc += p[s.pOffset + i * r + c]! * q[s.qOffset + j * r + c]!;
          out[row + j] = acc;
        }
      }
    }
  }

  /**
   * One rank's compression alone (no communication): `[P | Q | uncompressed values]` of one power iteration.
   * Used for local round trips; training goes through {@link PowerSGD.reduce}.
   */
  encode(grad: FloatArray, state: PowerSGDState): Float32Array {
    const layout = this.layoutOf(state, grad.length);
    this.startQ(state, layout);
    this.computeP(grad, state, layout);
    for (const s of layout.matrices) orthogonalize(state.p, s.pOffset, s.rows, s.rank, this.orthogonalizationEpsilon);
    this.computeQ(grad, state, layout);
    state.warm = true;
    const out = new Float32Array(layout.pSize + layout.qSize + layout.uncompressedSize);
    out.set(state.p, 0);
    out.set(state.q, layout.pSize);
    let o = layout.pSize + layout.qSize;
    for (const [off, len] of layout.uncompressed) for (let i = 0; i < len; i++) out[o++] = grad[off + i]!;
    return out;
  }

  /** `out ← P Qᵀ` per matrix and the uncompressed values, from a payload of {@link PowerSGD.encode}. */
  decode(payload: CodecPayload, out: FloatArray, state: PowerSGDState, count: number): void {
    if (!(payload instanceof Float32Array)) throw new PayloadRejectedError('dtype', 'PowerSGD: expected a float32 payload');
    const layout = this.layoutOf(state, out.length);
    if (payload.length !== layout.pSize + layout.qSize + layout.uncompressedSize) throw new PayloadRejectedError('size', `PowerSGD: payload of ${payload.length} floats`);
    state.p.set(payload.subarray(0, layout.pSize));
    state.q.set(payload.subarray(layout.pSize, layout.pSize + layout.qSize));
    this.decompress(out, state, layout);
    let o = layout.pSize + layout.qSize;
    for (const [off, len] of layout.uncompressed) for (let i = 0; i < len; i++) out[off + i] = payload[o++]!;
    if (count !== 1) for (let i = 0; i < out.length; i++) out[i] = out[i]! / count;
  }

  /** The distributed schedule of PyTorch's `powerSGD_hook` (see the class documentation). */
  async reduce(grad: FloatArray, state: PowerSGDState, step: number, collective: Collective, options: CollectiveOptions): Promise<void> {
    const K = collective.worldSize;
    if (step < this.startIter) {
      await collective.allReduce(grad as Float32Array, 'mean', options);
      return;
    }
    const layout = this.layoutOf(state, grad.length);
    const n = grad.length;
    let input: Float32Array | null = null;
    if (this.errorFeedback) {
      if (state.error === null) state.error = new Float32Array(n);
      const e = state.error;
      for (let i = 0; i < n; i++) grad[i] = grad[i]! + e[i]!;
      input = Float32Array.from(grad);
    }
    if (layout.uncompressedSize > 0) {
      const u = new Float32Array(layout.uncompressedSize);
      let o = 0;
      for (const [off, len] of layout.uncompressed) for (let i = 0; i < len; i++) u[o++] = grad[off + i]!;
      await collective.allReduce(u, 'sum', options);
      o = 0;
      for (const [off, len] of layout.uncompressed) for (let i = 0; i < len; i++) grad[off + i] = u[o++]! / K;
    }
    if (layout.matrices.length > 0) {
      this.startQ(state, layout);
      this.computeP(grad, state, layout);
      await collective.allReduce(state.p, 'sum', options);
      // No division of P by K: it is orthonormalised next.
      for (const s of layout.matrices) orthogonalize(state.p, s.pOffset, s.rows, s.rank, this.orthogonalizationEpsilon);
      this.computeQ(grad, state, layout);
      await collective.allReduce(state.q, 'sum', options);
      for (let i = 0; i < state.q.length; i++) state.q[i] = state.q[i]! / K;
      this.decompress(grad, state, layout);
      state.warm = this.warmStart;
    }
    if (input !== null) {
      const e = state.error!;
      for (let i = 0; i < n; i++) e[i] = input[i]! - grad[i]!;
    }
  }
}
