import { Rng } from '@opt/tensor';
import type { Collective } from '../src/collective';
import {
  type CodecContext,
  type GradientCodec,
  CountingCollective,
  EFSign,
  ErrorFeedback,
  HalfCodec,
  IdentityCodec,
  PowerSGD,
  QSGD,
  RandomK,
  Sign,
  SignumMajorityVote,
  TopK,
  addSparse,
  compressedAllReduce,
  decodeCodecState,
  encodeCodecState,
  encodeSparse,
  orthogonalize,
} from '../src/compression/index';
import { bfloat16Bits, float16Bits, float32ToBfloat16Bits, float32ToFloat16Bits } from '../src/reduce';
import { shmRanks } from './helpers/ranks';

const ctx = (numel: number, rank = 0, worldSize = 1, shapes: number[][] = [[numel]]): CodecContext => ({ rank, worldSize, shapes });

function roundTrip<S>(codec: GradientCodec<S>, x: Float32Array, state: S, step = 0): Float32Array<ArrayBufferLike> {
  const out = new Float32Array(x.length);
  codec.decode(codec.encode(x, state, step), out, state, 1);
  return out;
}

function sqErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return s;
}

function sq(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! ** 2;
  return s;
}

function gaussian(n: number, seed: number, scale = 1): Float32Array {
  return new Rng(seed).fillNormal(new Float32Array(n), 0, scale);
}

/** Run `fn` on K ShmCollective ranks in this thread. */
async function onRanks<T>(k: number, fn: (c: Collective, rank: number) => Promise<T>): Promise<T[]> {
  const ranks = shmRanks(k, 1 << 20);
  return Promise.all(ranks.map((c, r) => fn(c, r)));
}

