/**
 * `@opt/distributed/node`: the Node-only parts (worker threads, NATS transport, nats-server harness).
 *
 * @packageDocumentation
 */
export * from './launcher.js';
export * from './nats-server.js';
export * from './connect.js';
export * from '../federated/node.js';
export * from './browser-clients.js';
export * from './permissions.js';
