/**
 * The `GradientCodec` interface, the generic compressed all-reduce that drives it over a `Collective`, and the
 * lossless serialisation of codec state (residuals, momenta, warm-start factors, RNG states).
 *
 * @packageDocumentation
 */
import { type FloatArray, InvalidOptionError, Rng, type RngState, StateDictError } from '@opt/tensor';
import type { Collective, CollectiveOptions, HalfFormat } from '../collective.js';

/** What an encoder puts on the wire: float32 (linear codecs, all-reduced), 16-bit words (half formats), or bytes. */
export type CodecPayload = Float32Array | Uint16Array | Uint8Array;

/** Where a codec runs: this rank, the group size, and the shapes of the tensors laid end to end in the buffer. */
export interface CodecContext {
  /** This rank (seeds per-rank randomness such as QSGD's rounding). */
  readonly rank: number;
  /** Number of ranks. */
  readonly worldSize: number;
  /**
   * Shapes of the consecutive tensors that fill the buffer (their sizes sum to its length). Matrix codecs
   * (PowerSGD) compress every ≥ 2-D tensor as a `shape[0] × rest` matrix. Default: one 1-D tensor.
   */
  readonly shapes: ReadonlyArray<readonly number[]>;
}

/**
 * A gradient compressor `C` with its decompressor `D` (`D(C(x)) ≈ x`), after the interface of the research note
 * (§3.2). `S` is the codec's per-buffer state: residuals, momenta, warm-start factors, RNG state; it must be plain
 * data (typed arrays, numbers, booleans, `Rng`, nested records) so {@link encodeCodecState} can save it losslessly.
 *
 * - A LINEAR codec's payloads can be summed: ranks all-reduce them (`'sum'`) and decode the sum once.
 * - A non-linear codec's payloads are bytes that ranks all-gather; every rank decodes each part and averages them
 *   in rank order.
 * - A codec with a {@link GradientCodec.reduce} method runs its own schedule (PowerSGD's two all-reduces,
 *   majority vote).
 */
export interface GradientCodec<S = unknown> {
  /** A short name (`'topk(0.001)'`), used in reports and written into saved state. */
  readonly name: string;
  /** Whether payloads may be summed (all-reduce) instead of gathered. */
  readonly linear: boolean;
  /** Set for linear codecs whose payload is 16-bit floats: the format the all-reduce sums in. */
  readonly halfFormat?: HalfFormat;
  /** The fresh state for a buffer of `numel` elements. */
  init(numel: number, context: CodecContext): S;
  /** Compress `grad` (it is not modified). `step` counts the buffer's reductions from 0. */
  encode(grad: FloatArray, state: S, step: number): CodecPayload;
  /**
   * Decompress into `out` (overwritten): `out ← D(payload) / count`, where `payload` is the sum of `count` ranks'
   * encodings (linear codecs) or one rank's encoding (`count` 1).
   */
  decode(payload: CodecPayload, out: FloatArray, state: S, count: number): void;
  /**
   * A custom schedule: replace `grad` in place by the average over ranks of the decompressed gradients. When
   * present, {@link compressedAllReduce} calls it instead of encode / reduce / decode.
   */
  reduce?(grad: FloatArray, state: S, step: number, collective: Collective, options: CollectiveOptions): Promise<void>;
}

/** Per codec state: the buffer {@link compressedAllReduce} decodes gathered parts into (not part of the saved state). */
const scratchOf = new WeakMap<object, Float32Array>();

function scratch(key: object, n: number): Float32Array {
  let s = scratchOf.get(key);
  if (s === undefined || s.length !== n) {
    s = new Float32Array(n);
    scratchOf.set(key, s);
  }
  return s;
}

/**
 * The compressed all-reduce: replace `grad` (in place, on every rank) by the average over ranks of the
 * decompressed gradients, `grad ← (1/K) Σ_k D(C(g_k))`, summed in rank order so every rank holds the same bytes.
 *
 * - codec with `reduce`: its own schedule;
 * - linear codec: `allReduce(C(g_k), 'sum')` then `D(Σ)/K` (16-bit payloads sum in their format);
 * - otherwise: `allGather(C(g_k))`, then `Σ_k D(part_k)` in rank order, divided by K.
 *
 * @param step the buffer's reduction count (0 first): schedules (warm-up sparsity, PowerSGD's start) depend on it.
 */
