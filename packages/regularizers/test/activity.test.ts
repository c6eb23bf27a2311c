import { activityL1, activityL2, activityRegularization, entropyRegularization } from '../src/index';
import { expectGradClose, testValues } from './helpers/gradcheck';

describe('activity regularisation', () => {
  test.each(['sum', 'mean'] as const)('the l1 + l2 gradient matches central differences (%s reduction)', (reduction) => {
    const x = testValues(12, 4);
    const grad = new Float64Array(12);
    const value = activityRegularization(x, [3, 4], { l1: 0.2, l2: 0.3 }, { grad, reduction });
    let l1 = 0;
    let l2 = 0;
    for (const v of x) {
      l1 += Math.abs(v);
      l2 += v * v;
    }
    const s = reduction === 'mean' ? 1 / 3 : 1;
    expect(value).toBeCloseTo(s * (0.2 * l1 + 0.3 * l2), 14);
    expectGradClose(() => activityRegularization(x, [3, 4], { l1: 0.2, l2: 0.3 }, { reduction }), x, grad);
  });

  test('activityL1 and activityL2 are the two halves, add into an existing gradient and give sign(0) = 0', () => {
    const x = new Float32Array([1, -2, 0, 0.5]);
    const g = new Float32Array([1, 1, 1, 1]);
    expect(activityL1(x, [2, 2], 0.5, { grad: g })).toBeCloseTo(0.5 * 3.5, 7);
    expect(Array.from(g)).toEqual([1.5, 0.5, 1, 1.5]);
    const g2 = new Float32Array(4);
    expect(activityL2(x, [2, 2], 0.5, { grad: g2, reduction: 'mean' })).toBeCloseTo((0.5 * 5.25) / 2, 7);
    expect(Array.from(g2)).toEqual([0.5, -1, 0, 0.25]);
    expect(activityL1(x, [4], 1)).toBe(3.5);
  });

  test('mismatched shapes and gradients are rejected', () => {
    const x = new Float64Array(6);
    expect(() => activityL1(x, [4, 2], 1)).toThrow(/holds 8 elements/);
    expect(() => activityL1(x, [6], 1, { grad: new Float64Array(5) })).toThrow(/grad/);
    expect(() => activityL2(x, [6], -1)).toThrow(/l2/);
    expect(() => activityL2(x, [6], 1, { reduction: 'max' as 'sum' })).toThrow(/reduction/);
  });
});

/** H(softmax(z)) by the definition, in float64 (test oracle). */
function entropyOf(z: ArrayLike<number>): number {
  const m = Math.max(...Array.from(z));
  const e = Array.from(z, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return -e.reduce((h, v) => h + (v / s) * Math.log(v / s), 0);
}

describe('entropyRegularization', () => {
  test.each(['minimize', 'maximize'] as const)('value is ±λ·mean entropy and its logit gradient matches central differences (%s)', (mode) => {
    const z = testValues(15, 8).map((v) => 3 * v);
    const grad = new Float64Array(15);
    const value = entropyRegularization(z, [3, 5], 0.7, { grad, mode });
    const mean = (entropyOf(z.subarray(0, 5)) + entropyOf(z.subarray(5, 10)) + entropyOf(z.subarray(10, 15))) / 3;
    expect(value).toBeCloseTo((mode === 'minimize' ? 0.7 : -0.7) * mean, 13);
    expectGradClose(() => entropyRegularization(z, [3, 5], 0.7, { mode }), z, grad);
  });

  test('uniform logits have the maximal entropy log C and a zero gradient', () => {
    const z = new Float64Array(8).fill(2.5);
    const grad = new Float64Array(8);
    expect(entropyRegularization(z, [2, 4], 1, { grad })).toBeCloseTo(Math.log(4), 15);
    for (const g of grad) expect(Math.abs(g)).toBeLessThan(1e-16);
  });

  test('extreme logits stay finite (no 0·log 0) and float32 buffers work', () => {
    const z = new Float32Array([1000, -1000, 0, 50, 50, -Infinity]);
    const grad = new Float32Array(6);
    const value = entropyRegularization(z, [2, 3], 1, { grad });
    expect(Number.isFinite(value)).toBe(true);
    expect(value).toBeCloseTo(Math.log(2) / 2, 6);
    for (const g of grad) expect(Number.isFinite(g)).toBe(true);
  });

  test('the logits must be [N, C]', () => {
    expect(() => entropyRegularization(new Float64Array(8), [2, 2, 2], 1)).toThrow(/\[N, C\]/);
    expect(() => entropyRegularization(new Float64Array(8), [2, 4], 1, { mode: 'up' as 'maximize' })).toThrow(/mode/);
  });
});
