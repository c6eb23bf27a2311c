import { InvalidOptionError, Rng } from '@opt/tensor';
import { createDataset, type Dataset } from './dataset.js';

/** Options of {@link trainTestSplit}. */
export interface TrainTestSplitOptions {
  /** Fraction of the examples held out for testing, in (0, 1). */
  testFraction: number;
  /** Seed of the shuffle that picks the test examples; default 0. */
  seed?: number;
  /** Keep each class's proportion in both parts (default true). */
  stratify?: boolean;
}

/** The two parts of a split; both keep the original row order of `ds`. */
export interface TrainTestSplit {
  train: Dataset;
  test: Dataset;
  /** Rows of the original data set in `train`, ascending. */
  trainIndices: Int32Array;
  /** Rows of the original data set in `test`, ascending. */
  testIndices: Int32Array;
}

/** In-place Fisher–Yates shuffle driven by `rng` (uniform over all permutations). */
export function shuffleInPlace(indices: Int32Array | number[], rng: Rng): void {
  for (let i = indices.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = indices[i]!;
    indices[i] = indices[j]!;
    indices[j] = t;
  }
}

/**
 * Split a data set into train and test parts, deterministically for a given seed.
 *
 * Stratified (the default): the rows of each class `c` (count `n_c`) are shuffled with the seeded generator and the
 * first `round(n_c · testFraction)` go to the test part, so every class keeps its proportion up to rounding.
 * Unstratified: all rows are shuffled and the first `round(n · testFraction)` are the test part. Both parts are
 * then put back in the original row order. Each part keeps at least one example.
 *
 * @throws InvalidOptionError when `testFraction` is not in (0, 1) or a part would be empty.
 */
export function trainTestSplit(ds: Dataset, options: TrainTestSplitOptions): TrainTestSplit {
  const { testFraction, seed = 0, stratify = true } = options;
  if (typeof testFraction !== 'number' || !(testFraction > 0 && testFraction < 1)) {
    throw new InvalidOptionError('testFraction', testFraction, 'in (0, 1)', 'trainTestSplit');
  }
  const rng = new Rng(seed);
  const inTest = new Uint8Array(ds.n);
  if (stratify) {
    const byClass: number[][] = Array.from({ length: ds.numClasses }, () => []);
    for (let i = 0; i < ds.n; i++) byClass[ds.labels[i]!]!.push(i);
    for (const rows of byClass) {
      shuffleInPlace(rows, rng);
      const k = Math.round(rows.length * testFraction);
      for (let r = 0; r < k; r++) inTest[rows[r]!] = 1;
    }
  } else {
    const rows = Int32Array.from({ length: ds.n }, (_, i) => i);
    shuffleInPlace(rows, rng);
    const k = Math.round(ds.n * testFraction);
    for (let r = 0; r < k; r++) inTest[rows[r]!] = 1;
  }
  let nTest = 0;
  for (let i = 0; i < ds.n; i++) nTest += inTest[i]!;
  if (nTest === 0 || nTest === ds.n) {
    throw new InvalidOptionError(
      'testFraction',
      testFraction,
      `a value leaving both parts non-empty for ${ds.n} examples (got ${nTest} test examples)`,
      'trainTestSplit',
    );
  }
  const trainIndices = new Int32Array(ds.n - nTest);
  const testIndices = new Int32Array(nTest);
  for (let i = 0, a = 0, b = 0; i < ds.n; i++) {
    if (inTest[i]) testIndices[b++] = i;
    else trainIndices[a++] = i;
  }
  return {
    train: subset(ds, trainIndices, `${ds.name}/train`),
    test: subset(ds, testIndices, `${ds.name}/test`),
    trainIndices,
    testIndices,
  };
}

/**
 * The rows `indices` of `ds` (in that order, repeats allowed) as a new data set with copied buffers.
 *
 * @param name - the new data set's name; default `ds.name`.
 * @throws InvalidOptionError on an index outside `[0, n)`.
 */
