import { Adam, SGD } from '@opt/core';
import { Parameter } from '@opt/tensor';
import type { Collective } from '../src/collective';
import { DistributedDataParallel } from '../src/ddp';
import { ParameterMismatchError } from '../src/errors';
import { fp16CompressHook } from '../src/hooks';
import { LocalSGD } from '../src/local-sgd';
import { float16Bits, fromFloat16Bits, roundToFloat16 } from '../src/reduce';
import { bytes, closeAll, natsRanks, shmRanks, vector } from './helpers/ranks';

// Linear least squares y ≈ X w + b on float32; the per-shard gradient is the SUM over the shard's examples.
const D = 5;
const N = 12;
const X = vector(N * D, 17);
const Y = vector(N, 29);

function shardGradient(w: Float32Array, b: Float32Array, rows: readonly number[], gw: Float32Array, gb: Float32Array): void {
  gw.fill(0);
  gb.fill(0);
  for (const i of rows) {
    let pred = b[0]!;
    for (let j = 0; j < D; j++) pred = Math.fround(pred + Math.fround(X[i * D + j]! * w[j]!));
    const r = Math.fround(pred - Y[i]!);
    for (let j = 0; j < D; j++) gw[j] = gw[j]! + Math.fround(r * X[i * D + j]!);
    gb[0] = gb[0]! + r;
  }
}

function shards(k: number): number[][] {
  return Array.from({ length: k }, (_, r) => Array.from({ length: N / k }, (_, i) => r * (N / k) + i));
}

function model(): [Parameter, Parameter] {
  return [new Parameter(vector(D, 3, 0.5), [D], 'w'), new Parameter(new Float32Array(1), [1], 'b')];
}

/** One process: per-shard gradient sums, added in shard order, divided by K (the float ops of a rank-order mean). */
function reference(k: number, steps: number, make: (p: Parameter[]) => { step(): unknown }): Float32Array {
  const [w, b] = model();
  const opt = make([w, b]);
  const gw = new Float32Array(D);
  const gb = new Float32Array(1);
  for (let s = 0; s < steps; s++) {
    const accW = new Float32Array(D);
    const accB = new Float32Array(1);
    shards(k).forEach((rows, r) => {
      shardGradient(w.data as Float32Array, b.data as Float32Array, rows, gw, gb);
      if (r === 0) {
        accW.set(gw);
        accB.set(gb);
      } else {
        for (let j = 0; j < D; j++) accW[j] = accW[j]! + gw[j]!;
        accB[0] = accB[0]! + gb[0]!;
      }
    });
    for (let j = 0; j < D; j++) accW[j] = accW[j]! / k;
    accB[0] = accB[0]! / k;
    w.grad = accW;
    b.grad = accB;
    opt.step();
  }
  return Float32Array.from([...w.data, ...b.data]);
}

async function distributed(ranks: Collective[], steps: number, make: (p: Parameter[]) => SGD | Adam): Promise<Float32Array[]> {
  const k = ranks.length;
  return Promise.all(
    ranks.map(async (c, r) => {
      const [w, b] = model();
      if (r > 0) w.data.fill(7); // replaced by rank 0's values at creation
      const ddp = await DistributedDataParallel.create<object>(make([w, b]) as never, c, { bucketCapMB: 8 / (1024 * 1024) }); // 2 float32 per bucket
      const rows = shards(k)[r]!;
      for (let s = 0; s < steps; s++) {
        shardGradient(w.data as Float32Array, b.data as Float32Array, rows, w.grad as Float32Array, b.grad as Float32Array);
        await ddp.step();
      }
      return Float32Array.from([...w.data, ...b.data]);
    }),
  );
}

const sgd = (p: Parameter[]) => new SGD(p, { lr: 0.01, momentum: 0.9 });
const adam = (p: Parameter[]) => new Adam(p, { lr: 0.01 });

