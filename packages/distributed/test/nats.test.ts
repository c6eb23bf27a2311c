import { connect } from '@nats-io/transport-node';
import { EpochChangedError, PayloadRejectedError, PeerLostError } from '../src/errors';
import { NatsCollective } from '../src/nats';
import { encodeChunk, fnv1a, ChunkKind, crc32 } from '../src/wire';
import { startNatsServer } from '../src/node/nats-server';
import { bytes, closeAll, freshJob, natsRanks, natsUrl, shmRanks, vector } from './helpers/ranks';

describe('NatsCollective', () => {
  test('the same inputs through ShmCollective and NatsCollective give identical bytes (sum, mean, max; chunked)', async () => {
    const nats = await natsRanks(3, { chunkBytes: 256 });
    try {
      const shm = shmRanks(3, 128);
      for (const op of ['sum', 'mean', 'max'] as const) {
        const inputs = [0, 1, 2].map((r) => vector(1001, 11 * r + 5, 10 ** r));
        const viaShm = inputs.map((v) => Float32Array.from(v));
        const viaNats = inputs.map((v) => Float32Array.from(v));
        await Promise.all(shm.map((c, r) => c.allReduce(viaShm[r]!, op)));
        await Promise.all(nats.map((c, r) => c.allReduce(viaNats[r]!, op)));
        for (let r = 0; r < 3; r++) expect(bytes(viaNats[r]!).equals(bytes(viaShm[0]!))).toBe(true);
      }
    } finally {
      await closeAll(nats);
    }
  });

  test('broadcast, allGather (variable lengths) and barrier work through the server', async () => {
    const nats = await natsRanks(3, { chunkBytes: 64 });
    try {
      const bufs = [0, 1, 2].map((r) => (r === 2 ? new Float64Array([1.5, -2, 3e300]) : new Float64Array(3)));
      await Promise.all(nats.map((c, r) => c.broadcast(bufs[r]!, 2)));
      for (const b of bufs) expect(Array.from(b)).toEqual([1.5, -2, 3e300]);
      const parts = [Uint8Array.from({ length: 200 }, (_, i) => i), new Uint8Array(0), Uint8Array.of(42)];
      const gathered = await Promise.all(nats.map((c, r) => c.allGather(parts[r]!)));
      for (const g of gathered) expect(g.map((p) => Array.from(p))).toEqual(parts.map((p) => Array.from(p)));
      await Promise.all(nats.map((c) => c.barrier()));
      expect(nats.map((c) => c.epoch)).toEqual([nats[0]!.epoch, nats[0]!.epoch, nats[0]!.epoch]);
    } finally {
      await closeAll(nats);
    }
  });

  test('a corrupted chunk fails the operation with PayloadRejectedError (checksum)', async () => {
    const nats = await natsRanks(2);
    const spy = await connect({ servers: natsUrl() });
    try {
      const job = (nats[0] as unknown as { job: string }).job;
      const payload = new Uint8Array(new Float32Array([1, 2]).buffer);
      const msg = encodeChunk({ job: fnv1a(job), epoch: nats[0]!.epoch, step: 0, from: 1, kind: ChunkKind.reduceInput, dtype: 0, op: 0, offset: 0, length: 2, total: 4 }, payload, true);
      msg[msg.length - 1] ^= 0xff; // flip bits after the CRC was computed
      const pending = nats[0]!.allReduce(new Float32Array(4), 'sum', { timeoutMs: 3000 });
      spy.publish(`opt.${job}.${nats[0]!.epoch}.ar.0`, msg);
      await expect(pending).rejects.toMatchObject({ name: 'PayloadRejectedError', reason: 'checksum' });
      expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    } finally {
      await spy.close();
      await closeAll(nats);
    }
  });

  test('a rank whose lease expires bumps the epoch and fails the in-flight allReduce with PeerLostError naming it', async () => {
    const nats = await natsRanks(3, { heartbeatMs: 100 });
    try {
      const before = nats[0]!.epoch;
      nats[2]!.abandon(); // rank 2 dies without a goodbye
      const results = await Promise.allSettled([0, 1].map((r) => nats[r]!.allReduce(new Float32Array(8), 'sum', { timeoutMs: 8000 })));
      for (const r of results) {
        expect(r.status).toBe('rejected');
        expect((r as PromiseRejectedResult).reason).toBeInstanceOf(PeerLostError);
        expect((r as PromiseRejectedResult).reason).toMatchObject({ rank: 2 });
      }
      expect(nats[0]!.epoch).toBe(before + 1);
      await expect(nats[1]!.barrier()).rejects.toBeInstanceOf(EpochChangedError);
    } finally {
      await closeAll(nats);
    }
  });

  test('the rendezvous times out naming the ranks that never joined', async () => {
    const connection = await connect({ servers: natsUrl() });
    try {
      await expect(NatsCollective.create({ connection, job: freshJob('lonely'), rank: 0, worldSize: 3, timeoutMs: 300 })).rejects.toMatchObject({
        name: 'CollectiveTimeoutError',
        missingRanks: [1, 2],
      });
    } finally {
      await connection.close();
    }
  });

  test('startNatsServer starts a private server with JetStream and stops it', async () => {
    const server = await startNatsServer();
    try {
      const [a, b] = await Promise.all(
        [0, 1].map(async (rank) => NatsCollective.create({ connection: await connect({ servers: server.url }), job: 'own', rank, worldSize: 2, ownsConnection: true })),
      );
      const x = [new Float32Array([1]), new Float32Array([2])];
      await Promise.all([a!.allReduce(x[0]!), b!.allReduce(x[1]!)]);
      expect(x[0]![0]).toBe(3);
      await closeAll([a!, b!]);
    } finally {
      await server.stop();
    }
    expect(server.process.exitCode !== null || server.process.signalCode !== null).toBe(true);
  });

  test('a payload error names its reason', () => {
    expect(new PayloadRejectedError('size', 'x').reason).toBe('size');
  });
});
