/**
 * Gradient codecs: identity, fp16/bf16, Top-K with Deep Gradient Compression's corrections, Random-K, QSGD,
 * sign (plain, scaled, with error feedback) and Signum with majority vote, plus the {@link ErrorFeedback} wrapper.
 *
 * @packageDocumentation
 */
import { type FloatArray, InvalidOptionError, Rng } from '@opt/tensor';
import type { Collective, CollectiveOptions, HalfFormat } from '../collective.js';
import { PayloadRejectedError } from '../errors.js';
import { bfloat16Bits, float16Bits, float32ToBfloat16Bits, float32ToFloat16Bits, fromBfloat16Bits, fromFloat16Bits } from '../reduce.js';
import { ByteReader, addSparse, encodeSparse, packBits, packSigns, signAt, unpackBits } from './bits.js';
import type { CodecContext, CodecPayload, GradientCodec } from './codec.js';
import { norm2 } from './codec.js';

function checkRatio(ratio: number, where: string): number {
  if (typeof ratio !== 'number' || !(ratio > 0) || !(ratio <= 1)) throw new InvalidOptionError('ratio', ratio, 'a number in (0, 1]', where);
  return ratio;
}

function checkUnit(name: string, value: number, where: string): number {
  if (typeof value !== 'number' || !(value >= 0) || !(value < 1)) throw new InvalidOptionError(name, value, 'a number in [0, 1)', where);
  return value;
}

function checkSeed(seed: number, where: string): number {
  if (!Number.isInteger(seed)) throw new InvalidOptionError('seed', seed, 'an integer', where);
  return seed;
}

function asFloat32(payload: CodecPayload, where: string): Float32Array {
  if (!(payload instanceof Float32Array)) throw new PayloadRejectedError('dtype', `${where}: expected a float32 payload`);
  return payload;
}

function asBytes(payload: CodecPayload, where: string): Uint8Array {
  if (!(payload instanceof Uint8Array)) throw new PayloadRejectedError('dtype', `${where}: expected a byte payload`);
  return payload;
}

/**
 * No compression, through the codec path: the payload is the float32 gradient, all-reduced (`'sum'`) and divided
 * by K. The uncompressed baseline of benchmarks (4 bytes per element).
 */
export class IdentityCodec implements GradientCodec<Record<string, never>> {
  readonly name = 'none';
  readonly linear = true;

  init(): Record<string, never> {
    return {};
  }

  encode(grad: FloatArray): Float32Array {
    return Float32Array.from(grad);
  }

  decode(payload: CodecPayload, out: FloatArray, _state: unknown, count: number): void {
    const p = asFloat32(payload, this.name);
    for (let i = 0; i < out.length; i++) out[i] = p[i]! / count;
  }
}

/**
 * 16-bit floats on the wire (2 bytes per element): `C(x) = half(x)`, all-reduced with every rank-order addition
 * rounded to the format, `D(Σ) = float(Σ)/K`. Linear. (`fp16CompressHook` of the hooks module is PyTorch's exact
 * variant, which divides by K before the sum; this codec divides after, so that it composes with
 * {@link ErrorFeedback}.) `‖x − D(C(x))‖² ≤ 2⁻²²‖x‖²` for float16 in its normal range, `2⁻¹⁶‖x‖²` for bfloat16.
 */
export class HalfCodec implements GradientCodec<Record<string, never>> {
  readonly name: string;
  readonly linear = true;
  readonly halfFormat: HalfFormat;

  constructor(format: HalfFormat = 'float16') {
    if (format !== 'float16' && format !== 'bfloat16') throw new InvalidOptionError('format', format, "'float16' or 'bfloat16'", 'HalfCodec');
    this.halfFormat = format;
    this.name = format === 'float16' ? 'fp16' : 'bf16';
  }

  init(): Record<string, never> {
    return {};
  }

