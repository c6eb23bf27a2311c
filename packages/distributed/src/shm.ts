/**
 * `ShmCollective`: the collectives of one machine over a `SharedArrayBuffer` (worker threads, or several ranks in
 * one thread), synchronised with `Atomics`.
 *
 * @packageDocumentation
 */
import { InvalidOptionError } from '@opt/tensor';
import {
  type Collective,
  type CollectiveOptions,
  DEFAULT_COLLECTIVE_TIMEOUT_MS,
  type ReduceOp,
  type ReducibleArray,
  checkRank,
  checkReduceOp,
  checkTimeout,
  dtypeCode,
} from './collective.js';
import { CollectiveAbortedError, CollectiveClosedError, CollectiveTimeoutError, EpochChangedError, PeerLostError } from './errors.js';
import { reduceParts } from './reduce.js';
import { copyBytes } from './wire.js';

/** Int32 slots of the control block. */
const COUNT = 0;
const GEN = 1;
const BROKEN = 2;
const EPOCH = 3;
const LOST_RANK = 4;
const HEADER = 8;

/** Options of {@link createShmGroup}. */
export interface ShmGroupOptions {
  /** Number of ranks (≥ 1). */
  worldSize: number;
  /**
   * Bytes of each rank's staging slot (rounded up to a multiple of 8). Larger buffers are processed in chunks of this
   * size, so it bounds the shared memory (`(worldSize + 1) · slotBytes`), not the buffer size. Default 4 MiB.
   */
  slotBytes?: number;
}

/**
 * The shared state of one `ShmCollective` group: a structured-cloneable object (post it to workers as is).
 * Layout of `buffer`: an `Int32Array` control block (barrier counter and generation, broken flag, epoch, lost rank,
 * then per-rank barrier arrivals and allGather lengths), then `worldSize` staging slots, then one result slot.
 */
export interface ShmGroup {
  readonly worldSize: number;
  readonly slotBytes: number;
  readonly buffer: SharedArrayBuffer;
}

/**
 * Allocate the shared memory of a group of `worldSize` ranks. Pass the returned object to every rank (for worker
 * threads: in `workerData` or a message) and build one {@link ShmCollective} per rank on it.
 */
export function createShmGroup(options: ShmGroupOptions): ShmGroup {
  const where = 'createShmGroup';
  const { worldSize } = options;
  if (!Number.isInteger(worldSize) || worldSize < 1) throw new InvalidOptionError('worldSize', worldSize, 'an integer >= 1', where);
  const requested = options.slotBytes ?? 4 * 1024 * 1024;
  if (!Number.isInteger(requested) || requested < 8) throw new InvalidOptionError('slotBytes', requested, 'an integer >= 8', where);
  const slotBytes = Math.ceil(requested / 8) * 8;
  const buffer = new SharedArrayBuffer(controlBytes(worldSize) + (worldSize + 1) * slotBytes);
  return { worldSize, slotBytes, buffer };
}

function controlBytes(worldSize: number): number {
  return Math.ceil(((HEADER + 2 * worldSize) * 4) / 8) * 8;
}

/** Options of {@link ShmCollective}. */
export interface ShmCollectiveOptions {
  /** Default bound of every operation in milliseconds (30 s). */
  timeoutMs?: number;
  /**
   * `Atomics.load` polls before a waiting rank sleeps. Spinning saves a wake-up when ranks run on separate cores;
   * with several ranks in one thread it only delays the others, so keep it small. Default 1000.
   */
  spin?: number;
}

type AsyncWait = (typed: Int32Array, index: number, value: number, timeout?: number) => { async: boolean; value: Promise<string> | string };
const waitAsync: AsyncWait | undefined = (Atomics as unknown as { waitAsync?: AsyncWait }).waitAsync;

type TypedCtor = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): ReducibleArray; BYTES_PER_ELEMENT: number };

