import { checkInRange, checkInteger } from '@opt/core';
import { InvalidOptionError, type RngState, StateDictError } from '@opt/tensor';
import { type NoiseMode, type RandomSource, createRandomSource } from '../noise/gaussian.js';

/**
 * How the examples of a logical batch were chosen, which decides the privacy
 * accounting that applies:
 * - `'poisson'`: every example independently with probability q (the
 *   subsampled Gaussian mechanism of the RDP/PRV accountants, add/remove-one
 *   adjacency); the batch size is random, possibly 0;
 * - `'fixed-size'`: exactly B distinct examples drawn uniformly without
 *   replacement at every step (sampling without replacement, replace-one
 *   adjacency; Wang, Balle & Kasiviswanathan 2019), which needs its own
 *   accounting.
 */
export type SamplingScheme = 'poisson' | 'fixed-size';

/**
 * One physical batch of a DP training loop: the rows of the data set to use,
 * and where it sits in its logical (privacy) batch. A logical batch larger than
 * `maxPhysicalBatchSize` is split into several physical batches ("virtual
 * steps"): the optimizer accumulates them and adds noise once, on the last.
 */
export interface DPBatch {
  /** Row indices into the data set (this physical batch only). */
  readonly indices: Int32Array;
  /** `indices.length`; 0 for an empty Poisson batch (the step still happens, noise only). */
  readonly size: number;
  /** The sampling that produced it; the optimizer refuses a scheme it was not set up for. */
  readonly sampling: SamplingScheme;
  /** The sampling rate q = expected batch size / data size. */
  readonly sampleRate: number;
  /** The expected logical batch size q·N (Poisson) or B (fixed-size): DP-SGD divides by it. */
  readonly expectedBatchSize: number;
  /** The realised size of the whole logical batch. */
  readonly logicalSize: number;
  /** Index of the logical step within the iterator's lifetime (0, 1, …). */
  readonly step: number;
  /** Position of this physical batch within its logical batch. */
  readonly physicalIndex: number;
  /** Whether this is the logical batch's last physical batch (the one after which the optimizer steps). */
  readonly lastPhysical: boolean;
}

/** A sampler's saved position; see `PoissonBatchIterator.stateDict`. */
export interface SamplerState {
  /** Logical batches drawn. */
  steps_drawn: number;
  /** The seeded generator's state, or null (CSPRNG). */
  rng_state: RngState | null;
  /** Scheme-specific data (the fixed-size sampler's permutation), or null. */
  extra: number[] | null;
}

/** Options shared by the two samplers. */
export interface SamplerOptions {
  /** Number of examples N in the data set. */
  dataSize: number;
  /** Logical steps per pass (`for … of` the iterator). Default: Opacus' `floor(1/q)` (Poisson) or `ceil(N/B)` (fixed-size). */
  steps?: number;
  /** Split logical batches into physical batches of at most this many rows (virtual steps). Default: no split. */
  maxPhysicalBatchSize?: number;
  /** Randomness: `'private'` (Web Crypto, default), `'secure'`, or `'seeded'` (NOT private). */
  noise?: NoiseMode;
  /** Seed of the `'seeded'` mode. */
  seed?: number;
  /** An explicit random source (overrides `noise` and `seed`), e.g. one shared with the optimizer. */
  random?: RandomSource;
}

/** Options of {@link PoissonBatchIterator}: the rate as `sampleRate` q or as `expectedBatchSize` (= qN). */
export interface PoissonSamplerOptions extends SamplerOptions {
  /** q ∈ (0, 1]. */
  sampleRate?: number;
  /** q·N, an alternative to `sampleRate`. */
  expectedBatchSize?: number;
}

/** Options of {@link FixedSizeBatchIterator}. */
export interface FixedSizeSamplerOptions extends SamplerOptions {
  /** B, the number of distinct examples of every logical batch (1 ≤ B ≤ N). */
  batchSize: number;
}

