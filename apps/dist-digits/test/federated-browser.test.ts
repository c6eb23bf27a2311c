/**
 * A federated digits run with Node clients and a client in headless Chromium (WebSocket), as
 * `federated-main.js --browser-clients 1` runs it: the page is served from the app's TypeScript sources.
 */
import { join } from 'node:path';
import { findChromium } from '@opt/browser-harness';
import { type NatsServer, findNatsServer, startNatsServer } from '@opt/distributed/node';
import { federatedTable, prepareFederatedDigits, runFederatedDigits } from '../src/federated-experiment';

const maybe = findChromium() !== null && findNatsServer() !== null ? test : test.skip;

describe('federated digits with a browser client', () => {
  let nats: NatsServer | null = null;

  afterAll(async () => {
    await nats?.stop();
  });

  maybe('2 Node clients and 1 browser client train together: every round aggregates the browser update and accuracy rises', async () => {
    nats = await startNatsServer({ websocket: true });
    const data = prepareFederatedDigits(0);
    const result = await runFederatedDigits(
      {
        url: nats.url,
        wsUrl: nats.wsUrl!,
        browserPageDir: join(__dirname, '..', 'src'),
        clients: 2,
        browserClients: 1,
        clientsPerRound: 3,
        rounds: 2,
        hidden: [16],
        lr: 0.1,
        localEpochs: 2,
        seed: 3,
      },
      data,
    );
    expect(result.browserClients).toEqual(['browser0']);
    expect(result.rows).toHaveLength(2);
    for (const row of result.rows) {
      expect(row.acceptedIds.slice().sort()).toEqual(['browser0', 'client0', 'client1']);
      expect(row.browserAccepted).toEqual(['browser0']);
      expect(row.rejected).toBe(0);
    }
    // The page reports the rounds it trained in: both of them.
    expect(result.browserRounds).toEqual({ browser0: result.rows.map((r) => r.round) });
    expect(result.initialAccuracy).toBeLessThan(0.3);
    expect(result.finalAccuracy).toBeGreaterThan(result.initialAccuracy + 0.4);
    expect(result.description).toContain('2 Node + 1 browser clients');
    const table = federatedTable([{ label: 'fedavg', result }]).split('\n');
    expect(table[0]).toBe('| round | fedavg test acc. | fedavg updates from |');
    expect(table[2]).toMatch(/^\| 1 \| [\d.]+ % \| browser0 \(browser\), client0, client1 \|$/);
  }, 60000);

  test('browser clients without a WebSocket URL are refused before anything starts', async () => {
    await expect(runFederatedDigits({ url: 'nats://127.0.0.1:1', browserClients: 1 })).rejects.toMatchObject({ option: 'wsUrl' });
  });
});
