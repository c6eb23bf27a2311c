/**
 * Meta-training: inner problems and unrolls, the antithetic ES and PES estimators, the meta-trainer loop,
 * fine-tuning of shipped optimizers, and the evaluation statistics.
 */
export * from './seeds.js';
export * from './inner.js';
export * from './es.js';
export * from './pes.js';
export * from './trainer.js';
export * from './evaluation.js';
export * from './finetune.js';
