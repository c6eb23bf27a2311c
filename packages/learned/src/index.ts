/**
 * `@opt/learned`: learned optimizers meta-trained here and shipped with their weights, meta-learning
 * (MAML, FOMAML, Reptile, Meta-SGD) and the meta-training estimators. Browser-safe; the multi-threaded,
 * checkpointing meta-trainer is in `@opt/learned/node`.
 *
 * @packageDocumentation
 */
export * from './learnable.js';
export * from './meta-learning/index.js';
export * from './optimizers/lstm.js';
export * from './meta/tbptt.js';
export * from './weights/index.js';
export * from './optimizers/time-features.js';
export * from './optimizers/features.js';
export * from './optimizers/mlp.js';
export * from './meta/index.js';
export * from './optimizers/hypergradient.js';
export * from './optimizers/learned-lr-adam.js';
export * from './optimizers/hybrid.js';
export * from './optimizers/transformer.js';
