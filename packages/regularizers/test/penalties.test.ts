import { Parameter } from '@opt/core';
import { elasticNet, l1Penalty, l2HalfPenalty, l2Penalty, penaltyKernel } from '../src/index';
import { expectGradClose, testValues } from './helpers/gradcheck';
import { type PenaltyCase, RTOL, loadFixture, report, scalarError, scaledError } from './helpers/penalties-fixtures';

const fixture = loadFixture<{ kind: string; cases: PenaltyCase[] }>('penalties.json');

function applyCase(c: PenaltyCase, params: Parameter[]): number {
  switch (c.kind) {
    case 'l1':
      return l1Penalty(params, c.coefficients.lambda!);
    case 'l2':
      return l2Penalty(params, c.coefficients.lambda!);
    case 'l2_half':
      return l2HalfPenalty(params, c.coefficients.lambda!);
    case 'elastic_net':
      return elasticNet(params, { alpha: c.coefficients.alpha!, l1Ratio: c.coefficients.l1_ratio! });
  }
}

describe('penalties.json: replays PyTorch 1.13 penalty values and gradients', () => {
  test('the fixture covers every penalty kind and both dtypes', () => {
    expect(new Set(fixture.cases.map((c) => c.kind))).toEqual(new Set(['l1', 'l2', 'l2_half', 'elastic_net']));
    expect(new Set(fixture.cases.map((c) => c.dtype))).toEqual(new Set(['float32', 'float64']));
  });

  test.each(fixture.cases.map((c) => [c.id, c] as const))('%s matches value and grads within the dtype tolerance', (_id, c) => {
    const params = c.params.map((t) => Parameter.from(t.data, { shape: t.shape, dtype: c.dtype }));
    const value = applyCase(c, params);
    const valueError = scalarError(value, c.value);
    let gradError = 0;
    params.forEach((p, i) => {
      expect(p.grad).not.toBeNull();
      gradError = Math.max(gradError, scaledError(p.grad!, c.grads[i]!.data));
    });
    report('regularizers/penalties.json', { id: c.id, dtype: c.dtype, valueError, gradError });
    expect(valueError).toBeLessThanOrEqual(RTOL[c.dtype]);
    expect(gradError).toBeLessThanOrEqual(RTOL[c.dtype]);
  });

  test('the params contain exact zeros and their gradient is exactly 0', () => {
    const c = fixture.cases.find((x) => x.kind === 'l1')!;
    const params = c.params.map((t) => Parameter.from(t.data, { shape: t.shape, dtype: 'float64' }));
    l1Penalty(params, c.coefficients.lambda!);
    let zeros = 0;
    params.forEach((p) =>
      p.data.forEach((w, i) => {
        if (w === 0) {
          zeros++;
          expect(p.grad![i]).toBe(0);
        }
      }),
    );
    expect(zeros).toBeGreaterThan(0);
  });
});

describe('weight penalties', () => {
  test('gradients of l1, l2, l2Half and elastic net match central differences in float64', () => {
    const x = testValues(17, 3);
    const p = new Parameter(x, [17]);
    const cases: Array<[string, (opts: { addToGrad: boolean }) => number]> = [
      ['l1', (o) => l1Penalty(p, 0.3, o)],
      ['l2', (o) => l2Penalty(p, 0.7, o)],
      ['l2 half option', (o) => l2Penalty(p, 0.7, { ...o, half: true })],
      ['l2Half', (o) => l2HalfPenalty(p, 0.7, o)],
      ['elastic', (o) => elasticNet(p, { alpha: 0.4, l1Ratio: 0.25, ...o })],
    ];
    for (const [, fn] of cases) {
      p.grad = null;
      fn({ addToGrad: true });
      const analytic = p.grad!.slice();
      expectGradClose(() => fn({ addToGrad: false }), x, analytic);
    }
  });

  test('the gradient is added to an existing grad, and addToGrad: false leaves grad untouched', () => {
    const p = Parameter.from([1, -2, 0], { dtype: 'float64' });
    p.grad = new Float64Array([10, 10, 10]);
    const v = l2Penalty(p, 0.5);
    expect(v).toBeCloseTo(0.5 * 5, 15);
    expect(Array.from(p.grad)).toEqual([11, 8, 10]);
    l1Penalty(p, 1, { addToGrad: false });
    expect(Array.from(p.grad)).toEqual([11, 8, 10]);
    const q = Parameter.from([1, 2], { dtype: 'float64' });
    l1Penalty(q, 1, { addToGrad: false });
    expect(q.grad).toBeNull();
  });

  test('l2Half equals l2 with half the strength, and elastic net reduces to l1 and l2Half at its ends', () => {
    const make = () => Parameter.from(testValues(9, 11), { dtype: 'float64' });
    const [a, b, c, d, e, f] = [make(), make(), make(), make(), make(), make()];
    expect(l2HalfPenalty(a, 0.2)).toBe(l2Penalty(b, 0.1));
    expect(Array.from(a.grad!)).toEqual(Array.from(b.grad!));
    expect(elasticNet(c, { alpha: 0.3, l1Ratio: 1 })).toBeCloseTo(l1Penalty(d, 0.3), 15);
    expect(elasticNet(e, { alpha: 0.3, l1Ratio: 0 })).toBeCloseTo(l2HalfPenalty(f, 0.3), 15);
    expect(scaledError(c.grad!, d.grad!)).toBeLessThan(1e-15);
    expect(scaledError(e.grad!, f.grad!)).toBeLessThan(1e-15);
  });

  test('float32 parameters get float32 gradients and a float64 value', () => {
    const p = Parameter.from([0.1, -0.2, 0.3], { dtype: 'float32' });
    const v = l2Penalty(p, 1);
    expect(p.grad).toBeInstanceOf(Float32Array);
    const expected = Math.fround(0.1) ** 2 + Math.fround(0.2) ** 2 + Math.fround(0.3) ** 2;
    expect(v).toBeCloseTo(expected, 15);
    expect(p.grad![1]).toBe(Math.fround(-2 * Math.fround(0.2)));
  });

  test('penaltyKernel computes a·Σ|w| + b·Σw² with grad a·sign(w) + 2b·w', () => {
    const w = new Float64Array([2, -1, 0]);
    const g = new Float64Array(3);
    expect(penaltyKernel(w, g, 0.5, 0.25)).toBe(0.5 * 3 + 0.25 * 5);
    expect(Array.from(g)).toEqual([0.5 + 1, -0.5 - 0.5, 0]);
    expect(penaltyKernel(w, null, 1, 0)).toBe(3);
  });

  test('invalid strengths are rejected with the option name', () => {
    const p = Parameter.from([1], { dtype: 'float64' });
    expect(() => l1Penalty(p, -1)).toThrow(/lambda/);
    expect(() => l2Penalty(p, NaN)).toThrow(/lambda/);
    expect(() => elasticNet(p, { alpha: 0.1, l1Ratio: 1.5 })).toThrow(/l1Ratio/);
    expect(() => elasticNet(p, { alpha: -0.1, l1Ratio: 0.5 })).toThrow(/alpha/);
    expect(() => l1Penalty([p, {} as Parameter], 1)).toThrow(/params\[1\]/);
  });
});
