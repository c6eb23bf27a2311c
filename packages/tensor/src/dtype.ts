/** Element type of a parameter or state buffer. */
export type DType = 'float32' | 'float64';

/** A float buffer: the storage of every parameter, gradient and optimizer state tensor. */
export type FloatArray = Float32Array | Float64Array;

/** The dtype of a float buffer. */
export function dtypeOf(array: FloatArray): DType {
  return array instanceof Float64Array ? 'float64' : 'float32';
}

/** A zero-filled buffer of `length` elements and the given dtype. */
export function zerosLike(array: FloatArray, length: number = array.length): FloatArray {
  return array instanceof Float64Array ? new Float64Array(length) : new Float32Array(length);
}

/** A new buffer of `dtype` holding `values` (rounded to float32 when the dtype is float32). */
export function allocate(dtype: DType, values: number | ArrayLike<number>): FloatArray {
  if (typeof values === 'number') {
    return dtype === 'float64' ? new Float64Array(values) : new Float32Array(values);
  }
  return dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values);
}

/** True when `value` is a Float32Array or a Float64Array. */
export function isFloatArray(value: unknown): value is FloatArray {
  return value instanceof Float32Array || value instanceof Float64Array;
}
