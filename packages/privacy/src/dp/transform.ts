import { type GradientTransformation, checkPositive, checkOneOf } from '@opt/core';
import type { RngState } from '@opt/tensor';
import { type NoiseMode, createRandomSource } from '../noise/gaussian.js';

/** Options of {@link dpAggregate}. */
export interface DPAggregateOptions {
  /** σ > 0. */
  noiseMultiplier: number;
  /** C > 0, the bound the incoming sums were clipped to (per-layer: √ΣCₖ²). */
  maxGradNorm: number;
  /** m, the expected batch size qN the noisy sum is divided by. */
  expectedBatchSize: number;
  /** Noise mode. Default `'private'` (Web Crypto). `'seeded'` is NOT private. */
  noise?: NoiseMode;
  /** Seed of the `'seeded'` mode. Default 0. */
  seed?: number;
}

/** State of {@link dpAggregate}: the step count and, in `'seeded'` mode, the generator state (so a checkpoint resumes exactly). */
export interface DPAggregateState {
  /** Updates done. */
  count: number;
  /** The seeded generator's state; `null` for the CSPRNG modes. */
  rng: RngState | null;
}

/**
 * The noise-and-normalise half of DP-SGD as a gradient transformation for the
 * optax-shaped layer of `@opt/core` (usable in `chain(...)`):
 *
 * ```
 * uₖ ← (uₖ + N(0, σ²C²·I)) / m
 * ```
 *
 * The incoming `updates` must hold the SUM of clipped per-example gradients
 * (‖ḡᵢ‖ ≤ C), e.g. written by `PerExampleClipper.clipAndSum` into the
 * parameters' `grad` and copied with `copyGradients`: this transform cannot
 * see individual examples (update buffers are parameter-shaped), and its
 * guarantee rests on that precondition. Unlike optax's
 * `differentially_private_aggregate`, it divides by the EXPECTED batch size m,
 * as the Poisson-sampling accountants require.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { applyUpdates, chain, copyGradients, createUpdates, sgd } from '@opt/core';
 * const w = new Parameter(new Float64Array([1, 2]), [2], 'w');
 * w.grad = new Float64Array([0.3, -0.4]);     // a clipped per-example sum (norm 0.5 ≤ C = 1)
 * const tx = chain(dpAggregate({ noiseMultiplier: 1, maxGradNorm: 1, expectedBatchSize: 8, noise: 'seeded' }), sgd(0.1));
 * const state = tx.init([w]);
 * const updates = createUpdates([w]);
 * copyGradients([w], updates);
 * tx.update(updates, state, [w]);
 * applyUpdates([w], updates);
 * console.log(w.data.length); // 2
 * ```
 */
export function dpAggregate(options: DPAggregateOptions): GradientTransformation<DPAggregateState> {
  const where = 'dpAggregate';
  const sigma = checkPositive(where, 'noiseMultiplier', options.noiseMultiplier);
  const clip = checkPositive(where, 'maxGradNorm', options.maxGradNorm);
  const m = checkPositive(where, 'expectedBatchSize', options.expectedBatchSize);
  const mode = checkOneOf<NoiseMode>(where, 'noise', options.noise ?? 'private', ['private', 'secure', 'seeded']);
  const seed = options.seed ?? 0;
  const random = createRandomSource(mode, seed);
  const std = sigma * clip;
  const inv = 1 / m;
  return {
    init: () => ({ count: 0, rng: mode === 'seeded' ? createRandomSource('seeded', seed).getState() : null }),
    update(updates, state) {
      // The generator's state lives in the transform state (plain data), so a
      // restored checkpoint, or a second state, continues its own stream.
      if (state.rng !== null) random.setState(state.rng);
      for (let k = 0; k < updates.length; k++) {
        const u = updates[k]!;
        random.addNoise(u, std);
        for (let j = 0; j < u.length; j++) u[j] = u[j]! * inv;
      }
      if (state.rng !== null) {
        const s = random.getState()!;
        state.rng.s[0] = s.s[0];
        state.rng.s[1] = s.s[1];
        state.rng.s[2] = s.s[2];
        state.rng.s[3] = s.s[3];
        state.rng.spare = s.spare;
      }
      state.count++;
    },
  };
}
