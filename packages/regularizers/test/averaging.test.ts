import { OptError, Parameter, StateDictError } from '@opt/tensor';
import { AveragedModel, EMA, PolyakAveraging, SnapshotEnsemble, type WeightAverage, emaAvgFn } from '../src/index';
import { testValues } from './helpers/gradcheck';
import { type CaseReport, type FixtureDType, expectWithinTolerance, loadFixture, report, scaledError } from './helpers/fixtures';

interface AveragedModelCase {
  id: string;
  dtype: FixtureDType;
  shapes: number[][];
  snapshots: number[][][];
  averaged: number[][][];
  n_averaged: number[];
}

const FILE = 'averaged_model.json';

function replay(c: AveragedModelCase): CaseReport {
  const params = c.shapes.map((shape, i) => Parameter.from(c.snapshots[0]![i]!, { shape, dtype: c.dtype, name: `p${i}` }));
  // PyTorch deep-copies the model at construction; start from different weights to show the first update copies.
  params.forEach((p) => p.data.fill(123));
  const swa = new AveragedModel(params);
  const eval_ = c.shapes.map((shape, i) => Parameter.zeros(shape, c.dtype, `p${i}`));
  let averagedError = 0;
  let countError = 0;
  c.snapshots.forEach((snap, k) => {
    params.forEach((p, i) => p.data.set(snap[i]!));
    swa.updateParameters();
    swa.copyTo(eval_);
    eval_.forEach((p, i) => (averagedError = Math.max(averagedError, scaledError(p.data, c.averaged[k]![i]!))));
    if (swa.nAveraged !== c.n_averaged[k]) countError = Infinity;
  });
  return { id: c.id, dtype: c.dtype, errors: { averaged: averagedError, n_averaged: countError } };
}

describe(`${FILE}: replays PyTorch 1.13 swa_utils.AveragedModel`, () => {
  const fixture = loadFixture<{ cases: AveragedModelCase[] }>(FILE);
  test.each(fixture.cases.map((c) => [c.id, c] as const))('%s: averaged params and n_averaged after every update', (_id, c) => {
    const r = replay(c);
    report(FILE, r);
    expectWithinTolerance(r);
  });
});

function makeParams(dtype: FixtureDType = 'float64', seed = 1): Parameter[] {
  return [
    Parameter.from(testValues(6, seed), { shape: [2, 3], dtype, name: 'w' }),
    Parameter.from(testValues(3, seed + 1), { shape: [3], dtype, name: 'b' }),
  ];
}

/** Pretend training: move every weight deterministically. */
function perturb(params: Parameter[], step: number): void {
  params.forEach((p, i) => {
    for (let k = 0; k < p.size; k++) p.data[k] = p.data[k]! + 0.1 * Math.sin(step * 1.7 + k + 3 * i);
  });
}

function snapshotOf(params: Parameter[]): number[][] {
  return params.map((p) => Array.from(p.data));
}