/**
 * A {@link Collective} over shared memory. All ranks hold the same {@link ShmGroup}; each rank is one
 * `ShmCollective` (in its own worker thread, or several in one thread: waits are `Atomics.waitAsync`, so ranks
 * in one thread interleave on its event loop, and the class runs in browsers where `SharedArrayBuffer` is
 * available, i.e. on cross-origin isolated pages).
 *
 * All-reduce, per chunk of at most `slotBytes`: every rank copies its chunk into its slot; barrier; rank r reduces
 * segment r of the chunk over the K slots IN RANK ORDER into the result slot (a reduce-scatter); barrier; every
 * rank copies the result back. The barrier is a generation-counting barrier (`Atomics.add` on a counter, the last
 * arriver bumps the generation and `notify`s) bounded by the operation's timeout.
 *
 * A timeout or an abort breaks the group: the flag wakes every waiting rank, which then fails with
 * `PeerLostError`, and the epoch bumps, so later operations fail with `EpochChangedError`.
 *
 * @example
 * ```ts
 * import { ShmCollective, createShmGroup } from '@opt/distributed';
 * const group = createShmGroup({ worldSize: 2 });
 * const ranks = [0, 1].map((r) => new ShmCollective(group, r));
 * const bufs = [new Float32Array([1, 2]), new Float32Array([3, 4])];
 * await Promise.all(ranks.map((c, r) => c.allReduce(bufs[r]!, 'sum')));
 * console.log(bufs[1]); // Float32Array [4, 6]
 * ```
 */
export class ShmCollective implements Collective {
  readonly rank: number;
  readonly worldSize: number;
  private readonly group: ShmGroup;
  private readonly ctrl: Int32Array;
  private readonly slotBase: number;
  private readonly timeoutMs: number;
  private readonly spin: number;
  private readonly joinedEpoch: number;
  private barriers = 0;
  private ops = 0;
  private closed = false;

  /**
   * @param group the shared state from {@link createShmGroup} (the same object, or a structured clone of it).
   * @param rank this rank, in `[0, group.worldSize)`.
   */
  constructor(group: ShmGroup, rank: number, options: ShmCollectiveOptions = {}) {
    const where = 'ShmCollective';
    checkRank(rank, group.worldSize, 'rank', where);
    this.group = group;
    this.rank = rank;
    this.worldSize = group.worldSize;
    this.ctrl = new Int32Array(group.buffer, 0, HEADER + 2 * group.worldSize);
    this.slotBase = controlBytes(group.worldSize);
    this.timeoutMs = checkTimeout(options.timeoutMs ?? DEFAULT_COLLECTIVE_TIMEOUT_MS, where);
    const spin = options.spin ?? 1000;
    if (!Number.isInteger(spin) || spin < 0) throw new InvalidOptionError('spin', spin, 'an integer >= 0', where);
    this.spin = spin;
    this.joinedEpoch = Atomics.load(this.ctrl, EPOCH);
  }

  /** The group's membership epoch: starts at 0, bumps when the group breaks. */
  get epoch(): number {
    return Atomics.load(this.ctrl, EPOCH);
  }

  /**
   * Mark the group broken because `rank` is gone (a launcher calls this when a worker thread exits): every rank
   * waiting in, or later entering, an operation fails with `PeerLostError`.
   */
  static breakGroup(group: ShmGroup, rank: number): void {
    const ctrl = new Int32Array(group.buffer, 0, HEADER + 2 * group.worldSize);
    if (Atomics.compareExchange(ctrl, BROKEN, 0, 1) === 0) {
      Atomics.store(ctrl, LOST_RANK, rank);
      Atomics.add(ctrl, EPOCH, 1);
    }
    Atomics.notify(ctrl, GEN);
  }