describe('round-trip bounds ‖x − D(C(x))‖² ≤ (1 − δ)‖x‖²', () => {
  const x = gaussian(1000, 1);

  test('identity is exact', () => {
    expect(sqErr(roundTrip(new IdentityCodec(), x, {}), x)).toBe(0);
  });

  test('fp16 loses at most 2^-22 and bf16 at most 2^-16 of the squared norm', () => {
    expect(sqErr(roundTrip(new HalfCodec('float16'), x, {}), x)).toBeLessThanOrEqual(2 ** -22 * sq(x));
    expect(sqErr(roundTrip(new HalfCodec('bfloat16'), x, {}), x)).toBeLessThanOrEqual(2 ** -16 * sq(x));
  });

  test('plain top-k keeps the k largest magnitudes: δ = k/n', () => {
    const codec = new TopK({ ratio: 0.05, accumulate: false });
    const out = roundTrip(codec, x, codec.init(x.length, ctx(x.length)));
    expect(out.filter((v) => v !== 0).length).toBe(50);
    const smallestKept = Math.min(...Array.from(out).filter((v) => v !== 0).map(Math.abs));
    const largestDropped = Math.max(...Array.from(x).filter((_, i) => out[i] === 0).map(Math.abs));
    expect(smallestKept).toBeGreaterThanOrEqual(largestDropped);
    expect(sqErr(out, x)).toBeLessThanOrEqual((1 - 0.05) * sq(x));
  });

  test('unscaled random-k loses (1 − k/n)‖x‖² on average and never more than ‖x‖²', () => {
    const codec = new RandomK({ ratio: 0.1, unbiased: false, seed: 3 });
    const state = codec.init(x.length);
    let mean = 0;
    const T = 400;
    for (let t = 0; t < T; t++) {
      const e = sqErr(roundTrip(codec, x, state, t), x);
      expect(e).toBeLessThanOrEqual(sq(x));
      mean += e / T;
    }
    expect(Math.abs(mean / sq(x) - 0.9)).toBeLessThan(0.01);
  });

  test('QSGD error stays below min(n/s², √n/s)·‖x‖² on average', () => {
    for (const s of [1, 4, 16]) {
      const codec = new QSGD({ levels: s, seed: 5 });
      const state = codec.init(x.length, ctx(x.length));
      let mean = 0;
      for (let t = 0; t < 50; t++) mean += sqErr(roundTrip(codec, x, state, t), x) / 50;
      expect(mean).toBeLessThanOrEqual(Math.min(x.length / s ** 2, Math.sqrt(x.length) / s) * sq(x));
    }
  });

  test('the l1-scaled sign is a contraction with δ = ‖x‖₁²/(n‖x‖₂²)', () => {
    const out = roundTrip(new Sign({ scale: 'l1' }), x, {});
    let l1 = 0;
    for (const v of x) l1 += Math.abs(v);
    const delta = (l1 * l1) / (x.length * sq(x));
    expect(sqErr(out, x)).toBeLessThanOrEqual((1 - delta) * sq(x) * (1 + 1e-5));
  });

  test('PowerSGD on one rank is the projection P Pᵀ M: a contraction, exact on a rank-r matrix after warm starts', () => {
    const rows = 12;
    const cols = 20;
    const codec = new PowerSGD({ rank: 2, startIter: 0 });
    const m = gaussian(rows * cols, 7);
    const state = codec.init(rows * cols, ctx(rows * cols, 0, 1, [[rows, cols]]));
    const out = roundTrip(codec, m, state);
    // ‖M − PPᵀM‖² = ‖M‖² − ‖PᵀM‖² with P orthonormal: the error is below the norm, by the captured energy.
    expect(sqErr(out, m)).toBeLessThan(sq(m));
    expect(sqErr(out, m)).toBeCloseTo(sq(m) - sq(out), 2);
    // A rank-2 matrix is recovered by a few warm-started power iterations.
    const u = gaussian(rows * 2, 8);
    const v = gaussian(cols * 2, 9);
    const low = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) low[i * cols + j] = u[i * 2]! * v[j * 2]! + u[i * 2 + 1]! * v[j * 2 + 1]!;
    const s2 = codec.init(rows * cols, ctx(rows * cols, 0, 1, [[rows, cols]]));
    let approx: Float32Array = low;
    for (let t = 0; t < 30; t++) approx = roundTrip(codec, low, s2, t);
    expect(sqErr(approx, low)).toBeLessThan(1e-8 * sq(low));
  });

  test('error feedback telescopes: the decoded sum equals the gradient sum minus the residual', () => {
    const codec = new ErrorFeedback(new TopK({ ratio: 0.02, accumulate: false }));
    const state = codec.init(200, ctx(200));
    const sent = new Float64Array(200);
    const total = new Float64Array(200);
    for (let t = 0; t < 50; t++) {
      const g = gaussian(200, 100 + t);
      const d = roundTrip(codec, g, state, t);
      for (let i = 0; i < 200; i++) {
        sent[i] += d[i]!;
        total[i] += g[i]!;
      }
    }
    for (let i = 0; i < 200; i++) expect(sent[i]! + state.error[i]!).toBeCloseTo(total[i]!, 4);
  });

  test('Gram-Schmidt leaves orthonormal columns', () => {
    const a = gaussian(30, 11);
    orthogonalize(a, 0, 10, 3);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        let d = 0;
        for (let k = 0; k < 10; k++) d += a[k * 3 + i]! * a[k * 3 + j]!;
        expect(d).toBeCloseTo(i === j ? 1 : 0, 5);
      }
    }
  });
});

describe('fast float32 → 16-bit conversions', () => {
  test('equal the exact float64 rounding on every kind of float32: normals, subnormals, ties, overflow, inf, NaN', () => {
    const bits = new Uint32Array(1);
    const f = new Float32Array(bits.buffer);
    const rng = new Rng(17);
    const values: number[] = [0, -0, Infinity, -Infinity, NaN, 65504, 65519.99, 65520, 65536, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -14, 1 + 2 ** -11, 1 + 3 * 2 ** -11];
    for (let i = 0; i < 30000; i++) {
      bits[0] = rng.nextUint32();
      values.push(f[0]!);
    }
    for (let e = -30; e <= 17; e++) for (let m = 0; m < 64; m++) values.push(Math.fround((1 + m / 64 + 2 ** -12) * 2 ** e), Math.fround(-(1 + m / 1024) * 2 ** e));
    const mismatches: number[] = [];
    for (const v of values) {
      if (Number.isNaN(v)) {
        if ((float32ToFloat16Bits(v) & 0x7c00) !== 0x7c00 || float32ToBfloat16Bits(v) !== 0x7fc0) mismatches.push(v);
      } else if (float32ToFloat16Bits(v) !== float16Bits(v) || float32ToBfloat16Bits(v) !== bfloat16Bits(v)) {
        mismatches.push(v);
      }
    }
    expect(mismatches).toEqual([]);
    expect(values.length).toBeGreaterThan(30000);
  });
});

