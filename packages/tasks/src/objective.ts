import {
  type DType,
  type FloatArray,
  InvalidOptionError,
  type Parameter,
  ShapeMismatchError,
} from '@opt/tensor';

/**
 * A mini-batch: row-major features `[size, inputs]` and targets (class indices
 * or regression values).
 *
 * `x` and `y` may be longer than the batch (a reused buffer): only the first
 * `size` rows (and the first `size` targets) belong to it.
 */
export interface Batch {
  /** Features, row-major `[size, inputs]`, in the dtype of the objective's parameters. */
  x: FloatArray;
  /** Targets: class indices (`Int32Array`) or regression values (a float array), one per row. */
  y: Int32Array | FloatArray;
  /** Number of examples (rows) in the batch. */
  size: number;
}

/**
 * A differentiable objective over a list of parameters: the common interface of
 * the test functions, the regression tasks and the model layer, which every
 * `@opt` optimizer can minimise through a closure.
 *
 * Deterministic functions ignore the batch; data-driven objectives evaluate the
 * mean loss over it (and over their whole training set when it is omitted).
 *
 * @example
 * ```ts
 * import { LBFGS } from '@opt/core';
 * import { Rosenbrock } from '@opt/tasks';
 * const f: Objective = new Rosenbrock({ dimension: 10 });
 * const opt = new LBFGS(f.parameters, { lineSearchFn: 'strong_wolfe' });
 * for (let i = 0; i < 20; i++) opt.step(() => f.lossAndGrad());
 * ```
 */
export interface Objective {
  /** The trainable parameters, in the order that flattened vectors (Hessians, HVPs) follow. */
  readonly parameters: Parameter[];
  /**
   * The loss at the current parameter values, without touching any gradient.
   * @param batch - the examples to average over (ignored by deterministic functions).
   */
  loss(batch?: Batch): number;
  /**
   * The loss at the current parameter values; OVERWRITES every parameter's
   * `grad` with the exact gradient (allocating it with `ensureGrad` when missing).
   * @param batch - the examples to average over (ignored by deterministic functions).
   */
  lossAndGrad(batch?: Batch): number;
  /**
   * Per-example gradients: `out[i]` (length `batch.size · parameters[i].size`)
   * receives one row per example, the gradient of that example's LOSS (not
   * divided by the batch size), so the rows' mean is the batch gradient.
   */
  perExampleGrads?(batch: Batch, out: FloatArray[]): void;
  /**
   * `out ← H·v` at the current parameters, with `H` the Hessian of the loss
   * over the parameters flattened in order (`v` and `out` of length {@link numParameters}).
   */
  hessianVectorProduct?(v: FloatArray, out: FloatArray): void;
  /** The dense Hessian at the current parameters, flattened parameters, row-major `n×n`. */
  hessian?(out: FloatArray): void;
}

/** Shapes, names, total size and dtype of a task's parameters. */
export interface ParamsInfo {
  /** Total number of scalar parameters (the length of the flattened vector). */
  readonly count: number;
  /** Shape of each parameter, in order. */
  readonly shapes: readonly (readonly number[])[];
  /** Name of each parameter (`undefined` where unnamed), in order. */
  readonly names: readonly (string | undefined)[];
  /** The parameters' common dtype. */
  readonly dtype: DType;
}

/** Metrics of a trained task: losses without regularisation, and accuracies for classifiers. */
export interface TaskEvaluation {
  /** Mean per-example data loss over the training split. */
  trainLoss: number;
  /** Mean per-example data loss over the test split. */
  testLoss: number;
  /** Fraction of training examples classified correctly (classification tasks only). */
  trainAccuracy?: number;
  /** Fraction of test examples classified correctly (classification tasks only). */
  testAccuracy?: number;
}

/**
 * One optimisation problem drawn from a {@link TaskFamily}: a named objective
 * over freshly initialised parameters.
 */
