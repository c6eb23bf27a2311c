import { AntitheticES, MLP_TIME_SCALES, type MLPLearnedOptimizerFactory, UnrollObjective, familySampler, mlpLearnedOptimizerFactory } from '@opt/learned';
import { OOD_SIZE_FAMILY, SEEDS, type SyntheticFamilyOptions, SyntheticClassificationFamily, TRAIN_FAMILY } from './families.js';

/** Everything that defines a meta-training run of `mlp-hybrid` (stored in checkpoints and the weights record). */
export interface TrainConfig {
  /** Base learning rate lr0: the untrained optimizer is Adam(lr0). */
  lr: number;
  /** Hidden widths of the per-parameter MLP. */
  hidden: [number, number];
  /** Time scales τ of the optimizer's `tanh(t/τ − 1)` features. */
  timeScales: number[];
  /** Bound of the log step multiplier (the multiplier of Adam's step stays in `[e^−b, e^b]`). */
  maxLogMagnitude: number;
  /** Whether the network also sees each tensor's momentum signal-to-noise ratios. */
  tensorFeatures: boolean;
  /** Bound of the learned direction d (null: unbounded). */
  maxDirection: number | null;
  /** Whether the base lr is scaled by a learned power of the network's depth. */
  depthExponent: boolean;
  /** Whether the learned direction is measured in units of the tensor's Adam step (fades when gradients vanish). */
  gateDirection?: boolean;
  /** Whether the lr of weight matrices with fan-in above 32 is scaled by a learned power of the fan-in. */
  fanInExponent?: boolean;
  /** ES perturbation scale. */
  sigma: number;
  /** Inner horizons, sampled log-uniformly; K (the nominal horizon) is their geometric mean. */
  horizon: [number, number];
  /** Nominal meta-training horizon K (evaluation uses K, 2K, 4K). */
  K: number;
  /** Lower clip of the relative loss `L_t / L_0` in the log meta-loss. */
  lossFloor: number;
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
  /** The meta-training task family (its unseen seeds are the "in-distribution" evaluation split). */
  family: SyntheticFamilyOptions;
  /** The evaluation's out-of-distribution-in-size family: 2–4× wider and/or deeper than `family`. */
  oodSizeFamily: SyntheticFamilyOptions;
  /**
   * Start from a record's meta-parameters instead of the untrained ones (a fine-tune): a shipped name, or the path of
   * an unshipped run's `weights.json` relative to the repository. When this recipe has `depthExponent` and the record
   * has not, γ is appended with the given starting value; likewise η for `fanInExponent` (after γ).
   */
  warmStart?: { weights: string; depthExponent?: number; fanInExponent?: number };
  /**
   * The fan-in exponent η written into the record after meta-training, chosen by a sweep on meta-validation tasks
   * (needs `fanInExponent`). The family's nets have fan-ins of at most 32, where η has no effect, so ES moves it only
   * by noise (v12's run took it from −1 to −1.057 with no signal); nothing else in the run depends on its value.
   */
  sweptFanInExponent?: number;
}

/**
 * `mlp-hybrid-v1`: ES, 8 pairs, σ 0.02, K ≈ 100 (from the feasibility runs), on 1-hidden-layer nets only, time
 * features up to τ = 10⁴ and the step multiplier bounded by e⁴ (about 55×).
 */
export const V1_CONFIG: TrainConfig = {
  lr: 1e-2,
  hidden: [8, 8],
  timeScales: [...MLP_TIME_SCALES],
  maxLogMagnitude: 4,
  tensorFeatures: false,
  maxDirection: null,
  depthExponent: false,
  sigma: 0.02,
  horizon: [60, 160],
  K: 100,
  lossFloor: 1e-10,
  pairs: 8,
  metaLr: 3e-3,
  clipNorm: 10,
  metaSteps: 600,
  seed: 1,
  family: TRAIN_FAMILY,
  oodSizeFamily: OOD_SIZE_FAMILY,
};

