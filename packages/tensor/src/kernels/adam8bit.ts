import type { FloatArray } from '../dtype.js';
import {
  SIGNED_DYNAMIC_MAP,
  SIGNED_DYNAMIC_THRESHOLDS,
  UNSIGNED_DYNAMIC_MAP,
  UNSIGNED_DYNAMIC_THRESHOLDS,
  signedDynamicLut,
  unsignedDynamicLut,
} from './quantize.js';

// The float32 bits of a value, for the nearest-code lookup table (see codeLookupTable).
const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** Number of entries of the scalar block read by {@link adam8bitUpdate}. */
export const ADAM8BIT_SCALARS = 8;

/**
 * Write the scalars of one {@link adam8bitUpdate} call into `out` (length
 * {@link ADAM8BIT_SCALARS}), in the order the kernel reads them:
 * `[stepSize, sqrtBc2, β1, β2, eps, l2, decay, maximize ? 1 : 0]`.
 *
 * @param out - the scalar block, overwritten (allocate it once and reuse it).
 * @param stepSize - `lr / (1 − β1^t)`.
 * @param sqrtBc2 - `sqrt(1 − β2^t)`.
 * @param beta1 - first-moment decay.
 * @param beta2 - second-moment decay.
 * @param eps - added to the bias-corrected root of the second moment.
 * @param l2 - coupled (Adam) weight decay; 0 for AdamW.
 * @param decay - decoupled (AdamW) multiplier `1 − lr·weightDecay`; 1 for Adam.
 * @param maximize - ascend instead of descend.
 * @returns `out`.
 */
export function setAdam8bitScalars(
  out: Float64Array,
  stepSize: number,
  sqrtBc2: number,
  beta1: number,
  beta2: number,
  eps: number,
  l2: number,
  decay: number,
  maximize: boolean,
): Float64Array {
  out[0] = stepSize;
  out[1] = sqrtBc2;
  out[2] = beta1;
  out[3] = beta2;
  out[4] = eps;
  out[5] = l2;
  out[6] = decay;
  out[7] = maximize ? 1 : 0;
  return out;
}

/**
 * One fused Adam / AdamW step with 8-bit block-wise quantised moments
 * (Dettmers et al. 2021), in place on `p` and on the codes and scales of both
 * moments. For every block b of `blockSize` elements:
 *
 * ```
 * m_i = SIGNED[mq_i]·mAbsmax_b;  v_i = UNSIGNED[vq_i]·vAbsmax_b      (dequantise)
 * p_i = decay·p_i                                     (AdamW: decay = 1 − lr·weightDecay; Adam: 1)
 * g_i = ±g_i + l2·p_i                                 (Adam's L2 weight decay; AdamW: l2 = 0)
 * m_i = β1·m_i + (1 − β1)·g_i;  v_i = β2·v_i + (1 − β2)·g_i²
 * p_i = p_i − stepSize · m_i / (√v_i / sqrtBc2 + eps)
 * mAbsmax_b = max |m_i|;  vAbsmax_b = max v_i           (over the block, stored as float32)
 * mq_i = nearest(m_i / mAbsmax_b);  vq_i = nearest(v_i / vAbsmax_b)   (requantise; see nearestCodeLookup)
 * ```
 *
 * The update of `p` uses the moments before requantisation, so a step equals
 * the float Adam step (`adamUpdate` with float64 moments) on the dequantised
 * state; only the stored state carries quantisation error. The new moments of
 * a block are held in `scratch` until the block's new absmax is known.
 *
 * A NaN moment (a non-finite gradient under the `'ignore'` policy) is stored
 * as code 0 and does not enter the block's absmax; the parameter itself turns
 * NaN, as in the float step.
 *
 * The scalars come in a `Float64Array` (see {@link setAdam8bitScalars}) rather
 * than as arguments: this kernel is too large for V8 to inline into its
 * caller, and a float argument to a call that is not inlined is boxed, which
 * would allocate a heap number per scalar per call.
 *
 * @param p - parameter (float32 or float64), updated in place.
 * @param g - gradient, same length and dtype.
 * @param m - first-moment codes into the signed dynamic map.
 * @param mAbsmax - first-moment scale per block.
 * @param v - second-moment codes into the unsigned dynamic map.
 * @param vAbsmax - second-moment scale per block.
 * @param scratch - work space of at least `2·blockSize` float64s (contents are overwritten).
 * @param blockSize - elements per block (the blocking the codes were written with).
 * @param scalars - `[stepSize, sqrtBc2, β1, β2, eps, l2, decay, maximize]`, see {@link setAdam8bitScalars}.
 */
