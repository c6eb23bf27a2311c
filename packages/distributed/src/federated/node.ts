/**
 * Node-only conveniences of the federated layer: federated servers and clients over Node's TCP transport.
 *
 * @packageDocumentation
 */
import type { ConnectionOptions, NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { FederatedClient, type FederatedClientOptions } from './client.js';
import { FederatedServer, type FederatedServerOptions } from './server.js';

/** Connection settings of {@link connectFederatedServer} and {@link connectFederatedClient}. */
export interface FederatedConnectOptions {
  /** Server URL(s), e.g. `nats://127.0.0.1:4222`. */
  servers: string | string[];
  /** Keep reconnecting forever (default true): rounds survive a nats-server restart. */
  reconnect?: boolean;
  /**
   * More `@nats-io/transport-node` connection options, merged last: TLS (`tls`), credentials (`user`, `pass`) and
   * the per-user `inboxPrefix` that `federatedPermissions` expects.
   */
  connectOptions?: Partial<ConnectionOptions>;
}

async function open(o: FederatedConnectOptions, name: string): Promise<NatsConnection> {
  const forever = o.reconnect ?? true;
  return connect({
    servers: o.servers,
    name,
    ...(forever ? { maxReconnectAttempts: -1, reconnectTimeWait: 250 } : {}),
    ...o.connectOptions,
  });
}

/**
 * Connect with `@nats-io/transport-node` and create a {@link FederatedServer} on that connection; the returned
 * `close` closes the connection.
 *
 * @example
 * ```ts
 * const { server, close } = await connectFederatedServer({ servers: url, job: 'digits', model: weights });
 * await server.runRound();
 * await close();
 * ```
 */
export async function connectFederatedServer(
  options: FederatedConnectOptions & Omit<FederatedServerOptions, 'connection'>,
): Promise<{ server: FederatedServer; close: () => Promise<void> }> {
  const { servers, reconnect, connectOptions, ...rest } = options;
  const nc = await open({ servers, reconnect, connectOptions }, `fl-${options.job}-server`);
  try {
    return { server: await FederatedServer.create({ ...rest, connection: nc }), close: () => nc.close() };
  } catch (e) {
    await nc.close().catch(() => undefined);
    throw e;
  }
}

/**
 * Connect with `@nats-io/transport-node` and create a {@link FederatedClient}; the returned `close` closes the
 * connection.
 *
 * @example
 * ```ts
 * const { client, close } = await connectFederatedClient({ servers: url, job: 'digits', clientId: 'node-1', train });
 * await client.run();
 * await close();
 * ```
 */
export async function connectFederatedClient(
  options: FederatedConnectOptions & Omit<FederatedClientOptions, 'connection'>,
): Promise<{ client: FederatedClient; close: () => Promise<void> }> {
  const { servers, reconnect, connectOptions, ...rest } = options;
  const nc = await open({ servers, reconnect, connectOptions }, `fl-${options.job}-${options.clientId}`);
  try {
    return { client: await FederatedClient.create({ ...rest, connection: nc }), close: () => nc.close() };
  } catch (e) {
    await nc.close().catch(() => undefined);
    throw e;
  }
}
