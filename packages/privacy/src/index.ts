/**
 * `@opt/privacy`: differentially private training (DP-SGD) and privacy accountants.
 *
 * @packageDocumentation
 */
export * from './noise/gaussian.js';
export * from './sampling/samplers.js';
export * from './dp/errors.js';
export * from './dp/per-example.js';
export * from './dp/optimizer.js';
export * from './dp/transform.js';
export * from './errors.js';
export * from './accountants/index.js';
export * from './calibration.js';
export * from './dp/engine.js';
