/**
 * The federated client: browser-safe (the connection is passed in: `connect` of `@nats-io/transport-node` in Node,
 * `wsconnect` of `@nats-io/nats-core` in browsers).
 *
 * @packageDocumentation
 */
import type { NatsConnection } from '@nats-io/nats-core';
import { type JetStreamClient, jetstream } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { type FloatArray, ShapeMismatchError } from '@opt/tensor';
import { PayloadRejectedError } from '../errors.js';
import { type FederatedNames, type FederatedTask, checkClientId, decodeModel, encodeUpdate, federatedNames } from './protocol.js';
import { type SecAggTaskConfig, runSecureRoundClient } from './secagg-nats.js';

/** What local training returns: the new local weights (or directly the update Δ) and the examples used. */
export interface LocalTrainingResult {
  /** The locally trained weights; the client sends Δ = weights − global. Give this or `update`. */
  weights?: FloatArray;
  /** The update Δ itself. */
  update?: FloatArray;
  /** Examples trained on (FedAvg's weight). */
  numExamples: number;
}

/** Local training: receives a fresh copy of the global model and the task. */
export type LocalTrainer = (model: FloatArray, task: FederatedTask) => LocalTrainingResult | Promise<LocalTrainingResult>;

/** Options of {@link FederatedClient.create}. */
export interface FederatedClientOptions {
  /** An open connection (Node: `connect` of `@nats-io/transport-node`; browsers: `wsconnect` of `@nats-io/nats-core`). */
  connection: NatsConnection;
  /** Job name, as the server's. */
  job: string;
  /** This client's id (letters, digits, `_`, `-`). */
  clientId: string;
  /** Local training. */
  train: LocalTrainer;
  /** How often the current task is polled, in ms (default 50). */
  pollMs?: number;
}

/** The outcome of taking part in a round. */
export interface ParticipationResult {
  round: number;
  /** Whether the round used secure aggregation. */
  secure: boolean;
  /** Secure rounds: whether the server listed this client as a survivor (its update is in the sum). */
  included: boolean;
  /** Plain rounds: the publish outcome (null for secure rounds). */
  publish: PublishResult | null;
}

/** The outcome of publishing one update. */
export interface PublishResult {
  /** JetStream found the message id (`<client>.<round>`) already stored: this copy was dropped. */
  duplicate: boolean;
  /** The stream sequence of the (first) stored copy. */
  seq: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A federated client: registers in the job's bucket (`client.<id>`), waits for tasks that sample it, fetches the
 * model, trains locally and publishes Δ = w_local − w_global to `fl.<job>.<round>.update.<id>` with JetStream
 * message id `<id>.<round>`, retrying until the stream acknowledges it (a retry after a lost acknowledgement is
 * deduplicated by the stream, never counted twice).
 *
 * @example
 * ```ts
 * const client = await FederatedClient.create({
 *   connection, job: 'digits', clientId: 'phone-1',
 *   train: (model) => ({ weights: trainLocally(model), numExamples: 120 }),
 * });
 * await client.run(); // until the server finishes the job
 * ```
 */
export class FederatedClient {
  /** This client's id. */
  readonly clientId: string;
  /** The last round this client took part in (0: none). */
  lastRound = 0;
  private readonly job: string;
  private readonly names: FederatedNames;
  private readonly js: JetStreamClient;
  private readonly kv: KV;
  private readonly trainer: LocalTrainer;
  private readonly pollMs: number;
  private stopped = false;
  /** The nonce of the latest round published: a republish of that round reuses it, so the stream drops the copy. */
  private roundNonce: { round: number; nonce: number } | null = null;

  private constructor(o: FederatedClientOptions, kv: KV) {
    this.clientId = checkClientId(o.clientId);
    this.job = o.job;
    this.names = federatedNames(o.job);
    this.js = jetstream(o.connection);
    this.kv = kv;
    this.trainer = o.train;
    this.pollMs = o.pollMs ?? 50;
  }

  /** Open the job's bucket (created by the server) and register. */
  static async create(options: FederatedClientOptions): Promise<FederatedClient> {
    checkClientId(options.clientId);
    const kv = await new Kvm(options.connection).open(federatedNames(options.job).bucket);
    const client = new FederatedClient(options, kv);
    await kv.put(`client.${client.clientId}`, new TextEncoder().encode(JSON.stringify({ clientId: client.clientId })));
    return client;
  }

  /** The current task record, or null when there is none (or the connection is momentarily down). */
  private async currentTask(): Promise<(FederatedTask & { done?: boolean }) | null> {
    try {
      const entry = await this.kv.get('task');
      if (entry === null || entry.operation !== 'PUT') return null;
      return JSON.parse(new TextDecoder().decode(entry.value)) as FederatedTask & { done?: boolean };
    } catch {
      return null;
    }
  }

