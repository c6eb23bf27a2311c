import { checkFinite, checkInteger, checkNonNegative, choleskyFactor, choleskySolve } from '@opt/core';
import {
  type DType,
  type FloatArray,
  InvalidOptionError,
  Parameter,
  Rng,
  ShapeMismatchError,
  allocate,
} from '@opt/tensor';
import {
  type Batch,
  type Objective,
  type ParamsInfo,
  type SupervisedTask,
  type TaskEvaluation,
  type TaskFamily,
  paramsInfo,
} from '../objective.js';
import { type Sampled, sampleInteger } from './quadratic.js';

/** Options of the linear-model objectives. */
export interface LinearModelOptions {
  /** dtype of the parameters (and expected of the batches' features). Default: the training features' dtype. */
  dtype?: DType;
  /** L2 penalty λ ≥ 0 on the weights (not the bias): every example's loss gets `(λ/2)‖w‖²`. Default 0. */
  l2?: number;
}

/**
 * A generalised linear model's objective over a training set of `n` examples
 * with `d` features: parameters `weight` (shape `[1, d]`, as `torch.nn.Linear(d, 1)`)
 * and `bias` (shape `[1]`), prediction `z_i = w·x_i + b`, and a per-example loss
 * `ℓ(z_i, y_i)` chosen by the subclass. The objective over a batch B is
 *
 * ```
 * L(w, b) = (1/|B|) Σ_{i∈B} ℓ_i,      ℓ_i = ℓ(z_i, y_i) + (λ/2)‖w‖²
 * ∇_w L   = (1/|B|) Σ ℓ'(z_i, y_i)·x_i + λw,        ∇_b L = (1/|B|) Σ ℓ'(z_i, y_i)
 * ∇²L     = (1/|B|) Σ ℓ''(z_i, y_i)·a_i·a_iᵀ + λ·diag(1, …, 1, 0),   a_i = (x_i, 1)
 * ```
 *
 * The penalty is part of every example's loss, so the mean of the
 * {@link GeneralizedLinearObjective.perExampleGrads | per-example gradients}
 * is exactly the batch gradient. Without a batch, every method uses the
 * training set. Sums run in float64 and each stored value is rounded once
 * (float32 parameters get the float32 rounding of the float64 result).
 * `lossAndGrad` allocates nothing after the first call.
 */
export abstract class GeneralizedLinearObjective implements Objective {
  /** `weight` `[1, d]` and `bias` `[1]`, in this order (the flattened order of Hessians). */
  readonly parameters: Parameter[];
  /** The weight vector w, shape `[1, d]`. */
  readonly weight: Parameter;
  /** The bias b, shape `[1]`. */
  readonly bias: Parameter;
  /** The training set: the default batch of every method. */
  readonly data: Batch;
  /** Number of features d. */
  readonly numFeatures: number;
  /** The L2 penalty λ on the weights. */
  readonly l2: number;
  /** True for classifiers (predictions are thresholded logits). */
  abstract readonly classification: boolean;
  private readonly gw: Float64Array;
  private hessianScratch: Float64Array | null = null;

  /**
   * @param where - the class name, for messages.
   * @param data - the training set (`x` row-major `[size, d]`).
   * @param numFeatures - d.
   * @param options - dtype and L2 penalty.
   */
  protected constructor(where: string, data: Batch, numFeatures: number, options: LinearModelOptions) {
    checkInteger(where, 'numFeatures', numFeatures, 1);
    checkBatch(where, data, numFeatures);
    const dtype = options.dtype ?? (data.x instanceof Float32Array ? 'float32' : 'float64');
    if (dtype !== 'float32' && dtype !== 'float64') throw new InvalidOptionError('dtype', dtype, "'float32' or 'float64'", where);
    this.l2 = checkNonNegative(where, 'l2', options.l2 ?? 0);
    this.data = data;
    this.numFeatures = numFeatures;
    this.weight = Parameter.zeros([1, numFeatures], dtype, 'weight');
    this.bias = Parameter.zeros([1], dtype, 'bias');
    this.parameters = [this.weight, this.bias];
    this.gw = new Float64Array(numFeatures);
  }