describe('unbiasedness over 10^4 seeded draws', () => {
  const x = Float32Array.from([0.5, -1.25, 2, 0, 0.03, -0.7, 1.1, -0.2, 0.9, 3]);
  const T = 10000;

  /** Decode T seeded round trips of x and check each coordinate's mean against x within 5 standard errors. */
  function expectUnbiased<S>(codec: GradientCodec<S>, state: S): void {
    const mean = new Float64Array(x.length);
    const sqMean = new Float64Array(x.length);
    for (let t = 0; t < T; t++) {
      const d = roundTrip(codec, x, state, t);
      for (let i = 0; i < x.length; i++) {
        mean[i] += d[i]! / T;
        sqMean[i] += d[i]! ** 2 / T;
      }
    }
    for (let i = 0; i < x.length; i++) {
      const variance = Math.max(0, sqMean[i]! - mean[i]! ** 2);
      // 5 standard errors: a false alarm has probability below 1e-6 per coordinate.
      expect(Math.abs(mean[i]! - x[i]!)).toBeLessThanOrEqual(5 * Math.sqrt(variance / T) + 1e-6);
    }
  }

  test('Random-K with the n/k scale: E[D(C(x))] = x', () => {
    const codec = new RandomK({ ratio: 0.3, seed: 42 });
    expectUnbiased(codec, codec.init(x.length));
  });

  test('QSGD stochastic rounding: E[Q(x)] = x', () => {
    const codec = new QSGD({ levels: 2, seed: 9 });
    expectUnbiased(codec, codec.init(x.length, ctx(x.length)));
  });

  test('the same seed draws the same Random-K indices on every rank; another seed does not', () => {
    const a = new RandomK({ ratio: 0.1, seed: 1 });
    const b = new RandomK({ ratio: 0.1, seed: 2 });
    const sa0 = a.init(1000);
    const sa1 = a.init(1000);
    const sb = b.init(1000);
    a.sample(1000, sa0, 5);
    a.sample(1000, sa1, 5);
    b.sample(1000, sb, 5);
    expect(Array.from(sa0.indices)).toEqual(Array.from(sa1.indices));
    expect(Array.from(sa0.indices)).not.toEqual(Array.from(sb.indices));
    expect(new Set(sa0.indices).size).toBe(100);
  });
});

