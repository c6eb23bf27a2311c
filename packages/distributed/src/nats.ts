/**
 * `NatsCollective`: collectives between processes or machines through a NATS server (core NATS for the data,
 * a JetStream key-value bucket for membership leases and the epoch record).
 *
 * @packageDocumentation
 */
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { jetstream } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
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
import {
  CollectiveAbortedError,
  CollectiveClosedError,
  CollectiveTimeoutError,
  EpochChangedError,
  PayloadRejectedError,
  PeerLostError,
} from './errors.js';
import { reduceParts } from './reduce.js';
import { type ChunkHeader, ChunkKind, copyBytes, decodeChunk, encodeChunk, fnv1a } from './wire.js';

/** Options of {@link NatsCollective.create}. */
export interface NatsCollectiveOptions {
  /** An open connection (Node: `connect` of `@nats-io/transport-node`; browsers: `wsconnect`). */
  connection: NatsConnection;
  /** Job name: letters, digits, `_` and `-`. Subjects are `opt.<job>.<epoch>.…`; use a fresh name per run. */
  job: string;
  /** This rank, in `[0, worldSize)`. */
  rank: number;
  /** Number of ranks. */
  worldSize: number;
  /** Default bound of every operation, and of the rendezvous, in milliseconds (30 s). */
  timeoutMs?: number;
  /** Payload bytes per message (default 1 MiB; at most the server's `max_payload` minus 40). */
  chunkBytes?: number;
  /** Lease renewal period in milliseconds (default 1000); a lease expires after 3 periods. */
  heartbeatMs?: number;
  /** Compute and verify a CRC-32 of every chunk (default true). */
  checksums?: boolean;
  /** Close the connection in {@link NatsCollective.close} (default false). */
  ownsConnection?: boolean;
  /**
   * Join a group RE-FORMED at this membership record instead of forming a new one: the rank and world size are the
   * new ones (`rank` = position of the old rank in `membership.ranks`). {@link NatsCollective.reform} fills it in.
   */
  membership?: EpochRecord;
  /**
   * After a reconnection to the server, wait this long (ms) before judging other ranks' leases, so that every rank
   * has had time to reconnect and renew its lease (default `max(3 · heartbeatMs, 3000)`).
   */
  reconnectGraceMs?: number;
}

/**
 * The epoch record published in the membership bucket (key `epoch`).
 *
 * - `epoch`: bumps on every membership change.
 * - `ranks`: the ranks of the group at `epoch`, numbered as in the PREVIOUS group (for the first group: 0…K−1); a
 *   group re-formed at this record renumbers them 0…n−1 in this order.
 * - `lost`: ranks of the previous group whose lease expired (empty when the group was re-formed for another
 *   reason, e.g. after a reconnection to a restarted server).
 */
export interface EpochRecord {
  epoch: number;
  ranks: number[];
  lost?: number[];
}

const OPS: readonly ReduceOp[] = ['sum', 'mean', 'max', 'min'];
const BPE = [4, 8, 2, 2];
type TypedCtor = { new (length: number): ReducibleArray; new (buffer: ArrayBufferLike, byteOffset: number, length: number): ReducibleArray; BYTES_PER_ELEMENT: number };

interface Pending {
  kind: number;
  step: number;
  /** Called with every chunk of the operation (a previously buffered one included). */
  onChunk: (h: ChunkHeader, payload: Uint8Array) => void;
  reject: (e: Error) => void;
}

