import { type DType, type FloatArray, allocate, dtypeOf, zerosLike } from './dtype.js';
import { DTypeMismatchError, InvalidOptionError, ShapeMismatchError } from './errors.js';

/**
 * A trainable tensor: a flat float buffer (`data`), its `shape`, an optional
 * `name`, and the gradient the optimizer reads (`grad`, same length and dtype
 * as `data`, or `null` when the parameter received no gradient).
 *
 * `data` is updated in place by every optimizer; it may be a view into a larger
 * contiguous buffer (see `flattenParameters`), which is how groups of
 * small tensors are stepped in one pass.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * const w = new Parameter(new Float64Array([1, 2, 3, 4]), [2, 2], 'w');
 * w.grad = new Float64Array([0.1, 0.2, 0.3, 0.4]);
 * ```
 */
export class Parameter {
  /** Row-major shape; the product of its entries equals `data.length`. */
  readonly shape: readonly number[];
  /** Optional name, stored in optimizer state dicts and used to match state on load. */
  readonly name: string | undefined;
  private _data: FloatArray;
  private _grad: FloatArray | null = null;
  private readonly _size: number;

  constructor(data: FloatArray, shape?: readonly number[], name?: string) {
    if (!(data instanceof Float32Array || data instanceof Float64Array)) {
      throw new DTypeMismatchError(
        `Parameter${name ? ` ${name}` : ''}: data must be a Float32Array or Float64Array, got ${describe(data)}`,
      );
    }
    const resolved = shape === undefined ? [data.length] : [...shape];
    checkShape(resolved, name);
    const size = sizeOf(resolved);
    if (size !== data.length) {
      throw new ShapeMismatchError(
        `Parameter${name ? ` ${name}` : ''}: shape [${resolved.join(', ')}] holds ${size} elements but data has ${data.length}`,
      );
    }
    this._data = data;
    this._size = size;
    this.shape = Object.freeze(resolved);
    this.name = name;
  }

  /** The parameter's values, updated in place by optimizers. */
  get data(): FloatArray {
    return this._data;
  }

  /**
   * Replace the storage (e.g. to move the parameter into a flat buffer). The new
   * buffer must have the same length and dtype.
   */
  set data(value: FloatArray) {
    this.checkCompatible(value, 'data');
    this._data = value;
  }

  /** The gradient of the loss with respect to `data`, or `null` if there is none. */
  get grad(): FloatArray | null {
    return this._grad;
  }

  /** Set the gradient; it must match `data` in length and dtype (or be `null`). */
  set grad(value: FloatArray | null) {
    if (value !== null) this.checkCompatible(value, 'grad');
    this._grad = value;
  }

  /** `'float32'` or `'float64'`. */
  get dtype(): DType {
    return dtypeOf(this._data);
  }

  /** Number of elements (the product of the shape). */
  get size(): number {
    return this._size;
  }

  /** The gradient buffer, allocated (zero-filled) on first use. */
  ensureGrad(): FloatArray {
    if (this._grad === null) this._grad = zerosLike(this._data);
    return this._grad;
  }

  /** A human-readable identifier for messages: the name, or the given fallback. */
  label(fallback: string): string {
    return this.name ?? fallback;
  }

  /** A zero-filled parameter of the given shape and dtype. */
  static zeros(shape: readonly number[], dtype: DType = 'float32', name?: string): Parameter {
    checkShape(shape, name);
    return new Parameter(allocate(dtype, sizeOf(shape)), shape, name);
  }

  /** A parameter holding a copy of `values` (rounded to float32 when `dtype` is float32). */
  static from(values: ArrayLike<number>, options: { shape?: readonly number[]; dtype?: DType; name?: string } = {}): Parameter {
    return new Parameter(allocate(options.dtype ?? 'float32', values), options.shape, options.name);
  }

  private checkCompatible(value: FloatArray, what: 'data' | 'grad'): void {
    // Fast path first: assigning a grad happens every step and must not allocate.
    // The length is checked against the shape, not the current buffer: a buffer in
    // wasm memory that grew is detached (length 0) until it is rebound.
    const size = this._size;
    if ((value instanceof Float64Array && this._data instanceof Float64Array) || (value instanceof Float32Array && this._data instanceof Float32Array)) {
      if (value.length === size) return;
    }
    const label = this.name ? ` ${this.name}` : '';
    if (!(value instanceof Float32Array || value instanceof Float64Array)) {
      throw new DTypeMismatchError(`Parameter${label}: ${what} must be a Float32Array or Float64Array, got ${describe(value)}`);
    }
    if (value.length !== size) {
      throw new ShapeMismatchError(
        `Parameter${label}: ${what} has ${value.length} elements but the parameter has ${size} (shape [${this.shape.join(', ')}])`,
      );
    }
    if (dtypeOf(value) !== dtypeOf(this._data)) {
      throw new DTypeMismatchError(`Parameter${label}: ${what} is ${dtypeOf(value)} but the parameter is ${dtypeOf(this._data)}`);
    }
  }
}

/** Number of elements of a shape (1 for the scalar shape `[]`). */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function checkShape(shape: readonly number[], name?: string): void {
  shape.forEach((d, i) => {
    if (!Number.isInteger(d) || d < 0) {
      throw new InvalidOptionError(`shape[${i}]`, d, 'a non-negative integer', name ? `Parameter ${name}` : 'Parameter');
    }
  });
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}
