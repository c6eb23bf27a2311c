/**
 * A minimal, dependency-free, browser-safe ONNX model encoder.
 *
 * API summary (stable; the learned-optimizer exporter and the step graphs build on it):
 * - `GraphBuilder(name)`: `input(name, elemType, dims)` (dims may be symbolic strings),
 *   `initializer(name, elemType, dims, values)`, `scalar(name, elemType, value)`,
 *   `node(op, inputs, attrs?, { outputs?, name?, domain? })` → output names,
 *   `op(op, inputs, attrs?, outputName?)` → the single output name, `fresh(prefix)`,
 *   `rename(from, to)`, `output(name, elemType, dims)`, `toGraph()`, `toModelSpec(opts)`,
 *   `toModel({ opset: 17, irVersion: 8 })` → `Uint8Array`.
 * - `Attr.int / float / string / ints / floats / strings / tensor`: typed attributes
 *   (shorthand: integer → int, string → string, integer[] → ints; floats must use `Attr.float`).
 * - `encodeModel(spec: ModelSpec)`: the `ModelProto` bytes of a plain-data model
 *   (`GraphSpec`, `NodeSpec`, `TensorSpec`, `ValueInfoSpec`, `OpsetSpec`).
 * - `ElemType` (`'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | ...`),
 *   `ONNX_DATA_TYPE` (their `TensorProto.DataType` codes), `ELEM_BYTES`.
 * - `ProtoWriter`: the protobuf wire writer underneath.
 *
 * float16/bfloat16 tensor values are 16-bit patterns in a `Uint16Array`
 * (see `float16Bits`/`bfloat16Bits` in the mixed-precision module).
 *
 * (Module overview; the exports follow.)
 */
export * from './wire.js';
export * from './model.js';
export * from './builder.js';
