import { InvalidOptionError, Parameter, ShapeMismatchError } from '@opt/tensor';
import { type CrossEntropyOptions, crossEntropy } from '../src/index';
import { expectGradClose, testValues } from './helpers/gradcheck';
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

interface CrossEntropyCase {
  id: string;
  dtype: FixtureDType;
  logits: FixtureTensor;
  target: FixtureTensor;
  target_kind: 'class_indices' | 'probabilities';
  weight: FixtureTensor | null;
  ignore_index: number;
  label_smoothing: number;
  reduction: 'mean' | 'sum' | 'none';
  value: number | number[];
  grad_logits: FixtureTensor;
}

const FILE = 'cross_entropy.json';

function replay(c: CrossEntropyCase): CaseReport {
  const logits = shaped(c.logits, c.dtype);
  const grad = c.dtype === 'float64' ? new Float64Array(logits.data.length) : new Float32Array(logits.data.length);
  const target = c.target_kind === 'class_indices' ? Int32Array.from(c.target.data as number[]) : shaped(c.target, c.dtype);
  const options: CrossEntropyOptions = {
    weight: c.weight === null ? null : tensor(c.weight, c.dtype),
    ignoreIndex: c.ignore_index,
    labelSmoothing: c.label_smoothing,
    reduction: c.reduction,
    gradLogits: grad,
  };
  const value = crossEntropy(logits, target, options) as number | Float32Array | Float64Array;
  const valueError = typeof value === 'number' ? scalarError(value, c.value) : scaledError(value, c.value as number[]);
  return { id: c.id, dtype: c.dtype, errors: { value: valueError, grad_logits: scaledError(grad, c.grad_logits.data) } };
}

describe(`${FILE}: replays PyTorch 1.13 F.cross_entropy`, () => {
  const fixture = loadFixture<{ cases: CrossEntropyCase[] }>(FILE);
  test.each(fixture.cases.map((c) => [c.id, c] as const))('%s: value and grad_logits within tolerance', (_id, c) => {
    const r = replay(c);
    report(FILE, r);
    expectWithinTolerance(r);
  });
});

/** float64 logits [n, c] with entries in [-2, 2). */
function logitsOf(n: number, c: number, seed: number): { data: Float64Array; shape: number[] } {
  const data = testValues(n * c, seed);
  for (let i = 0; i < data.length; i++) data[i] = 2 * data[i]!;
  return { data, shape: [n, c] };
}

function checkGradient(n: number, c: number, target: Parameters<typeof crossEntropy>[1], options: CrossEntropyOptions): void {
  const logits = logitsOf(n, c, 7 + n + c);
  const grad = new Float64Array(n * c);
  crossEntropy(logits, target, { ...options, gradLogits: grad });
  const f = (): number => {
    const v = crossEntropy(logits, target, { ...options, gradLogits: null }) as number | Float64Array;
    return typeof v === 'number' ? v : v.reduce((a, b) => a + b, 0);
  };
  expectGradClose(f, logits.data, grad, { rtol: 1e-7 });
}

describe('crossEntropy gradient (finite differences, float64)', () => {
  const weight = [0.5, 1.5, 1, 2, 0.25];
  test('class targets, mean, no smoothing', () => checkGradient(4, 5, [0, 3, 4, 1], {}));
  test('class targets with label smoothing, class weights and an ignored sample, mean', () =>
    checkGradient(5, 5, [0, -100, 4, 1, 1], { weight, labelSmoothing: 0.2 }));
  test('class targets, sum and none reductions with a custom ignore index', () => {
    checkGradient(4, 5, [2, 3, 2, 0], { reduction: 'sum', ignoreIndex: 3, labelSmoothing: 0.1 });
    checkGradient(4, 5, [2, 3, 2, 0], { reduction: 'none', weight, labelSmoothing: 0.3 });
  });
  test('probability targets with weights and smoothing, mean and sum', () => {
    const p = new Float64Array(15);
    const raw = testValues(15, 3);
    for (let i = 0; i < 3; i++) {
      let s = 0;
      for (let k = 0; k < 5; k++) s += (p[i * 5 + k] = Math.exp(raw[i * 5 + k]!));
      for (let k = 0; k < 5; k++) p[i * 5 + k] = p[i * 5 + k]! / s;
    }
    checkGradient(3, 5, p, { weight, labelSmoothing: 0.15 });
    checkGradient(3, 5, { data: p, shape: [3, 5] }, { reduction: 'sum' });
  });
});

