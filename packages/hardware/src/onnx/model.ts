import { InvalidOptionError, ShapeMismatchError } from '@opt/tensor';
import { ProtoWriter } from './wire.js';

/**
 * ONNX `TensorProto.DataType` codes (onnx.proto), by the element-type names
 * this package uses (onnxruntime's tensor type names where one exists).
 */
export const ONNX_DATA_TYPE = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
  bfloat16: 16,
} as const;

/** An element type of a tensor in a graph. */
export type ElemType = keyof typeof ONNX_DATA_TYPE;

/** Bytes per element of each {@link ElemType}. */
export const ELEM_BYTES: Readonly<Record<ElemType, number>> = {
  float32: 4,
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  int32: 4,
  int64: 8,
  bool: 1,
  float16: 2,
  float64: 8,
  uint32: 4,
  uint64: 8,
  bfloat16: 2,
};

/**
 * The values of a tensor constant. float16 and bfloat16 are given as their
 * 16-bit patterns (`Uint16Array`); int64/uint64 as `BigInt64Array`/`BigUint64Array`
 * or plain integer arrays; bool as 0/1 bytes.
 */
export type TensorValues =
  | Float32Array
  | Float64Array
  | Uint16Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | readonly number[];

/** A tensor constant: an initializer or the value of a `tensor` attribute. */
export interface TensorSpec {
  /** Name (graph initializers need one; attribute tensors may leave it empty). */
  name?: string;
  /** Element type. */
  elemType: ElemType;
  /** Dimensions (`[]` for a scalar). */
  dims: readonly number[];
  /** The values, row-major, written as `raw_data` (little-endian). */
  values: TensorValues;
}

/** A dimension of a declared input or output: a size, or a symbolic name such as `'n'`. */
export type Dim = number | string;

/** A graph input or output: `ValueInfoProto` with a tensor type. */
export interface ValueInfoSpec {
  name: string;
  elemType: ElemType;
  /** Dimensions, symbolic ones as strings; `[]` for a scalar. */
  dims: readonly Dim[];
  docString?: string;
}

/** A typed attribute value (`AttributeProto`). */
export type AttributeValue =
  | { type: 'int'; value: number | bigint }
  | { type: 'float'; value: number }
  | { type: 'string'; value: string }
  | { type: 'ints'; value: readonly (number | bigint)[] }
  | { type: 'floats'; value: readonly number[] }
  | { type: 'strings'; value: readonly string[] }
  | { type: 'tensor'; value: TensorSpec };

/**
 * Attribute shorthand: an integer is an `int` attribute, a string a `string`,
 * an integer array `ints`; floats must be written with {@link Attr.float} so a
 * float attribute holding a whole number (alpha = 1) is not sent as an int.
 */
export type AttributeInput = AttributeValue | number | string | readonly number[];

/** Constructors of typed attribute values. */
export const Attr = {
  /** An `INT` attribute. */
  int: (value: number | bigint): AttributeValue => ({ type: 'int', value }),
  /** A `FLOAT` attribute (stored as float32). */
  float: (value: number): AttributeValue => ({ type: 'float', value }),
  /** A `STRING` attribute. */
  string: (value: string): AttributeValue => ({ type: 'string', value }),
  /** An `INTS` attribute. */
  ints: (value: readonly (number | bigint)[]): AttributeValue => ({ type: 'ints', value }),
  /** A `FLOATS` attribute. */
  floats: (value: readonly number[]): AttributeValue => ({ type: 'floats', value }),
  /** A `STRINGS` attribute. */
  strings: (value: readonly string[]): AttributeValue => ({ type: 'strings', value }),
  /** A `TENSOR` attribute (the `value` of a `Constant` node). */
  tensor: (value: TensorSpec): AttributeValue => ({ type: 'tensor', value }),
} as const;

/** A node (`NodeProto`). */
export interface NodeSpec {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  /** Operator domain; `''` (default) is the standard ONNX domain. */
  domain?: string;
  attributes?: Readonly<Record<string, AttributeInput>>;
  docString?: string;
}

/** A graph (`GraphProto`). */
export interface GraphSpec {
  name: string;
  nodes: readonly NodeSpec[];
  inputs: readonly ValueInfoSpec[];
  outputs: readonly ValueInfoSpec[];
  initializers?: readonly TensorSpec[];
  /** Type information of intermediate values (optional). */
  valueInfo?: readonly ValueInfoSpec[];
  docString?: string;
}

