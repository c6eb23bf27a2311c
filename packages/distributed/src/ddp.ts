/**
 * `DistributedDataParallel`: synchronous data parallelism around any `@opt/core` optimizer.
 *
 * @packageDocumentation
 */
import type { Optimizer, OptimizerStateDict } from '@opt/core';
import { type FlatBuffer, type FloatArray, InvalidOptionError, OptError, type Parameter, flattenParameters } from '@opt/tensor';
import type { Collective, CollectiveOptions } from './collective.js';
import { CollectiveTimeoutError, EpochChangedError, ParameterMismatchError, PeerLostError } from './errors.js';
import { type CommHook, type GradBucket, allreduceHook } from './hooks.js';

/** Options of {@link DistributedDataParallel.create}. */
export interface DistributedDataParallelOptions {
  /** Largest bucket in MiB (PyTorch's `bucket_cap_mb`, default 25). A larger parameter gets a bucket of its own. */
  bucketCapMB?: number;
  /** Rank whose initial parameters every rank adopts (default 0); `null` skips the broadcast. */
  broadcastFrom?: number | null;
  /** Options passed to every collective call (timeout, abort signal). */
  collectiveOptions?: CollectiveOptions;
}

/** The parameters an optimizer steps, in group order. */
export function optimizerParameters(optimizer: Optimizer<object>): Parameter[] {
  const out: Parameter[] = [];
  for (const g of optimizer.paramGroups) for (const p of g.params) out.push(p);
  return out;
}

