/**
 * Compression as a `DistributedDataParallel` communication hook, with its state (per-bucket residuals, factors,
 * RNG states, the step counter) saved and restored bit-identically, and a collective wrapper that counts the
 * bytes a rank puts on the wire.
 *
 * @packageDocumentation
 */
import { type FloatArray, InvalidOptionError, StateDictError } from '@opt/tensor';
import type { Collective, CollectiveOptions, ReduceOp, ReducibleArray } from '../collective.js';
import type { GradBucket } from '../hooks.js';
import { type CodecStateJson, type GradientCodec, compressedAllReduce, decodeCodecState, encodeCodecState } from './codec.js';

/**
 * A `Collective` that forwards every call to `inner` and counts what THIS rank contributes: the bytes of every
 * buffer it all-reduces or broadcasts from the root, and of every part it all-gathers. These are real array
 * lengths (`byteLength`), not estimates. (With a star transport such as NATS each contribution is published once;
 * a ring all-reduce would move `2(K−1)/K` of it per rank.)
 *
 * @example
 * ```ts
 * const counted = new CountingCollective(collective);
 * await counted.allReduce(new Float32Array(1000), 'sum');
 * counted.bytesSent; // 4000
 * ```
 */
export class CountingCollective implements Collective {
  /** The wrapped collective. */
  readonly inner: Collective;
  /** Bytes contributed by this rank so far. */
  bytesSent = 0;
  /** Bytes of all-reduce buffers. */
  bytesAllReduced = 0;
  /** Bytes of all-gather parts. */
  bytesGathered = 0;
  /** Number of collective operations. */
  operations = 0;

  constructor(inner: Collective) {
    this.inner = inner;
  }

  get rank(): number {
    return this.inner.rank;
  }

  get worldSize(): number {
    return this.inner.worldSize;
  }

  get epoch(): number {
    return this.inner.epoch;
  }

  allReduce(buf: ReducibleArray, op?: ReduceOp, options?: CollectiveOptions): Promise<void> {
    this.operations++;
    this.bytesSent += buf.byteLength;
    this.bytesAllReduced += buf.byteLength;
    return this.inner.allReduce(buf, op, options);
  }

  broadcast(buf: ReducibleArray, root: number, options?: CollectiveOptions): Promise<void> {
    this.operations++;
    if (root === this.inner.rank) this.bytesSent += buf.byteLength;
    return this.inner.broadcast(buf, root, options);
  }

  allGather(part: Uint8Array, options?: CollectiveOptions): Promise<Uint8Array[]> {
    this.operations++;
    this.bytesSent += part.length;
    this.bytesGathered += part.length;
    return this.inner.allGather(part, options);
  }

