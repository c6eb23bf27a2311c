import { type DType, type FloatArray, InvalidOptionError, Rng } from '@opt/tensor';
import { checkBoolean, checkFinite, checkInRange, checkInteger, checkOneOf } from '@opt/core';
import { BatchIterator } from '../data/batches.js';
import { type Dataset, batchOf } from '../data/dataset.js';
import { standardize, trainTestSplit } from '../data/split.js';
import { type Batch, type ParamsInfo, type SupervisedTask, type TaskEvaluation, type TaskFamily, paramsInfo } from '../objective.js';
import { ClassificationObjective } from '../nn/objectives.js';
import { type Activation, type Sequential, mlp } from '../nn/sequential.js';

/** Options of {@link MLPClassificationFamily}: the choices each task draws from, uniformly. */
export interface MLPClassificationFamilyOptions {
  /** Hidden-layer widths to choose from (one width per task, shared by its hidden layers). Default `[32, 64, 128]`. */
  widths?: readonly number[];
  /** Numbers of hidden layers to choose from (0 gives softmax regression). Default `[1, 2]`. */
  depths?: readonly number[];
  /** Hidden activations to choose from. Default `['relu', 'tanh', 'gelu']`. */
  activations?: readonly Activation[];
  /** Mini-batch sizes to choose from. Default `[32, 64, 128]`. */
  batchSizes?: readonly number[];
  /** Fraction of the data held out for testing (stratified). Default 0.2. */
  testFraction?: number;
  /** Seed of a train/test split shared by every task; default: each task draws its own split from its seed. */
  splitSeed?: number;
  /** Standardize features with the training split's mean and standard deviation. Default true. */
  standardize?: boolean;
  /** dtype of the parameters and batches. Default `'float64'`. */
  dtype?: DType;
}

/** The architecture and batch size a task drew. */
export interface MLPArchitecture {
  /** Layer widths `[d, width × depth, numClasses]`. */
  sizes: readonly number[];
  /** Hidden width. */
  width: number;
  /** Number of hidden layers. */
  depth: number;
  /** Hidden activation. */
  activation: Activation;
  /** Mini-batch size. */
  batchSize: number;
}

/**
 * One task of {@link MLPClassificationFamily}: an MLP classifier, freshly
 * initialised, trained with mean softmax cross-entropy on the training split of
 * a data set, and evaluated on the held-out split.
 *
 * @example
 * ```ts
 * const task = new MLPClassificationFamily(dataset).sample(0);
 * const opt = new SGD(task.objective.parameters, { lr: 0.1, momentum: 0.9 });
 * const stream = task.stream();
 * for (let step = 0; step < 500; step++) {
 *   const batch = stream.next().value as Batch;
 *   opt.step(() => task.objective.lossAndGrad(batch));
 * }
 * task.evaluate(); // { trainLoss, testLoss, trainAccuracy, testAccuracy }
 * ```
 */
export class MLPClassificationTask implements SupervisedTask {
  readonly name: string;
  readonly objective: ClassificationObjective;
  readonly params: ParamsInfo;
  readonly train: Batch;
  readonly test: Batch;
  /** The seed the task was sampled from. */
  readonly seed: number;
  /** The sampled architecture and batch size. */
  readonly architecture: MLPArchitecture;
  /** The training split (standardized when the family standardizes). */
  readonly trainSet: Dataset;
  /** The held-out split, transformed like the training split. */
  readonly testSet: Dataset;
  private readonly initial: FloatArray[];
  private readonly dtype: DType;

  /**
   * @param name - the task's name.
   * @param model - the freshly initialised classifier.
   * @param trainSet - the training split.
   * @param testSet - the held-out split.
   * @param architecture - the sampled architecture.
   * @param seed - the seed it was sampled from.
   * @param dtype - dtype of the parameters and batches.
   */
  constructor(name: string, model: Sequential, trainSet: Dataset, testSet: Dataset, architecture: MLPArchitecture, seed: number, dtype: DType) {
    this.name = name;
    this.seed = seed;
    this.architecture = architecture;
    this.trainSet = trainSet;
    this.testSet = testSet;
    this.dtype = dtype;
    this.objective = new ClassificationObjective(model, trainSet, { dtype });
    this.params = paramsInfo(this.objective);
    this.train = this.objective.data;
    this.test = batchOf(testSet, Int32Array.from({ length: testSet.n }, (_, i) => i), dtype);
    this.initial = this.objective.parameters.map((p) => p.data.slice());
  }

