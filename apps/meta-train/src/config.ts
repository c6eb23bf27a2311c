import { AntitheticES, type MLPLearnedOptimizerFactory, UnrollObjective, familySampler, mlpLearnedOptimizerFactory } from '@opt/learned';
import { SEEDS, SyntheticClassificationFamily, TRAIN_FAMILY } from './families.js';

/** Everything that defines a meta-training run of `mlp-hybrid` (stored in checkpoints and the weights record). */
export interface TrainConfig {
  /** Base learning rate lr0: the untrained optimizer is Adam(lr0). */
  lr: number;
  /** Hidden widths of the per-parameter MLP. */
  hidden: [number, number];
  /** ES perturbation scale. */
  sigma: number;
  /** Inner horizons, sampled log-uniformly; K (the nominal horizon) is their geometric mean. */
  horizon: [number, number];
  /** Nominal meta-training horizon K (evaluation uses K, 2K, 4K). */
  K: number;
  /** Antithetic pairs per meta-step (spread over the worker threads). */
  pairs: number;
  /** Meta learning rate (Adam). */
  metaLr: number;
  /** Meta-gradient clipping norm. */
  clipNorm: number;
  /** Meta-steps. */
  metaSteps: number;
  /** Run seed. */
  seed: number;
}

/** The configuration of the shipped `mlp-hybrid-v1` (from the feasibility runs: ES, 8 pairs, σ 0.02, K ≈ 100). */
export const DEFAULT_CONFIG: TrainConfig = {
  lr: 1e-2,
  hidden: [8, 8],
  sigma: 0.02,
  horizon: [60, 160],
  K: 100,
  pairs: 8,
  metaLr: 3e-3,
  clipNorm: 10,
  metaSteps: 600,
  seed: 1,
};

/** The learned optimizer family being trained (NaN policy 'ignore': the unroll penalises non-finite losses itself). */
export function makeFactory(config: TrainConfig): MLPLearnedOptimizerFactory {
  return mlpLearnedOptimizerFactory({ lr: config.lr, hidden: config.hidden, nonFinite: 'ignore' });
}

/** One antithetic pair per estimate over the training family (meta-training seeds only). */
export function makeEstimator(config: TrainConfig): AntitheticES {
  const objective = new UnrollObjective({
    factory: makeFactory(config),
    sampler: familySampler(new SyntheticClassificationFamily(TRAIN_FAMILY), SEEDS.train),
    horizon: config.horizon,
    // The optimizer has no horizon-relative features; it is told nothing, so evaluation past K is the same program.
    totalSteps: null,
  });
  return new AntitheticES({ objective, pairs: 1, sigma: config.sigma });
}
