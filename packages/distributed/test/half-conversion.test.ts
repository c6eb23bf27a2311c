/**
 * The fast 16-bit conversions behind `float16Bits` / `bfloat16Bits`, the 16-bit all-reduce (`reduceParts`) and the
 * fp16/bf16 compression hooks give the same bits as the exact float64 rounding they replaced. The references here are
 * built from `roundToFloat16` / `roundToBfloat16` (the exact float64 path) and a decoder written in this file.
 */
import { Rng } from '@opt/tensor';
import type { HalfFormat } from '../src/collective';
import { float32ToBfloat16Bits, float32ToFloat16Bits } from '../src/reduce';
import { type GradBucket, bf16CompressHook, fp16CompressHook } from '../src/hooks';
import { HALF_EXACT_DIVISOR, bfloat16Bits, float16Bits, reduceParts, roundToBfloat16, roundToFloat16 } from '../src/reduce';
import { closeAll, shmRanks } from './helpers/ranks';

const u32 = new Uint32Array(1);
const f32 = new Float32Array(u32.buffer);

/** binary16 bits → value, written out from the format's definition. */
function decodeF16(b: number): number {
  const s = b & 0x8000 ? -1 : 1;
  const e = (b >> 10) & 0x1f;
  const m = b & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m === 0 ? s * Infinity : NaN;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** value → binary16 bits for every non-NaN float16 value (±0 apart). */
const F16_BITS = new Map<number, number>();
for (let b = 0; b < 0x10000; b++) {
  const v = decodeF16(b);
  if (v === v && v !== 0) F16_BITS.set(v, b);
}

function refF16(x: number): number {
  if (x !== x) return 0x7e00;
  const v = roundToFloat16(x);
  if (v === 0) return Object.is(v, -0) ? 0x8000 : 0;
  return F16_BITS.get(v)!;
}

function refBf16(x: number): number {
  if (x !== x) return 0x7fc0;
  f32[0] = roundToBfloat16(x);
  return u32[0]! >>> 16;
}

function decodeBf16(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0]!;
}

/** The float32 values of the special cases: zeros, infinities, NaNs, both formats' boundaries, ties and subnormals. */
function specialValues(): number[] {
  const v: number[] = [0, -0, Infinity, -Infinity, NaN, -NaN];
  const fromBits = (b: number): number => {
    u32[0] = b >>> 0;
    return f32[0]!;
  };
  // Float32 NaN payloads and signs, the largest finite values, the float32 subnormal boundary.
  for (const b of [0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fffffff, 0x7f7fffff, 0xff7fffff, 0x00000001, 0x80000001, 0x007fffff, 0x00800000]) v.push(fromBits(b));
  // float16: the largest finite, the overflow threshold 65520 and its neighbours, the normal/subnormal boundary.
  for (const x of [65504, 65519, 65519.99, 65520, 65520.01, 65536, 2 ** -14, 2 ** -14 - 2 ** -25, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -26, 2 ** -25 + 2 ** -40]) v.push(Math.fround(x), Math.fround(-x));
  // float16 ties in every binade: 1 + (m + 1/2) ulp, even and odd m, and their float32 neighbours.
  for (let e = -24; e <= 15; e++) {
    for (const m of [0, 1, 2, 511, 1022]) {
      const tie = Math.fround((1 + (m + 0.5) / 1024) * 2 ** e);
      f32[0] = tie;
      const bits = u32[0]!;
      v.push(tie, -tie, fromBits(bits + 1), fromBits(bits - 1));
    }
  }
  // bfloat16 ties (bit 15 set, lower bits clear) and their neighbours, across the exponent range.
  for (let e = 1; e < 255; e += 7) {
    const bits = ((e << 23) | 0x8000 | (((e * 37) & 0x7f) << 16)) >>> 0;
    v.push(fromBits(bits), fromBits(bits + 1), fromBits(bits - 1), fromBits(bits | 0x10000), fromBits((bits | 0x80000000) >>> 0));
  }
  return v;
}