export function subset(ds: Dataset, indices: ArrayLike<number>, name: string = ds.name): Dataset {
  const m = indices.length;
  const d = ds.d;
  const features = new Float64Array(m * d);
  const labels = new Int32Array(m);
  for (let r = 0; r < m; r++) {
    const i = indices[r]!;
    if (!Number.isInteger(i) || i < 0 || i >= ds.n) {
      throw new InvalidOptionError(`indices[${r}]`, i, `an integer in [0, ${ds.n})`, `subset(${ds.name})`);
    }
    features.set(ds.features.subarray(i * d, i * d + d), r * d);
    labels[r] = ds.labels[i]!;
  }
  return createDataset({ name, features, labels, d, numClasses: ds.numClasses, classNames: ds.classNames });
}

/** The result of {@link standardize}. */
export interface Standardized {
  /** The standardized training set: every feature has mean 0 and standard deviation 1 (or is constant 0). */
  train: Dataset;
  /** The test set transformed with the training statistics, when one was given. */
  test?: Dataset;
  /** Per-feature mean of the training set. */
  mean: Float64Array;
  /** Per-feature scale divided by: the training standard deviation, or 1 for a constant feature. */
  std: Float64Array;
}

/**
 * Standardize features with statistics fitted on the training set only (so nothing about the test set leaks into
 * training): `x'_ij = (x_ij − μ_j) / σ_j` with the training mean `μ_j` and population standard deviation
 * `σ_j = sqrt(mean((x_ij − μ_j)²))`. A constant feature (σ_j = 0, e.g. an always-blank pixel) gets σ_j = 1 instead, as
 * scikit-learn's `StandardScaler` does, so it maps to 0 rather than NaN. The mean is computed in two passes
 * (mean, then squared deviations) for accuracy.
 *
 * @param train - the set the statistics are fitted on.
 * @param test - an optional second set transformed with the same statistics (must have the same `d`).
 * @throws InvalidOptionError when `test.d !== train.d` or `train` is empty.
 */
export function standardize(train: Dataset, test?: Dataset): Standardized {
  const { n, d } = train;
  if (n === 0) throw new InvalidOptionError('train.n', n, 'at least one example', 'standardize');
  if (test && test.d !== d) throw new InvalidOptionError('test.d', test.d, `${d} (the training set's feature count)`, 'standardize');
  const mean = new Float64Array(d);
  const std = new Float64Array(d);
  const x = train.features;
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] = mean[j]! + x[i * d + j]!;
  for (let j = 0; j < d; j++) mean[j] = mean[j]! / n;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      const c = x[i * d + j]! - mean[j]!;
      std[j] = std[j]! + c * c;
    }
  }
  for (let j = 0; j < d; j++) {
    const s = Math.sqrt(std[j]! / n);
    // Relative threshold: a feature whose spread is rounding noise around its mean is treated as constant.
    std[j] = s > 1e-12 * Math.max(1, Math.abs(mean[j]!)) ? s : 1;
  }
  const apply = (ds: Dataset): Dataset => {
    const out = new Float64Array(ds.n * d);
    for (let i = 0; i < ds.n; i++) {
      for (let j = 0; j < d; j++) out[i * d + j] = (ds.features[i * d + j]! - mean[j]!) / std[j]!;
    }
    return createDataset({ name: ds.name, features: out, labels: ds.labels.slice(), d, numClasses: ds.numClasses, classNames: ds.classNames });
  };
  const result: Standardized = { train: apply(train), mean, std };
  if (test) result.test = apply(test);
  return result;
}

/**
 * Multiply every feature by `factor`, returning a new data set: `scaleFeatures(pixels, 1 / 255)` maps 0–255
 * intensities to [0, 1], `scaleFeatures(digits, 1 / 16)` the digits' 0–16 to [0, 1].
 *
 * @throws InvalidOptionError when `factor` is not a finite non-zero number.
 */
export function scaleFeatures(ds: Dataset, factor: number): Dataset {
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor === 0) {
    throw new InvalidOptionError('factor', factor, 'a finite non-zero number', 'scaleFeatures');
  }
  const out = new Float64Array(ds.features.length);
  for (let k = 0; k < out.length; k++) out[k] = ds.features[k]! * factor;
  return createDataset({ name: ds.name, features: out, labels: ds.labels.slice(), d: ds.d, numClasses: ds.numClasses, classNames: ds.classNames });
}
