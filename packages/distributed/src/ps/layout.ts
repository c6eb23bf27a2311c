/**
 * How a parameter server splits a model into shards, the shard description servers publish, and the binary
 * format of published shard values.
 *
 * @packageDocumentation
 */
import { InvalidOptionError } from '@opt/tensor';
import { PayloadRejectedError } from '../errors.js';
import { fnv1a } from '../wire.js';

/** Staleness policy of a parameter server (see `ParameterServer`). */
export type StalenessPolicy = 'reject' | 'scale' | 'block';

/** What a shard server publishes about its shard (KV key `meta-<shard>` of the bucket `opt_<job>_ps`). */
export interface ShardSpec {
  /** Shard index and count. */
  shard: number;
  numShards: number;
  /** Parameter names (keys) held by this shard, in model order: a contiguous key range. */
  keys: string[];
  /** Their shapes. */
  shapes: number[][];
  /** Element type of the parameters and of the gradients the shard accepts. */
  dtype: 'float32' | 'float64';
  /** Elements in the shard, and the shard's offset in the model's flat vector. */
  size: number;
  offset: number;
  /** Hash of `key:dtype[shape]` over the shard's keys: pushes must carry it. */
  shapeHash: string;
  /** Staleness bound and policy. */
  tau: number;
  policy: StalenessPolicy;
  /** Shard values are in one KV entry (`'kv'`) or split in chunks (`'chunked'`, shards above `kvMaxBytes`). */
  storage: 'kv' | 'chunked';
  /** Bytes per chunk when chunked. */
  chunkBytes: number;
}

/**
 * Split parameters into `numShards` contiguous key ranges of about equal element counts: shard k starts at the
 * first parameter whose cumulative size reaches `k · total / numShards` (every shard gets at least one key).
 * Returns `[start, end)` index ranges.
 *
 * @example
 * ```ts
 * partitionKeys([100, 10, 10, 100], 2); // [[0, 2], [2, 4]]
 * ```
 */
export function partitionKeys(sizes: readonly number[], numShards: number): Array<[number, number]> {
  const where = 'partitionKeys';
  if (!Number.isInteger(numShards) || numShards < 1 || numShards > sizes.length) {
    throw new InvalidOptionError('numShards', numShards, `an integer in [1, ${sizes.length}] (one key at least per shard)`, where);
  }
  const total = sizes.reduce((a, b) => a + b, 0);
  const out: Array<[number, number]> = [];
  let start = 0;
  let acc = 0;
  for (let k = 1; k <= numShards; k++) {
    let end = start;
    const target = (k * total) / numShards;
    // Leave at least one key for each remaining shard.
    const maxEnd = sizes.length - (numShards - k);
    if (k === numShards) end = sizes.length;
    else {
      do {
        acc += sizes[end]!;
        end++;
      } while (end < maxEnd && acc < target);
    }
    out.push([start, end]);
    start = end;
  }
  return out;
}

/** The shape hash of a list of keys: 8 hex digits of FNV-1a over `key:dtype[shape]` joined by `;`. */
export function shapeHash(keys: readonly string[], shapes: readonly (readonly number[])[], dtype: string): string {
  const text = keys.map((k, i) => `${k}:${dtype}[${shapes[i]!.join(',')}]`).join(';');
  return fnv1a(text).toString(16).padStart(8, '0');
}

/** Bytes of the header of a published shard value. */
export const SHARD_HEADER_BYTES = 32;
const MAGIC = 0x5350504f; // "OPPS"

/** The header of a published shard value (or chunk). */
export interface ShardValueHeader {
  shard: number;
  /** Parameter version: the number of updates applied. */
  version: number;
  /** Element offset of this chunk in the shard (0 for a whole value). */
  offset: number;
  /** Elements in this value (0 for the head of a chunked value). */
  length: number;
  /** Chunks of a chunked value (in its head), else 0. */
  chunks: number;
  /** 0 float32, 1 float64. */
  dtype: number;
}

/** Encode a shard value: the 32-byte header, then the elements' bytes (little-endian, as typed arrays are). */
export function encodeShardValue(h: ShardValueHeader, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(SHARD_HEADER_BYTES + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, MAGIC, true);
  v.setUint32(4, h.shard, true);
  v.setFloat64(8, h.version, true);
  v.setUint32(16, h.offset, true);
  v.setUint32(20, h.length, true);
  v.setUint32(24, h.chunks, true);
  v.setUint8(28, h.dtype);
  out.set(data, SHARD_HEADER_BYTES);
  return out;
}

/**
 * Decode a shard value.
 *
 * @throws `PayloadRejectedError` (`'header'`, `'size'`) when it is not one.
 */
export function decodeShardValue(bytes: Uint8Array): { header: ShardValueHeader; data: Uint8Array } {
  if (bytes.length < SHARD_HEADER_BYTES) throw new PayloadRejectedError('header', `a ${bytes.length}-byte shard value is shorter than its header`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, SHARD_HEADER_BYTES);
  if (v.getUint32(0, true) !== MAGIC) throw new PayloadRejectedError('header', 'bad magic number in a shard value');
  const header: ShardValueHeader = {
    shard: v.getUint32(4, true),
    version: v.getFloat64(8, true),
    offset: v.getUint32(16, true),
    length: v.getUint32(20, true),
    chunks: v.getUint32(24, true),
    dtype: v.getUint8(28),
  };
  const data = bytes.subarray(SHARD_HEADER_BYTES);
  if (data.length !== header.length * (header.dtype === 1 ? 8 : 4)) {
    throw new PayloadRejectedError('size', `shard value of ${data.length} bytes does not match its header (${header.length} elements)`);
  }
  return { header, data };
}

/** Header names of a gradient push (NATS message headers). */
export const PushHeaders = {
  worker: 'Opt-Worker',
  step: 'Opt-Step',
  version: 'Opt-Version',
  dtype: 'Opt-Dtype',
  shape: 'Opt-Shape',
} as const;

/** The JetStream message id of a push: one per (worker, step), so the stream drops duplicates. */
export function pushMsgId(worker: string, step: number): string {
  return `${worker}:${step}`;
}

/** Subjects and bucket names of a parameter-server job. */
export const psNames = {
  grad: (job: string, shard: number | '*'): string => `opt.${job}.ps.${shard}.grad`,
  notice: (job: string, shard: number | '*', worker: string): string => `opt.${job}.ps.${shard}.notice.${worker}`,
  lease: (job: string, shard: number): string => `opt.${job}.ps.${shard}.lease`,
  stream: (job: string, shard: number): string => `OPT_PS_${job}_${shard}`,
  bucket: (job: string): string => `opt_${job}_ps`,
} as const;

/** A copy of `bytes` aligned for `bpe`-byte elements (NATS payloads usually are; a typed view needs it). */
export function aligned(bytes: Uint8Array, bpe: number): Uint8Array {
  if (bytes.byteOffset % bpe === 0) return bytes;
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}
