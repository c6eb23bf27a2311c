import {
  type DType,
  type FloatArray,
  InvalidOptionError,
  OptError,
  Parameter,
  ShapeMismatchError,
  StateDictError,
  zerosLike,
} from '@opt/tensor';
import {
  type JsonNumber,
  type TensorJson,
  checkBoolean,
  checkInRange,
  checkInteger,
  checkPositive,
  decodeNumber,
  decodeTensor,
  encodeNumber,
  encodeTensor,
} from '@opt/core';

/** One averaged parameter as recorded in a {@link WeightAverageStateDict}. */
export interface AveragedParamJson {
  name?: string;
  shape: number[];
  dtype: DType;
}

/**
 * The lossless, JSON-serialisable state of a weight averager ({@link EMA},
 * {@link PolyakAveraging}, {@link AveragedModel}, {@link SnapshotEnsemble}).
 * Tensors use the fixtures' `{dtype, shape, data}` layout; numbers that JSON cannot
 * hold (NaN, ±∞, −0) are strings, so `JSON.parse(JSON.stringify(sd))` restores every bit.
 */
export interface WeightAverageStateDict {
  format: '@opt/weight-average';
  version: 1;
  /** The class that wrote it, e.g. `"EMA"`. */
  kind: string;
  /** Hyper-parameters. */
  options: Record<string, unknown>;
  /** Counters (update calls, number averaged, …). */
  counters: Record<string, JsonNumber>;
  /** The tracked parameters' names, shapes and dtypes, to check a load against. */
  params: AveragedParamJson[];
  /** Buffer sets, each one tensor per parameter (one set for running averages, one per snapshot for ensembles). */
  buffers: TensorJson[][];
}

/**
 * Shared machinery of weight averagers: preallocated buffers in each parameter's
 * dtype, evaluation helpers that put the averaged weights into the live parameters
 * and take them back out, and lossless state dicts.
 *
 * A subclass defines how an update folds the live weights into its buffers and how
 * the averaged weights are read from them ({@link WeightAverage.writeAveraged}).
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * const w = new Parameter(new Float32Array([1, 2]), [2], 'w');
 * const averagers: WeightAverage[] = [new EMA([w], { decay: 0.99 }), new AveragedModel([w])];
 * for (const a of averagers) a.update();                    // after each optimizer step
 * const checkpoint = averagers.map((a) => a.stateDict());   // JSON, lossless
 * ```
 */
export abstract class WeightAverage {
  /** The class name, written into state dicts. */
  readonly kind: string;
  /** The tracked (live, trained) parameters. */
  readonly params: readonly Parameter[];
  /** Buffer sets, one buffer per parameter in its dtype. */
  protected buffers: FloatArray[][];
  private backup: FloatArray[] | null = null;
  private swapped = false;

  protected constructor(kind: string, params: Parameter | Iterable<Parameter>, bufferSets: number) {
    this.kind = kind;
    this.params = toParams(kind, params);
    this.buffers = [];
    for (let s = 0; s < bufferSets; s++) this.buffers.push(this.params.map((p) => zerosLike(p.data)));
  }

  /** Fold the current weights into the average; returns whether it changed the average. */
  abstract update(params?: readonly Parameter[]): boolean;

  /** True once there is an average to read (see {@link WeightAverage.copyTo}). */
  abstract get ready(): boolean;

  /** Write the averaged weights of parameter `i` into `target` (same length and dtype). */
  protected abstract writeAveraged(i: number, target: FloatArray): void;

  /** Hyper-parameters for the state dict. */
  protected abstract optionsJson(): Record<string, unknown>;
  /** Counters for the state dict. */
  protected abstract countersJson(): Record<string, JsonNumber>;
  /**
   * Validate the hyper-parameters and counters of a state dict and return a commit
   * function that applies them (called only once everything has been validated),
   * together with the number of buffer sets the dict must hold.
   */
  protected abstract prepareLoad(
    options: Record<string, unknown>,
    counters: Record<string, unknown>,
    bufferSets: number,
    where: string,
  ): () => void;

  /** Whether the averaged weights are currently swapped into the live parameters. */
  get isSwappedIn(): boolean {
    return this.swapped;
  }

  /**
   * Copy the averaged weights into `params` (default: the tracked parameters), e.g.
   * into a separate evaluation model with the same layout. Throws an `OptError`
   * (code `EMPTY_AVERAGE`) when there is nothing to read yet.
   */
  copyTo(params: readonly Parameter[] = this.params): void {
    this.requireReady('copyTo');
    const targets = this.matchParams(params, 'copyTo');
    for (let i = 0; i < targets.length; i++) this.writeAveraged(i, targets[i]!.data);
  }

