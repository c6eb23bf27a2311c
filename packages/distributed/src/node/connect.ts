/**
 * `NatsCollective` over Node's TCP transport.
 *
 * @packageDocumentation
 */
import type { ConnectionOptions } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { NatsCollective, type NatsCollectiveOptions } from '../nats.js';

/** Options of {@link connectNatsCollective}: the collective's, with server URLs instead of a connection. */
export interface ConnectNatsCollectiveOptions extends Omit<NatsCollectiveOptions, 'connection' | 'ownsConnection'> {
  /** Server URL(s), e.g. `nats://127.0.0.1:4222`. */
  servers: string | string[];
  /** Client name shown in the server's monitoring (default `opt-<job>-<rank>`). */
  name?: string;
  /**
   * Further options of `connect` (TLS, credentials, …). Defaults here: reconnect forever every 250 ms
   * (`maxReconnectAttempts: -1`, `reconnectTimeWait: 250`), so a restarted server is found again quickly.
   */
  connectOptions?: Partial<ConnectionOptions>;
}

/**
 * Connect to NATS with `@nats-io/transport-node` and join the group: a `NatsCollective` that owns its connection
 * (closed by `close()`).
 *
 * @example
 * ```ts
 * const c = await connectNatsCollective({ servers: 'nats://127.0.0.1:4222', job: 'run-7', rank, worldSize: 2 });
 * await c.allReduce(grads, 'mean');
 * await c.close();
 * ```
 */
export async function connectNatsCollective(options: ConnectNatsCollectiveOptions): Promise<NatsCollective> {
  const { servers, name, connectOptions, ...rest } = options;
  const nc = await connect({
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    ...connectOptions,
    servers,
    name: name ?? `opt-${options.job}-${options.rank}`,
  });
  try {
    return await NatsCollective.create({ ...rest, connection: nc, ownsConnection: true });
  } catch (e) {
    await nc.close().catch(() => undefined);
    throw e;
  }
}