describe('compressed all-reduce on several ranks equals a single-process simulation', () => {
  const n = 300;
  const grads = [0, 1, 2, 3].map((r) => gaussian(n, 50 + r));

  async function distributed<S>(k: number, make: () => GradientCodec<S>, steps = 3, shapes: number[][] = [[n]]): Promise<Float32Array[]> {
    return onRanks(k, async (c, rank) => {
      const codec = make();
      const state = codec.init(n, { rank, worldSize: k, shapes });
      let g = new Float32Array(n);
      for (let t = 0; t < steps; t++) {
        g = Float32Array.from(grads[rank]!, (v) => v * (1 + t));
        await compressedAllReduce(codec, state, g, t, c);
      }
      return g;
    });
  }

  /** (1/K) Σ_k D(C_k(g_k)) with each rank's codec state, in rank order: the generic schedule's definition. */
  function simulate<S>(k: number, make: () => GradientCodec<S>, steps = 3): Float32Array {
    const codecs = Array.from({ length: k }, make);
    const states = codecs.map((c, rank) => c.init(n, { rank, worldSize: k, shapes: [[n]] }));
    let out = new Float32Array(n);
    for (let t = 0; t < steps; t++) {
      out = new Float32Array(n);
      const tmp = new Float32Array(n);
      for (let r = 0; r < k; r++) {
        const g = Float32Array.from(grads[r]!, (v) => v * (1 + t));
        codecs[r]!.decode(codecs[r]!.encode(g, states[r]!, t), tmp, states[r]!, 1);
        for (let i = 0; i < n; i++) out[i] = out[i]! + tmp[i]!;
      }
      for (let i = 0; i < n; i++) out[i] = out[i]! / k;
    }
    return out;
  }

  function expectClose(actual: readonly Float32Array[], expected: ArrayLike<number>): void {
    for (const a of actual) {
      expect(a).toEqual(actual[0]); // every rank holds the same bytes
      for (let i = 0; i < n; i++) expect(Math.abs(a[i]! - expected[i]!)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(expected[i]!)));
    }
  }

  test.each([2, 3, 4])('Top-K with DGC momentum and EF-sign and QSGD on %i ranks', async (k) => {
    for (const make of [() => new TopK({ ratio: 0.05, momentum: 0.9, clipNorm: 50 }), () => EFSign(), () => new QSGD({ levels: 8, seed: 3 })] as Array<() => GradientCodec<unknown>>) {
      expectClose(await distributed(k, make), simulate(k, make));
    }
  });

  test('plain Top-K matches an independent simulation: the mean of each rank’s k largest entries', async () => {
    const k = 3;
    const out = await distributed(k, () => new TopK({ ratio: 0.1, accumulate: false }), 1);
    const expected = new Float64Array(n);
    for (let r = 0; r < k; r++) {
      const order = Array.from(grads[r]!.keys()).sort((a, b) => Math.abs(grads[r]![b]!) - Math.abs(grads[r]![a]!));
      for (const i of order.slice(0, 30)) expected[i] += grads[r]![i]! / k;
    }
    expectClose(out, expected);
  });

  test('linear codecs (fp16, Random-K) all-reduce their payloads and equal the mean of the decoded parts', async () => {
    const k = 3;
    const rk = await distributed(k, () => new RandomK({ ratio: 0.2, seed: 4 }), 1);
    const codec = new RandomK({ ratio: 0.2, seed: 4 });
    const st = codec.init(n);
    codec.sample(n, st, 0);
    const expected = new Float64Array(n);
    for (const i of st.indices) for (let r = 0; r < k; r++) expected[i] += (grads[r]![i]! * 5) / k;
    expectClose(rk, expected);
    const half = await distributed(k, () => new HalfCodec('float16'), 1);
    const mean = new Float64Array(n);
    for (let r = 0; r < k; r++) for (let i = 0; i < n; i++) mean[i] += grads[r]![i]! / k;
    for (const h of half) for (let i = 0; i < n; i++) expect(Math.abs(h[i]! - mean[i]!)).toBeLessThan(3e-3);
  });

  test('majority vote is the sign of the summed signs, 0 on a tie', async () => {
    for (const k of [3, 4]) {
      const out = await distributed(k, () => new SignumMajorityVote({ momentum: 0 }), 1);
      for (let i = 0; i < n; i++) {
        let votes = 0;
        for (let r = 0; r < k; r++) votes += grads[r]![i]! >= 0 ? 1 : -1;
        expect(out[0]![i]).toBe(Math.sign(votes));
      }
      for (const o of out) expect(o).toEqual(out[0]);
    }
  });

  test('PowerSGD matches a float64 simulation of P = ΣM_kQ, orthogonalise, Q = Σ M_kᵀP / K, M̂ = PQᵀ', async () => {
    const rows = 10;
    const cols = 30;
    const k = 3;
    const shapes = [[rows, cols]];
    const mats = [0, 1, 2].map((r) => gaussian(rows * cols, 70 + r));
    const out = await onRanks(k, async (c, rank) => {
      const codec = new PowerSGD({ rank: 2, startIter: 0, errorFeedback: false });
      const state = codec.init(rows * cols, { rank, worldSize: k, shapes });
      const g = Float32Array.from(mats[rank]!);
      await compressedAllReduce(codec, state, g, 0, c);
      return { g };
    });
    // Simulation: the same seeded Q start as the codec (same generator, same draws).
    const q = new Float32Array(cols * 2);
    const g0 = new Rng(new Rng(0).int(1_000_000_000));
    for (let i = 0; i < q.length; i++) q[i] = g0.normal();
    orthogonalize(q, 0, cols, 2);
    const p = new Float64Array(rows * 2);
    for (const m of mats) for (let i = 0; i < rows; i++) for (let c = 0; c < 2; c++) for (let j = 0; j < cols; j++) p[i * 2 + c] += m[i * cols + j]! * q[j * 2 + c]!;
    const pf = Float32Array.from(p);
    orthogonalize(pf, 0, rows, 2);
    const q2 = new Float64Array(cols * 2);
    for (const m of mats) for (let j = 0; j < cols; j++) for (let c = 0; c < 2; c++) for (let i = 0; i < rows; i++) q2[j * 2 + c] += (m[i * cols + j]! * pf[i * 2 + c]!) / k;
    const expected = new Float64Array(rows * cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) for (let c = 0; c < 2; c++) expected[i * cols + j] += pf[i * 2 + c]! * q2[j * 2 + c]!;
    for (const o of out) for (let i = 0; i < rows * cols; i++) expect(Math.abs(o.g[i]! - expected[i]!)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(expected[i]!)));
  });

  test('PowerSGD all-reduces plainly before startIter and leaves 1-D tensors uncompressed', async () => {
    const shapes = [[4, 25], [20]];
    const total = 120;
    const parts = [0, 1].map((r) => gaussian(total, 90 + r));
    const out = await onRanks(2, async (c, rank) => {
      const codec = new PowerSGD({ rank: 1, startIter: 1 });
      const state = codec.init(total, { rank, worldSize: 2, shapes });
      const first = Float32Array.from(parts[rank]!);
      await compressedAllReduce(codec, state, first, 0, c);
      const second = Float32Array.from(parts[rank]!);
      await compressedAllReduce(codec, state, second, 1, c);
      return [first, second];
    });
    for (let i = 0; i < total; i++) {
      const mean = Math.fround(Math.fround(parts[0]![i]! + parts[1]![i]!) / 2);
      expect(out[0]![0]![i]).toBe(mean); // step 0: plain mean
      if (i >= 100) expect(out[0]![1]![i]).toBeCloseTo(mean, 6); // the bias: uncompressed
    }
  });
});

