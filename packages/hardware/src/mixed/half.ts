/**
 * float16 and bfloat16 conversions on 16-bit patterns (`Uint16Array` storage),
 * round-to-nearest-even as hardware and PyTorch's `.half()` / `.bfloat16()` do.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float16 bit pattern nearest to `x` (ties to even; overflow → ±Infinity; NaN stays NaN). */
export function float16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  // The float32 value was already rounded from a double; float16 rounding is from that float32 (as in PyTorch).
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && (m & 1) === 1)) m++;
    return sign | m;
  }
  const rest = mant & 0x1fff;
  let m = mant >>> 13;
  if (rest > 0x1000 || (rest === 0x1000 && (m & 1) === 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** The value of a float16 bit pattern. */
export function fromFloat16Bits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** The bfloat16 bit pattern nearest to `x` (the top half of its float32, rounded to nearest even). */
export function bfloat16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return (bits >>> 16) | 0x40;
  const rounded = bits + 0x7fff + ((bits >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

/** The value of a bfloat16 bit pattern. */
export function fromBfloat16Bits(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0]!;
}

/** A 16-bit float format. */
export type HalfType = 'float16' | 'bfloat16';

/** Whether a 16-bit pattern is ±Infinity or NaN in the given format. */
export function isHalfNonFinite(h: number, type: HalfType): boolean {
  return type === 'float16' ? (h & 0x7c00) === 0x7c00 : (h & 0x7f80) === 0x7f80;
}

/** Write `src` rounded to `type` into `dst` (16-bit patterns). */
export function toHalf(src: ArrayLike<number>, dst: Uint16Array, type: HalfType): void {
  const n = src.length;
  if (type === 'float16') for (let i = 0; i < n; i++) dst[i] = float16Bits(src[i]!);
  else for (let i = 0; i < n; i++) dst[i] = bfloat16Bits(src[i]!);
}

/** Write the values of the 16-bit patterns `src` into `dst`. */
export function fromHalf(src: Uint16Array, dst: Float32Array | Float64Array, type: HalfType): void {
  const n = src.length;
  if (type === 'float16') for (let i = 0; i < n; i++) dst[i] = fromFloat16Bits(src[i]!);
  else for (let i = 0; i < n; i++) dst[i] = fromBfloat16Bits(src[i]!);
}