/**
 * `mlp-hybrid-v3`, the changes v1's evaluation asked for (v2 was v1's longer run, not shipped):
 * - the family has 1 AND 2 hidden layers: v1 multiplied Adam's step by 10–60× on every tensor, which suits 1-layer
 *   nets and wrecks 2-layer ones, and nothing in its training told it otherwise;
 * - lr0 = 0.03, the single Adam lr best on this family's meta-validation tasks (so the multiplier starts near 1) and
 *   the multiplier bounded by 5× (e^1.6) either way;
 * - time features only up to τ = 100, all saturated by t ≈ 250 and trained on horizons up to 240: past the training
 *   horizon the optimizer runs the program it was trained on instead of extrapolating features it never saw;
 * - relative losses floored at 1e-4 in the log meta-loss, so the easiest tasks stop dominating the estimate.
 */
export const V3_CONFIG: TrainConfig = {
  ...V1_CONFIG,
  lr: 3e-2,
  timeScales: [3, 10, 30, 100],
  maxLogMagnitude: 1.6,
  horizon: [60, 240],
  K: 120,
  lossFloor: 1e-4,
  family: { widths: [16, 32], depths: [1, 2], activations: ['relu'], batchSize: 32, label: 'train-v3' },
  oodSizeFamily: { widths: [32, 64], depths: [4], activations: ['relu'], batchSize: 32, label: 'ood-size-v3' },
};

/**
 * `mlp-hybrid-v4` (trained, NOT shipped: worse than v3 on every meta-validation split): v3 plus what v3's
 * validation run pointed at. On 4-layer nets v3 still multiplied Adam's step by
 * 2–5× on every tensor, and late in training its learned direction d alone moved parameters by up to 10⁴ times
 * Adam's step. So the network now sees each tensor's momentum signal-to-noise ratios (an oscillating, too-large
 * step shows as a low ratio, whatever the depth) and d is bounded by ±2 (at most 0.2 of a unit Adam step).
 */
export const V4_CONFIG: TrainConfig = { ...V3_CONFIG, tensorFeatures: true, maxDirection: 2 };

/**
 * `mlp-hybrid-v6` (trained, NOT shipped: γ stayed near 0 and validation showed no clear gain over v3): v3 plus a
 * learned depth exponent γ, the base lr scaled by `(L/2)^γ` with L the number of weight
 * matrices. v3 with its base lr lowered by hand to 0.01 matched per-horizon-best Adam on 4-layer meta-validation
 * nets, so its update transfers and only its step scale does not; the 1- and 2-layer nets of the family are what
 * γ is learned from.
 */
export const V6_CONFIG: TrainConfig = { ...V3_CONFIG, depthExponent: true };

/**
 * `mlp-hybrid-v7` (trained, NOT shipped: v8 and v9 are its continuations): v3 fine-tuned with a depth exponent that
 * starts where the data put it. A sweep of v3's base lr on meta-validation nets of 1–4 hidden layers
 * (`evaluation/mlp-hybrid-v3.depth-sweep.md`) found its best lr falling about as `(L/2)^−1.5` (0.03 at 1 hidden
 * layer, 0.015 at 2, ≈0.01 at 3, ≤0.0075 at 4): v6 learned γ from 0 and stopped at −0.16, because ES with σ = 0.02
 * moves γ slowly and 1- and 2-layer nets alone give a weak signal. So γ starts at −1.5 and ES refines it together with
 * the rest of v3 on v3's own family, for 400 meta-steps.
 */
export const V7_CONFIG: TrainConfig = { ...V6_CONFIG, metaSteps: 400, warmStart: { weights: 'mlp-hybrid-v3', depthExponent: -1.5 } };

/**
 * `mlp-hybrid-v8` (trained, NOT shipped: late divergences on deep nets): v7 continued to 800 meta-steps
 * (`--resume-from runs/mlp-hybrid-v7`).
 */
export const V8_CONFIG: TrainConfig = { ...V7_CONFIG, metaSteps: 800 };

/**
 * `mlp-hybrid-v9`: v8 with its learned direction gated by the tensor's Adam-step RMS (`gateDirection`), fine-tuned
 * 400 meta-steps from v8. v8's meta-validation divergences were all late: a 4-layer net driven to a loss of 1e-16
 * whose loss jumped back above its initial value by step 480. Zeroing v8's direction output removed every one of
 * them, because its scale-free features stay O(1) as the gradients vanish and the direction kept moving the
 * converged parameters.
 */