  async allReduce(buf: ReducibleArray, op: ReduceOp = 'sum', options: CollectiveOptions = {}): Promise<void> {
    const name = 'allReduce';
    checkReduceOp(op, `ShmCollective.${name}`);
    const code = dtypeCode(buf, options.halfFormat, `ShmCollective.${name}`);
    const ctx = this.begin(name, options);
    const K = this.worldSize;
    if (K === 1) {
      if (op === 'mean') reduceParts(buf, [buf], op, code);
      return;
    }
    const Ctor = buf.constructor as TypedCtor;
    const bpe = Ctor.BYTES_PER_ELEMENT;
    const per = Math.floor(this.group.slotBytes / bpe);
    const sab = this.group.buffer;
    const parts: ReducibleArray[] = new Array<ReducibleArray>(K);
    for (let start = 0; start < buf.length; start += per) {
      const m = Math.min(per, buf.length - start);
      new Ctor(sab, this.slotOffset(this.rank), m).set(buf.subarray(start, start + m) as never);
      await this.wait(ctx);
      const lo = Math.floor((this.rank * m) / K);
      const hi = Math.floor(((this.rank + 1) * m) / K);
      if (hi > lo) {
        for (let r = 0; r < K; r++) parts[r] = new Ctor(sab, this.slotOffset(r) + lo * bpe, hi - lo);
        reduceParts(new Ctor(sab, this.slotOffset(K) + lo * bpe, hi - lo), parts, op, code);
      }
      await this.wait(ctx);
      buf.set(new Ctor(sab, this.slotOffset(K), m) as never, start);
    }
  }

  async broadcast(buf: ReducibleArray, root: number, options: CollectiveOptions = {}): Promise<void> {
    const name = 'broadcast';
    checkRank(root, this.worldSize, 'root', `ShmCollective.${name}`);
    dtypeCode(buf, options.halfFormat ?? 'float16', `ShmCollective.${name}`);
    const ctx = this.begin(name, options);
    if (this.worldSize === 1) return;
    const Ctor = buf.constructor as TypedCtor;
    const per = Math.floor(this.group.slotBytes / Ctor.BYTES_PER_ELEMENT);
    const sab = this.group.buffer;
    for (let start = 0; start < buf.length; start += per) {
      const m = Math.min(per, buf.length - start);
      if (this.rank === root) new Ctor(sab, this.slotOffset(root), m).set(buf.subarray(start, start + m) as never);
      await this.wait(ctx);
      if (this.rank !== root) buf.set(new Ctor(sab, this.slotOffset(root), m) as never, start);
      await this.wait(ctx);
    }
  }

  async allGather(part: Uint8Array, options: CollectiveOptions = {}): Promise<Uint8Array[]> {
    const name = 'allGather';
    if (!(part instanceof Uint8Array)) throw new InvalidOptionError('part', part, 'a Uint8Array', `ShmCollective.${name}`);
    const ctx = this.begin(name, options);
    const K = this.worldSize;
    if (K === 1) return [copyBytes(part)];
    const lengths = HEADER + K;
    Atomics.store(this.ctrl, lengths + this.rank, part.length);
    await this.wait(ctx);
    const out: Uint8Array[] = [];
    let longest = 0;
    for (let r = 0; r < K; r++) {
      const len = Atomics.load(this.ctrl, lengths + r);
      out.push(r === this.rank ? copyBytes(part) : new Uint8Array(len));
      if (len > longest) longest = len;
    }
    const cap = this.group.slotBytes;
    const sab = this.group.buffer;
    if (longest === 0) await this.wait(ctx);
    for (let start = 0; start < longest; start += cap) {
      if (start < part.length) new Uint8Array(sab, this.slotOffset(this.rank), Math.min(cap, part.length - start)).set(part.subarray(start, start + cap));
      await this.wait(ctx);
      for (let r = 0; r < K; r++) {
        const len = out[r]!.length;
        if (r === this.rank || start >= len) continue;
        out[r]!.set(new Uint8Array(sab, this.slotOffset(r), Math.min(cap, len - start)), start);
      }
      await this.wait(ctx);
    }
    return out;
  }

