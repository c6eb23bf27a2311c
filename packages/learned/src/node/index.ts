/**
 * `@opt/learned/node`: the Node-only parts (worker threads, checkpoint files).
 *
 * @packageDocumentation
 */
export * from './pool.js';
export * from './entry.js';
export * from './checkpoint.js';