  /** The model being trained. */
  get model(): Sequential {
    return this.objective.model as Sequential;
  }

  /** The sampled mini-batch size. */
  get batchSize(): number {
    return this.architecture.batchSize;
  }

  /** Restore the initial parameters (gradients are left as they are). */
  reset(): void {
    this.objective.parameters.forEach((p, k) => p.data.set(this.initial[k]!));
  }

  /**
   * One epoch over the training split in an order shuffled by `Rng(seed)`:
   * `ceil(n / batchSize)` batches, the last one smaller when `batchSize` does
   * not divide n. Batches reuse their buffers: each is valid until the next.
   *
   * @param batchSize - examples per batch; default the sampled {@link MLPArchitecture.batchSize}.
   * @param seed - shuffling seed; default the task's seed.
   */
  batches(batchSize: number = this.architecture.batchSize, seed: number = this.seed): IterableIterator<Batch> {
    checkInteger('MLPClassificationTask.batches', 'batchSize', batchSize, 1);
    checkFinite('MLPClassificationTask.batches', 'seed', seed);
    return new BatchIterator(this.trainSet, { batchSize, seed, dtype: this.dtype });
  }

  /**
   * An endless stream of shuffled mini-batches of the sampled batch size, epoch
   * after epoch (reshuffled each epoch, all from `Rng(seed)`), full batches only
   * (the remainder of each epoch is dropped so every step sees the same batch size).
   * Batches reuse their buffers.
   *
   * @param seed - shuffling seed; default the task's seed.
   */
  stream(seed: number = this.seed): IterableIterator<Batch> {
    checkFinite('MLPClassificationTask.stream', 'seed', seed);
    return new BatchIterator(this.trainSet, {
      batchSize: this.architecture.batchSize,
      seed,
      dtype: this.dtype,
      epochs: Infinity,
      dropLast: true,
    });
  }

  /** Mean cross-entropy and accuracy on the training and test splits at the current parameters. */
  evaluate(): TaskEvaluation {
    const train = this.objective.metrics(this.train);
    const test = this.objective.metrics(this.test);
    return { trainLoss: train.loss, testLoss: test.loss, trainAccuracy: train.accuracy, testAccuracy: test.accuracy };
  }
}

function checkChoices<T>(where: string, option: string, values: readonly T[] | undefined, fallback: readonly T[]): readonly T[] {
  const list = values ?? fallback;
  if (!Array.isArray(list) || list.length === 0) throw new InvalidOptionError(option, list, 'a non-empty array of choices', where);
  return list;
}

/**
 * Seeded MLP classification tasks over one data set. For each seed,
 * `Rng(seed)` draws, in this order: the depth, the width, the activation and
 * the batch size (each uniformly from its list), the seed of the train/test
 * split (unless `splitSeed` fixes one split for all tasks) and the seed of the
 * model's initialisation. The data set is split (stratified) into train and
 * test parts, standardized with the training statistics, and the task's
 * objective is {@link ClassificationObjective} over
 * `mlp({ sizes: [d, width × depth, numClasses], activation })` (PyTorch's default initialisation).
 *
 * @example
 * ```ts
 * import { Adam } from '@opt/core';
 * import { MLPClassificationFamily } from '@opt/tasks';
 * const family = new MLPClassificationFamily(irisDataset, { widths: [16, 32], depths: [1, 2], batchSizes: [16] });
 * const task = family.sample(7);
 * const opt = new Adam(task.objective.parameters, { lr: 1e-2 });
 * for (let epoch = 0; epoch < 20; epoch++) {
 *   for (const batch of task.batches(task.batchSize, epoch)) opt.step(() => task.objective.lossAndGrad(batch));
 * }
 * task.evaluate().testAccuracy; // ≈ 0.95
 * ```
 */
