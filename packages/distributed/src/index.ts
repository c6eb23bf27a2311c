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
export * from './federated/errors.js';
export * from './federated/robust.js';
export * from './federated/strategies.js';
export * from './federated/secagg.js';
export * from './compression/index.js';
export * from './federated/protocol.js';
export * from './federated/server.js';
export * from './federated/client.js';
export * from './ps/index.js';
export * from './federated/secagg-nats.js';
