import type { FloatArray } from '../dtype.js';

/**
 * Elements per quantisation block. Each block stores one float32 absmax, so the
 * overhead is 4 bytes per 256 one-byte codes (1.6%). bitsandbytes uses 2048 for
 * its CUDA kernels and 256 for its block-wise CPU path; 256 is chosen here
 * because a smaller block bounds the dynamic range inside a block more tightly
 * (one outlier spoils the resolution of 255 neighbours, not 2047), and the
 * scratch a fused kernel needs per block stays in L1 cache.
 */
export const QUANT_BLOCK_SIZE = 256;

/**
 * Tensors with fewer elements than this keep 32-bit optimizer state
 * (bitsandbytes' `min_8bit_size`): the saving is negligible there and small
 * tensors (biases, norms) are the most sensitive to state error.
 */
export const MIN_8BIT_SIZE = 4096;

/** Number of blocks of `blockSize` elements covering `n` elements (the last one may be partial). */
export function blockCount(n: number, blockSize: number = QUANT_BLOCK_SIZE): number {
  return Math.ceil(n / blockSize);
}

/**
 * The 256-entry dynamic (tree) quantisation map of Dettmers (2016) as used by
 * the 8-bit optimizers of Dettmers et al. (2021), sorted ascending, in [−1, 1].
 *
 * Each code is a decimal exponent plus a linear fraction: for decade
 * `i = 0 … 6` the interval [0.1, 1] is cut into `k_i` equal bins and the bin
 * midpoints are scaled by `10^(i − 6)`, so small magnitudes get as many
 * significant digits as large ones:
 *
 * ```
 * unsigned:  k_i = 2^(i+1)   → 2+4+…+128 = 254 positive codes, plus 0 and 1
 * signed:    k_i = 2^i       → 127 codes per sign, plus 0 and ±1 (see below)
 * ```
 *
 * The signed map departs from bitsandbytes on one entry: bitsandbytes has +1
 * but no −1 (its most negative code is −0.99297), so a block whose largest
 * magnitude is negative cannot store that element exactly. Here the positive
 * code of the finest decade (5.5e-7, the least useful one) is replaced by −1,
 * so the element that defines a block's absmax always round-trips exactly,
 * whatever its sign.
 *
 * @param signed - true for a map over [−1, 1] (first moment), false for [0, 1] (second moment).
 * @returns a new sorted `Float32Array` of 256 codes.
 */
export function createDynamicMap(signed: boolean): Float32Array {
  const values: number[] = [];
  const exponents = 7;
  for (let i = 0; i < exponents; i++) {
    const bins = signed ? 2 ** i : 2 ** (i + 1);
    const scale = 10 ** (i - (exponents - 1));
    for (let k = 0; k < bins; k++) {
      // Midpoint of the k-th of `bins` equal bins of [0.1, 1].
      const lo = 0.1 + (0.9 * k) / bins;
      const hi = 0.1 + (0.9 * (k + 1)) / bins;
      const mean = ((lo + hi) / 2) * scale;
      if (!(signed && i === 0)) values.push(mean);
      if (signed) values.push(-mean);
    }
  }
  values.push(0, 1);
  if (signed) values.push(-1);
  values.sort((a, b) => a - b);
  return Float32Array.from(values);
}

/**
 * Decision thresholds of a sorted code map: the 255 midpoints between adjacent
 * codes, then a +Infinity sentinel (so `thresholds[q]` is defined for every
 * code q). A value `x` is closest to code `q` = number of thresholds below `x`.
 */