export class MLPClassificationFamily implements TaskFamily<MLPClassificationTask> {
  readonly name: string;
  /** The data set every task is drawn over. */
  readonly dataset: Dataset;
  private readonly widths: readonly number[];
  private readonly depths: readonly number[];
  private readonly activations: readonly Activation[];
  private readonly batchSizes: readonly number[];
  private readonly testFraction: number;
  private readonly splitSeed: number | undefined;
  private readonly standardize: boolean;
  private readonly dtype: DType;

  /**
   * @param dataset - the labelled data (split into train and test per task).
   * @param options - the architecture, activation and batch-size choices, the split and the dtype.
   */
  constructor(dataset: Dataset, options: MLPClassificationFamilyOptions = {}) {
    const where = 'MLPClassificationFamily';
    this.dataset = dataset;
    this.name = `mlp-classification/${dataset.name}`;
    this.widths = checkChoices(where, 'widths', options.widths, [32, 64, 128]);
    this.widths.forEach((w, i) => checkInteger(where, `widths[${i}]`, w, 1));
    this.depths = checkChoices(where, 'depths', options.depths, [1, 2]);
    this.depths.forEach((d, i) => checkInteger(where, `depths[${i}]`, d, 0));
    this.activations = checkChoices<Activation>(where, 'activations', options.activations, ['relu', 'tanh', 'gelu']);
    this.activations.forEach((a, i) => checkOneOf(where, `activations[${i}]`, a, ['relu', 'tanh', 'gelu', 'sigmoid']));
    this.batchSizes = checkChoices(where, 'batchSizes', options.batchSizes, [32, 64, 128]);
    this.batchSizes.forEach((b, i) => checkInteger(where, `batchSizes[${i}]`, b, 1));
    this.testFraction = checkInRange(where, 'testFraction', options.testFraction ?? 0.2, 0, 1, '()');
    this.splitSeed = options.splitSeed === undefined ? undefined : checkFinite(where, 'splitSeed', options.splitSeed);
    this.standardize = checkBoolean(where, 'standardize', options.standardize ?? true);
    this.dtype = checkOneOf<DType>(where, 'dtype', options.dtype ?? 'float64', ['float32', 'float64']);
  }

  /** The task of `seed`: same seed, identical architecture, split, batch size and initial parameters. */
  sample(seed: number): MLPClassificationTask {
    checkFinite('MLPClassificationFamily.sample', 'seed', seed);
    const rng = new Rng(seed);
    const depth = this.depths[rng.int(this.depths.length)]!;
    const width = this.widths[rng.int(this.widths.length)]!;
    const activation = this.activations[rng.int(this.activations.length)]!;
    const drawnBatch = this.batchSizes[rng.int(this.batchSizes.length)]!;
    const drawnSplitSeed = rng.nextUint32();
    const modelSeed = rng.nextUint32();
    const split = trainTestSplit(this.dataset, { testFraction: this.testFraction, seed: this.splitSeed ?? drawnSplitSeed });
    let { train, test } = split;
    if (this.standardize) {
      const s = standardize(train, test);
      train = s.train;
      test = s.test!;
    }
    const ds = this.dataset;
    const sizes = [ds.d, ...Array.from({ length: depth }, () => width), ds.numClasses];
    const batchSize = Math.min(drawnBatch, train.n);
    const model = mlp({ sizes, activation, dtype: this.dtype, seed: modelSeed });
    const architecture: MLPArchitecture = Object.freeze({ sizes: Object.freeze(sizes), width, depth, activation, batchSize });
    const name = `${this.name}/${sizes.join('-')}-${activation}/bs${batchSize}/seed${seed}`;
    return new MLPClassificationTask(name, model, train, test, architecture, seed, this.dtype);
  }
}
