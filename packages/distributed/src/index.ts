/**
 * `@opt/distributed`: collectives, data-parallel training and gradient compression.
 *
 * @packageDocumentation
 */
export * from './errors.js';
export * from './collective.js';
export * from './reduce.js';
export * from './wire.js';
export * from './shm.js';
export * from './nats.js';
export * from './hooks.js';
export * from './ddp.js';
export * from './local-sgd.js';
