/**
 * `@opt/learned`: learned optimizers meta-trained here and shipped with their weights, meta-learning
 * (MAML, FOMAML, Reptile, Meta-SGD) and the meta-training estimators. Browser-safe; the multi-threaded,
 * checkpointing meta-trainer is in `@opt/learned/node`.
 *
 * @packageDocumentation
 */
export * from './learnable.js';