describe('DistributedDataParallel', () => {
  test.each([1, 2, 3])('%i ShmCollective ranks on shards equal one process on the whole batch, bit for bit (SGD momentum)', async (k) => {
    const out = await distributed(shmRanks(k), 4, sgd);
    const ref = reference(k, 4, sgd);
    for (const o of out) expect(bytes(o).equals(bytes(ref))).toBe(true);
  });

  test.each([1, 2, 3])('%i NatsCollective ranks on shards equal one process on the whole batch, bit for bit (Adam)', async (k) => {
    const ranks = await natsRanks(k);
    try {
      const out = await distributed(ranks, 3, adam);
      const ref = reference(k, 3, adam);
      for (const o of out) expect(bytes(o).equals(bytes(ref))).toBe(true);
    } finally {
      await closeAll(ranks);
    }
  });

  test('noSync accumulates gradients locally; the next synchronisation reduces their sum', async () => {
    const ranks = shmRanks(2);
    const results = await Promise.all(
      ranks.map(async (c, r) => {
        const p = new Parameter(new Float32Array(2), [2], 'p');
        const ddp = await DistributedDataParallel.create(new SGD([p], { lr: 1 }), c);
        ddp.noSync(() => p.grad!.set([1 + r, 10]));
        expect(Array.from(p.grad!)).toEqual([1 + r, 10]); // not reduced inside noSync
        for (let i = 0; i < 2; i++) p.grad![i]! += 1; // the last micro-batch, outside noSync
        await ddp.step();
        return Array.from(p.data);
      }),
    );
    // mean of [2, 11] and [3, 11] = [2.5, 11]; SGD lr 1 from 0
    for (const r of results) expect(r).toEqual([-2.5, -11]);
  });

  test('step() inside noSync is refused: the replicas would diverge', async () => {
    const [c] = shmRanks(1);
    const p = new Parameter(new Float32Array(1));
    const ddp = await DistributedDataParallel.create(new SGD([p], { lr: 1 }), c!);
    await expect(ddp.noSync(() => ddp.step())).rejects.toMatchObject({ code: 'NO_SYNC_STEP' });
  });

  test('the fp16 compression hook equals a single-process simulation of fp16(fp16(g)/K) summed in fp16', async () => {
    const k = 3;
    const grads = [0, 1, 2].map((r) => vector(50, 100 + r, 3));
    const ranks = shmRanks(k);
    const out = await Promise.all(
      ranks.map(async (c, r) => {
        const p = new Parameter(new Float32Array(50), [50], 'p');
        const ddp = await DistributedDataParallel.create(new SGD([p], { lr: 1 }), c, { bucketCapMB: 80 / (1024 * 1024) });
        ddp.registerCommHook(null, fp16CompressHook);
        p.grad!.set(grads[r]!);
        await ddp.synchronize();
        return Float32Array.from(p.grad!);
      }),
    );
    const expected = new Float32Array(50);
    for (let i = 0; i < 50; i++) {
      let acc = 0;
      for (let r = 0; r < k; r++) {
        const h = roundToFloat16(roundToFloat16(grads[r]![i]!) / k);
        acc = r === 0 ? h : roundToFloat16(acc + h);
      }
      expected[i] = fromFloat16Bits(float16Bits(acc));
    }
    for (const o of out) expect(bytes(o).equals(bytes(expected))).toBe(true);
  });

  test('ranks with different parameter shapes fail at creation naming the first differing parameter', async () => {
    const ranks = shmRanks(2);
    const results = await Promise.allSettled(
      ranks.map((c, r) => DistributedDataParallel.create(new SGD([new Parameter(new Float32Array(2), [2], 'a'), new Parameter(new Float32Array(2 + r), [2 + r], 'b')], { lr: 1 }), c)),
    );
    for (const res of results) {
      expect(res.status).toBe('rejected');
      const e = (res as PromiseRejectedResult).reason as ParameterMismatchError;
      expect(e).toBeInstanceOf(ParameterMismatchError);
      expect(e.parameter).toBe('b');
      expect(e.index).toBe(1);
    }
  });
});

describe('LocalSGD', () => {
  test('averaging the models every H steps equals K independent optimizers averaged in rank order every H steps', async () => {
    const k = 3;
    const H = 2;
    const steps = 5;
    const ranks = shmRanks(k);
    const out = await Promise.all(
      ranks.map(async (c, r) => {
        const [w, b] = model();
        const local = await LocalSGD.create(new SGD([w, b], { lr: 0.01, momentum: 0.5 }), c, { period: H });
        for (let s = 0; s < steps; s++) {
          shardGradient(w.data as Float32Array, b.data as Float32Array, shards(k)[r]!, w.grad as Float32Array, b.grad as Float32Array);
          await local.step();
        }
        return Float32Array.from([...w.data, ...b.data]);
      }),
    );
    // Single-process simulation.
    const models = shards(k).map(() => model());
    const opts = models.map((m) => new SGD(m, { lr: 0.01, momentum: 0.5 }));
    const gw = new Float32Array(D);
    const gb = new Float32Array(1);
    for (let s = 1; s <= steps; s++) {
      models.forEach(([w, b], r) => {
        shardGradient(w.data as Float32Array, b.data as Float32Array, shards(k)[r]!, gw, gb);
        w.grad = Float32Array.from(gw);
        b.grad = Float32Array.from(gb);
        opts[r]!.step();
      });
      if (s % H === 0) {
        for (const which of [0, 1]) {
          const avg = Float32Array.from(models[0]![which]!.data);
          for (let r = 1; r < k; r++) for (let i = 0; i < avg.length; i++) avg[i] = avg[i]! + models[r]![which]!.data[i]!;
          for (let i = 0; i < avg.length; i++) avg[i] = avg[i]! / k;
          for (const m of models) m[which]!.data.set(avg);
        }
      }
    }
    for (let r = 0; r < k; r++) expect(bytes(out[r]!).equals(bytes(Float32Array.from([...models[r]![0].data, ...models[r]![1].data])))).toBe(true);
    expect(bytes(out[0]!).equals(bytes(out[1]!))).toBe(false); // after step 5 (odd) the replicas differ again
  });
});
