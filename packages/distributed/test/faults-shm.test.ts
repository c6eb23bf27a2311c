import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CollectiveTimeoutError, PeerLostError } from '../src/errors';
import { watchWorker } from '../src/node/launcher';
import { type ShmGroup, ShmCollective, createShmGroup } from '../src/shm';

// Rank 2 is a worker thread running the BUILT package (as workers.test.ts); ranks 0 and 1 run in this thread.
const distIndex = pathToFileURL(join(__dirname, '..', 'dist', 'index.js')).href;
const HEADER = 8; // the control block's per-rank barrier counters start here (shm.ts)
const CHUNK_FLOATS = 16;
const N = CHUNK_FLOATS * 200; // 200 chunks, 400 barriers: the thread is killed long before the end

function rankTwo(group: ShmGroup): Worker {
  const code = `
    const { workerData } = require('node:worker_threads');
    import(${JSON.stringify(distIndex)}).then(async ({ ShmCollective }) => {
      const c = new ShmCollective(workerData.group, 2, { timeoutMs: 60000, spin: 0 });
      await c.allReduce(new Float32Array(${N}).fill(1), 'sum');
    });`;
  return new Worker(code, { eval: true, workerData: { group } });
}

/** Terminate the thread once it has passed two barriers of the all-reduce (so it dies mid-collective). */
async function killMidCollective(group: ShmGroup, worker: Worker): Promise<void> {
  const ctrl = new Int32Array(group.buffer, 0, HEADER + 3);
  while (Atomics.load(ctrl, HEADER + 2) < 2) await new Promise((resolve) => setTimeout(resolve, 2));
  await worker.terminate();
}

describe('ShmCollective with a worker thread terminated mid-collective', () => {
  test('the other ranks fail with CollectiveTimeoutError naming the dead rank within the timeout (no hang)', async () => {
    const group = createShmGroup({ worldSize: 3, slotBytes: CHUNK_FLOATS * 4 });
    const worker = rankTwo(group);
    const timeoutMs = 1500;
    const ranks = [0, 1].map((r) => new ShmCollective(group, r, { timeoutMs, spin: 0 }));
    const started = Date.now();
    const pending = Promise.allSettled(ranks.map((c) => c.allReduce(new Float32Array(N).fill(1), 'sum')));
    await killMidCollective(group, worker);
    const settled = await pending;
    const elapsed = Date.now() - started;
    const reasons = settled.map((s) => (s as PromiseRejectedResult).reason as Error);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected']);
    // The rank whose timer fires first reports the missing rank and breaks the group; the other is released at once.
    expect(reasons.some((e) => e instanceof CollectiveTimeoutError && e.missingRanks.includes(2))).toBe(true);
    for (const e of reasons) expect(e instanceof CollectiveTimeoutError || e instanceof PeerLostError).toBe(true);
    expect(elapsed).toBeLessThan(timeoutMs + 10_000); // bounded (generous for a loaded machine): no hang
    expect(ranks[0]!.epoch).toBe(1);
  }, 30_000);

  test('with watchWorker, the thread exit breaks the group and the others fail with PeerLostError naming it', async () => {
    const group = createShmGroup({ worldSize: 3, slotBytes: CHUNK_FLOATS * 4 });
    const worker = rankTwo(group);
    watchWorker(worker, group, 2);
    const ranks = [0, 1].map((r) => new ShmCollective(group, r, { timeoutMs: 60_000, spin: 0 }));
    const pending = Promise.allSettled(ranks.map((c) => c.allReduce(new Float32Array(N).fill(1), 'sum')));
    await killMidCollective(group, worker);
    for (const s of await pending) {
      expect(s.status).toBe('rejected');
      expect((s as PromiseRejectedResult).reason).toMatchObject({ name: 'PeerLostError', rank: 2 });
    }
    expect(ranks[1]!.epoch).toBe(1);
    await expect(ranks[0]!.barrier()).rejects.toHaveProperty('name', 'EpochChangedError');
  }, 30_000);
});
