/**
 * The federated rounds' wire protocol: subjects, the JetStream stream and key-value bucket, the task record, the
 * binary update format, and the server's validation of every update (§3.6 of the design note).
 *
 * @packageDocumentation
 */
import { type FloatArray, InvalidOptionError } from '@opt/tensor';
import { PayloadRejectedError } from '../errors.js';
import { fnv1a } from '../wire.js';

/** Subjects, stream and bucket names of one federated job. */
export interface FederatedNames {
  /** JetStream stream holding tasks and updates: `FL_<job>`, subjects `fl.<job>.>`. */
  stream: string;
  /** Key-value bucket with the models (`model.<round>`), the current task (`task`) and registrations (`client.<id>`). */
  bucket: string;
  /** `fl.<job>.<round>.task` */
  task(round: number): string;
  /** `fl.<job>.<round>.update.<clientId>` */
  update(round: number, clientId: string): string;
  /** Filter of every update of the job: `fl.<job>.*.update.>` */
  updates: string;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** The names of job `job` (letters, digits, `_`, `-`). */
export function federatedNames(job: string): FederatedNames {
  if (!NAME.test(job)) throw new InvalidOptionError('job', job, 'letters, digits, _ and - (1 to 64 characters)', 'federated');
  return {
    stream: `FL_${job}`,
    bucket: `fl_${job}`,
    task: (round) => `fl.${job}.${round}.task`,
    update: (round, clientId) => `fl.${job}.${round}.update.${clientId}`,
    updates: `fl.${job}.*.update.>`,
  };
}

/** Check a client id (letters, digits, `_`, `-`: it is a subject token and part of the JetStream message id). */
export function checkClientId(clientId: string): string {
  if (!NAME.test(clientId)) throw new InvalidOptionError('clientId', clientId, 'letters, digits, _ and - (1 to 64 characters)', 'federated');
  return clientId;
}

/** The JetStream header carrying a message's id (`Nats-Msg-Id`), which clients set to `<clientId>.<round>`. */
export const MSG_ID_HEADER = 'Nats-Msg-Id';

/**
 * Check that an update's claimed sender matches its subject: the message id a client publishes with (the
 * `Nats-Msg-Id` header, also JetStream's deduplication key) must be `<clientId>.<round>` or
 * `<clientId>.<round>.<nonce>` for the client and round of the subject `fl.<job>.<round>.update.<clientId>` and
 * the update header's nonce.
 *
 * NATS messages carry no sender identity: the subject is the sender's identity, and nats-server's per-user publish
 * permission on `fl.<job>.*.update.<clientId>` (see `federatedPermissions` of `@opt/distributed/node`) is what
 * authenticates it. This check adds that a message must not claim another identity than its subject, so a client
 * cannot pass off a copy of another client's message under its own subject. (The form with the nonce is
 * unpredictable to other clients; with the short form a client could publish first under another client's message
 * id, which JetStream's deduplication would then hold against that client's own update.)
 *
 * @param subject - the subject the update arrived on.
 * @param msgId - the message's `Nats-Msg-Id` header (undefined or empty when absent).
 * @param nonce - the update header's nonce, for the long form.
 * @returns the client id.
 * @throws {@link PayloadRejectedError} with reason `'authentication'` when the subject is not an update subject or
 * the message id is missing or names another client, round or nonce.
 */
export function checkUpdateSender(subject: string, msgId: string | undefined, nonce?: number): string {
  const tokens = subject.split('.');
  const clientId = tokens[4] ?? '';
  if (tokens.length !== 5 || tokens[0] !== 'fl' || tokens[3] !== 'update' || !NAME.test(clientId) || !/^[0-9]+$/.test(tokens[2]!)) {
    throw new PayloadRejectedError('authentication', `${subject} is not an update subject`);
  }
  const expected = `${clientId}.${tokens[2]}`;
  if (msgId !== expected && (nonce === undefined || msgId !== `${expected}.${nonce}`)) {
    throw new PayloadRejectedError('authentication', `the update on ${subject} carries message id ${msgId ? JSON.stringify(msgId) : '(none)'}, not ${JSON.stringify(expected)}`);
  }
  return clientId;
}

/** The model's element type on the wire. */
export type ModelDType = 'float32' | 'float64';

/** What the server publishes at the start of a round (`fl.<job>.<round>.task`, and the bucket key `task`). */
export interface FederatedTask {
  job: string;
  round: number;
  /** The model version the updates must be computed from (the number of rounds aggregated so far). */
  modelVersion: number;
  /** Bucket key of the model bytes. */
  modelKey: string;
  dtype: ModelDType;
  /** Number of model values. */
  numel: number;
  /** FNV-1a hash of dtype and shapes (see {@link modelShapeHash}). */
  shapeHash: number;
  /** The clients asked to train this round. */
  sampled: string[];
  /** Updates arriving after this time (ms since the epoch) are not waited for. */
  deadline: number;
  /** Free-form settings for the clients (local epochs, learning rate, …). */
  config: Record<string, unknown>;
}

/** FNV-1a hash of a model's dtype and parameter shapes: the receiver's shape check. */
export function modelShapeHash(dtype: ModelDType, shapes: readonly (readonly number[])[]): number {
  return fnv1a(`${dtype}|${shapes.map((s) => s.join('x')).join(',')}`);
}

/** Bytes of the update header. */
export const UPDATE_HEADER_BYTES = 32;
const UPDATE_MAGIC = 0x31554c46; // "FLU1"

/** The header fields of an update (see {@link encodeUpdate}). */
export interface UpdateHeader {
  round: number;
  modelVersion: number;
  shapeHash: number;
  numExamples: number;
  /** Random per (client, round): a replayed message carries a nonce already seen. */
  nonce: number;
}

/**
 * One update message: a 32-byte little-endian header (magic "FLU1", round, model version, shape hash, numel, dtype
 * code 0 float32 / 1 float64, 3 bytes padding, numExamples, nonce), then the update Δ = w_client − w_global.
 */
export function encodeUpdate(h: UpdateHeader, update: FloatArray): Uint8Array {
  const bpe = update.BYTES_PER_ELEMENT;
  const out = new Uint8Array(UPDATE_HEADER_BYTES + update.length * bpe);
  const v = new DataView(out.buffer);
  v.setUint32(0, UPDATE_MAGIC, true);
  v.setUint32(4, h.round, true);
  v.setUint32(8, h.modelVersion, true);
  v.setUint32(12, h.shapeHash, true);
  v.setUint32(16, update.length, true);
  v.setUint8(20, bpe === 8 ? 1 : 0);
  v.setUint32(24, h.numExamples, true);
  v.setUint32(28, h.nonce, true);
  for (let i = 0; i < update.length; i++) {
    if (bpe === 8) v.setFloat64(UPDATE_HEADER_BYTES + 8 * i, update[i]!, true);
    else v.setFloat32(UPDATE_HEADER_BYTES + 4 * i, update[i]!, true);
  }
  return out;
}

/** What the server expects of an update in the current round. */
export interface UpdateExpectation {
  round: number;
  modelVersion: number;
  dtype: ModelDType;
  numel: number;
  shapeHash: number;
  /** Largest accepted message in bytes. */
  maxUpdateBytes: number;
  /** Largest accepted ‖Δ‖₂ (Infinity: no bound). */
  maxNorm: number;
}

/** A validated update. */
export interface DecodedUpdate {
  header: UpdateHeader;
  /** Δ in float64. */
  update: Float64Array;
  /** ‖Δ‖₂. */
  norm: number;
}

/**
 * Validate and decode an update message. Checks, in order: size cap, header (magic, length), stale round or model
 * version, dtype, shape hash and length, non-finite values (one scan that also computes the norm), norm bound.
 *
 * @throws {@link PayloadRejectedError} with reason `'size'`, `'header'`, `'stale'`, `'dtype'`, `'shape'`,
 * `'non-finite'` or `'norm'`; nothing of a rejected update is returned.
 */
export function decodeUpdate(msg: Uint8Array, expect: UpdateExpectation): DecodedUpdate {
  if (msg.length > expect.maxUpdateBytes) throw new PayloadRejectedError('size', `${msg.length} bytes exceed maxUpdateBytes = ${expect.maxUpdateBytes}`);
  if (msg.length < UPDATE_HEADER_BYTES) throw new PayloadRejectedError('header', `a ${msg.length}-byte message is shorter than the update header`);
  const v = new DataView(msg.buffer, msg.byteOffset, msg.length);
  if (v.getUint32(0, true) !== UPDATE_MAGIC) throw new PayloadRejectedError('header', 'bad magic number');
  const header: UpdateHeader = {
    round: v.getUint32(4, true),
    modelVersion: v.getUint32(8, true),
    shapeHash: v.getUint32(12, true),
    numExamples: v.getUint32(24, true),
    nonce: v.getUint32(28, true),
  };
  if (header.round !== expect.round || header.modelVersion !== expect.modelVersion) {
    throw new PayloadRejectedError('stale', `computed for round ${header.round} at model version ${header.modelVersion}; the server is at round ${expect.round}, version ${expect.modelVersion}`);
  }
  const code = v.getUint8(20);
  const dtype = code === 0 ? 'float32' : code === 1 ? 'float64' : null;
  if (dtype !== expect.dtype) throw new PayloadRejectedError('dtype', `dtype code ${code}, expected ${expect.dtype}`);
  const numel = v.getUint32(16, true);
  if (header.shapeHash !== expect.shapeHash || numel !== expect.numel) {
    throw new PayloadRejectedError('shape', `shape hash ${header.shapeHash} with ${numel} values; the model's is ${expect.shapeHash} with ${expect.numel}`);
  }
  const bpe = dtype === 'float64' ? 8 : 4;
  if (msg.length !== UPDATE_HEADER_BYTES + numel * bpe) throw new PayloadRejectedError('size', `${msg.length} bytes for ${numel} ${dtype} values`);
  const update = new Float64Array(numel);
  let sq = 0;
  for (let i = 0; i < numel; i++) {
    const x = bpe === 8 ? v.getFloat64(UPDATE_HEADER_BYTES + 8 * i, true) : v.getFloat32(UPDATE_HEADER_BYTES + 4 * i, true);
    update[i] = x;
    sq += x * x;
  }
  // A NaN or ±Inf anywhere makes the sum of squares non-finite, so one test after the scan covers every element;
  // only then is the offending index looked for (a finite sum that overflowed is a norm violation instead).
  if (!Number.isFinite(sq)) {
    let at = 0;
    while (at < numel && Number.isFinite(update[at]!)) at++;
    if (at < numel) throw new PayloadRejectedError('non-finite', `value ${update[at]} at index ${at}`);
    throw new PayloadRejectedError('norm', `‖Δ‖ overflows float64 (bound ${expect.maxNorm})`);
  }
  const norm = Math.sqrt(sq);
  if (norm > expect.maxNorm) throw new PayloadRejectedError('norm', `‖Δ‖ = ${norm} exceeds ${expect.maxNorm}`);
  return { header, update, norm };
}

/** Model bytes in the bucket: the values, little-endian, in the model's dtype. */
export function encodeModel(weights: FloatArray): Uint8Array {
  const out = new Uint8Array(weights.length * weights.BYTES_PER_ELEMENT);
  const v = new DataView(out.buffer);
  for (let i = 0; i < weights.length; i++) {
    if (weights instanceof Float64Array) v.setFloat64(8 * i, weights[i]!, true);
    else v.setFloat32(4 * i, weights[i]!, true);
  }
  return out;
}

/** Inverse of {@link encodeModel}. */
export function decodeModel(bytes: Uint8Array, dtype: ModelDType, numel: number): FloatArray {
  const bpe = dtype === 'float64' ? 8 : 4;
  if (bytes.length !== numel * bpe) throw new PayloadRejectedError('size', `model of ${bytes.length} bytes, expected ${numel} ${dtype} values`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const out = dtype === 'float64' ? new Float64Array(numel) : new Float32Array(numel);
  for (let i = 0; i < numel; i++) out[i] = bpe === 8 ? v.getFloat64(8 * i, true) : v.getFloat32(4 * i, true);
  return out;
}
