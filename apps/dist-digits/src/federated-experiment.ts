/**
 * Federated training of the digits MLP over NATS: one server and several clients (each with its own connection
 * and its own shard of the training set), FedAvg or a server optimizer, client sampling, optional secure
 * aggregation. What `federated-main.ts` runs and the app's test exercises.
 */
import { SGD } from '@opt/core';
import { FedAdagrad, FedAdam, FedAvg, FedYogi, type FederatedStrategy } from '@opt/distributed';
import { connectFederatedClient, connectFederatedServer } from '@opt/distributed/node';
import { type Batch, type Dataset, ClassificationObjective, batchOf, mlp, standardize, trainTestSplit } from '@opt/tasks';
import { loadDigits } from '@opt/tasks/node';
import { type Parameter, Rng } from '@opt/tensor';

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
  /** Clients (default 4). */
  clients?: number;
  /** Clients sampled per round (default 3). */
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
  rejected: number;
  testAccuracy: number;
}

/** A run's result. */
export interface FederatedDigitsResult {
  description: string;
  rows: RoundRow[];
  finalAccuracy: number;
  parameters: number;
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

function flatten(params: readonly Parameter[], out: Float32Array): Float32Array {
  let o = 0;
  for (const p of params) {
    out.set(p.data, o);
    o += p.data.length;
  }
  return out;
}

function unflatten(flat: ArrayLike<number>, params: readonly Parameter[]): void {
  let o = 0;
  for (const p of params) {
    for (let i = 0; i < p.data.length; i++) p.data[i] = flat[o + i]!;
    o += p.data.length;
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
  const perRound = Math.min(options.clientsPerRound ?? 3, clientsCount);
  const rounds = options.rounds ?? 10;
  const strategyName = options.strategy ?? 'fedavg';
  const secure = options.secure ?? false;
  const job = options.job ?? `digits-${Date.now().toString(36)}`;
  const hidden = options.hidden ?? [32];
  const { train, test } = data;
  const sizes = [train.d, ...hidden, train.numClasses];
  const globalNet = mlp({ sizes, seed, dtype: 'float32' });
  const numel = globalNet.parameters.reduce((n, p) => n + p.data.length, 0);
  const model = flatten(globalNet.parameters, new Float32Array(numel));
  const testObjective = new ClassificationObjective(globalNet, test);
  const testBatch = batchOf(test, Int32Array.from({ length: test.n }, (_, i) => i), 'float32');

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
  const parts = shards(train, clientsCount, options.nonIid ?? false, seed);
  const clients = await Promise.all(
    parts.map(async (idx, k) => {
      const net = mlp({ sizes, seed, dtype: 'float32' });
      const objective = new ClassificationObjective(net, train);
      const opt = new SGD(net.parameters, { lr: options.lr ?? 0.1 });
      const batchSize = options.batchSize ?? 32;
      const rng = new Rng(seed * 1009 + k);
      const order = idx.slice();
      const chosen = new Int32Array(batchSize);
      let batch: Batch | undefined;
      const connected = await connectFederatedClient({
        servers: options.url,
        job,
        clientId: `client${k}`,
        train: (global, task) => {
          unflatten(global, net.parameters);
          const epochs = Number(task.config.localEpochs ?? 1);
          for (let e = 0; e < epochs; e++) {
            for (let i = order.length - 1; i > 0; i--) {
              const j = rng.int(i + 1);
              [order[i], order[j]] = [order[j]!, order[i]!];
            }
            for (let b = 0; b + batchSize <= order.length; b += batchSize) {
              chosen.set(order.subarray(b, b + batchSize));
              batch = batchOf(train, chosen, 'float32', batch);
              objective.lossAndGrad(batch);
              opt.step();
            }
          }
          return { weights: flatten(net.parameters, new Float32Array(numel)), numExamples: order.length };
        },
      });
      closers.push(connected.close);
      return connected.client;
    }),
  );
  const rows: RoundRow[] = [];
  try {
    await server.waitForClients(clientsCount, 10000);
    const loops = clients.map((c) => c.run(120000));
    for (let r = 0; r < rounds; r++) {
      const report = await server.runRound();
      unflatten(model, globalNet.parameters);
      const row: RoundRow = {
        round: report.round,
        strategy: report.strategy,
        secure,
        sampled: report.sampled,
        accepted: report.accepted.length,
        rejected: report.rejected.length,
        testAccuracy: testObjective.accuracy(testBatch),
      };
      rows.push(row);
      options.onRound?.(row);
    }
    await server.finish();
    await Promise.all(loops);
  } finally {
    for (const c of clients) c.stop();
    await server.destroy();
    await Promise.all(closers.map((c) => c().catch(() => undefined)));
  }
  return {
    description:
      `digits MLP ${sizes.join('-')} (${numel} parameters), ${clientsCount} clients (${options.nonIid ? 'label-skewed' : 'IID'} shards), ` +
      `${perRound} sampled per round, ${options.localEpochs ?? 1} local epoch(s) of SGD, ${strategyName}${secure ? ' + secure aggregation' : ''}`,
    rows,
    finalAccuracy: rows.length > 0 ? rows[rows.length - 1]!.testAccuracy : testObjective.accuracy(testBatch),
    parameters: numel,
  };
}

/** A markdown table of one or more runs' rows, side by side by round. */
export function federatedTable(results: ReadonlyArray<{ label: string; result: FederatedDigitsResult }>): string {
  const header = `| round | ${results.map((r) => `${r.label} test acc.`).join(' | ')} |`;
  const rule = `| ---: | ${results.map(() => '---:').join(' | ')} |`;
  const rounds = Math.max(...results.map((r) => r.result.rows.length));
  const lines = [header, rule];
  for (let i = 0; i < rounds; i++) {
    lines.push(`| ${i + 1} | ${results.map((r) => (r.result.rows[i] ? (100 * r.result.rows[i]!.testAccuracy).toFixed(1) + ' %' : '')).join(' | ')} |`);
  }
  return lines.join('\n');
}
