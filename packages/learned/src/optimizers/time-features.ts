/**
 * Time embeddings of the learned optimizers. None of them is a function of
 * `t / totalSteps` clamped at 1: a learned schedule that saturates at the
 * training horizon K was measured to collapse beyond it (60% wins at K, 18% at
 * 2K), so every feature here keeps changing, or settles smoothly, past any K.
 */

/**
 * Time scales τ of the MLP optimizer's tanh features (as `mlp_lopt.py` uses
 * powers of ~√10 from 1 to 10⁵; the shortest and longest are dropped for the
 * horizons trained here).
 */
export const MLP_TIME_SCALES: readonly number[] = Object.freeze([3, 10, 30, 100, 300, 1000, 3000, 10000]);

/** Time scales τ of {@link LearnedLRAdam}'s schedule embedding. */
export const LR_TIME_SCALES: readonly number[] = Object.freeze([10, 100, 1000, 10000]);

/**
 * The MLP optimizer's time features, written into `out[offset + k]`:
 *
 * ```
 * φ_k(t) = tanh(t / τ_k − 1)
 * ```
 *
 * Each feature starts near tanh(−1) ≈ −0.76 and rises to 1 around t ≈ 2τ_k, so
 * the set spans every phase up to t ≈ 2·10⁴ without any reference to a horizon.
 *
 * @param t - the step count (1 on the first step).
 * @param scales - the τ_k.
 * @param out - destination.
 * @param offset - first index written.
 */
export function tanhTimeFeatures(t: number, scales: readonly number[], out: Float64Array, offset = 0): void {
  for (let k = 0; k < scales.length; k++) out[offset + k] = Math.tanh(t / scales[k]! - 1);
}

/** Length of {@link scheduleEmbedding}'s output for `scales.length` scales: a constant, log(1+t), and one tanh per scale. */
export function scheduleEmbeddingSize(scales: readonly number[]): number {
  return 2 + scales.length;
}

/**
 * {@link LearnedLRAdam}'s schedule embedding, linear in which the log learning
 * rate is learned:
 *
 * ```
 * ψ(t) = [1, log(1 + t) / log(1 + 1000), tanh(t / τ_1), …, tanh(t / τ_K)]
 * ```
 *
 * The `log(1 + t)` term is unbounded, so a learned decay keeps decaying (as a
 * power law t^−c) past the horizon instead of freezing at its value at K; the
 * tanh terms shape the early phase (warm-up, fast initial decay). The division
 * by log(1001) keeps the term O(1) over the trained range, which keeps ES
 * perturbations of all coefficients comparable.
 *
 * @param t - the step count (1 on the first step).
 * @param scales - the τ_k.
 * @param out - destination of length {@link scheduleEmbeddingSize}.
 */
export function scheduleEmbedding(t: number, scales: readonly number[], out: Float64Array): void {
  out[0] = 1;
  out[1] = Math.log1p(t) / LOG_1001;
  for (let k = 0; k < scales.length; k++) out[2 + k] = Math.tanh(t / scales[k]!);
}

const LOG_1001 = Math.log(1001);