export const V9_CONFIG: TrainConfig = { ...V7_CONFIG, gateDirection: true, metaSteps: 400, warmStart: { weights: 'apps/meta-train/runs/mlp-hybrid-v8/weights.json' } };

/**
 * `mlp-hybrid-v10`: v9 fine-tuned 400 meta-steps on v3's family with 30% wide, noise-limited tasks mixed in
 * (16–64 inputs, 3–10 classes, 1000 examples, overlapping classes). On meta-validation, v9 lost to tuned Adam on
 * Fashion-MNIST 8×8 at every horizon and its loss there often rose between 2K and 4K steps: a step scale learned where every task can be
 * driven towards zero loss is too large where mini-batch noise sets the floor, and no training task had 64 inputs.
 */
export const V10_CONFIG: TrainConfig = {
  ...V9_CONFIG,
  warmStart: { weights: 'mlp-hybrid-v9' },
  family: { ...V3_CONFIG.family, label: 'train-v10', wide: { share: 0.3, inputDims: [16, 64], classes: [3, 10], examples: 1000 } },
};

/**
 * `mlp-hybrid-v11`: v9's meta-parameters plus a fan-in exponent η = −1 (`fanInExponent`), chosen by a sweep on
 * meta-validation tasks, with no further meta-training (0 meta-steps). v9 lost to tuned Adam on Fashion-MNIST
 * 8×8 meta-validation tasks at every horizon (won 14% of them at K) and its loss there often rose between 2K and 4K:
 * its step was too large, and its first layer has 64 inputs, twice the widest fan-in of v9's family. Adam moves every weight by about lr, so a unit's pre-activation moves with its fan-in, and
 * µP's prescription for Adam is lr ∝ 1/fan-in; η = −1 gave the best geometric-mean ratios on the splits it changes
 * (deeper-and-wider nets and the data sets; −0.5 and −1.5 were also better than v9). The family's own nets have
 * fan-ins up to 32, where the factor is exactly 1, so on them v11 IS v9: ES could not learn η there (it would drift
 * at random), which is why it is swept instead, like v7's starting γ. (`mlp-hybrid-v10`, v9 fine-tuned with 30% wide
 * noise-limited tasks of 16–64 inputs in the family, improved those tasks but not the data sets: not shipped.)
 */
export const V11_CONFIG: TrainConfig = { ...V9_CONFIG, fanInExponent: true, metaSteps: 0, warmStart: { weights: 'mlp-hybrid-v9', fanInExponent: -1 } };

/**
 * `mlp-hybrid-v12`: v11 fine-tuned 400 meta-steps with the relative-loss floor of the log meta-loss lowered from 1e-4
 * (v3–v11) to 1e-10, then η set to −2 by a meta-validation sweep. About a third of the family's meta-validation tasks
 * end below 1e-4 of their initial loss under v11, and on those the floored meta-loss gave ES no reason to go further,
 * while the evaluation's loss ratios have no floor: tuned Adam drives separable data sets (wine) towards exactly 0
 * where v11 stalls near 1e-5. The lower floor made the optimizer bolder and it lost ground on Fashion-MNIST 8×8
 * (64 inputs); re-sweeping η (−1 as trained, −1.5, −2, −3; `evaluation/mlp-hybrid-v12.fan-in-sweep.md`) gave that back
 * at η = −2.
 */
export const V12_CONFIG: TrainConfig = { ...V11_CONFIG, lossFloor: 1e-10, metaSteps: 400, warmStart: { weights: 'mlp-hybrid-v11' }, sweptFanInExponent: -2 };

/**
 * The weights `@opt/learned` recommends, chosen on meta-validation tasks: v9 (`evaluation/mlp-hybrid-v9.validation.md`)
 * was the only fine-tune of v3 with no divergence on any split (v7 and v8 diverged late on deep nets); v11 is v9 with
 * the fan-in exponent that `evaluation/mlp-hybrid-v9.fan-in-sweep.md` chose; v12 is v11 fine-tuned with the lower
 * loss floor and its η re-swept (`evaluation/mlp-hybrid-v12.fan-in-sweep.md`). On meta-validation v12 beat v11 on tanh
 * and on the data sets at every horizon and won more often in distribution, with a somewhat higher ratio there and on
 * the deeper nets at K (`evaluation/mlp-hybrid-v12.validation.md`), and no divergence anywhere.
 */
