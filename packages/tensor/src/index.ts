/**
 * `@opt/tensor`: the tensor interface every `@opt` package shares.
 *
 * - {@link Parameter}: a flat float32/float64 buffer with a shape, a name and a gradient.
 * - {@link flattenParameters}: contiguous storage for many parameters.
 * - The error hierarchy ({@link OptError} and its subclasses) used across the library.
 * - Fused, in-place, allocation-free kernels for optimizer updates and reductions.
 *
 * @packageDocumentation
 */
export * from './dtype.js';
export * from './errors.js';
export * from './parameter.js';
export * from './flat.js';
export * from './kernels/index.js';
export * from './random.js';
export * from './backend.js';
export * from './wasm/index.js';
export * from './threads/index.js';
