/**
 * `@opt/hardware`: optimizer steps and learned-optimizer networks executed by ONNX Runtime.
 *
 * @packageDocumentation
 */
export * from './onnx/index.js';
export * from './graphs/index.js';
export * from './backends/index.js';
export * from './device/device-optimizer.js';
export * from './mixed/index.js';
export * from './learned/index.js';
