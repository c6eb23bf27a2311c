/**
 * Secure aggregation over NATS: the four rounds of {@link SecAggClient} / {@link SecAggServer} carried by the
 * job's JetStream stream (client → server, subjects `fl.<job>.<round>.sa.<phase>.<clientId>`, message id
 * `<clientId>.<round>.<phase>`) and key-value bucket (server → clients, keys `sa.<round>.roster`,
 * `sa.<round>.inbox.<clientId>`, `sa.<round>.survivors`).
 *
 * @packageDocumentation
 */
import type { Consumer, JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { type PayloadRejection, PayloadRejectedError } from '../errors.js';
import { SecAggProtocolError } from './errors.js';
import {
  type AdvertiseKeysMessage,
  type MaskedInputMessage,
  type SecAggConfig,
  type SecAggCurve,
  SecAggClient,
  type SecAggResult,
  SecAggServer,
  type ShareKeysMessage,
  type UnmaskMessage,
  type EncryptedShare,
  fromBase64,
  toBase64,
} from './secagg.js';

/** The secure-aggregation settings a task carries (`task.config.secagg`). */
export interface SecAggTaskConfig {
  threshold: number;
  clip: number;
  scale: number;
  maxClients: number;
  curve: SecAggCurve;
}

/** The protocol phases, in order, as subject tokens. */
export const SECAGG_PHASES = ['keys', 'shares', 'masked', 'unmask'] as const;

/** Encode a protocol message as JSON, byte arrays as base64 (`{"$b": …}`, `{"$u32": …}`). */
export function encodeSecAggMessage(message: unknown): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify(message, (_key, value: unknown) => {
      if (value instanceof Uint32Array) return { $u32: toBase64(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)) };
      if (value instanceof Uint8Array) return { $b: toBase64(value) };
      return value;
    }),
  );
}