/** `dtype[shape]` of every parameter, one per line: what ranks compare at start-up. */
function describeParameters(params: readonly Parameter[]): string {
  return params.map((p, i) => `${p.label(`#${i}`)}:${p.dtype}[${p.shape.join(',')}]`).join('\n');
}

/**
 * Check that every rank holds the same parameter list (count, dtypes and shapes), by gathering each rank's
 * description. Throws on every rank when they differ.
 *
 * @throws {@link ParameterMismatchError} naming the first differing parameter and the ranks involved.
 */
export async function checkParameterShapes(params: readonly Parameter[], collective: Collective, options: CollectiveOptions = {}): Promise<void> {
  const mine = describeParameters(params);
  const parts = await collective.allGather(new TextEncoder().encode(mine), options);
  const decoder = new TextDecoder();
  const reference = decoder.decode(parts[0]!).split('\n');
  for (let r = 1; r < parts.length; r++) {
    const other = decoder.decode(parts[r]!).split('\n');
    const n = Math.max(reference.length, other.length);
    for (let i = 0; i < n; i++) {
      if (reference[i] !== other[i]) {
        const name = params[i]?.label(`#${i}`) ?? `#${i}`;
        throw new ParameterMismatchError(
          i,
          name,
          `parameter ${i} (${name}) differs between ranks: rank 0 has ${reference[i] ?? 'nothing'}, rank ${r} has ${other[i] ?? 'nothing'}`,
        );
      }
    }
  }
}

interface Bucket {
  readonly view: GradBucket;
  readonly slots: ReadonlyArray<{ p: Parameter; view: FloatArray; offset: number }>;
}

/**
 * Synchronous data parallelism (PyTorch's `DistributedDataParallel`, without autograd): every rank holds a replica
 * of the model and an optimizer; after each rank has written its shard's gradients into `p.grad`,
 * {@link DistributedDataParallel.step} replaces them by their average over ranks and steps the optimizer, so the
 * replicas stay identical.
 *
 * - At creation, the parameters move into one flat buffer (`flattenParameters` of `@opt/tensor`; `p.data` and
 *   `p.grad` become views, so write gradients IN PLACE or assign arrays that the wrapper copies), ranks check that
 *   their parameter shapes agree, and rank `broadcastFrom` broadcasts its initial values.
 * - Gradients are all-reduced in buckets of at most `bucketCapMB` (contiguous views into the flat gradient buffer),
 *   by the communication hook (default {@link allreduceHook}: `g = (Σ_k g_k) / K` in rank order).
 * - {@link DistributedDataParallel.noSync} skips the reduction for gradient accumulation.
 *
 * With a mean reduction in rank order, K ranks on shards give the same bytes as one process that sums the K
 * shard gradients in shard order and divides by K.
 *
 * @example
 * ```ts
 * const ddp = await DistributedDataParallel.create(new SGD([w], { lr: 0.1 }), collective);
 * w.grad!.set(shardGradient); // in place
 * await ddp.step();           // all-reduce (mean), then SGD
 * ```
 */
export class DistributedDataParallel<O extends object = object> {
  /** The wrapped optimizer. */
  readonly optimizer: Optimizer<O>;
  /** The collective gradients are reduced over. */
  readonly collective: Collective;
  /** The flat storage of the parameters and gradients. */
  readonly flat: FlatBuffer;
  private readonly buckets: Bucket[];
  private hook: CommHook<unknown> = allreduceHook as CommHook<unknown>;
  private hookState: unknown = null;
  private noSyncDepth = 0;

  private constructor(optimizer: Optimizer<O>, collective: Collective, flat: FlatBuffer, bucketBytes: number, options: CollectiveOptions) {
    this.optimizer = optimizer;
    this.collective = collective;
    this.flat = flat;
    this.buckets = [];
    const bpe = flat.data.BYTES_PER_ELEMENT;
    let start = 0;
    let members: Array<{ p: Parameter; offset: number }> = [];
    const close = (end: number, last: boolean): void => {
      const buffer = flat.grad.subarray(start, end);
      const slots = members.map((m) => ({ p: m.p, view: m.p.grad!, offset: m.offset }));
      this.buckets.push({
        view: { index: this.buckets.length, buffer, parameters: members.map((m) => m.p), offsets: members.map((m) => m.offset), isLast: last, collective, collectiveOptions: options },
        slots,
      });
      start = end;
      members = [];
    };
    const slots = flat.slots;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!;
      if (members.length > 0 && (s.offset + s.length - start) * bpe > bucketBytes) close(s.offset, false);
      members.push({ p: s.parameter, offset: s.offset - start });
    }
    close(flat.grad.length, true);
  }

  /**
   * Wrap `optimizer` for data-parallel training over `collective`: flatten its parameters, check their shapes
   * across ranks and broadcast the initial values. Every rank must call it.
   *
   * @throws {@link ParameterMismatchError} when ranks disagree on the parameters.
   */
  static async create<O extends object>(
    optimizer: Optimizer<O>,
    collective: Collective,
    options: DistributedDataParallelOptions = {},
  ): Promise<DistributedDataParallel<O>> {
    const where = 'DistributedDataParallel';
    const capMB = options.bucketCapMB ?? 25;
    if (typeof capMB !== 'number' || !(capMB > 0) || !Number.isFinite(capMB)) throw new InvalidOptionError('bucketCapMB', capMB, 'a positive number', where);
    const from = options.broadcastFrom === undefined ? 0 : options.broadcastFrom;
    if (from !== null && (!Number.isInteger(from) || from < 0 || from >= collective.worldSize)) {
      throw new InvalidOptionError('broadcastFrom', from, `null or an integer in [0, ${collective.worldSize})`, where);
    }
    const copts = options.collectiveOptions ?? {};
    const params = optimizerParameters(optimizer as unknown as Optimizer<object>);
    await checkParameterShapes(params, collective, copts);
    for (const p of params) p.ensureGrad();
    const flat = flattenParameters(params);
    if (from !== null) await collective.broadcast(flat.data, from, copts);
    return new DistributedDataParallel(optimizer, collective, flat, capMB * 1024 * 1024, copts);
  }

  /** Number of gradient buckets. */
  get bucketCount(): number {
    return this.buckets.length;
  }

  /** Whether gradient synchronisation is off (inside {@link DistributedDataParallel.noSync}). */
  get syncing(): boolean {
    return this.noSyncDepth === 0;
  }

  /**
   * Replace the reduction of every bucket by `hook(state, bucket)` (PyTorch's `register_comm_hook`). Register at
   * most once, before the first step, and the same hook on every rank.
   */
  registerCommHook<S>(state: S, hook: CommHook<S>): void {
    if (typeof hook !== 'function') throw new InvalidOptionError('hook', hook, 'a function (state, bucket) => Promise<FloatArray>', 'registerCommHook');
    this.hook = hook as CommHook<unknown>;
    this.hookState = state;
  }

  /**
   * Run `fn` without gradient synchronisation: {@link DistributedDataParallel.synchronize} is a no-op inside, so
   * gradients added into `p.grad` accumulate locally; the next synchronisation outside reduces the sum
   * (PyTorch's `no_sync()`). `fn` may be async; the mode ends when its promise settles.
   */
  noSync<T>(fn: () => T): T {
    this.noSyncDepth++;
    let result: T;
    try {
      result = fn();
    } catch (e) {
      this.noSyncDepth--;
      throw e;
    }
    if (result instanceof Promise) {
      return result.finally(() => {
        this.noSyncDepth--;
      }) as T;
    }
    this.noSyncDepth--;
    return result;
  }

  /**
   * Average the gradients over ranks, bucket by bucket, through the communication hook (a no-op inside
   * {@link DistributedDataParallel.noSync}). A gradient array assigned to `p.grad` (instead of written in place)
   * is first copied into the flat buffer.
   */
  async synchronize(): Promise<void> {
    if (this.noSyncDepth > 0) return;
    for (const b of this.buckets) {
      for (const s of b.slots) {
        const g = s.p.grad;
        if (g !== s.view) {
          if (g === null) s.view.fill(0);
          else s.view.set(g);
          s.p.grad = s.view;
        }
      }
      const out = await this.hook(this.hookState, b.view);
      if (out !== b.view.buffer) b.view.buffer.set(out);
    }
  }

  /**
   * {@link DistributedDataParallel.synchronize}, then the optimizer's step. Returns the closure's loss, if any.
   *
   * @throws `OptError` (code `NO_SYNC_STEP`) inside {@link DistributedDataParallel.noSync}: the replicas would diverge.
   */
  async step(closure?: () => number): Promise<number | undefined> {
    if (this.noSyncDepth > 0) throw new OptError('NO_SYNC_STEP', 'DistributedDataParallel.step() inside noSync(): gradients are not synchronised there');
    await this.synchronize();
    return this.optimizer.step(closure);
  }

  /** Zero every gradient (one fill of the flat buffer). */
  zeroGrad(): void {
    this.flat.grad.fill(0);
  }
}