/** What the two samplers share: drawing logical batches, splitting them into physical ones, saving their position. */
export abstract class BaseSampler implements Iterable<DPBatch> {
  /** The sampling scheme. */
  abstract readonly sampling: SamplingScheme;
  /** N. */
  readonly dataSize: number;
  /** q. */
  readonly sampleRate: number;
  /** The expected logical batch size. */
  readonly expectedBatchSize: number;
  /** Logical steps per pass. */
  readonly steps: number;
  /** The physical batch cap, or Infinity. */
  readonly maxPhysicalBatchSize: number;
  /** The randomness used to draw batches. */
  readonly random: RandomSource;
  /** Logical batches drawn so far. */
  stepsDrawn = 0;

  protected constructor(where: string, options: SamplerOptions, sampleRate: number, expectedBatchSize: number, defaultSteps: number) {
    this.dataSize = options.dataSize;
    this.sampleRate = sampleRate;
    this.expectedBatchSize = expectedBatchSize;
    this.steps = checkInteger(where, 'steps', options.steps ?? defaultSteps, 1);
    this.maxPhysicalBatchSize =
      options.maxPhysicalBatchSize === undefined ? Infinity : checkInteger(where, 'maxPhysicalBatchSize', options.maxPhysicalBatchSize, 1);
    this.random = options.random ?? createRandomSource(options.noise ?? 'private', options.seed ?? 0);
  }

  /** Draw the next logical batch's row indices (sorted ascending). */
  protected abstract drawIndices(): Int32Array;

  /** The next logical batch, split into physical batches (at least one, possibly empty). */
  nextLogicalBatch(): DPBatch[] {
    const all = this.drawIndices();
    const step = this.stepsDrawn++;
    const cap = this.maxPhysicalBatchSize;
    const parts = Math.max(1, Math.ceil(all.length / cap));
    const out: DPBatch[] = [];
    for (let k = 0; k < parts; k++) {
      const indices = parts === 1 ? all : all.slice(k * cap, Math.min(all.length, (k + 1) * cap));
      out.push({
        indices,
        size: indices.length,
        sampling: this.sampling,
        sampleRate: this.sampleRate,
        expectedBatchSize: this.expectedBatchSize,
        logicalSize: all.length,
        step,
        physicalIndex: k,
        lastPhysical: k === parts - 1,
      });
    }
    return out;
  }

  /**
   * The sampler's position as JSON data: logical batches drawn and, for a
   * seeded sampler, the generator state (a CSPRNG sampler has none to save).
   */
  stateDict(): SamplerState {
    return { steps_drawn: this.stepsDrawn, rng_state: this.random.getState(), extra: this.extraState() };
  }

  /** Restore a position saved by {@link BaseSampler.stateDict} (seeded samplers continue their exact stream). */
  loadStateDict(state: SamplerState): void {
    const where = `${this.constructor.name}.loadStateDict`;
    if (typeof state !== 'object' || state === null || !Number.isInteger(state.steps_drawn) || state.steps_drawn < 0) {
      throw new StateDictError(`${where}: expected { steps_drawn, rng_state, extra }`);
    }
    if (state.rng_state !== null) this.random.setState(state.rng_state);
    this.loadExtraState(state.extra, where);
    this.stepsDrawn = state.steps_drawn;
  }

  protected extraState(): number[] | null {
    return null;
  }

  protected loadExtraState(_extra: number[] | null, _where: string): void {}

  /** One pass: `steps` logical batches, each as its physical batches in order. */
  *[Symbol.iterator](): Iterator<DPBatch> {
    for (let s = 0; s < this.steps; s++) yield* this.nextLogicalBatch();
  }
}

/**
 * Poisson sampling, the sampling DP-SGD's accountants assume: at every logical
 * step each of the N examples joins the batch independently with probability
 * q, so the batch size is Binomial(N, q) and may be 0. An empty batch is still
 * yielded (size 0): the optimizer must still take a noise-only step, or the
 * accounting would be wrong. Iterating yields `steps` logical batches (default
 * `floor(1/q)`, Opacus' count per epoch), each split into physical batches of
 * at most `maxPhysicalBatchSize` rows when set.
 *
 * Randomness is Web Crypto by default: the sample itself is part of the
 * mechanism, so a seeded sampler (`noise: 'seeded'`) is not private either.
 *
 * @example
 * ```ts
 * const sampler = new PoissonBatchIterator({ dataSize: 1000, expectedBatchSize: 50, noise: 'seeded', seed: 1 });
 * let total = 0;
 * for (const batch of sampler) total += batch.size;
 * console.log(sampler.steps, total); // 20 steps, about 1000 examples in all
 * ```
 */
