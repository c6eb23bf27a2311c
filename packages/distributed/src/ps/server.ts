/**
 * `ParameterServer`: one shard of an asynchronous parameter server on JetStream.
 *
 * @packageDocumentation
 */
import type { Optimizer, OptimizerStateDict } from '@opt/core';
import { type ConsumerMessages, type JetStreamManager, type JsMsg, AckPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { nanos } from '@nats-io/nats-core';
import { type FloatArray, InvalidOptionError, OptError, type Parameter } from '@opt/tensor';
import { type PayloadRejection, PayloadRejectedError } from '../errors.js';
import { type ShardSpec, type StalenessPolicy, PushHeaders, aligned, encodeShardValue, partitionKeys, psNames, shapeHash } from './layout.js';

/** Options of {@link ParameterServer.start}. */
export interface ParameterServerOptions {
  /** An open NATS connection (JetStream enabled on the server). */
  connection: NatsConnection;
  /** Job name: letters, digits, `_` and `-`. */
  job: string;
  /** This server's shard, in `[0, numShards)`. */
  shard: number;
  /** Number of shard servers (default 1). */
  numShards?: number;
  /**
   * The WHOLE model, in key order (every server gets the same list; names are the keys). This server keeps the
   * parameters of its key range ({@link partitionKeys}) and ignores the others.
   */
  parameters: readonly Parameter[];
  /** Builds the optimizer that applies updates to this shard's parameters (any `@opt/core` optimizer). */
  optimizer: (params: Parameter[]) => Optimizer<object>;
  /** Staleness bound τ ≥ 0 in versions (default 0). */
  tau?: number;
  /** What happens to an update older than τ (default `'reject'`). */
  policy?: StalenessPolicy;
  /** Largest accepted gradient payload in bytes (default: the shard's size, i.e. exactly one gradient). */
  maxUpdateBytes?: number;
  /** Shards above this many bytes are published in chunks of this size (default 512 KiB). */
  kvMaxBytes?: number;
  /** Resume from {@link ParameterServer.stateDict} (parameters, version, optimizer state, replay guard). */
  state?: ParameterServerState;
  /** Keep at most this many entries in {@link ParameterServer.log} (default 100 000). */
  logLimit?: number;
}

/** One processed update, in the server's version log. */
export interface PsLogEntry {
  worker: string;
  step: number;
  /** Version the gradient was computed at (from the push). */
  computedAt: number;
  /** Version before this update was processed. */
  serverVersion: number;
  /** `serverVersion − computedAt`. */
  staleness: number;
  status: 'applied' | 'rejected';
  /** Learning-rate factor used (`1/(1 + staleness)` under `'scale'` beyond τ, else 1). */
  scale: number;
  reason?: PayloadRejection;
}

/** A notice the server sends a worker after processing its push (core NATS, `opt.<job>.ps.<shard>.notice.<worker>`). */
export interface PsNotice {
  shard: number;
  step: number;
  status: 'applied' | 'rejected';
  /** The shard's version after processing. */
  version: number;
  staleness: number;
  scale: number;
  reason?: PayloadRejection;
  message?: string;
}

/** Counters of a shard server. */
export interface ParameterServerReport {
  shard: number;
  version: number;
  applied: number;
  /** Applied with a reduced learning rate (policy `'scale'`). */
  scaled: number;
  rejected: Record<PayloadRejection, number>;
  /** Largest staleness among applied updates. */
  maxAppliedStaleness: number;
}

/** The saved state of a shard server. */
export interface ParameterServerState {
  format: '@opt/ps-shard';
  shard: number;
  numShards: number;
  shapeHash: string;
  version: number;
  /** The shard's parameter values, flat, in key order (exact float values). */
  parameters: number[];
  optimizer: OptimizerStateDict;
  /** Highest step seen per worker (the replay guard). */
  lastSteps: Record<string, number>;
}

function emptyCounts(): Record<PayloadRejection, number> {
  return { header: 0, size: 0, dtype: 0, shape: 0, checksum: 0, 'non-finite': 0, authentication: 0, stale: 0, replay: 0, norm: 0 };
}

interface LeaseRequest {
  worker: string;
  lastStep: number;
  reply: (version: number) => void;
}

const WORKER_RE = /^[A-Za-z0-9_-]{1,64}$/;
const INT_RE = /^(0|[1-9][0-9]{0,15})$/;

/**
 * One shard of an asynchronous parameter server (stale-synchronous parallel, Ho et al. 2013) on JetStream.
 *
 * - **Sharding.** The model's parameters (keys) are split into `numShards` contiguous key ranges
 *   ({@link partitionKeys}); server k owns range k and an `@opt/core` optimizer over it.
 * - **Versioned pulls.** After every applied update (version v → v + 1) the server publishes its values with
 *   their version to the KV bucket `opt_<job>_ps` (key `shard-<k>`; above `kvMaxBytes`, in chunks
 *   `shard-<k>.c<i>` written before the head, each carrying the version so readers detect a torn read).
 * - **Pushed gradients** arrive on the work-queue stream `OPT_PS_<job>_<k>` (subject `opt.<job>.ps.<k>.grad`), with
 *   message id `<worker>:<step>` (the stream drops duplicates inside its 2-minute window) and headers worker, step,
 *   version, dtype and shape hash. Each is validated, applied (or rejected), THEN acknowledged, and the worker is
 *   notified.
 * - **Staleness.** An update computed at version u, processed at version v, has staleness `s = v − u`. With
 *   `s ≤ τ` it is applied. Beyond τ: `'reject'` drops it (the worker re-pulls), `'scale'` applies it with the
 *   learning rate times `1/(1 + s)` (Zhang et al. 2016's staleness-aware rate), `'block'` cannot happen because
 *   workers take a lease before pulling: the server grants a lease at version v only when, for every lease
 *   holder h (the new one included), `(v − base_h) + (holders − 1) ≤ τ`, so no holder's update can be more than τ
 *   versions old; fast workers wait. With τ = 0 and `'block'` the workers take turns: every gradient is computed
 *   on the current parameters, and the run equals sequential SGD over the same mini-batches in the log's order.
 * - **Validation** (each rejection is a `PayloadRejectedError` reason counted in {@link ParameterServer.report}
 *   and logged; nothing rejected touches the parameters): malformed header (`'header'`), oversized (`'size'`),
 *   dtype, shape hash or length (`'shape'`), NaN/±Inf (`'non-finite'`), staleness beyond τ or a version from the
 *   future (`'stale'`), a step not newer than the worker's last (`'replay'`).
 *
 * @example
 * ```ts
 * const server = await ParameterServer.start({
 *   connection, job: 'ps-1', shard: 0, numShards: 1, parameters: [w],
 *   optimizer: (params) => new SGD(params, { lr: 0.1 }), tau: 2, policy: 'reject',
 * });
 * // … workers push …
 * console.log(server.report());
 * await server.stop();
 * ```
 */
export class ParameterServer {
  /** This server's shard description (also published as `meta-<shard>`). */
  readonly spec: ShardSpec;
  /** The optimizer applying updates. */
  readonly optimizer: Optimizer<object>;
  /** The shard's parameters. */
  readonly parameters: readonly Parameter[];
  /** The version log (most recent last). */
  readonly log: PsLogEntry[] = [];
  private readonly nc: NatsConnection;
  private readonly job: string;
  private kv!: KV;
  private jsm!: JetStreamManager;
  private messages: ConsumerMessages | null = null;
  private leaseSub: Subscription | null = null;
  private loop: Promise<void> | null = null;
  private currentVersion = 0;
  private readonly lastSteps = new Map<string, number>();
  private readonly holders = new Map<string, number>();
  private readonly leaseQueue: LeaseRequest[] = [];
  private readonly counts = { applied: 0, scaled: 0, rejected: emptyCounts(), maxAppliedStaleness: 0 };
  private readonly maxUpdateBytes: number;
  private readonly logLimit: number;
  private readonly flat: FloatArray;
  private readonly bpe: number;
  private stopped = false;
  /** An update is being processed: leases wait until its values are published. */
  private busy = false;

  private constructor(o: ParameterServerOptions) {
    const where = 'ParameterServer';
    if (typeof o.job !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(o.job)) throw new InvalidOptionError('job', o.job, '1 to 64 letters, digits, "_" or "-"', where);
    const numShards = o.numShards ?? 1;
    const ranges = partitionKeys(
      o.parameters.map((p) => p.size),
      numShards,
    );
    if (!Number.isInteger(o.shard) || o.shard < 0 || o.shard >= numShards) throw new InvalidOptionError('shard', o.shard, `an integer in [0, ${numShards})`, where);
    const tau = o.tau ?? 0;
    if (!Number.isInteger(tau) || tau < 0) throw new InvalidOptionError('tau', tau, 'an integer >= 0', where);
    const policy = o.policy ?? 'reject';
    if (policy !== 'reject' && policy !== 'scale' && policy !== 'block') throw new InvalidOptionError('policy', policy, "'reject', 'scale' or 'block'", where);
    const [lo, hi] = ranges[o.shard]!;
    const params = o.parameters.slice(lo, hi);
    const dtype = params[0]!.dtype;
    for (const p of params) if (p.dtype !== dtype) throw new InvalidOptionError('parameters', p.dtype, `one dtype per shard (${dtype})`, where);
    const keys = params.map((p, i) => p.label(`#${lo + i}`));
    const shapes = params.map((p) => [...p.shape]);
    const size = params.reduce((a, p) => a + p.size, 0);
    let offset = 0;
    for (let i = 0; i < lo; i++) offset += o.parameters[i]!.size;
    this.bpe = dtype === 'float64' ? 8 : 4;
    const kvMaxBytes = o.kvMaxBytes ?? 512 * 1024;
    if (!Number.isInteger(kvMaxBytes) || kvMaxBytes < 8 || kvMaxBytes % 8 !== 0) throw new InvalidOptionError('kvMaxBytes', kvMaxBytes, 'a positive multiple of 8', where);
    this.spec = {
      shard: o.shard,
      numShards,
      keys,
      shapes,
      dtype,
      size,
      offset,
      shapeHash: shapeHash(keys, shapes, dtype),
      tau,
      policy,
      storage: size * this.bpe > kvMaxBytes ? 'chunked' : 'kv',
      chunkBytes: kvMaxBytes,
    };
    this.maxUpdateBytes = o.maxUpdateBytes ?? size * this.bpe;
    this.logLimit = o.logLimit ?? 100_000;
    this.nc = o.connection;
    this.job = o.job;
    this.parameters = params;
    // One contiguous copy of the shard for publishing; the optimizer steps the parameters themselves.
    this.flat = dtype === 'float64' ? new Float64Array(size) : new Float32Array(size);
    for (const p of params) p.ensureGrad();
    this.optimizer = o.optimizer(params);
    if (policy === 'scale') {
      for (const g of this.optimizer.paramGroups) {
        if (typeof (g as unknown as { lr?: unknown }).lr !== 'number') throw new InvalidOptionError('optimizer', this.optimizer.name, "an optimizer with an 'lr' option (policy 'scale')", where);
      }
    }
    if (o.state !== undefined) this.loadStateDict(o.state);
  }

  /**
   * Create the shard's stream, consumer and bucket entries, publish the shard description and version 0 (or the
   * resumed state), and start serving. Resolves once workers can pull.
   */
  static async start(options: ParameterServerOptions): Promise<ParameterServer> {
    const s = new ParameterServer(options);
    await s.open();
    return s;
  }

  /** Number of updates applied (the shard's parameter version). */
  get version(): number {
    return this.currentVersion;
  }

  private async open(): Promise<void> {
    const { job, spec } = this;
    this.kv = await new Kvm(this.nc).create(psNames.bucket(job), { history: 1 });
    this.jsm = await jetstreamManager(this.nc);
    const stream = psNames.stream(job, spec.shard);
    await this.jsm.streams.add({
      name: stream,
      subjects: [psNames.grad(job, spec.shard)],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      duplicate_window: nanos(120_000),
    });
    await this.jsm.consumers.add(stream, { durable_name: 'server', ack_policy: AckPolicy.Explicit, ack_wait: nanos(60_000), max_deliver: -1 });
    await this.publishValues();
    await this.kv.put(`meta-${spec.shard}`, JSON.stringify(spec));
    if (spec.policy === 'block') {
      this.leaseSub = this.nc.subscribe(psNames.lease(job, spec.shard), {
        callback: (err, msg) => {
          if (err !== null) return;
          try {
            const req = JSON.parse(new TextDecoder().decode(msg.data)) as { worker: string; lastStep: number };
            if (typeof req.worker !== 'string' || !WORKER_RE.test(req.worker) || !Number.isInteger(req.lastStep)) return;
            this.leaseQueue.push({ worker: req.worker, lastStep: req.lastStep, reply: (version) => msg.respond(JSON.stringify({ version })) });
            this.grantLeases();
          } catch {
            // a malformed lease request gets no answer: the worker's request times out
          }
        },
      });
    }
    const consumer = await jetstream(this.nc).consumers.get(stream, 'server');
    const messages = await consumer.consume({ max_messages: 64 });
    this.messages = messages;
    this.loop = (async () => {
      for await (const m of messages) {
        if (this.stopped) break;
        this.busy = true;
        try {
          await this.handle(m);
        } finally {
          this.busy = false;
        }
        this.grantLeases();
      }
    })();
  }

  /** Grant queued leases in FIFO order while the staleness bound allows (policy `'block'`). */
  private grantLeases(): void {
    if (this.busy) return;
    const tau = this.spec.tau;
    const v = this.currentVersion;
    // A holder asking again (it pulled without pushing) is re-granted at once: its base only moves forward, which
    // loosens nobody's bound, and queueing it behind workers waiting for its own lease would deadlock.
    for (let i = 0; i < this.leaseQueue.length; i++) {
      const req = this.leaseQueue[i]!;
      if (this.holders.has(req.worker) && (this.lastSteps.get(req.worker) ?? -1) >= req.lastStep) {
        this.leaseQueue.splice(i--, 1);
        this.holders.set(req.worker, v);
        req.reply(v);
      }
    }
    while (this.leaseQueue.length > 0) {
      const req = this.leaseQueue[0]!;
      // The worker's previous push must be processed first, or its next gradient would count it as stale.
      if ((this.lastSteps.get(req.worker) ?? -1) < req.lastStep) break;
      const n = this.holders.size + (this.holders.has(req.worker) ? 0 : 1);
      let ok = n - 1 <= tau;
      for (const [w, base] of this.holders) if (w !== req.worker && v - base + (n - 1) > tau) ok = false;
      if (!ok) break;
      this.leaseQueue.shift();
      this.holders.set(req.worker, v);
      req.reply(v);
    }
  }

  private reject(m: JsMsg | null, entry: Omit<PsLogEntry, 'status' | 'scale'> | null, error: PayloadRejectedError, worker: string | null): void {
    this.counts.rejected[error.reason]++;
    if (entry !== null) this.pushLog({ ...entry, status: 'rejected', scale: 0, reason: error.reason });
    if (worker !== null) {
      this.holders.delete(worker);
      const notice: PsNotice = {
        shard: this.spec.shard,
        step: entry?.step ?? -1,
        status: 'rejected',
        version: this.currentVersion,
        staleness: entry?.staleness ?? 0,
        scale: 0,
        reason: error.reason,
        message: error.message,
      };
      this.nc.publish(psNames.notice(this.job, this.spec.shard, worker), JSON.stringify(notice));
    }
    m?.ack();
  }

  private pushLog(e: PsLogEntry): void {
    this.log.push(e);
    if (this.log.length > this.logLimit) this.log.splice(0, this.log.length - this.logLimit);
  }

  /** Validate, apply (or reject), publish, acknowledge, notify. */
  private async handle(m: JsMsg): Promise<void> {
    const h = m.headers;
    const worker = h?.get(PushHeaders.worker) ?? '';
    const stepText = h?.get(PushHeaders.step) ?? '';
    const versionText = h?.get(PushHeaders.version) ?? '';
    const knownWorker = WORKER_RE.test(worker) ? worker : null;
    if (knownWorker === null || !INT_RE.test(stepText) || !INT_RE.test(versionText)) {
      this.reject(m, null, new PayloadRejectedError('header', `push without valid ${PushHeaders.worker}/${PushHeaders.step}/${PushHeaders.version} headers`), knownWorker);
      return;
    }
    const step = Number(stepText);
    const computedAt = Number(versionText);
    const v = this.currentVersion;
    const base = { worker, step, computedAt, serverVersion: v, staleness: v - computedAt };
    const { spec } = this;
    const data = m.data;
    if (data.length > this.maxUpdateBytes) {
      this.reject(m, base, new PayloadRejectedError('size', `${data.length} bytes exceed the limit of ${this.maxUpdateBytes}`), worker);
      return;
    }
    if (h!.get(PushHeaders.dtype) !== spec.dtype) {
      this.reject(m, base, new PayloadRejectedError('dtype', `dtype ${h!.get(PushHeaders.dtype) || '(none)'}, the shard holds ${spec.dtype}`), worker);
      return;
    }
    if (h!.get(PushHeaders.shape) !== spec.shapeHash || data.length !== spec.size * this.bpe) {
      this.reject(m, base, new PayloadRejectedError('shape', `shape hash ${h!.get(PushHeaders.shape) || '(none)'} / ${data.length} bytes, the shard is ${spec.shapeHash} / ${spec.size * this.bpe} bytes`), worker);
      return;
    }
    const last = this.lastSteps.get(worker);
    if (last !== undefined && step <= last) {
      this.reject(m, base, new PayloadRejectedError('replay', `step ${step} of worker ${worker} is not newer than its step ${last}`), worker);
      return;
    }
    this.lastSteps.set(worker, step);
    if (computedAt > v) {
      this.reject(m, base, new PayloadRejectedError('stale', `version ${computedAt} is ahead of the shard's ${v}`), worker);
      return;
    }
    const bytes = aligned(data, this.bpe);
    const grad = this.bpe === 8 ? new Float64Array(bytes.buffer, bytes.byteOffset, spec.size) : new Float32Array(bytes.buffer, bytes.byteOffset, spec.size);
    for (let i = 0; i < grad.length; i++) {
      const x = grad[i]!;
      if (x - x !== 0) {
        this.reject(m, base, new PayloadRejectedError('non-finite', `element ${i} is ${x}`), worker);
        return;
      }
    }
    const staleness = v - computedAt;
    let scale = 1;
    if (staleness > spec.tau) {
      if (spec.policy === 'scale') scale = 1 / (1 + staleness);
      else {
        this.reject(m, base, new PayloadRejectedError('stale', `staleness ${staleness} exceeds tau = ${spec.tau}`), worker);
        return;
      }
    }
    let o = 0;
    for (const p of this.parameters) {
      p.grad!.set(grad.subarray(o, o + p.size));
      o += p.size;
    }
    this.step(scale);
    this.currentVersion = v + 1;
    this.counts.applied++;
    if (scale !== 1) this.counts.scaled++;
    if (staleness > this.counts.maxAppliedStaleness) this.counts.maxAppliedStaleness = staleness;
    this.pushLog({ ...base, status: 'applied', scale });
    this.holders.delete(worker);
    await this.publishValues();
    m.ack();
    const notice: PsNotice = { shard: spec.shard, step, status: 'applied', version: this.currentVersion, staleness, scale };
    this.nc.publish(psNames.notice(this.job, spec.shard, worker), JSON.stringify(notice));
  }

  /** One optimizer step, with every group's learning rate multiplied by `scale` for this step only. */
  private step(scale: number): void {
    if (scale === 1) {
      this.optimizer.step();
      return;
    }
    const groups = this.optimizer.paramGroups as unknown as Array<{ lr: number }>;
    const saved = groups.map((g) => g.lr);
    for (const g of groups) g.lr = g.lr * scale;
    try {
      this.optimizer.step();
    } finally {
      groups.forEach((g, i) => (g.lr = saved[i]!));
    }
  }

  /** Publish the shard's values at the current version (chunks first, then the head, when chunked). */
  private async publishValues(): Promise<void> {
    let o = 0;
    for (const p of this.parameters) {
      this.flat.set(p.data, o);
      o += p.size;
    }
    const { spec } = this;
    const dtype = this.bpe === 8 ? 1 : 0;
    const bytes = new Uint8Array(this.flat.buffer, this.flat.byteOffset, this.flat.byteLength);
    if (spec.storage === 'kv') {
      await this.kv.put(`shard-${spec.shard}`, encodeShardValue({ shard: spec.shard, version: this.currentVersion, offset: 0, length: spec.size, chunks: 0, dtype }, bytes));
      return;
    }
    const per = spec.chunkBytes / this.bpe;
    const chunks = Math.ceil(spec.size / per);
    for (let c = 0; c < chunks; c++) {
      const a = c * per;
      const len = Math.min(per, spec.size - a);
      await this.kv.put(
        `shard-${spec.shard}.c${c}`,
        encodeShardValue({ shard: spec.shard, version: this.currentVersion, offset: a, length: len, chunks: 0, dtype }, bytes.subarray(a * this.bpe, (a + len) * this.bpe)),
      );
    }
    await this.kv.put(`shard-${spec.shard}`, encodeShardValue({ shard: spec.shard, version: this.currentVersion, offset: 0, length: 0, chunks, dtype }, new Uint8Array(0)));
  }

  /** Counters: applied, scaled, rejections by reason, the largest applied staleness, the version. */
  report(): ParameterServerReport {
    return {
      shard: this.spec.shard,
      version: this.currentVersion,
      applied: this.counts.applied,
      scaled: this.counts.scaled,
      rejected: { ...this.counts.rejected },
      maxAppliedStaleness: this.counts.maxAppliedStaleness,
    };
  }

  /** The shard's state: values, version, optimizer state dict and replay guard (JSON-serialisable). */
  stateDict(): ParameterServerState {
    const values: number[] = [];
    for (const p of this.parameters) for (let i = 0; i < p.size; i++) values.push(p.data[i]!);
    return {
      format: '@opt/ps-shard',
      shard: this.spec.shard,
      numShards: this.spec.numShards,
      shapeHash: this.spec.shapeHash,
      version: this.currentVersion,
      parameters: values,
      optimizer: this.optimizer.stateDict(),
      lastSteps: Object.fromEntries(this.lastSteps),
    };
  }

  /**
   * Restore {@link ParameterServer.stateDict} (call before serving, or pass it as `state` to `start`).
   *
   * @throws `OptError` (code `PS_STATE_MISMATCH`) when the state is of another shard or model.
   */
  loadStateDict(state: ParameterServerState): void {
    const { spec } = this;
    if (state.format !== '@opt/ps-shard' || state.shard !== spec.shard || state.numShards !== spec.numShards || state.shapeHash !== spec.shapeHash || state.parameters.length !== spec.size) {
      throw new OptError('PS_STATE_MISMATCH', `ParameterServer.loadStateDict: the state is not of shard ${spec.shard}/${spec.numShards} with shape hash ${spec.shapeHash}`);
    }
    this.optimizer.loadStateDict(state.optimizer);
    let o = 0;
    for (const p of this.parameters) {
      for (let i = 0; i < p.size; i++) p.data[i] = state.parameters[o + i]!;
      o += p.size;
    }
    this.currentVersion = state.version;
    this.lastSteps.clear();
    for (const [w, s] of Object.entries(state.lastSteps)) this.lastSteps.set(w, s);
  }

  /** Stop consuming (pending pushes stay in the stream for the next server of this shard) and release subscriptions. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.leaseSub?.unsubscribe();
    await this.messages?.close().catch(() => undefined);
    await this.loop?.catch(() => undefined);
  }
}
