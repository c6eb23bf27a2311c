import { type DType, type FloatArray, InvalidOptionError, type Parameter, ShapeMismatchError, allocate } from '@opt/tensor';
import { checkInteger, checkOneOf } from '@opt/core';
import type { Batch, Objective } from '../objective.js';
import { BatchBuffers, type Layer, UnsupportedOperationError } from './layer.js';
import { mse, softmaxCrossEntropy } from './losses.js';

/** A labelled data set in memory, as `@opt/tasks`' `Dataset` (any object with these fields). */
export interface LabelledData {
  /** Row-major `[n, d]` features. */
  readonly features: ArrayLike<number>;
  /** Class index of each row. */
  readonly labels: ArrayLike<number>;
  /** Number of rows. */
  readonly n: number;
  /** Features per row. */
  readonly d: number;
  /** Number of classes. */
  readonly numClasses: number;
}

/** Arrays of examples: row-major features `x`, one class index per row in `y`. */
export interface LabelledArrays {
  /** Row-major `[n, d]` features, `n = y.length`. */
  x: ArrayLike<number>;
  /** Class index of each row. */
  y: ArrayLike<number>;
  /** Number of classes. */
  numClasses: number;
}

/** Options of the model objectives. */
export interface ModelObjectiveOptions {
  /** dtype of the default (whole-data) batch's features. Default: the model's parameter dtype. */
  dtype?: DType;
}

/** Mean loss and accuracy of a classifier on a batch. */
export interface ClassificationMetrics {
  /** Mean cross-entropy. */
  loss: number;
  /** Fraction of rows whose largest logit is the label (ties go to the lowest class index). */
  accuracy: number;
}

/**
 * Shared machinery of the objectives over a {@link Layer} model: one forward
 * pass, the loss and its output gradient (a float64 buffer cached per batch
 * size), and a backward pass, with nothing allocated per call once warmed up.
 * A subclass supplies the loss.
 *
 * Per-example quantities rely on the mean-reduced loss `L = (1/B) Σᵢ ℓᵢ` and
 * on layers that never mix rows: back-propagating `B·∂L/∂output` (row i is
 * `∂ℓᵢ/∂outputᵢ`) once through the batch gives every example's own gradient.
 *
 * @example
 * ```ts
 * // Per-example gradient norms for DP-SGD-style clipping, on any model objective:
 * const objective: ModelObjective = new ClassificationObjective(mlp({ sizes: [4, 8, 3] }), data);
 * const norms = new Float64Array(batch.size);
 * objective.perExampleGradNorms(batch, norms);
 * ```
 */
export abstract class ModelObjective implements Objective {
  /** The model. */
  readonly model: Layer;
  /** The model's parameters (the same objects). */
  readonly parameters: Parameter[];
  /** Features per example (the model's input width). */
  readonly inputs: number;
  /** The default batch: every example given at construction, used when a method gets no batch. */
  readonly data: Batch;
  private readonly grads = new BatchBuffers((n) => new Float64Array(n));
  private readonly where: string;

  protected constructor(where: string, model: Layer, inputs: number, data: Batch) {
    this.where = where;
    this.model = model;
    this.parameters = [...model.parameters];
    this.inputs = inputs;
    this.data = data;
  }

  /** The mean loss over `batch` (default: all the data); gradients untouched. */
  loss(batch: Batch = this.data): number {
    const out = this.forward(batch);
    return this.evaluateLoss(out, batch, null);
  }

  /** The mean loss over `batch`; OVERWRITES every parameter's `grad` with `∂L/∂θ`. */
  lossAndGrad(batch: Batch = this.data): number {
    const out = this.forward(batch);
    const g = this.grads.get(out.length);
    const loss = this.evaluateLoss(out, batch, g);
    const params = this.parameters;
    for (let i = 0; i < params.length; i++) params[i]!.ensureGrad().fill(0);
    this.model.backward(g, false);
    return loss;
  }

  /**
   * Per-example gradients: row i of `out[k]` (`batch.size × parameters[k].size`)
   * receives `∂ℓᵢ/∂θₖ`, the gradient of example i's own loss, NOT divided by the
   * batch size: their mean over the rows is the batch gradient of `lossAndGrad`,
   * and row i equals `lossAndGrad` on the one-example batch `{xᵢ, yᵢ}`.
   *
   * One batched backward pass: a Dense layer's row i is the outer product
   * `δᵢ·aᵢᵀ` of its cached input row and output-gradient row. Parameter
   * gradients (`grad`) are not touched.
   */
  perExampleGrads(batch: Batch, out: FloatArray[]): void {
    const params = this.parameters;
    if (out.length !== params.length) {
      throw new ShapeMismatchError(`${this.where}.perExampleGrads: out has ${out.length} arrays, expected one per parameter (${params.length})`);
    }
    for (let k = 0; k < params.length; k++) {
      const want = batch.size * params[k]!.size;
      if (out[k]!.length !== want) {
        throw new ShapeMismatchError(
          `${this.where}.perExampleGrads: out[${k}] has ${out[k]!.length} elements, expected batch.size · ${params[k]!.label(`parameters[${k}]`)}.size = ${want}`,
        );
      }
    }
    const g = this.perExampleOutputGrad(batch);
    this.model.backwardPerExample(g, out, 0, false);
  }