export async function compressedAllReduce<S>(
  codec: GradientCodec<S>,
  state: S,
  grad: FloatArray,
  step: number,
  collective: Collective,
  options: CollectiveOptions = {},
): Promise<void> {
  if (codec.reduce !== undefined) {
    await codec.reduce(grad, state, step, collective, options);
    return;
  }
  const K = collective.worldSize;
  const payload = codec.encode(grad, state, step);
  if (codec.linear) {
    if (payload instanceof Uint8Array) {
      throw new InvalidOptionError('codec', codec.name, 'a linear codec that encodes to Float32Array or Uint16Array', 'compressedAllReduce');
    }
    if (payload instanceof Uint16Array) await collective.allReduce(payload, 'sum', { ...options, halfFormat: codec.halfFormat ?? 'float16' });
    else await collective.allReduce(payload, 'sum', options);
    codec.decode(payload, grad, state, K);
    return;
  }
  const bytes = payload instanceof Uint8Array ? payload : new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  const parts = await collective.allGather(bytes, options);
  const tmp = scratch(state as object, grad.length);
  for (let r = 0; r < parts.length; r++) {
    codec.decode(parts[r]!, r === 0 ? grad : tmp, state, 1);
    if (r > 0) for (let i = 0; i < grad.length; i++) grad[i] = grad[i]! + tmp[i]!;
  }
  if (K > 1) for (let i = 0; i < grad.length; i++) grad[i] = grad[i]! / K;
}

/** A codec state value as JSON (see {@link encodeCodecState}). */
export type CodecStateJson =
  | number
  | string
  | boolean
  | null
  | CodecStateJson[]
  | { [key: string]: CodecStateJson };

const TYPED: Record<string, new (b: ArrayBuffer) => ArrayBufferView> = {
  f32: Float32Array as never,
  f64: Float64Array as never,
  i32: Int32Array as never,
  u8: Uint8Array as never,
  u16: Uint16Array as never,
};

function typedTag(v: ArrayBufferView): string | null {
  if (v instanceof Float32Array) return 'f32';
  if (v instanceof Float64Array) return 'f64';
  if (v instanceof Int32Array) return 'i32';
  if (v instanceof Uint8Array) return 'u8';
  if (v instanceof Uint16Array) return 'u16';
  return null;
}

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(text: string, where: string): Uint8Array {
  let s: string;
  try {
    s = atob(text);
  } catch {
    throw new StateDictError(`${where}: malformed base64 data`);
  }
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/**
 * Codec state as JSON, losslessly: typed arrays become `{ $t: 'f32' | 'f64' | 'i32' | 'u8' | 'u16', b64 }` (their
 * little-endian bytes in base64, so every bit survives), an `Rng` becomes `{ $t: 'rng', state }`, non-finite numbers
 * become `{ $t: 'num', v: 'nan' | 'inf' | '-inf' }`, records and arrays recurse.
 */
export function encodeCodecState(value: unknown): CodecStateJson {
  if (value === null || value === undefined) return null;
  if (typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return Object.is(value, -0) ? { $t: 'num', v: '-0' } : value;
    return { $t: 'num', v: Number.isNaN(value) ? 'nan' : value > 0 ? 'inf' : '-inf' };
  }
  if (value instanceof Rng) return { $t: 'rng', state: value.getState() as unknown as CodecStateJson };
  if (ArrayBuffer.isView(value)) {
    const tag = typedTag(value);
    if (tag === null) throw new InvalidOptionError('state', value.constructor.name, 'a Float32/Float64/Int32/Uint8/Uint16 array', 'encodeCodecState');
    return { $t: tag, b64: toBase64(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)) };
  }
  if (Array.isArray(value)) return value.map((v) => encodeCodecState(v));
  if (typeof value === 'object') {
    const out: Record<string, CodecStateJson> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = encodeCodecState(v);
    return out;
  }
  throw new InvalidOptionError('state', typeof value, 'plain data (typed arrays, numbers, booleans, Rng, records)', 'encodeCodecState');
}

/**
 * Decode saved codec state against `template` (a fresh state of the same codec and buffer): the keys, the kinds and
 * the typed-array types and lengths must match, so a state saved for another codec, world size or model is refused.
 *
 * @throws `StateDictError` naming the first mismatch.
 */
