/**
 * Protocol-buffers wire format writer: just what the ONNX encoder needs
 * (varints, 64-bit varints, fixed32/fixed64, length-delimited fields).
 * Browser-safe; no dependencies.
 */

const MASK_64 = (BigInt(1) << BigInt(64)) - BigInt(1);
const SEVEN = BigInt(7);
const LOW7 = BigInt(0x7f);

/** Wire types of the protobuf encoding. */
export const WireType = { VARINT: 0, FIXED64: 1, LENGTH_DELIMITED: 2, FIXED32: 5 } as const;

/** An append-only byte buffer that writes protobuf fields. */
export class ProtoWriter {
  private buf = new Uint8Array(256);
  private len = 0;
  private readonly view4 = new DataView(new ArrayBuffer(8));

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  /** Number of bytes written so far. */
  get length(): number {
    return this.len;
  }

  /** Append one byte. */
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b & 0xff;
  }

  /** Append raw bytes. */
  bytes(data: Uint8Array): void {
    this.ensure(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
  }

  /**
   * Append an unsigned or signed 64-bit varint. Negative values are written in
   * two's complement over 64 bits (10 bytes), as protobuf's int64 requires.
   */
  varint(value: number | bigint): void {
    if (typeof value === 'number' && value >= 0 && value <= Number.MAX_SAFE_INTEGER && Number.isInteger(value)) {
      let v = value;
      // Division instead of shifts: JS bit operators truncate to 32 bits.
      while (v >= 0x80) {
        this.byte((v % 0x80) | 0x80);
        v = Math.floor(v / 0x80);
      }
      this.byte(v);
      return;
    }
    if (typeof value === 'number' && !Number.isInteger(value)) {
      throw new RangeError(`a protobuf integer must be an integer, got ${value}`);
    }
    let v = BigInt(value) & MASK_64;
    while (v > LOW7) {
      this.byte(Number(v & LOW7) | 0x80);
      v >>= SEVEN;
    }
    this.byte(Number(v));
  }

  /** Append a field key (field number and wire type). */
  tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  /** A varint field (int32, int64, enum, bool). */
  intField(field: number, value: number | bigint): void {
    this.tag(field, WireType.VARINT);
    this.varint(value);
  }

  /** A `float` field (fixed32, little-endian). */
  floatField(field: number, value: number): void {
    this.tag(field, WireType.FIXED32);
    this.view4.setFloat32(0, value, true);
    for (let i = 0; i < 4; i++) this.byte(this.view4.getUint8(i));
  }

  /** A length-delimited field holding raw bytes. */
  bytesField(field: number, data: Uint8Array): void {
    this.tag(field, WireType.LENGTH_DELIMITED);
    this.varint(data.length);
    this.bytes(data);
  }

  /** A UTF-8 string field. */
  stringField(field: number, value: string): void {
    this.bytesField(field, utf8(value));
  }

  /** An embedded message field, written by `write` into a nested writer. */
  messageField(field: number, write: (w: ProtoWriter) => void): void {
    const inner = new ProtoWriter();
    write(inner);
    this.bytesField(field, inner.finish());
  }

  /** The bytes written, as a fresh array of the exact length. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** UTF-8 bytes of a string (TextEncoder exists in browsers and Node). */
export function utf8(value: string): Uint8Array {
  return new TextEncoder().encode(value);
}