  /** The per-example data loss ℓ(z, y) (without the penalty). */
  protected abstract exampleLoss(z: number, y: number): number;
  /** ∂ℓ/∂z. */
  protected abstract exampleDerivative(z: number, y: number): number;
  /** ∂²ℓ/∂z². */
  protected abstract exampleCurvature(z: number, y: number): number;

  /** Set every parameter to 0 (the standard start: both models are convex). */
  reset(): void {
    this.weight.data.fill(0);
    this.bias.data.fill(0);
  }

  /** The prediction `z = w·x_i + b` of row `i` of `x`. */
  protected predictRow(x: FloatArray, i: number): number {
    const d = this.numFeatures;
    const w = this.weight.data;
    const base = i * d;
    let z = this.bias.data[0]!;
    for (let j = 0; j < d; j++) z += w[j]! * x[base + j]!;
    return z;
  }

  /** `(λ/2)‖w‖²`. */
  protected penalty(): number {
    if (this.l2 === 0) return 0;
    const w = this.weight.data;
    let s = 0;
    for (let j = 0; j < w.length; j++) s += w[j]! * w[j]!;
    return 0.5 * this.l2 * s;
  }

  /** The predictions `z_i = w·x_i + b` of the batch's rows, written into `out` (length ≥ size). */
  predict(batch: Batch, out: FloatArray): FloatArray {
    checkBatch('predict', batch, this.numFeatures);
    if (out.length < batch.size) throw new ShapeMismatchError(`predict: out has ${out.length} elements, expected ${batch.size}`);
    for (let i = 0; i < batch.size; i++) out[i] = this.predictRow(batch.x, i);
    return out;
  }

  /** The mean data loss `(1/|B|) Σ ℓ(z_i, y_i)` without the penalty (what {@link RegressionTask.evaluate} reports). */
  dataLoss(batch: Batch = this.data): number {
    checkBatch('dataLoss', batch, this.numFeatures);
    let f = 0;
    for (let i = 0; i < batch.size; i++) f += this.exampleLoss(this.predictRow(batch.x, i), batch.y[i]!);
    return f / batch.size;
  }

  /** The mean regularised loss over `batch` (default the training set). */
  loss(batch: Batch = this.data): number {
    return this.dataLoss(batch) + this.penalty();
  }

  /** The mean regularised loss over `batch`, overwriting both gradients. */
  lossAndGrad(batch: Batch = this.data): number {
    checkBatch('lossAndGrad', batch, this.numFeatures);
    const d = this.numFeatures;
    const x = batch.x;
    const gw = this.gw;
    gw.fill(0);
    let gb = 0;
    let f = 0;
    for (let i = 0; i < batch.size; i++) {
      const z = this.predictRow(x, i);
      const y = batch.y[i]!;
      f += this.exampleLoss(z, y);
      const r = this.exampleDerivative(z, y);
      gb += r;
      const base = i * d;
      for (let j = 0; j < d; j++) gw[j] = gw[j]! + r * x[base + j]!;
    }
    const inv = 1 / batch.size;
    const w = this.weight.data;
    const gradW = this.weight.ensureGrad();
    for (let j = 0; j < d; j++) gradW[j] = gw[j]! * inv + this.l2 * w[j]!;
    this.bias.ensureGrad()[0] = gb * inv;
    return f * inv + this.penalty();
  }

  /**
   * Per-example gradients of `ℓ_i = ℓ(z_i, y_i) + (λ/2)‖w‖²`: row i of
   * `out[0]` (`[size, d]`) is `ℓ'(z_i, y_i)·x_i + λw`, entry i of `out[1]` is `ℓ'(z_i, y_i)`.
   */
  perExampleGrads(batch: Batch, out: FloatArray[]): void {
    const where = 'perExampleGrads';
    checkBatch(where, batch, this.numFeatures);
    const d = this.numFeatures;
    if (out.length !== 2) throw new ShapeMismatchError(`${where}: expected 2 output buffers (weight, bias), got ${out.length}`);
    const [ow, ob] = out as [FloatArray, FloatArray];
    if (ow.length < batch.size * d) throw new ShapeMismatchError(`${where}: out[0] has ${ow.length} elements, expected ${batch.size * d}`);
    if (ob.length < batch.size) throw new ShapeMismatchError(`${where}: out[1] has ${ob.length} elements, expected ${batch.size}`);
    const x = batch.x;
    const w = this.weight.data;
    for (let i = 0; i < batch.size; i++) {
      const r = this.exampleDerivative(this.predictRow(x, i), batch.y[i]!);
      const base = i * d;
      for (let j = 0; j < d; j++) ow[base + j] = r * x[base + j]! + this.l2 * w[j]!;
      ob[i] = r;
    }
  }

