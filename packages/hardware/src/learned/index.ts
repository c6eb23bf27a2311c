export * from './networks.js';
export * from './runner.js';
