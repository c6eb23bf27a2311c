/**
 * The chunk format of `NatsCollective`: a 40-byte little-endian header followed by the payload, and CRC-32.
 *
 * @packageDocumentation
 */
import { PayloadRejectedError } from './errors.js';

/** A copy of `bytes` in a fresh buffer (`Buffer#slice`, what Node's transports hand out, is a view, not a copy). */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}

let crcTable: Int32Array | null = null;

function table(): Int32Array {
  if (crcTable !== null) return crcTable;
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  crcTable = t;
  return t;
}

/**
 * CRC-32 (IEEE 802.3, reflected polynomial `0xEDB88320`, as in zlib and PNG) of `bytes`, as an unsigned integer.
 *
 * @example
 * ```ts
 * crc32(new TextEncoder().encode('123456789')); // 0xcbf43926
 * ```
 */
export function crc32(bytes: Uint8Array): number {
  const t = table();
  let c = -1;
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** Bytes of the chunk header. */
export const CHUNK_HEADER_BYTES = 40;
const MAGIC = 0x3154504f; // "OPT1"

/** What a chunk carries. */
export const ChunkKind = { reduceInput: 1, reduced: 2, broadcast: 3, gather: 4, barrier: 5 } as const;

/** The decoded header of one chunk (see {@link encodeChunk}). */
export interface ChunkHeader {
  /** 32-bit FNV-1a hash of the job name. */
  job: number;
  /** Membership epoch of the sender. */
  epoch: number;
  /** The operation's sequence number on every rank (the "step" of the collective). */
  step: number;
  /** Sending rank. */
  from: number;
  /** One of {@link ChunkKind}. */
  kind: number;
  /** Element type: 0 float32, 1 float64, 2 float16, 3 bfloat16, 255 bytes. */
  dtype: number;
  /** Reduction: 0 sum, 1 mean, 2 max, 3 min. */
  op: number;
  /** Offset of the chunk in the whole buffer, in elements (bytes for gathers). */
  offset: number;
  /** Length of the chunk, in elements (bytes for gathers). */
  length: number;
  /** Length of the whole buffer, in elements (bytes for gathers): the receiver's shape check. */
  total: number;
  /** CRC-32 of the payload (0 when checksums are off). */
  crc: number;
}

/** 32-bit FNV-1a of a string (job names in headers). */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * One message: header, then `payload`. Layout (little-endian): magic u32, job u32, epoch u32, step u32, from u16,
 * kind u8, dtype u8, offset u32, length u32, total u32, crc u32, op u8, 3 bytes of padding; payload at byte 40.
 */
export function encodeChunk(h: Omit<ChunkHeader, 'crc'>, payload: Uint8Array, checksum: boolean): Uint8Array {
  const out = new Uint8Array(CHUNK_HEADER_BYTES + payload.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, MAGIC, true);
  v.setUint32(4, h.job, true);
  v.setUint32(8, h.epoch, true);
  v.setUint32(12, h.step, true);
  v.setUint16(16, h.from, true);
  v.setUint8(18, h.kind);
  v.setUint8(19, h.dtype);
  v.setUint32(20, h.offset, true);
  v.setUint32(24, h.length, true);
  v.setUint32(28, h.total, true);
  v.setUint32(32, checksum ? crc32(payload) : 0, true);
  v.setUint8(36, h.op);
  out.set(payload, CHUNK_HEADER_BYTES);
  return out;
}

/**
 * Parse and verify a message: magic, job, length and (when `checksum`) CRC-32.
 *
 * @throws {@link PayloadRejectedError} with reason `'header'`, `'size'` or `'checksum'`.
 */
export function decodeChunk(msg: Uint8Array, job: number, checksum: boolean): { header: ChunkHeader; payload: Uint8Array } {
  if (msg.length < CHUNK_HEADER_BYTES) throw new PayloadRejectedError('header', `a ${msg.length}-byte message is shorter than the header`);
  const v = new DataView(msg.buffer, msg.byteOffset, CHUNK_HEADER_BYTES);
  if (v.getUint32(0, true) !== MAGIC) throw new PayloadRejectedError('header', 'bad magic number');
  const header: ChunkHeader = {
    job: v.getUint32(4, true),
    epoch: v.getUint32(8, true),
    step: v.getUint32(12, true),
    from: v.getUint16(16, true),
    kind: v.getUint8(18),
    dtype: v.getUint8(19),
    offset: v.getUint32(20, true),
    length: v.getUint32(24, true),
    total: v.getUint32(28, true),
    crc: v.getUint32(32, true),
    op: v.getUint8(36),
  };
  if (header.job !== job) throw new PayloadRejectedError('header', `job hash ${header.job} is not this job's ${job}`);
  const payload = msg.subarray(CHUNK_HEADER_BYTES);
  const bpe = header.dtype === 255 ? 1 : header.dtype === 1 ? 8 : header.dtype === 0 ? 4 : 2;
  if (header.dtype > 3 && header.dtype !== 255) throw new PayloadRejectedError('dtype', `unknown dtype code ${header.dtype}`);
  if (payload.length !== header.length * bpe || header.offset + header.length > header.total) {
    throw new PayloadRejectedError('size', `chunk of ${payload.length} bytes does not match its header (${header.length} elements at ${header.offset} of ${header.total})`);
  }
  if (checksum && crc32(payload) !== header.crc) throw new PayloadRejectedError('checksum', `CRC-32 mismatch in a chunk from rank ${header.from}`);
  return { header, payload };
}