  /**
   * The dense Hessian over `(w, b)` flattened, `(d+1)×(d+1)` row-major, at the
   * current parameters, averaged over `batch` (default the training set).
   */
  hessian(out: FloatArray, batch: Batch = this.data): void {
    checkBatch('hessian', batch, this.numFeatures);
    const d = this.numFeatures;
    const m = d + 1;
    if (out.length !== m * m) throw new ShapeMismatchError(`hessian: out has ${out.length} elements, expected ${m * m}`);
    const x = batch.x;
    // One rank-1 update per example (one curvature evaluation each), summed in
    // float64 so a float32 `out` is rounded once per entry.
    const acc = (this.hessianScratch ??= new Float64Array(m * m));
    acc.fill(0);
    for (let i = 0; i < batch.size; i++) {
      const c = this.exampleCurvature(this.predictRow(x, i), batch.y[i]!);
      const base = i * d;
      for (let r = 0; r < m; r++) {
        const cr = c * (r < d ? x[base + r]! : 1);
        for (let k = r; k < m; k++) acc[r * m + k] = acc[r * m + k]! + cr * (k < d ? x[base + k]! : 1);
      }
    }
    const inv = 1 / batch.size;
    for (let r = 0; r < m; r++) {
      for (let k = r; k < m; k++) {
        const h = acc[r * m + k]! * inv + (r === k && r < d ? this.l2 : 0);
        out[r * m + k] = h;
        out[k * m + r] = h;
      }
    }
  }

  /** `out ← H·v` over `(w, b)` flattened (length d+1), averaged over `batch` (default the training set). */
  hessianVectorProduct(v: FloatArray, out: FloatArray, batch: Batch = this.data): void {
    checkBatch('hessianVectorProduct', batch, this.numFeatures);
    const d = this.numFeatures;
    if (v.length !== d + 1) throw new ShapeMismatchError(`hessianVectorProduct: v has ${v.length} elements, expected ${d + 1}`);
    if (out.length !== d + 1) throw new ShapeMismatchError(`hessianVectorProduct: out has ${out.length} elements, expected ${d + 1}`);
    const x = batch.x;
    const acc = this.gw;
    acc.fill(0);
    let accB = 0;
    for (let i = 0; i < batch.size; i++) {
      const base = i * d;
      let av = v[d]!;
      for (let j = 0; j < d; j++) av += x[base + j]! * v[j]!;
      const t = this.exampleCurvature(this.predictRow(x, i), batch.y[i]!) * av;
      for (let j = 0; j < d; j++) acc[j] = acc[j]! + t * x[base + j]!;
      accB += t;
    }
    const inv = 1 / batch.size;
    for (let j = 0; j < d; j++) out[j] = acc[j]! * inv + this.l2 * v[j]!;
    out[d] = accB * inv;
  }
}

/** Throw a ShapeMismatchError unless `batch` holds `size ≥ 1` rows of `d` features and `size` targets. */
function checkBatch(where: string, batch: Batch, d: number): void {
  const size = batch.size;
  if (!Number.isInteger(size) || size < 1) throw new InvalidOptionError('batch.size', size, 'an integer >= 1', where);
  if (batch.x.length < size * d) {
    throw new ShapeMismatchError(`${where}: batch.x has ${batch.x.length} elements, expected ${size}×${d} = ${size * d}`);
  }
  if (batch.y.length < size) throw new ShapeMismatchError(`${where}: batch.y has ${batch.y.length} elements, expected ${size}`);
}

