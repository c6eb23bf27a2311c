import { CollectiveTimeoutError, PeerLostError } from '../src/errors';
import { type ForkedRank, type RankReport, forkRank, killAll } from './helpers/fork';
import { freshJob, natsUrl } from './helpers/ranks';

// Ranks are separate processes (child_process.fork) over the jest run's private nats-server. They run the BUILT
// package (CI builds before jest; locally: npx tsc -p packages/distributed/tsconfig.build.json).
const heartbeatMs = 400;
const timeoutMs = 10_000;
const common = { heartbeatMs, timeoutMs, chunkBytes: 8, totalSteps: 8, checkpointEvery: 2, watchStep: 5 };

describe('a worker killed mid-collective (3 processes over NATS)', () => {
  let ranks: ForkedRank[] = [];
  afterEach(async () => {
    await killAll(ranks);
    ranks = [];
  });

  test('the survivors fail with a typed error in bound, the epoch bumps, and the elastic run equals a clean 2-rank run from the checkpoint', async () => {
    const job = freshJob('elastic');
    // Rank 2 dies in the all-reduce of step 5 after publishing 2 of its 4 reduce-scatter chunks (12 floats, 3
    // segments of 4, 2 floats per chunk).
    ranks = [0, 1, 2].map((rank) =>
      forkRank({ ...common, url: natsUrl(), job, rank, worldSize: 3, ...(rank === 2 ? { die: { step: 5, afterChunks: 2 } } : {}) }),
    );
    const reports = await Promise.all(ranks.map((r) => r.result));
    expect(await ranks[2]!.exitCode).toBe(3);
    expect(reports[2]).toBeNull();
    const survivors = reports.slice(0, 2) as RankReport[];
    for (const r of survivors) {
      expect(r).toMatchObject({ type: 'done' });
      if (process.env.OPT_DEBUG_FAULTS) console.log(JSON.stringify(r.reforms));
      expect(r.reforms).toHaveLength(1);
      const event = r.reforms![0]!;
      expect([PeerLostError.name, CollectiveTimeoutError.name]).toContain(event.error);
      // The failure is bounded: the lease of the dead rank expires after 3 heartbeats, the operation's timer
      // fires after timeoutMs; generous slack for a loaded machine (the point is: no hang).
      expect(event.elapsedMs).toBeGreaterThanOrEqual(0);
      expect(event.elapsedMs).toBeLessThan(timeoutMs + heartbeatMs + 10_000);
      expect(event.toEpoch).toBe(event.fromEpoch + 1);
      expect(event.toWorldSize).toBe(2);
      expect(r.epochAfter).toBe(r.epochBefore! + 1);
      expect(r.worldSizeAfter).toBe(2);
    }
    // Both survivors reloaded the same checkpoint (step 4: the last one before the fatal step 5).
    expect(survivors[0]!.restored!.step).toBe(4);
    expect(survivors[1]!.restored).toEqual(survivors[0]!.restored);
    expect(survivors[1]!.parameters).toEqual(survivors[0]!.parameters);

    // A clean 2-rank run from that checkpoint gives the same parameters, bit for bit.
    const cleanJob = freshJob('clean');
    ranks.push(...[0, 1].map((rank) => forkRank({ ...common, url: natsUrl(), job: cleanJob, rank, worldSize: 2, checkpoint: survivors[0]!.restored })));
    const clean = (await Promise.all(ranks.slice(3).map((r) => r.result))) as RankReport[];
    for (const c of clean) expect(c).toMatchObject({ type: 'done', reforms: [] });
    expect(Float32Array.from(clean[0]!.parameters!)).toEqual(Float32Array.from(survivors[0]!.parameters!));
    expect(clean[0]!.parameters).toEqual(survivors[0]!.parameters);
  }, 60_000);
});