/** `count` seeded float32 values: raw bit patterns, float16-range values and float16/float32 subnormals. */
function randomValues(count: number, seed: number): number[] {
  const rng = new Rng(seed);
  const v: number[] = [];
  for (let i = 0; i < count; i++) {
    const kind = i % 4;
    if (kind === 0) {
      u32[0] = rng.nextUint32();
      v.push(f32[0]!);
    } else if (kind === 1) {
      // Exponents 2^-30 … 2^17: normals, float16 subnormals and overflow.
      v.push(Math.fround((rng.nextUint32() / 2 ** 32 + 1) * 2 ** (Math.floor((rng.nextUint32() / 2 ** 32) * 48) - 30) * (i & 8 ? -1 : 1)));
    } else if (kind === 2) {
      // float16 subnormal range, 2^-26 … 2^-14.
      v.push(Math.fround((rng.nextUint32() / 2 ** 32) * 2 ** -14 * (i & 8 ? -1 : 1)));
    } else {
      // float32 subnormals (bfloat16 subnormals).
      u32[0] = (rng.nextUint32() & 0x807fffff) >>> 0;
      v.push(f32[0]!);
    }
  }
  return v;
}

function mismatches(values: readonly number[], fast: (x: number) => number, ref: (x: number) => number): number[] {
  const bad: number[] = [];
  for (const x of values) if (fast(x) !== ref(x)) bad.push(x);
  return bad;
}

describe('fast 16-bit conversions equal the exact float64 rounding', () => {
  const values = [...specialValues(), ...randomValues(100_000, 8)];

  test('float16Bits and float32ToFloat16Bits on every special case and 1e5 random float32 values incl. subnormals', () => {
    expect(values.length).toBeGreaterThan(100_000);
    expect(mismatches(values, float16Bits, refF16)).toEqual([]);
    // The raw codec conversion keeps a NaN's sign; apart from NaNs it is the same function.
    expect(mismatches(values.filter((x) => x === x), float32ToFloat16Bits, refF16)).toEqual([]);
  });

  test('bfloat16Bits and float32ToBfloat16Bits on every special case and 1e5 random float32 values incl. subnormals', () => {
    expect(mismatches(values, bfloat16Bits, refBf16)).toEqual([]);
    expect(mismatches(values, float32ToBfloat16Bits, refBf16)).toEqual([]);
  });

  test('float64 inputs that are not float32 values still round once, exactly (no double rounding)', () => {
    const rng = new Rng(9);
    const doubles: number[] = [1 + 2 ** -11 + 2 ** -40, 1 + 2 ** -11 - 2 ** -40, 1 + 2 ** -8 + 2 ** -45, 65520 - 2 ** -30, 2 ** -25 + 2 ** -60, 1e-300, -1e300];
    for (let i = 0; i < 20_000; i++) doubles.push((rng.nextUint32() / 2 ** 32 - 0.5) * 2 ** ((i % 50) - 30) + rng.nextUint32() * 2 ** -70);
    expect(doubles.some((x) => Math.fround(x) !== x)).toBe(true);
    expect(mismatches(doubles, float16Bits, refF16)).toEqual([]);
    expect(mismatches(doubles, bfloat16Bits, refBf16)).toEqual([]);
  });
});

/** The reduction as it was written before the fast path: every intermediate rounded exactly in float64. */
function referenceReduce(parts: readonly Uint16Array[], op: 'sum' | 'mean' | 'max' | 'min', f16: boolean): Uint16Array {
  const n = parts[0]!.length;
  const k = parts.length;
  const out = new Uint16Array(n);
  const dec = f16 ? decodeF16 : decodeBf16;
  const round = f16 ? roundToFloat16 : roundToBfloat16;
  const bits = f16 ? refF16 : refBf16;
  for (let i = 0; i < n; i++) {
    let acc = dec(parts[0]![i]!);
    for (let r = 1; r < k; r++) {
      const x = dec(parts[r]![i]!);
      acc = round(op === 'max' ? Math.max(acc, x) : op === 'min' ? Math.min(acc, x) : acc + x);
    }
    if (op === 'mean') acc = round(acc / k);
    out[i] = bits(acc);
  }
  return out;
}

