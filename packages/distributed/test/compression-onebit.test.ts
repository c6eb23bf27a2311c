import { Adam } from '@opt/core';
import { Parameter, Rng } from '@opt/tensor';
import type { Collective } from '../src/collective';
import { CountingCollective, OneBitAdam, ZeroOneAdam, oneBitAllReduce, oneBitPaddedLength } from '../src/compression/index';
import { bytes, shmRanks } from './helpers/ranks';

const n = 37; // not a multiple of 8K: exercises the padding

function grad(rank: number, step: number): Float32Array {
  return new Rng(1000 * rank + step + 1).fillNormal(new Float32Array(n));
}

async function onRanks<T>(k: number, fn: (c: Collective, rank: number) => Promise<T>): Promise<T[]> {
  return Promise.all(shmRanks(k, 1 << 16).map((c, r) => fn(c, r)));
}

describe('oneBitAllReduce (DeepSpeed compressed_allreduce)', () => {
  /** A single-process simulation, written from DeepSpeed's description: worker sign·scale, chunked server sign·scale. */
  function simulate(inputs: Float32Array[][], k: number): Float32Array[] {
    const N = oneBitPaddedLength(n, k);
    const C = N / k;
    const we = Array.from({ length: k }, () => new Float32Array(N));
    const se = Array.from({ length: k }, () => new Float32Array(C));
    let result = new Float32Array(n);
    const results: Float32Array[] = [];
    for (const step of inputs) {
      const signs: number[][] = [];
      const scales: number[] = [];
      for (let r = 0; r < k; r++) {
        const x = new Float32Array(N);
        for (let i = 0; i < N; i++) x[i] = (i < n ? step[r]![i]! : 0) + we[r]![i]!;
        let s2 = 0;
        for (const v of x) s2 += v * v;
        const scale = Math.fround(Math.sqrt(s2) / Math.sqrt(N));
        signs.push(Array.from(x, (v) => (v >= 0 ? 1 : -1)));
        scales.push(scale);
        for (let i = 0; i < N; i++) we[r]![i] = x[i]! - scale * signs[r]![i]!;
      }
      result = new Float32Array(n);
      for (let owner = 0; owner < k; owner++) {
        const y = se[owner]!;
        for (let r = 0; r < k; r++) for (let j = 0; j < C; j++) y[j] = y[j]! + (scales[r]! / k) * signs[r]![owner * C + j]!;
        let s2 = 0;
        for (const v of y) s2 += v * v;
        const scale = Math.fround(Math.sqrt(s2) / Math.sqrt(C));
        for (let j = 0; j < C; j++) {
          const sg = y[j]! >= 0 ? 1 : -1;
          if (owner * C + j < n) result[owner * C + j] = scale * sg;
          y[j] = y[j]! - scale * sg;
        }
      }
      results.push(result);
    }
    return results;
  }

  test.each([2, 3, 4])('on %i ranks it equals the simulation to 1e-6 over three calls (error feedback carried)', async (k) => {
    const inputs = [0, 1, 2].map((t) => Array.from({ length: k }, (_, r) => grad(r, t)));
    const expected = simulate(inputs, k);
    const out = await onRanks(k, async (c, rank) => {
      const N = oneBitPaddedLength(n, k);
      const we = new Float32Array(N);
      const se = new Float32Array(N / k);
      const res: Float32Array[] = [];
      for (const step of inputs) {
        const buf = Float32Array.from(step[rank]!);
        await oneBitAllReduce(buf, we, se, c);
        res.push(buf);
      }
      return res;
    });
    for (const ranks of out) {
      for (let t = 0; t < 3; t++) {
        expect(bytes(ranks[t]!).equals(bytes(out[0]![t]!))).toBe(true);
        for (let i = 0; i < n; i++) expect(Math.abs(ranks[t]![i]! - expected[t]![i]!)).toBeLessThanOrEqual(1e-6);
      }
    }
  });

  test('each rank sends N/8 + 4 bytes of worker signs and N/(8K) + 4 bytes of server signs', async () => {
    const k = 4;
    const N = oneBitPaddedLength(1000, k);
    const sent = await onRanks(k, async (c) => {
      const counted = new CountingCollective(c);
      await oneBitAllReduce(new Float32Array(1000).fill(1), new Float32Array(N), new Float32Array(N / k), counted);
      return counted.bytesSent;
    });
    expect(N).toBe(1024);
    for (const s of sent) expect(s).toBe(4 + N / 8 + 4 + N / 8 / k);
  });
});