/**
 * A {@link Collective} through a NATS server.
 *
 * - All-reduce (bandwidth-optimal with the server as the switch): the buffer is cut into `worldSize` segments; rank
 *   k owns segment k. Every rank publishes its part of segment k to `opt.<job>.<epoch>.ar.<k>` in chunks of at most
 *   `chunkBytes`; the owner reduces each chunk over the K contributions IN RANK ORDER with the same kernel as
 *   `ShmCollective` (so both give the same bytes) and publishes the result to `opt.<job>.<epoch>.res`. Each rank
 *   sends and receives 2(K−1)/K of the buffer.
 * - Broadcast: the root publishes to `opt.<job>.<epoch>.bc.<root>`. All-gather: every rank publishes its part to
 *   `…ag`. Barrier: an empty chunk on `…bar` from every rank.
 * - Every chunk carries a 40-byte header (job, epoch, step, from-rank, offset, length, total, dtype, CRC-32); a chunk
 *   that fails validation fails the operation with `PayloadRejectedError` and none of it is used.
 * - Membership: each rank renews a lease `rank-<r>` in the JetStream KV bucket `opt_<job>_members` (entries expire
 *   after 3 heartbeats) and watches (and polls) the record `epoch` in the bucket `opt_<job>_epoch` (no TTL). When a lease is missing, the lowest live rank
 *   replaces the record by `{ epoch: epoch + 1, ranks: survivors, lost }` (a compare-and-set on its revision, so
 *   the epoch bumps once); every rank then fails its in-flight operation with `PeerLostError` naming the lost
 *   rank, and later operations with `EpochChangedError`. {@link NatsCollective.reform} joins the survivors' group
 *   at the new epoch (renumbered 0…n−1); `ElasticTrainer` does that and reloads the last checkpoint.
 * - Server restarts: a disconnection fails the operation in flight at once with `EpochChangedError` (its chunks
 *   may be lost, and some ranks may have completed it while others did not). After the client reconnects, the
 *   ranks bump the epoch with the same members, and the group re-forms the same way. Leases are judged only
 *   `reconnectGraceMs` after a reconnection, so ranks that reconnect a little later are not declared lost.
 *
 * Operations on one collective must not overlap: await each before starting the next (every rank issues them in
 * the same order).
 *
 * @example
 * ```ts
 * import { NatsCollective } from '@opt/distributed';
 * // `connection` from `connect()` of `@nats-io/transport-node`, one per rank (or per process)
 * const c = await NatsCollective.create({ connection, job: 'mnist-1', rank: 0, worldSize: 2 });
 * await c.allReduce(grads, 'mean');
 * await c.close();
 * ```
 */
export class NatsCollective implements Collective {
  readonly rank: number;
  readonly worldSize: number;
  private readonly nc: NatsConnection;
  private readonly job: string;
  private readonly jobHash: number;
  private readonly timeoutMs: number;
  private readonly chunkBytes: number;
  private readonly heartbeatMs: number;
  private readonly checksums: boolean;
  private readonly ownsConnection: boolean;
  private readonly subs: Subscription[] = [];
  /** Chunks that arrived before their operation started, by step. */
  private readonly early = new Map<number, Array<{ h: ChunkHeader; payload: Uint8Array }>>();
  private pending: Pending | null = null;
  private kv: KV | null = null;
  /** The epoch record's bucket: no TTL (the leases' bucket expires entries after 3 heartbeats). */
  private epochKv: KV | null = null;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private watcher: { stop(): void } | null = null;
  private joinedEpoch = 0;
  private currentEpoch = 0;
  private ops = 0;
  private closed = false;
  private closing = false;
  private abandoned = false;
  private readonly membership: EpochRecord | null;
  private readonly reconnectGraceMs: number;
  private graceUntil = 0;
  private needsBump = false;
  private record: EpochRecord | null = null;
  private releaseConnection = false;
  private ticking = false;
  private readonly options: NatsCollectiveOptions;

  private constructor(o: NatsCollectiveOptions) {
    const where = 'NatsCollective';
    if (!Number.isInteger(o.worldSize) || o.worldSize < 1 || o.worldSize > 65535) {
      throw new InvalidOptionError('worldSize', o.worldSize, 'an integer in [1, 65535]', where);
    }
    checkRank(o.rank, o.worldSize, 'rank', where);
    if (typeof o.job !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(o.job)) {
      throw new InvalidOptionError('job', o.job, '1 to 64 letters, digits, "_" or "-"', where);
    }
    const chunkBytes = o.chunkBytes ?? 1024 * 1024;
    if (!Number.isInteger(chunkBytes) || chunkBytes < 8 || chunkBytes % 8 !== 0) {
      throw new InvalidOptionError('chunkBytes', chunkBytes, 'a positive multiple of 8', where);
    }
    const heartbeatMs = o.heartbeatMs ?? 1000;
    if (!(heartbeatMs >= 10) || !Number.isFinite(heartbeatMs)) throw new InvalidOptionError('heartbeatMs', heartbeatMs, 'a number >= 10', where);
    this.nc = o.connection;
    this.rank = o.rank;
    this.worldSize = o.worldSize;
    this.job = o.job;
    this.jobHash = fnv1a(o.job);
    this.timeoutMs = checkTimeout(o.timeoutMs ?? DEFAULT_COLLECTIVE_TIMEOUT_MS, where);
    this.chunkBytes = chunkBytes;
    this.heartbeatMs = heartbeatMs;
    this.checksums = o.checksums ?? true;
    this.ownsConnection = o.ownsConnection ?? false;
    this.membership = o.membership ?? null;
    if (this.membership !== null && this.membership.ranks.length !== o.worldSize) {
      throw new InvalidOptionError('membership', this.membership.ranks.length, `a record of ${o.worldSize} ranks (worldSize)`, where);
    }
    const grace = o.reconnectGraceMs ?? Math.max(3 * heartbeatMs, 3000);
    if (!(grace >= 0) || !Number.isFinite(grace)) throw new InvalidOptionError('reconnectGraceMs', grace, 'a finite number >= 0', where);
    this.reconnectGraceMs = grace;
    this.options = o;
  }