  /**
   * Evaluate with averaged weights: save the live weights (into a backup allocated on
   * first use) and write the averaged ones into the tracked parameters. Undo with
   * {@link WeightAverage.swapOut}; updates are refused in between, since they would
   * average the averaged weights into themselves.
   */
  swapIn(): void {
    if (this.swapped) throw new OptError('SWAPPED_IN', `${this.kind}.swapIn: the averaged weights are already swapped in`);
    this.requireReady('swapIn');
    const backup = this.liveBackup();
    for (let i = 0; i < this.params.length; i++) {
      backup[i]!.set(this.params[i]!.data);
      this.writeAveraged(i, this.params[i]!.data);
    }
    this.swapped = true;
  }

  /** Restore the live weights saved by {@link WeightAverage.swapIn}, bit for bit. */
  swapOut(): void {
    if (!this.swapped || this.backup === null) {
      throw new OptError('NOT_SWAPPED_IN', `${this.kind}.swapOut: the averaged weights are not swapped in`);
    }
    for (let i = 0; i < this.params.length; i++) this.params[i]!.data.set(this.backup[i]!);
    this.swapped = false;
  }

  /** Run `fn` with the averaged weights swapped in, restoring the live weights afterwards (also if `fn` throws). */
  withAveraged<T>(fn: () => T): T {
    this.swapIn();
    try {
      return fn();
    } finally {
      this.swapOut();
    }
  }

  /** A lossless, JSON-serialisable snapshot of the averager (buffers, counters, options). */
  stateDict(): WeightAverageStateDict {
    return {
      format: '@opt/weight-average',
      version: 1,
      kind: this.kind,
      options: this.optionsJson(),
      counters: this.countersJson(),
      params: this.params.map((p) => {
        const entry: AveragedParamJson = { shape: [...p.shape], dtype: p.dtype };
        if (p.name !== undefined) entry.name = p.name;
        return entry;
      }),
      buffers: this.buffers.map((set) => set.map((b, i) => encodeTensor(b, this.params[i]!.shape))),
    };
  }

  /**
   * Restore a state written by {@link WeightAverage.stateDict} of the same class over
   * parameters of the same shapes and dtypes (and names, where both sides have them).
   * All-or-nothing: everything is validated before anything changes. The decoded
   * values are copied into the existing buffers, so views held elsewhere stay valid.
   */
  loadStateDict(stateDict: WeightAverageStateDict | Record<string, unknown>): void {
    const where = `${this.kind}.loadStateDict`;
    if (this.swapped) throw new OptError('SWAPPED_IN', `${where}: swap the live weights back (swapOut) before loading`);
    const sd = stateDict as Partial<WeightAverageStateDict>;
    if (typeof sd !== 'object' || sd === null || sd.format !== '@opt/weight-average' || sd.version !== 1) {
      throw new StateDictError(`${where}: not a weight-average state dict (format "@opt/weight-average", version 1)`);
    }
    if (sd.kind !== this.kind) throw new StateDictError(`${where}: the state dict was written by ${String(sd.kind)}, not ${this.kind}`);
    if (!Array.isArray(sd.params) || sd.params.length !== this.params.length) {
      throw new StateDictError(`${where}: expected ${this.params.length} parameters, the state dict has ${Array.isArray(sd.params) ? sd.params.length : 'none'}`);
    }
    sd.params.forEach((entry, i) => {
      const p = this.params[i]!;
      const label = p.label(`#${i}`);
      if (typeof entry !== 'object' || entry === null || !Array.isArray(entry.shape)) {
        throw new StateDictError(`${where}: params[${i}] must be {name?, shape, dtype}`);
      }
      if (entry.shape.join(',') !== p.shape.join(',')) {
        throw new StateDictError(`${where}: parameter ${label} has shape [${p.shape.join(', ')}], the state dict [${entry.shape.join(', ')}]`);
      }
      if (entry.dtype !== p.dtype) throw new StateDictError(`${where}: parameter ${label} is ${p.dtype}, the state dict ${String(entry.dtype)}`);
      if (entry.name !== undefined && p.name !== undefined && entry.name !== p.name) {
        throw new StateDictError(`${where}: parameter ${i} is named ${p.name}, the state dict ${entry.name}`);
      }
    });
    if (!Array.isArray(sd.buffers)) throw new StateDictError(`${where}: buffers must be a list of buffer sets`);
    if (typeof sd.options !== 'object' || sd.options === null || typeof sd.counters !== 'object' || sd.counters === null) {
      throw new StateDictError(`${where}: options and counters must be objects`);
    }
    const commit = this.prepareLoad(sd.options, sd.counters, sd.buffers.length, where);
    const decoded = sd.buffers.map((set, s) => {
      if (!Array.isArray(set) || set.length !== this.params.length) {
        throw new StateDictError(`${where}: buffers[${s}] must hold one tensor per parameter (${this.params.length})`);
      }
      return set.map((t, i) => decodeTensor(t, this.params[i]!.dtype, `${where}: buffers[${s}][${i}]`, this.params[i]!.size));
    });
    // Commit: nothing below can fail.
    while (this.buffers.length < decoded.length) this.buffers.push(this.params.map((p) => zerosLike(p.data)));
    this.buffers.length = decoded.length;
    decoded.forEach((set, s) => set.forEach((b, i) => this.buffers[s]![i]!.set(b)));
    commit();
  }

