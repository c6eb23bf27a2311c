export * from './algorithms.js';
export * from './step-builder.js';
export * from './step-graph.js';