  encode(grad: FloatArray): Uint16Array {
    const h = new Uint16Array(grad.length);
    const f16 = this.halfFormat === 'float16';
    // Float32 input: the fast exact bit conversions; float64 input: the float64 rounding of the reduce module.
    const toBits = grad instanceof Float32Array ? (f16 ? float32ToFloat16Bits : float32ToBfloat16Bits) : f16 ? float16Bits : bfloat16Bits;
    for (let i = 0; i < grad.length; i++) h[i] = toBits(grad[i]!);
    return h;
  }

  decode(payload: CodecPayload, out: FloatArray, _state: unknown, count: number): void {
    if (!(payload instanceof Uint16Array)) throw new PayloadRejectedError('dtype', `${this.name}: expected 16-bit words`);
    const from = this.halfFormat === 'float16' ? fromFloat16Bits : fromBfloat16Bits;
    for (let i = 0; i < out.length; i++) out[i] = from(payload[i]!) / count;
  }
}

/** Quickselect: the k-th largest value (1-based k) of `a[0..n)`, reordering `a`. */
function kthLargest(a: Float32Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  const target = k - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    // Median of three as the pivot: keeps sorted and reversed inputs linear.
    const x = a[lo]!;
    const y = a[mid]!;
    const z = a[hi]!;
    const pivot = x > y ? (y > z ? y : x > z ? z : x) : x > z ? x : y > z ? z : y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! > pivot) i++;
      while (a[j]! < pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target]!;
  }
  return a[lo]!;
}

/**
 * The indices of the `k` entries of largest magnitude of `x`, in increasing order, into `out` (ties at the
 * threshold go to the lowest indices, so every rank and every run selects the same set).
 */
export function topKIndices(x: ArrayLike<number>, k: number, out: Int32Array, scratch: Float32Array): void {
  const n = x.length;
  for (let i = 0; i < n; i++) scratch[i] = Math.abs(x[i]!);
  const t = kthLargest(scratch, n, k);
  let above = 0;
  for (let i = 0; i < n; i++) if (Math.abs(x[i]!) > t) above++;
  let ties = k - above;
  let j = 0;
  for (let i = 0; i < n && j < k; i++) {
    const a = Math.abs(x[i]!);
    if (a > t) out[j++] = i;
    else if (a === t && ties > 0) {
      out[j++] = i;
      ties--;
    }
  }
}

/** Options of {@link TopK}. */
export interface TopKOptions {
  /** Fraction of the elements sent each step (DGC: 0.001). */
  ratio: number;
  /**
   * Keep the unsent remainder and add it to the next gradient (DGC's gradient accumulation, i.e. error feedback).
   * Default true. With false, `TopK` is the plain operator `C(x) = x ⊙ 1[top-k of |x|]` (wrap it in
   * {@link ErrorFeedback} for textbook EF).
   */
  accumulate?: boolean;
  /**
   * DGC's momentum correction: the optimizer's momentum β moves into the codec (`u ← βu + g; v ← v + u`), and the
   * optimizer runs plain SGD. Default 0 (no momentum). Needs `accumulate`.
   */
  momentum?: number;
  /**
   * DGC's local gradient clipping: the global norm bound; each rank clips its gradient to `clipNorm/√K` before
   * accumulating. Default `null` (off).
   */
  clipNorm?: number | null;
  /**
   * DGC's warm-up: for the first `warmupSteps` reductions the density falls exponentially, 25 %, 6.25 %, 1.5625 %,
   * 0.39 % over four equal stages, never below `ratio`. Default 0.
   */
  warmupSteps?: number;
}

/** State of {@link TopK}: the momentum `u` and the accumulated gradient `v` (empty arrays without accumulation). */
export interface TopKState {
  [key: string]: unknown;
  velocity: Float32Array;
  accumulated: Float32Array;
  worldSize: number;
}