export interface Task {
  /** A readable identifier that includes the family, the sampled sizes and the seed. */
  readonly name: string;
  /** The objective to minimise; its `parameters` are the task's parameters. */
  readonly objective: Objective;
  /** Shapes, names, total size and dtype of the parameters. */
  readonly params: ParamsInfo;
  /** Restore the parameters to their initial values (e.g. to compare optimizers from one start). */
  reset?(): void;
  /**
   * The training examples in shuffled mini-batches, one epoch: `ceil(n / batchSize)`
   * batches, the last one smaller when `batchSize` does not divide `n`.
   */
  batches?(batchSize: number, seed: number): IterableIterator<Batch>;
  /** Train and test metrics at the current parameters. */
  evaluate?(): TaskEvaluation;
}

/** A {@link Task} trained on data: mini-batches, a train/test split and metrics are always there. */
export interface SupervisedTask extends Task {
  /** The training split as one batch. */
  readonly train: Batch;
  /** The held-out split as one batch. */
  readonly test: Batch;
  batches(batchSize: number, seed: number): IterableIterator<Batch>;
  evaluate(): TaskEvaluation;
}

/** A seeded distribution over tasks: the same seed always gives the same task. */
export interface TaskFamily<T extends Task = Task> {
  /** The family's name (the prefix of its tasks' names). */
  readonly name: string;
  /** Draw the task of this seed (deterministic: same seed, identical task). */
  sample(seed: number): T;
}

/** Anything that owns parameters: a list of them or an {@link Objective}. */
export type ParameterSource = readonly Parameter[] | Pick<Objective, 'parameters'>;

function paramsOf(source: ParameterSource): readonly Parameter[] {
  return Array.isArray(source) ? (source as readonly Parameter[]) : (source as Pick<Objective, 'parameters'>).parameters;
}

/** Total number of scalar parameters: the length of the flattened parameter vector. */
export function numParameters(source: ParameterSource): number {
  let n = 0;
  for (const p of paramsOf(source)) n += p.size;
  return n;
}

/** The {@link ParamsInfo} of a list of parameters (the dtype is the first one's; float64 for an empty list). */
export function paramsInfo(source: ParameterSource): ParamsInfo {
  const params = paramsOf(source);
  return {
    count: numParameters(params),
    shapes: params.map((p) => [...p.shape]),
    names: params.map((p) => p.name),
    dtype: params.length > 0 ? params[0]!.dtype : 'float64',
  };
}

/**
 * The gradients concatenated in parameter order (a missing gradient
 * contributes zeros), written into `out` when given (it must hold at least
 * {@link numParameters} elements; nothing is allocated), else into a new
 * buffer of the first parameter's dtype.
 *
 * @returns `out`, or the new buffer.
 */
export function flattenGrads(source: ParameterSource, out?: FloatArray): FloatArray {
  const params = paramsOf(source);
  const n = numParameters(params);
  let target = out;
  if (target === undefined) {
    target = params.length > 0 && params[0]!.dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  } else if (target.length < n) {
    throw new ShapeMismatchError(`flattenGrads: out has ${target.length} elements but the parameters have ${n}`);
  }
  let offset = 0;
  for (const p of params) {
    const g = p.grad;
    if (g === null) target.fill(0, offset, offset + p.size);
    else target.set(g, offset);
    offset += p.size;
  }
  return target;
}

/** Options of the finite-difference checks. */
export interface FiniteDifferenceOptions {
  /**
   * Relative step: coordinate `x` moves by `±eps·max(1, |x|)`. Default `1e-6`,
   * near the optimum `ε^(1/3)` of central differences in float64; use about
   * `1e-2` for float32 parameters.
   */
  eps?: number;
  /** The batch passed to `loss`/`lossAndGrad` (omit for deterministic functions). */
  batch?: Batch;
  /** Flat indices (into the flattened parameters) to probe; default all. Others are left 0 in the estimate. */
  indices?: ArrayLike<number>;
}

