/**
 * Byte-level building blocks of the compressed wire formats: LEB128 varints, sign bits packed eight to a byte,
 * fixed-width bit fields, and the sparse index coding (delta-varint or bitmap, whichever is smaller).
 *
 * @packageDocumentation
 */
import { PayloadRejectedError } from '../errors.js';

/** Bytes of the LEB128 varint of `value` (an integer in `[0, 2³²)`). */
export function varintBytes(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

/**
 * Write the unsigned LEB128 varint of `value` (7 bits per byte, low bits first, high bit = "more") at `offset`;
 * returns the offset after it.
 */
export function writeVarint(out: Uint8Array, offset: number, value: number): number {
  while (value >= 0x80) {
    out[offset++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  out[offset++] = value;
  return offset;
}

/** A cursor over a received payload; every read is bounds-checked ({@link PayloadRejectedError} `'size'`). */
export class ByteReader {
  /** The bytes read. */
  readonly bytes: Uint8Array;
  /** The next byte to read. */
  offset: number;
  private readonly view: DataView;

  constructor(bytes: Uint8Array, offset = 0) {
    this.bytes = bytes;
    this.offset = offset;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private need(n: number): void {
    if (this.offset + n > this.bytes.length) {
      throw new PayloadRejectedError('size', `compressed payload truncated: ${n} more bytes needed at offset ${this.offset} of ${this.bytes.length}`);
    }
  }

  /** One byte. */
  u8(): number {
    this.need(1);
    return this.bytes[this.offset++]!;
  }

  /** A little-endian float32. */
  f32(): number {
    this.need(4);
    const v = this.view.getFloat32(this.offset, true);
    this.offset += 4;
    return v;
  }

  /** An unsigned LEB128 varint (at most 5 bytes: 32-bit values). */
  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 5; i++) {
      const b = this.u8();
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return value;
      scale *= 128;
    }
    throw new PayloadRejectedError('header', 'a varint longer than 5 bytes');
  }

  /** A view of the next `n` bytes. */
  take(n: number): Uint8Array {
    this.need(n);
    const out = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /** Throw unless every byte was consumed (trailing garbage means a malformed payload). */
  end(): void {
    if (this.offset !== this.bytes.length) {
      throw new PayloadRejectedError('size', `compressed payload has ${this.bytes.length - this.offset} unexpected trailing bytes`);
    }
  }
}

/**
 * Pack the sign bits of `x` (1 for `x[i] ≥ 0`, 0 for negative, as DeepSpeed's `sign().add(1).bool()`; −0 counts as
 * non-negative) eight to a byte, least significant bit first, into `out` (length ≥ ⌈n/8⌉) from byte `offset`.
 */
export function packSigns(x: ArrayLike<number>, n: number, out: Uint8Array, offset = 0): void {
  const full = n >> 3;
  for (let b = 0; b < full; b++) {
    const i = b << 3;
    out[offset + b] =
      (x[i]! >= 0 ? 1 : 0) |
      (x[i + 1]! >= 0 ? 2 : 0) |
      (x[i + 2]! >= 0 ? 4 : 0) |
      (x[i + 3]! >= 0 ? 8 : 0) |
      (x[i + 4]! >= 0 ? 16 : 0) |
      (x[i + 5]! >= 0 ? 32 : 0) |
      (x[i + 6]! >= 0 ? 64 : 0) |
      (x[i + 7]! >= 0 ? 128 : 0);
  }
  if ((n & 7) !== 0) {
    let byte = 0;
    for (let i = full << 3, bit = 1; i < n; i++, bit <<= 1) if (x[i]! >= 0) byte |= bit;
    out[offset + full] = byte;
  }
}

/** Bit `i` of a packed bit array (see {@link packSigns}) as ±1. */
export function signAt(bits: Uint8Array, offset: number, i: number): number {
  return (bits[offset + (i >> 3)]! >> (i & 7)) & 1 ? 1 : -1;
}

/**
 * Write `values[i]` (integers in `[0, 2^width)`) as consecutive `width`-bit fields, least significant bit first,
 * into `out` from byte `offset`; `width ≤ 24`. Returns the number of bytes used (`⌈n·width/8⌉`).
 */
export function packBits(values: ArrayLike<number>, n: number, width: number, out: Uint8Array, offset: number): number {
  let acc = 0;
  let bits = 0;
  let o = offset;
  for (let i = 0; i < n; i++) {
    acc |= values[i]! << bits;
    bits += width;
    while (bits >= 8) {
      out[o++] = acc & 0xff;
      acc >>>= 8;
      bits -= 8;
    }
  }
  if (bits > 0) out[o++] = acc & 0xff;
  return o - offset;
}

/** Read `n` fields of `width` bits written by {@link packBits} into `out`. */
export function unpackBits(bytes: Uint8Array, offset: number, n: number, width: number, out: Int32Array | Uint32Array): void {
  let acc = 0;
  let bits = 0;
  let o = offset;
  const mask = (1 << width) - 1;
  for (let i = 0; i < n; i++) {
    while (bits < width) {
      acc |= bytes[o++]! << bits;
      bits += 8;
    }
    out[i] = acc & mask;
    acc >>>= width;
    bits -= width;
  }
}

/** How a sparse payload codes its indices: 0 delta-varint, 1 bitmap. */
export const IndexCoding = { deltaVarint: 0, bitmap: 1 } as const;

/** Bytes of the delta-varint coding of sorted, distinct `indices[0..k)`: first index, then gaps − 1. */
export function deltaVarintBytes(indices: ArrayLike<number>, k: number): number {
  let bytes = 0;
  let prev = -1;
  for (let i = 0; i < k; i++) {
    bytes += varintBytes(indices[i]! - prev - 1);
    prev = indices[i]!;
  }
  return bytes;
}

/**
 * A sparse vector on the wire: `[coding u8][varint n][varint k][indices][k × float32 values]`, with the indices
 * (sorted, distinct) as delta-varints (first index, then each gap minus one) or as an `⌈n/8⌉`-byte bitmap,
 * whichever is smaller. Values are little-endian float32, in index order.
 *
 * @param indices sorted, distinct indices of the kept entries (first `k` used).
 * @param values their values (first `k` used).
 */
export function encodeSparse(n: number, indices: ArrayLike<number>, values: ArrayLike<number>, k: number): Uint8Array {
  const delta = deltaVarintBytes(indices, k);
  const bitmap = (n + 7) >> 3;
  const coding = delta <= bitmap ? IndexCoding.deltaVarint : IndexCoding.bitmap;
  const head = 1 + varintBytes(n) + varintBytes(k);
  const out = new Uint8Array(head + (coding === IndexCoding.deltaVarint ? delta : bitmap) + 4 * k);
  out[0] = coding;
  let o = writeVarint(out, 1, n);
  o = writeVarint(out, o, k);
  if (coding === IndexCoding.deltaVarint) {
    let prev = -1;
    for (let i = 0; i < k; i++) {
      o = writeVarint(out, o, indices[i]! - prev - 1);
      prev = indices[i]!;
    }
  } else {
    for (let i = 0; i < k; i++) {
      const at = o + (indices[i]! >> 3);
      out[at] = out[at]! | (1 << (indices[i]! & 7));
    }
    o += bitmap;
  }
  const view = new DataView(out.buffer);
  for (let i = 0; i < k; i++, o += 4) view.setFloat32(o, values[i]!, true);
  return out;
}

/**
 * Decode a payload of {@link encodeSparse} and ADD `scale · value` at each index into `out` (length `n`).
 *
 * @throws {@link PayloadRejectedError} when the payload is malformed or its length `n` differs from `out`'s.
 */
export function addSparse(payload: Uint8Array, out: Float32Array | Float64Array, scale = 1): void {
  const r = new ByteReader(payload);
  const coding = r.u8();
  const n = r.varint();
  const k = r.varint();
  if (n !== out.length) throw new PayloadRejectedError('shape', `sparse payload for ${n} elements, expected ${out.length}`);
  if (k > n) throw new PayloadRejectedError('header', `sparse payload keeps ${k} of ${n} elements`);
  const idx = new Int32Array(k);
  if (coding === IndexCoding.deltaVarint) {
    let prev = -1;
    for (let i = 0; i < k; i++) {
      prev = prev + 1 + r.varint();
      if (prev >= n) throw new PayloadRejectedError('header', `sparse index ${prev} out of range ${n}`);
      idx[i] = prev;
    }
  } else if (coding === IndexCoding.bitmap) {
    const bits = r.take((n + 7) >> 3);
    let j = 0;
    for (let i = 0; i < n && j <= k; i++) if ((bits[i >> 3]! >> (i & 7)) & 1) idx[j++] = i;
    if (j !== k) throw new PayloadRejectedError('header', `sparse bitmap has ${j} bits set, header says ${k}`);
  } else {
    throw new PayloadRejectedError('header', `unknown sparse index coding ${coding}`);
  }
  for (let i = 0; i < k; i++) out[idx[i]!] = out[idx[i]!]! + scale * r.f32();
  r.end();
}
