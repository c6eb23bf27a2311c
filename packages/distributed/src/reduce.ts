/**
 * The rank-order reduction every collective uses, and 16-bit float conversions (IEEE binary16 and bfloat16).
 *
 * Both `ShmCollective` and `NatsCollective` reduce with {@link reduceParts}, so for the same inputs they produce the
 * same bytes whatever the arrival order of the contributions or the chunking of the transport.
 *
 * @packageDocumentation
 */
import type { HalfFormat, ReduceOp, ReducibleArray } from './collective.js';

const F16_P = 11;
const F16_EMIN = -14;
const F16_MAX = 65504;
const BF16_P = 8;
const BF16_EMIN = -126;
const BF16_MAX = (2 - 2 ** -7) * 2 ** 127;

function exponentOf(a: number): number {
  // Math.log2 may be off by one ulp next to powers of two: correct it exactly.
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  return e;
}

function roundTo(x: number, p: number, emin: number, max: number): number {
  if (x === 0 || x !== x || x === Infinity || x === -Infinity) return x;
  const a = x < 0 ? -x : x;
  let e = exponentOf(a);
  if (e < emin) e = emin;
  const ulp = 2 ** (e - (p - 1));
  const q = a / ulp; // exact: a division by a power of two
  const f = Math.floor(q);
  const d = q - f;
  const n = d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
  const r = n * ulp;
  const out = r > max ? Infinity : r;
  return x < 0 ? -out : out;
}

/**
 * Round a number to the nearest IEEE binary16 value (round half to even; overflow to ±∞; subnormals kept).
 *
 * @example
 * ```ts
 * roundToFloat16(1 + 2 ** -11); // 1 (a tie, rounded to even)
 * ```
 */
export function roundToFloat16(x: number): number {
  return roundTo(x, F16_P, F16_EMIN, F16_MAX);
}

/** Round a number to the nearest bfloat16 value (8 significant bits, float32's exponent range; half to even). */
export function roundToBfloat16(x: number): number {
  return roundTo(x, BF16_P, BF16_EMIN, BF16_MAX);
}

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);
let f16Table: Float32Array | null = null;

function float16Table(): Float32Array {
  if (f16Table !== null) return f16Table;
  const t = new Float32Array(65536);
  for (let b = 0; b < 65536; b++) {
    const s = b & 0x8000 ? -1 : 1;
    const e = (b >> 10) & 0x1f;
    const m = b & 0x3ff;
    t[b] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m === 0 ? s * Infinity : NaN) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  f16Table = t;
  return t;
}

/** The binary16 bit pattern of `x` rounded to float16. */
export function float16Bits(x: number): number {
  if (x !== x) return 0x7e00;
  const v = roundToFloat16(x);
  const s = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = v < 0 ? -v : v;
  if (a === Infinity) return s | 0x7c00;
  if (a < 2 ** -14) return s | (a * 2 ** 24);
  const e = exponentOf(a);
  return s | ((e + 15) << 10) | (a * 2 ** (10 - e) - 1024);
}

/** The value of a binary16 bit pattern. */
export function fromFloat16Bits(bits: number): number {
  return float16Table()[bits & 0xffff]!;
}

/** The bfloat16 bit pattern of `x` rounded to bfloat16. */
export function bfloat16Bits(x: number): number {
  if (x !== x) return 0x7fc0;
  scratchF32[0] = roundToBfloat16(x); // exact: every bfloat16 value is a float32 value
  return scratchU32[0]! >>> 16;
}

/** The value of a bfloat16 bit pattern. */
export function fromBfloat16Bits(bits: number): number {
  scratchU32[0] = (bits & 0xffff) << 16;
  return scratchF32[0]!;
}

/**
 * Encode floats as 16-bit words: `dst[i] = bits(round(src[i] · scale))` (the product is computed in float64, then
 * rounded once to the format).
 */
export function encodeHalf(src: ArrayLike<number>, dst: Uint16Array, format: HalfFormat, scale = 1): void {
  const n = src.length;
  if (format === 'float16') for (let i = 0; i < n; i++) dst[i] = float16Bits(src[i]! * scale);
  else for (let i = 0; i < n; i++) dst[i] = bfloat16Bits(src[i]! * scale);
}

/** Decode 16-bit words into floats (`dst` rounds on store when it is a `Float32Array`: exact, both formats fit). */
export function decodeHalf(src: Uint16Array, dst: Float32Array | Float64Array, format: HalfFormat): void {
  const n = src.length;
  if (format === 'float16') {
    const t = float16Table();
    for (let i = 0; i < n; i++) dst[i] = t[src[i]!]!;
  } else {
    for (let i = 0; i < n; i++) dst[i] = fromBfloat16Bits(src[i]!);
  }
}

/**
 * Reduce `parts` (one per rank, rank order) into `out`, element-wise:
 * `out = p₀ ∘ p₁ ∘ … ∘ p_{K−1}` evaluated left to right with every intermediate rounded to the dtype,
 * and `mean = sum / K` rounded once more. For float32 this is exactly PyTorch's `((x₀ + x₁) + …) / K` on float32
 * tensors; for 16-bit formats (`dtype` 2: float16, 3: bfloat16) each addition rounds to 16 bits, as a half-precision
 * all-reduce does. `out` may alias no part except `parts[0]`.
 *
 * @param dtype wire code: 0 float32, 1 float64, 2 float16, 3 bfloat16.
 */
export function reduceParts(out: ReducibleArray, parts: readonly ReducibleArray[], op: ReduceOp, dtype: number): void {
  const k = parts.length;
  const n = out.length;
  if (dtype < 2) {
    const o = out as Float32Array;
    if (parts[0] !== out) o.set(parts[0] as Float32Array);
    for (let r = 1; r < k; r++) {
      const p = parts[r] as Float32Array;
      if (op === 'sum' || op === 'mean') for (let i = 0; i < n; i++) o[i] = o[i]! + p[i]!;
      else if (op === 'max') for (let i = 0; i < n; i++) o[i] = Math.max(o[i]!, p[i]!);
      else for (let i = 0; i < n; i++) o[i] = Math.min(o[i]!, p[i]!);
    }
    if (op === 'mean') for (let i = 0; i < n; i++) o[i] = o[i]! / k;
    return;
  }
  const o = out as Uint16Array;
  const f16 = dtype === 2;
  for (let i = 0; i < n; i++) {
    let acc = f16 ? fromFloat16Bits(parts[0]![i]!) : fromBfloat16Bits(parts[0]![i]!);
    for (let r = 1; r < k; r++) {
      const x = f16 ? fromFloat16Bits(parts[r]![i]!) : fromBfloat16Bits(parts[r]![i]!);
      const y = op === 'max' ? Math.max(acc, x) : op === 'min' ? Math.min(acc, x) : acc + x;
      acc = f16 ? roundToFloat16(y) : roundToBfloat16(y);
    }
    if (op === 'mean') acc = f16 ? roundToFloat16(acc / k) : roundToBfloat16(acc / k);
    o[i] = f16 ? float16Bits(acc) : bfloat16Bits(acc);
  }
}
