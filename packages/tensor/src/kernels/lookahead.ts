import type { FloatArray } from '../dtype.js';

/**
 * The Lookahead synchronisation (Zhang et al., 2019), in place on both buffers:
 *
 * ```
 * slow ← slow + α·(fast − slow)
 * fast ← slow
 * ```
 *
 * The fast weights take the value of the *stored* slow weights, so in float32
 * both end bit-identical.
 */
export function lookaheadSync(slow: FloatArray, fast: FloatArray, alpha: number): void {
  for (let i = 0; i < slow.length; i++) {
    const s = slow[i]!;
    slow[i] = s + alpha * (fast[i]! - s);
    fast[i] = slow[i]!;
  }
}
