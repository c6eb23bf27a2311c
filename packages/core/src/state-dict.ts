import { type DType, type FloatArray, StateDictError, isFloatArray } from '@opt/tensor';

/**
 * A number as stored in a state dict. JSON has no NaN, infinities or negative
 * zero, so those are written as strings; every finite float64 round-trips
 * exactly through `JSON.stringify` / `JSON.parse` (shortest round-trip digits).
 */
export type JsonNumber = number | 'nan' | 'inf' | '-inf' | '-0';

/** A tensor in a state dict: the same layout as the PyTorch reference fixtures. */
export interface TensorJson {
  dtype: DType | 'int64';
  shape: number[];
  data: JsonNumber[];
}

/** A value of an optimizer's per-parameter state, in memory. */
export type StateValue = number | boolean | null | FloatArray | StateValue[];

/** Per-parameter state, keyed as PyTorch keys it (`exp_avg`, `step`, `momentum_buffer`, …). */
export type ParamState = Record<string, StateValue>;

/** A state value as stored in a state dict. */
export type StateValueJson = JsonNumber | boolean | null | TensorJson | StateValueJson[];

/** A parameter group as stored in a state dict: its options, its parameters' positions and names. */
export interface ParamGroupJson {
  params: number[];
  param_names?: string[];
  [option: string]: unknown;
}

/**
 * The JSON-serialisable, lossless state of an optimizer. `state` is keyed by the
 * parameter's position over all groups (as in PyTorch); `param_groups[i].param_names`
 * is present when every parameter is named and is then used to match state on load.
 */
export interface OptimizerStateDict {
  format: '@opt/optimizer-state';
  version: 1;
  /** The optimizer class that wrote it, e.g. `"Adam"`. */
  optimizer: string;
  state: Record<string, Record<string, StateValueJson>>;
  param_groups: ParamGroupJson[];
  /** Optimizer-wide state of wrappers (Lookahead's slow weights, LBFGS's history), if any. */
  extra?: unknown;
}

/** Encode a number losslessly for JSON. */
export function encodeNumber(x: number): JsonNumber {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (Object.is(x, -0)) return '-0';
  return x;
}

/** Decode a number written by {@link encodeNumber}. */
export function decodeNumber(x: unknown, where: string): number {
  if (typeof x === 'number') return x;
  switch (x) {
    case 'nan':
      return NaN;
    case 'inf':
      return Infinity;
    case '-inf':
      return -Infinity;
    case '-0':
      return -0;
  }
  throw new StateDictError(`${where}: expected a number, got ${JSON.stringify(x)}`);
}

/** Encode a float buffer as a tensor of the given shape. */
export function encodeTensor(array: FloatArray, shape: readonly number[] = [array.length]): TensorJson {
  const data = new Array<JsonNumber>(array.length);
  for (let i = 0; i < array.length; i++) data[i] = encodeNumber(array[i]!);
  return { dtype: array instanceof Float64Array ? 'float64' : 'float32', shape: [...shape], data };
}

/** True when `x` looks like a {@link TensorJson}. */
export function isTensorJson(x: unknown): x is TensorJson {
  return typeof x === 'object' && x !== null && 'data' in x && 'shape' in x && Array.isArray((x as TensorJson).data);
}

/** Decode a tensor into a buffer of `dtype`, checking its length when `length` is given. */
export function decodeTensor(x: unknown, dtype: DType, where: string, length?: number): FloatArray {
  if (!isTensorJson(x)) throw new StateDictError(`${where}: expected a tensor {dtype, shape, data}, got ${describe(x)}`);
  if (length !== undefined && x.data.length !== length) {
    throw new StateDictError(`${where}: tensor has ${x.data.length} elements, expected ${length}`);
  }
  const out = dtype === 'float64' ? new Float64Array(x.data.length) : new Float32Array(x.data.length);
  for (let i = 0; i < x.data.length; i++) out[i] = decodeNumber(x.data[i], where);
  return out;
}