  barrier(options?: CollectiveOptions): Promise<void> {
    return this.inner.barrier(options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** Reset the counters to zero. */
  reset(): void {
    this.bytesSent = 0;
    this.bytesAllReduced = 0;
    this.bytesGathered = 0;
    this.operations = 0;
  }
}

/** The saved form of a {@link CompressionHookState}. */
export interface CompressionHookStateDict {
  format: '@opt/compression-hook-state';
  version: 1;
  /** The codec's name: a state saved for another codec is refused. */
  codec: string;
  /** Completed reductions (steps). */
  step: number;
  /** Bytes this rank had sent through the hook. */
  bytesSent: number;
  /** Per bucket: its length, its tensors' shapes and the codec state. */
  buckets: Record<string, { numel: number; shapes: number[][]; state: CodecStateJson }>;
}

interface BucketEntry<S> {
  numel: number;
  shapes: number[][];
  state: S;
}

/**
 * The state of {@link compressionHook}: the codec, one codec state per gradient bucket (created at the bucket's first
 * reduction, with the bucket's tensor shapes), the step counter the codecs' schedules read, and a byte counter.
 * `stateDict()` / `loadStateDict()` save and restore all of it losslessly; a run resumed from a checkpoint of the
 * model, the optimizer and this state continues bit-identically.
 *
 * @example
 * ```ts
 * const hookState = new CompressionHookState(new ErrorFeedback(new TopK({ ratio: 0.01, accumulate: false })));
 * ddp.registerCommHook(hookState, compressionHook);
 * // … train …
 * const saved = JSON.stringify(hookState.stateDict());
 * ```
 */
export class CompressionHookState<S = unknown> {
  /** The codec. */
  readonly codec: GradientCodec<S>;
  /** The collective to use (`null`: the wrapper's). */
  readonly collective: Collective | null;
  /** Completed reductions: incremented after the last bucket of each step. */
  step = 0;
  private readonly buckets = new Map<number, BucketEntry<S>>();
  private pending = new Map<number, { numel: number; shapes: number[][]; state: CodecStateJson }>();
  private counters = new WeakMap<Collective, CountingCollective>();
  private sentBefore = 0;
  private readonly counting: CountingCollective[] = [];

  constructor(codec: GradientCodec<S>, collective: Collective | null = null) {
    if (codec === null || typeof codec !== 'object' || typeof codec.encode !== 'function') {
      throw new InvalidOptionError('codec', codec, 'a GradientCodec', 'CompressionHookState');
    }
    this.codec = codec;
    this.collective = collective;
  }

  /** Bytes this rank has sent through the hook (payloads handed to the collective; see {@link CountingCollective}). */
  get bytesSent(): number {
    let s = this.sentBefore;
    for (const c of this.counting) s += c.bytesSent;
    return s;
  }

  /** The counting wrapper of `collective`. */
  counted(collective: Collective): CountingCollective {
    let c = this.counters.get(collective);
    if (c === undefined) {
      c = new CountingCollective(collective);
      this.counters.set(collective, c);
      this.counting.push(c);
    }
    return c;
  }

  /** The codec state of a bucket (created, or decoded from a loaded state dict, at its first use). */
  bucketState(bucket: GradBucket, collective: Collective): S {
    const numel = bucket.buffer.length;
    let entry = this.buckets.get(bucket.index);
    if (entry === undefined) {
      const shapes = bucket.parameters.map((p) => [...p.shape]);
      const template = this.codec.init(numel, { rank: collective.rank, worldSize: collective.worldSize, shapes });
      const saved = this.pending.get(bucket.index);
      let state = template;
      if (saved !== undefined) {
        const where = `CompressionHookState.loadStateDict: bucket ${bucket.index}`;
        if (saved.numel !== numel || JSON.stringify(saved.shapes) !== JSON.stringify(shapes)) {
          throw new StateDictError(`${where}: saved for ${saved.numel} elements of shapes ${JSON.stringify(saved.shapes)}, the bucket has ${numel} of ${JSON.stringify(shapes)}`);
        }
        state = decodeCodecState(saved.state, template, where);
        this.pending.delete(bucket.index);
      }
      entry = { numel, shapes, state };
      this.buckets.set(bucket.index, entry);
    } else if (entry.numel !== numel) {
      throw new InvalidOptionError('bucket', `${numel} elements`, `the ${entry.numel} elements bucket ${bucket.index} had before`, 'compressionHook');
    }
    return entry.state;
  }

  /** Everything needed to resume: codec name, step, byte count and every bucket's codec state (JSON data). */
  stateDict(): CompressionHookStateDict {
    const buckets: CompressionHookStateDict['buckets'] = {};
    for (const [i, p] of this.pending) buckets[String(i)] = p;
    for (const [i, e] of this.buckets) buckets[String(i)] = { numel: e.numel, shapes: e.shapes, state: encodeCodecState(e.state) };
    return { format: '@opt/compression-hook-state', version: 1, codec: this.codec.name, step: this.step, bytesSent: this.bytesSent, buckets };
  }

  /**
   * Restore a state saved by {@link CompressionHookState.stateDict} (before the first step after the load). Bucket
   * states are checked against the bucket shapes at their first use.
   *
   * @throws `StateDictError` when the format or the codec differs.
   */
  loadStateDict(sd: CompressionHookStateDict | Record<string, unknown>): void {
    const d = sd as Partial<CompressionHookStateDict>;
    const where = 'CompressionHookState.loadStateDict';
    if (d === null || typeof d !== 'object' || d.format !== '@opt/compression-hook-state' || typeof d.buckets !== 'object' || d.buckets === null) {
      throw new StateDictError(`${where}: not a compression hook state`);
    }
    if (d.codec !== this.codec.name) throw new StateDictError(`${where}: saved for codec ${String(d.codec)}, this hook uses ${this.codec.name}`);
    if (!Number.isInteger(d.step) || d.step! < 0) throw new StateDictError(`${where}: bad step ${String(d.step)}`);
    const pending = new Map<number, { numel: number; shapes: number[][]; state: CodecStateJson }>();
    for (const [k, v] of Object.entries(d.buckets)) {
      if (!/^\d+$/.test(k) || v === null || typeof v !== 'object' || !Number.isInteger(v.numel) || !Array.isArray(v.shapes)) {
        throw new StateDictError(`${where}: malformed bucket entry ${k}`);
      }
      pending.set(Number(k), v);
    }
    this.buckets.clear();
    this.pending = pending;
    this.step = d.step!;
    for (const c of this.counting) c.reset();
    this.sentBefore = typeof d.bytesSent === 'number' ? d.bytesSent : 0;
  }
}

/**
 * The communication hook of every codec: the bucket's gradient is replaced, on every rank, by the average over
 * ranks of the decompressed gradients (`compressedAllReduce`: all-reduce for linear codecs, all-gather otherwise,
 * or the codec's own schedule). Register it with a {@link CompressionHookState}:
 *
 * @example
 * ```ts
 * ddp.registerCommHook(new CompressionHookState(new PowerSGD({ rank: 1 })), compressionHook);
 * ```
 */
export async function compressionHook<S>(state: CompressionHookState<S>, bucket: GradBucket): Promise<FloatArray> {
  const collective = state.counted(state.collective ?? bucket.collective);
  const codecState = state.bucketState(bucket, collective);
  await compressedAllReduce(state.codec, codecState, bucket.buffer, state.step, collective, bucket.collectiveOptions);
  if (bucket.isLast) state.step++;
  return bucket.buffer;
}