export function codeThresholds(map: Float32Array): Float64Array {
  const out = new Float64Array(map.length);
  for (let k = 0; k + 1 < map.length; k++) out[k] = (map[k]! + map[k + 1]!) / 2;
  out[map.length - 1] = Infinity;
  return out;
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/**
 * A 65536-entry lookup table that turns nearest-code search into one load and
 * two comparisons. It is indexed by the top 16 bits of a value's float32
 * encoding (sign, exponent, 7 mantissa bits), so each entry covers a relative
 * width of at most 2^-7; entry k holds the number of thresholds below the
 * smallest value of that range. Where at most one threshold falls inside every
 * range (true of the dynamic maps, whose codes are at least 0.7% apart
 * relative to their decade; checked here), the nearest code of `x` is the
 * entry or the one after it, and one more comparison on each side makes the
 * answer equal the binary search's even when rounding `x` to float32 crosses a
 * range boundary.
 *
 * @param thresholds - the map's thresholds (`codeThresholds(map)`).
 * @throws RangeError when a range holds more than one threshold (the map is too fine for this table).
 */
export function codeLookupTable(thresholds: Float64Array): Uint8Array {
  const lut = new Uint8Array(65536);
  for (let key = 0; key < 65536; key++) {
    // Positive keys grow with the value, negative ones (sign bit set) shrink with it.
    const negative = key >= 0x8000;
    U32[0] = negative ? ((key << 16) | 0xffff) >>> 0 : key << 16;
    const lo = F32[0]!;
    U32[0] = negative ? (key << 16) >>> 0 : ((key << 16) | 0xffff) >>> 0;
    const hi = F32[0]!;
    if (lo !== lo || hi !== hi) continue; // NaN encodings: any code will do.
    const first = nearestCode(lo, thresholds);
    if (nearestCode(hi, thresholds) - first > 1) throw new RangeError(`codeLookupTable: more than one threshold in [${lo}, ${hi}]`);
    lut[key] = first;
  }
  return lut;
}

/**
 * Nearest code of `x` with a table from {@link codeLookupTable}: the same
 * answer as {@link nearestCode} at a fraction of the cost.
 */
export function nearestCodeLookup(x: number, lut: Uint8Array, thresholds: Float64Array): number {
  F32[0] = x;
  let q = lut[U32[0]! >>> 16]!;
  if (thresholds[q]! < x) q++;
  else if (q > 0 && !(thresholds[q - 1]! < x)) q--;
  return q;
}

/** The signed dynamic map (first moment, values in [−1, 1]); see {@link createDynamicMap}. */
export const SIGNED_DYNAMIC_MAP: Float32Array = createDynamicMap(true);
/** The unsigned dynamic map (second moment, values in [0, 1]); see {@link createDynamicMap}. */
export const UNSIGNED_DYNAMIC_MAP: Float32Array = createDynamicMap(false);
/** Midpoints of {@link SIGNED_DYNAMIC_MAP}, for nearest-code search. */
export const SIGNED_DYNAMIC_THRESHOLDS: Float64Array = codeThresholds(SIGNED_DYNAMIC_MAP);
/** Midpoints of {@link UNSIGNED_DYNAMIC_MAP}, for nearest-code search. */
export const UNSIGNED_DYNAMIC_THRESHOLDS: Float64Array = codeThresholds(UNSIGNED_DYNAMIC_MAP);
let signedLut: Uint8Array | null = null;
let unsignedLut: Uint8Array | null = null;

/**
 * The lookup table of {@link SIGNED_DYNAMIC_MAP} for {@link nearestCodeLookup},
 * built on first use (64 KiB, a few milliseconds) so that importing the
 * package costs nothing to those who never quantise.
 */
export function signedDynamicLut(): Uint8Array {
  return (signedLut ??= codeLookupTable(SIGNED_DYNAMIC_THRESHOLDS));
}

/** The lookup table of {@link UNSIGNED_DYNAMIC_MAP}, built on first use; see {@link signedDynamicLut}. */
export function unsignedDynamicLut(): Uint8Array {
  return (unsignedLut ??= codeLookupTable(UNSIGNED_DYNAMIC_THRESHOLDS));
}
/** The code of 0 in {@link SIGNED_DYNAMIC_MAP}: a fresh signed 8-bit buffer is filled with it. */
export const SIGNED_ZERO_CODE: number = SIGNED_DYNAMIC_MAP.indexOf(0);
/** The code of 0 in {@link UNSIGNED_DYNAMIC_MAP} (its first entry). */
export const UNSIGNED_ZERO_CODE: number = UNSIGNED_DYNAMIC_MAP.indexOf(0);

/**
 * Index of the code nearest to `x` in a 256-entry sorted map, given its
 * thresholds (`codeThresholds`). A fixed 8-step binary search: the loop has no
 * data-dependent trip count, so it costs the same for every value; values
 * beyond the ends clamp to code 0 or 255 (NaN maps to code 0).
 */
export function nearestCode(x: number, thresholds: Float64Array): number {
  let q = 0;
  for (let step = 128; step > 0; step >>= 1) {
    if (thresholds[q + step - 1]! < x) q += step;
  }
  return q;
}

/**
 * Block-wise quantisation: for every block of `blockSize` elements, store
 * `absmax_b = max |x_i|` (as float32) and the codes `q_i = nearest(x_i / absmax_b)`.
 * An all-zero block stores absmax 0 and the code of 0. The round-trip error of
 * an element is at most half the widest gap of the map times its block's absmax.
 *
 * @param x - values to quantise.
 * @param codes - output codes, `x.length` of them.
 * @param absmax - output per-block scales, `blockCount(x.length, blockSize)` of them.
 * @param thresholds - the map's midpoints (`codeThresholds(map)`).
 * @param blockSize - elements per block.
 */
export function quantizeBlockwise(
  x: ArrayLike<number>,
  codes: Uint8Array,
  absmax: Float32Array,
  thresholds: Float64Array,
  blockSize: number = QUANT_BLOCK_SIZE,
): void {
  const n = x.length;
  for (let start = 0, b = 0; start < n; start += blockSize, b++) {
    const end = Math.min(start + blockSize, n);
    let amax = 0;
    for (let i = start; i < end; i++) {
      const a = Math.abs(x[i]!);
      if (a > amax) amax = a;
    }
    absmax[b] = amax;
    // Normalise by the stored (float32-rounded) scale so dequantisation inverts exactly what was quantised.
    const stored = absmax[b]!;
    const inv = stored > 0 ? 1 / stored : 0;
    for (let i = start; i < end; i++) codes[i] = nearestCode(x[i]! * inv, thresholds);
  }
}

/**
 * Block-wise dequantisation: `out_i = map[q_i] · absmax_b` for element i of block b.
 *
 * @param codes - the codes.
 * @param absmax - per-block scales.
 * @param map - the 256-entry code map the codes index.
 * @param out - output buffer, `codes.length` elements.
 * @param blockSize - elements per block.
 */
export function dequantizeBlockwise(
  codes: Uint8Array,
  absmax: Float32Array,
  map: Float32Array,
  out: FloatArray,
  blockSize: number = QUANT_BLOCK_SIZE,
): void {
  const n = codes.length;
  for (let start = 0, b = 0; start < n; start += blockSize, b++) {
    const end = Math.min(start + blockSize, n);
    const scale = absmax[b]!;
    for (let i = start; i < end; i++) out[i] = map[codes[i]!]! * scale;
  }
}