  /**
   * `out[i] = ‖∇θ ℓᵢ‖₂`, the L2 norm over ALL parameters of example i's own
   * loss gradient (the rows of {@link ModelObjective.perExampleGrads}), without
   * forming those gradients: for a Dense layer with input row aᵢ and output
   * gradient row δᵢ, `‖δᵢaᵢᵀ‖²_F = ‖δᵢ‖²‖aᵢ‖²`, plus `‖δᵢ‖²` for the bias.
   * Cost O(B·Σ(in + out)) on top of the backward pass.
   *
   * @throws UnsupportedOperationError when the model has a layer without this
   * closed form (e.g. Conv2d); use `perExampleGrads` there.
   */
  perExampleGradNorms(batch: Batch, out: Float64Array): void {
    if (!this.model.exactNorms) {
      throw new UnsupportedOperationError(
        `${this.where}.perExampleGradNorms: the model has a layer without closed-form per-example norms (only Dense and ` +
          `element-wise layers have them); use perExampleGrads`,
      );
    }
    if (out.length < batch.size) {
      throw new ShapeMismatchError(`${this.where}.perExampleGradNorms: out has ${out.length} elements, expected ${batch.size}`);
    }
    const g = this.perExampleOutputGrad(batch);
    out.fill(0, 0, batch.size);
    this.model.backwardSquaredNorms(g, out, false);
    for (let i = 0; i < batch.size; i++) out[i] = Math.sqrt(out[i]!);
  }

  /** The loss over a batch given the model output; writes `∂L/∂output` into `grad` when it is not null. */
  protected abstract evaluateLoss(output: FloatArray, batch: Batch, grad: Float64Array | null): number;

  /** Run the model on the batch's first `size` rows. */
  protected forward(batch: Batch): FloatArray {
    checkInteger(this.where, 'batch.size', batch.size, 1);
    const need = batch.size * this.inputs;
    if (batch.x.length < need) {
      throw new ShapeMismatchError(`${this.where}: batch.x has ${batch.x.length} elements, expected batch.size · inputs = ${need}`);
    }
    // A reused buffer may be longer than the batch; a view keeps layers that size by length exact.
    const x = batch.x.length === need ? batch.x : batch.x.subarray(0, need);
    return this.model.forward(x, batch.size);
  }

  /** `B·∂L/∂output` for the batch: row i is the gradient of example i's own loss. */
  private perExampleOutputGrad(batch: Batch): Float64Array {
    const out = this.forward(batch);
    const g = this.grads.get(out.length);
    this.evaluateLoss(out, batch, g);
    const B = batch.size;
    for (let k = 0; k < g.length; k++) g[k] = g[k]! * B;
    return g;
  }
}

function toDType(dtype: DType, values: ArrayLike<number>): FloatArray {
  return allocate(dtype, values);
}

/**
 * The mean softmax cross-entropy of a classifier over labelled data (see
 * {@link softmaxCrossEntropy}), as an {@link Objective} with exact gradients,
 * per-example gradients and per-example gradient norms.
 *
 * @example
 * ```ts
 * import { Adam } from '@opt/core';
 * import { ClassificationObjective, mlp } from '@opt/tasks';
 * const model = mlp({ sizes: [2, 16, 3], seed: 0 });
 * const objective = new ClassificationObjective(model, { x: [0, 0, 1, 0, 0, 1], y: [0, 1, 2], numClasses: 3 });
 * const opt = new Adam(objective.parameters, { lr: 1e-2 });
 * for (let step = 0; step < 100; step++) opt.step(() => objective.lossAndGrad());
 * objective.accuracy(); // 1
 * ```
 */
export class ClassificationObjective extends ModelObjective {
  /** Number of classes (the model's output width). */
  readonly numClasses: number;

