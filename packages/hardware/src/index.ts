/**
 * `@opt/hardware`: optimizer steps and learned-optimizer networks executed by ONNX Runtime.
 *
 * @packageDocumentation
 */
export {};