export function decodeCodecState<S>(saved: unknown, template: S, where = 'codec state'): S {
  return decodeAgainst(saved, template, where) as S;
}

function decodeAgainst(saved: unknown, template: unknown, where: string): unknown {
  if (template instanceof Rng) {
    const s = saved as { $t?: string; state?: RngState } | null;
    if (s === null || typeof s !== 'object' || s.$t !== 'rng') throw new StateDictError(`${where}: expected a saved Rng`);
    return Rng.fromState(s.state as RngState);
  }
  if (ArrayBuffer.isView(template)) {
    const tag = typedTag(template);
    const s = saved as { $t?: string; b64?: string } | null;
    if (s === null || typeof s !== 'object' || s.$t !== tag || typeof s.b64 !== 'string') {
      throw new StateDictError(`${where}: expected a ${tag} array`);
    }
    const bytes = fromBase64(s.b64, where);
    const T = TYPED[tag!]!;
    if (bytes.length % (template as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT !== 0) {
      throw new StateDictError(`${where}: ${bytes.length} bytes is not a whole number of ${tag} elements`);
    }
    const out = new T(new ArrayBuffer(bytes.length)) as unknown as { length: number; buffer: ArrayBuffer };
    new Uint8Array(out.buffer).set(bytes);
    if (out.length !== (template as unknown as { length: number }).length) {
      throw new StateDictError(`${where}: ${out.length} elements saved, ${(template as unknown as { length: number }).length} expected`);
    }
    return out;
  }
  if (typeof template === 'number') {
    if (typeof saved === 'number') return saved;
    const s = saved as { $t?: string; v?: string } | null;
    if (s !== null && typeof s === 'object' && s.$t === 'num') {
      if (s.v === 'nan') return NaN;
      if (s.v === 'inf') return Infinity;
      if (s.v === '-inf') return -Infinity;
      if (s.v === '-0') return -0;
    }
    throw new StateDictError(`${where}: expected a number`);
  }
  if (typeof template === 'boolean' || typeof template === 'string') {
    if (typeof saved !== typeof template) throw new StateDictError(`${where}: expected a ${typeof template}`);
    return saved;
  }
  if (template === null) {
    // A lazily created slot: accept whatever was saved (null, a number or a typed array).
    if (saved === null) return null;
    const s = saved as { $t?: string; b64?: string };
    if (typeof saved === 'object' && typeof s.$t === 'string' && s.$t in TYPED && typeof s.b64 === 'string') {
      const bytes = fromBase64(s.b64, where);
      const T = TYPED[s.$t]!;
      if (bytes.length % (T as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT !== 0) {
        throw new StateDictError(`${where}: ${bytes.length} bytes is not a whole number of ${s.$t} elements`);
      }
      const out = new T(new ArrayBuffer(bytes.length));
      new Uint8Array(out.buffer).set(bytes);
      return out;
    }
    if (typeof saved === 'number') return saved;
    throw new StateDictError(`${where}: unexpected saved value`);
  }
  if (Array.isArray(template)) {
    if (!Array.isArray(saved) || saved.length !== template.length) throw new StateDictError(`${where}: expected a list of ${template.length}`);
    return template.map((t, i) => decodeAgainst(saved[i], t, `${where}[${i}]`));
  }
  if (typeof template === 'object') {
    if (saved === null || typeof saved !== 'object' || Array.isArray(saved)) throw new StateDictError(`${where}: expected a record`);
    const keys = Object.keys(template as object).sort();
    const savedKeys = Object.keys(saved as object).sort();
    if (keys.join(',') !== savedKeys.join(',')) {
      throw new StateDictError(`${where}: keys [${savedKeys.join(', ')}] do not match [${keys.join(', ')}]`);
    }
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(template as object)) out[k] = decodeAgainst((saved as Record<string, unknown>)[k], (template as Record<string, unknown>)[k], `${where}.${k}`);
    return out;
  }
  throw new StateDictError(`${where}: unsupported template value`);
}

/** The default context: rank 0 of 1, one 1-D tensor of `numel` elements. */
export function defaultContext(numel: number): CodecContext {
  return { rank: 0, worldSize: 1, shapes: [[numel]] };
}

/** ‖x‖₂ (accumulated in float64). */
export function norm2(x: ArrayLike<number>, n = x.length): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s);
}
