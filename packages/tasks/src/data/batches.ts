import { InvalidOptionError, Rng, type DType } from '@opt/tensor';
import type { Batch } from '../objective.js';
import { batchOf, type Dataset } from './dataset.js';
import { shuffleInPlace } from './split.js';

/** Options of {@link batches} / {@link BatchIterator}. */
export interface BatchOptions {
  /** Examples per batch (a positive integer; larger than `n` means full batches of all `n`). */
  batchSize: number;
  /** Reshuffle the example order at the start of every epoch (default true). */
  shuffle?: boolean;
  /** Seed of the shuffling generator (default 0). */
  seed?: number;
  /** Number of passes over the data; `Infinity` for an endless stream (default 1). */
  epochs?: number;
  /** dtype of the batches' features (default `'float32'`). */
  dtype?: DType;
  /** Skip each epoch's last, smaller batch when `n` is not a multiple of `batchSize` (default false). */
  dropLast?: boolean;
}

/**
 * Iterates a data set in mini-batches, epoch after epoch.
 *
 * Each epoch visits every example exactly once (or all but the last `n mod batchSize` with `dropLast`): the order
 * is the identity when `shuffle` is false, else a Fisher–Yates permutation drawn from one seeded {@link Rng} that
 * continues across epochs, so every epoch has a different order and the whole sequence is reproducible from the
 * seed. {@link BatchIterator.reset} restarts it from the beginning.
 *
 * No allocation per batch: one {@link Batch} object (and its buffers) per batch size (the full size and, when `n` is
 * not a multiple of it, the last smaller one) is refilled in place, so **a batch is only valid until the next call
 * to `next()`**; copy it to keep it.
 *
 * @example
 * ```ts
 * const ds = createDataset({ name: 'toy', d: 1, features: [0, 1, 2, 3, 4], labels: [0, 1, 0, 1, 0] });
 * const it = new BatchIterator(ds, { batchSize: 2, epochs: 2, seed: 7 });
 * for (const batch of it) console.log(it.epoch, batch.size, Array.from(batch.x));
 * ```
 */
export class BatchIterator implements IterableIterator<Batch> {
  /** The data set iterated. */
  readonly dataset: Dataset;
  /** Examples per full batch (at most `n`). */
  readonly batchSize: number;
  /** Number of epochs (may be `Infinity`). */
  readonly epochs: number;
  /** dtype of the batches' features. */
  readonly dtype: DType;
  /** Whether the order is reshuffled each epoch. */
  readonly shuffle: boolean;
  /** Whether a trailing smaller batch is skipped. */
  readonly dropLast: boolean;
  /** Batches in one epoch. */
  readonly batchesPerEpoch: number;

  private readonly seed: number;
  private rng: Rng;
  private readonly order: Int32Array;
  private readonly full: Batch;
  private readonly tail: Batch;
  private epochIndex = 0;
  private position = 0;
  private stepCount = 0;
  private current: Int32Array;

  constructor(dataset: Dataset, options: BatchOptions) {
    const { batchSize, shuffle = true, seed = 0, epochs = 1, dtype = 'float32', dropLast = false } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new InvalidOptionError('batchSize', batchSize, 'a positive integer', 'BatchIterator');
    }
    if (!(epochs === Infinity || (Number.isInteger(epochs) && epochs >= 0))) {
      throw new InvalidOptionError('epochs', epochs, 'a non-negative integer or Infinity', 'BatchIterator');
    }
    if (dtype !== 'float32' && dtype !== 'float64') {
      throw new InvalidOptionError('dtype', dtype, "'float32' or 'float64'", 'BatchIterator');
    }
    if (dataset.n === 0) throw new InvalidOptionError('dataset.n', 0, 'at least one example', 'BatchIterator');
    this.dataset = dataset;
    this.batchSize = Math.min(batchSize, dataset.n);
    this.epochs = epochs;
    this.dtype = dtype;
    this.shuffle = shuffle;
    this.dropLast = dropLast;
    this.seed = seed;
    this.rng = new Rng(seed);
    const whole = Math.floor(dataset.n / this.batchSize);
    const rest = dataset.n - whole * this.batchSize;
    this.batchesPerEpoch = whole + (rest > 0 && !dropLast ? 1 : 0);
    this.order = Int32Array.from({ length: dataset.n }, (_, i) => i);
    this.full = batchOf(dataset, this.order.subarray(0, this.batchSize), dtype);
    this.tail = batchOf(dataset, this.order.subarray(0, rest > 0 ? rest : this.batchSize), dtype);
    this.current = this.order.subarray(0, 0);
    this.startEpoch();
  }

  /** The 0-based epoch of the batch last returned (equals `epochs` once exhausted). */
  get epoch(): number {
    return this.epochIndex;
  }

  /** Number of batches returned so far (over all epochs). */
  get step(): number {
    return this.stepCount;
  }

  /** Row indices (into the data set) of the batch last returned; a view, overwritten by the next epoch's shuffle. */
  get indices(): Int32Array {
    return this.current;
  }

  /** Total number of batches over all epochs (`Infinity` for an endless iterator). */
  get totalSteps(): number {
    return this.epochs * this.batchesPerEpoch;
  }

  /** The next batch, `done` after the last epoch. The returned batch's buffers are reused by later calls. */
  next(): IteratorResult<Batch> {
    const n = this.dataset.n;
    const limit = this.dropLast ? n - (n % this.batchSize) : n;
    if (this.position >= limit) {
      if (this.epochIndex + 1 >= this.epochs) {
        this.epochIndex = this.epochs;
        this.position = limit;
        return { done: true, value: undefined };
      }
      this.epochIndex++;
      this.startEpoch();
    }
    if (this.epochIndex >= this.epochs) return { done: true, value: undefined };
    const start = this.position;
    const end = Math.min(start + this.batchSize, limit);
    this.current = this.order.subarray(start, end);
    const target = end - start === this.batchSize ? this.full : this.tail;
    batchOf(this.dataset, this.current, this.dtype, target);
    this.position = end;
    this.stepCount++;
    return { done: false, value: target };
  }

  /** Restart from the first epoch with the original seed: the same batches come out again. */
  reset(): void {
    this.rng = new Rng(this.seed);
    for (let i = 0; i < this.order.length; i++) this.order[i] = i;
    this.epochIndex = 0;
    this.stepCount = 0;
    this.current = this.order.subarray(0, 0);
    this.startEpoch();
  }

  [Symbol.iterator](): IterableIterator<Batch> {
    return this;
  }

  private startEpoch(): void {
    // Reshuffling the previous permutation (rather than the identity) is as uniform and saves a reset pass.
    if (this.shuffle) shuffleInPlace(this.order, this.rng);
    this.position = 0;
  }
}

/**
 * Mini-batches over `ds`: shorthand for `new BatchIterator(ds, options)`.
 *
 * @example
 * ```ts
 * for (const batch of batches(train, { batchSize: 64, epochs: 10, seed: 1 })) {
 *   objective.lossAndGrad(batch);
 *   optimizer.step();
 * }
 * ```
 */
export function batches(ds: Dataset, options: BatchOptions): BatchIterator {
  return new BatchIterator(ds, options);
}