/**
 * Top-K sparsification with Deep Gradient Compression's corrections (Lin et al., ICLR 2018):
 *
 * ```
 * g ← g · min(1, (clipNorm/√K) / ‖g‖)            local gradient clipping (optional)
 * u ← β·u + g;   v ← v + u                         momentum correction (β = momentum) and accumulation
 * S = top-k indices of |v|  (k = ⌈density(t)·n⌉)   density warm-up: max(ratio, 4^−(stage+1)) while t < warmupSteps
 * send (S, v[S]);  v[S] ← 0;  u[S] ← 0             momentum factor masking
 * ```
 *
 * The payload is `(indices, float32 values)` with the indices delta-varint or bitmap coded, whichever is smaller
 * (see `encodeSparse`): at density 0.1 % an element costs 4 bytes of value and about 2 bytes of index. Non-linear:
 * ranks all-gather the parts. Without accumulation `‖x − D(C(x))‖² ≤ (1 − k/n)‖x‖²`.
 *
 * @example
 * ```ts
 * const codec = new TopK({ ratio: 0.001, momentum: 0.9, warmupSteps: 100 });
 * ddp.registerCommHook(new CompressionHookState(codec), compressionHook); // with plain SGD (momentum in the codec)
 * ```
 */
export class TopK implements GradientCodec<TopKState> {
  readonly name: string;
  readonly linear = false;
  readonly ratio: number;
  readonly accumulate: boolean;
  readonly momentum: number;
  readonly clipNorm: number | null;
  readonly warmupSteps: number;
  private scratchAbs = new Float32Array(0);
  private scratchIdx = new Int32Array(0);

  constructor(options: TopKOptions) {
    const where = 'TopK';
    this.ratio = checkRatio(options.ratio, where);
    this.accumulate = options.accumulate ?? true;
    this.momentum = checkUnit('momentum', options.momentum ?? 0, where);
    if (this.momentum > 0 && !this.accumulate) throw new InvalidOptionError('momentum', this.momentum, '0 when accumulate is false', where);
    const clip = options.clipNorm ?? null;
    if (clip !== null && !(clip > 0)) throw new InvalidOptionError('clipNorm', clip, 'null or a positive number', where);
    this.clipNorm = clip;
    const warm = options.warmupSteps ?? 0;
    if (!Number.isInteger(warm) || warm < 0) throw new InvalidOptionError('warmupSteps', warm, 'an integer >= 0', where);
    this.warmupSteps = warm;
    this.name = `topk(${this.ratio})`;
  }

  /** The density of reduction `step` (the warm-up schedule, then `ratio`). */
  density(step: number): number {
    if (step >= this.warmupSteps) return this.ratio;
    const stage = Math.floor((4 * step) / this.warmupSteps);
    return Math.max(this.ratio, 0.25 ** (stage + 1));
  }

  init(numel: number, context: CodecContext): TopKState {
    const n = this.accumulate ? numel : 0;
    return { velocity: new Float32Array(this.momentum > 0 ? n : 0), accumulated: new Float32Array(n), worldSize: context.worldSize };
  }

  encode(grad: FloatArray, state: TopKState, step: number): Uint8Array {
    const n = grad.length;
    const k = Math.max(1, Math.min(n, Math.ceil(this.density(step) * n)));
    if (this.scratchAbs.length < n) this.scratchAbs = new Float32Array(n);
    if (this.scratchIdx.length < k) this.scratchIdx = new Int32Array(k);
    const idx = this.scratchIdx;
    let source: ArrayLike<number> = grad;
    if (this.accumulate) {
      let c = 1;
      if (this.clipNorm !== null) {
        const bound = this.clipNorm / Math.sqrt(state.worldSize);
        const g = norm2(grad);
        if (g > bound) c = bound / g;
      }
      const u = state.velocity;
      const v = state.accumulated;
      if (this.momentum > 0) {
        const m = this.momentum;
        for (let i = 0; i < n; i++) {
          u[i] = m * u[i]! + c * grad[i]!;
          v[i] = v[i]! + u[i]!;
        }
      } else {
        for (let i = 0; i < n; i++) v[i] = v[i]! + c * grad[i]!;
      }
      source = v;
    }
    topKIndices(source, k, idx, this.scratchAbs.subarray(0, n));
    const values = new Float32Array(k);
    for (let j = 0; j < k; j++) values[j] = source[idx[j]!]!;
    if (this.accumulate) {
      const v = state.accumulated;
      const u = state.velocity;
      for (let j = 0; j < k; j++) {
        v[idx[j]!] = 0;
        if (this.momentum > 0) u[idx[j]!] = 0;
      }
    }
    return encodeSparse(n, idx, values, k);
  }