/**
 * Least-squares linear regression, `ℓ(z, y) = ½(z − y)²` (so ℓ' = z − y, ℓ'' = 1):
 *
 * ```
 * L(w, b) = (1/|B|) Σ ½(w·x_i + b − y_i)² + (λ/2)‖w‖²
 * ```
 *
 * The Hessian does not depend on the parameters, and {@link LinearRegressionObjective.solution}
 * gives the exact minimiser over the training set (ridge normal equations, by Cholesky).
 *
 * @example
 * ```ts
 * const x = new Float64Array([0, 1, 2, 3]); // 4 examples, 1 feature
 * const y = new Float64Array([1, 3, 5, 7]);
 * const f = new LinearRegressionObjective({ x, y, size: 4 }, 1);
 * f.solution(); // [2, 1]: y = 2x + 1
 * ```
 */
export class LinearRegressionObjective extends GeneralizedLinearObjective {
  readonly classification = false;

  /**
   * @param data - the training set: `x` row-major `[size, numFeatures]`, `y` the targets.
   * @param numFeatures - d.
   * @param options - dtype and L2 penalty.
   */
  constructor(data: Batch, numFeatures: number, options: LinearModelOptions = {}) {
    super('LinearRegressionObjective', data, numFeatures, options);
  }

  protected exampleLoss(z: number, y: number): number {
    const r = z - y;
    return 0.5 * r * r;
  }

  protected exampleDerivative(z: number, y: number): number {
    return z - y;
  }

  protected exampleCurvature(): number {
    return 1;
  }

  /**
   * The exact minimiser `(w, b)` (flattened, length d+1) of the training
   * objective: the solution of `H·θ = (1/n) Σ y_i·a_i`, with H the (constant)
   * Hessian, by Cholesky.
   *
   * @throws `InvalidOptionError` when the features are collinear and λ = 0 (no unique minimiser).
   */
  solution(): Float64Array {
    const d = this.numFeatures;
    const m = d + 1;
    const data = this.data;
    const h = new Float64Array(m * m);
    this.hessian(h, data);
    const rhs = new Float64Array(m);
    for (let i = 0; i < data.size; i++) {
      const y = data.y[i]!;
      for (let j = 0; j < d; j++) rhs[j] = rhs[j]! + y * data.x[i * d + j]!;
      rhs[d] = rhs[d]! + y;
    }
    for (let j = 0; j < m; j++) rhs[j] = rhs[j]! / data.size;
    const factor = new Float64Array(m * m);
    if (!choleskyFactor(h, m, factor)) {
      throw new InvalidOptionError('data', 'collinear features', 'features of full column rank (or l2 > 0)', 'LinearRegressionObjective.solution');
    }
    const theta = new Float64Array(m);
    choleskySolve(factor, m, rhs, theta);
    return theta;
  }
}

/** `log(1 + e^z)` without overflow or cancellation. */
function softplus(z: number): number {
  return Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
}

/** The logistic function `1/(1 + e^{−z})`, evaluated on the side that does not overflow. */
function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/**
 * Binary logistic regression with labels y ∈ {0, 1} and the logit `z = w·x + b`:
 * the per-example loss is the binary cross-entropy with logits,
 *
 * ```
 * ℓ(z, y) = log(1 + e^z) − y·z,    ℓ' = σ(z) − y,    ℓ'' = σ(z)(1 − σ(z))
 * ```
 *
 * (`torch.nn.BCEWithLogitsLoss`), computed without overflow for any z. The
 * objective is convex; with separable data and λ = 0 it has no minimiser (the
 * weights grow without bound), so use λ > 0 or enough noisy examples.
 *
 * @example
 * ```ts
 * const x = new Float64Array([-2, -1, 1, 2]);
 * const y = new Int32Array([0, 1, 0, 1]);
 * const f = new LogisticRegressionObjective({ x, y, size: 4 }, 1, { l2: 0.1 });
 * f.lossAndGrad(); // log 2 at w = b = 0
 * ```
 */
export class LogisticRegressionObjective extends GeneralizedLinearObjective {
  readonly classification = true;

  /**
   * @param data - the training set: `x` row-major `[size, numFeatures]`, `y` labels 0 or 1.
   * @param numFeatures - d.
   * @param options - dtype and L2 penalty.
   */
  constructor(data: Batch, numFeatures: number, options: LinearModelOptions = {}) {
    super('LogisticRegressionObjective', data, numFeatures, options);
  }

  protected exampleLoss(z: number, y: number): number {
    return softplus(z) - y * z;
  }

  protected exampleDerivative(z: number, y: number): number {
    return sigmoid(z) - y;
  }