/** Options of {@link checkGradient} and {@link checkHessian}. */
export interface GradientCheckOptions extends FiniteDifferenceOptions {
  /** Scale below which the error becomes absolute (see {@link maxRelativeError}). Default `1e-8`. */
  floor?: number;
}

/** Resolve the parameter and offset of flat index `k`. */
function locate(params: readonly Parameter[], k: number): [Parameter, number] {
  let offset = 0;
  for (const p of params) {
    if (k < offset + p.size) return [p, k - offset];
    offset += p.size;
  }
  throw new InvalidOptionError('indices', k, `flat indices in [0, ${offset})`, 'finite differences');
}

function resolveEps(options: FiniteDifferenceOptions, where: string): number {
  const eps = options.eps ?? 1e-6;
  if (typeof eps !== 'number' || !(eps > 0) || !Number.isFinite(eps)) {
    throw new InvalidOptionError('eps', eps, 'a finite number > 0', where);
  }
  return eps;
}

function resolveIndices(options: FiniteDifferenceOptions, n: number, where: string): ArrayLike<number> {
  const indices = options.indices;
  if (indices === undefined) return Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i]!;
    if (!Number.isInteger(k) || k < 0 || k >= n) {
      throw new InvalidOptionError(`indices[${i}]`, k, `an integer in [0, ${n})`, where);
    }
  }
  return indices;
}

/**
 * Move coordinate `i` of `p` to `x + delta`, run `evaluate`, and restore `x`
 * exactly. Returns the step really taken (in float32 the stored value is
 * rounded, and dividing by the requested step would bias the estimate).
 */
function probe(p: Parameter, i: number, x: number, delta: number): number {
  p.data[i] = x + delta;
  return p.data[i]! - x;
}

/**
 * The central finite-difference estimate of the gradient, over the flattened
 * parameters:
 *
 * ```
 * ĝ_k = (f(x + h⁺e_k) − f(x − h⁻e_k)) / (h⁺ + h⁻),   h = eps·max(1, |x_k|)
 * ```
 *
 * where `h⁺, h⁻` are the steps really stored (equal to `h` in float64; rounded
 * in float32). Parameters are restored exactly afterwards; gradients are not
 * touched (only `loss` is called).
 */
export function finiteDifferenceGradient(objective: Objective, options: FiniteDifferenceOptions = {}): Float64Array {
  const where = 'finiteDifferenceGradient';
  const eps = resolveEps(options, where);
  const params = objective.parameters;
  const n = numParameters(params);
  const indices = resolveIndices(options, n, where);
  const out = new Float64Array(n);
  for (let t = 0; t < indices.length; t++) {
    const k = indices[t]!;
    const [p, i] = locate(params, k);
    const x = p.data[i]!;
    const h = eps * Math.max(1, Math.abs(x));
    const up = probe(p, i, x, h);
    const fUp = objective.loss(options.batch);
    const down = -probe(p, i, x, -h);
    const fDown = objective.loss(options.batch);
    p.data[i] = x;
    out[k] = (fUp - fDown) / (up + down);
  }
  return out;
}

/**
 * The finite-difference Hessian from central differences of the analytic
 * gradient, column by column (symmetrised as `(Ĥ + Ĥᵀ)/2`), n×n row-major:
 *
 * ```
 * Ĥ[:, k] = (∇f(x + h⁺e_k) − ∇f(x − h⁻e_k)) / (h⁺ + h⁻)
 * ```
 *
 * With `indices`, only those columns (and their mirrored rows) are estimated.
 * Parameters are restored exactly, and the gradients are left holding the
 * analytic gradient at the original point.
 */
