/**
 * Federated training of the digits MLP over NATS: one server and several clients (each with its own connection
 * and its own shard of the training set), FedAvg or a server optimizer, client sampling, optional secure
 * aggregation, and optionally browser clients in headless Chromium next to the Node ones. What
 * `federated-main.ts` runs and the app's tests exercise.
 */
import { FedAdagrad, FedAdam, FedAvg, FedYogi, type FederatedStrategy } from '@opt/distributed';
import { connectFederatedClient, connectFederatedServer } from '@opt/distributed/node';
import { type Dataset, ClassificationObjective, batchOf, mlp, standardize, subset, trainTestSplit } from '@opt/tasks';
import { loadDigits } from '@opt/tasks/node';
import { InvalidOptionError, Rng } from '@opt/tensor';
import type { BrowserClients } from './federated-browser.js';
import { digitsLocalTrainer, flattenParameters, unflattenParameters } from './federated-client.js';

/** The server strategies the app knows. */
export const STRATEGY_NAMES = ['fedavg', 'fedadam', 'fedyogi', 'fedadagrad'] as const;

/** A strategy name of {@link STRATEGY_NAMES}. */
export type StrategyName = (typeof STRATEGY_NAMES)[number];

/** Settings of one federated run. */
export interface FederatedDigitsOptions {
  /** NATS server URL. */
  url: string;
  /** Job name (default `digits-<time>`). */
  job?: string;
  /** Node clients (default 4), each on its own connection in this process. */
  clients?: number;
  /**
   * Browser clients (default 0): pages of one headless Chromium, connected over WebSocket, each with its own shard
   * (after the Node clients' shards) and the same local training. Needs {@link FederatedDigitsOptions.wsUrl} and
   * {@link FederatedDigitsOptions.browserPageDir}.
   */
  browserClients?: number;
  /** nats-server's WebSocket URL (`startNatsServer({ websocket: true }).wsUrl`), for the browser clients. */
  wsUrl?: string;
  /** The folder of the page module: `apps/dist-digits/src` (served transpiled) or the built `apps/dist-digits/dist`. */
  browserPageDir?: string;
  /** Clients (Node and browser) sampled per round (default 3). */
  clientsPerRound?: number;
  /** Rounds (default 10). */
  rounds?: number;
  /** Server strategy (default `'fedavg'`). */
  strategy?: StrategyName;
  /** Server learning rate of the adaptive strategies (default 0.01). */
  serverLr?: number;
  /** Secure aggregation with threshold ⌈clientsPerRound/2⌉ + 1 (capped at clientsPerRound) (default false). */
  secure?: boolean;
  /** Local epochs per round (default 1). */
  localEpochs?: number;
  /** Local SGD learning rate (default 0.1) and batch size (default 32). */
  lr?: number;
  batchSize?: number;
  /** Hidden widths of the MLP (default [32]). */
  hidden?: number[];
  /** Label-skewed shards (each client gets mostly two classes) instead of IID ones (default false). */
  nonIid?: boolean;
  /** Seed of the split, initialisation, shards, sampling and shuffling (default 0). */
  seed?: number;
  /** Called after every round. */
  onRound?: (round: RoundRow) => void;
}

/** One row of the result table. */
export interface RoundRow {
  round: number;
  strategy: string;
  secure: boolean;
  sampled: string[];
  accepted: number;
  /** The clients whose updates the round aggregated. */
  acceptedIds: string[];
  /** Those of {@link RoundRow.acceptedIds} that are browser clients. */
  browserAccepted: string[];
  rejected: number;
  testAccuracy: number;
}

/** A run's result. */
export interface FederatedDigitsResult {
  description: string;
  rows: RoundRow[];
  finalAccuracy: number;
  /** Test accuracy of the initial model, before round 1. */
  initialAccuracy: number;
  parameters: number;
  /** The browser clients' ids (empty without browser clients). */
  browserClients: string[];
  /** The rounds each browser client trained in, as the page reported them. */
  browserRounds: Record<string, number[]>;
}

/** The digits, standardized, stratified 80/20 split. */
export function prepareFederatedDigits(seed = 0): { train: Dataset; test: Dataset } {
  const { train, test } = trainTestSplit(loadDigits(), { testFraction: 0.2, seed, stratify: true });
  const s = standardize(train, test);
  return { train: s.train, test: s.test! };
}

