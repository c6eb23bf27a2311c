/**
 * Federated digits: trains the digits MLP with Node clients over NATS, FedAvg against FedAdam (or the strategies
 * given), optionally with secure aggregation, and prints a table of test accuracy by round.
 *
 * Options: `--url nats://…` (default: start a private nats-server), `--clients N` (4 Node clients),
 * `--browser-clients K` (0: clients in headless Chromium over WebSocket), `--ws-url ws://…` (the WebSocket listener
 * of the `--url` server, needed with both), `--per-round K` (3), `--rounds R` (15), `--strategies fedavg,fedadam`
 * (any of fedavg, fedadam, fedyogi, fedadagrad), `--secure`, `--non-iid`, `--local-epochs E` (1),
 * `--server-lr η` (0.01), `--seed S` (0).
 */
import { fileURLToPath } from 'node:url';
import { OptError } from '@opt/core';
import { startNatsServer } from '@opt/distributed/node';
import { STRATEGY_NAMES, type StrategyName, federatedTable, prepareFederatedDigits, runFederatedDigits } from './federated-experiment.js';

function value(argv: string[], name: string): string | undefined {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : undefined;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const strategies = (value(argv, '--strategies') ?? 'fedavg,fedadam').split(',') as StrategyName[];
  for (const s of strategies) {
    if (!STRATEGY_NAMES.includes(s)) throw new OptError('INVALID_OPTION', `unknown strategy ${s} (expected ${STRATEGY_NAMES.join(', ')})`);
  }
  const browserClients = Number(value(argv, '--browser-clients') ?? 0);
  if (!Number.isInteger(browserClients) || browserClients < 0) throw new OptError('INVALID_OPTION', `--browser-clients must be a non-negative integer`);
  if (browserClients > 0 && value(argv, '--url') !== undefined && value(argv, '--ws-url') === undefined) {
    throw new OptError('INVALID_OPTION', '--browser-clients with --url needs --ws-url (the server\'s websocket listener)');
  }
  const own = value(argv, '--url') === undefined ? await startNatsServer({ websocket: browserClients > 0 }) : null;
  const url = value(argv, '--url') ?? own!.url;
  const wsUrl = value(argv, '--ws-url') ?? own?.wsUrl ?? undefined;
  // The page module sits beside this file: dist/browser-client.js (or src/browser-client.ts under a TS runner).
  const browserPageDir = fileURLToPath(new URL('.', import.meta.url));
  const seed = Number(value(argv, '--seed') ?? 0);
  const data = prepareFederatedDigits(seed);
  const results = [];
  try {
    for (const strategy of strategies) {
      const started = Date.now();
      const result = await runFederatedDigits(
        {
          url,
          strategy,
          clients: Number(value(argv, '--clients') ?? 4),
          browserClients,
          wsUrl,
          browserPageDir,
          clientsPerRound: Number(value(argv, '--per-round') ?? 3),
          rounds: Number(value(argv, '--rounds') ?? 15),
          secure: argv.includes('--secure'),
          nonIid: argv.includes('--non-iid'),
          localEpochs: Number(value(argv, '--local-epochs') ?? 1),
          serverLr: Number(value(argv, '--server-lr') ?? 0.01),
          seed,
          onRound: (row) =>
            process.stderr.write(
              `\r${strategy.padEnd(10)} round ${row.round}: ${(100 * row.testAccuracy).toFixed(1)} %` +
                `${browserClients > 0 ? `, ${row.browserAccepted.length}/${row.accepted} updates from browsers` : ''}   `,
            ),
        },
        data,
      );
      process.stderr.write(`\r${strategy.padEnd(10)} done in ${((Date.now() - started) / 1000).toFixed(1)} s            \n`);
      results.push({ label: strategy, result });
    }
  } finally {
    await own?.stop();
  }
  process.stdout.write(`${results[0]!.result.description.replace(/, [a-z]+( \+ secure aggregation)?$/, '$1')}\n\n${federatedTable(results)}\n`);
}

main().catch((e: unknown) => {
  if (!(e instanceof OptError)) throw e;
  process.stderr.write(`${e.message}\n`);
  process.exitCode = 2;
});
