/**
 * The small differentiable model layer: layers with hand-derived backward
 * passes, losses, and objectives with per-example gradients.
 *
 * @packageDocumentation
 */
export * from './special.js';
export { type Layer, BatchBuffers, UnsupportedOperationError } from './layer.js';
export type { InitScheme, InitRandomness } from './init.js';
export * from './dense.js';
export * from './activations.js';
export * from './conv2d.js';
export * from './flatten.js';
export * from './sequential.js';
export * from './losses.js';
export * from './objectives.js';