describe('OneBitAdam', () => {
  test('the warm-up is exactly Adam on the rank-order mean of the gradients', async () => {
    const k = 2;
    const steps = 6;
    const out = await onRanks(k, async (c, rank) => {
      const p = new Parameter(new Rng(5).fillNormal(new Float32Array(n)), [n], 'p');
      const opt = new OneBitAdam([p], c, { lr: 0.01, freezeStep: steps, weightDecay: 0.01 });
      for (let t = 0; t < steps; t++) {
        p.grad = grad(rank, t);
        await opt.stepAsync();
      }
      return Float32Array.from(p.data);
    });
    const p = new Parameter(new Rng(5).fillNormal(new Float32Array(n)), [n], 'p');
    const adam = new Adam([p], { lr: 0.01, weightDecay: 0.01 });
    for (let t = 0; t < steps; t++) {
      const a = grad(0, t);
      const b = grad(1, t);
      p.grad = Float32Array.from(a, (v, i) => Math.fround(Math.fround(v + b[i]!) / 2));
      adam.step();
    }
    for (const o of out) expect(bytes(o).equals(bytes(p.data as Float32Array))).toBe(true);
  });

  /** Noisy quadratic: rank k's gradient is h ⊙ (x − c) + noise_k; the loss is ½ Σ h (x − c)². */
  const h = Float32Array.from({ length: n }, (_, i) => 0.5 + (i % 5));
  const target = new Rng(77).fillNormal(new Float32Array(n));
  const loss = (x: ArrayLike<number>): number => {
    let s = 0;
    for (let i = 0; i < n; i++) s += 0.5 * h[i]! * (x[i]! - target[i]!) ** 2;
    return s;
  };

  async function quadratic(k: number, make: (p: Parameter, c: Collective) => { stepAsync(): Promise<unknown> }, steps: number): Promise<number[]> {
    return onRanks(k, async (c, rank) => {
      const p = new Parameter(new Float32Array(n), [n], 'x');
      const opt = make(p, c);
      const noise = new Rng(31 + rank);
      for (let t = 0; t < steps; t++) {
        const x = p.data;
        p.grad = Float32Array.from(x, (v, i) => h[i]! * (v - target[i]!) + noise.normal(0, 0.5));
        await opt.stepAsync();
      }
      return loss(p.data);
    });
  }

  test('after the freeze the 1-bit compressed momentum still converges, next to uncompressed Adam', async () => {
    const initial = loss(new Float32Array(n));
    const onebit = await quadratic(2, (p, c) => new OneBitAdam([p], c, { lr: 0.05, freezeStep: 50 }), 400);
    const plain = await quadratic(2, (p, c) => new OneBitAdam([p], c, { lr: 0.05, freezeStep: 400 }), 400); // all warm-up: Adam
    expect(onebit[0]).toBe(onebit[1]);
    expect(onebit[0]!).toBeLessThan(0.01 * initial);
    expect(onebit[0]!).toBeLessThan(3 * plain[0]! + 0.05);
  });

  test('after the freeze the variance stays frozen while the momentum moves', async () => {
    const out = await onRanks(2, async (c, rank) => {
      const p = new Parameter(new Float32Array(n), [n], 'p');
      const opt = new OneBitAdam([p], c, { freezeStep: 3 });
      const v: Float32Array[] = [];
      const m: Float32Array[] = [];
      for (let t = 0; t < 6; t++) {
        p.grad = grad(rank, t);
        await opt.stepAsync();
        v.push(Float32Array.from(opt.state.get(p)!.exp_avg_sq));
        m.push(Float32Array.from(opt.state.get(p)!.exp_avg));
      }
      return { v, m };
    });
    const { v, m } = out[0]!;
    expect(v[1]).not.toEqual(v[2]);
    expect(v[3]).toEqual(v[2]);
    expect(v[5]).toEqual(v[2]);
    expect(m[4]).not.toEqual(m[3]);
    expect(out[1]!.m[5]).toEqual(m[5]); // the compressed momentum is the same on every rank
  });

  test('compressed steps send 1 bit per element instead of 4 bytes', async () => {
    const size = 4096;
    const sent = await onRanks(2, async (c) => {
      const counted = new CountingCollective(c);
      const p = new Parameter(new Float32Array(size), [size], 'p');
      const opt = new OneBitAdam([p], counted, { freezeStep: 1 });
      p.grad = new Float32Array(size).fill(1);
      await opt.stepAsync();
      const warm = counted.bytesSent;
      counted.reset();
      await opt.stepAsync();
      return [warm, counted.bytesSent];
    });
    expect(sent[0]![0]).toBe(4 * size);
    expect(sent[0]![1]).toBe(4 + size / 8 + 4 + size / 16);
  });

  test('resuming from a JSON checkpoint after the freeze continues bit-identically (residuals in the state)', async () => {
    const run = (resumeAt: number | null): Promise<Float32Array[]> =>
      onRanks(2, async (c, rank) => {
        let p = new Parameter(new Float32Array(n), [n], 'p');
        let opt = new OneBitAdam([p], c, { lr: 0.02, freezeStep: 4 });
        for (let t = 0; t < 12; t++) {
          if (t === resumeAt) {
            const saved = JSON.parse(JSON.stringify({ x: Array.from(p.data), opt: opt.stateDict() }));
            p = new Parameter(Float32Array.from(saved.x as number[]), [n], 'p');
            opt = new OneBitAdam([p], c, { lr: 0.02, freezeStep: 4 });
            opt.loadStateDict(saved.opt);
          }
          p.grad = grad(rank, t);
          await opt.stepAsync();
        }
        const s = opt.state.get(p)!;
        expect(s.worker_error.length).toBe(oneBitPaddedLength(n, 2));
        return Float32Array.from(p.data);
      });
    const straight = await run(null);
    const resumed = await run(7);
    for (let r = 0; r < 2; r++) expect(bytes(resumed[r]!).equals(bytes(straight[r]!))).toBe(true);
  });

  test('step() needs stepAsync() on more than one rank; on one rank it runs', async () => {
    const [a, b] = shmRanks(2);
    const p = new Parameter(new Float32Array(4), [4], 'p');
    p.grad = new Float32Array(4).fill(1);
    expect(() => new OneBitAdam([p], a!, {}).step()).toThrow(expect.objectContaining({ code: 'ASYNC_STEP_REQUIRED' }));
    expect(() => new ZeroOneAdam([p], b!, {}).step()).toThrow(expect.objectContaining({ code: 'ASYNC_STEP_REQUIRED' }));
    const [single] = shmRanks(1);
    const q = new Parameter(new Float32Array(4), [4], 'q');
    const r = new Parameter(new Float32Array(4), [4], 'r');
    const syncOpt = new OneBitAdam([q], single!, { freezeStep: 2 });
    const asyncOpt = new OneBitAdam([r], single!, { freezeStep: 2 });
    for (let t = 0; t < 4; t++) {
      q.grad = Float32Array.from([1, -2, 3, t]);
      r.grad = Float32Array.from([1, -2, 3, t]);
      syncOpt.step();
      await asyncOpt.stepAsync();
    }
    expect(Array.from(q.data)).toEqual(Array.from(r.data));
  });

  test('options are validated with the option name and range', () => {
    const [c] = shmRanks(1);
    const p = new Parameter(new Float32Array(2));
    expect(() => new OneBitAdam([p], c!, { freezeStep: -1 })).toThrow(/freezeStep/);
    expect(() => new ZeroOneAdam([p], c!, { varUpdateScaler: 0 })).toThrow(/varUpdateScaler/);
  });
});