  protected exampleCurvature(z: number): number {
    const p = sigmoid(z);
    return p * (1 - p);
  }

  /** The fraction of the batch's rows whose predicted class `[z > 0]` equals the label. */
  accuracy(batch: Batch = this.data): number {
    checkBatch('accuracy', batch, this.numFeatures);
    let correct = 0;
    for (let i = 0; i < batch.size; i++) {
      const predicted = this.predictRow(batch.x, i) > 0 ? 1 : 0;
      if (predicted === batch.y[i]) correct++;
    }
    return correct / batch.size;
  }
}

/**
 * One task of {@link LinearRegressionFamily} or {@link LogisticRegressionFamily}:
 * a {@link GeneralizedLinearObjective} on generated data with a train/test
 * split, shuffled mini-batches and metrics.
 */
export class RegressionTask<O extends GeneralizedLinearObjective = GeneralizedLinearObjective> implements SupervisedTask {
  readonly name: string;
  readonly objective: O;
  readonly params: ParamsInfo;
  readonly train: Batch;
  readonly test: Batch;
  /** The seed the task was sampled from. */
  readonly seed: number;
  /** The planted weights w* that generated the targets. */
  readonly trueWeights: Float64Array;
  /** The planted bias b*. */
  readonly trueBias: number;

  /**
   * @param name - the task's name.
   * @param objective - the training objective (its `data` is the training split).
   * @param test - the held-out split.
   * @param seed - the seed it was sampled from.
   * @param trueWeights - the planted w*.
   * @param trueBias - the planted b*.
   */
  constructor(name: string, objective: O, test: Batch, seed: number, trueWeights: Float64Array, trueBias: number) {
    this.name = name;
    this.objective = objective;
    this.params = paramsInfo(objective);
    this.train = objective.data;
    this.test = test;
    this.seed = seed;
    this.trueWeights = trueWeights;
    this.trueBias = trueBias;
  }

  /** Number of features d. */
  get numFeatures(): number {
    return this.objective.numFeatures;
  }

  /** Restore the initial parameters (all zero). */
  reset(): void {
    this.objective.reset();
  }

  /**
   * One epoch over the training split in an order shuffled by `Rng(seed)`
   * (Fisher–Yates): `ceil(n / batchSize)` batches, the last one smaller when
   * `batchSize` does not divide n (PyTorch's `drop_last=False`). Each batch
   * is a fresh copy in the features' dtype, so batches can be kept.
   */
  batches(batchSize: number, seed: number): IterableIterator<Batch> {
    checkInteger('RegressionTask.batches', 'batchSize', batchSize, 1);
    checkFinite('RegressionTask.batches', 'seed', seed);
    return this.epoch(batchSize, seed);
  }

  /** Unregularised train and test loss, and accuracies for classification. */
  evaluate(): TaskEvaluation {
    const result: TaskEvaluation = {
      trainLoss: this.objective.dataLoss(this.train),
      testLoss: this.objective.dataLoss(this.test),
    };
    if (this.objective instanceof LogisticRegressionObjective) {
      result.trainAccuracy = this.objective.accuracy(this.train);
      result.testAccuracy = this.objective.accuracy(this.test);
    }
    return result;
  }