  async barrier(options: CollectiveOptions = {}): Promise<void> {
    const ctx = this.begin('barrier', options);
    if (this.worldSize > 1) await this.wait(ctx);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private slotOffset(r: number): number {
    return this.slotBase + r * this.group.slotBytes;
  }

  private begin(op: string, options: CollectiveOptions): OpContext {
    if (this.closed) throw new CollectiveClosedError(`ShmCollective.${op}`);
    const epoch = this.epoch;
    if (epoch !== this.joinedEpoch) throw new EpochChangedError(this.joinedEpoch, epoch, `ShmCollective.${op}`);
    const timeoutMs = options.timeoutMs === undefined ? this.timeoutMs : checkTimeout(options.timeoutMs, `ShmCollective.${op}`);
    if (options.signal?.aborted) throw new CollectiveAbortedError(op, options.signal.reason);
    const label = options.tag ? `${op} [${options.tag}]` : op;
    return { op: label, step: this.ops++, deadline: Date.now() + timeoutMs, timeoutMs, signal: options.signal };
  }

  /** One generation-counting barrier, bounded by the operation's deadline and signal. */
  private async wait(ctx: OpContext): Promise<void> {
    const c = this.ctrl;
    const K = this.worldSize;
    this.throwIfBroken(ctx);
    const seq = ++this.barriers;
    Atomics.store(c, HEADER + this.rank, seq);
    const gen = Atomics.load(c, GEN);
    if (Atomics.add(c, COUNT, 1) === K - 1) {
      Atomics.store(c, COUNT, 0);
      Atomics.add(c, GEN, 1);
      Atomics.notify(c, GEN);
      return;
    }
    const signal = ctx.signal;
    const wake = (): void => {
      Atomics.notify(c, GEN);
    };
    signal?.addEventListener('abort', wake, { once: true });
    try {
      for (;;) {
        for (let i = 0; i < this.spin; i++) if (Atomics.load(c, GEN) !== gen) return;
        if (Atomics.load(c, GEN) !== gen) return;
        this.throwIfBroken(ctx);
        if (signal?.aborted) {
          ShmCollective.breakGroup(this.group, this.rank);
          throw new CollectiveAbortedError(ctx.op, signal.reason);
        }
        const remaining = ctx.deadline - Date.now();
        if (remaining <= 0) {
          const missing: number[] = [];
          for (let r = 0; r < K; r++) if (Atomics.load(c, HEADER + r) < seq) missing.push(r);
          ShmCollective.breakGroup(this.group, missing.length > 0 ? missing[0]! : -1);
          throw new CollectiveTimeoutError(ctx.op, ctx.step, missing, ctx.timeoutMs);
        }
        if (waitAsync !== undefined) {
          // Short waits: V8 keeps a pending waitAsync timeout alive after a notify, which would hold the
          // process open for up to the whole operation timeout after the last collective.
          const slice = Math.min(remaining, 25);
          const w = waitAsync(c, GEN, gen, slice);
          if (w.async) {
            // A pending waitAsync does not keep Node's event loop alive: a timer does (a worker thread whose only
            // work is a collective would otherwise exit mid-wait).
            let timer: ReturnType<typeof setTimeout> | undefined;
            await Promise.race([w.value, new Promise<void>((resolve) => (timer = setTimeout(resolve, slice + 1)))]);
            clearTimeout(timer);
          }
        } else {
          // No Atomics.waitAsync (older browsers): poll on the event loop.
          await new Promise<void>((resolve) => setTimeout(resolve, 1));
        }
      }
    } finally {
      signal?.removeEventListener('abort', wake);
    }
  }

  private throwIfBroken(ctx: OpContext): void {
    if (Atomics.load(this.ctrl, BROKEN) !== 0) {
      throw new PeerLostError(Atomics.load(this.ctrl, LOST_RANK), this.joinedEpoch, `${ctx.op} (step ${ctx.step}) cannot complete`);
    }
  }
}

interface OpContext {
  op: string;
  step: number;
  deadline: number;
  timeoutMs: number;
  signal: AbortSignal | undefined;
}