describe('ZeroOneAdam', () => {
  test('the variance interval doubles after varUpdateScaler updates; local steps start after the freeze and grow to the clipper', async () => {
    const [c] = shmRanks(1);
    const p = new Parameter(new Float32Array(n), [n], 'p');
    const opt = new ZeroOneAdam([p], c!, { lr: 0.01, varFreezeStep: 12, varUpdateScaler: 2, localStepScaler: 3, localStepClipper: 4 });
    const intervals: number[] = [];
    const local: number[] = [];
    for (let t = 0; t < 24; t++) {
      p.grad = grad(0, t);
      opt.step();
      const s = opt.state.get(p)!;
      intervals.push(s.var_interval);
      local.push(s.local_step_interval);
    }
    // Variance updated at t = 1, 2 (interval 1 → 2), 4, 6 (→ 4), 8, 12 (→ 8).
    expect(intervals.slice(0, 12)).toEqual([1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 4, 8]);
    expect(local.slice(12)).toEqual([1, 1, 2, 2, 2, 4, 4, 4, 4, 4, 4, 4]);
  });

  test('variance steps all-reduce full-precision gradients, the others 1-bit ones, and frozen steps 1-bit momenta', async () => {
    const size = 64;
    const sent = await onRanks(2, async (c, rank) => {
      const counted = new CountingCollective(c);
      const p = new Parameter(new Float32Array(size), [size], 'p');
      const opt = new ZeroOneAdam([p], counted, { varFreezeStep: 6, varUpdateScaler: 2, localStepScaler: 100, localStepClipper: 4 });
      const bytes: number[] = [];
      for (let t = 0; t < 8; t++) {
        p.grad = new Rng(rank * 100 + t).fillNormal(new Float32Array(size));
        counted.reset();
        await opt.stepAsync();
        bytes.push(counted.bytesSent);
      }
      return bytes;
    });
    const full = 4 * size;
    const oneBit = 4 + size / 8 + 4 + size / 16;
    // Steps 1, 2 (interval 1), 4, 6 (interval 2) refresh the variance; 3 and 5 send 1-bit gradients; after the
    // freeze (steps 7, 8) the local-step interval is 1, so each step synchronises the accumulated momentum in 1 bit.
    expect(sent[0]).toEqual([full, full, oneBit, full, oneBit, full, oneBit, oneBit]);
  });

  test('with 1-bit gradients between variance updates and local steps after the freeze it converges on 2 ranks', async () => {
    const out = await onRanks(2, async (c, rank) => {
      const p = new Parameter(new Float32Array(n), [n], 'x');
      const opt = new ZeroOneAdam([p], c, { lr: 0.03, varFreezeStep: 60, varUpdateScaler: 4, localStepScaler: 40, localStepClipper: 4 });
      const target = new Rng(3).fillNormal(new Float32Array(n));
      const noise = new Rng(11 + rank);
      for (let t = 0; t < 400; t++) {
        p.grad = Float32Array.from(p.data, (v, i) => v - target[i]! + noise.normal(0, 0.3));
        await opt.stepAsync();
      }
      let err = 0;
      let start = 0;
      for (let i = 0; i < n; i++) {
        err += (p.data[i]! - target[i]!) ** 2;
        start += target[i]! ** 2;
      }
      return err / start;
    });
    // Replicas differ between synchronisations (local steps on local gradients), but both end near the optimum.
    for (const o of out) expect(o).toBeLessThan(0.05);
  });

  test('resuming from a JSON checkpoint mid local-step phase continues bit-identically', async () => {
    const options = { lr: 0.02, varFreezeStep: 6, varUpdateScaler: 2, localStepScaler: 2, localStepClipper: 4 };
    const run = (resumeAt: number | null): Promise<Float32Array[]> =>
      onRanks(2, async (c, rank) => {
        let p = new Parameter(new Float32Array(n), [n], 'p');
        let opt = new ZeroOneAdam([p], c, options);
        for (let t = 0; t < 16; t++) {
          if (t === resumeAt) {
            const saved = JSON.parse(JSON.stringify({ x: Array.from(p.data), opt: opt.stateDict() }));
            p = new Parameter(Float32Array.from(saved.x as number[]), [n], 'p');
            opt = new ZeroOneAdam([p], c, options);
            opt.loadStateDict(saved.opt);
          }
          p.grad = grad(rank, t);
          await opt.stepAsync();
        }
        return Float32Array.from(p.data);
      });
    const straight = await run(null);
    const resumed = await run(9);
    for (let r = 0; r < 2; r++) expect(bytes(resumed[r]!).equals(bytes(straight[r]!))).toBe(true);
  });
});