  /** The parameters an update reads: the tracked ones, or another model's with the same layout. */
  protected matchParams(params: readonly Parameter[] | undefined, method: string): readonly Parameter[] {
    if (params === undefined || params === this.params) return this.params;
    const where = `${this.kind}.${method}`;
    if (!Array.isArray(params) || params.length !== this.params.length) {
      throw new ShapeMismatchError(`${where}: expected ${this.params.length} parameters, got ${Array.isArray(params) ? params.length : typeof params}`);
    }
    for (let i = 0; i < params.length; i++) {
      const p = params[i];
      const q = this.params[i]!;
      if (!(p instanceof Parameter) || p.size !== q.size || p.dtype !== q.dtype) {
        throw new ShapeMismatchError(`${where}: parameter ${i} must be a ${q.dtype} Parameter of ${q.size} elements like ${q.label(`#${i}`)}`);
      }
    }
    return params;
  }

  /** Buffers (one per parameter, its dtype) that hold the live weights while others are swapped in; allocated once. */
  protected liveBackup(): FloatArray[] {
    if (this.backup === null) this.backup = this.params.map((p) => zerosLike(p.data));
    return this.backup;
  }

  /** Refuse updates while the averaged weights are swapped in. */
  protected checkNotSwapped(method: string): void {
    if (this.swapped) {
      throw new OptError('SWAPPED_IN', `${this.kind}.${method}: the averaged weights are swapped in; call swapOut() first`);
    }
  }

  private requireReady(method: string): void {
    if (!this.ready) throw new OptError('EMPTY_AVERAGE', `${this.kind}.${method}: no average yet (call update() first)`);
  }
}

/** Hyper-parameters of {@link EMA}. */
export interface EMAOptions {
  /** Decay d of `avg ← d·avg + (1 − d)·p` (the upper bound of the warm-up decay). Default 0.9999. */
  decay: number;
  /** Average on every `updateEvery`-th call of `update()` only (the others just count). Default 1. */
  updateEvery: number;
  /**
   * Start from zeros and bias-correct on read, as optax's `ema(debias=True)`:
   * averaged = avg / (1 − Π d_k). Default false (start from a copy of the weights, as timm).
   */
  debias: boolean;
  /** Warm the decay up as timm's `ModelEmaV3(use_warmup=True)`: d_k = 1 − (1 + k/γ)^(−power). Default false. */
  warmup: boolean;
  /** γ of the warm-up. Default 1. */
  warmupGamma: number;
  /** Power of the warm-up (2/3 suits long runs, 3/4 short ones). Default 2/3. */
  warmupPower: number;
  /** Lower bound of the warm-up decay (after the first update). Default 0. */
  minDecay: number;
}

const EMA_DEFAULTS: EMAOptions = {
  decay: 0.9999,
  updateEvery: 1,
  debias: false,
  warmup: false,
  warmupGamma: 1,
  warmupPower: 2 / 3,
  minDecay: 0,
};

/**
 * Exponential moving average of parameters, for evaluation with smoothed weights
 * (Polyak & Juditsky 1992; as timm's `ModelEma` and optax's `ema`). With k the
 * number of averaging updates done before this one:
 *
 * ```
 * d_k = decay                                                 (no warm-up)
 * d_k = k = 0 ? 0 : clamp(1 − (1 + k/γ)^(−power), minDecay, decay)   (warm-up)
 * avg ← d_k·avg + (1 − d_k)·p
 * read: debias ? avg / (1 − Π_k d_k) : avg
 * ```
 *
 * Without `debias` the average starts as a copy of the weights (so d_0 = 0 of the
 * warm-up is a plain copy); with it the average starts at zero and the read divides
 * by the total weight 1 − Π d_k of all updates, which for a constant decay is optax's
 * `1 − decay^t`. `update()` averages on every `updateEvery`-th call.
 * Coefficients are float64; buffers have the parameters' dtype.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * const w = new Parameter(new Float64Array([1, 2]), [2], 'w');
 * const ema = new EMA([w], { decay: 0.9 });
 * w.data[0] = 3;
 * ema.update();                         // avg = 0.9·[1, 2] + 0.1·[3, 2]
 * ema.withAveraged(() => console.log(w.data[0])); // ≈ 1.2
 * ```
 */
export class EMA extends WeightAverage {
  /** The hyper-parameters (read-only; set at construction or by loading a state dict). */
  get options(): Readonly<EMAOptions> {
    return this.opts;
  }
  private opts: EMAOptions;
  private calls = 0;
  private numUpdates = 0;
  private decayProduct = 1;