  private *epoch(batchSize: number, seed: number): IterableIterator<Batch> {
    const { x, y, size: n } = this.train;
    const d = this.numFeatures;
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    const rng = new Rng(seed);
    for (let i = n - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
    for (let start = 0; start < n; start += batchSize) {
      const size = Math.min(batchSize, n - start);
      const bx = x instanceof Float32Array ? new Float32Array(size * d) : new Float64Array(size * d);
      const by = y instanceof Int32Array ? new Int32Array(size) : y instanceof Float32Array ? new Float32Array(size) : new Float64Array(size);
      for (let k = 0; k < size; k++) {
        const row = order[start + k]!;
        bx.set(x.subarray(row * d, row * d + d), k * d);
        by[k] = y[row]!;
      }
      yield { x: bx, y: by, size };
    }
  }
}

/** A linear-regression task. */
export type LinearRegressionTask = RegressionTask<LinearRegressionObjective>;
/** A logistic-regression task. */
export type LogisticRegressionTask = RegressionTask<LogisticRegressionObjective>;

/** Options shared by {@link LinearRegressionFamily} and {@link LogisticRegressionFamily}. */
export interface RegressionFamilyOptions {
  /** Number of features d, or an inclusive integer range sampled uniformly. Default `[2, 20]`. */
  numFeatures?: Sampled;
  /** Training examples. Default 256. */
  numTrain?: number;
  /** Held-out examples. Default 256. */
  numTest?: number;
  /** L2 penalty λ on the weights of the objective. Default 0. */
  l2?: number;
  /** dtype of the parameters and the data. Default `'float64'`. */
  dtype?: DType;
}

/** Options of {@link LinearRegressionFamily}. */
export interface LinearRegressionFamilyOptions extends RegressionFamilyOptions {
  /** Standard deviation σ of the Gaussian noise on the targets. Default 0.1. */
  noise?: number;
}

/** Options of {@link LogisticRegressionFamily}. */
export interface LogisticRegressionFamilyOptions extends RegressionFamilyOptions {
  /** Scale s of the planted logits: w* ~ N(0, s²/d), so `w*·x` has standard deviation ≈ s. Default 3. */
  logitScale?: number;
}

/** The validated common options, with defaults. */
interface ResolvedRegressionOptions {
  numFeatures: Sampled;
  numTrain: number;
  numTest: number;
  l2: number;
  dtype: DType;
}

function resolveRegressionOptions(where: string, options: RegressionFamilyOptions): ResolvedRegressionOptions {
  const numFeatures = options.numFeatures ?? [2, 20];
  if (typeof numFeatures === 'number') checkInteger(where, 'numFeatures', numFeatures, 1);
  else if (Array.isArray(numFeatures) && numFeatures.length === 2) {
    checkInteger(where, 'numFeatures[0]', numFeatures[0], 1);
    checkInteger(where, 'numFeatures[1]', numFeatures[1], numFeatures[0]);
  } else throw new InvalidOptionError('numFeatures', numFeatures, 'an integer or a range [min, max]', where);
  const dtype = options.dtype ?? 'float64';
  if (dtype !== 'float32' && dtype !== 'float64') throw new InvalidOptionError('dtype', dtype, "'float32' or 'float64'", where);
  return {
    numFeatures,
    numTrain: checkInteger(where, 'numTrain', options.numTrain ?? 256, 1),
    numTest: checkInteger(where, 'numTest', options.numTest ?? 256, 1),
    l2: checkNonNegative(where, 'l2', options.l2 ?? 0),
    dtype,
  };
}

/** Rows `[from, to)` of a row-major float64 matrix with `d` columns, as a buffer of `dtype`. */
function rows(all: Float64Array, d: number, from: number, to: number, dtype: DType): FloatArray {
  return allocate(dtype, all.subarray(from * d, to * d));
}

/**
 * Seeded linear-regression tasks. For each seed, `Rng(seed)` draws in this
 * order: the number of features d (uniform integer), the planted weights
 * w* ~ N(0, I_d) and bias b* ~ N(0, 1), the features of the `numTrain + numTest`
 * examples x ~ N(0, I_d), and the targets `y = w*·x + b* + σ·ε`, ε ~ N(0, 1).
 * The first `numTrain` examples form the training split, the rest the test
 * split. The objective is {@link LinearRegressionObjective} (mean ½ squared
 * error) over the training split, from w = b = 0; its exact minimiser is
 * `task.objective.solution()`, and the test loss at it is about σ²/2.
 *
 * @example
 * ```ts
 * import { SGD } from '@opt/core';
 * const task = new LinearRegressionFamily({ numFeatures: 8 }).sample(1);
 * const opt = new SGD(task.objective.parameters, { lr: 0.1 });
 * for (let epoch = 0; epoch < 10; epoch++) {
 *   for (const batch of task.batches(32, epoch)) opt.step(() => task.objective.lossAndGrad(batch));
 * }
 * task.evaluate().testLoss; // ≈ 0.005 = σ²/2
 * ```
 */
export class LinearRegressionFamily implements TaskFamily<LinearRegressionTask> {
  readonly name = 'linear-regression';
  private readonly options: ResolvedRegressionOptions;
  private readonly noise: number;