export function adam8bitUpdate(
  p: FloatArray,
  g: FloatArray,
  m: Uint8Array,
  mAbsmax: Float32Array,
  v: Uint8Array,
  vAbsmax: Float32Array,
  scratch: Float64Array,
  blockSize: number,
  scalars: Float64Array,
): void {
  const stepSize = scalars[0]!;
  const sqrtBc2 = scalars[1]!;
  const beta1 = scalars[2]!;
  const beta2 = scalars[3]!;
  const eps = scalars[4]!;
  const l2 = scalars[5]!;
  const decay = scalars[6]!;
  const sign = scalars[7] !== 0 ? -1 : 1;
  const n = p.length;
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  const sMap = SIGNED_DYNAMIC_MAP;
  const uMap = UNSIGNED_DYNAMIC_MAP;
  const sThr = SIGNED_DYNAMIC_THRESHOLDS;
  const uThr = UNSIGNED_DYNAMIC_THRESHOLDS;
  const sLut = signedDynamicLut();
  const uLut = unsignedDynamicLut();
  const f32 = F32;
  const u32 = U32;
  for (let start = 0, b = 0; start < n; start += blockSize, b++) {
    const end = start + blockSize < n ? start + blockSize : n;
    const mScale = mAbsmax[b]!;
    const vScale = vAbsmax[b]!;
    let mMax = 0;
    let vMax = 0;
    for (let i = start, k = 0; i < end; i++, k++) {
      if (decay !== 1) p[i] = p[i]! * decay;
      const gi = sign * g[i]! + l2 * p[i]!;
      const mi = beta1 * (sMap[m[i]!]! * mScale) + c1 * gi;
      const vi = beta2 * (uMap[v[i]!]! * vScale) + c2 * (gi * gi);
      p[i] = p[i]! - (stepSize * mi) / (Math.sqrt(vi) / sqrtBc2 + eps);
      scratch[k] = mi;
      scratch[blockSize + k] = vi;
      const am = mi < 0 ? -mi : mi;
      if (am > mMax) mMax = am;
      if (vi > vMax) vMax = vi;
    }
    mAbsmax[b] = mMax;
    vAbsmax[b] = vMax;
    // Normalise by the stored float32 scales, which dequantisation will multiply back.
    const mStored = mAbsmax[b]!;
    const vStored = vAbsmax[b]!;
    const mInv = mStored > 0 ? 1 / mStored : 0;
    const vInv = vStored > 0 ? 1 / vStored : 0;
    for (let i = start, k = 0; i < end; i++, k++) {
      // Nearest code: a table lookup on the float32 bits, then one comparison each side (nearestCodeLookup, inlined).
      const x = scratch[k]! * mInv;
      f32[0] = x;
      let q = sLut[u32[0]! >>> 16]!;
      if (sThr[q]! < x) q++;
      else if (q > 0 && !(sThr[q - 1]! < x)) q--;
      m[i] = q;
      const y = scratch[blockSize + k]! * vInv;
      f32[0] = y;
      let r = uLut[u32[0]! >>> 16]!;
      if (uThr[r]! < y) r++;
      else if (r > 0 && !(uThr[r - 1]! < y)) r--;
      v[i] = r;
    }
  }
}
