import type { Rng } from '@opt/tensor';

/**
 * A regression mini-batch for a {@link FunctionalModel}: row-major inputs
 * `x` `[size, inputs]` and targets `y` `[size, outputs]`, both float64.
 *
 * The arrays may be longer than the batch (reused buffers): only the first
 * `size` rows belong to it.
 */
export interface FunctionalBatch {
  /** Inputs, row-major `[size, inputs]`. */
  x: Float64Array;
  /** Targets, row-major `[size, outputs]`. */
  y: Float64Array;
  /** Number of examples (rows). */
  size: number;
}

/**
 * One few-shot task as a meta-learner sees it: the support batch the inner
 * loop adapts on and the query batch the adapted parameters are scored on.
 */
export interface MetaTask {
  /** The K-shot training examples of the task (inner loop). */
  support: FunctionalBatch;
  /** Held-out examples of the same task (outer loss, evaluation). */
  query: FunctionalBatch;
}

/**
 * A model written as a pure function of a flat parameter vector θ, so that
 * meta-learning can evaluate it at several parameter vectors (θ, θ′ = θ − α∇L,
 * ...) without copying into layer objects, and differentiate it twice.
 *
 * Every method reads `params` and never keeps it; outputs go to caller-owned
 * buffers so a training loop allocates nothing per step.
 */
export interface FunctionalModel {
  /** Length of the flat parameter vector θ. */
  readonly paramCount: number;
  /** A fresh initial parameter vector, drawn from `rng` (seeded, reproducible). */
  init(rng: Rng): Float64Array;
  /** The loss L(θ; batch). */
  loss(params: Float64Array, batch: FunctionalBatch): number;
  /**
   * The loss L(θ; batch); writes ∇θ L into `gradOut` (overwritten, length
   * {@link FunctionalModel.paramCount}).
   */
  lossAndGrad(params: Float64Array, batch: FunctionalBatch, gradOut: Float64Array): number;
  /**
   * The exact Hessian-vector product `out = ∇²θ L(θ; batch) · v` (overwritten).
   * `v` and `out` must be distinct arrays.
   */
  hvp(params: Float64Array, batch: FunctionalBatch, v: Float64Array, out: Float64Array): void;
  /** Predictions for `rows` inputs `x` `[rows, inputs]` into `out` `[rows, outputs]`. */
  predict?(params: Float64Array, x: Float64Array, rows: number, out: Float64Array): void;
}