  constructor(options: LinearRegressionFamilyOptions = {}) {
    this.options = resolveRegressionOptions('LinearRegressionFamily', options);
    this.noise = checkNonNegative('LinearRegressionFamily', 'noise', options.noise ?? 0.1);
  }

  /** The task of `seed`: same seed, identical data, split and parameters. */
  sample(seed: number): LinearRegressionTask {
    checkFinite('LinearRegressionFamily.sample', 'seed', seed);
    const { numTrain, numTest, l2, dtype } = this.options;
    const rng = new Rng(seed);
    const d = sampleInteger(rng, this.options.numFeatures);
    const w = rng.fillNormal(new Float64Array(d));
    const b = rng.normal();
    const n = numTrain + numTest;
    const x = rng.fillNormal(new Float64Array(n * d));
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let z = b;
      for (let j = 0; j < d; j++) z += w[j]! * x[i * d + j]!;
      y[i] = z + this.noise * rng.normal();
    }
    const train: Batch = { x: rows(x, d, 0, numTrain, dtype), y: allocate(dtype, y.subarray(0, numTrain)), size: numTrain };
    const test: Batch = { x: rows(x, d, numTrain, n, dtype), y: allocate(dtype, y.subarray(numTrain)), size: numTest };
    const objective = new LinearRegressionObjective(train, d, { dtype, l2 });
    return new RegressionTask(`${this.name}/d${d}/seed${seed}`, objective, test, seed, w, b);
  }
}

/**
 * Seeded binary logistic-regression tasks. For each seed, `Rng(seed)` draws
 * in this order: the number of features d (uniform integer), the planted
 * weights w* ~ N(0, s²/d·I_d) and bias b* ~ N(0, 1/4), the features of the
 * `numTrain + numTest` examples x ~ N(0, I_d), and each label
 * `y ~ Bernoulli(σ(w*·x + b*))` (so the classes overlap and the Bayes accuracy
 * is below 1). The first `numTrain` examples form the training split, the rest
 * the test split. The objective is {@link LogisticRegressionObjective} (mean
 * binary cross-entropy with logits) over the training split, from w = b = 0.
 *
 * @example
 * ```ts
 * import { LBFGS } from '@opt/core';
 * const task = new LogisticRegressionFamily({ numFeatures: 5, l2: 1e-3 }).sample(3);
 * const opt = new LBFGS(task.objective.parameters, { lineSearchFn: 'strong_wolfe' });
 * opt.step(() => task.objective.lossAndGrad());
 * task.evaluate().testAccuracy; // well above 0.5
 * ```
 */
export class LogisticRegressionFamily implements TaskFamily<LogisticRegressionTask> {
  readonly name = 'logistic-regression';
  private readonly options: ResolvedRegressionOptions;
  private readonly logitScale: number;

  constructor(options: LogisticRegressionFamilyOptions = {}) {
    this.options = resolveRegressionOptions('LogisticRegressionFamily', options);
    this.logitScale = checkNonNegative('LogisticRegressionFamily', 'logitScale', options.logitScale ?? 3);
  }

  /** The task of `seed`: same seed, identical data, split and parameters. */
  sample(seed: number): LogisticRegressionTask {
    checkFinite('LogisticRegressionFamily.sample', 'seed', seed);
    const { numTrain, numTest, l2, dtype } = this.options;
    const rng = new Rng(seed);
    const d = sampleInteger(rng, this.options.numFeatures);
    const w = rng.fillNormal(new Float64Array(d), 0, this.logitScale / Math.sqrt(d));
    const b = rng.normal(0, 0.5);
    const n = numTrain + numTest;
    const x = rng.fillNormal(new Float64Array(n * d));
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let z = b;
      for (let j = 0; j < d; j++) z += w[j]! * x[i * d + j]!;
      y[i] = rng.uniform() < sigmoid(z) ? 1 : 0;
    }
    const train: Batch = { x: rows(x, d, 0, numTrain, dtype), y: y.slice(0, numTrain), size: numTrain };
    const test: Batch = { x: rows(x, d, numTrain, n, dtype), y: y.slice(numTrain), size: numTest };
    const objective = new LogisticRegressionObjective(train, d, { dtype, l2 });
    return new RegressionTask(`${this.name}/d${d}/seed${seed}`, objective, test, seed, w, b);
  }
}