  /**
   * Join the group: subscribe, publish this rank's lease, wait until all `worldSize` leases exist (the rendezvous),
   * then adopt the epoch record (rank 0 publishes it). Resolves once the collective can be used.
   *
   * @throws `CollectiveTimeoutError` (op `"rendezvous"`) naming the ranks that never leased.
   */
  static async create(options: NatsCollectiveOptions): Promise<NatsCollective> {
    const c = new NatsCollective(options);
    try {
      await c.join();
    } catch (e) {
      await c.close();
      throw e;
    }
    return c;
  }

  /** The membership epoch this rank sees now (1 after the first rendezvous). */
  get epoch(): number {
    return this.currentEpoch;
  }

  /** The epoch this group was formed at (operations fail once {@link NatsCollective.epoch} differs from it). */
  get formedEpoch(): number {
    return this.joinedEpoch;
  }

  /** The membership record this rank last adopted (the one it formed at, or a newer one after a change). */
  get membershipRecord(): EpochRecord | null {
    return this.record;
  }

  /** The job name (subjects are `opt.<job>.<epoch>.…`). */
  get jobName(): string {
    return this.job;
  }

  /** Key of this rank's lease: `rank-<r>` in the first group, `e<epoch>-rank-<r>` in a re-formed one. */
  private leaseKey(rank: number): string {
    return this.membership === null ? `rank-${rank}` : `e${this.membership.epoch}-rank-${rank}`;
  }

  private subject(epoch: number | '*', tail: string): string {
    return `opt.${this.job}.${epoch}.${tail}`;
  }

  private async join(): Promise<void> {
    const handler = (err: Error | null, msg: { data: Uint8Array }): void => {
      if (err === null) this.receive(msg.data);
    };
    for (const tail of [`ar.${this.rank}`, 'res', 'bc.*', 'ag', 'bar']) {
      this.subs.push(this.nc.subscribe(this.subject('*', tail), { callback: handler }));
    }
    await this.nc.flush();
    // Short JetStream API timeouts: a request sent while the server restarts is lost, and the membership checks
    // must retry within a few heartbeats, not after the client's default 5 s.
    const kvm = new Kvm(jetstream(this.nc, { timeout: Math.min(this.timeoutMs, Math.max(1000, 3 * this.heartbeatMs)) }));
    const deadline = Date.now() + this.timeoutMs;
    // JetStream requests of the rendezvous are retried until the deadline: right after a server restart (a
    // re-formation) some are lost or answered "unavailable" while the store recovers.
    const retry = <T>(fn: () => Promise<T>): Promise<T> => retrying(fn, deadline);
    const kv = await retry(() => kvm.create(`opt_${this.job}_members`, { history: 1, ttl: 3 * this.heartbeatMs }));
    this.kv = kv;
    const ekv = await retry(() => kvm.create(`opt_${this.job}_epoch`, { history: 1 }));
    this.epochKv = ekv;
    await retry(() => this.renewLease());
    const everyone = Array.from({ length: this.worldSize }, (_, r) => r);
    for (;;) {
      const missing: number[] = [];
      for (const r of everyone) if ((await retry(() => kv.get(this.leaseKey(r)))) === null) missing.push(r);
      if (missing.length === 0) break;
      if (Date.now() > deadline) throw new CollectiveTimeoutError('rendezvous', 0, missing, this.timeoutMs);
      await sleep(Math.min(50, this.heartbeatMs));
      await retry(() => this.renewLease());
    }
    let record: EpochRecord | null = null;
    if (this.membership !== null) {
      record = this.membership;
    } else if (this.rank === 0) {
      const prev = await retry(() => ekv.get('epoch'));
      const old = prev === null || prev.length === 0 ? 0 : (JSON.parse(prev.string()) as EpochRecord).epoch;
      record = { epoch: old + 1, ranks: everyone };
      await retry(() => ekv.put('epoch', JSON.stringify(record)));
    } else {
      for (;;) {
        const e = await retry(() => ekv.get('epoch'));
        if (e !== null && e.length > 0) {
          const r = JSON.parse(e.string()) as EpochRecord;
          if (r.ranks.length === this.worldSize) {
            record = r;
            break;
          }
        }
        if (Date.now() > deadline) throw new CollectiveTimeoutError('rendezvous', 0, [0], this.timeoutMs);
        await sleep(20);
      }
    }
    this.joinedEpoch = record.epoch;
    this.currentEpoch = record.epoch;
    this.record = record;
    const watch = await retry(() => ekv.watch({ key: 'epoch' }));
    this.watcher = watch;
    void (async () => {
      for await (const e of watch) {
        if (e.operation !== 'PUT' || e.length === 0) continue;
        this.adopt(JSON.parse(e.string()) as EpochRecord);
      }
    })().catch(() => undefined);
    void this.watchStatus();
    this.heartbeat = setInterval(() => {
      void this.tick().catch(() => undefined);
    }, this.heartbeatMs);
    // Rank 0's record may precede other ranks' subscriptions to `epoch`; a barrier makes sure everyone is ready.
    await this.barrier();
  }

