import type { Optimizer } from '@opt/core';
import type { Parameter } from '@opt/tensor';

/** Options every learned optimizer accepts when a meta-trainer or a user creates it. */
export interface LearnedCreateOptions {
  /**
   * The training horizon the caller plans (steps). Time features are computed
   * from `step / totalSteps` where the architecture uses it; they do not clamp
   * at 1, so running past the horizon stays well defined.
   */
  totalSteps?: number;
}

/**
 * A family of optimizers indexed by a flat vector of meta-parameters: what a
 * meta-trainer perturbs (ES, PES) or differentiates (truncated BPTT).
 *
 * The optimizer returned by {@link LearnedOptimizerFactory.create} KEEPS A
 * REFERENCE to the `metaParams` array it was given and reads it at every step,
 * so a meta-trainer can change the meta-parameters in place between (or
 * during) unrolls without recreating optimizers or losing their state.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any option and state shape
export interface LearnedOptimizerFactory<O extends Optimizer<any, any> = Optimizer<any, any>> {
  /** Architecture identifier, stored in weight files (e.g. `'mlp-hybrid'`). */
  readonly arch: string;
  /** Length of the flat meta-parameter vector. */
  readonly metaParamCount: number;
  /**
   * The meta-parameters before any meta-training (for the hybrid designs:
   * exactly the baseline optimizer, e.g. Adam).
   */
  initialMetaParams(): Float64Array;
  /**
   * An optimizer over `params` driven by `metaParams` (held by reference).
   *
   * @param params - the parameters to train.
   * @param metaParams - the meta-parameters, length {@link LearnedOptimizerFactory.metaParamCount}.
   * @param options - horizon hints.
   */
  create(params: Parameter[], metaParams: Float64Array, options?: LearnedCreateOptions): O;
}

/** Where a meta-gradient estimate is computed: the coordinates that seed its randomness. */
export interface EstimateContext {
  /** The meta-step being computed (0-based). */
  metaStep: number;
  /** Index of the estimate within the meta-step (an antithetic pair, a PES particle, a TBPTT unroll). */
  index: number;
  /** The run's base seed; estimators derive every PRNG from (seed, metaStep, index), never from `Math.random`. */
  seed: number;
}

/**
 * A meta-gradient estimator (antithetic ES, PES, truncated BPTT, ...): given
 * meta-parameters, it runs inner training and writes an estimate of the
 * gradient of the meta-loss into `grad`.
 */
export interface MetaGradientEstimator {
  /** Short name, e.g. `'es'`, `'pes'`, `'tbptt'`. */
  readonly name: string;
  /**
   * Estimate the meta-gradient at `metaParams` into `grad` (overwritten).
   *
   * @returns the mean meta-loss of the unrolls the estimate used.
   */
  estimate(metaParams: Float64Array, grad: Float64Array, context: EstimateContext): number;
  /** JSON-safe state that must survive a checkpoint (PES accumulators, inner states, curriculum position). */
  stateDict?(): unknown;
  /** Restore what {@link MetaGradientEstimator.stateDict} returned. */
  loadStateDict?(state: unknown): void;
}
