/**
 * `@opt/tasks`: optimisation problems with exact gradients: classic test functions with Hessians, a small
 * differentiable model layer with per-example gradients, seeded task families, and real classification data sets.
 * Browser-safe: no Node API here (file loading is in `@opt/tasks/node`).
 *
 * @packageDocumentation
 */
export * from './data/dataset.js';
export * from './data/split.js';
export * from './data/batches.js';
export * from './objective.js';
export * from './functions/index.js';
export * from './nn/index.js';
export * from './families/quadratic.js';
export * from './families/regression.js';
export * from './families/mlp.js';
export * from './families/sinusoid.js';