  private async renewLease(): Promise<void> {
    await this.kv!.put(this.leaseKey(this.rank), String(Date.now()));
  }

  /**
   * A newer epoch record: adopt it and fail the operation in flight, with `PeerLostError` when the record names
   * lost ranks, `EpochChangedError` otherwise.
   */
  private adopt(r: EpochRecord): void {
    if (r.epoch <= this.joinedEpoch) return;
    if (r.epoch > this.currentEpoch) this.currentEpoch = r.epoch;
    if (this.record === null || r.epoch > this.record.epoch) this.record = r;
    this.needsBump = false;
    const lost = r.lost ?? [];
    const op = `NatsCollective (rank ${this.rank})`;
    this.pending?.reject(
      lost.length > 0
        ? new PeerLostError(lost[0]!, this.joinedEpoch, `${op}: lease expired; the group continues at epoch ${r.epoch} with ranks [${r.ranks.join(', ')}]`)
        : new EpochChangedError(this.joinedEpoch, r.epoch, op),
    );
  }

  /** The epoch record in the bucket now, with its revision (null when absent). */
  private async readRecord(): Promise<{ record: EpochRecord; revision: number } | null> {
    const e = await this.epochKv!.get('epoch');
    if (e === null || e.length === 0) return null;
    return { record: JSON.parse(e.string()) as EpochRecord, revision: e.revision };
  }

  /**
   * Replace the epoch record `joinedEpoch` by `next` with a compare-and-set on the record's revision, so that two
   * ranks proposing a change at once bump the epoch once. Returns false when another record won.
   */
  private async proposeRecord(next: EpochRecord): Promise<boolean> {
    const cur = await this.readRecord();
    if (cur === null || cur.record.epoch !== this.joinedEpoch) {
      if (cur !== null) this.adopt(cur.record);
      return false;
    }
    try {
      await this.epochKv!.update('epoch', JSON.stringify(next), cur.revision);
    } catch {
      const now = await this.readRecord();
      if (now !== null) this.adopt(now.record);
      return false;
    }
    this.adopt(next);
    return true;
  }

