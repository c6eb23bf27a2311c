import { Parameter, type Schedule } from '@opt/core';
import { Rng } from '@opt/tensor';
import {
  AdaptiveDropoutRate,
  DropConnect,
  Dropout,
  ShakeDrop,
  bernoulliMask,
  curriculumDropoutSchedule,
  dropout,
  dropoutBackward,
  linearDecaySurvival,
  spatialDropout,
  spatialDropoutBackward,
  stochasticDepth,
  stochasticDepthBackward,
} from '../src/index';
import { expectVjpClose, testValues } from './helpers/gradcheck';

const N = 20000;

function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s / a.length;
}

describe('dropout', () => {
  test('the same seed gives the same mask and a different seed a different one', () => {
    const x = new Float64Array(64).fill(1);
    const run = (seed: number) => {
      const mask = new Float64Array(64);
      dropout(x, new Float64Array(64), mask, 0.3, new Rng(seed));
      return Array.from(mask);
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
  });

  test('inverted dropout preserves the expectation and drops about p of the units', () => {
    const x = new Float64Array(N).fill(3);
    const mask = new Float64Array(N);
    const y = dropout(x, new Float64Array(N), mask, 0.3, new Rng(1));
    expect(mean(y)).toBeGreaterThan(3 * 0.97);
    expect(mean(y)).toBeLessThan(3 * 1.03);
    const dropped = mask.filter((m) => m === 0).length / N;
    expect(Math.abs(dropped - 0.3)).toBeLessThan(0.02);
    expect(mask.every((m) => m === 0 || m === 1 / 0.7)).toBe(true);
  });

  test('standard (non-inverted) dropout keeps units unscaled and evaluation scales by 1 − p', () => {
    const x = new Float64Array(N).fill(2);
    const mask = new Float64Array(N);
    const y = dropout(x, new Float64Array(N), mask, 0.25, new Rng(2), { inverted: false });
    expect(mask.every((m) => m === 0 || m === 1)).toBe(true);
    expect(Math.abs(mean(y) - 2 * 0.75)).toBeLessThan(0.05);
    const yEval = dropout(x, new Float64Array(N), mask, 0.25, new Rng(2), { inverted: false, training: false });
    expect(mean(yEval)).toBe(1.5);
    const yEvalInv = dropout(x, new Float64Array(N), mask, 0.25, new Rng(2), { training: false });
    expect(mean(yEvalInv)).toBe(2);
  });

  test('the backward applies the forward mask: it is the exact vector-Jacobian product (float64)', () => {
    const x = testValues(40, 3);
    const mask = new Float64Array(40);
    dropout(x, new Float64Array(40), mask, 0.5, new Rng(3));
    const gy = testValues(40, 5);
    const gx = dropoutBackward(gy, mask, new Float64Array(40));
    // Replaying the recorded mask makes the forward a deterministic function of x.
    expectVjpClose((y) => { for (let i = 0; i < 40; i++) y[i] = x[i]! * mask[i]!; }, x, 40, gy, gx);
    expect(Array.from(dropoutBackward(gy, mask, new Float64Array(40).fill(1), { accumulate: true }))).toEqual(
      Array.from(gx, (g) => g + 1),
    );
  });

  test('p = 0 keeps everything, p = 1 drops everything without NaN, float32 works', () => {
    const x = new Float32Array([1, 2, 3]);
    const mask = new Float32Array(3);
    expect(Array.from(dropout(x, new Float32Array(3), mask, 0, new Rng(0)))).toEqual([1, 2, 3]);
    expect(Array.from(dropout(x, new Float32Array(3), mask, 1, new Rng(0)))).toEqual([0, 0, 0]);
    expect(() => dropout(x, new Float32Array(3), mask, 1.5, new Rng(0))).toThrow(/p/);
    expect(() => dropout(x, new Float32Array(2), mask, 0.5, new Rng(0))).toThrow(/out/);
  });

  test('bernoulliMask keeps about keepProb of the entries', () => {
    const m = bernoulliMask(new Float32Array(N), 0.8, new Rng(9), 5);
    expect(Math.abs(mean(m) - 4)).toBeLessThan(0.1);
  });
});

describe('spatialDropout', () => {
  test('whole channels are dropped together, deterministically per seed, with the expectation preserved', () => {
    const shape = [50, 40, 3, 2];
    const size = 50 * 40 * 6;
    const x = new Float64Array(size).fill(1);
    const mask = new Float64Array(2000);
    const y = spatialDropout(x, shape, new Float64Array(size), mask, 0.4, new Rng(11));
    expect(y.every((v, i) => v === mask[Math.floor(i / 6)])).toBe(true);
    expect(Math.abs(mean(y) - 1)).toBeLessThan(0.06);
    const mask2 = new Float64Array(2000);
    spatialDropout(x, shape, new Float64Array(size), mask2, 0.4, new Rng(11));
    expect(Array.from(mask2)).toEqual(Array.from(mask));
    spatialDropout(x, shape, new Float64Array(size), mask2, 0.4, new Rng(12));
    expect(Array.from(mask2)).not.toEqual(Array.from(mask));
  });

  test('the backward is the exact vector-Jacobian product of the masked forward', () => {
    const shape = [2, 3, 4];
    const x = testValues(24, 13);
    const mask = new Float64Array(6);
    spatialDropout(x, shape, new Float64Array(24), mask, 0.5, new Rng(4));
    const gy = testValues(24, 15);
    const gx = spatialDropoutBackward(gy, shape, mask, new Float64Array(24));
    expectVjpClose(
      (y) => { for (let i = 0; i < 24; i++) y[i] = x[i]! * mask[Math.floor(i / 4)]!; },
      x,
      24,
      gy,
      gx,
    );
    expect(() => spatialDropoutBackward(gy, shape, new Float64Array(5), new Float64Array(24))).toThrow(/mask/);
  });
});

describe('Dropout layer and dropout-rate schedules', () => {
  test('forward/backward reuse the preallocated mask and the seed fixes the stream', () => {
    const a = new Dropout(100, { p: 0.5, seed: 1 });
    const b = new Dropout(100, { p: 0.5, seed: 1 });
    const c = new Dropout(100, { p: 0.5, seed: 2 });
    const x = new Float64Array(100).fill(1);
    const ya = Array.from(a.forward(x, new Float64Array(100)));
    expect(Array.from(b.forward(x, new Float64Array(100)))).toEqual(ya);
    expect(Array.from(c.forward(x, new Float64Array(100)))).not.toEqual(ya);
    const gx = a.backward(new Float64Array(100).fill(1), new Float64Array(100));
    expect(Array.from(gx)).toEqual(ya);
    const mask = a.mask;
    a.forward(x.subarray(0, 10), new Float64Array(10));
    expect(a.mask.length).toBe(10);
    expect(mask.buffer).toBe(a.mask.buffer);
    expect(() => a.backward(new Float64Array(100), new Float64Array(100))).toThrow(/last forward had 10/);
    expect(() => a.forward(new Float64Array(101), new Float64Array(101))).toThrow(/capacity/);
  });

  test('stateDict resumes the exact mask stream', () => {
    const a = new Dropout(32, { p: 0.3, seed: 5 });
    const x = new Float64Array(32).fill(1);
    a.forward(x, new Float64Array(32));
    a.step();
    const saved = JSON.parse(JSON.stringify(a.stateDict()));
    const next = Array.from(a.forward(x, new Float64Array(32)));
    const b = new Dropout(32, { p: 0.3, seed: 99 });
    b.loadStateDict(saved);
    expect(b.stepCount).toBe(1);
    expect(Array.from(b.forward(x, new Float64Array(32)))).toEqual(next);
    expect(() => b.loadStateDict({ step: -1, rng: saved.rng })).toThrow(/step/);
  });

  test('a scheduled rate follows the step counter, and evaluation mode is the identity', () => {
    const schedule: Schedule = (t) => Math.min(0.5, 0.1 * t);
    const d = new Dropout(N, { p: schedule, seed: 3 });
    const x = new Float64Array(N).fill(1);
    expect(d.p).toBe(0);
    expect(Array.from(d.forward(x, new Float64Array(N)).subarray(0, 5))).toEqual([1, 1, 1, 1, 1]);
    for (let k = 0; k < 3; k++) d.step();
    expect(d.p).toBeCloseTo(0.3, 15);
    d.forward(x, new Float64Array(N));
    expect(Math.abs(d.mask.filter((m) => m === 0).length / N - 0.3)).toBeLessThan(0.02);
    d.training = false;
    expect(mean(d.forward(x, new Float64Array(N)))).toBe(1);
    const bad = new Dropout(4, { p: () => 2 });
    expect(() => bad.forward(new Float64Array(4), new Float64Array(4))).toThrow(/p \(scheduled\)/);
  });

  test('curriculum dropout rises from 0 towards the final rate', () => {
    const s = curriculumDropoutSchedule(0.5, 0.01);
    expect(s(0)).toBe(0);
    expect(s(100)).toBeCloseTo(0.5 * (1 - Math.exp(-1)), 15);
    expect(s(1e6)).toBeCloseTo(0.5, 12);
    expect(() => curriculumDropoutSchedule(0.5, 0)).toThrow(/gamma/);
  });

  test('the adaptive rate rises with a large generalisation gap, falls with a small one, and drives a Dropout', () => {
    const c = new AdaptiveDropoutRate({ initial: 0.2, min: 0.1, max: 0.3, delta: 0.05, targetGap: 0.1, tolerance: 0.05 });
    const d = new Dropout(8, { p: c.schedule });
    expect(c.update(1, 1.5)).toBeCloseTo(0.25, 15);
    expect(d.p).toBeCloseTo(0.25, 15);
    expect(c.update(1, 1.5)).toBeCloseTo(0.3, 15);
    expect(c.update(1, 1.5)).toBeCloseTo(0.3, 15);
    expect(c.update(1, 1.1)).toBeCloseTo(0.3, 15);
    expect(c.update(1, 1.0)).toBeCloseTo(0.25, 15);
    expect(() => c.update(NaN, 1)).toThrow(/losses/);
    expect(() => new AdaptiveDropoutRate({ min: 0.5, initial: 0.2 })).toThrow(/initial/);
  });
});

describe('DropConnect', () => {
  test('masks the weights, adds the masked gradient into p.grad, and is seeded', () => {
    const w = Parameter.from(testValues(200, 2), { shape: [10, 20], dtype: 'float64' });
    const dc = new DropConnect(w, { p: 0.25, seed: 4 });
    const wm = dc.forward();
    for (let i = 0; i < 200; i++) expect(wm[i]).toBe(w.data[i]! * dc.mask[i]!);
    const again = new DropConnect(w, { p: 0.25, seed: 4 }).forward();
    expect(Array.from(again)).toEqual(Array.from(wm));
    expect(Array.from(new DropConnect(w, { p: 0.25, seed: 5 }).forward())).not.toEqual(Array.from(wm));
    const gy = testValues(200, 8);
    dc.backward(gy);
    const grad = w.grad!.slice();
    const mask = dc.mask.slice();
    expectVjpClose((y) => { for (let i = 0; i < 200; i++) y[i] = (w.data as Float64Array)[i]! * mask[i]!; }, w.data as Float64Array, 200, gy, grad);
    dc.backward(gy);
    for (let i = 0; i < 200; i++) expect(w.grad![i]).toBeCloseTo(2 * grad[i]!, 15);
  });

  test('the masked weight is unbiased and evaluation uses the weight itself (float32)', () => {
    const w = Parameter.from(new Float32Array(N).fill(0.5), { dtype: 'float32' });
    const dc = new DropConnect(w, { p: 0.5, seed: 6 });
    const wm = dc.forward();
    expect(wm).toBeInstanceOf(Float32Array);
    expect(Math.abs(mean(wm) - 0.5)).toBeLessThan(0.02);
    dc.training = false;
    expect(mean(dc.forward())).toBe(0.5);
    const saved = dc.stateDict();
    const other = new DropConnect(w, { p: 0.5, seed: 0 });
    other.loadStateDict(saved);
    dc.training = true;
    expect(Array.from(other.forward())).toEqual(Array.from(dc.forward()));
  });
});

describe('stochastic depth', () => {
  test('the linear-decay rule gives 1 at the input and p_L at the last block', () => {
    expect(linearDecaySurvival(0, 10)).toBe(1);
    expect(linearDecaySurvival(10, 10)).toBe(0.5);
    expect(linearDecaySurvival(5, 10, 0.8)).toBeCloseTo(0.9, 15);
    expect(() => linearDecaySurvival(11, 10)).toThrow(/l/);
  });

  test('per-sample gates are seeded, preserve the expectation (inverted) and the backward uses them', () => {
    const shape = [N, 2];
    const branch = new Float64Array(2 * N).fill(1);
    const gate = new Float64Array(N);
    const out = stochasticDepth(branch, shape, new Float64Array(2 * N), gate, 0.8, new Rng(21));
    let mismatches = 0;
    for (let n = 0; n < N; n++) {
      if (!(gate[n] === 0 || gate[n] === 1.25) || out[2 * n] !== gate[n] || out[2 * n + 1] !== gate[n]) mismatches++;
    }
    expect(mismatches).toBe(0);
    expect(Math.abs(mean(out) - 1)).toBeLessThan(0.03);
    const gate2 = new Float64Array(N);
    stochasticDepth(branch, shape, new Float64Array(2 * N), gate2, 0.8, new Rng(21));
    expect(Array.from(gate2)).toEqual(Array.from(gate));
    stochasticDepth(branch, shape, new Float64Array(2 * N), gate2, 0.8, new Rng(22));
    expect(Array.from(gate2)).not.toEqual(Array.from(gate));
    const x = testValues(12, 1);
    const g = new Float64Array(4);
    stochasticDepth(x, [4, 3], new Float64Array(12), g, 0.5, new Rng(3));
    const gy = testValues(12, 2);
    const gx = stochasticDepthBackward(gy, [4, 3], g, new Float64Array(12));
    expectVjpClose((y) => { for (let i = 0; i < 12; i++) y[i] = x[i]! * g[Math.floor(i / 3)]!; }, x, 12, gy, gx);
  });

  test("'batch' mode gates the whole batch at once; the original formulation scales by p at evaluation", () => {
    const branch = new Float64Array(8).fill(2);
    const gate = new Float64Array(4);
    for (let seed = 0; seed < 10; seed++) {
      stochasticDepth(branch, [4, 2], new Float64Array(8), gate, 0.5, new Rng(seed), { mode: 'batch' });
      expect(new Set(gate).size).toBe(1);
    }
    const out = stochasticDepth(branch, [4, 2], new Float64Array(8), gate, 0.7, new Rng(0), { inverted: false, training: false });
    expect(Array.from(out)).toEqual(new Array(8).fill(2 * 0.7));
    stochasticDepth(branch, [4, 2], new Float64Array(8), gate, 0.7, new Rng(0), { inverted: false });
    for (const v of gate) expect(v === 0 || v === 1).toBe(true);
    expect(() => stochasticDepth(branch, [4, 2], new Float64Array(8), gate, 0.7, new Rng(0), { mode: 'x' as 'row' })).toThrow(/mode/);
  });
});

describe('ShakeDrop', () => {
  test('forward uses b + α − bα and backward b + β − bβ per sample, within their ranges', () => {
    const sd = new ShakeDrop(1000, { survivalProb: 0.5, seed: 8 });
    const branch = new Float64Array(2000).fill(1);
    const out = sd.forward(branch, [1000, 2], new Float64Array(2000));
    const fc = sd.forwardCoefficients;
    const bc = sd.backwardCoefficients;
    let kept = 0;
    for (let n = 0; n < 1000; n++) {
      expect(out[2 * n]).toBe(fc[n]);
      if (fc[n] === 1) {
        kept++;
        expect(bc[n]).toBe(1);
      } else {
        expect(fc[n]).toBeGreaterThanOrEqual(-1);
        expect(fc[n]).toBeLessThanOrEqual(1);
        expect(bc[n]).toBeGreaterThanOrEqual(0);
        expect(bc[n]).toBeLessThanOrEqual(1);
      }
    }
    expect(Math.abs(kept / 1000 - 0.5)).toBeLessThan(0.06);
    const gy = new Float64Array(2000).fill(1);
    const gx = sd.backward(gy, [1000, 2], new Float64Array(2000));
    for (let n = 0; n < 1000; n++) expect(gx[2 * n + 1]).toBe(bc[n]);
  });

  test('the forward preserves E[b + α − bα]·F = p_l·F and evaluation uses that mean', () => {
    const pl = linearDecaySurvival(3, 4);
    const sd = new ShakeDrop(N, { survivalProb: pl, seed: 12 });
    const branch = new Float64Array(N).fill(1);
    const out = sd.forward(branch, [N], new Float64Array(N));
    expect(Math.abs(mean(out) - pl)).toBeLessThan(0.02);
    sd.training = false;
    expect(mean(sd.forward(branch, [N], new Float64Array(N)))).toBeCloseTo(pl, 12);
  });

  test('with degenerate α = β ranges the backward is the exact vector-Jacobian product', () => {
    const sd = new ShakeDrop(5, { survivalProb: 0.4, alphaRange: [0.3, 0.3], betaRange: [0.3, 0.3], seed: 1 });
    const x = testValues(15, 5);
    sd.forward(x, [5, 3], new Float64Array(15));
    const coef = sd.forwardCoefficients.slice();
    const gy = testValues(15, 6);
    const gx = sd.backward(gy, [5, 3], new Float64Array(15));
    expectVjpClose((y) => { for (let i = 0; i < 15; i++) y[i] = x[i]! * coef[Math.floor(i / 3)]!; }, x, 15, gy, gx);
  });

  test('the seed fixes the draws, the state resumes them, and bad inputs are rejected', () => {
    const draw = (seed: number) => {
      const sd = new ShakeDrop(16, { seed });
      sd.forward(new Float64Array(16).fill(1), [16], new Float64Array(16));
      return [Array.from(sd.forwardCoefficients), Array.from(sd.backwardCoefficients)];
    };
    expect(draw(3)).toEqual(draw(3));
    expect(draw(3)).not.toEqual(draw(4));
    const a = new ShakeDrop(4, { seed: 1 });
    const b = new ShakeDrop(4, { seed: 2 });
    b.loadStateDict(a.stateDict());
    const x = new Float32Array([1, 2, 3, 4]);
    expect(Array.from(a.forward(x, [4], new Float32Array(4)))).toEqual(Array.from(b.forward(x, [4], new Float32Array(4))));
    expect(() => a.forward(new Float64Array(5), [5], new Float64Array(5))).toThrow(/capacity/);
    expect(() => a.backward(new Float64Array(2), [2], new Float64Array(2))).toThrow(/last forward had 4/);
    expect(() => new ShakeDrop(4, { alphaRange: [1, -1] })).toThrow(/alphaRange/);
  });
});