export function finiteDifferenceHessian(objective: Objective, options: FiniteDifferenceOptions = {}): Float64Array {
  const where = 'finiteDifferenceHessian';
  const eps = resolveEps(options, where);
  const params = objective.parameters;
  const n = numParameters(params);
  const indices = resolveIndices(options, n, where);
  const raw = new Float64Array(n * n);
  const gUp = new Float64Array(n);
  const gDown = new Float64Array(n);
  const done = new Uint8Array(n);
  for (let t = 0; t < indices.length; t++) {
    const k = indices[t]!;
    const [p, i] = locate(params, k);
    const x = p.data[i]!;
    const h = eps * Math.max(1, Math.abs(x));
    const up = probe(p, i, x, h);
    objective.lossAndGrad(options.batch);
    flattenGrads(params, gUp);
    const down = -probe(p, i, x, -h);
    objective.lossAndGrad(options.batch);
    flattenGrads(params, gDown);
    p.data[i] = x;
    for (let r = 0; r < n; r++) raw[r * n + k] = (gUp[r]! - gDown[r]!) / (up + down);
    done[k] = 1;
  }
  objective.lossAndGrad(options.batch);
  const out = new Float64Array(n * n);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      // Average the two estimates of a symmetric entry when both of its columns were probed.
      if (done[c] && done[r]) out[r * n + c] = 0.5 * (raw[r * n + c]! + raw[c * n + r]!);
      else if (done[c]) out[r * n + c] = raw[r * n + c]!;
      else if (done[r]) out[r * n + c] = raw[c * n + r]!;
    }
  }
  return out;
}

/**
 * The normwise relative error between an estimate and a reference:
 *
 * ```
 * max_i |a_i − b_i| / max(‖a‖∞, ‖b‖∞, floor)
 * ```
 *
 * Normwise rather than per component, so coordinates whose true value is 0 do
 * not turn finite-difference rounding noise into a huge ratio. NaN anywhere
 * gives NaN (a check against a tolerance then fails).
 */
export function maxRelativeError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-8): number {
  if (a.length !== b.length) {
    throw new ShapeMismatchError(`maxRelativeError: the arrays have ${a.length} and ${b.length} elements`);
  }
  let diff = 0;
  let scale = floor;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    const d = Math.abs(x - y);
    if (d !== d) return NaN;
    if (d > diff) diff = d;
    if (Math.abs(x) > scale) scale = Math.abs(x);
    if (Math.abs(y) > scale) scale = Math.abs(y);
  }
  return diff / scale;
}

/**
 * Compare `lossAndGrad`'s gradient with central finite differences of `loss`
 * ({@link finiteDifferenceGradient}) and return the {@link maxRelativeError}
 * over the probed coordinates. Parameters are restored exactly; gradients are
 * left holding the analytic gradient.
 *
 * @example
 * ```ts
 * const f = new Rosenbrock({ dimension: 5 });
 * checkGradient(f) < 1e-6; // true: the analytic gradient matches
 * ```
 */
export function checkGradient(objective: Objective, options: GradientCheckOptions = {}): number {
  objective.lossAndGrad(options.batch);
  const analytic = flattenGrads(objective.parameters, new Float64Array(numParameters(objective)));
  const estimate = finiteDifferenceGradient(objective, options);
  if (options.indices === undefined) return maxRelativeError(analytic, estimate, options.floor);
  const a = Array.from(options.indices, (k) => analytic[k]!);
  const b = Array.from(options.indices, (k) => estimate[k]!);
  return maxRelativeError(a, b, options.floor);
}

/**
 * Compare the objective's dense `hessian` with {@link finiteDifferenceHessian}
 * and return the {@link maxRelativeError} over all entries.
 *
 * @throws `InvalidOptionError` when the objective has no `hessian`.
 */
export function checkHessian(objective: Objective, options: GradientCheckOptions = {}): number {
  if (typeof objective.hessian !== 'function') {
    throw new InvalidOptionError('objective', 'no hessian()', 'an objective with a dense hessian', 'checkHessian');
  }
  const n = numParameters(objective);
  const analytic = new Float64Array(n * n);
  objective.hessian(analytic);
  const estimate = finiteDifferenceHessian(objective, { eps: options.eps, batch: options.batch });
  return maxRelativeError(analytic, estimate, options.floor);
}
