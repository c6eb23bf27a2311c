import { type NatsServer, startNatsServer } from '@opt/distributed/node';
import { federatedTable, prepareFederatedDigits, runFederatedDigits } from '../src/federated-experiment';

describe('federated digits', () => {
  let nats: NatsServer;
  const data = prepareFederatedDigits(0);

  beforeAll(async () => {
    nats = await startNatsServer();
  });

  afterAll(async () => {
    await nats.stop();
  });

  test('FedAvg with 3 Node clients (2 sampled per round) learns the digits in a few rounds', async () => {
    const result = await runFederatedDigits({ url: nats.url, clients: 3, clientsPerRound: 2, rounds: 3, hidden: [16], lr: 0.1, localEpochs: 2, seed: 1 }, data);
    expect(result.rows).toHaveLength(3);
    for (const row of result.rows) {
      expect(row.sampled).toHaveLength(2);
      expect(row.accepted).toBe(2);
      expect(row.rejected).toBe(0);
    }
    expect(result.finalAccuracy).toBeGreaterThan(0.8);
    const table = federatedTable([{ label: 'fedavg', result }]);
    expect(table.split('\n')).toHaveLength(5);
  }, 60000);

  test('FedAdam with secure aggregation trains too', async () => {
    const result = await runFederatedDigits({ url: nats.url, clients: 3, clientsPerRound: 3, rounds: 3, hidden: [16], strategy: 'fedadam', serverLr: 0.05, lr: 0.1, secure: true, seed: 2 }, data);
    expect(result.rows.every((r) => r.secure && r.accepted === 3)).toBe(true);
    expect(result.finalAccuracy).toBeGreaterThan(0.5);
  }, 60000);
});
