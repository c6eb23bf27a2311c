export * from './reductions.js';
export * from './sgd.js';
export * from './adam.js';