/** 16-bit words: random patterns (NaNs, infinities and subnormals included) and adversarial big + tiny pairs. */
function halfParts(k: number, n: number, seed: number, f16: boolean): Uint16Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: k }, (_, r) => {
    const p = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      const w = rng.nextUint32() & 0xffff;
      // Every third element: rank 0 large, the others tiny, so sums land next to rounding midpoints.
      if (i % 3 === 0) p[i] = r === 0 ? (w & 0x83ff) | (f16 ? 0x6000 : 0x4000) : (w & 0x83ff) | (f16 ? 0x0400 : 0x0080);
      else p[i] = w;
    }
    return p;
  });
}

describe('the 16-bit all-reduce (reduceParts) keeps its bits', () => {
  for (const format of ['float16', 'bfloat16'] as const) {
    test(`${format}: sum, mean, max and min over 2-5 ranks equal the exact float64 reduction`, () => {
      const f16 = format === 'float16';
      for (const k of [2, 3, 4, 5]) {
        const parts = halfParts(k, 6000, 100 + k, f16);
        for (const op of ['sum', 'mean', 'max', 'min'] as const) {
          const out = new Uint16Array(parts[0]!.length);
          reduceParts(out, parts, op, f16 ? 2 : 3);
          const ref = referenceReduce(parts, op, f16);
          let bad = 0;
          for (let i = 0; i < out.length; i++) if (out[i] !== ref[i]) bad++;
          expect({ k, op, bad }).toEqual({ k, op, bad: 0 });
        }
      }
    });
  }

  test('a mean over more ranks than HALF_EXACT_DIVISOR takes the exact path and still matches', () => {
    const k = HALF_EXACT_DIVISOR + 3;
    const parts = Array.from({ length: k }, (_, r) => Uint16Array.of(r === 0 ? 0x3c01 : 0, r === 0 ? 0x0001 : 0));
    for (const f16 of [true, false]) {
      const out = new Uint16Array(2);
      reduceParts(out, parts, 'mean', f16 ? 2 : 3);
      expect(Array.from(out)).toEqual(Array.from(referenceReduce(parts, 'mean', f16)));
    }
  });
});

describe('the fp16 / bf16 compression hooks keep their bits', () => {
  for (const format of ['float16', 'bfloat16'] as HalfFormat[]) {
    test(`${format}: three ranks (K not a power of two) equal half(half(g)/K) summed with exact rounding`, async () => {
      const k = 3;
      const n = 3000;
      const grads = [0, 1, 2].map((r) => Float32Array.from(randomValues(n, 40 + r).map((x) => (x === x && Math.abs(x) < 1e30 ? x : 1))));
      const ranks = shmRanks(k, 4096);
      try {
        const out = await Promise.all(
          ranks.map((c, r) => {
            const bucket: GradBucket = { index: 0, buffer: Float32Array.from(grads[r]!), parameters: [], offsets: [0], isLast: true, collective: c, collectiveOptions: {} };
            return (format === 'float16' ? fp16CompressHook : bf16CompressHook)(null, bucket);
          }),
        );
        const f16 = format === 'float16';
        const round = f16 ? roundToFloat16 : roundToBfloat16;
        const expected = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          let acc = 0;
          for (let r = 0; r < k; r++) {
            const h = round(round(grads[r]![i]!) / k);
            acc = r === 0 ? h : round(acc + h);
          }
          expected[i] = acc;
        }
        // Object.is: -0 and +0 differ, every NaN equals NaN (the reference's NaN from ∞ − ∞ may carry a sign bit).
        for (const o of out) {
          const diff: string[] = [];
          for (let i = 0; i < n; i++) if (!Object.is(o[i], expected[i])) diff.push(`${i}: ${o[i]} vs ${expected[i]}`);
          expect(diff.slice(0, 5)).toEqual([]);
        }
      } finally {
        await closeAll(ranks);
      }
    });
  }
});
