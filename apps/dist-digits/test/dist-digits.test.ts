import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NatsServer, startNatsServer } from '@opt/distributed/node';
import { ShmCollective, createShmGroup } from '@opt/distributed';
import { runCli } from '../src/cli';
import { prepareDigits, trainDigitsRank } from '../src/experiment';
import { runDataParallel } from '../src/launch';

let server: NatsServer;

beforeAll(async () => {
  server = await startNatsServer();
});

afterAll(async () => {
  await server.stop();
});

describe('data-parallel digits (tiny configurations)', () => {
  test('2 ranks over NATS with Top-K + EF: identical replicas, ≥ 32× less gradient traffic, and the MLP learns', async () => {
    const results = await runDataParallel({ workers: 2, codec: 'topk-ef', epochs: 2, inProcess: true, natsUrl: server.url });
    expect(results).toHaveLength(2);
    expect(results[0]!.paramsHash).toBe(results[1]!.paramsHash);
    expect(results[0]!.testAccuracy).toEqual(results[1]!.testAccuracy);
    expect(results[0]!.uncompressedBytes / results[0]!.bytesSent).toBeGreaterThanOrEqual(32);
    expect(results[0]!.testAccuracy.at(-1)!).toBeGreaterThan(0.6);
  });

  test('2 ranks on shared memory equal 1 rank on the whole global batch for the uncompressed all-reduce', async () => {
    const data = prepareDigits(0);
    const group = createShmGroup({ worldSize: 2, slotBytes: 1 << 16 });
    const two = await Promise.all([0, 1].map((r) => trainDigitsRank(new ShmCollective(group, r), { epochs: 1, batchSize: 64, lr: 0.05 }, data)));
    const one = await trainDigitsRank(new ShmCollective(createShmGroup({ worldSize: 1 }), 0), { epochs: 1, batchSize: 64, lr: 0.05 }, data);
    expect(two[0]!.steps).toBe(one.steps);
    // Same global batches; the mean of two half-batch means differs from the full-batch mean only by rounding.
    expect(Math.abs(two[0]!.testAccuracy[0]! - one.testAccuracy[0]!)).toBeLessThan(0.03);
    expect(two[0]!.bytesSent).toBe(two[0]!.uncompressedBytes);
  });

  test('the command line runs several codecs, prints the table and writes the SVG plot', async () => {
    const out = mkdtempSync(join(tmpdir(), 'dist-digits-'));
    try {
      const text = await runCli(['--in-process', '--nats', server.url, '--epochs', '1', '--codec', 'none,powersgd', '--out', out]);
      expect(text).toContain('| uncompressed all-reduce | 2 |');
      expect(text).toContain('PowerSGD rank 1');
      expect(readFileSync(join(out, 'accuracy.svg'), 'utf8')).toContain('<svg');
      expect(readFileSync(join(out, 'results.md'), 'utf8')).toContain('compression');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
