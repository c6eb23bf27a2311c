/**
 * The federated server: rounds on JetStream (tasks, durable updates with message-id deduplication), the model in a
 * key-value bucket, client sampling, deadlines and minimum participation, validation of every update.
 *
 * @packageDocumentation
 */
import { type NatsConnection, nanos } from '@nats-io/nats-core';
import { AckPolicy, type Consumer, type JetStreamClient, type JetStreamManager, StorageType, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { type FloatArray, InvalidOptionError, Rng } from '@opt/tensor';
import { type PayloadRejection, PayloadRejectedError } from '../errors.js';
import { InvalidConfigurationError, RoundFailedError, SecAggProtocolError } from './errors.js';
import { WeightedMean } from './robust.js';
import { type SecAggCurve, detectCurve } from './secagg.js';
import { type SecAggTaskConfig, runSecureRoundServer } from './secagg-nats.js';
import {
  type FederatedNames,
  type FederatedTask,
  MSG_ID_HEADER,
  type ModelDType,
  UPDATE_HEADER_BYTES,
  checkUpdateSender,
  decodeUpdate,
  encodeModel,
  federatedNames,
  modelShapeHash,
} from './protocol.js';
import { type ClientResult, FedAvg, type FederatedStrategy } from './strategies.js';

/** Options of {@link FederatedServer.create}. */
export interface FederatedServerOptions {
  /** An open connection (Node: `connect` of `@nats-io/transport-node`; browsers: `wsconnect`). */
  connection: NatsConnection;
  /** Job name (letters, digits, `_`, `-`). */
  job: string;
  /** The global model, flat; updated in place after every aggregated round. */
  model: FloatArray;
  /** The parameters' shapes (default one flat vector); part of the shape hash clients must match. */
  shapes?: number[][];
  /** Aggregation strategy (default {@link FedAvg}). */
  strategy?: FederatedStrategy;
  /** Clients sampled per round (default: every registered client). */
  clientsPerRound?: number;
  /** Fewest accepted updates a round needs (default 1); fewer at the deadline fail it with {@link RoundFailedError}. */
  minClients?: number;
  /** Time a round waits for updates, in ms (default 30 s). */
  roundTimeoutMs?: number;
  /** Largest update message accepted (default: header + model bytes). */
  maxUpdateBytes?: number;
  /** Reject updates with ‖Δ‖₂ above this (default Infinity). */
  maxUpdateNorm?: number;
  /** Seed of client sampling (default 0). */
  seed?: number;
  /** Settings sent to the clients with every task. */
  config?: Record<string, unknown>;
  /** JetStream's deduplication window in ms (default 2 minutes): a republished update inside it is dropped. */
  duplicateWindowMs?: number;
  /**
   * Secure aggregation (Bonawitz et al. 2017) of the sampled clients' updates: the server learns only their sum
   * and applies the strategy to their unweighted mean. Needs the plain weighted mean as the strategy's aggregator
   * (robust rules need individual updates) and no `maxUpdateNorm` (the server cannot see norms).
   */
  secureAggregation?: SecureAggregationOptions;
}

/** Settings of secure aggregation in federated rounds. */
export interface SecureAggregationOptions {
  /** t: survivors needed (and shares needed to recover a secret). */
  threshold: number;
  /** Fixed-point clipping bound of every coordinate (default 16). */
  clip?: number;
  /** Fixed-point scale (default 2¹⁶). */
  scale?: number;
  /** ECDH curve (default: X25519 where this runtime has it, else P-256; every client must support it). */
  curve?: SecAggCurve;
  /** Time each of the four protocol phases waits for the clients, in ms (default a quarter of `roundTimeoutMs`). */
  phaseTimeoutMs?: number;
}

/** One rejected update in a {@link RoundReport}. */
export interface RejectedUpdate {
  clientId: string;
  reason: PayloadRejection;
  message: string;
}

/** What happened in one round. */
export interface RoundReport {
  round: number;
  /** The model version the round trained from. */
  modelVersion: number;
  sampled: string[];
  /** Clients whose updates were aggregated, in arrival order. */
  accepted: string[];
  rejected: RejectedUpdate[];
  /** Rejections by reason. */
  rejections: Partial<Record<PayloadRejection, number>>;
  /** `'complete'` when every sampled client's update arrived, `'deadline'` otherwise. */
  closedBy: 'complete' | 'deadline';
  /** ‖aggregate‖₂ of the accepted updates (before the server optimizer). */
  aggregateNorm: number;
  /** The strategy's name. */
  strategy: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs federated rounds over NATS JetStream. A round:
 *
 * 1. samples `clientsPerRound` of the registered clients (bucket keys `client.<id>`) with a seeded `Rng`;
 * 2. stores the model in the job's key-value bucket (`model.<round>`) and publishes the task to
 *    `fl.<job>.<round>.task` (JetStream, message id `task.<round>`) and the bucket key `task`;
 * 3. consumes `fl.<job>.*.update.>` through a durable pull consumer until every sampled client's update arrived or
 *    the deadline passed; every update is validated ({@link decodeUpdate}: size, header, stale round or version,
 *    dtype, shape hash, NaN/Inf, norm), checked for replays (one update per client and round, fresh nonce), for
 *    its sender ({@link checkUpdateSender}: the message id must name the subject's client) and sampling, and
 *    acknowledged; rejections are counted in the {@link RoundReport};
 * 4. aggregates the accepted updates with the strategy, if at least `minClients` were accepted.
 *
 * Updates live in the stream, so those published before a crash of nats-server (or of this server: the consumer is
 * durable) are still consumed afterwards; JetStream's message-id deduplication (`<client>.<round>`) drops
 * republished copies, and the replay check catches any copy outside the window, so each is aggregated once.
 *
 * @example
 * ```ts
 * const server = await FederatedServer.create({ connection, job: 'digits', model: weights, minClients: 2 });
 * await server.waitForClients(3, 10_000);
 * const report = await server.runRound();
 * ```
 */
export class FederatedServer {
  /** The global model (updated in place). */
  readonly model: FloatArray;
  /** The strategy. */
  readonly strategy: FederatedStrategy;
  /** The job's names. */
  readonly names: FederatedNames;
  /** The next round's number (rounds start at 1). */
  round = 1;
  /** Rounds aggregated so far: the current model version. */
  modelVersion = 0;
  private readonly nc: NatsConnection;
  private readonly job: string;
  private readonly js: JetStreamClient;
  private readonly jsm: JetStreamManager;
  private readonly kv: KV;
  private readonly dtype: ModelDType;
  private readonly hash: number;
  private readonly clientsPerRound: number | null;
  private readonly minClients: number;
  private readonly roundTimeoutMs: number;
  private readonly maxUpdateBytes: number;
  private readonly maxUpdateNorm: number;
  private readonly config: Record<string, unknown>;
  private readonly rng: Rng;
  private readonly secure: SecureAggregationOptions | null;
  private consumer: Consumer | null = null;
  private secureConsumer: Consumer | null = null;
  private curve: SecAggCurve = 'P-256';
  private current: FederatedTask | null = null;
  /** (client, round) pairs already aggregated or rejected as replays, and nonces seen. */
  private readonly seen = new Set<string>();

  private constructor(o: FederatedServerOptions, js: JetStreamClient, jsm: JetStreamManager, kv: KV, names: FederatedNames) {
    this.nc = o.connection;
    this.job = o.job;
    this.model = o.model;
    this.strategy = o.strategy ?? new FedAvg();
    this.names = names;
    this.js = js;
    this.jsm = jsm;
    this.kv = kv;
    this.dtype = o.model instanceof Float64Array ? 'float64' : 'float32';
    this.hash = modelShapeHash(this.dtype, o.shapes ?? [[o.model.length]]);
    this.clientsPerRound = o.clientsPerRound ?? null;
    this.minClients = o.minClients ?? 1;
    this.roundTimeoutMs = o.roundTimeoutMs ?? 30000;
    this.maxUpdateBytes = o.maxUpdateBytes ?? UPDATE_HEADER_BYTES + o.model.length * o.model.BYTES_PER_ELEMENT;
    this.maxUpdateNorm = o.maxUpdateNorm ?? Infinity;
    this.config = o.config ?? {};
    this.rng = new Rng(o.seed ?? 0);
    this.secure = o.secureAggregation ?? null;
  }

  /** Create the job's stream, bucket and durable consumer (or reuse them) and return the server. */
  static async create(options: FederatedServerOptions): Promise<FederatedServer> {
    const names = federatedNames(options.job);
    const where = 'FederatedServer';
    const size = options.shapes?.reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
    if (size !== undefined && size !== options.model.length) throw new InvalidOptionError('shapes', options.shapes, `shapes holding ${options.model.length} values`, where);
    if (options.clientsPerRound !== undefined && (!Number.isInteger(options.clientsPerRound) || options.clientsPerRound < 1)) {
      throw new InvalidOptionError('clientsPerRound', options.clientsPerRound, 'an integer >= 1', where);
    }
    if (options.minClients !== undefined && (!Number.isInteger(options.minClients) || options.minClients < 1)) {
      throw new InvalidOptionError('minClients', options.minClients, 'an integer >= 1', where);
    }
    if (options.roundTimeoutMs !== undefined && !(options.roundTimeoutMs > 0)) throw new InvalidOptionError('roundTimeoutMs', options.roundTimeoutMs, 'a number > 0', where);
    if (options.secureAggregation !== undefined) {
      if (options.strategy !== undefined && !(options.strategy.aggregator instanceof WeightedMean)) {
        throw new InvalidConfigurationError(where, 'the weighted mean as aggregator with secure aggregation', `${options.strategy.aggregator.name} needs the individual updates, which secure aggregation hides`);
      }
      if (options.maxUpdateNorm !== undefined) throw new InvalidConfigurationError(where, 'no maxUpdateNorm with secure aggregation', 'the server never sees an individual update');
    }
    const jsm = await jetstreamManager(options.connection);
    const streamConfig = {
      name: names.stream,
      subjects: [`fl.${options.job}.>`],
      storage: StorageType.File,
      duplicate_window: nanos(options.duplicateWindowMs ?? 120000),
    };
    try {
      await jsm.streams.info(names.stream);
    } catch {
      await jsm.streams.add(streamConfig);
    }
    const kv = await new Kvm(options.connection).create(names.bucket, { history: 1 });
    const server = new FederatedServer(options, jetstream(options.connection), jsm, kv, names);
    await jsm.consumers.add(names.stream, { durable_name: 'server', ack_policy: AckPolicy.Explicit, filter_subject: names.updates, ack_wait: nanos(30000) });
    server.consumer = await server.js.consumers.get(names.stream, 'server');
    if (options.secureAggregation !== undefined) {
      await jsm.consumers.add(names.stream, { durable_name: 'server-secagg', ack_policy: AckPolicy.Explicit, filter_subject: `fl.${options.job}.*.sa.>`, ack_wait: nanos(30000) });
      server.secureConsumer = await server.js.consumers.get(names.stream, 'server-secagg');
      server.curve = options.secureAggregation.curve ?? (await detectCurve());
    }
    return server;
  }

  /** Registered client ids (bucket keys `client.<id>`), sorted. */
  async clients(): Promise<string[]> {
    const ids: string[] = [];
    for await (const key of await this.kv.keys('client.*')) ids.push(key.slice('client.'.length));
    return ids.sort();
  }

  /** Wait until at least `count` clients are registered; returns them. */
  async waitForClients(count: number, timeoutMs = 30000): Promise<string[]> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const ids = await this.clients();
      if (ids.length >= count) return ids;
      if (Date.now() > end) throw new RoundFailedError(this.round, ids.length, count, 'clients registered before the timeout');
      await sleep(50);
    }
  }

  /** Sample clients, store the model and publish the round's task (steps 1 and 2 of a round). */
  async startRound(): Promise<FederatedTask> {
    const registered = await this.clients();
    const k = Math.min(this.clientsPerRound ?? registered.length, registered.length);
    // Partial Fisher–Yates with the seeded generator: the same seed samples the same clients.
    const pool = registered.slice();
    for (let i = 0; i < k; i++) {
      const j = i + this.rng.int(pool.length - i);
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
    }
    const sampled = pool.slice(0, k).sort();
    const modelKey = `model.${this.round}`;
    await this.kv.put(modelKey, encodeModel(this.model));
    const task: FederatedTask = {
      job: this.job,
      round: this.round,
      modelVersion: this.modelVersion,
      modelKey,
      dtype: this.dtype,
      numel: this.model.length,
      shapeHash: this.hash,
      sampled,
      deadline: Date.now() + this.roundTimeoutMs,
      config: this.secure === null ? this.config : { ...this.config, secagg: this.secureTaskConfig(k) },
    };
    const bytes = new TextEncoder().encode(JSON.stringify(task));
    await this.js.publish(this.names.task(this.round), bytes, { msgID: `task.${this.round}` });
    await this.kv.put('task', bytes);
    this.current = task;
    return task;
  }

  private secureTaskConfig(sampled: number): SecAggTaskConfig {
    const s = this.secure!;
    return { threshold: s.threshold, clip: s.clip ?? 16, scale: s.scale ?? 65536, maxClients: Math.max(sampled, s.threshold), curve: this.curve };
  }

  /** The secure variant of steps 3 and 4: the four protocol phases, then the mean of the survivors' updates. */
  private async collectSecure(task: FederatedTask, rejected: RejectedUpdate[]): Promise<ClientResult[]> {
    const config = task.config.secagg as SecAggTaskConfig;
    try {
      const result = await runSecureRoundServer({
        job: this.job,
        round: task.round,
        sampled: task.sampled,
        config,
        numel: task.numel,
        js: this.js,
        kv: this.kv,
        consumer: this.secureConsumer!,
        phaseTimeoutMs: this.secure!.phaseTimeoutMs ?? this.roundTimeoutMs / 4,
        reject: (clientId, reason, message) => rejected.push({ clientId, reason, message }),
      });
      const mean = result.sum.map((x) => x / result.survivors.length);
      // One result per survivor, each carrying the mean: the strategy's weighted mean of them is that mean.
      return result.survivors.map((k) => ({ clientId: task.sampled[k - 1]!, update: mean, numExamples: 1 }));
    } catch (e) {
      if (e instanceof SecAggProtocolError) return [];
      throw e;
    }
  }

  /**
   * Collect, validate and aggregate the current round's updates (steps 3 and 4), then advance the round.
   *
   * @throws {@link RoundFailedError} when fewer than `minClients` updates were accepted by the deadline (the model
   * is untouched; the round still advances, so late updates are rejected as stale).
   */
  async finishRound(): Promise<RoundReport> {
    const task = this.current;
    if (task === null) throw new RoundFailedError(this.round, 0, this.minClients, 'finishRound() before startRound()');
    const sampled = new Set(task.sampled);
    const accepted: ClientResult[] = [];
    const rejected: RejectedUpdate[] = [];
    const expectation = {
      round: task.round,
      modelVersion: task.modelVersion,
      dtype: task.dtype,
      numel: task.numel,
      shapeHash: task.shapeHash,
      maxUpdateBytes: this.maxUpdateBytes,
      maxNorm: this.maxUpdateNorm,
    };
    if (this.secure !== null) accepted.push(...(await this.collectSecure(task, rejected)));
    while (this.secure === null && accepted.length < sampled.size) {
      const left = task.deadline - Date.now();
      if (left <= 0) break;
      let m;
      try {
        m = await this.consumer!.next({ expires: Math.max(1000, Math.min(left, 5000)) });
      } catch {
        // The connection is down (e.g. nats-server restarting): the updates wait in the stream; retry.
        await sleep(100);
        continue;
      }
      if (m === null) continue;
      const tokens = m.subject.split('.');
      const clientId = tokens[4] ?? '';
      try {
        const decoded = decodeUpdate(m.data, expectation);
        const key = `${clientId}.${task.round}`;
        if (this.seen.has(key) || this.seen.has(`nonce.${clientId}.${decoded.header.nonce}`)) {
          throw new PayloadRejectedError('replay', `a second update from ${clientId} in round ${task.round}`);
        }
        checkUpdateSender(m.subject, m.headers?.get(MSG_ID_HEADER), decoded.header.nonce);
        if (!sampled.has(clientId)) throw new PayloadRejectedError('authentication', `${clientId} was not sampled for round ${task.round}`);
        this.seen.add(key);
        this.seen.add(`nonce.${clientId}.${decoded.header.nonce}`);
        accepted.push({ clientId, update: decoded.update, numExamples: decoded.header.numExamples });
      } catch (e) {
        if (!(e instanceof PayloadRejectedError)) throw e;
        rejected.push({ clientId, reason: e.reason, message: e.message });
      }
      m.ack();
    }
    const rejections: Partial<Record<PayloadRejection, number>> = {};
    for (const r of rejected) rejections[r.reason] = (rejections[r.reason] ?? 0) + 1;
    const finished = this.round;
    this.round++;
    this.current = null;
    await this.kv.delete(`model.${finished - 1}`).catch(() => undefined);
    if (accepted.length < this.minClients) throw new RoundFailedError(finished, accepted.length, this.minClients, `${rejected.length} rejected`);
    const agg = this.strategy.apply(this.model, accepted);
    this.modelVersion++;
    let sq = 0;
    for (const x of agg) sq += x * x;
    return {
      round: finished,
      modelVersion: task.modelVersion,
      sampled: task.sampled,
      accepted: accepted.map((a) => a.clientId),
      rejected,
      rejections,
      closedBy: accepted.length === sampled.size ? 'complete' : 'deadline',
      aggregateNorm: Math.sqrt(sq),
      strategy: this.strategy.name,
    };
  }

  /** One whole round: {@link FederatedServer.startRound} then {@link FederatedServer.finishRound}. */
  async runRound(): Promise<RoundReport> {
    await this.startRound();
    return this.finishRound();
  }

  /** Publish a final `done` task so that clients looping in `run()` stop, and leave the connection open. */
  async finish(): Promise<void> {
    await this.kv.put('task', new TextEncoder().encode(JSON.stringify({ job: this.job, done: true, round: this.round })));
  }

  /** Delete the job's stream and bucket (the end of a job whose history is not needed). */
  async destroy(): Promise<void> {
    await this.jsm.streams.delete(this.names.stream).catch(() => undefined);
    await new Kvm(this.nc).open(this.names.bucket).then((kv) => kv.destroy()).catch(() => undefined);
  }
}