  /**
   * @param params - the parameters to average (their current values seed the average unless `debias`).
   * @param options - {@link EMAOptions}.
   */
  constructor(params: Parameter | Iterable<Parameter>, options: Partial<EMAOptions> = {}) {
    super('EMA', params, 1);
    this.opts = validateEma({ ...EMA_DEFAULTS, ...options }, 'EMA');
    if (!this.opts.debias) this.params.forEach((p, i) => this.buffers[0]![i]!.set(p.data));
  }

  /** Number of `update()` calls so far. */
  get updateCalls(): number {
    return this.calls;
  }

  /** Number of averaging updates so far (calls divided by `updateEvery`). */
  get numAveraged(): number {
    return this.numUpdates;
  }

  /** The decay the next averaging update will use. */
  get currentDecay(): number {
    const o = this.opts;
    if (!o.warmup) return o.decay;
    const k = this.numUpdates;
    if (k === 0) return 0;
    const d = 1 - Math.pow(1 + k / o.warmupGamma, -o.warmupPower);
    return Math.max(Math.min(d, o.decay), o.minDecay);
  }

  get ready(): boolean {
    return !this.opts.debias || this.decayProduct !== 1;
  }

  /**
   * Count a call and, on every `updateEvery`-th one, fold the weights (`params`,
   * default the tracked ones) into the average. Returns whether it averaged.
   */
  update(params?: readonly Parameter[]): boolean {
    this.checkNotSwapped('update');
    const source = this.matchParams(params, 'update');
    this.calls++;
    if (this.calls % this.opts.updateEvery !== 0) return false;
    const d = this.currentDecay;
    const set = this.buffers[0]!;
    for (let i = 0; i < source.length; i++) emaKernel(set[i]!, source[i]!.data, d);
    this.numUpdates++;
    this.decayProduct *= d;
    return true;
  }

  protected writeAveraged(i: number, target: FloatArray): void {
    const avg = this.buffers[0]![i]!;
    if (!this.opts.debias) {
      target.set(avg);
      return;
    }
    const scale = 1 / (1 - this.decayProduct);
    for (let k = 0; k < avg.length; k++) target[k] = avg[k]! * scale;
  }

  protected optionsJson(): Record<string, unknown> {
    const o = this.opts;
    return {
      decay: encodeNumber(o.decay),
      updateEvery: o.updateEvery,
      debias: o.debias,
      warmup: o.warmup,
      warmupGamma: encodeNumber(o.warmupGamma),
      warmupPower: encodeNumber(o.warmupPower),
      minDecay: encodeNumber(o.minDecay),
    };
  }

  protected countersJson(): Record<string, JsonNumber> {
    return { calls: this.calls, numUpdates: this.numUpdates, decayProduct: encodeNumber(this.decayProduct) };
  }

  protected prepareLoad(options: Record<string, unknown>, counters: Record<string, unknown>, sets: number, where: string): () => void {
    if (sets !== 1) throw new StateDictError(`${where}: expected 1 buffer set, got ${sets}`);
    const opts = asStateDictError(where, () => validateEma(
      {
        decay: decodeNumber(options.decay, `${where}: options.decay`),
        updateEvery: decodeNumber(options.updateEvery, `${where}: options.updateEvery`),
        debias: options.debias as boolean,
        warmup: options.warmup as boolean,
        warmupGamma: decodeNumber(options.warmupGamma, `${where}: options.warmupGamma`),
        warmupPower: decodeNumber(options.warmupPower, `${where}: options.warmupPower`),
        minDecay: decodeNumber(options.minDecay, `${where}: options.minDecay`),
      },
      where,
    ));
    const calls = decodeCount(counters.calls, `${where}: counters.calls`);
    const numUpdates = decodeCount(counters.numUpdates, `${where}: counters.numUpdates`);
    const decayProduct = decodeNumber(counters.decayProduct, `${where}: counters.decayProduct`);
    return () => {
      this.opts = opts;
      this.calls = calls;
      this.numUpdates = numUpdates;
      this.decayProduct = decayProduct;
    };
  }
}

/** Hyper-parameters of {@link PolyakAveraging}. */
export interface PolyakAveragingOptions {
  /** Number of initial `update()` calls ignored before averaging starts (burn-in, ASGD's t0). Default 0. */
  start: number;
  /** Average on every `updateEvery`-th counted call only. Default 1. */
  updateEvery: number;
}

/**
 * Polyak–Ruppert averaging (Polyak & Juditsky, 1992): the uniform running mean of
 * the iterates after a burn-in,
 *
 * ```
 * first averaged update:  avg ← p               (a copy, exactly)
 * the n-th (n ≥ 2):       avg ← avg + (p − avg)/n
 * ```
 *
 * Calls 1…`start` are ignored; afterwards every `updateEvery`-th call averages.
 * Before the first averaged update the average reads as the weights at construction.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * const w = new Parameter(new Float64Array([0]), [1], 'w');
 * const polyak = new PolyakAveraging([w], { start: 1 });
 * for (const v of [10, 1, 2, 3]) { w.data[0] = v; polyak.update(); } // 10 is burn-in
 * polyak.withAveraged(() => console.log(w.data[0])); // 2
 * ```
 */
export class PolyakAveraging extends WeightAverage {
  /** The hyper-parameters. */
  get options(): Readonly<PolyakAveragingOptions> {
    return this.opts;
  }
  private opts: PolyakAveragingOptions;
  private calls = 0;
  private n = 0;

