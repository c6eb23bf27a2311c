import { type DType, type FloatArray } from './dtype.js';
import { DTypeMismatchError, ParamGroupError } from './errors.js';
import { Parameter } from './parameter.js';

/** Where one parameter lives inside a {@link FlatBuffer}. */
export interface FlatSlot {
  readonly parameter: Parameter;
  readonly offset: number;
  readonly length: number;
}

/**
 * Contiguous storage for a list of parameters: one `data` buffer and one `grad`
 * buffer, with every parameter's `data` and `grad` rebound to views into them.
 *
 * One kernel call over `data`/`grad` then updates every parameter, which is what
 * makes 1000 small tensors cost about as much as one large one, and it is the
 * layout worker-thread collectives and ONNX Runtime graphs consume.
 */
export interface FlatBuffer {
  readonly dtype: DType;
  readonly data: FloatArray;
  readonly grad: FloatArray;
  readonly slots: readonly FlatSlot[];
}

/** Options of {@link flattenParameters}. */
export interface FlattenOptions {
  /**
   * Storage to use instead of a fresh `ArrayBuffer`, e.g. a `SharedArrayBuffer`
   * for worker threads. It must hold at least `2 * total * bytesPerElement` bytes
   * from `byteOffset` on (data first, then grad).
   */
  buffer?: ArrayBufferLike;
  byteOffset?: number;
}

/**
 * Move `params` into one contiguous buffer. Values and gradients are copied,
 * then each parameter's `data` and `grad` become views into the flat storage;
 * arrays the caller held before are no longer the parameter's storage.
 *
 * @throws {@link DTypeMismatchError} if the parameters do not share a dtype.
 * @throws {@link ParamGroupError} if a parameter is listed twice.
 */
export function flattenParameters(params: readonly Parameter[], options: FlattenOptions = {}): FlatBuffer {
  if (params.length === 0) throw new ParamGroupError('flattenParameters: the parameter list is empty');
  const dtype = params[0]!.dtype;
  const seen = new Set<Parameter>();
  let total = 0;
  for (const [i, p] of params.entries()) {
    if (p.dtype !== dtype) {
      throw new DTypeMismatchError(
        `flattenParameters: parameter ${p.label(String(i))} is ${p.dtype} but the first parameter is ${dtype}`,
      );
    }
    if (seen.has(p)) throw new ParamGroupError(`flattenParameters: parameter ${p.label(String(i))} is listed twice`);
    seen.add(p);
    total += p.size;
  }
  const Ctor = dtype === 'float64' ? Float64Array : Float32Array;
  const byteOffset = options.byteOffset ?? 0;
  const buffer = options.buffer ?? new ArrayBuffer(2 * total * Ctor.BYTES_PER_ELEMENT);
  const data: FloatArray = new Ctor(buffer as ArrayBuffer, byteOffset, total);
  const grad: FloatArray = new Ctor(buffer as ArrayBuffer, byteOffset + total * Ctor.BYTES_PER_ELEMENT, total);
  const slots: FlatSlot[] = [];
  let offset = 0;
  for (const p of params) {
    const dataView = data.subarray(offset, offset + p.size);
    const gradView = grad.subarray(offset, offset + p.size);
    dataView.set(p.data);
    if (p.grad) gradView.set(p.grad);
    p.data = dataView;
    p.grad = gradView;
    slots.push({ parameter: p, offset, length: p.size });
    offset += p.size;
  }
  return { dtype, data, grad, slots };
}

/** A copy of the parameters' values concatenated in order (row-major each). */
export function concatData(params: readonly Parameter[]): FloatArray {
  return concat(params.map((p) => p.data));
}

/** A copy of the parameters' gradients concatenated in order; a missing grad contributes zeros. */
export function concatGrads(params: readonly Parameter[]): FloatArray {
  return concat(params.map((p) => p.grad ?? new (p.data.constructor as Float64ArrayConstructor)(p.size)));
}

/** Write `flat` back into the parameters' `data` (the inverse of {@link concatData}). */
export function scatterData(params: readonly Parameter[], flat: ArrayLike<number>): void {
  let offset = 0;
  for (const p of params) {
    const d = p.data;
    for (let i = 0; i < d.length; i++) d[i] = flat[offset + i]!;
    offset += d.length;
  }
}

function concat(arrays: readonly FloatArray[]): FloatArray {
  let total = 0;
  for (const a of arrays) total += a.length;
  const out = arrays.length > 0 && arrays[0] instanceof Float32Array ? new Float32Array(total) : new Float64Array(total);
  let offset = 0;
  for (const a of arrays) {
    out.set(a, offset);
    offset += a.length;
  }
  return out;
}
