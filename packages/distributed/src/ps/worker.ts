/**
 * `ParameterServerWorker`: the worker side of the asynchronous parameter server.
 *
 * @packageDocumentation
 */
import { type JetStreamClient, jetstream } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { type NatsConnection, type Subscription, headers } from '@nats-io/nats-core';
import { InvalidOptionError } from '@opt/tensor';
import { CollectiveTimeoutError, PayloadRejectedError } from '../errors.js';
import { type ShardSpec, PushHeaders, aligned, decodeShardValue, psNames, pushMsgId } from './layout.js';
import type { PsNotice } from './server.js';

/** Options of {@link ParameterServerWorker.create}. */
export interface ParameterServerWorkerOptions {
  connection: NatsConnection;
  /** The job of the servers. */
  job: string;
  /** This worker's id (letters, digits, `_`, `-`): part of every message id, so unique per worker. */
  worker: string;
  /** Number of shard servers. */
  numShards: number;
  /** Bound on waiting for servers, leases and notices, in milliseconds (default 30 s). */
  timeoutMs?: number;
}

/** The model as pulled: the flat values (all shards, key order) and each shard's version. */
export interface PulledModel {
  values: Float32Array | Float64Array;
  versions: number[];
}

/** The outcome of a push on one shard. */
export interface PushResult {
  shard: number;
  /** `'duplicate'`: the stream already held this (worker, step) and dropped the message. */
  status: 'applied' | 'rejected' | 'duplicate';
  version: number;
  staleness: number;
  scale: number;
  reason?: PsNotice['reason'];
}

/**
 * A worker of the asynchronous parameter server (see `ParameterServer`). The loop is: {@link ParameterServerWorker.pull} (under
 * policy `'block'` this first takes a lease on every shard, in shard order, and may wait), compute a gradient at
 * the pulled values, {@link ParameterServerWorker.push} it with the pulled versions; `push` resolves when every shard has processed it.
 *
 * @example
 * ```ts
 * const worker = await ParameterServerWorker.create({ connection, job: 'ps-1', worker: 'w0', numShards: 2 });
 * for (let step = 0; step < 100; step++) {
 *   const { values, versions } = await worker.pull();
 *   const grad = gradientAt(values);          // same length as values
 *   await worker.push(step, grad, versions);  // applied, scaled or rejected per shard
 * }
 * ```
 */
export class ParameterServerWorker {
  /** The shard descriptions, by shard. */
  readonly specs: readonly ShardSpec[];
  /** This worker's id. */
  readonly worker: string;
  /** Elements in the whole model. */
  readonly size: number;
  private readonly nc: NatsConnection;
  private readonly js: JetStreamClient;
  private readonly kv: KV;
  private readonly job: string;
  private readonly timeoutMs: number;
  private readonly sub: Subscription;
  private readonly waiting = new Map<string, (n: PsNotice) => void>();
  private lastStep = -1;

  private constructor(o: ParameterServerWorkerOptions, kv: KV, specs: ShardSpec[], timeoutMs: number) {
    this.nc = o.connection;
    this.job = o.job;
    this.worker = o.worker;
    this.kv = kv;
    this.specs = specs;
    this.timeoutMs = timeoutMs;
    this.js = jetstream(o.connection);
    this.size = specs.reduce((a, s) => a + s.size, 0);
    this.sub = this.nc.subscribe(psNames.notice(o.job, '*', o.worker), {
      callback: (err, msg) => {
        if (err !== null) return;
        const n = JSON.parse(new TextDecoder().decode(msg.data)) as PsNotice;
        this.waiting.get(`${n.shard}:${n.step}`)?.(n);
      },
    });
  }