  /**
   * @param params - the parameters to average.
   * @param options - {@link PolyakAveragingOptions}.
   */
  constructor(params: Parameter | Iterable<Parameter>, options: Partial<PolyakAveragingOptions> = {}) {
    super('PolyakAveraging', params, 1);
    this.opts = validatePolyak({ start: 0, updateEvery: 1, ...options }, 'PolyakAveraging');
    this.params.forEach((p, i) => this.buffers[0]![i]!.set(p.data));
  }

  /** Number of `update()` calls so far (burn-in included). */
  get updateCalls(): number {
    return this.calls;
  }

  /** Number of iterates in the average. */
  get numAveraged(): number {
    return this.n;
  }

  get ready(): boolean {
    return true;
  }

  /** Count a call and average the weights when past the burn-in and on the `updateEvery` beat. */
  update(params?: readonly Parameter[]): boolean {
    this.checkNotSwapped('update');
    const source = this.matchParams(params, 'update');
    this.calls++;
    const counted = this.calls - this.opts.start;
    if (counted <= 0 || counted % this.opts.updateEvery !== 0) return false;
    const set = this.buffers[0]!;
    for (let i = 0; i < source.length; i++) {
      if (this.n === 0) set[i]!.set(source[i]!.data);
      else uniformAverageKernel(set[i]!, source[i]!.data, this.n + 1);
    }
    this.n++;
    return true;
  }

  protected writeAveraged(i: number, target: FloatArray): void {
    target.set(this.buffers[0]![i]!);
  }

  protected optionsJson(): Record<string, unknown> {
    return { start: this.opts.start, updateEvery: this.opts.updateEvery };
  }

  protected countersJson(): Record<string, JsonNumber> {
    return { calls: this.calls, numAveraged: this.n };
  }

  protected prepareLoad(options: Record<string, unknown>, counters: Record<string, unknown>, sets: number, where: string): () => void {
    if (sets !== 1) throw new StateDictError(`${where}: expected 1 buffer set, got ${sets}`);
    const opts = asStateDictError(where, () =>
      validatePolyak({ start: options.start as number, updateEvery: options.updateEvery as number }, where),
    );
    const calls = decodeCount(counters.calls, `${where}: counters.calls`);
    const n = decodeCount(counters.numAveraged, `${where}: counters.numAveraged`);
    return () => {
      this.opts = opts;
      this.calls = calls;
      this.n = n;
    };
  }
}

/**
 * A custom averaging rule for {@link AveragedModel}: update `averaged` in place from
 * `current`, given the number of models averaged so far (≥ 1). It is called once per
 * parameter buffer (not per element), so it can be a tight loop.
 */
export type AvgFn = (averaged: FloatArray, current: FloatArray, numAveraged: number) => void;

/** Options of {@link AveragedModel}. */
export interface AveragedModelOptions {
  /** The averaging rule after the first update; default the running uniform mean `avg + (p − avg)/(n + 1)`. */
  avgFn?: AvgFn | null;
}

/**
 * Stochastic Weight Averaging's model average, as PyTorch's `swa_utils.AveragedModel`
 * (Izmailov et al., 2018): with n the number of models averaged so far,
 *
 * ```
 * n = 0:  avg ← p                                (a copy)
 * n ≥ 1:  avg ← avg + (p − avg)/(n + 1)          (default avg_fn; a division, as PyTorch)
 *         avg ← avgFn(avg, p, n)                 (custom rule, e.g. emaAvgFn(decay))
 * n ← n + 1
 * ```
 *
 * Like PyTorch's deep copy, the average starts as the weights at construction.
 * Pair it with an SWA learning-rate schedule (SWALR in `@opt/schedulers`).
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * const w = new Parameter(new Float64Array([0, 0]), [2], 'w');
 * const swa = new AveragedModel([w]);
 * for (const v of [1, 2, 6]) { w.data.fill(v); swa.updateParameters(); }
 * const out = [new Parameter(new Float64Array(2), [2], 'w')];
 * swa.copyTo(out);
 * console.log(swa.nAveraged, out[0]!.data[0]); // 3 3
 * ```
 */
export class AveragedModel extends WeightAverage {
  private readonly avgFn: AvgFn | null;
  private n = 0;