/** An operator set the model imports (`OperatorSetIdProto`). */
export interface OpsetSpec {
  /** `''` for the standard ONNX domain. */
  domain: string;
  version: number;
}

/** A model (`ModelProto`). */
export interface ModelSpec {
  graph: GraphSpec;
  /** IR version; default 8 (the newest onnxruntime 1.30 and `onnx-proto` 8 both read). */
  irVersion?: number;
  /** Imported operator sets; default `[{ domain: '', version: 17 }]`. */
  opsetImports?: readonly OpsetSpec[];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  /** `metadata_props` key/value pairs. */
  metadata?: Readonly<Record<string, string>>;
}

const ATTRIBUTE_TYPE = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7, strings: 8 } as const;

/** Normalise an attribute shorthand into a typed {@link AttributeValue}. */
export function toAttribute(name: string, input: AttributeInput): AttributeValue {
  if (typeof input === 'number') {
    if (!Number.isInteger(input)) {
      throw new InvalidOptionError(name, input, 'an integer (write a float attribute as Attr.float(x))', 'ONNX attribute');
    }
    return { type: 'int', value: input };
  }
  if (typeof input === 'string') return { type: 'string', value: input };
  if (Array.isArray(input)) {
    const values = input as readonly number[];
    if (!values.every((v) => Number.isInteger(v))) {
      throw new InvalidOptionError(name, input, 'integers (write float lists as Attr.floats([...]))', 'ONNX attribute');
    }
    return { type: 'ints', value: values };
  }
  return input as AttributeValue;
}

/** The little-endian bytes of a tensor's values (`raw_data`). */
export function tensorRawData(t: TensorSpec): Uint8Array {
  const count = t.dims.reduce((a, b) => a * b, 1);
  if (t.values.length !== count) {
    throw new ShapeMismatchError(`ONNX tensor ${t.name ?? ''}: dims [${t.dims.join(', ')}] hold ${count} values, got ${t.values.length}`);
  }
  const bytes = ELEM_BYTES[t.elemType];
  const out = new Uint8Array(count * bytes);
  const view = new DataView(out.buffer);
  const values = t.values;
  for (let i = 0; i < count; i++) {
    const v = values[i]!;
    const at = i * bytes;
    switch (t.elemType) {
      case 'float32':
        view.setFloat32(at, Number(v), true);
        break;
      case 'float64':
        view.setFloat64(at, Number(v), true);
        break;
      case 'float16':
      case 'bfloat16':
      case 'uint16':
        view.setUint16(at, Number(v), true);
        break;
      case 'int16':
        view.setInt16(at, Number(v), true);
        break;
      case 'int32':
        view.setInt32(at, Number(v), true);
        break;
      case 'uint32':
        view.setUint32(at, Number(v), true);
        break;
      case 'int64':
        view.setBigInt64(at, BigInt(v), true);
        break;
      case 'uint64':
        view.setBigUint64(at, BigInt(v), true);
        break;
      case 'int8':
        view.setInt8(at, Number(v));
        break;
      case 'uint8':
      case 'bool':
        view.setUint8(at, Number(v));
        break;
    }
  }
  return out;
}

function writeTensor(w: ProtoWriter, t: TensorSpec): void {
  // TensorProto: dims = 1 (repeated int64, unpacked in proto2), data_type = 2, name = 8, raw_data = 9.
  for (const d of t.dims) w.intField(1, d);
  w.intField(2, ONNX_DATA_TYPE[t.elemType]);
  if (t.name !== undefined && t.name !== '') w.stringField(8, t.name);
  w.bytesField(9, tensorRawData(t));
}

function writeValueInfo(w: ProtoWriter, v: ValueInfoSpec): void {
  // ValueInfoProto: name = 1, type = 2 (TypeProto), doc_string = 3.
  w.stringField(1, v.name);
  w.messageField(2, (type) => {
    // TypeProto.tensor_type = 1 → Tensor: elem_type = 1, shape = 2 (TensorShapeProto).
    type.messageField(1, (tensor) => {
      tensor.intField(1, ONNX_DATA_TYPE[v.elemType]);
      tensor.messageField(2, (shape) => {
        for (const d of v.dims) {
          // TensorShapeProto.dim = 1 → Dimension: dim_value = 1 | dim_param = 2.
          shape.messageField(1, (dim) => {
            if (typeof d === 'number') dim.intField(1, d);
            else dim.stringField(2, d);
          });
        }
      });
    });
  });
  if (v.docString !== undefined) w.stringField(3, v.docString);
}

