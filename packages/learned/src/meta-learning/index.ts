export * from './functional.js';
export * from './mlp.js';
export * from './meta-learner.js';
export * from './maml.js';
export * from './reptile.js';
export * from './meta-sgd.js';
export * from './sinusoid.js';