  /**
   * @param params - the parameters of the model being trained.
   * @param options - {@link AveragedModelOptions}.
   */
  constructor(params: Parameter | Iterable<Parameter>, options: AveragedModelOptions = {}) {
    super('AveragedModel', params, 1);
    const avgFn = options.avgFn ?? null;
    if (avgFn !== null && typeof avgFn !== 'function') {
      throw new InvalidOptionError('avgFn', avgFn, 'a function (averaged, current, numAveraged) => void, or null', 'AveragedModel');
    }
    this.avgFn = avgFn;
    this.params.forEach((p, i) => this.buffers[0]![i]!.set(p.data));
  }

  /** PyTorch's `n_averaged`: the number of models in the average. */
  get nAveraged(): number {
    return this.n;
  }

  get ready(): boolean {
    return true;
  }

  /** The averaged copy of parameter `i` (a live view of the buffer: do not write to it). */
  averagedParam(i: number): FloatArray {
    const b = this.buffers[0]![i];
    if (b === undefined) throw new InvalidOptionError('i', i, `a parameter index in [0, ${this.params.length})`, 'AveragedModel.averagedParam');
    return b;
  }

  /** Fold the weights (`params`, default the tracked ones) into the average; always returns true. */
  update(params?: readonly Parameter[]): boolean {
    this.checkNotSwapped('update');
    const source = this.matchParams(params, 'update');
    const set = this.buffers[0]!;
    for (let i = 0; i < source.length; i++) {
      const avg = set[i]!;
      const p = source[i]!.data;
      if (this.n === 0) avg.set(p);
      else if (this.avgFn === null) uniformAverageKernel(avg, p, this.n + 1);
      else this.avgFn(avg, p, this.n);
    }
    this.n++;
    return true;
  }

  /** PyTorch's name for {@link AveragedModel.update}. */
  updateParameters(params?: readonly Parameter[]): void {
    this.update(params);
  }

  protected writeAveraged(i: number, target: FloatArray): void {
    target.set(this.buffers[0]![i]!);
  }

  protected optionsJson(): Record<string, unknown> {
    // A function cannot be serialised; record whether one was used so a load can warn by refusing a mismatch.
    return { customAvgFn: this.avgFn !== null };
  }

  protected countersJson(): Record<string, JsonNumber> {
    return { nAveraged: this.n };
  }

  protected prepareLoad(options: Record<string, unknown>, counters: Record<string, unknown>, sets: number, where: string): () => void {
    if (sets !== 1) throw new StateDictError(`${where}: expected 1 buffer set, got ${sets}`);
    if (options.customAvgFn !== (this.avgFn !== null)) {
      throw new StateDictError(
        `${where}: the state dict was written ${options.customAvgFn ? 'with' : 'without'} a custom avgFn, this AveragedModel has ${this.avgFn !== null ? 'one' : 'none'}`,
      );
    }
    const n = decodeCount(counters.nAveraged, `${where}: counters.nAveraged`);
    return () => {
      this.n = n;
    };
  }
}

/**
 * The exponential-moving-average rule for {@link AveragedModel} (PyTorch's
 * `get_ema_avg_fn`): `avg ← decay·avg + (1 − decay)·p`.
 *
 * @param decay - in [0, 1]. Default 0.999.
 */
export function emaAvgFn(decay = 0.999): AvgFn {
  checkInRange('emaAvgFn', 'decay', decay, 0, 1);
  return (averaged, current) => emaKernel(averaged, current, decay);
}

/** Options of {@link SnapshotEnsemble}. */
export interface SnapshotEnsembleOptions {
  /** How many of the most recent snapshots to keep. Default 5. */
  k: number;
}

/**
 * Snapshot ensembles (Huang et al., 2017): keep the weights of the last k snapshots
 * (typically taken at the end of each cosine-annealing cycle with warm restarts)
 * and average either the predictions of the k models or their weights:
 *
 * ```
 * predict(x) = (1/m)·Σ_{j=1..m} f(x; θ_j)        (m = number of kept snapshots ≤ k)
 * averaged weights = (1/m)·Σ_j θ_j
 * ```
 *
 * Snapshot buffers are allocated as they are first needed, then reused in a ring.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * const w = new Parameter(new Float64Array([1]), [1], 'w');
 * const ens = new SnapshotEnsemble([w], { k: 2 });
 * for (const v of [1, 2, 4]) { w.data[0] = v; ens.snapshot(); }   // keeps 2 and 4
 * const mean = ens.predict(() => [w.data[0]! * 10]);
 * console.log(mean[0]); // 30
 * ```
 */
export class SnapshotEnsemble extends WeightAverage {
  /** The hyper-parameters. */
  get options(): Readonly<SnapshotEnsembleOptions> {
    return this.opts;
  }
  private opts: SnapshotEnsembleOptions;
  /** Ring position of the oldest snapshot. */
  private head = 0;
  private taken = 0;