  /** Wait for every shard's description (servers publish it when they start) and subscribe to notices. */
  static async create(options: ParameterServerWorkerOptions): Promise<ParameterServerWorker> {
    const where = 'ParameterServerWorker';
    if (typeof options.worker !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(options.worker)) {
      throw new InvalidOptionError('worker', options.worker, '1 to 64 letters, digits, "_" or "-"', where);
    }
    if (!Number.isInteger(options.numShards) || options.numShards < 1) throw new InvalidOptionError('numShards', options.numShards, 'an integer >= 1', where);
    const timeoutMs = options.timeoutMs ?? 30_000;
    const kv = await new Kvm(options.connection).create(psNames.bucket(options.job), { history: 1 });
    const deadline = Date.now() + timeoutMs;
    const specs: ShardSpec[] = [];
    for (let s = 0; s < options.numShards; s++) {
      for (;;) {
        const e = await kv.get(`meta-${s}`);
        if (e !== null && e.length > 0) {
          specs.push(JSON.parse(e.string()) as ShardSpec);
          break;
        }
        if (Date.now() > deadline) throw new CollectiveTimeoutError('ParameterServerWorker.create', 0, [s], timeoutMs);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    const w = new ParameterServerWorker(options, kv, specs, timeoutMs);
    await options.connection.flush();
    return w;
  }

  /** The staleness policy of the servers (shard 0's). */
  get policy(): ShardSpec['policy'] {
    return this.specs[0]!.policy;
  }

  /**
   * Pull every shard's current values and versions. Under policy `'block'`, first take a lease on every shard
   * (in shard order, which rules out deadlocks): the server answers once this worker's next update cannot be
   * more than τ versions stale. Pass `{ lease: false }` to read the model without computing an update on it
   * (monitoring, evaluation): no lease is taken, so nobody waits for this worker.
   */
  async pull(options: { lease?: boolean } = {}): Promise<PulledModel> {
    if (this.policy === 'block' && options.lease !== false) {
      for (const spec of this.specs) {
        await this.nc.request(psNames.lease(this.job, spec.shard), JSON.stringify({ worker: this.worker, lastStep: this.lastStep }), { timeout: this.timeoutMs });
      }
    }
    const float64 = this.specs[0]!.dtype === 'float64';
    const values = float64 ? new Float64Array(this.size) : new Float32Array(this.size);
    const versions: number[] = [];
    for (const spec of this.specs) versions.push(await this.pullShard(spec, values));
    return { values, versions };
  }

  private async pullShard(spec: ShardSpec, out: Float32Array | Float64Array): Promise<number> {
    const bpe = out.BYTES_PER_ELEMENT;
    const view = (data: Uint8Array, length: number): Float32Array | Float64Array => {
      const a = aligned(data, bpe);
      return bpe === 8 ? new Float64Array(a.buffer, a.byteOffset, length) : new Float32Array(a.buffer, a.byteOffset, length);
    };
    for (let attempt = 0; ; attempt++) {
      const head = await this.kv.get(`shard-${spec.shard}`);
      if (head === null) throw new PayloadRejectedError('header', `shard ${spec.shard} has published no values`);
      const { header, data } = decodeShardValue(head.value);
      if (spec.storage === 'kv') {
        out.set(view(data, header.length), spec.offset);
        return header.version;
      }
      let torn = false;
      for (let c = 0; c < header.chunks && !torn; c++) {
        const e = await this.kv.get(`shard-${spec.shard}.c${c}`);
        const chunk = e === null ? null : decodeShardValue(e.value);
        if (chunk === null || chunk.header.version !== header.version) torn = true;
        else out.set(view(chunk.data, chunk.header.length), spec.offset + chunk.header.offset);
      }
      if (!torn) return header.version;
      // A newer version overwrote some chunks while we read: read again.
      if (attempt > 100) throw new CollectiveTimeoutError('ParameterServerWorker.pull', 0, [spec.shard], this.timeoutMs);
    }
  }

  /**
   * Push the gradient of `step` (the whole model's, flat, key order), computed at `versions` (from
   * {@link ParameterServerWorker.pull}), to every shard, and resolve once each shard has processed it. Steps must increase; a repeated
   * step is dropped by the stream (`'duplicate'`) or rejected by the server (`'replay'`).
   */
  async push(step: number, grad: Float32Array | Float64Array, versions: readonly number[]): Promise<PushResult[]> {
    const where = 'ParameterServerWorker.push';
    if (!Number.isInteger(step) || step < 0) throw new InvalidOptionError('step', step, 'an integer >= 0', where);
    if (grad.length !== this.size) throw new InvalidOptionError('grad', grad.length, `${this.size} elements`, where);
    if (versions.length !== this.specs.length) throw new InvalidOptionError('versions', versions.length, `${this.specs.length} versions`, where);
    this.lastStep = Math.max(this.lastStep, step);
    const dtype = grad instanceof Float64Array ? 'float64' : 'float32';
    const results = await Promise.all(
      this.specs.map(async (spec, k) => {
        const key = `${spec.shard}:${step}`;
        let timer: ReturnType<typeof setTimeout> | undefined;
        const notice = new Promise<PsNotice>((resolve, reject) => {
          this.waiting.set(key, resolve);
          timer = setTimeout(() => reject(new CollectiveTimeoutError(where, step, [spec.shard], this.timeoutMs)), this.timeoutMs);
        });
        try {
          const h = headers();
          h.set(PushHeaders.worker, this.worker);
          h.set(PushHeaders.step, String(step));
          h.set(PushHeaders.version, String(versions[k]!));
          h.set(PushHeaders.dtype, dtype);
          h.set(PushHeaders.shape, spec.shapeHash);
          const part = grad.subarray(spec.offset, spec.offset + spec.size);
          const ack = await this.js.publish(psNames.grad(this.job, spec.shard), new Uint8Array(part.buffer, part.byteOffset, part.byteLength).slice(), {
            msgID: pushMsgId(this.worker, step),
            headers: h,
          });
          if (ack.duplicate) {
            notice.catch(() => undefined);
            return { shard: spec.shard, status: 'duplicate', version: -1, staleness: 0, scale: 0 } satisfies PushResult;
          }
          const n = await notice;
          return { shard: spec.shard, status: n.status, version: n.version, staleness: n.staleness, scale: n.scale, ...(n.reason ? { reason: n.reason } : {}) } satisfies PushResult;
        } finally {
          clearTimeout(timer);
          this.waiting.delete(key);
        }
      }),
    );
    return results;
  }

  /** Unsubscribe (the connection stays open: it belongs to the caller). */
  async close(): Promise<void> {
    if (!this.sub.isClosed()) this.sub.unsubscribe();
  }
}
