import { InvalidOptionError, Rng, ShapeMismatchError } from '@opt/tensor';
import {
  crossEntropy,
  cutmix,
  mixBackward,
  mixedCrossEntropy,
  mixup,
  randomPermutation,
  sampleBeta,
  sampleGamma,
} from '../src/index';
import { expectGradClose, expectVjpClose, testValues } from './helpers/gradcheck';
import {
  type CaseReport,
  type FixtureDType,
  type FixtureTensor,
  expectWithinTolerance,
  loadFixture,
  report,
  scalarError,
  scaledError,
  shaped,
  tensor,
} from './helpers/fixtures';

interface MixupCase {
  id: string;
  dtype: FixtureDType;
  lambda: number;
  perm: number[];
  num_classes: number;
  label_smoothing: number;
  x: FixtureTensor;
  labels: number[];
  logits: FixtureTensor;
  x_mixed: FixtureTensor;
  y_mixed: FixtureTensor;
  upstream: FixtureTensor;
  grad_x: FixtureTensor;
  loss_soft: number;
  grad_logits_soft: FixtureTensor;
  loss_pair: number;
  grad_logits_pair: FixtureTensor;
}

const FILE = 'mixup.json';

function replay(c: MixupCase): CaseReport {
  const x = shaped(c.x, c.dtype);
  // The fixture's y_mixed is unsmoothed; its losses apply ε inside the cross-entropy.
  const batch = mixup(x, c.labels, { numClasses: c.num_classes, lambda: c.lambda, perm: c.perm });
  const gradX = mixBackward(batch, tensor(c.upstream, c.dtype));
  const logits = shaped(c.logits, c.dtype);
  const gradSoft = logits.data.slice().fill(0);
  const lossSoft = crossEntropy(logits, batch.targets, { labelSmoothing: c.label_smoothing, gradLogits: gradSoft });
  const gradPair = logits.data.slice().fill(0);
  const lossPair = mixedCrossEntropy(logits, batch, { labelSmoothing: c.label_smoothing, gradLogits: gradPair });
  return {
    id: c.id,
    dtype: c.dtype,
    errors: {
      x_mixed: scaledError(batch.x, c.x_mixed.data),
      y_mixed: scaledError(batch.targets, c.y_mixed.data),
      grad_x: scaledError(gradX, c.grad_x.data),
      loss_soft: scalarError(lossSoft, c.loss_soft),
      grad_logits_soft: scaledError(gradSoft, c.grad_logits_soft.data),
      loss_pair: scalarError(lossPair, c.loss_pair),
      grad_logits_pair: scaledError(gradPair, c.grad_logits_pair.data),
    },
  };
}

describe(`${FILE}: replays PyTorch 1.13 MixUp`, () => {
  const fixture = loadFixture<{ cases: MixupCase[] }>(FILE);
  test.each(fixture.cases.map((c) => [c.id, c] as const))(
    '%s: x_mixed, y_mixed, grad_x, both losses and their gradients within tolerance',
    (_id, c) => {
      const r = replay(c);
      report(FILE, r);
      expectWithinTolerance(r);
    },
  );

  test('smoothing the mixed targets in mixup and training with ε = 0 gives the fixture soft loss', () => {
    const c = fixture.cases.find((k) => k.id === 'mixup/label_smoothing')!;
    const batch = mixup(shaped(c.x, 'float64'), c.labels, {
      numClasses: c.num_classes,
      lambda: c.lambda,
      perm: c.perm,
      labelSmoothing: c.label_smoothing,
    });
    const loss = crossEntropy(shaped(c.logits, 'float64'), batch.targets);
    expect(scalarError(loss, c.loss_soft)).toBeLessThan(1e-14);
  });
});