  decode(payload: CodecPayload, out: FloatArray, _state: TopKState, count: number): void {
    out.fill(0);
    addSparse(asBytes(payload, this.name), out as Float32Array, 1 / count);
  }
}

/** Options of {@link RandomK}. */
export interface RandomKOptions {
  /** Fraction of the elements sent each step. */
  ratio: number;
  /** Seed shared by every rank, so the sampled indices agree and values can be all-reduced. Default 0. */
  seed?: number;
  /** Scale the kept values by n/k so that `E[D(C(x))] = x` (unbiased). Default true. */
  unbiased?: boolean;
}

/** State of {@link RandomK}: the indices drawn for the current step. */
export interface RandomKState {
  [key: string]: unknown;
  indices: Int32Array;
}

/**
 * Random-K sparsification: every step, k = ⌈ratio·n⌉ distinct indices drawn uniformly (Floyd's algorithm) from a
 * generator seeded with `(seed, step)`; the SAME seed on every rank makes the indices agree, so only the k values
 * travel (4 bytes each, no index coding) and the codec is LINEAR (all-reduced). Unbiased with the n/k scale:
 * `E[D(C(x))] = x`; unscaled it is a contraction with `E‖x − D(C(x))‖² = (1 − k/n)‖x‖²`.
 */
export class RandomK implements GradientCodec<RandomKState> {
  readonly name: string;
  readonly linear = true;
  readonly ratio: number;
  readonly seed: number;
  readonly unbiased: boolean;
  private marks = new Uint8Array(0);

  constructor(options: RandomKOptions) {
    this.ratio = checkRatio(options.ratio, 'RandomK');
    this.seed = checkSeed(options.seed ?? 0, 'RandomK');
    this.unbiased = options.unbiased ?? true;
    this.name = `randomk(${this.ratio})`;
  }

  private k(n: number): number {
    return Math.max(1, Math.min(n, Math.ceil(this.ratio * n)));
  }

  init(numel: number): RandomKState {
    return { indices: new Int32Array(this.k(numel)) };
  }

  /** Draw the indices of `step` into `state.indices` (sorted). */
  sample(n: number, state: RandomKState, step: number): void {
    const k = state.indices.length;
    const rng = new Rng((Math.imul(this.seed, 0x9e3779b1) ^ Math.imul(step + 1, 0x85ebca6b)) >>> 0);
    if (this.marks.length < n) this.marks = new Uint8Array(n);
    const marks = this.marks;
    // Floyd: for j = n−k … n−1 pick t ∈ [0, j]; take t unless taken, else j. Exactly k distinct, uniform.
    for (let j = n - k; j < n; j++) {
      const t = rng.int(j + 1);
      marks[marks[t] ? j : t] = 1;
    }
    let w = 0;
    for (let i = 0; i < n; i++) {
      if (marks[i]) {
        state.indices[w++] = i;
        marks[i] = 0;
      }
    }
  }

  encode(grad: FloatArray, state: RandomKState, step: number): Float32Array {
    const n = grad.length;
    this.sample(n, state, step);
    const idx = state.indices;
    const scale = this.unbiased ? n / idx.length : 1;
    const out = new Float32Array(idx.length);
    for (let j = 0; j < idx.length; j++) out[j] = grad[idx[j]!]! * scale;
    return out;
  }

  decode(payload: CodecPayload, out: FloatArray, state: RandomKState, count: number): void {
    const p = asFloat32(payload, this.name);
    out.fill(0);
    const idx = state.indices;
    for (let j = 0; j < idx.length; j++) out[idx[j]!] = p[j]! / count;
  }
}