describe("Karimireddy et al.'s counter-example: f(x) = ε|x₁ + x₂| + |x₁ − x₂|", () => {
  const eps = 0.1;
  const f = (x: Float32Array): number => eps * Math.abs(x[0]! + x[1]!) + Math.abs(x[0]! - x[1]!);
  // A subgradient: at a kink any value in [−1, 1] is valid for sign(·); +1 is taken, so the compressed direction
  // never sees an exact zero.
  const subgradient = (x: Float32Array): Float32Array => {
    const a = x[0]! + x[1]! >= 0 ? 1 : -1;
    const b = x[0]! - x[1]! >= 0 ? 1 : -1;
    return Float32Array.from([eps * a + b, eps * a - b]);
  };

  function run<S>(codec: GradientCodec<S>, steps: number): number {
    const state = codec.init(2, ctx(2));
    const x = Float32Array.from([1, 0.3]);
    const d = new Float32Array(2);
    for (let t = 0; t < steps; t++) {
      const lr = 0.1 / Math.sqrt(t + 1);
      const g = subgradient(x);
      for (let i = 0; i < 2; i++) g[i] = g[i]! * lr;
      codec.decode(codec.encode(g, state, t), d, state, 1);
      for (let i = 0; i < 2; i++) x[i] = x[i]! - d[i]!;
    }
    return f(x);
  }

  test('signSGD never reduces x₁ + x₂ (stuck at f ≥ 1.3ε); EF-signSGD converges to the optimum 0', () => {
    const signLoss = run(new Sign({ scale: 'l1' }), 3000);
    const efLoss = run(EFSign(), 3000);
    expect(signLoss).toBeGreaterThanOrEqual(1.3 * eps * 0.99);
    expect(efLoss).toBeLessThan(0.02);
    expect(run(new IdentityCodec(), 3000)).toBeLessThan(0.02); // uncompressed subgradient descent converges too
  });
});