  /**
   * Wait for a task newer than {@link FederatedClient.lastRound} that samples this client and whose deadline has not
   * passed; null when the server finished the job or `timeoutMs` ran out.
   */
  async nextTask(timeoutMs = 60000): Promise<FederatedTask | null> {
    const end = Date.now() + timeoutMs;
    while (!this.stopped && Date.now() < end) {
      const task = await this.currentTask();
      if (task?.done === true) return null;
      if (task !== null && task.round > this.lastRound && task.deadline > Date.now() && task.sampled.includes(this.clientId)) return task;
      await sleep(this.pollMs);
    }
    return null;
  }

  /** Fetch the task's model and run local training; returns Δ and the example count. */
  async train(task: FederatedTask): Promise<{ update: FloatArray; numExamples: number }> {
    const entry = await this.kv.get(task.modelKey);
    if (entry === null) throw new PayloadRejectedError('stale', `the model of round ${task.round} is no longer stored`);
    const global = decodeModel(entry.value, task.dtype, task.numel);
    const result = await this.trainer(global.slice(), task);
    let update = result.update;
    if (update === undefined) {
      const w = result.weights;
      if (w === undefined) throw new ShapeMismatchError('FederatedClient: local training returned neither weights nor update');
      update = task.dtype === 'float64' ? new Float64Array(w.length) : new Float32Array(w.length);
      for (let i = 0; i < w.length; i++) update[i] = w[i]! - global[i]!;
    }
    if (update.length !== task.numel) throw new ShapeMismatchError(`FederatedClient: local training returned ${update.length} values for a model of ${task.numel}`);
    return { update, numExamples: result.numExamples };
  }

  /**
   * Publish an update for `task` (message id `<client>.<round>.<nonce>`), retrying every 200 ms until the stream
   * acknowledges it or the task's deadline passes.
   *
   * @param nonce - the replay nonce (default: random, drawn once per round, so publishing the same round again, after
   *   a lost acknowledgement say, repeats the message id and the stream de-duplicates it).
   */
  async publishUpdate(task: FederatedTask, update: FloatArray, numExamples: number, nonce?: number): Promise<PublishResult> {
    if (nonce === undefined && this.roundNonce?.round !== task.round) {
      this.roundNonce = { round: task.round, nonce: globalThis.crypto.getRandomValues(new Uint32Array(1))[0]! };
    }
    const n = nonce ?? this.roundNonce!.nonce;
    const bytes = encodeUpdate({ round: task.round, modelVersion: task.modelVersion, shapeHash: task.shapeHash, numExamples, nonce: n }, update);
    const subject = this.names.update(task.round, this.clientId);
    // The unpredictable nonce in the id: with `<id>.<round>` another client could publish first under this client's id
    // (rejected by the server, but JetStream's de-duplication would then drop this client's real update).
    const msgID = `${this.clientId}.${task.round}.${n}`;
    for (;;) {
      try {
        const ack = await this.js.publish(subject, bytes, { msgID, timeout: 2000 });
        this.lastRound = Math.max(this.lastRound, task.round);
        return { duplicate: ack.duplicate, seq: ack.seq };
      } catch (e) {
        if (Date.now() > task.deadline) throw e;
        await sleep(200);
      }
    }
  }

  /**
   * Train on `task` and publish the update, or, when the task asks for secure aggregation, run the protocol's four
   * phases with the update as input.
   */
  async participate(task: FederatedTask): Promise<ParticipationResult> {
    const { update, numExamples } = await this.train(task);
    const secagg = task.config.secagg as SecAggTaskConfig | undefined;
    if (secagg === undefined) {
      const publish = await this.publishUpdate(task, update, numExamples);
      return { round: task.round, secure: false, included: !publish.duplicate, publish };
    }
    const included = await runSecureRoundClient(
      { job: this.job, round: task.round, clientId: this.clientId, sampled: task.sampled, config: secagg, js: this.js, kv: this.kv, deadline: task.deadline, pollMs: this.pollMs },
      update,
    );
    this.lastRound = Math.max(this.lastRound, task.round);
    return { round: task.round, secure: true, included, publish: null };
  }

  /** Wait for the next task that samples this client and take part in it; null when there was none. */
  async runOnce(timeoutMs = 60000): Promise<ParticipationResult | null> {
    const task = await this.nextTask(timeoutMs);
    return task === null ? null : this.participate(task);
  }

  /** Take part in rounds until the server finishes the job, {@link FederatedClient.stop} is called, or no task comes within `idleTimeoutMs`. */
  async run(idleTimeoutMs = 60000): Promise<number> {
    let rounds = 0;
    while (!this.stopped) {
      const task = await this.nextTask(idleTimeoutMs);
      if (task === null) break;
      await this.participate(task);
      rounds++;
    }
    return rounds;
  }

  /** Make {@link FederatedClient.run} return after the current round. */
  stop(): void {
    this.stopped = true;
  }

  /** Unregister from the job. */
  async leave(): Promise<void> {
    this.stop();
    await this.kv.delete(`client.${this.clientId}`);
  }

  /** The job's name. */
  get jobName(): string {
    return this.job;
  }
}
