/**
 * Gradient compression: codecs with error feedback, the compressed all-reduce, the DDP communication hook, and the
 * 1-bit optimizers.
 *
 * @packageDocumentation
 */
export * from './bits.js';
export * from './codec.js';
export * from './codecs.js';
export * from './powersgd.js';
export * from './hook.js';
export * from './onebit.js';