describe('bytes on the wire', () => {
  test('Top-K at 0.1 % of 2·10^5 elements is ≥ 250× smaller than float32 after index coding', async () => {
    const n = 200_000;
    const g = gaussian(n, 123);
    const codec = new TopK({ ratio: 0.001, accumulate: false });
    const payload = codec.encode(g, codec.init(n, ctx(n)), 0);
    expect(4 * n / payload.length).toBeGreaterThanOrEqual(250);
    const out = await onRanks(2, async (c) => {
      const counted = new CountingCollective(c);
      const buf = Float32Array.from(g);
      await compressedAllReduce(codec, codec.init(n, ctx(n)), buf, 0, counted);
      return counted.bytesSent;
    });
    expect(out[0]).toBe(payload.length);
    expect((4 * n) / out[0]!).toBeGreaterThanOrEqual(250);
  });

  test('sparse index coding picks delta-varints for sparse sets and a bitmap for dense ones, both lossless', () => {
    const n = 1000;
    const sparse = Int32Array.from([3, 400, 999]);
    const dense = Int32Array.from({ length: 600 }, (_, i) => i + (i >> 1));
    for (const idx of [sparse, dense]) {
      const values = Float32Array.from(idx, (i) => i / 7);
      const bytes = encodeSparse(n, idx, values, idx.length);
      expect(bytes[0]).toBe(idx === sparse ? 0 : 1);
      const out = new Float32Array(n);
      addSparse(bytes, out);
      for (let j = 0; j < idx.length; j++) expect(out[idx[j]!]).toBe(values[j]);
      expect(out.filter((v) => v !== 0).length).toBe(idx.filter((i) => i !== 0).length);
    }
    expect(encodeSparse(n, dense, new Float32Array(600), 600).length).toBe(1 + 2 + 2 + 125 + 2400);
  });

  test('sign codecs send 1 bit per element, QSGD ⌈log₂(s+1)⌉ + 1 bits, RandomK only its k values', () => {
    const n = 8000;
    const g = gaussian(n, 5);
    expect(new Sign().encode(g).length).toBe(4 + n / 8);
    expect(new SignumMajorityVote({ momentum: 0 }).encode(g, { momentum: new Float32Array(0) }).length).toBe(n / 8);
    const q = new QSGD({ levels: 7 });
    expect(q.encode(g, q.init(n, ctx(n)), 0).length).toBe(4 + n / 2);
    const rk = new RandomK({ ratio: 0.01 });
    expect(rk.encode(g, rk.init(n), 0).byteLength).toBe(4 * 80);
  });

  test('DGC warm-up: the density falls 25 %, 6.25 %, 1.56 %, 0.39 % over the warm-up, then stays at the ratio', () => {
    const codec = new TopK({ ratio: 0.001, warmupSteps: 8 });
    expect([0, 2, 4, 6, 8, 100].map((t) => codec.density(t))).toEqual([0.25, 0.0625, 0.015625, 0.00390625, 0.001, 0.001]);
  });

  test('DGC momentum factor masking: the sent coordinates leave both the accumulation and the momentum', () => {
    const codec = new TopK({ ratio: 0.1, momentum: 0.9 });
    const state = codec.init(50, ctx(50));
    const out = roundTrip(codec, gaussian(50, 12), state);
    let sent = 0;
    for (let i = 0; i < 50; i++) {
      if (out[i] !== 0) {
        sent++;
        expect(state.accumulated[i]).toBe(0);
        expect(state.velocity[i]).toBe(0);
      } else {
        expect(state.velocity[i]).not.toBe(0);
      }
    }
    expect(sent).toBe(5);
  });

  test('DGC local clipping bounds the accumulated update by clipNorm/√K', () => {
    const codec = new TopK({ ratio: 1, clipNorm: 2 });
    const state = codec.init(100, ctx(100, 0, 4));
    const g = gaussian(100, 6, 10);
    const out = roundTrip(codec, g, state);
    expect(Math.sqrt(sq(out))).toBeCloseTo(1, 5);
  });
});

describe('codec state serialisation', () => {
  test('states round-trip through JSON bit for bit, and a state of another shape is refused', () => {
    const codec = new ErrorFeedback(new QSGD({ levels: 4, seed: 1 }));
    const state = codec.init(50, ctx(50));
    roundTrip(codec, gaussian(50, 2), state);
    const json = JSON.parse(JSON.stringify(encodeCodecState(state)));
    const back = decodeCodecState(json, codec.init(50, ctx(50)));
    expect(back.error).toEqual(state.error);
    expect(back.inner.rng.getState()).toEqual(state.inner.rng.getState());
    expect(() => decodeCodecState(json, codec.init(51, ctx(51)))).toThrow(/50 elements saved, 51 expected/);
  });
});
