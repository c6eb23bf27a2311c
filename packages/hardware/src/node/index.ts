/**
 * `@opt/hardware/node`: the Node-only parts (onnxruntime-node backends, the Vulkan/lavapipe set-up for WebGPU).
 *
 * @packageDocumentation
 */
export * from './ort-node.js';
export * from './vulkan.js';
