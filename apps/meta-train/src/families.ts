import { Rng } from '@opt/tensor';
import {
  type Activation,
  type Dataset,
  MLPClassificationFamily,
  type MLPClassificationTask,
  type TaskFamily,
  createDataset,
} from '@opt/tasks';

/** Architecture choices of a synthetic classification family. */
export interface SyntheticFamilyOptions {
  /** Hidden widths to draw from. */
  widths: number[];
  /** Hidden depths to draw from. */
  depths: number[];
  /** Activations to draw from. */
  activations: Activation[];
  /** Mini-batch size. */
  batchSize: number;
  /** Name suffix. */
  label: string;
  /**
   * A second kind of task mixed into the family: wider inputs, more classes and more examples, with the centres
   * pulled together as the input grows so the classes keep overlapping. Such a task is limited by mini-batch noise
   * within a few hundred steps instead of driven towards zero loss, the regime of real data such as Fashion-MNIST 8×8
   * (64 inputs, 10 classes), which the base family's 4–16 features never show.
   */
  wide?: WideTaskOptions;
}

/** The noise-limited tasks of {@link SyntheticFamilyOptions.wide}. */
export interface WideTaskOptions {
  /** Share of the family's seeds that draw such a task. */
  share: number;
  /** Input dimension range (inclusive). */
  inputDims: [number, number];
  /** Class-count range (inclusive). */
  classes: [number, number];
  /** Examples per data set (20% held out). */
  examples: number;
}

/**
 * Overlapping Gaussian blobs: `classes` centres ~ N(0, spread²·I_d), each example a centre plus N(0, I_d) noise,
 * so the Bayes error is above zero and the loss does not collapse to 0 within a few hundred steps.
 */
export function blobs(seed: number, d: number, classes: number, n: number, spreadScale = 1): Dataset {
  const rng = new Rng(seed);
  const spread = rng.uniform(0.6, 1.4) * spreadScale;
  const centres = rng.fillNormal(new Float64Array(classes * d), 0, spread);
  const features = new Float64Array(n * d);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % classes;
    labels[i] = c;
    for (let j = 0; j < d; j++) features[i * d + j] = centres[c * d + j]! + rng.normal();
  }
  return createDataset({ name: `blobs-d${d}-c${classes}`, features, labels, d, numClasses: classes });
}

/**
 * The meta-training family: for each seed a fresh blobs data set (d ∈ [4, 16], 2–5 classes, 320 examples, 20%
 * held out) and an MLP classifier on it drawn by `MLPClassificationFamily` (width, depth, activation from the options).
 */
export class SyntheticClassificationFamily implements TaskFamily<MLPClassificationTask> {
  readonly name: string;
  constructor(readonly options: SyntheticFamilyOptions) {
    this.name = `blobs-mlp/${options.label}`;
  }

  sample(seed: number): MLPClassificationTask {
    const rng = new Rng(seed * 7919 + 13);
    const wide = this.options.wide;
    // The mixture draw has its own stream, so a family without wide tasks draws exactly what it always did.
    const data = wide !== undefined && new Rng(seed * 104_729 + 71).uniform(0, 1) < wide.share ? wideBlobs(rng, wide) : blobs(...baseDraw(rng), 320);
    return new MLPClassificationFamily(data, {
      widths: this.options.widths,
      depths: this.options.depths,
      activations: this.options.activations,
      batchSizes: [this.options.batchSize],
      dtype: 'float64',
    }).sample(seed);
  }
}

function baseDraw(rng: Rng): [number, number, number] {
  const d = 4 + rng.int(13);
  const classes = 2 + rng.int(4);
  return [rng.nextUint32(), d, classes];
}

function wideBlobs(rng: Rng, wide: WideTaskOptions): Dataset {
  const d = wide.inputDims[0] + rng.int(wide.inputDims[1] - wide.inputDims[0] + 1);
  const classes = wide.classes[0] + rng.int(wide.classes[1] - wide.classes[0] + 1);
  // Centre distances grow as spread·√(2d): scaling the spread by √(8/d) keeps them where the 8-feature tasks have
  // them, so the classes overlap at any width.
  return blobs(rng.nextUint32(), d, classes, wide.examples, Math.sqrt(8 / d));
}

/** v1's training distribution: 1 hidden layer of 16 or 32 ReLU units, batch 32. */
export const TRAIN_FAMILY: SyntheticFamilyOptions = { widths: [16, 32], depths: [1], activations: ['relu'], batchSize: 32, label: 'train' };
/** Out of distribution in size for v1: 2× deeper (2 hidden layers) and up to 4× wider (32 or 64 units vs 16/32), same activation. */
export const OOD_SIZE_FAMILY: SyntheticFamilyOptions = { widths: [32, 64], depths: [2], activations: ['relu'], batchSize: 32, label: 'ood-size' };
/** Out of distribution in activation: tanh instead of ReLU, v1's training sizes. */
export const OOD_ACTIVATION_FAMILY: SyntheticFamilyOptions = { widths: [16, 32], depths: [1], activations: ['tanh'], batchSize: 32, label: 'ood-tanh' };

/** The other activation (tanh for a ReLU family) at a training family's sizes. */
export function otherActivation(family: SyntheticFamilyOptions): SyntheticFamilyOptions {
  const other: Activation = family.activations.includes('relu') ? 'tanh' : 'relu';
  return { ...family, activations: [other], label: `${family.label}-${other}` };
}

/** Seed ranges: meta-training, meta-validation (checkpoint choice, global lr tuning) and meta-test never overlap. */
export const SEEDS = { train: [0, 1_000_000] as [number, number], validation: 1_000_000, test: 2_000_000 };

/**
 * Fashion-MNIST at 8×8: the 28×28 images cropped to the central 24×24 and averaged over 3×3 blocks, the learned_optimization
 * `FashionMnist8` input size.
 */
export function downsample8(ds: Dataset, name: string): Dataset {
  const n = ds.n;
  const out = new Float64Array(n * 64);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < 8; r++) {
      for (let c = 0; c < 8; c++) {
        let s = 0;
        for (let dr = 0; dr < 3; dr++) for (let dc = 0; dc < 3; dc++) s += ds.features[i * 784 + (2 + 3 * r + dr) * 28 + (2 + 3 * c + dc)]!;
        out[i * 64 + r * 8 + c] = s / 9;
      }
    }
  }
  return createDataset({ name, features: out, labels: ds.labels, d: 64, numClasses: ds.numClasses, classNames: ds.classNames });
}

/**
 * Unseen real data sets: wine, iris and Fashion-MNIST 8×8 (a 1000-image class-balanced subset per task draw), each
 * with MLPs of the training family's sizes and activation (v1: 1 hidden ReLU layer of 16 or 32) and batch 32.
 */
export function datasetFamilies(sets: { wine: Dataset; iris: Dataset; fashion8: Dataset }, sizes: SyntheticFamilyOptions = TRAIN_FAMILY): TaskFamily<MLPClassificationTask>[] {
  const opts = { widths: sizes.widths, depths: sizes.depths, activations: sizes.activations, batchSizes: [sizes.batchSize], dtype: 'float64' as const };
  return [new MLPClassificationFamily(sets.wine, opts), new MLPClassificationFamily(sets.iris, opts), new MLPClassificationFamily(sets.fashion8, opts)];
}