function writeAttribute(w: ProtoWriter, name: string, input: AttributeInput): void {
  const a = toAttribute(name, input);
  // AttributeProto: name = 1, f = 2, i = 3, s = 4, t = 5, floats = 7, ints = 8, strings = 9, type = 20.
  w.stringField(1, name);
  w.intField(20, ATTRIBUTE_TYPE[a.type]);
  switch (a.type) {
    case 'float':
      w.floatField(2, a.value);
      break;
    case 'int':
      w.intField(3, a.value);
      break;
    case 'string':
      w.stringField(4, a.value);
      break;
    case 'tensor':
      w.messageField(5, (t) => writeTensor(t, a.value));
      break;
    case 'floats':
      for (const f of a.value) w.floatField(7, f);
      break;
    case 'ints':
      for (const i of a.value) w.intField(8, i);
      break;
    case 'strings':
      for (const s of a.value) w.stringField(9, s);
      break;
  }
}

function writeNode(w: ProtoWriter, n: NodeSpec): void {
  // NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5, doc_string = 6, domain = 7.
  for (const i of n.inputs) w.stringField(1, i);
  for (const o of n.outputs) w.stringField(2, o);
  if (n.name !== undefined) w.stringField(3, n.name);
  w.stringField(4, n.opType);
  for (const [key, value] of Object.entries(n.attributes ?? {})) w.messageField(5, (a) => writeAttribute(a, key, value));
  if (n.docString !== undefined) w.stringField(6, n.docString);
  if (n.domain !== undefined && n.domain !== '') w.stringField(7, n.domain);
}

function writeGraph(w: ProtoWriter, g: GraphSpec): void {
  // GraphProto: node = 1, name = 2, initializer = 5, doc_string = 10, input = 11, output = 12, value_info = 13.
  for (const n of g.nodes) w.messageField(1, (x) => writeNode(x, n));
  w.stringField(2, g.name);
  for (const t of g.initializers ?? []) w.messageField(5, (x) => writeTensor(x, t));
  if (g.docString !== undefined) w.stringField(10, g.docString);
  for (const v of g.inputs) w.messageField(11, (x) => writeValueInfo(x, v));
  for (const v of g.outputs) w.messageField(12, (x) => writeValueInfo(x, v));
  for (const v of g.valueInfo ?? []) w.messageField(13, (x) => writeValueInfo(x, v));
}

/**
 * Encode a model as ONNX protobuf bytes, loadable by onnxruntime
 * (`InferenceSession.create(bytes)`) and by any ONNX reader.
 *
 * Field numbers are onnx.proto's. Tensor values are written as `raw_data`
 * (little-endian), repeated scalar fields unpacked as proto2 declares them.
 *
 * @param model - the model; `irVersion` defaults to 8 and the opset to ONNX 17.
 * @returns the serialised `ModelProto`.
 */
export function encodeModel(model: ModelSpec): Uint8Array {
  const w = new ProtoWriter();
  // ModelProto: ir_version = 1, producer_name = 2, producer_version = 3, domain = 4,
  // model_version = 5, doc_string = 6, graph = 7, opset_import = 8, metadata_props = 14.
  w.intField(1, model.irVersion ?? 8);
  if (model.producerName !== undefined) w.stringField(2, model.producerName);
  if (model.producerVersion !== undefined) w.stringField(3, model.producerVersion);
  if (model.domain !== undefined) w.stringField(4, model.domain);
  if (model.modelVersion !== undefined) w.intField(5, model.modelVersion);
  if (model.docString !== undefined) w.stringField(6, model.docString);
  w.messageField(7, (g) => writeGraph(g, model.graph));
  for (const op of model.opsetImports ?? [{ domain: '', version: 17 }]) {
    w.messageField(8, (o) => {
      if (op.domain !== '') o.stringField(1, op.domain);
      o.intField(2, op.version);
    });
  }
  for (const [key, value] of Object.entries(model.metadata ?? {})) {
    w.messageField(14, (e) => {
      e.stringField(1, key);
      e.stringField(2, value);
    });
  }
  return w.finish();
}