/** A collective that can re-form its group after a membership change (`NatsCollective` is one). */
export interface ElasticCollective extends Collective {
  /**
   * Join the group of the next membership epoch (the survivors, renumbered 0…n−1), closing this one. Every
   * surviving rank must call it after an operation failed with a membership error.
   */
  reform(options?: { timeoutMs?: number }): Promise<ElasticCollective>;
}

/** A checkpoint of {@link ElasticTrainer}: everything a replica needs to continue from `step`. */
export interface ElasticCheckpoint {
  /** Completed training steps. */
  step: number;
  /** Membership epoch and world size when it was taken. */
  epoch: number;
  worldSize: number;
  /** A copy of the flat parameter buffer. */
  parameters: FloatArray;
  /** The optimizer's state dict. */
  optimizer: OptimizerStateDict;
}

/** What {@link ElasticTrainer} passes to the gradient function. */
export interface ElasticStepContext {
  /** The step about to be taken (0-based count of completed steps). */
  step: number;
  /** This rank and the world size in the current group (shard the data with them). */
  rank: number;
  worldSize: number;
  /** Membership epoch of the current group. */
  epoch: number;
  /** The parameters, in optimizer order (write their gradients into `p.grad` in place). */
  parameters: readonly Parameter[];
}

/** One re-formation, as {@link ElasticTrainer} records it. */
export interface ElasticReformEvent {
  /** The error that ended the old group's step. */
  error: Error;
  /** `Date.now()` when the step failed. */
  failedAt: number;
  /** Epoch and world size before and after. */
  fromEpoch: number;
  toEpoch: number;
  fromWorldSize: number;
  toWorldSize: number;
  /** The step of the checkpoint every survivor reloaded. */
  restoredStep: number;
}

/** Options of {@link ElasticTrainer.create}. */
export interface ElasticTrainerOptions extends DistributedDataParallelOptions {
  /** Take a checkpoint after every `checkpointEvery` completed steps (default 1). */
  checkpointEvery?: number;
  /** Give up (rethrow) after this many re-formations (default 3). */
  maxReforms?: number;
  /** Give up when the group shrinks below this many ranks (default 1). */
  minWorldSize?: number;
  /** Bound on waiting for the new epoch and its rendezvous, in milliseconds (default the collective's). */
  reformTimeoutMs?: number;
  /** Called after every re-formation. */
  onReform?: (event: ElasticReformEvent) => void;
}

