import { connect } from '@nats-io/transport-node';
import { EpochChangedError, PeerLostError } from '../src/errors';
import { NatsCollective } from '../src/nats';
import { type NatsServer, startNatsServer } from '../src/node/nats-server';
import { type ForkedRank, type RankReport, forkRank, killAll } from './helpers/fork';
import { closeAll, freshJob, natsUrl } from './helpers/ranks';

// nats-server is SIGKILLed and restarted on the same port with the same JetStream store. These tests use a
// PRIVATE server (startNatsServer), never the jest run's shared one.
const heartbeatMs = 400;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('nats-server killed and restarted mid-run', () => {
  let server: NatsServer | null = null;
  let ranks: ForkedRank[] = [];
  afterEach(async () => {
    await killAll(ranks);
    ranks = [];
    await server?.stop();
    server = null;
  });

  test('the in-flight all-reduce fails with EpochChangedError, clients reconnect, the re-formed group all-reduces', async () => {
    server = await startNatsServer();
    const job = freshJob('restart');
    const group = await Promise.all(
      [0, 1, 2].map(async (rank) => {
        const connection = await connect({ servers: server!.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
        return NatsCollective.create({ connection, ownsConnection: true, job, rank, worldSize: 3, heartbeatMs, timeoutMs: 15_000 });
      }),
    );
    let next: NatsCollective[] = [];
    try {
      const epoch = group[0]!.epoch;
      // Ranks 0 and 1 are inside the all-reduce (rank 2 has not joined it yet, so it cannot complete).
      const inFlight = Promise.allSettled([0, 1].map((r) => group[r]!.allReduce(new Float32Array([1, 2, 3, 4]), 'sum')));
      await sleep(50);
      await server.kill('SIGKILL');
      const settled = await inFlight;
      for (const s of settled) {
        expect(s.status).toBe('rejected');
        expect((s as PromiseRejectedResult).reason).toBeInstanceOf(EpochChangedError);
      }
      await sleep(300);
      await server.restart();
      next = await Promise.all(group.map((c) => c.reform({ timeoutMs: 15_000 })));
      expect(next.map((c) => [c.rank, c.worldSize, c.epoch])).toEqual([
        [0, 3, epoch + 1],
        [1, 3, epoch + 1],
        [2, 3, epoch + 1],
      ]);
      const bufs = [0, 1, 2].map((r) => new Float32Array([r, 10 * r, 1]));
      await Promise.all(next.map((c, r) => c.allReduce(bufs[r]!, 'sum')));
      for (const b of bufs) expect(Array.from(b)).toEqual([3, 30, 3]);
    } finally {
      await closeAll(next.length > 0 ? next : group);
    }
  }, 60_000);

  test('elastic training across a server restart re-forms, reloads the checkpoint and ends exactly where an uninterrupted run ends', async () => {
    server = await startNatsServer();
    const common = { heartbeatMs, timeoutMs: 15_000, chunkBytes: 16, totalSteps: 8, checkpointEvery: 2 };
    const job = freshJob('elastic-restart');
    let restarted: Promise<void> | null = null;
    ranks = [0, 1, 2].map((rank) =>
      forkRank({ ...common, url: server!.url, job, rank, worldSize: 3, reportSteps: rank === 0 }, ({ step }) => {
        if (step === 4 && restarted === null) {
          restarted = (async () => {
            await server!.kill('SIGKILL');
            await sleep(300);
            await server!.restart();
          })();
        }
      }),
    );
    const reports = (await Promise.all(ranks.map((r) => r.result))) as RankReport[];
    await restarted;
    for (const r of reports) {
      expect(r).toMatchObject({ type: 'done', worldSizeAfter: 3 });
      expect(r.reforms!.length).toBeGreaterThanOrEqual(1);
      for (const e of r.reforms!) expect([EpochChangedError.name, PeerLostError.name]).toContain(e.error);
      expect(r.epochAfter!).toBeGreaterThan(r.epochBefore!);
    }
    // Reference: the same 3 ranks, no fault, on the shared server.
    const cleanJob = freshJob('uninterrupted');
    ranks.push(...[0, 1, 2].map((rank) => forkRank({ ...common, url: natsUrl(), job: cleanJob, rank, worldSize: 3 })));
    const clean = (await Promise.all(ranks.slice(3).map((r) => r.result))) as RankReport[];
    for (let r = 0; r < 3; r++) {
      expect(clean[r]).toMatchObject({ type: 'done', reforms: [] });
      expect(reports[r]!.parameters).toEqual(clean[0]!.parameters);
    }
  }, 60_000);
});
