/**
 * The rank-order reduction every collective uses, and 16-bit float conversions (IEEE binary16 and bfloat16).
 *
 * Both `ShmCollective` and `NatsCollective` reduce with {@link reduceParts}, so for the same inputs they produce the
 * same bytes whatever the arrival order of the contributions or the chunking of the transport.
 *
 * @packageDocumentation
 */
import type { HalfFormat, ReduceOp, ReducibleArray } from './collective.js';

const f32Scratch = new Float32Array(2);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/**
 * The binary16 bits of a FLOAT32 value, rounded to nearest even, by integer arithmetic on its bits (Giesen's
 * `float_to_half_fast3_rtne`): about 30× faster than the exact float64 path of `float16Bits`, and identical to it
 * for every float32 input. (A float64 value must not be rounded to float32 first: that would round twice.)
 */
export function float32ToFloat16Bits(x: number): number {
  f32Scratch[0] = x;
  let u = u32Scratch[0]!;
  const sign = (u >>> 16) & 0x8000;
  u &= 0x7fffffff;
  let o: number;
  if (u >= 0x47800000) {
    // ≥ 65536 before rounding, or inf / NaN.
    o = u > 0x7f800000 ? 0x7e00 : 0x7c00;
  } else if (u < 0x38800000) {
    // Zero or a float16 subnormal: one float32 addition of 0.5 aligns the mantissa and rounds it to nearest even.
    u32Scratch[1] = 0x3f000000;
    f32Scratch[0] = f32Scratch[0]! < 0 ? -f32Scratch[0]! : f32Scratch[0]!;
    f32Scratch[0] = f32Scratch[0]! + f32Scratch[1]!;
    o = u32Scratch[0]! - 0x3f000000;
  } else {
    const odd = (u >>> 13) & 1;
    o = (u - 0x38000000 + 0xfff + odd) >>> 13;
  }
  return sign | o;
}

/** The bfloat16 bits of a FLOAT32 value, rounded to nearest even (NaN stays a quiet NaN). */
export function float32ToBfloat16Bits(x: number): number {
  f32Scratch[0] = x;
  const u = u32Scratch[0]!;
  if ((u & 0x7fffffff) > 0x7f800000) return 0x7fc0;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

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

/**
 * The binary16 bit pattern of `x` rounded to float16 (round half to even; NaN gives the quiet NaN `0x7e00`).
 *
 * A float32-representable `x` (every float32 gradient) takes the integer path of `float32ToFloat16Bits`, more than
 * 10× faster than the exact float64 rounding that other inputs take, and bit-identical to it.
 */
export function float16Bits(x: number): number {
  if (x !== x) return 0x7e00;
  if (Math.fround(x) === x) return float32ToFloat16Bits(x);
  return float16BitsExact(x);
}

function float16BitsExact(x: number): number {
  const v = roundToFloat16(x);
  const s = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = v < 0 ? -v : v;
  if (a === Infinity) return s | 0x7c00;
  if (a < 2 ** -14) return s | (a * 2 ** 24);
  const e = exponentOf(a);
  return s | ((e + 15) << 10) | (a * 2 ** (10 - e) - 1024);
}

/** `x` rounded to float32, then to float16, as bits: {@link float16Bits} under the conditions of {@link HALF_EXACT_DIVISOR}. */
function float16BitsViaFloat32(x: number): number {
  return x !== x ? 0x7e00 : float32ToFloat16Bits(x);
}

/**
 * The exclusive bound on an integer divisor `K` under which rounding `h / K` (`h` a float16 or bfloat16 value) to
 * float32 first, as the fast conversions do, does not change its rounding to 16 bits; the same holds for the sum of
 * two 16-bit values whatever its size. Double rounding can only go wrong when the float32 rounding lands exactly on a
 * 16-bit rounding midpoint `m` that the exact value missed (midpoints are float32 values, so it cannot jump over one),
 * which needs the value within float32's half ulp `2^(e−24)` of `m` (`2^e` the binade of `m`). With `p` significant
 * bits (11 for float16, 8 for bfloat16) the midpoints are multiples of `2^(e−p)`, so a quotient `h/K ≠ m` is at least
 * `2^(e−p)/K` away, farther than that when `K < 2^(24−p)`. A sum `a + b ≠ m` (`|b| ≤ |a|`) differs from `m` by a
 * multiple of `b`'s spacing, so only a `b` below `2^(e−24+p)` could come that close, and it cannot move `a` (at least
 * `2^(e−p)` from `m`) nearer than `2^(e−p) − 2^(e−24+p) > 2^(e−24)`. Subnormal results only widen the margins. The
 * float16 bound `2^13` serves both formats.
 */
export const HALF_EXACT_DIVISOR = 8192;

/** The value of a binary16 bit pattern. */
export function fromFloat16Bits(bits: number): number {
  return float16Table()[bits & 0xffff]!;
}

/**
 * The bfloat16 bit pattern of `x` rounded to bfloat16 (NaN: `0x7fc0`); float32-representable inputs take the fast
 * integer path of `float32ToBfloat16Bits`, bit-identical to the exact float64 rounding other inputs take.
 */
export function bfloat16Bits(x: number): number {
  if (x !== x) return 0x7fc0;
  if (Math.fround(x) === x) return float32ToBfloat16Bits(x);
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
  // Every intermediate is the exact sum (or max, min) of two 16-bit values, or for the mean one 16-bit value divided
  // by k: rounding it to float32 on the way to 16 bits is then harmless (HALF_EXACT_DIVISOR), so the fast float32
  // conversions give the same bits as the exact float64 rounding.
  const exactMean = k < HALF_EXACT_DIVISOR;
  if (dtype === 2) {
    const t = float16Table();
    for (let i = 0; i < n; i++) {
      let acc = t[parts[0]![i]!]!;
      for (let r = 1; r < k; r++) {
        const x = t[parts[r]![i]!]!;
        acc = t[float16BitsViaFloat32(op === 'max' ? Math.max(acc, x) : op === 'min' ? Math.min(acc, x) : acc + x)]!;
      }
      if (op === 'mean') acc = t[exactMean ? float16BitsViaFloat32(acc / k) : float16Bits(acc / k)]!;
      o[i] = float16BitsViaFloat32(acc);
    }
    return;
  }
  for (let i = 0; i < n; i++) {
    let acc = fromBfloat16Bits(parts[0]![i]!);
    for (let r = 1; r < k; r++) {
      const x = fromBfloat16Bits(parts[r]![i]!);
      acc = fromBfloat16Bits(float32ToBfloat16Bits(op === 'max' ? Math.max(acc, x) : op === 'min' ? Math.min(acc, x) : acc + x));
    }
    if (op === 'mean') acc = fromBfloat16Bits(exactMean ? float32ToBfloat16Bits(acc / k) : bfloat16Bits(acc / k));
    o[i] = float32ToBfloat16Bits(acc);
  }
}