/** Options of {@link QSGD}. */
export interface QSGDOptions {
  /** Number of quantisation levels s (≥ 1): |x_i|/‖x‖ is rounded stochastically to a multiple of 1/s. Default 16. */
  levels?: number;
  /** Seed of the rounding; each rank draws from `seed + rank`. Default 0. */
  seed?: number;
}

/** State of {@link QSGD}: the rounding generator. */
export interface QSGDState {
  [key: string]: unknown;
  rng: Rng;
}

/**
 * QSGD (Alistarh et al., NeurIPS 2017), stochastic quantisation with s levels:
 *
 * ```
 * Q(x)_i = ‖x‖₂ · sign(x_i) · ξ_i / s,   ξ_i = ⌊l⌋ + Bernoulli(l − ⌊l⌋),  l = s·|x_i|/‖x‖₂
 * ```
 *
 * Unbiased (`E[Q(x)] = x`) with `E‖Q(x) − x‖² ≤ min(n/s², √n/s)·‖x‖²`. Wire: the float32 norm, then per element a
 * sign bit and a ⌈log₂(s+1)⌉-bit level, packed. Non-linear (all-gathered). The rounding draws from a seeded `Rng`
 * in the state, so runs are reproducible and resume bit-identically.
 */
export class QSGD implements GradientCodec<QSGDState> {
  readonly name: string;
  readonly linear = false;
  readonly levels: number;
  readonly seed: number;
  private readonly width: number;
  private fields = new Int32Array(0);

  constructor(options: QSGDOptions = {}) {
    const s = options.levels ?? 16;
    if (!Number.isInteger(s) || s < 1 || s > 32767) throw new InvalidOptionError('levels', s, 'an integer in [1, 32767]', 'QSGD');
    this.levels = s;
    this.seed = checkSeed(options.seed ?? 0, 'QSGD');
    this.width = Math.ceil(Math.log2(s + 1)) + 1;
    this.name = `qsgd(${s})`;
  }

  init(_numel: number, context: CodecContext): QSGDState {
    return { rng: new Rng(this.seed + context.rank) };
  }

  encode(grad: FloatArray, state: QSGDState, _step: number): Uint8Array {
    const n = grad.length;
    const s = this.levels;
    const norm = Math.fround(norm2(grad));
    if (this.fields.length < n) this.fields = new Int32Array(n);
    const f = this.fields;
    const rng = state.rng;
    for (let i = 0; i < n; i++) {
      const x = grad[i]!;
      let level = 0;
      if (norm > 0) {
        const l = (s * Math.abs(x)) / norm;
        const fl = Math.floor(l);
        level = Math.min(s, fl + (rng.uniform() < l - fl ? 1 : 0));
      }
      f[i] = (level << 1) | (x < 0 ? 1 : 0);
    }
    const out = new Uint8Array(4 + Math.ceil((n * this.width) / 8));
    new DataView(out.buffer).setFloat32(0, norm, true);
    packBits(f, n, this.width, out, 4);
    return out;
  }

  decode(payload: CodecPayload, out: FloatArray, _state: QSGDState, count: number): void {
    const bytes = asBytes(payload, this.name);
    const n = out.length;
    if (bytes.length !== 4 + Math.ceil((n * this.width) / 8)) throw new PayloadRejectedError('size', `${this.name}: ${bytes.length} bytes for ${n} elements`);
    const norm = new ByteReader(bytes).f32();
    if (this.fields.length < n) this.fields = new Int32Array(n);
    const f = this.fields;
    unpackBits(bytes, 4, n, this.width, f);
    const scale = norm / this.levels / count;
    for (let i = 0; i < n; i++) {
      const v = (f[i]! >> 1) * scale;
      out[i] = f[i]! & 1 ? -v : v;
    }
  }
}

/** How {@link Sign} scales the signs. */
export type SignScale = 'none' | 'l1' | 'l2';

/** Options of {@link Sign}. */
export interface SignOptions {
  /**
   * `'none'`: `C(x) = sign(x)` (signSGD); `'l1'`: `(‖x‖₁/n)·sign(x)` (Karimireddy et al.'s scaled sign, a
   * δ-contraction with `δ = ‖x‖₁²/(n‖x‖₂²)`); `'l2'`: `(‖x‖₂/√n)·sign(x)` (DeepSpeed's 1-bit compression).
   * Default `'none'`.
   */
  scale?: SignScale;
}

