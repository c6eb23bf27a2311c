export * from './errors.js';
export * from './runner.js';
export * from './ort-web.js';