export class PoissonBatchIterator extends BaseSampler {
  readonly sampling = 'poisson' as const;
  private scratch: Int32Array;

  /** @param options - data size, q (or the expected batch size), steps, physical batch cap, randomness. */
  constructor(options: PoissonSamplerOptions) {
    const where = 'PoissonBatchIterator';
    const n = checkInteger(where, 'dataSize', options.dataSize, 1);
    let q: number;
    if (options.sampleRate !== undefined) {
      if (options.expectedBatchSize !== undefined) {
        throw new InvalidOptionError('expectedBatchSize', options.expectedBatchSize, 'unset when sampleRate is given (give one of the two)', where);
      }
      q = checkInRange(where, 'sampleRate', options.sampleRate, 0, 1, '(]');
    } else if (options.expectedBatchSize !== undefined) {
      q = checkInRange(where, 'expectedBatchSize', options.expectedBatchSize, 0, n, '(]') / n;
    } else {
      throw new InvalidOptionError('sampleRate', undefined, 'a rate in (0, 1] (or expectedBatchSize in (0, dataSize])', where);
    }
    super(where, options, q, q * n, Math.max(1, Math.floor(1 / q)));
    this.scratch = new Int32Array(n);
  }

  protected drawIndices(): Int32Array {
    const q = this.sampleRate;
    const n = this.dataSize;
    const random = this.random;
    const s = this.scratch;
    let m = 0;
    if (q === 1) {
      for (let i = 0; i < n; i++) s[m++] = i;
    } else {
      for (let i = 0; i < n; i++) if (random.uniform() < q) s[m++] = i;
    }
    return s.slice(0, m);
  }
}

/**
 * Fixed-size sampling without replacement: every logical batch holds exactly B
 * distinct examples, drawn uniformly (a partial Fisher–Yates shuffle),
 * independently at every step. This is NOT what the Poisson accountants assume:
 * its privacy is that of sampling without replacement under replace-one
 * adjacency, which the optimizer and the engine track through
 * `sampling: 'fixed-size'`; feeding these batches to an optimizer set up for
 * Poisson sampling (or the reverse) throws a `SamplingMismatchError`.
 *
 * @example
 * ```ts
 * const sampler = new FixedSizeBatchIterator({ dataSize: 100, batchSize: 10, noise: 'seeded', seed: 3 });
 * const [batch] = sampler.nextLogicalBatch();
 * console.log(batch!.size, batch!.sampling); // 10 'fixed-size'
 * ```
 */
export class FixedSizeBatchIterator extends BaseSampler {
  readonly sampling = 'fixed-size' as const;
  private readonly perm: Int32Array;

  /** @param options - data size, batch size B, steps, physical batch cap, randomness. */
  constructor(options: FixedSizeSamplerOptions) {
    const where = 'FixedSizeBatchIterator';
    const n = checkInteger(where, 'dataSize', options.dataSize, 1);
    const b = checkInteger(where, 'batchSize', options.batchSize, 1);
    if (b > n) throw new InvalidOptionError('batchSize', b, `an integer in [1, dataSize = ${n}]`, where);
    super(where, options, b / n, b, Math.ceil(n / b));
    this.perm = new Int32Array(n);
    for (let i = 0; i < n; i++) this.perm[i] = i;
  }

  protected override extraState(): number[] {
    return Array.from(this.perm);
  }

  protected override loadExtraState(extra: number[] | null, where: string): void {
    const n = this.dataSize;
    if (!Array.isArray(extra) || extra.length !== n || new Set(extra).size !== n || extra.some((i) => !Number.isInteger(i) || i < 0 || i >= n)) {
      throw new StateDictError(`${where}: extra must be a permutation of 0..${n - 1}`);
    }
    this.perm.set(extra);
  }

  protected drawIndices(): Int32Array {
    const n = this.dataSize;
    const b = this.expectedBatchSize;
    const p = this.perm;
    for (let i = 0; i < b; i++) {
      const j = i + Math.floor(this.random.uniform() * (n - i));
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    return p.slice(0, b).sort();
  }
}
