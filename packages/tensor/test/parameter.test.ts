import {
  DTypeMismatchError,
  InvalidOptionError,
  OptError,
  Parameter,
  ShapeMismatchError,
  concatData,
  concatGrads,
  flattenParameters,
  scatterData,
} from '../src/index';

describe('Parameter', () => {
  test('defaults the shape to the flat length and exposes dtype and size', () => {
    const p = new Parameter(new Float64Array([1, 2, 3]));
    expect(p.shape).toEqual([3]);
    expect(p.dtype).toBe('float64');
    expect(p.size).toBe(3);
    expect(p.grad).toBeNull();
  });

  test('rejects a shape whose element count differs from the data length', () => {
    expect(() => new Parameter(new Float32Array(6), [4, 2], 'w')).toThrow(ShapeMismatchError);
    expect(() => new Parameter(new Float32Array(6), [4, 2], 'w')).toThrow(/w: shape \[4, 2\] holds 8 elements but data has 6/);
  });

  test('rejects negative or fractional dimensions with an InvalidOptionError naming the dimension', () => {
    expect(() => Parameter.zeros([2, -1])).toThrow(InvalidOptionError);
    expect(() => Parameter.zeros([1.5])).toThrow(/shape\[0\]/);
  });

  test('rejects data that is not a float buffer', () => {
    expect(() => new Parameter([1, 2] as unknown as Float32Array)).toThrow(DTypeMismatchError);
  });

  test('a grad of another length or dtype is refused; errors share the OptError base', () => {
    const p = Parameter.zeros([2, 2], 'float32', 'w');
    expect(() => (p.grad = new Float32Array(3))).toThrow(ShapeMismatchError);
    expect(() => (p.grad = new Float64Array(4))).toThrow(DTypeMismatchError);
    try {
      p.grad = new Float64Array(4);
    } catch (e) {
      expect(e).toBeInstanceOf(OptError);
      expect((e as OptError).code).toBe('DTYPE_MISMATCH');
    }
    p.grad = new Float32Array(4);
    expect(p.grad).not.toBeNull();
  });

  test('Parameter.from rounds to float32 by default and keeps float64 when asked', () => {
    expect(Parameter.from([0.1]).data[0]).toBe(Math.fround(0.1));
    expect(Parameter.from([0.1], { dtype: 'float64' }).data[0]).toBe(0.1);
  });

  test('ensureGrad allocates a zero gradient once', () => {
    const p = Parameter.zeros([3], 'float64');
    const g = p.ensureGrad();
    expect(Array.from(g)).toEqual([0, 0, 0]);
    expect(p.ensureGrad()).toBe(g);
  });
});

describe('flattenParameters', () => {
  test('moves values and grads into one contiguous buffer and rebinds the parameters to views', () => {
    const a = Parameter.from([1, 2, 3], { dtype: 'float64', name: 'a' });
    const b = Parameter.from([4, 5], { dtype: 'float64', name: 'b' });
    b.grad = new Float64Array([0.5, 0.25]);
    const flat = flattenParameters([a, b]);
    expect(Array.from(flat.data)).toEqual([1, 2, 3, 4, 5]);
    expect(Array.from(flat.grad)).toEqual([0, 0, 0, 0.5, 0.25]);
    flat.data[3] = 40;
    expect(b.data[0]).toBe(40);
    a.grad![1] = 7;
    expect(flat.grad[1]).toBe(7);
    expect(flat.slots.map((s) => [s.offset, s.length])).toEqual([[0, 3], [3, 2]]);
    expect(a.data.buffer).toBe(b.data.buffer);
  });

  test('accepts caller-provided storage such as a SharedArrayBuffer', () => {
    const shared = new SharedArrayBuffer(2 * 4 * 4);
    const p = Parameter.from([1, 2, 3, 4]);
    const flat = flattenParameters([p], { buffer: shared });
    expect(flat.data.buffer).toBe(shared);
  });

  test('refuses mixed dtypes and duplicates', () => {
    const a = Parameter.zeros([2], 'float32');
    const b = Parameter.zeros([2], 'float64');
    expect(() => flattenParameters([a, b])).toThrow(DTypeMismatchError);
    expect(() => flattenParameters([a, a])).toThrow(/listed twice/);
  });

  test('concatData / concatGrads / scatterData round-trip', () => {
    const a = Parameter.from([1, 2], { dtype: 'float64' });
    const b = Parameter.from([3], { dtype: 'float64' });
    a.grad = new Float64Array([9, 8]);
    expect(Array.from(concatData([a, b]))).toEqual([1, 2, 3]);
    expect(Array.from(concatGrads([a, b]))).toEqual([9, 8, 0]);
    scatterData([a, b], [7, 6, 5]);
    expect(Array.from(a.data)).toEqual([7, 6]);
    expect(b.data[0]).toBe(5);
  });
});