describe('mixup and cutmix backward (finite differences, float64)', () => {
  test('mixBackward of mixup is the vector-Jacobian product of the forward map, also for an index map with repeats', () => {
    const n = 5;
    const d = 3;
    const x = testValues(n * d, 21);
    const gy = testValues(n * d, 22);
    for (const perm of [[3, 0, 4, 1, 2], [1, 1, 0, 4, 4]]) {
      const opts = { numClasses: 2, lambda: 0.35, perm };
      const labels = [0, 1, 1, 0, 1];
      const batch = mixup({ data: x, shape: [n, d] }, labels, opts);
      const grad = mixBackward(batch, gy);
      expectVjpClose((y) => y.set(mixup({ data: x, shape: [n, d] }, labels, opts).x), x, n * d, gy, grad);
    }
  });

  test('mixBackward of cutmix is the vector-Jacobian product of the forward map', () => {
    const shape = [3, 2, 4, 5];
    const size = 3 * 2 * 4 * 5;
    const x = testValues(size, 31);
    const gy = testValues(size, 32);
    const opts = { numClasses: 3, box: { y0: 1, y1: 3, x0: 2, x1: 5 }, perm: [2, 0, 0] };
    const labels = [0, 1, 2];
    const batch = cutmix({ data: x, shape }, labels, opts);
    const grad = mixBackward(batch, gy);
    expectVjpClose((y) => y.set(cutmix({ data: x, shape }, labels, opts).x), x, size, gy, grad);
  });

  test('mixedCrossEntropy gradient matches finite differences (weights, smoothing, mean)', () => {
    const logits = { data: testValues(12, 41), shape: [4, 3] };
    const batch = { labels: Int32Array.from([0, 2, 1, 2]), perm: Int32Array.from([2, 3, 0, 1]), lambda: 0.3 };
    const options = { labelSmoothing: 0.1, weight: [0.5, 2, 1] };
    const grad = new Float64Array(12);
    mixedCrossEntropy(logits, batch, { ...options, gradLogits: grad });
    expectGradClose(() => mixedCrossEntropy(logits, batch, options), logits.data, grad, { rtol: 1e-7 });
  });

  test('accumulate adds the backward into an existing gradient', () => {
    const x = testValues(6, 5);
    const batch = mixup({ data: x, shape: [3, 2] }, [0, 1, 0], { numClasses: 2, lambda: 0.6, perm: [1, 2, 0] });
    const up = testValues(6, 6);
    const fresh = mixBackward(batch, up);
    const acc = new Float64Array(6).fill(2);
    mixBackward(batch, up, { gradX: acc, accumulate: true });
    for (let i = 0; i < 6; i++) expect(acc[i]).toBeCloseTo(2 + fresh[i]!, 15);
  });
});

