/**
 * The page module of a browser client of the federated digits run (`federated-browser.ts` serves it to headless
 * Chromium and calls {@link run}): connects to nats-server over WebSocket, rebuilds its shard from JSON, and takes
 * part in the rounds with the same `FederatedClient` and the same local trainer as the Node clients.
 *
 * The page resolves the bare imports through its import map (`@opt/*` to the packages' modules, `@nats-io/*` to the
 * bundle that `@opt/distributed/node` writes).
 */
import { FederatedClient, type FederatedClientOptions } from '@opt/distributed';
import { type DigitsClientSettings, type ShardJson, digitsLocalTrainer, shardFromJson } from './federated-client.js';

/** What {@link run} receives (JSON, from `runModuleInPage`). */
export interface BrowserClientArgs {
  /** nats-server's WebSocket URL, `ws://127.0.0.1:<port>`. */
  ws: string;
  /** The federated job. */
  job: string;
  /** This client's id (e.g. `browser0`). */
  clientId: string;
  /** The run's model and optimiser settings and this client's index. */
  settings: DigitsClientSettings;
  /** The client's shard. */
  shard: ShardJson;
  /** Return when no task samples this client for this long (ms); the server's "done" ends it sooner. */
  idleTimeoutMs: number;
}

/** What {@link run} returns. */
export interface BrowserClientResult {
  clientId: string;
  /** The rounds this client trained in, in order. */
  rounds: number[];
  /** Whether each of them reached the server (`included` of the participation result). */
  included: boolean[];
  /** Examples in the shard. */
  examples: number;
}

type Connection = FederatedClientOptions['connection'];

// A variable, not a literal: the page's import map resolves it to the NATS bundle, while the app's own type-check
// (which has no `@nats-io` dependency) does not try to.
const NATS_CORE = '@nats-io/nats-core';

/** Connect over WebSocket, register, and take part in rounds until the server finishes the job. */
export async function run(args: BrowserClientArgs): Promise<BrowserClientResult> {
  const { wsconnect } = (await import(NATS_CORE)) as { wsconnect(options: { servers: string; name?: string }): Promise<Connection> };
  const connection = await wsconnect({ servers: args.ws, name: `fl-${args.job}-${args.clientId}` });
  try {
    const local = shardFromJson(args.shard, args.clientId);
    const client = await FederatedClient.create({ connection, job: args.job, clientId: args.clientId, train: digitsLocalTrainer(local, args.settings) });
    const rounds: number[] = [];
    const included: boolean[] = [];
    for (;;) {
      const task = await client.nextTask(args.idleTimeoutMs);
      if (task === null) break;
      const result = await client.participate(task);
      rounds.push(result.round);
      included.push(result.included);
    }
    return { clientId: args.clientId, rounds, included, examples: local.n };
  } finally {
    await connection.close();
  }
}
