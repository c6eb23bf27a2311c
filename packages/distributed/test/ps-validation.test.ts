import { jetstream } from '@nats-io/jetstream';
import { type MsgHdrs, headers } from '@nats-io/nats-core';
import { PushHeaders, psNames } from '../src/ps/layout';
import type { PayloadRejection } from '../src/errors';
import { startServers, startWorker } from './helpers/ps';
import { freshJob } from './helpers/ranks';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('parameter server input validation', () => {
  test('malformed header, dtype, shape hash, NaN/Inf, oversized, stale version and replay are rejected, counted, and touch nothing', async () => {
    const job = freshJob('ps-valid');
    const rig = await startServers(job, 1, 1, 'reject', { maxUpdateBytes: 64 });
    const h = await startWorker(job, 'honest', 1);
    const server = rig.servers[0]!;
    const js = jetstream(rig.connections[0]!);
    let id = 0;
    const good = (): MsgHdrs => {
      const hdr = headers();
      hdr.set(PushHeaders.worker, 'mallory');
      hdr.set(PushHeaders.step, String(100 + id));
      hdr.set(PushHeaders.version, String(server.version));
      hdr.set(PushHeaders.dtype, 'float32');
      hdr.set(PushHeaders.shape, server.spec.shapeHash);
      return hdr;
    };
    const send = async (hdr: MsgHdrs, payload: Uint8Array): Promise<void> => {
      await js.publish(psNames.grad(job, 0), payload, { msgID: `raw-${id++}`, headers: hdr });
    };
    const ok = new Uint8Array(new Float32Array(10).fill(0.5).buffer);
    try {
      const before = (await h.worker.pull()).values;
      const noWorker = good();
      noWorker.delete(PushHeaders.worker);
      await send(noWorker, ok); // header
      const badStep = good();
      badStep.set(PushHeaders.step, '-1');
      await send(badStep, ok); // header
      await send(good(), new Uint8Array(80)); // size (oversized: 80 > 64 bytes)
      const f64 = good();
      f64.set(PushHeaders.dtype, 'float64');
      await send(f64, ok); // dtype
      const otherModel = good();
      otherModel.set(PushHeaders.shape, 'deadbeef');
      await send(otherModel, ok); // shape hash
      await send(good(), new Uint8Array(36)); // shape (9 elements)
      await send(good(), new Uint8Array(new Float32Array([0, 0, NaN, 0, 0, 0, 0, 0, 0, 0]).buffer)); // non-finite
      await send(good(), new Uint8Array(new Float32Array([0, 0, 0, Infinity, 0, 0, 0, 0, 0, 0]).buffer)); // non-finite
      const future = good();
      future.set(PushHeaders.version, '7');
      await send(future, ok); // stale (a version the shard has not reached)
      const replay = good();
      replay.set(PushHeaders.step, '100'); // mallory's step 100 was seen (rejected above, but seen)
      await send(replay, ok); // replay
      const expected: Partial<Record<PayloadRejection, number>> = { header: 2, size: 1, dtype: 1, shape: 2, 'non-finite': 2, stale: 1, replay: 1 };
      const total = Object.values(expected).reduce((a, b) => a + b!, 0);
      while (Object.values(server.report().rejected).reduce((a, b) => a + b, 0) < total) await sleep(5);
      expect(server.report().rejected).toMatchObject(expected);
      expect(server.report().applied).toBe(0);
      expect(server.version).toBe(0);
      expect((await h.worker.pull()).values).toEqual(before);
      // A stale update beyond tau = 1 from an honest worker: two updates land after its pull.
      const { values, versions } = await h.worker.pull();
      const other = await startWorker(job, 'other', 1);
      try {
        for (let step = 0; step < 2; step++) {
          const p = await other.worker.pull();
          expect(await other.worker.push(step, new Float32Array(10).fill(0.1), p.versions)).toMatchObject([{ status: 'applied' }]);
        }
      } finally {
        await other.close();
      }
      const result = await h.worker.push(0, Float32Array.from(values), versions);
      expect(result).toMatchObject([{ status: 'rejected', reason: 'stale', staleness: 2 }]);
      expect(server.report().rejected.stale).toBe(2);
      expect(server.log.filter((e) => e.status === 'rejected').map((e) => e.reason)).toContain('replay');
    } finally {
      await h.close();
      await rig.close();
    }
  }, 30_000);
});