describe('EMA', () => {
  test('without debias the average starts as a copy and follows avg ← d·avg + (1 − d)·p', () => {
    const params = makeParams();
    const expected = snapshotOf(params);
    const ema = new EMA(params, { decay: 0.9 });
    for (let t = 1; t <= 5; t++) {
      perturb(params, t);
      ema.update();
      params.forEach((p, i) => p.data.forEach((v, k) => (expected[i]![k] = 0.9 * expected[i]![k]! + 0.1 * v)));
    }
    const out = makeParams('float64', 9);
    ema.copyTo(out);
    out.forEach((p, i) => expect(scaledError(p.data, expected[i]!)).toBeLessThan(1e-15));
  });

  test('debias reproduces optax ema(debias=True): zeros, then divided by 1 − decay^t', () => {
    const params = makeParams();
    const ema = new EMA(params, { decay: 0.8, debias: true });
    expect(ema.ready).toBe(false);
    expect(() => ema.copyTo()).toThrow(OptError);
    const moment = params.map((p) => new Float64Array(p.size));
    for (let t = 1; t <= 4; t++) {
      perturb(params, t);
      ema.update();
      params.forEach((p, i) => p.data.forEach((v, k) => (moment[i]![k] = 0.2 * v + 0.8 * moment[i]![k]!)));
      const out = makeParams('float64', 5);
      ema.copyTo(out);
      out.forEach((p, i) => {
        const debiased = Array.from(moment[i]!, (m) => m / (1 - 0.8 ** t));
        expect(scaledError(p.data, debiased)).toBeLessThan(1e-14);
      });
    }
  });

  test('warm-up decays follow timm: 0 on the first update, then 1 − (1 + k/γ)^(−power) clamped to [minDecay, decay]', () => {
    const params = makeParams();
    const ema = new EMA(params, { decay: 0.7, warmup: true, warmupGamma: 2, warmupPower: 0.75, minDecay: 0.2 });
    const seen: number[] = [];
    for (let t = 1; t <= 12; t++) {
      seen.push(ema.currentDecay);
      perturb(params, t);
      ema.update();
    }
    expect(seen[0]).toBe(0);
    for (let k = 1; k < seen.length; k++) {
      expect(seen[k]).toBeCloseTo(Math.max(0.2, Math.min(0.7, 1 - (1 + k / 2) ** -0.75)), 15);
    }
    expect(seen[seen.length - 1]).toBe(0.7);
    // The first update copies the weights exactly.
    const fresh = makeParams();
    const ema2 = new EMA(fresh, { warmup: true });
    perturb(fresh, 99);
    ema2.update();
    const out = makeParams('float64', 3);
    ema2.copyTo(out);
    out.forEach((p, i) => expect(Array.from(p.data)).toEqual(Array.from(fresh[i]!.data)));
  });

  test('updateEvery averages on every k-th call only', () => {
    const params = makeParams();
    const ema = new EMA(params, { decay: 0.5, updateEvery: 3 });
    const results: boolean[] = [];
    for (let t = 1; t <= 7; t++) {
      perturb(params, t);
      results.push(ema.update());
    }
    expect(results).toEqual([false, false, true, false, false, true, false]);
    expect(ema.numAveraged).toBe(2);
    expect(ema.updateCalls).toBe(7);
  });

  test('float32 parameters get float32 buffers and averages rounded once from float64 arithmetic', () => {
    const params = makeParams('float32');
    const start = snapshotOf(params);
    const ema = new EMA(params, { decay: 0.75 });
    perturb(params, 1);
    ema.update();
    const out = makeParams('float32', 4);
    ema.copyTo(out);
    expect(out[0]!.data).toBeInstanceOf(Float32Array);
    out.forEach((p, i) => p.data.forEach((v, k) => expect(v).toBe(Math.fround(0.75 * start[i]![k]! + 0.25 * params[i]!.data[k]!))));
  });

  test('invalid options are rejected by name', () => {
    expect(() => new EMA(makeParams(), { decay: 1.5 })).toThrow(/decay/);
    expect(() => new EMA(makeParams(), { updateEvery: 0 })).toThrow(/updateEvery/);
    expect(() => new EMA(makeParams(), { warmupGamma: 0 })).toThrow(/warmupGamma/);
    const p = makeParams();
    expect(() => new EMA([p[0]!, p[0]!])).toThrow(/once/);
  });
});

describe('PolyakAveraging', () => {
  test('skips the burn-in, copies on the first averaged update, then keeps the uniform mean', () => {
    const params = [Parameter.from([0, 0], { dtype: 'float64', name: 'w' })];
    const avg = new PolyakAveraging(params, { start: 2, updateEvery: 1 });
    const values = [100, -100, 1e20, 3, 5, 7];
    values.forEach((v) => {
      params[0]!.data.fill(v);
      avg.update();
    });
    expect(avg.numAveraged).toBe(4);
    const out = [Parameter.from([0, 0], { dtype: 'float64', name: 'w' })];
    avg.copyTo(out);
    // (1e20 + 3 + 5 + 7)/4 in the running form; the copy makes the first term exact.
    expect(out[0]!.data[0]).toBeCloseTo(2.5e19, -5);
    const avg2 = new PolyakAveraging(params, { updateEvery: 2 });
    [1, 2, 3, 4].forEach((v) => {
      params[0]!.data.fill(v);
      avg2.update();
    });
    avg2.copyTo(out);
    expect(Array.from(out[0]!.data)).toEqual([3, 3]); // mean of 2 and 4
  });
});

