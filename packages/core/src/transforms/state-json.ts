import { type FloatArray, StateDictError, isFloatArray } from '@opt/tensor';
import { type JsonNumber, type TensorJson, decodeNumber, decodeTensor, encodeNumber, encodeTensor, isTensorJson } from '../state-dict.js';

/**
 * A transform state as JSON: numbers encoded losslessly (NaN, ±Infinity and −0
 * as strings, as optimizer state dicts do), typed arrays as tensors
 * `{ dtype, shape, data }`, arrays and plain objects element by element.
 */
export type TransformStateJson =
  | JsonNumber
  | boolean
  | null
  | TensorJson
  | TransformStateJson[]
  | { [key: string]: TransformStateJson };

/**
 * Encode a transform state (the plain data a `GradientTransformation` keeps) as JSON.
 * Every float survives bit for bit through `JSON.stringify` / `JSON.parse`.
 *
 * @throws {@link StateDictError} if the state holds something other than plain
 * data (a function, a class instance): the path of the offending value is named.
 */
export function transformStateToJson(state: unknown): TransformStateJson {
  return encode(state, 'transformState');
}

/**
 * Decode a transform state written by {@link transformStateToJson}, shaped by
 * `template` (a fresh `tx.init(params)` for the same parameters): typed arrays
 * must match the template's length and keep its dtype, objects must have the
 * same keys, arrays the same length. Where the template holds `null` (state
 * created lazily, such as an optimizer class's per-parameter state), any
 * encoded value is accepted and tensors keep their saved dtype.
 *
 * @throws {@link StateDictError} naming the path of the first mismatch.
 */
export function transformStateFromJson<S>(json: unknown, template: S): S {
  return decode(json, template, 'transformState') as S;
}

function encode(value: unknown, where: string): TransformStateJson {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return encodeNumber(value);
  if (isFloatArray(value)) return encodeTensor(value);
  if (Array.isArray(value)) return value.map((v, i) => encode(v, `${where}[${i}]`));
  if (isPlainObject(value)) {
    const out: { [key: string]: TransformStateJson } = {};
    for (const [key, v] of Object.entries(value)) out[key] = encode(v, `${where}.${key}`);
    return out;
  }
  throw new StateDictError(`${where}: a transform state holds only plain data, got ${describe(value)}`);
}

function decode(saved: unknown, template: unknown, where: string): unknown {
  if (template === null) return decodeFree(saved, where);
  if (isFloatArray(template)) {
    return decodeTensor(saved, template instanceof Float64Array ? 'float64' : 'float32', where, template.length);
  }
  if (typeof template === 'number') return decodeNumber(saved, where);
  if (typeof template === 'boolean') {
    if (typeof saved !== 'boolean') throw new StateDictError(`${where}: expected a boolean, got ${describe(saved)}`);
    return saved;
  }
  if (Array.isArray(template)) {
    if (!Array.isArray(saved)) throw new StateDictError(`${where}: expected a list, got ${describe(saved)}`);
    if (saved.length !== template.length) {
      throw new StateDictError(`${where}: the list has ${saved.length} entries, expected ${template.length}`);
    }
    return template.map((t, i) => decode(saved[i], t, `${where}[${i}]`));
  }
  if (isPlainObject(template)) {
    if (!isPlainObject(saved) || isTensorJson(saved)) throw new StateDictError(`${where}: expected an object, got ${describe(saved)}`);
    const expected = Object.keys(template);
    const got = Object.keys(saved);
    if (got.length !== expected.length || expected.some((k) => !Object.prototype.hasOwnProperty.call(saved, k))) {
      throw new StateDictError(`${where}: keys [${[...got].sort().join(', ')}] do not match [${[...expected].sort().join(', ')}]`);
    }
    // Template key order, so a decoded state encodes exactly like the saved one.
    const out: Record<string, unknown> = {};
    for (const key of expected) out[key] = decode(saved[key], template[key], `${where}.${key}`);
    return out;
  }
  throw new StateDictError(`${where}: the template holds ${describe(template)}, which is not plain data`);
}

/** Decode without a template: a tensor keeps its saved dtype, everything else its JSON shape. */
function decodeFree(saved: unknown, where: string): unknown {
  if (saved === null || typeof saved === 'boolean') return saved;
  if (isTensorJson(saved)) return decodeTensor(saved, (saved.dtype === 'float32' ? 'float32' : 'float64'), where) as FloatArray;
  if (Array.isArray(saved)) return saved.map((v, i) => decodeFree(v, `${where}[${i}]`));
  if (isPlainObject(saved)) {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(saved)) out[key] = decodeFree(v, `${where}.${key}`);
    return out;
  }
  return decodeNumber(saved, where);
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null) return false;
  const proto = Object.getPrototypeOf(x) as unknown;
  return proto === Object.prototype || proto === null;
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'a list';
  if (typeof x === 'function') return 'a function';
  if (typeof x === 'object') {
    const name = (x as object).constructor?.name;
    return name && name !== 'Object' ? `an instance of ${name}` : 'an object';
  }
  return `${typeof x} ${JSON.stringify(x)}`;
}