  /**
   * Connection status: a disconnection fails the operation in flight at once (its chunks may be lost with the
   * server) and, because some ranks may have completed that operation while others did not, the group must
   * re-form: after the reconnection this rank proposes epoch + 1 with the same ranks.
   */
  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.closed) break;
      if (s.type === 'disconnect') {
        this.needsBump = this.currentEpoch === this.joinedEpoch;
        if (this.currentEpoch === this.joinedEpoch) this.currentEpoch = this.joinedEpoch + 1;
        this.pending?.reject(new EpochChangedError(this.joinedEpoch, this.currentEpoch, `NatsCollective (rank ${this.rank}) lost its connection to the server`));
      } else if (s.type === 'reconnect') {
        this.graceUntil = Date.now() + this.reconnectGraceMs;
        void this.tick().catch(() => undefined);
      }
    }
  }

  /**
   * Renew the lease and poll the epoch record (the watch may miss it across a server restart). After a reconnection,
   * propose the re-formation. Otherwise the lowest live rank checks the others' leases and, when one is missing,
   * publishes `{ epoch + 1, survivors, lost }`.
   */
  private async tick(): Promise<void> {
    if (this.closed || this.kv === null || this.ticking) return;
    this.ticking = true;
    try {
      await this.tickOnce();
    } finally {
      this.ticking = false;
    }
  }

  private async tickOnce(): Promise<void> {
    if (this.kv === null) return;
    await this.renewLease();
    const cur = await this.readRecord();
    if (cur !== null) this.adopt(cur.record);
    if (this.needsBump) {
      await this.proposeRecord({ epoch: this.joinedEpoch + 1, ranks: Array.from({ length: this.worldSize }, (_, r) => r), lost: [] });
      return;
    }
    if (this.currentEpoch !== this.joinedEpoch || Date.now() < this.graceUntil) return;
    const alive: number[] = [];
    const lost: number[] = [];
    for (let r = 0; r < this.worldSize; r++) {
      if (r === this.rank || (await this.kv.get(this.leaseKey(r))) !== null) alive.push(r);
      else lost.push(r);
    }
    if (lost.length > 0 && alive[0] === this.rank && !this.closed && this.currentEpoch === this.joinedEpoch) {
      await this.proposeRecord({ epoch: this.joinedEpoch + 1, ranks: alive, lost });
    }
  }

  /**
   * After a membership change (an operation failed with `PeerLostError` or `EpochChangedError`, or
   * {@link NatsCollective.epoch} moved on), join the group of the new epoch: the surviving ranks, renumbered
   * 0…n−1 in their old order, on the same connection. Every survivor must call it. This collective is closed
   * (the connection passes to the new one).
   *
   * @throws `CollectiveTimeoutError` (op `"reform"`) when no new epoch is published within the timeout, or
   * the rendezvous of the new group does not complete; `PeerLostError` when this rank is not in the new group.
   */
  async reform(options: { timeoutMs?: number } = {}): Promise<NatsCollective> {
    const timeoutMs = options.timeoutMs === undefined ? this.timeoutMs : checkTimeout(options.timeoutMs, 'NatsCollective.reform');
    const deadline = Date.now() + timeoutMs;
    let record: EpochRecord | null = null;
    for (;;) {
      try {
        const cur = await this.readRecord();
        if (cur !== null && cur.record.epoch > this.joinedEpoch) record = cur.record;
        else if (this.needsBump) {
          await this.proposeRecord({ epoch: this.joinedEpoch + 1, ranks: Array.from({ length: this.worldSize }, (_, r) => r), lost: [] });
        }
      } catch {
        // the server may be restarting: retry until the deadline
      }
      if (record !== null) break;
      if (Date.now() > deadline) throw new CollectiveTimeoutError('reform', this.ops, [], timeoutMs);
      await sleep(Math.min(50, this.heartbeatMs));
    }
    const position = record.ranks.indexOf(this.rank);
    if (position < 0) throw new PeerLostError(this.rank, this.joinedEpoch, `rank ${this.rank} is not a member of the group at epoch ${record.epoch}`);
    const owns = this.ownsConnection;
    this.releaseConnection = true;
    await this.close();
    return NatsCollective.create({
      ...this.options,
      connection: this.nc,
      ownsConnection: owns,
      rank: position,
      worldSize: record.ranks.length,
      membership: record,
    });
  }

  private receive(msg: Uint8Array): void {
    let h: ChunkHeader;
    let payload: Uint8Array;
    try {
      ({ header: h, payload } = decodeChunk(msg, this.jobHash, this.checksums));
    } catch (e) {
      // A chunk we cannot attribute fails the operation in flight: nothing of it is used.
      this.pending?.reject(e as Error);
      return;
    }
    // The server echoes our own publications back to our subscriptions: they carry nothing new.
    if (h.from === this.rank) return;
    // Before the rendezvous ends this rank does not know the epoch yet: keep the chunks, filter them on replay.
    if (this.joinedEpoch !== 0 && h.epoch !== this.joinedEpoch) return;
    const p = this.pending;
    if (p !== null && p.step === h.step) {
      if (h.kind !== p.kind && !(p.kind === ChunkKind.reduceInput && h.kind === ChunkKind.reduced)) {
        p.reject(new PayloadRejectedError('header', `chunk kind ${h.kind} from rank ${h.from} does not belong to the operation at step ${h.step}`));
        return;
      }
      try {
        p.onChunk(h, payload);
      } catch (e) {
        p.reject(e as Error);
      }
      return;
    }
    if (h.step < this.ops) return; // a late chunk of an operation that already failed
    let list = this.early.get(h.step);
    if (list === undefined) this.early.set(h.step, (list = []));
    // The subscription's buffer may be reused: keep a copy of chunks we hold on to.
    list.push({ h, payload: copyBytes(payload) });
  }

  /**
   * Run one operation: `start` publishes this rank's messages, `onChunk` consumes the others' (early ones first),
   * `done()` says when it is complete, `missing()` names the ranks still awaited (for timeout errors).
   */
  private run(
    name: string,
    kind: number,
    options: CollectiveOptions,
    onChunk: (h: ChunkHeader, payload: Uint8Array) => void,
    start: (step: number, epoch: number) => void,
    done: () => boolean,
    missing: () => number[],
  ): Promise<void> {
    if (this.closed) return Promise.reject(new CollectiveClosedError(`NatsCollective.${name}`));
    if (this.currentEpoch !== this.joinedEpoch) {
      return Promise.reject(new EpochChangedError(this.joinedEpoch, this.currentEpoch, `NatsCollective.${name}`));
    }
    const timeoutMs = options.timeoutMs === undefined ? this.timeoutMs : checkTimeout(options.timeoutMs, `NatsCollective.${name}`);
    const label = options.tag ? `${name} [${options.tag}]` : name;
    const step = this.ops++;
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(new CollectiveAbortedError(label, signal.reason));
    return new Promise<void>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | null = null;
      const onAbort = (): void => finish(new CollectiveAbortedError(label, signal!.reason));
      const finish = (error: Error | null): void => {
        if (this.pending !== entry) return;
        this.pending = null;
        if (timer !== null) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        for (const key of this.early.keys()) if (key <= step) this.early.delete(key);
        if (error === null) resolve();
        else reject(error);
      };
      const entry: Pending = {
        kind,
        step,
        onChunk: (h, payload) => {
          onChunk(h, payload);
          if (done()) finish(null);
        },
        reject: (e) => finish(e),
      };
      this.pending = entry;
      timer = setTimeout(() => finish(new CollectiveTimeoutError(label, step, missing(), timeoutMs)), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        start(step, this.joinedEpoch);
        const early = this.early.get(step);
        this.early.delete(step);
        if (early !== undefined) {
          for (const { h, payload } of early) {
            if (this.pending !== entry) break;
            if (h.epoch !== this.joinedEpoch) continue;
            if (h.kind !== kind && !(kind === ChunkKind.reduceInput && h.kind === ChunkKind.reduced)) {
              throw new PayloadRejectedError('header', `chunk kind ${h.kind} from rank ${h.from} does not belong to the operation at step ${step}`);
            }
            entry.onChunk(h, payload);
          }
        }
        if (this.pending === entry && done()) finish(null);
      } catch (e) {
        finish(e as Error);
      }
    });
  }

  private publish(subject: string, h: Omit<ChunkHeader, 'crc' | 'job' | 'from'>, payload: Uint8Array): void {
    this.nc.publish(subject, encodeChunk({ ...h, job: this.jobHash, from: this.rank }, payload, this.checksums));
  }

  private bytesOf(buf: ReducibleArray, start: number, length: number): Uint8Array {
    return new Uint8Array(buf.buffer, buf.byteOffset + start * buf.BYTES_PER_ELEMENT, length * buf.BYTES_PER_ELEMENT);
  }

  /** A typed view of a payload, copied when the payload is not aligned for the element type. */
  private view(payload: Uint8Array, dtype: number, length: number): ReducibleArray {
    const Ctor = (dtype === 0 ? Float32Array : dtype === 1 ? Float64Array : Uint16Array) as unknown as TypedCtor;
    if (payload.byteOffset % Ctor.BYTES_PER_ELEMENT === 0) return new Ctor(payload.buffer, payload.byteOffset, length);
    return new Ctor(copyBytes(payload).buffer, 0, length);
  }

  private checkChunk(h: ChunkHeader, total: number, dtype: number, what: string): void {
    if (h.dtype !== dtype) throw new PayloadRejectedError('dtype', `${what}: rank ${h.from} sent dtype code ${h.dtype}, this rank has ${dtype}`);
    if (h.total !== total) throw new PayloadRejectedError('shape', `${what}: rank ${h.from} sent a buffer of ${h.total} elements, this rank has ${total}`);
  }

  async allReduce(buf: ReducibleArray, op: ReduceOp = 'sum', options: CollectiveOptions = {}): Promise<void> {
    const where = 'NatsCollective.allReduce';
    checkReduceOp(op, where);
    const dtype = dtypeCode(buf, options.halfFormat, where);
    const K = this.worldSize;
    const n = buf.length;
    const me = this.rank;
    if (K === 1) {
      await this.run('allReduce', ChunkKind.reduceInput, options, () => undefined, () => undefined, () => true, () => []);
      if (op === 'mean') reduceParts(buf, [buf], op, dtype);
      return;
    }
    const per = Math.max(1, Math.floor(this.chunkBytes / BPE[dtype]!));
    const seg = (k: number): [number, number] => [Math.floor((k * n) / K), Math.floor(((k + 1) * n) / K)];
    const [lo, hi] = seg(me);
    const segLen = hi - lo;
    const Ctor = buf.constructor as unknown as TypedCtor;
    const own = me === 0 ? buf.subarray(lo, hi) : (buf.slice(lo, hi) as ReducibleArray);
    const contrib: ReducibleArray[] = [];
    for (let r = 0; r < K; r++) contrib.push(r === me ? own : new Ctor(segLen));
    const chunks = Math.ceil(segLen / per);
    const arrived = new Int32Array(chunks); // contributions received per chunk of my segment
    const gotFrom = new Float64Array(K); // elements received from each rank (for timeout messages)
    let reducedChunks = 0;
    let resultElements = 0;
    const resultFrom = new Float64Array(K);
    const needResult = n - segLen;
    const opCode = OPS.indexOf(op);
    let step = 0;
    let epoch = 0;
    const parts: ReducibleArray[] = new Array<ReducibleArray>(K);
    const reduceChunk = (j: number): void => {
      const a = j * per;
      const b = Math.min(segLen, a + per);
      for (let r = 0; r < K; r++) parts[r] = contrib[r]!.subarray(a, b);
      const out = buf.subarray(lo + a, lo + b);
      reduceParts(out, parts, op, dtype);
      this.publish(this.subject(epoch, 'res'), { epoch, step, kind: ChunkKind.reduced, dtype, op: opCode, offset: lo + a, length: b - a, total: n }, this.bytesOf(buf, lo + a, b - a));
      reducedChunks++;
    };
    await this.run(
      'allReduce',
      ChunkKind.reduceInput,
      options,
      (h, payload) => {
        this.checkChunk(h, n, dtype, 'allReduce');
        if (h.kind === ChunkKind.reduceInput) {
          if (h.offset < lo || h.offset + h.length > hi || (h.offset - lo) % per !== 0) {
            throw new PayloadRejectedError('shape', `allReduce: rank ${h.from} sent elements [${h.offset}, ${h.offset + h.length}) outside this rank's chunks`);
          }
          contrib[h.from]!.set(this.view(payload, dtype, h.length) as never, h.offset - lo);
          gotFrom[h.from]! += h.length;
          const j = (h.offset - lo) / per;
          if (++arrived[j]! === K - 1) reduceChunk(j);
        } else {
          buf.set(this.view(payload, dtype, h.length) as never, h.offset);
          resultElements += h.length;
          resultFrom[h.from]! += h.length;
        }
      },
      (s, e) => {
        step = s;
        epoch = e;
        for (let k = 0; k < K; k++) {
          if (k === me) continue;
          const [a, b] = seg(k);
          for (let o = a; o < b; o += per) {
            const len = Math.min(per, b - o);
            this.publish(this.subject(e, `ar.${k}`), { epoch: e, step: s, kind: ChunkKind.reduceInput, dtype, op: opCode, offset: o, length: len, total: n }, this.bytesOf(buf, o, len));
          }
        }
      },
      () => reducedChunks === chunks && resultElements === needResult,
      () => {
        const out: number[] = [];
        for (let r = 0; r < K; r++) {
          if (r === me) continue;
          const [a, b] = seg(r);
          if (gotFrom[r]! < segLen || resultFrom[r]! < b - a) out.push(r);
        }
        return out;
      },
    );
  }

  async broadcast(buf: ReducibleArray, root: number, options: CollectiveOptions = {}): Promise<void> {
    const where = 'NatsCollective.broadcast';
    checkRank(root, this.worldSize, 'root', where);
    const dtype = dtypeCode(buf, options.halfFormat ?? (buf instanceof Uint16Array ? 'float16' : undefined), where);
    const n = buf.length;
    const per = Math.max(1, Math.floor(this.chunkBytes / BPE[dtype]!));
    let received = 0;
    const isRoot = this.rank === root;
    await this.run(
      'broadcast',
      ChunkKind.broadcast,
      options,
      (h, payload) => {
        if (h.from !== root) throw new PayloadRejectedError('authentication', `broadcast from rank ${h.from}, expected root ${root}`);
        this.checkChunk(h, n, dtype, 'broadcast');
        buf.set(this.view(payload, dtype, h.length) as never, h.offset);
        received += h.length;
      },
      (step, epoch) => {
        if (!isRoot) return;
        for (let o = 0; o < n; o += per) {
          const len = Math.min(per, n - o);
          this.publish(this.subject(epoch, `bc.${root}`), { epoch, step, kind: ChunkKind.broadcast, dtype, op: 0, offset: o, length: len, total: n }, this.bytesOf(buf, o, len));
        }
      },
      () => isRoot || received === n,
      () => (isRoot ? [] : [root]),
    );
  }

  async allGather(part: Uint8Array, options: CollectiveOptions = {}): Promise<Uint8Array[]> {
    const where = 'NatsCollective.allGather';
    if (!(part instanceof Uint8Array)) throw new InvalidOptionError('part', part, 'a Uint8Array', where);
    const K = this.worldSize;
    const out: Array<Uint8Array | null> = new Array<Uint8Array | null>(K).fill(null);
    const got = new Float64Array(K);
    const complete = new Uint8Array(K);
    out[this.rank] = copyBytes(part);
    complete[this.rank] = 1;
    let completed = 1;
    const per = this.chunkBytes;
    await this.run(
      'allGather',
      ChunkKind.gather,
      options,
      (h, payload) => {
        if (h.dtype !== 255) throw new PayloadRejectedError('dtype', `allGather: rank ${h.from} sent dtype code ${h.dtype}`);
        if (h.from >= K || complete[h.from]) throw new PayloadRejectedError('header', `allGather: unexpected chunk from rank ${h.from}`);
        const dst = (out[h.from] ??= new Uint8Array(h.total));
        if (dst.length !== h.total) throw new PayloadRejectedError('shape', `allGather: rank ${h.from} changed its part length`);
        dst.set(payload, h.offset);
        got[h.from]! += h.length;
        if (got[h.from] === h.total) {
          complete[h.from] = 1;
          completed++;
        }
      },
      (step, epoch) => {
        const n = part.length;
        let o = 0;
        do {
          const len = Math.min(per, n - o);
          this.publish(this.subject(epoch, 'ag'), { epoch, step, kind: ChunkKind.gather, dtype: 255, op: 0, offset: o, length: len, total: n }, part.subarray(o, o + len));
          o += len;
        } while (o < n);
      },
      () => completed === K,
      () => {
        const m: number[] = [];
        for (let r = 0; r < K; r++) if (!complete[r]) m.push(r);
        return m;
      },
    );
    return out as Uint8Array[];
  }

  async barrier(options: CollectiveOptions = {}): Promise<void> {
    const K = this.worldSize;
    const seen = new Uint8Array(K);
    seen[this.rank] = 1;
    let count = 1;
    await this.run(
      'barrier',
      ChunkKind.barrier,
      options,
      (h) => {
        if (h.from < K && !seen[h.from]) {
          seen[h.from] = 1;
          count++;
        }
      },
      (step, epoch) => this.publish(this.subject(epoch, 'bar'), { epoch, step, kind: ChunkKind.barrier, dtype: 255, op: 0, offset: 0, length: 0, total: 0 }, new Uint8Array(0)),
      () => count === K,
      () => {
        const m: number[] = [];
        for (let r = 0; r < K; r++) if (!seen[r]) m.push(r);
        return m;
      },
    );
  }

  /**
   * Leave: stop the heartbeat and the epoch watch, delete this rank's lease, unsubscribe (and close the connection
   * when it was handed over with `ownsConnection`). An operation in flight fails with `CollectiveClosedError`.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.closed = true;
    this.pending?.reject(new CollectiveClosedError('NatsCollective'));
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.watcher?.stop();
    for (const s of this.subs) if (!s.isClosed()) s.unsubscribe();
    if (!this.nc.isClosed()) {
      if (this.kv !== null && !this.abandoned) await this.kv.delete(this.leaseKey(this.rank)).catch(() => undefined);
      if (this.ownsConnection && !this.releaseConnection) await this.nc.close();
    }
  }

  /**
   * Simulate this rank's death for fault tests: stop renewing the lease and stop answering, without a goodbye.
   * Peers notice within about three heartbeats, bump the epoch and fail with `EpochChangedError`. Call
   * {@link NatsCollective.close} afterwards to release the connection.
   */
  abandon(): void {
    this.closed = true;
    this.abandoned = true;
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.watcher?.stop();
    for (const s of this.subs) s.unsubscribe();
  }
}

/** `fn()`, retried every 50 ms while it throws, until `deadline` (then its last error). */
async function retrying<T>(fn: () => Promise<T>, deadline: number): Promise<T> {
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(50);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