function isMembershipError(e: unknown): e is Error {
  return e instanceof PeerLostError || e instanceof CollectiveTimeoutError || e instanceof EpochChangedError;
}

/**
 * Elastic data-parallel training: {@link DistributedDataParallel} that survives the loss of ranks (and restarts
 * of the NATS server). Every `checkpointEvery` steps each replica keeps an in-memory checkpoint (flat parameters
 * and optimizer state dict; the last two are kept). When a step fails with `PeerLostError`,
 * `CollectiveTimeoutError` or `EpochChangedError`, the survivors:
 *
 * 1. re-form the group at the new membership epoch (`collective.reform()`: renumbered 0…n−1),
 * 2. wrap the optimizer again over the new group (shape check, no broadcast),
 * 3. agree on the newest checkpoint every survivor holds (an all-reduce `min` of their latest checkpoint steps;
 *    replicas can be one checkpoint apart when a failure splits a step), reload it, and
 * 4. continue; the gradient function sees the new rank and world size, so the data is re-sharded.
 *
 * So the parameters after the failure equal, bit for bit, a clean run of the survivors from that checkpoint.
 * Optimizer state lives on every replica (data parallelism), so a lost rank loses nothing.
 *
 * @example
 * ```ts
 * const trainer = await ElasticTrainer.create(new SGD([w], { lr: 0.1, momentum: 0.9 }), collective, { checkpointEvery: 2 });
 * await trainer.run(100, ({ step, rank, worldSize, parameters }) => {
 *   writeShardGradient(parameters, step, rank, worldSize); // into p.grad, in place
 * });
 * console.log(trainer.reforms.length, trainer.collective.worldSize);
 * ```
 */
export class ElasticTrainer<O extends object = object> {
  /** The wrapped optimizer. */
  readonly optimizer: Optimizer<O>;
  /** Re-formations so far. */
  readonly reforms: ElasticReformEvent[] = [];
  private current: ElasticCollective;
  private wrapper: DistributedDataParallel<O>;
  private readonly options: ElasticTrainerOptions;
  private readonly every: number;
  private readonly maxReforms: number;
  private readonly minWorldSize: number;
  private checkpoints: ElasticCheckpoint[] = [];
  private steps = 0;
  private formedEpoch: number;

  private constructor(optimizer: Optimizer<O>, collective: ElasticCollective, ddp: DistributedDataParallel<O>, options: ElasticTrainerOptions) {
    this.optimizer = optimizer;
    this.current = collective;
    this.wrapper = ddp;
    this.options = options;
    this.every = options.checkpointEvery ?? 1;
    this.maxReforms = options.maxReforms ?? 3;
    this.minWorldSize = options.minWorldSize ?? 1;
    this.formedEpoch = collective.epoch;
  }

  /**
   * Wrap `optimizer` over `collective` ({@link DistributedDataParallel.create}: shape check, broadcast of
   * `broadcastFrom`'s parameters) and take the step-0 checkpoint. Every rank must call it.
   */
  static async create<O extends object>(optimizer: Optimizer<O>, collective: ElasticCollective, options: ElasticTrainerOptions = {}): Promise<ElasticTrainer<O>> {
    const where = 'ElasticTrainer';
    const every = options.checkpointEvery ?? 1;
    if (!Number.isInteger(every) || every < 1) throw new InvalidOptionError('checkpointEvery', every, 'an integer >= 1', where);
    const maxReforms = options.maxReforms ?? 3;
    if (!Number.isInteger(maxReforms) || maxReforms < 0) throw new InvalidOptionError('maxReforms', maxReforms, 'an integer >= 0', where);
    const minWorldSize = options.minWorldSize ?? 1;
    if (!Number.isInteger(minWorldSize) || minWorldSize < 1) throw new InvalidOptionError('minWorldSize', minWorldSize, 'an integer >= 1', where);
    if (typeof collective.reform !== 'function') throw new InvalidOptionError('collective', collective, 'a collective with reform() (an ElasticCollective)', where);
    const ddp = await DistributedDataParallel.create(optimizer, collective, options);
    const trainer = new ElasticTrainer(optimizer, collective, ddp, options);
    trainer.takeCheckpoint();
    return trainer;
  }