/** Encode one state value; buffers as long as the parameter take its shape. */
export function encodeStateValue(value: StateValue, paramShape: readonly number[], paramSize: number): StateValueJson {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return encodeNumber(value);
  if (isFloatArray(value)) return encodeTensor(value, value.length === paramSize ? paramShape : [value.length]);
  return value.map((v) => encodeStateValue(v, paramShape, paramSize));
}

/**
 * Decode a saved state value against a template (the fresh state of the same
 * parameter): buffers must match the template's length, numbers stay numbers
 * (a 0-dim tensor, as PyTorch writes step counters, is accepted), `null` in the
 * template accepts a tensor of any length, and lists decode element-wise.
 */
export function decodeStateValue(saved: unknown, template: StateValue, dtype: DType, where: string): StateValue {
  if (isFloatArray(template)) {
    return decodeTensor(saved, template instanceof Float64Array ? 'float64' : 'float32', where, template.length);
  }
  if (typeof template === 'number') {
    if (isTensorJson(saved)) {
      if (saved.data.length !== 1) throw new StateDictError(`${where}: expected a scalar, got a tensor of ${saved.data.length} elements`);
      return decodeNumber(saved.data[0], where);
    }
    return decodeNumber(saved, where);
  }
  if (typeof template === 'boolean') {
    if (typeof saved !== 'boolean') throw new StateDictError(`${where}: expected a boolean, got ${describe(saved)}`);
    return saved;
  }
  if (template === null) {
    if (saved === null) return null;
    if (isTensorJson(saved)) return decodeTensor(saved, dtype, where);
    if (Array.isArray(saved)) return saved.map((v, i) => decodeFree(v, dtype, `${where}[${i}]`));
    return decodeNumber(saved, where);
  }
  if (!Array.isArray(saved)) throw new StateDictError(`${where}: expected a list, got ${describe(saved)}`);
  return saved.map((v, i) => decodeFree(v, dtype, `${where}[${i}]`));
}

function decodeFree(saved: unknown, dtype: DType, where: string): StateValue {
  if (saved === null || typeof saved === 'boolean') return saved;
  if (isTensorJson(saved)) return decodeTensor(saved, dtype, where);
  if (Array.isArray(saved)) return saved.map((v, i) => decodeFree(v, dtype, `${where}[${i}]`));
  return decodeNumber(saved, where);
}

/** Encode a hyper-parameter value (numbers, booleans, strings, tuples, plain objects). */
export function encodeOption(value: unknown, where: string): unknown {
  if (typeof value === 'number') return encodeNumber(value);
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map((v, i) => encodeOption(v, `${where}[${i}]`));
  if (typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, encodeOption(v, `${where}.${k}`)]));
  }
  throw new StateDictError(`${where}: a ${typeof value} cannot be stored in a state dict`);
}

/** Decode a hyper-parameter value written by {@link encodeOption}, shaped like `template`. */
export function decodeOption(value: unknown, template: unknown, where: string): unknown {
  // A nullable option (Adafactor's beta1, eps[0]) may be saved as null; validateGroup judges it.
  if (value === null) return null;
  if (typeof template === 'number') return decodeNumber(value, where);
  if (Array.isArray(template) && Array.isArray(value)) {
    return value.map((v, i) => decodeOption(v, template[i] ?? template[0], `${where}[${i}]`));
  }
  return value;
}

/** `weight_decay` → `weightDecay`, `T_max` → `tMax`: state dicts written by PyTorch use snake_case option names. */
export function snakeToCamel(key: string): string {
  const camel = key.replace(/_([a-zA-Z0-9])/g, (_m, c: string) => c.toUpperCase());
  return camel.charAt(0).toLowerCase() + camel.slice(1);
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'a list';
  return typeof x === 'object' ? 'an object' : `${typeof x} ${JSON.stringify(x)}`;
}
