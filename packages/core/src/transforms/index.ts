/**
 * Composable gradient transformations (optax's shape, in place on buffers):
 * building blocks (`scaleByAdam`, `trace`, `addDecayedWeights`, …),
 * combinators (`chain`, `masked`, `partition`, `multiSteps`, `applyIfFinite`,
 * `injectHyperparams`), aliases (`adam`, `adamw`, `sgd`, `lion`, `rmsprop`),
 * and the bridges to the optimizer classes (`optimizerTransform`,
 * `TransformOptimizer`).
 *
 * @packageDocumentation
 */
export * from './types.js';
export * from './state-json.js';
export * from './scale.js';
export * from './clipping.js';
export * from './scale-by-adam.js';
export * from './scale-by-rms.js';
export * from './trace.js';
export * from './scale-by-lion.js';
export * from './combine.js';
export * from './multi-steps.js';
export * from './apply-if-finite.js';
export * from './inject-hyperparams.js';
export * from './alias.js';
export * from './optimizer-transform.js';
export * from './transform-optimizer.js';