function makeStrategy(name: StrategyName, serverLr: number): FederatedStrategy {
  switch (name) {
    case 'fedavg':
      return new FedAvg();
    case 'fedadam':
      return new FedAdam({ serverLr });
    case 'fedyogi':
      return new FedYogi({ serverLr });
    case 'fedadagrad':
      return new FedAdagrad({ serverLr });
  }
}

/** Client shards: a seeded permutation cut into equal parts, or (non-IID) the examples sorted by label first. */
function shards(train: Dataset, clients: number, nonIid: boolean, seed: number): Int32Array[] {
  const order = Int32Array.from({ length: train.n }, (_, i) => i);
  const rng = new Rng(seed + 17);
  for (let i = train.n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  if (nonIid) order.sort((a, b) => train.labels[a]! - train.labels[b]! || a - b);
  const per = Math.floor(train.n / clients);
  return Array.from({ length: clients }, (_, k) => order.slice(k * per, (k + 1) * per));
}

/**
 * Run a federated job on the digits MLP: a `FederatedServer` and `clients` `FederatedClient`s, each on its own
 * NATS connection, in this process. Every round samples `clientsPerRound` clients; each trains `localEpochs` of
 * SGD on its shard from the global model; the strategy aggregates; the test accuracy is recorded.
 */
export async function runFederatedDigits(options: FederatedDigitsOptions, data = prepareFederatedDigits(options.seed ?? 0)): Promise<FederatedDigitsResult> {
  const seed = options.seed ?? 0;
  const clientsCount = options.clients ?? 4;
  const browserCount = options.browserClients ?? 0;
  const total = clientsCount + browserCount;
  const perRound = Math.min(options.clientsPerRound ?? 3, total);
  const rounds = options.rounds ?? 10;
  const strategyName = options.strategy ?? 'fedavg';
  const secure = options.secure ?? false;
  const job = options.job ?? `digits-${Date.now().toString(36)}`;
  const hidden = options.hidden ?? [32];
  const { train, test } = data;
  const sizes = [train.d, ...hidden, train.numClasses];
  const settings = { sizes, seed, lr: options.lr ?? 0.1, batchSize: options.batchSize ?? 32 };
  const globalNet = mlp({ sizes, seed, dtype: 'float32' });
  const numel = globalNet.parameters.reduce((n, p) => n + p.data.length, 0);
  const model = flattenParameters(globalNet.parameters, new Float32Array(numel));
  const testObjective = new ClassificationObjective(globalNet, test);
  const testBatch = batchOf(test, Int32Array.from({ length: test.n }, (_, i) => i), 'float32');
  const initialAccuracy = testObjective.accuracy(testBatch);
  if (browserCount > 0 && (options.wsUrl === undefined || options.browserPageDir === undefined)) {
    throw new InvalidOptionError('wsUrl', options.wsUrl, 'a ws:// URL and a browserPageDir when browserClients > 0', 'runFederatedDigits');
  }

  const closers: Array<() => Promise<void>> = [];
  const { server, close } = await connectFederatedServer({
    servers: options.url,
    job,
    model,
    shapes: globalNet.parameters.map((p) => [...p.shape]),
    strategy: makeStrategy(strategyName, options.serverLr ?? 0.01),
    clientsPerRound: perRound,
    minClients: Math.max(1, perRound - 1),
    roundTimeoutMs: 60000,
    seed,
    config: { localEpochs: options.localEpochs ?? 1 },
    secureAggregation: secure ? { threshold: Math.min(perRound, Math.ceil(perRound / 2) + 1) } : undefined,
  });
  closers.push(close);
  const parts = shards(train, total, options.nonIid ?? false, seed);
  let browsers: BrowserClients | null = null;
  const rows: RoundRow[] = [];
  let browserResults: Array<{ clientId: string; rounds: number[] }> = [];
  try {
    if (browserCount > 0) {
      // Loaded only here: plain Node runs never start (or need) the browser tooling.
      const { startBrowserClients } = await import('./federated-browser.js');
      browsers = await startBrowserClients({
        wsUrl: options.wsUrl!,
        job,
        pageDir: options.browserPageDir!,
        shards: parts.slice(clientsCount).map((idx, j) => subset(train, idx, `browser${j}`)),
        settings,
        firstIndex: clientsCount,
      });
    }
    const clients = await Promise.all(
      parts.slice(0, clientsCount).map(async (idx, k) => {
        const connected = await connectFederatedClient({
          servers: options.url,
          job,
          clientId: `client${k}`,
          train: digitsLocalTrainer(subset(train, idx, `client${k}`), { ...settings, clientIndex: k }),
        });
        closers.push(connected.close);
        return connected.client;
      }),
    );
    const browserIds = new Set(browsers?.clientIds ?? []);
    try {
      // Pages take a few seconds to load (and transpile) their modules before they register; a page that fails
      // meanwhile ends the wait with its error rather than a registration timeout.
      const registered = server.waitForClients(total, browserCount > 0 ? 60000 : 10000);
      registered.catch(() => undefined);
      await (browsers === null ? registered : Promise.race([registered, browsers.done.then(() => registered)]));
      const loops = clients.map((c) => c.run(120000));
      for (let r = 0; r < rounds; r++) {
        const report = await server.runRound();
        unflattenParameters(model, globalNet.parameters);
        const row: RoundRow = {
          round: report.round,
          strategy: report.strategy,
          secure,
          sampled: report.sampled,
          accepted: report.accepted.length,
          acceptedIds: report.accepted.slice(),
          browserAccepted: report.accepted.filter((id) => browserIds.has(id)),
          rejected: report.rejected.length,
          testAccuracy: testObjective.accuracy(testBatch),
        };
        rows.push(row);
        options.onRound?.(row);
      }
      await server.finish();
      await Promise.all(loops);
      if (browsers !== null) browserResults = await browsers.done;
    } finally {
      for (const c of clients) c.stop();
    }
  } finally {
    await server.destroy();
    await browsers?.close();
    await Promise.all(closers.map((c) => c().catch(() => undefined)));
  }
  const who = browserCount > 0 ? `${clientsCount} Node + ${browserCount} browser clients` : `${clientsCount} clients`;
  return {
    description:
      `digits MLP ${sizes.join('-')} (${numel} parameters), ${who} (${options.nonIid ? 'label-skewed' : 'IID'} shards), ` +
      `${perRound} sampled per round, ${options.localEpochs ?? 1} local epoch(s) of SGD, ${strategyName}${secure ? ' + secure aggregation' : ''}`,
    rows,
    finalAccuracy: rows.length > 0 ? rows[rows.length - 1]!.testAccuracy : initialAccuracy,
    initialAccuracy,
    parameters: numel,
    browserClients: [...(browsers?.clientIds ?? [])],
    browserRounds: Object.fromEntries(browserResults.map((b) => [b.clientId, b.rounds])),
  };
}

/** An accepted client's id, marked when it is a browser client. */
function clientLabel(id: string, row: RoundRow): string {
  return row.browserAccepted.includes(id) ? `${id} (browser)` : id;
}

/**
 * A markdown table of one or more runs' rows, side by side by round. A run with browser clients gets a second column
 * listing the clients whose updates each round aggregated, browser clients marked `(browser)`.
 */
export function federatedTable(results: ReadonlyArray<{ label: string; result: FederatedDigitsResult }>): string {
  const withClients = (r: { result: FederatedDigitsResult }): boolean => r.result.browserClients.length > 0;
  const header = `| round | ${results.map((r) => `${r.label} test acc.${withClients(r) ? ` | ${r.label} updates from` : ''}`).join(' | ')} |`;
  const rule = `| ---: | ${results.map((r) => (withClients(r) ? '---: | :---' : '---:')).join(' | ')} |`;
  const rounds = Math.max(...results.map((r) => r.result.rows.length));
  const lines = [header, rule];
  for (let i = 0; i < rounds; i++) {
    const cells = results.map((r) => {
      const row = r.result.rows[i];
      const acc = row ? `${(100 * row.testAccuracy).toFixed(1)} %` : '';
      if (!withClients(r)) return acc;
      return `${acc} | ${row ? row.acceptedIds.slice().sort().map((id) => clientLabel(id, row)).join(', ') : ''}`;
    });
    lines.push(`| ${i + 1} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