/** Inverse of {@link encodeSecAggMessage}. */
export function decodeSecAggMessage<T>(bytes: Uint8Array): T {
  return JSON.parse(new TextDecoder().decode(bytes), (_key, value: unknown) => {
    if (value !== null && typeof value === 'object') {
      const v = value as { $b?: string; $u32?: string };
      if (typeof v.$b === 'string') return fromBase64(v.$b);
      if (typeof v.$u32 === 'string') {
        const b = fromBase64(v.$u32);
        return new Uint32Array(b.buffer, b.byteOffset, b.byteLength >>> 2);
      }
    }
    return value;
  }) as T;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function sessionConfig(job: string, round: number, c: SecAggTaskConfig): SecAggConfig {
  return { sessionId: `${job}.${round}`, threshold: c.threshold, clip: c.clip, scale: c.scale, maxClients: c.maxClients, curve: c.curve };
}

/** What the server side of one secure round needs. */
export interface SecureRoundServerContext {
  job: string;
  round: number;
  /** Sampled client ids, sorted: client k gets the protocol id k + 1. */
  sampled: readonly string[];
  config: SecAggTaskConfig;
  numel: number;
  js: JetStreamClient;
  kv: KV;
  consumer: Consumer;
  /** Per-phase wait, in ms. */
  phaseTimeoutMs: number;
  /** Called with every rejected message. */
  reject: (clientId: string, reason: PayloadRejection, message: string) => void;
}

/**
 * The server's side of a secure round: collect each phase's messages (until every expected client sent one or the
 * phase times out), relay the results through the bucket, and return the unmasked sum.
 *
 * @throws {@link SecAggProtocolError} when a phase ends with fewer than t clients.
 */
export async function runSecureRoundServer(ctx: SecureRoundServerContext): Promise<SecAggResult> {
  const server = await SecAggServer.create(sessionConfig(ctx.job, ctx.round, ctx.config));
  const idOf = new Map(ctx.sampled.map((c, k) => [c, k + 1]));
  const early = new Map<string, Map<string, Uint8Array>>();
  const collect = async (phase: string, expected: ReadonlySet<string>): Promise<Map<string, Uint8Array>> => {
    const got = early.get(phase) ?? new Map<string, Uint8Array>();
    early.delete(phase);
    const end = Date.now() + ctx.phaseTimeoutMs;
    while (got.size < expected.size && Date.now() < end) {
      let m;
      try {
        m = await ctx.consumer.next({ expires: Math.max(1000, Math.min(end - Date.now(), 5000)) });
      } catch {
        await sleep(100);
        continue;
      }
      if (m === null) continue;
      const [, , roundToken, , phaseToken, clientId = ''] = m.subject.split('.');
      m.ack();
      if (Number(roundToken) !== ctx.round) {
        ctx.reject(clientId, 'stale', `secure-aggregation message for round ${roundToken} in round ${ctx.round}`);
      } else if (!idOf.has(clientId)) {
        ctx.reject(clientId, 'authentication', `${clientId} was not sampled for round ${ctx.round}`);
      } else if (phaseToken !== phase) {
        const bucket = early.get(phaseToken!) ?? new Map<string, Uint8Array>();
        if (bucket.has(clientId)) ctx.reject(clientId, 'replay', `a second ${phaseToken} message from ${clientId}`);
        else bucket.set(clientId, m.data.slice());
        early.set(phaseToken!, bucket);
      } else if (got.has(clientId)) {
        ctx.reject(clientId, 'replay', `a second ${phase} message from ${clientId}`);
      } else {
        got.set(clientId, m.data.slice());
      }
    }
    return got;
  };
  const decodeAll = <T extends { from?: number; id?: number }>(phase: string, raw: Map<string, Uint8Array>): T[] => {
    const out: T[] = [];
    for (const [clientId, bytes] of raw) {
      try {
        const msg = decodeSecAggMessage<T>(bytes);
        const claimed = msg.from ?? msg.id;
        if (claimed !== idOf.get(clientId)) throw new PayloadRejectedError('authentication', `${clientId} signed its ${phase} message as ${String(claimed)}`);
        out.push(msg);
      } catch (e) {
        const reason = e instanceof PayloadRejectedError ? e.reason : 'header';
        ctx.reject(clientId, reason, e instanceof Error ? e.message : String(e));
      }
    }
    return out;
  };
  const byProtocolId = (ids: readonly number[]): Set<string> => new Set(ids.map((k) => ctx.sampled[k - 1]!));

  const adverts = decodeAll<AdvertiseKeysMessage>('keys', await collect('keys', new Set(ctx.sampled)));
  const roster = server.collectKeys(adverts);
  await ctx.kv.put(`sa.${ctx.round}.roster`, encodeSecAggMessage(roster));
  const shares = decodeAll<ShareKeysMessage>('shares', await collect('shares', byProtocolId(roster.map((m) => m.id))));
  const inboxes = server.routeShares(shares);
  for (const [id, inbox] of inboxes) await ctx.kv.put(`sa.${ctx.round}.inbox.${ctx.sampled[id - 1]!}`, encodeSecAggMessage(inbox));
  const maskedRaw = decodeAll<MaskedInputMessage>('masked', await collect('masked', byProtocolId([...inboxes.keys()])));
  const masked = maskedRaw.filter((m) => {
    if (m.masked instanceof Uint32Array && m.masked.length === ctx.numel) return true;
    ctx.reject(ctx.sampled[m.from - 1]!, 'shape', `masked vector of ${m.masked?.length} values for a model of ${ctx.numel}`);
    return false;
  });
  const survivors = server.collectMaskedInputs(masked);
  await ctx.kv.put(`sa.${ctx.round}.survivors`, encodeSecAggMessage(survivors));
  const unmask = decodeAll<UnmaskMessage>('unmask', await collect('unmask', byProtocolId(survivors)));
  return server.finish(unmask);
}

/** What a client's side of one secure round needs. */
export interface SecureRoundClientContext {
  job: string;
  round: number;
  clientId: string;
  sampled: readonly string[];
  config: SecAggTaskConfig;
  js: JetStreamClient;
  kv: KV;
  /** Give up waiting for the server at this time (ms since the epoch). */
  deadline: number;
  pollMs: number;
}

/**
 * A client's side of a secure round: run the four phases with `update` as its input. Returns false when the
 * server did not list this client as a survivor (its vector is not in the sum).
 */
export async function runSecureRoundClient(ctx: SecureRoundClientContext, update: ArrayLike<number>): Promise<boolean> {
  const id = ctx.sampled.indexOf(ctx.clientId) + 1;
  if (id === 0) throw new SecAggProtocolError('advertise-keys', `${ctx.clientId} is not sampled for round ${ctx.round}`);
  const client = await SecAggClient.create(id, sessionConfig(ctx.job, ctx.round, ctx.config));
  const send = async (phase: string, message: unknown): Promise<void> => {
    const subject = `fl.${ctx.job}.${ctx.round}.sa.${phase}.${ctx.clientId}`;
    for (;;) {
      try {
        await ctx.js.publish(subject, encodeSecAggMessage(message), { msgID: `${ctx.clientId}.${ctx.round}.${phase}`, timeout: 2000 });
        return;
      } catch (e) {
        if (Date.now() > ctx.deadline) throw e;
        await sleep(200);
      }
    }
  };
  const receive = async <T>(key: string): Promise<T> => {
    while (Date.now() < ctx.deadline) {
      try {
        const entry = await ctx.kv.get(key);
        if (entry !== null && entry.operation === 'PUT') return decodeSecAggMessage<T>(entry.value);
      } catch {
        // connection momentarily down: poll again
      }
      await sleep(ctx.pollMs);
    }
    throw new SecAggProtocolError('receive', `no ${key} from the server before the deadline`);
  };
  await send('keys', client.advertiseKeys());
  const roster = await receive<AdvertiseKeysMessage[]>(`sa.${ctx.round}.roster`);
  await send('shares', await client.shareKeys(roster));
  const inbox = await receive<EncryptedShare[]>(`sa.${ctx.round}.inbox.${ctx.clientId}`);
  await send('masked', await client.maskedInput(inbox, update));
  const survivors = await receive<number[]>(`sa.${ctx.round}.survivors`);
  if (!survivors.includes(id)) return false;
  await send('unmask', await client.unmask(survivors));
  return true;
}
