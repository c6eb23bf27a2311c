import { StateDictError } from '@opt/tensor';

/** Numeric type the meta-parameters of a {@link WeightsRecord} are stored in. */
export type WeightsDType = 'float32' | 'float64';

/**
 * A versioned record of meta-trained weights, as committed in
 * `packages/learned/weights/<name>.json` and embedded as `src/weights/<name>.ts`.
 *
 * `metaParams` is the base64 encoding of the little-endian bytes of the flat
 * meta-parameter vector in `dtype` (float32 halves the size; the optimizers
 * always compute in float64, so float32 weights are widened on load).
 * Everything else documents how the weights were made, so a record can be
 * reproduced from its `command` at `gitCommit`.
 */
export interface WeightsRecord {
  /** Format version of the record itself: 1. */
  format: 1;
  /** Registry name, e.g. `'mlp-hybrid-v1'`. */
  name: string;
  /** Version of these weights (bumped on every retraining). */
  version: number;
  /** Architecture identifier of the factory the weights belong to, e.g. `'mlp-hybrid'`. */
  arch: string;
  /** Length of the decoded meta-parameter vector. */
  metaParamCount: number;
  /** The architecture's configuration (features, hidden sizes, scales): what `arch` alone does not pin. */
  featureSpec: unknown;
  /** Base64 of the little-endian `dtype` bytes of the meta-parameters. */
  metaParams: string;
  /** Storage type of `metaParams`. */
  dtype: WeightsDType;
  /** The task family and seeds the weights were meta-trained on. */
  trainedOn: unknown;
  /** Meta-training horizon K (inner steps per unroll). */
  horizon: number;
  /** Number of meta-steps taken. */
  metaSteps: number;
  /** Meta-gradient estimator, e.g. `'es'`, `'pes'`. */
  estimator: string;
  /** Seed of the meta-training run. */
  seed: number;
  /** The command that produced the record. */
  command: string;
  /** Commit of the code that produced the record. */
  gitCommit: string;
  /** ISO-8601 creation time. */
  createdAt: string;
  /** Summary of the held-out evaluation (win-rates, loss ratios), free-form JSON. */
  evalSummary: unknown;
}

/** What {@link encodeWeights} needs besides the vector: every field of a record except the derived ones. */
export type WeightsMetadata = Omit<WeightsRecord, 'format' | 'metaParams' | 'metaParamCount' | 'dtype'>;

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charCodeAt(i)] = i;

/**
 * Standard base64 (RFC 4648, with padding) of a byte array. Written out rather
 * than using `Buffer` (Node only) or `btoa` (strings of code units), so the
 * weights format behaves the same in browsers and Node.
 */
export function bytesToBase64(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + B64[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]! + '==';
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + '=';
  }
  return out;
}

/**
 * Decode standard padded base64 into bytes.
 *
 * @throws StateDictError on a length that is not a multiple of 4 or a character outside the alphabet.
 */
export function base64ToBytes(text: string, where = 'base64'): Uint8Array {
  if (text.length % 4 !== 0) throw new StateDictError(`${where}: base64 length ${text.length} is not a multiple of 4`);
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    let n = 0;
    for (let k = 0; k < 4; k++) {
      const c = text.charCodeAt(i + k);
      const isPad = c === 61 && i + k >= text.length - pad;
      const v = isPad ? 0 : c < 128 ? B64_INDEX[c]! : -1;
      if (v < 0) throw new StateDictError(`${where}: invalid base64 character at ${i + k}`);
      n = (n << 6) | v;
    }
    if (o < out.length) out[o++] = (n >> 16) & 255;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}

/**
 * Build a {@link WeightsRecord} from a meta-parameter vector and its metadata.
 *
 * @param metaParams - the flat meta-parameters (computed in float64).
 * @param metadata - name, arch, featureSpec, provenance and evaluation summary.
 * @param dtype - storage type; `'float32'` rounds each value (what ships), `'float64'` is exact.
 * @example
 * ```ts
 * const factory = mlpLearnedOptimizerFactory();
 * const record = encodeWeights(factory.initialMetaParams(), {
 *   name: 'mine', version: 1, arch: factory.arch, featureSpec: factory.featureSpec, trainedOn: null, horizon: 0,
 *   metaSteps: 0, estimator: 'none', seed: 0, command: 'none', gitCommit: 'none', createdAt: '2026-01-01', evalSummary: null,
 * }, 'float32');
 * ```
 */