  /**
   * @param params - the parameters of the model being trained.
   * @param options - {@link SnapshotEnsembleOptions}.
   */
  constructor(params: Parameter | Iterable<Parameter>, options: Partial<SnapshotEnsembleOptions> = {}) {
    super('SnapshotEnsemble', params, 0);
    this.opts = { k: checkInteger('SnapshotEnsemble', 'k', options.k ?? 5, 1) };
  }

  /** Number of snapshots kept (≤ k). */
  get size(): number {
    return this.buffers.length;
  }

  /** Number of snapshots taken since construction (also the dropped ones). */
  get snapshotsTaken(): number {
    return this.taken;
  }

  get ready(): boolean {
    return this.buffers.length > 0;
  }

  /** Snapshot j (0 = oldest kept) of parameter i: a live view, do not write to it. */
  snapshotOf(j: number, i: number): FloatArray {
    if (!Number.isInteger(j) || j < 0 || j >= this.buffers.length) {
      throw new InvalidOptionError('j', j, `a snapshot index in [0, ${this.buffers.length})`, 'SnapshotEnsemble.snapshotOf');
    }
    if (!Number.isInteger(i) || i < 0 || i >= this.params.length) {
      throw new InvalidOptionError('i', i, `a parameter index in [0, ${this.params.length})`, 'SnapshotEnsemble.snapshotOf');
    }
    return this.buffers[(this.head + j) % this.buffers.length]![i]!;
  }

  /** Take a snapshot of the weights (`params`, default the tracked ones), dropping the oldest beyond k. */
  snapshot(params?: readonly Parameter[]): void {
    this.checkNotSwapped('snapshot');
    const source = this.matchParams(params, 'snapshot');
    let set: FloatArray[];
    if (this.buffers.length < this.opts.k) {
      set = this.params.map((p) => zerosLike(p.data));
      this.buffers.push(set);
    } else {
      set = this.buffers[this.head]!;
      this.head = (this.head + 1) % this.buffers.length;
    }
    for (let i = 0; i < source.length; i++) set[i]!.set(source[i]!.data);
    this.taken++;
  }

  /** Same as {@link SnapshotEnsemble.snapshot}, so the ensemble can stand where an averager's `update()` is called. */
  update(params?: readonly Parameter[]): boolean {
    this.snapshot(params);
    return true;
  }

  /**
   * Average a prediction over the kept snapshots: each snapshot is written into the
   * tracked parameters in turn, `predict` is called (it reads the parameters), and
   * the outputs (all of the same length) are averaged in float64. The live weights
   * are restored afterwards, also when `predict` throws.
   *
   * @param predict - evaluates the model with the current weights of the tracked parameters.
   * @param out - optional buffer for the mean (its length must match the outputs).
   */
  predict(predict: () => ArrayLike<number>, out?: FloatArray): FloatArray {
    if (this.buffers.length === 0) throw new OptError('EMPTY_AVERAGE', 'SnapshotEnsemble.predict: no snapshot yet (call snapshot() first)');
    this.checkNotSwapped('predict');
    const live = this.liveBackup();
    for (let i = 0; i < this.params.length; i++) live[i]!.set(this.params[i]!.data);
    let mean: FloatArray | null = out ?? null;
    let acc: Float64Array | null = null;
    const m = this.buffers.length;
    try {
      for (let j = 0; j < m; j++) {
        const set = this.buffers[(this.head + j) % m]!;
        for (let i = 0; i < this.params.length; i++) this.params[i]!.data.set(set[i]!);
        const y = predict();
        if (acc === null) acc = new Float64Array(y.length);
        if (y.length !== acc.length) {
          throw new ShapeMismatchError(`SnapshotEnsemble.predict: snapshot ${j} predicted ${y.length} values, the first ${acc.length}`);
        }
        for (let t = 0; t < y.length; t++) acc[t] = acc[t]! + y[t]!;
      }
    } finally {
      for (let i = 0; i < this.params.length; i++) this.params[i]!.data.set(live[i]!);
    }
    const sum = acc!;
    if (mean === null) mean = new Float64Array(sum.length);
    if (mean.length !== sum.length) throw new ShapeMismatchError(`SnapshotEnsemble.predict: out has ${mean.length} elements, predictions ${sum.length}`);
    for (let t = 0; t < sum.length; t++) mean[t] = sum[t]! / m;
    return mean;
  }