describe('AveragedModel', () => {
  test('a custom avgFn replaces the running mean after the first (copying) update', () => {
    const params = makeParams();
    const calls: number[] = [];
    const swa = new AveragedModel(params, {
      avgFn: (avg, cur, n) => {
        calls.push(n);
        for (let k = 0; k < avg.length; k++) avg[k] = Math.max(avg[k]!, cur[k]!);
      },
    });
    const max = snapshotOf(params);
    swa.update();
    for (let t = 1; t <= 3; t++) {
      perturb(params, t);
      params.forEach((p, i) => p.data.forEach((v, k) => (max[i]![k] = Math.max(max[i]![k]!, v))));
      swa.update();
    }
    expect(calls).toEqual([1, 1, 2, 2, 3, 3]); // two parameters per update
    params.forEach((_, i) => expect(Array.from(swa.averagedParam(i))).toEqual(max[i]));
  });

  test('emaAvgFn gives PyTorch get_ema_avg_fn: decay·avg + (1 − decay)·p', () => {
    const p = [Parameter.from([1, 2], { dtype: 'float64' })];
    const swa = new AveragedModel(p, { avgFn: emaAvgFn(0.9) });
    swa.update();
    p[0]!.data.set([11, 12]);
    swa.update();
    expect(swa.averagedParam(0)[0]).toBeCloseTo(2, 14);
    expect(swa.averagedParam(0)[1]).toBeCloseTo(3, 14);
  });
});