/**
 * Sign compression, 1 bit per element packed eight to a byte plus one float32 scale (`sign(0) = +1`: one bit
 * cannot say zero). Non-linear (all-gathered): the average over ranks of the scaled signs.
 */
export class Sign implements GradientCodec<Record<string, never>> {
  readonly name: string;
  readonly linear = false;
  readonly scale: SignScale;

  constructor(options: SignOptions = {}) {
    const scale = options.scale ?? 'none';
    if (scale !== 'none' && scale !== 'l1' && scale !== 'l2') throw new InvalidOptionError('scale', scale, "'none', 'l1' or 'l2'", 'Sign');
    this.scale = scale;
    this.name = scale === 'none' ? 'sign' : `sign-${scale}`;
  }

  init(): Record<string, never> {
    return {};
  }

  /** The scale of `x` under this codec's rule. */
  scaleOf(x: ArrayLike<number>): number {
    const n = x.length;
    if (this.scale === 'none' || n === 0) return 1;
    if (this.scale === 'l2') return norm2(x) / Math.sqrt(n);
    let s = 0;
    for (let i = 0; i < n; i++) s += Math.abs(x[i]!);
    return s / n;
  }

  encode(grad: FloatArray): Uint8Array {
    const n = grad.length;
    const out = new Uint8Array(4 + ((n + 7) >> 3));
    new DataView(out.buffer).setFloat32(0, this.scaleOf(grad), true);
    packSigns(grad, n, out, 4);
    return out;
  }

  decode(payload: CodecPayload, out: FloatArray, _state: unknown, count: number): void {
    const bytes = asBytes(payload, this.name);
    const n = out.length;
    if (bytes.length !== 4 + ((n + 7) >> 3)) throw new PayloadRejectedError('size', `${this.name}: ${bytes.length} bytes for ${n} elements`);
    const s = new ByteReader(bytes).f32() / count;
    for (let i = 0; i < n; i++) out[i] = s * signAt(bytes, 4, i);
  }
}

/** State of {@link ErrorFeedback}: the inner codec's state and the residual e. */
export interface ErrorFeedbackState<S> {
  [key: string]: unknown;
  inner: S;
  error: Float32Array;
}

/**
 * Error feedback around any codec C (Seide et al. 2014; Karimireddy et al. 2019, EF-SGD):
 *
 * ```
 * e ← e + g;   c = C(e);   e ← e − D(c);   send c
 * ```
 *
 * What compression drops this step is added back into the next, so any δ-contraction converges at SGD's rate.
 * The residual `e` lives in the state (saved with it: resume is bit-identical). Not for codecs with their own
 * schedule (`reduce`): PowerSGD keeps its own residual.
 */
export class ErrorFeedback<S> implements GradientCodec<ErrorFeedbackState<S>> {
  readonly name: string;
  readonly linear: boolean;
  readonly halfFormat?: HalfFormat;
  /** The wrapped codec. */
  readonly inner: GradientCodec<S>;
  private tmp = new Float32Array(0);

  constructor(inner: GradientCodec<S>) {
    if (inner === null || typeof inner !== 'object' || typeof inner.encode !== 'function') {
      throw new InvalidOptionError('inner', inner, 'a GradientCodec', 'ErrorFeedback');
    }
    if (inner.reduce !== undefined) throw new InvalidOptionError('inner', inner.name, 'a codec without its own reduce schedule', 'ErrorFeedback');
    this.inner = inner;
    this.linear = inner.linear;
    if (inner.halfFormat !== undefined) this.halfFormat = inner.halfFormat;
    this.name = `ef(${inner.name})`;
  }

  init(numel: number, context: CodecContext): ErrorFeedbackState<S> {
    return { inner: this.inner.init(numel, context), error: new Float32Array(numel) };
  }