  protected writeAveraged(i: number, target: FloatArray): void {
    const m = this.buffers.length;
    // Accumulate in float64 before the single rounding into the target's dtype.
    for (let t = 0; t < target.length; t++) {
      let s = 0;
      for (let j = 0; j < m; j++) s += this.buffers[j]![i]![t]!;
      target[t] = s / m;
    }
  }

  /** Snapshots oldest first, so a loaded ensemble starts its ring at 0. */
  override stateDict(): WeightAverageStateDict {
    const sd = super.stateDict();
    const m = this.buffers.length;
    sd.buffers = sd.buffers.map((_, j) => sd.buffers[(this.head + j) % m]!);
    return sd;
  }

  protected optionsJson(): Record<string, unknown> {
    return { k: this.opts.k };
  }

  protected countersJson(): Record<string, JsonNumber> {
    return { snapshotsTaken: this.taken };
  }

  protected prepareLoad(options: Record<string, unknown>, counters: Record<string, unknown>, sets: number, where: string): () => void {
    const k = asStateDictError(where, () => checkInteger(where, 'options.k', options.k, 1));
    if (sets > k) throw new StateDictError(`${where}: ${sets} snapshots exceed k = ${k}`);
    const taken = decodeCount(counters.snapshotsTaken, `${where}: counters.snapshotsTaken`);
    if (taken < sets) throw new StateDictError(`${where}: snapshotsTaken ${taken} is less than the ${sets} snapshots stored`);
    return () => {
      this.opts = { k };
      this.taken = taken;
      this.head = 0;
    };
  }
}

/** avg ← d·avg + (1 − d)·p (float64 arithmetic, one rounding on store). */
function emaKernel(avg: FloatArray, p: FloatArray, d: number): void {
  const w = 1 - d;
  for (let k = 0; k < avg.length; k++) avg[k] = d * avg[k]! + w * p[k]!;
}

/** avg ← avg + (p − avg)/count, dividing (not multiplying by 1/count) as PyTorch's default avg_fn. */
function uniformAverageKernel(avg: FloatArray, p: FloatArray, count: number): void {
  for (let k = 0; k < avg.length; k++) avg[k] = avg[k]! + (p[k]! - avg[k]!) / count;
}

function validateEma(o: EMAOptions, where: string): EMAOptions {
  checkInRange(where, 'decay', o.decay, 0, 1);
  checkInteger(where, 'updateEvery', o.updateEvery, 1);
  checkBoolean(where, 'debias', o.debias);
  checkBoolean(where, 'warmup', o.warmup);
  checkPositive(where, 'warmupGamma', o.warmupGamma);
  checkPositive(where, 'warmupPower', o.warmupPower);
  checkInRange(where, 'minDecay', o.minDecay, 0, 1);
  return { ...o };
}

function validatePolyak(o: PolyakAveragingOptions, where: string): PolyakAveragingOptions {
  checkInteger(where, 'start', o.start, 0);
  checkInteger(where, 'updateEvery', o.updateEvery, 1);
  return { start: o.start, updateEvery: o.updateEvery };
}

function decodeCount(x: unknown, where: string): number {
  const v = decodeNumber(x, where);
  if (!Number.isInteger(v) || v < 0) throw new StateDictError(`${where}: expected a non-negative integer, got ${String(x)}`);
  return v;
}

function toParams(where: string, params: Parameter | Iterable<Parameter>): Parameter[] {
  const list = params instanceof Parameter ? [params] : params !== null && typeof params === 'object' && Symbol.iterator in params ? [...params] : null;
  if (list === null) throw new InvalidOptionError('params', params, 'a Parameter or an iterable of Parameters', where);
  const seen = new Set<Parameter>();
  list.forEach((p, i) => {
    if (!(p instanceof Parameter)) throw new InvalidOptionError(`params[${i}]`, p, 'a Parameter', where);
    if (seen.has(p)) throw new InvalidOptionError(`params[${i}]`, p.label(`#${i}`), 'each parameter listed once', where);
    seen.add(p);
  });
  return list;
}

/** Report an invalid option found in a state dict as a StateDictError (the load is what failed). */
function asStateDictError<T>(where: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof InvalidOptionError) throw new StateDictError(`${where}: ${e.message}`);
    throw e;
  }
}