describe('mixup and cutmix semantics', () => {
  test('sampled λ and permutation are reproducible from the seed and drawn in a fixed order', () => {
    const x = { data: testValues(8, 2), shape: [4, 2] };
    const a = mixup(x, [0, 1, 2, 0], { numClasses: 3, alpha: 0.4, rng: new Rng(7) });
    const b = mixup(x, [0, 1, 2, 0], { numClasses: 3, alpha: 0.4, rng: new Rng(7) });
    expect(a.lambda).toBe(b.lambda);
    expect(Array.from(a.perm)).toEqual(Array.from(b.perm));
    const rng = new Rng(7);
    const lambda = sampleBeta(rng, 0.4, 0.4);
    const perm = randomPermutation(rng, 4);
    expect(a.lambda).toBe(lambda);
    expect(Array.from(a.perm)).toEqual(Array.from(perm));
  });

  test('mixed targets are λ·onehot(y) + (1 − λ)·onehot(y[perm]), smoothed when asked, and sum to one', () => {
    const x = { data: new Float64Array(4), shape: [4, 1] };
    const batch = mixup(x, [0, 1, 2, 1], { numClasses: 3, lambda: 0.25, perm: [1, 0, 3, 3], labelSmoothing: 0.3 });
    const t = batch.targets;
    const s = (v: number): number => 0.7 * v + 0.1;
    const expected = [s(0.25), s(0.75), s(0), s(0.75), s(0.25), s(0), s(0), s(0.75), s(0.25), s(0), s(1), s(0)];
    expected.forEach((e, k) => expect(t[k]).toBeCloseTo(e, 15));
    for (let i = 0; i < 4; i++) expect(t[i * 3]! + t[i * 3 + 1]! + t[i * 3 + 2]!).toBeCloseTo(1, 15);
  });

  test('cutmix pastes the partner box into every channel and sets λ to the exact area complement', () => {
    const shape = [2, 2, 4, 4];
    const data = new Float64Array(64);
    data.fill(1, 0, 32);
    data.fill(2, 32, 64);
    const batch = cutmix({ data, shape }, [0, 1], { numClasses: 2, box: { y0: 0, y1: 2, x0: 1, x1: 4 }, perm: [1, 0] });
    expect(batch.lambda).toBe(1 - 6 / 16);
    let pasted = 0;
    for (let k = 0; k < 32; k++) if (batch.x[k] === 2) pasted++;
    expect(pasted).toBe(12); // 6 pixels × 2 channels
    expect(batch.x[0 * 16 + 0 * 4 + 1]).toBe(2);
    expect(batch.x[0 * 16 + 2 * 4 + 1]).toBe(1);
    expect(Array.from(batch.targets.subarray(0, 2))).toEqual([batch.lambda, 1 - batch.lambda]);
  });

  test('a sampled cutmix box has side ⌊side·√(1 − λ)⌋ (before clipping) and λ matches its area', () => {
    for (let seed = 0; seed < 50; seed++) {
      const data = testValues(2 * 10 * 12, seed + 1);
      const batch = cutmix({ data, shape: [2, 10, 12] }, [0, 1], { numClasses: 2, alpha: 1, rng: new Rng(seed) });
      const { y0, y1, x0, x1 } = batch.box!;
      expect(y0 >= 0 && y1 <= 10 && x0 >= 0 && x1 <= 12 && y0 <= y1 && x0 <= x1).toBe(true);
      expect(batch.lambda).toBe(1 - ((y1 - y0) * (x1 - x0)) / 120);
      const rng = new Rng(seed);
      const lambda0 = sampleBeta(rng, 1, 1);
      const h = Math.floor(10 * Math.sqrt(1 - lambda0));
      expect(y1 - y0).toBeLessThanOrEqual(2 * Math.floor(h / 2));
    }
  });

  test('Gamma and Beta samples have the right mean and variance (also for shapes below one)', () => {
    const rng = new Rng(123);
    const m = 40000;
    for (const a of [0.2, 1, 3.5]) {
      let s = 0;
      let s2 = 0;
      for (let i = 0; i < m; i++) {
        const g = sampleGamma(rng, a);
        s += g;
        s2 += g * g;
      }
      const mean = s / m;
      expect(Math.abs(mean - a)).toBeLessThan(5 * Math.sqrt(a / m));
      expect(Math.abs(s2 / m - mean * mean - a) / a).toBeLessThan(0.08);
    }
    for (const alpha of [0.1, 0.4, 2]) {
      let s = 0;
      let s2 = 0;
      let outside = 0;
      for (let i = 0; i < m; i++) {
        const b = sampleBeta(rng, alpha, alpha);
        if (!(b >= 0 && b <= 1)) outside++;
        s += b;
        s2 += b * b;
      }
      expect(outside).toBe(0);
      const variance = 1 / (4 * (2 * alpha + 1));
      expect(Math.abs(s / m - 0.5)).toBeLessThan(5 * Math.sqrt(variance / m));
      expect(Math.abs(s2 / m - (s / m) ** 2 - variance) / variance).toBeLessThan(0.05);
    }
  });

  test('randomPermutation is a permutation', () => {
    const p = randomPermutation(new Rng(3), 100);
    expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  test('invalid arguments are rejected with errors that name the option', () => {
    const x = { data: new Float64Array(4), shape: [2, 2] };
    expect(() => mixup(x, [0, 1], { numClasses: 2, lambda: 0.5 })).toThrow(/rng/);
    expect(() => mixup(x, [0, 1], { numClasses: 2, perm: [0, 1] })).toThrow(/rng/);
    expect(() => mixup(x, [0, 2], { numClasses: 2, lambda: 0.5, perm: [1, 0] })).toThrow(InvalidOptionError);
    expect(() => mixup(x, [0, 1], { numClasses: 2, lambda: 1.5, perm: [1, 0] })).toThrow(/lambda/);
    expect(() => mixup(x, [0, 1], { numClasses: 2, lambda: 0.5, perm: [2, 0] })).toThrow(/perm\[0\]/);
    expect(() => mixup(x, [0, 1], { numClasses: 2, lambda: 0.5, perm: [1, 0], out: x.data })).toThrow(/out/);
    expect(() => mixup(x, [0, 1], { numClasses: 2, alpha: 0, rng: new Rng(1) })).toThrow(/alpha/);
    expect(() => mixup(x, [0], { numClasses: 2, lambda: 0.5, perm: [1, 0] })).toThrow(ShapeMismatchError);
    expect(() => cutmix(x, [0, 1], { numClasses: 2, lambda: 0.5, perm: [1, 0] })).toThrow(ShapeMismatchError);
    const img = { data: new Float64Array(2 * 3 * 3), shape: [2, 3, 3] };
    expect(() => cutmix(img, [0, 1], { numClasses: 2, perm: [1, 0], box: { y0: 2, y1: 1, x0: 0, x1: 1 } })).toThrow(/box/);
    expect(() => cutmix(img, [0, 1], { numClasses: 2, perm: [1, 0], lambda: 0.5, box: { y0: 0, y1: 1, x0: 0, x1: 1 } })).toThrow(
      /lambda/,
    );
    expect(() => sampleBeta(new Rng(1), -1, 1)).toThrow(/\ba\b/);
  });
});
