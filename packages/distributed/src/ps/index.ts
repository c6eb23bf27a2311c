/**
 * The asynchronous parameter server: shard servers and workers on JetStream.
 *
 * @packageDocumentation
 */
export * from './layout.js';
export * from './server.js';
export * from './worker.js';