export function encodeWeights(metaParams: Float64Array, metadata: WeightsMetadata, dtype: WeightsDType = 'float32'): WeightsRecord {
  const width = dtype === 'float32' ? 4 : 8;
  const bytes = new Uint8Array(metaParams.length * width);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < metaParams.length; i++) {
    if (!Number.isFinite(metaParams[i]!)) {
      throw new StateDictError(`encodeWeights(${metadata.name}): meta-parameter ${i} is not finite (${metaParams[i]})`);
    }
    if (dtype === 'float32') view.setFloat32(i * 4, metaParams[i]!, true);
    else view.setFloat64(i * 8, metaParams[i]!, true);
  }
  const record: WeightsRecord = {
    format: 1,
    ...metadata,
    metaParamCount: metaParams.length,
    metaParams: bytesToBase64(bytes),
    dtype,
  };
  return validateWeightsRecord(record);
}

function fail(where: string, what: string): never {
  throw new StateDictError(`${where}: ${what}`);
}

/**
 * Check that `value` is a well-formed {@link WeightsRecord}: every field present
 * with its type, and `metaParams` decoding to exactly `metaParamCount` finite values.
 *
 * @throws StateDictError naming the first field that is wrong.
 */
export function validateWeightsRecord(value: unknown, where = 'weights'): WeightsRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(where, 'expected a weights record object');
  const r = value as Record<string, unknown>;
  const name = typeof r.name === 'string' ? r.name : '?';
  const at = `${where} "${name}"`;
  if (r.format !== 1) fail(at, `unsupported format ${JSON.stringify(r.format)} (expected 1)`);
  for (const key of ['name', 'arch', 'metaParams', 'estimator', 'command', 'gitCommit', 'createdAt'] as const) {
    if (typeof r[key] !== 'string') fail(at, `field "${key}" must be a string`);
  }
  if (r.name === '') fail(at, 'field "name" must not be empty');
  for (const key of ['version', 'metaParamCount', 'horizon', 'metaSteps', 'seed'] as const) {
    const v = r[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) fail(at, `field "${key}" must be an integer >= 0`);
  }
  if (r.dtype !== 'float32' && r.dtype !== 'float64') fail(at, `field "dtype" must be "float32" or "float64"`);
  for (const key of ['featureSpec', 'trainedOn', 'evalSummary'] as const) {
    if (!(key in r)) fail(at, `field "${key}" is missing`);
  }
  decodeMetaParams(r as unknown as WeightsRecord, at);
  return r as unknown as WeightsRecord;
}

function decodeMetaParams(record: WeightsRecord, where: string): Float64Array {
  const bytes = base64ToBytes(record.metaParams, `${where}.metaParams`);
  const width = record.dtype === 'float32' ? 4 : 8;
  if (bytes.length !== record.metaParamCount * width) {
    fail(where, `metaParams holds ${bytes.length / width} ${record.dtype} values, metaParamCount says ${record.metaParamCount}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float64Array(record.metaParamCount);
  for (let i = 0; i < out.length; i++) {
    out[i] = width === 4 ? view.getFloat32(i * 4, true) : view.getFloat64(i * 8, true);
    if (!Number.isFinite(out[i]!)) fail(where, `meta-parameter ${i} is not finite`);
  }
  return out;
}

/**
 * Decode a record's meta-parameters into a fresh float64 vector, after
 * validating the record ({@link validateWeightsRecord}).
 *
 * @throws StateDictError when the record is malformed.
 */
export function decodeWeights(record: WeightsRecord | unknown, where = 'weights'): Float64Array {
  const r = validateWeightsRecord(record, where);
  return decodeMetaParams(r, `${where} "${r.name}"`);
}