describe('crossEntropy semantics', () => {
  test('the smoothing term is weighted and the mean divides by the kept target weights only', () => {
    const logits = logitsOf(3, 4, 11);
    const w = [1, 2, 3, 4];
    const eps = 0.2;
    const target = [1, 3, 0];
    let num = 0;
    let den = 0;
    for (let i = 0; i < 3; i++) {
      if (target[i] === 0) continue; // ignoreIndex 0
      const row = Array.from(logits.data.subarray(i * 4, i * 4 + 4));
      const lse = Math.log(row.reduce((a, z) => a + Math.exp(z), 0));
      const lp = row.map((z) => z - lse);
      num += (1 - eps) * -w[target[i]!]! * lp[target[i]!]! + (eps / 4) * lp.reduce((a, l, k) => a - w[k]! * l, 0);
      den += w[target[i]!]!;
    }
    const v = crossEntropy(logits, target, { weight: w, labelSmoothing: eps, ignoreIndex: 0 });
    expect(v).toBeCloseTo(num / den, 14);
  });

  test('huge logits do not overflow (log-softmax is shifted by the row maximum)', () => {
    const logits = { data: new Float64Array([1000, 0, -1000, 800, 801, 799]), shape: [2, 3] };
    const grad = new Float64Array(6);
    const v = crossEntropy(logits, [0, 1], { reduction: 'none', gradLogits: grad });
    expect(v[0]).toBeCloseTo(0, 12);
    const expected1 = Math.log(Math.exp(-1) + 1 + Math.exp(-2)); // −lp of the row maximum
    expect(v[1]).toBeCloseTo(expected1, 12);
    expect(Array.from(grad).every(Number.isFinite)).toBe(true);
  });

  test('reduction none writes into the given out buffer and float32 logits give a float32 result', () => {
    const logits = { data: new Float32Array([0.5, -0.5, 2, 1]), shape: [2, 2] };
    const out = new Float32Array(2);
    const v = crossEntropy(logits, [0, 1], { reduction: 'none', out });
    expect(v).toBe(out);
    expect(out[0]).toBeCloseTo(Math.log(1 + Math.exp(-1)), 6);
    const fresh = crossEntropy(logits, [0, 1], { reduction: 'none' });
    expect(fresh).toBeInstanceOf(Float32Array);
  });

  test('a Parameter can be the logits, with its grad as the gradient buffer', () => {
    const z = Parameter.from([1, 2, 3, 0, 0, 0], { shape: [2, 3], dtype: 'float64', name: 'logits' });
    const v = crossEntropy(z, [2, 0], { gradLogits: z.ensureGrad() });
    const expected = (Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)) - 3 + Math.log(3)) / 2;
    expect(v).toBeCloseTo(expected, 15);
    expect(z.grad![3]).toBeCloseTo((1 / 3 - 1) / 2, 15);
  });

  test('accumulate adds the gradient to the buffer instead of overwriting it', () => {
    const logits = logitsOf(2, 3, 5);
    const once = new Float64Array(6);
    crossEntropy(logits, [0, 2], { gradLogits: once });
    const twice = new Float64Array(6).fill(1);
    crossEntropy(logits, [0, 2], { gradLogits: twice, accumulate: true });
    for (let i = 0; i < 6; i++) expect(twice[i]).toBeCloseTo(1 + once[i]!, 15);
  });

  test('an ignored sample gets zero loss and zero gradient', () => {
    const logits = logitsOf(2, 3, 9);
    const grad = new Float64Array(6).fill(7);
    const v = crossEntropy(logits, [-100, 1], { reduction: 'none', gradLogits: grad, labelSmoothing: 0.1 });
    expect(v[0]).toBe(0);
    expect(Array.from(grad.subarray(0, 3))).toEqual([0, 0, 0]);
  });

  test('invalid arguments throw errors that name the option', () => {
    const logits = logitsOf(2, 3, 1);
    expect(() => crossEntropy(logits, [0, 3])).toThrow(InvalidOptionError);
    expect(() => crossEntropy(logits, [0, 3])).toThrow(/target\[1\]/);
    expect(() => crossEntropy(logits, [0])).toThrow(ShapeMismatchError);
    expect(() => crossEntropy(logits, [0, 1], { labelSmoothing: 1.5 })).toThrow(/labelSmoothing/);
    expect(() => crossEntropy(logits, [0, 1], { reduction: 'avg' as 'mean' })).toThrow(/reduction/);
    expect(() => crossEntropy(logits, [0, 1], { weight: [1, 2] })).toThrow(ShapeMismatchError);
    expect(() => crossEntropy(logits, [0, 1], { gradLogits: new Float64Array(5) })).toThrow(/gradLogits/);
    expect(() => crossEntropy(logits, new Float64Array(5))).toThrow(/probability target/);
    expect(() => crossEntropy({ data: new Float64Array(6), shape: [6] }, [0])).toThrow(/\[N, C\]/);
  });
});