describe('SnapshotEnsemble', () => {
  test('keeps the last k snapshots and averages predictions and weights over them', () => {
    const w = [Parameter.from([0, 0], { dtype: 'float64', name: 'w' })];
    const ens = new SnapshotEnsemble(w, { k: 3 });
    for (const v of [1, 2, 3, 4, 5]) {
      w[0]!.data.fill(v);
      ens.snapshot();
    }
    expect(ens.size).toBe(3);
    expect(ens.snapshotsTaken).toBe(5);
    expect([0, 1, 2].map((j) => ens.snapshotOf(j, 0)[0])).toEqual([3, 4, 5]);
    w[0]!.data.set([-1, -2]);
    const pred = ens.predict(() => [w[0]!.data[0]! ** 2, 1]);
    expect(Array.from(pred)).toEqual([(9 + 16 + 25) / 3, 1]);
    expect(Array.from(w[0]!.data)).toEqual([-1, -2]); // live weights restored
    const out = [Parameter.from([0, 0], { dtype: 'float64', name: 'w' })];
    ens.copyTo(out);
    expect(Array.from(out[0]!.data)).toEqual([4, 4]);
  });

  test('predict restores the live weights even when the prediction throws', () => {
    const w = [Parameter.from([7], { dtype: 'float32' })];
    const ens = new SnapshotEnsemble(w, { k: 2 });
    ens.snapshot();
    w[0]!.data[0] = 8;
    expect(() =>
      ens.predict(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(w[0]!.data[0]).toBe(8);
  });
});

describe('evaluation helpers', () => {
  test('swapIn writes the averaged weights, swapOut restores the live ones bit for bit, updates are refused in between', () => {
    const params = makeParams('float32');
    const ema = new EMA(params, { decay: 0.5 });
    perturb(params, 1);
    ema.update();
    perturb(params, 2);
    const live = snapshotOf(params);
    const averaged = makeParams('float32', 8);
    ema.copyTo(averaged);
    ema.swapIn();
    expect(ema.isSwappedIn).toBe(true);
    params.forEach((p, i) => expect(Array.from(p.data)).toEqual(Array.from(averaged[i]!.data)));
    expect(() => ema.update()).toThrow(/swapOut/);
    expect(() => ema.swapIn()).toThrow(OptError);
    ema.swapOut();
    params.forEach((p, i) => expect(Array.from(p.data)).toEqual(live[i]));
    expect(() => ema.swapOut()).toThrow(OptError);
    const seen = ema.withAveraged(() => Array.from(params[0]!.data));
    expect(seen).toEqual(Array.from(averaged[0]!.data));
    params.forEach((p, i) => expect(Array.from(p.data)).toEqual(live[i]));
  });
});

describe('state dicts', () => {
  type Factory = (params: Parameter[]) => WeightAverage;
  const factories: Array<[string, Factory]> = [
    ['EMA (warm-up, debias, updateEvery)', (p) => new EMA(p, { decay: 0.95, warmup: true, debias: true, updateEvery: 2 })],
    ['PolyakAveraging', (p) => new PolyakAveraging(p, { start: 1 })],
    ['AveragedModel', (p) => new AveragedModel(p)],
    ['SnapshotEnsemble', (p) => new SnapshotEnsemble(p, { k: 2 })],
  ];

  test.each(factories)('%s: a JSON round trip continues bit-identically (float32 and float64)', (_name, factory) => {
    for (const dtype of ['float32', 'float64'] as const) {
      const a = makeParams(dtype);
      const avgA = factory(a);
      for (let t = 1; t <= 5; t++) {
        perturb(a, t);
        avgA.update();
      }
      const b = makeParams(dtype, 40);
      b.forEach((p, i) => p.data.set(a[i]!.data));
      const avgB = factory(b);
      avgB.loadStateDict(JSON.parse(JSON.stringify(avgA.stateDict())) as Record<string, unknown>);
      for (let t = 6; t <= 10; t++) {
        perturb(a, t);
        perturb(b, t);
        avgA.update();
        avgB.update();
      }
      const outA = makeParams(dtype, 50);
      const outB = makeParams(dtype, 60);
      avgA.copyTo(outA);
      avgB.copyTo(outB);
      outA.forEach((p, i) => p.data.forEach((v, k) => expect(Object.is(v, outB[i]!.data[k])).toBe(true)));
      expect(JSON.stringify(avgB.stateDict())).toBe(JSON.stringify(avgA.stateDict()));
    }
  });

  test('loading is validated before anything changes', () => {
    const params = makeParams();
    const ema = new EMA(params, { decay: 0.9 });
    ema.update();
    const good = ema.stateDict();
    const other = new EMA(makeParams('float64', 3), { decay: 0.5 });
    const before = JSON.stringify(other.stateDict());
    const bad = (patch: (sd: Record<string, unknown>) => void): Record<string, unknown> => {
      const sd = JSON.parse(JSON.stringify(good)) as Record<string, unknown>;
      patch(sd);
      return sd;
    };
    expect(() => other.loadStateDict(bad((sd) => (sd.kind = 'PolyakAveraging')))).toThrow(StateDictError);
    expect(() => other.loadStateDict(bad((sd) => ((sd.params as Array<{ shape: number[] }>)[0]!.shape = [6])))).toThrow(/shape/);
    expect(() => other.loadStateDict(bad((sd) => ((sd.options as Record<string, unknown>).decay = 2)))).toThrow(StateDictError);
    expect(() => other.loadStateDict(bad((sd) => ((sd.buffers as unknown[][])[0]!.length = 1)))).toThrow(/one tensor per parameter/);
    expect(() => other.loadStateDict(bad((sd) => ((sd.counters as Record<string, unknown>).calls = -1)))).toThrow(StateDictError);
    expect(JSON.stringify(other.stateDict())).toBe(before);
    expect(() => new AveragedModel(params, { avgFn: emaAvgFn() }).loadStateDict(new AveragedModel(params).stateDict())).toThrow(
      /avgFn/,
    );
  });
});