  /** The collective of the current group (a new object after every re-formation). */
  get collective(): ElasticCollective {
    return this.current;
  }

  /** The data-parallel wrapper over the current group. */
  get ddp(): DistributedDataParallel<O> {
    return this.wrapper;
  }

  /** Completed steps. */
  get step(): number {
    return this.steps;
  }

  /** The newest checkpoint this replica holds. */
  get lastCheckpoint(): ElasticCheckpoint {
    return this.checkpoints[this.checkpoints.length - 1]!;
  }

  private takeCheckpoint(): void {
    this.checkpoints.push({
      step: this.steps,
      epoch: this.current.epoch,
      worldSize: this.current.worldSize,
      parameters: this.wrapper.flat.data.slice(),
      optimizer: this.optimizer.stateDict(),
    });
    if (this.checkpoints.length > 2) this.checkpoints.shift();
  }

  /**
   * Train until `totalSteps` steps are complete: each step zeroes the gradients, calls `computeGradients` (which
   * writes this rank's shard gradient into `p.grad`) and steps through {@link DistributedDataParallel.step}.
   * Membership errors trigger a re-formation and a reload (see the class); other errors propagate.
   *
   * @throws the membership error itself after `maxReforms` re-formations or when the group shrinks below
   * `minWorldSize`.
   */
  async run(totalSteps: number, computeGradients: (context: ElasticStepContext) => void | Promise<void>): Promise<void> {
    if (!Number.isInteger(totalSteps) || totalSteps < 0) throw new InvalidOptionError('totalSteps', totalSteps, 'an integer >= 0', 'ElasticTrainer.run');
    const parameters = optimizerParameters(this.optimizer as unknown as Optimizer<object>);
    while (this.steps < totalSteps) {
      try {
        this.wrapper.zeroGrad();
        const c = this.current;
        await computeGradients({ step: this.steps, rank: c.rank, worldSize: c.worldSize, epoch: c.epoch, parameters });
        await this.wrapper.step();
        this.steps++;
        if (this.steps % this.every === 0) this.takeCheckpoint();
      } catch (e) {
        if (!isMembershipError(e) || this.reforms.length >= this.maxReforms) throw e;
        await this.recover(e, Date.now());
      }
    }
  }

  /** Re-form the group, wrap the optimizer again and reload the newest checkpoint every survivor holds. */
  private async recover(error: Error, failedAt: number): Promise<void> {
    const from = this.current;
    const timeoutMs = this.options.reformTimeoutMs;
    const next = await from.reform(timeoutMs === undefined ? {} : { timeoutMs });
    this.current = next;
    const fromEpoch = this.formedEpoch;
    this.formedEpoch = next.epoch;
    if (next.worldSize < this.minWorldSize) throw error;
    this.wrapper = await DistributedDataParallel.create(this.optimizer, next, { ...this.options, broadcastFrom: null });
    const latest = new Float64Array([this.lastCheckpoint.step]);
    await next.allReduce(latest, 'min', this.options.collectiveOptions);
    const agreed = this.checkpoints.find((c) => c.step === latest[0]);
    if (agreed === undefined) {
      throw new OptError('CHECKPOINT_MISSING', `ElasticTrainer: the survivors agreed on the checkpoint of step ${latest[0]}, which rank ${next.rank} no longer holds`);
    }
    this.restore(agreed);
    this.checkpoints = [agreed];
    this.reforms.push({
      error,
      failedAt,
      fromEpoch,
      toEpoch: next.epoch,
      fromWorldSize: from.worldSize,
      toWorldSize: next.worldSize,
      restoredStep: agreed.step,
    });
    this.options.onReform?.(this.reforms[this.reforms.length - 1]!);
  }

  /** Load a checkpoint into the parameters and the optimizer (every rank of the group must load the same one). */
  restore(checkpoint: ElasticCheckpoint): void {
    this.wrapper.flat.data.set(checkpoint.parameters);
    this.optimizer.loadStateDict(checkpoint.optimizer);
    this.steps = checkpoint.step;
  }
}