export const RECOMMENDED_WEIGHTS = 'mlp-hybrid-v12';

/** The training recipe of each weights name `meta-train` produces. */
export const RECIPES: Readonly<Record<string, TrainConfig>> = {
  'mlp-hybrid-v1': V1_CONFIG,
  'mlp-hybrid-v2': V1_CONFIG,
  'mlp-hybrid-v3': V3_CONFIG,
  'mlp-hybrid-v4': V4_CONFIG,
  'mlp-hybrid-v6': V6_CONFIG,
  'mlp-hybrid-v7': V7_CONFIG,
  'mlp-hybrid-v8': V8_CONFIG,
  'mlp-hybrid-v9': V9_CONFIG,
  'mlp-hybrid-v10': V10_CONFIG,
  'mlp-hybrid-v11': V11_CONFIG,
  'mlp-hybrid-v12': V12_CONFIG,
};

/**
 * The recipe `train`/`evaluate` use for a weights name (`--recipe` overrides): a known name's, else v3's for a
 * name of its own (an experiment). An unknown `mlp-hybrid-v<N>` is refused: it is a version whose recipe is missing
 * (or a build older than its recipe), and training it as v3 would waste the run under the wrong name.
 */
export function recipeFor(name: string, recipe?: string): TrainConfig {
  const key = recipe ?? name;
  const found = RECIPES[key] ?? RECIPES[`mlp-hybrid-${key}`];
  if (found !== undefined) return found;
  if (recipe !== undefined || /^mlp-hybrid-v\d+$/.test(name)) {
    throw new Error(`unknown recipe '${key}' (known: ${Object.keys(RECIPES).join(', ')}; pass --recipe NAME to train another name on one of them)`);
  }
  return V3_CONFIG;
}

/** The learned optimizer family being trained (NaN policy 'ignore': the unroll penalises non-finite losses itself). */
export function makeFactory(config: TrainConfig): MLPLearnedOptimizerFactory {
  return mlpLearnedOptimizerFactory({
    lr: config.lr,
    hidden: config.hidden,
    timeScales: config.timeScales,
    maxLogMagnitude: config.maxLogMagnitude,
    tensorFeatures: config.tensorFeatures,
    maxDirection: config.maxDirection,
    depthExponent: config.depthExponent,
    gateDirection: config.gateDirection ?? false,
    fanInExponent: config.fanInExponent ?? false,
    nonFinite: 'ignore',
  });
}

/** One antithetic pair per estimate over the training family (meta-training seeds only). */
export function makeEstimator(config: TrainConfig): AntitheticES {
  const objective = new UnrollObjective({
    factory: makeFactory(config),
    sampler: familySampler(new SyntheticClassificationFamily(config.family), SEEDS.train),
    horizon: config.horizon,
    // The optimizer has no horizon-relative features; it is told nothing, so evaluation past K is the same program.
    totalSteps: null,
    lossFloor: config.lossFloor,
  });
  return new AntitheticES({ objective, pairs: 1, sigma: config.sigma });
}

/** A human description of a synthetic family for weights records and reports. */
export function describeFamily(f: SyntheticFamilyOptions): string {
  const depth = f.depths.length === 1 ? `${f.depths[0]} hidden layer${f.depths[0] === 1 ? '' : 's'}` : `${f.depths.join(' or ')} hidden layers`;
  const w = f.wide;
  const wide =
    w === undefined
      ? ''
      : `; ${Math.round(100 * w.share)}% of tasks wide and noise-limited (d ${w.inputDims.join('-')}, ${w.classes.join('-')} classes, ${w.examples} examples, overlapping centres)`;
  return `blobs-mlp: Gaussian-blob classification (d 4-16, 2-5 classes${wide}), ${depth} of ${f.widths.join('/')} ${f.activations.join('/')} units, batch ${f.batchSize}`;
}