  /**
   * @param model - maps `[B, inputs]` to logits `[B, numClasses]`.
   * @param source - the default data: a data set (`features`, `labels`, `n`, `d`, `numClasses`) or `{ x, y, numClasses }`.
   * @param options - dtype of the default batch's features (default: the model's).
   */
  constructor(model: Layer, source: LabelledData | LabelledArrays, options: ModelObjectiveOptions = {}) {
    const where = 'ClassificationObjective';
    const dtype = checkOneOf<DType>(where, 'dtype', options.dtype ?? model.parameters[0]?.dtype ?? 'float64', ['float32', 'float64']);
    let x: ArrayLike<number>;
    let y: ArrayLike<number>;
    let n: number;
    let d: number;
    if ('features' in source) {
      x = source.features;
      y = source.labels;
      n = source.n;
      d = source.d;
    } else {
      x = source.x;
      y = source.y;
      n = y.length;
      d = n > 0 ? x.length / n : 0;
    }
    checkInteger(where, 'n', n, 1);
    checkInteger(where, 'd', d, 1);
    checkInteger(where, 'numClasses', source.numClasses, 1);
    if (x.length !== n * d || y.length !== n) {
      throw new ShapeMismatchError(`${where}: ${x.length} features and ${y.length} labels do not form ${n} rows of ${d} features`);
    }
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const label = y[i]!;
      if (!(Number.isInteger(label) && label >= 0 && label < source.numClasses)) {
        throw new InvalidOptionError(`labels[${i}]`, label, `an integer in [0, ${source.numClasses})`, where);
      }
      labels[i] = label;
    }
    super(where, model, d, { x: toDType(dtype, x), y: labels, size: n });
    this.numClasses = source.numClasses;
  }

  /** Fraction of the batch (default: all the data) classified correctly (argmax of the logits). */
  accuracy(batch: Batch = this.data): number {
    const out = this.forward(batch);
    return countCorrect(out, batch, this.numClasses) / batch.size;
  }

  /** Mean loss and accuracy from one forward pass. */
  metrics(batch: Batch = this.data): ClassificationMetrics {
    const out = this.forward(batch);
    return { loss: this.evaluateLoss(out, batch, null), accuracy: countCorrect(out, batch, this.numClasses) / batch.size };
  }

  protected evaluateLoss(output: FloatArray, batch: Batch, grad: Float64Array | null): number {
    this.checkOutput(output, batch.size);
    return softmaxCrossEntropy(output, batch.y, batch.size, this.numClasses, grad ?? undefined);
  }

  private checkOutput(output: FloatArray, size: number): void {
    if (output.length !== size * this.numClasses) {
      throw new ShapeMismatchError(
        `ClassificationObjective: the model gave ${output.length} outputs for ${size} examples, expected ${size} × ${this.numClasses} logits`,
      );
    }
  }
}

function countCorrect(logits: FloatArray, batch: Batch, numClasses: number): number {
  let correct = 0;
  for (let r = 0; r < batch.size; r++) {
    const o = r * numClasses;
    let best = 0;
    for (let c = 1; c < numClasses; c++) if (logits[o + c]! > logits[o + best]!) best = c;
    if (best === batch.y[r]) correct++;
  }
  return correct;
}

/** Regression data: row-major inputs `x` `[n, inputs]` and targets `y` `[n, outputs]`. */
export interface RegressionArrays {
  /** Row-major `[n, inputs]` inputs. */
  x: ArrayLike<number>;
  /** Row-major `[n, outputs]` targets. */
  y: ArrayLike<number>;
  /** Features per example. Default 1. */
  inputs?: number;
}

/**
 * The mean squared error of a regression model over data (see {@link mse}: the
 * mean over every output element), as an {@link Objective}. Example i's own loss
 * is the mean over its `k` outputs, `ℓᵢ = (1/k) Σⱼ (ŷᵢⱼ − yᵢⱼ)²`, so the batch loss is
 * the mean of the ℓᵢ and per-example gradients follow the same convention as
 * {@link ClassificationObjective}.
 *
 * @example
 * ```ts
 * import { MSEObjective, mlp } from '@opt/tasks';
 * const model = mlp({ sizes: [1, 40, 40, 1], seed: 0 });
 * const objective = new MSEObjective(model, { x: [0, 1, 2], y: [0, 0.84, 0.91] });
 * objective.lossAndGrad(); // fills every parameter's grad
 * ```
 */
export class MSEObjective extends ModelObjective {
  /**
   * @param model - maps `[B, inputs]` to predictions `[B, outputs]`.
   * @param source - the default data `{ x, y, inputs? }`.
   * @param options - dtype of the default batch (default: the model's).
   */
  constructor(model: Layer, source: RegressionArrays, options: ModelObjectiveOptions = {}) {
    const where = 'MSEObjective';
    const dtype = checkOneOf<DType>(where, 'dtype', options.dtype ?? model.parameters[0]?.dtype ?? 'float64', ['float32', 'float64']);
    const inputs = checkInteger(where, 'inputs', source.inputs ?? 1, 1);
    const n = source.x.length / inputs;
    checkInteger(where, 'number of examples (x.length / inputs)', n, 1);
    if (source.y.length % n !== 0) {
      throw new ShapeMismatchError(`${where}: ${source.y.length} targets do not split into ${n} equal rows`);
    }
    super(where, model, inputs, { x: toDType(dtype, source.x), y: toDType(dtype, source.y), size: n });
  }

  protected evaluateLoss(output: FloatArray, batch: Batch, grad: Float64Array | null): number {
    if (batch.y.length < output.length) {
      throw new ShapeMismatchError(`MSEObjective: batch.y has ${batch.y.length} targets for ${output.length} model outputs`);
    }
    return mse(output, batch.y, grad ?? undefined);
  }
}