  encode(grad: FloatArray, state: ErrorFeedbackState<S>, step: number): CodecPayload {
    const e = state.error;
    const n = grad.length;
    for (let i = 0; i < n; i++) e[i] = e[i]! + grad[i]!;
    const payload = this.inner.encode(e, state.inner, step);
    if (this.tmp.length !== n) this.tmp = new Float32Array(n);
    this.inner.decode(payload, this.tmp, state.inner, 1);
    for (let i = 0; i < n; i++) e[i] = e[i]! - this.tmp[i]!;
    return payload;
  }

  decode(payload: CodecPayload, out: FloatArray, state: ErrorFeedbackState<S>, count: number): void {
    this.inner.decode(payload, out, state.inner, count);
  }
}

/**
 * EF-signSGD (Karimireddy et al., ICML 2019): {@link ErrorFeedback} around the ℓ1-scaled sign,
 * `C(p) = (‖p‖₁/n)·sign(p)`. Converges where plain signSGD provably does not.
 */
export function EFSign(): ErrorFeedback<Record<string, never>> {
  return new ErrorFeedback<Record<string, never>>(new Sign({ scale: 'l1' }));
}

/** Options of {@link SignumMajorityVote}. */
export interface SignumMajorityVoteOptions {
  /** Momentum β of each worker's Signum buffer `m ← βm + (1 − β)g`; 0 sends the sign of the gradient. Default 0.9. */
  momentum?: number;
}

/** State of {@link SignumMajorityVote}: the worker's momentum. */
export interface SignumState {
  [key: string]: unknown;
  momentum: Float32Array;
}

/**
 * Signum with majority vote (Bernstein et al., ICML 2018 / ICLR 2019): each rank sends `sign(m_k)` (1 bit per
 * element, packed; `sign(0) = +1`), and every rank takes the vote `sign(Σ_k sign(m_k))` (0 on a tie) as the
 * update direction: the gradient is REPLACED by the vote, so run plain SGD (lr is the step size) on top.
 * Votes are summed as integers in rank order: every rank holds the same result.
 */
export class SignumMajorityVote implements GradientCodec<SignumState> {
  readonly name = 'signum-vote';
  readonly linear = false;
  readonly momentum: number;

  constructor(options: SignumMajorityVoteOptions = {}) {
    this.momentum = checkUnit('momentum', options.momentum ?? 0.9, 'SignumMajorityVote');
  }

  init(numel: number): SignumState {
    return { momentum: new Float32Array(this.momentum > 0 ? numel : 0) };
  }

  encode(grad: FloatArray, state: SignumState): Uint8Array {
    const n = grad.length;
    let src: ArrayLike<number> = grad;
    if (this.momentum > 0) {
      const m = state.momentum;
      const b = this.momentum;
      for (let i = 0; i < n; i++) m[i] = b * m[i]! + (1 - b) * grad[i]!;
      src = m;
    }
    const out = new Uint8Array((n + 7) >> 3);
    packSigns(src, n, out, 0);
    return out;
  }

  decode(payload: CodecPayload, out: FloatArray, _state: SignumState, count: number): void {
    const bytes = asBytes(payload, this.name);
    if (bytes.length !== (out.length + 7) >> 3) throw new PayloadRejectedError('size', `${this.name}: ${bytes.length} bytes for ${out.length} elements`);
    for (let i = 0; i < out.length; i++) out[i] = signAt(bytes, 0, i) / count;
  }

  async reduce(grad: FloatArray, state: SignumState, _step: number, collective: Collective, options: CollectiveOptions): Promise<void> {
    const n = grad.length;
    const parts = await collective.allGather(this.encode(grad, state), options);
    grad.fill(0);
    for (const part of parts) {
      if (part.length !== (n + 7) >> 3) throw new PayloadRejectedError('size', `${this.name}: a ${part.length}-byte vote for ${n} elements`);
      for (let i = 0; i < n; i++) grad[i] = grad[i]! + signAt(part, 0, i);
    }
    for (let i = 0; i < n; i++) grad[i] = Math.sign(grad[i]!);
  }
}
