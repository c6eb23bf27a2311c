import { SGD } from '@opt/core';
import { Parameter } from '@opt/tensor';
import { headers } from '@nats-io/nats-core';
import { jetstream } from '@nats-io/jetstream';
import { PushHeaders, partitionKeys, psNames } from '../src/ps/layout';
import { ParameterServer } from '../src/ps/server';
import { gradient, loss, model, startServers, startWorker, train } from './helpers/ps';
import { freshJob } from './helpers/ranks';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('asynchronous parameter server', () => {
  test('keys are split into contiguous ranges of about equal size', () => {
    expect(partitionKeys([100, 10, 10, 100], 2)).toEqual([
      [0, 2],
      [2, 4],
    ]);
    expect(partitionKeys([6, 4], 2)).toEqual([
      [0, 1],
      [1, 2],
    ]);
    expect(partitionKeys([1, 1, 1], 3)).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
    ]);
    expect(() => partitionKeys([1], 2)).toThrow(/numShards/);
  });

  test('tau = 0 (block) with 3 workers on 2 shards reproduces sequential synchronous SGD exactly', async () => {
    const job = freshJob('ps-sync');
    const rig = await startServers(job, 2, 0, 'block');
    const workers = await Promise.all([0, 1, 2].map((w) => startWorker(job, `w${w}`, 2)));
    try {
      await Promise.all(workers.map((h, w) => train(h.worker, w, 5)));
      const [s0, s1] = rig.servers as [ParameterServer, ParameterServer];
      expect(s0.log).toHaveLength(15);
      // Every gradient was computed on the current parameters, and both shards applied them in the same order.
      for (const e of [...s0.log, ...s1.log]) expect(e).toMatchObject({ status: 'applied', staleness: 0, scale: 1 });
      expect(s1.log.map((e) => [e.worker, e.step])).toEqual(s0.log.map((e) => [e.worker, e.step]));
      // One process, plain SGD over the whole model, the same gradients in the server's order.
      const params = model();
      const opt = new SGD(params, { lr: 0.1 });
      for (const e of s0.log) {
        const x = Float32Array.from([...params[0]!.data, ...params[1]!.data]);
        const g = gradient(x, Number(e.worker.slice(1)), e.step);
        params[0]!.grad = g.slice(0, 6);
        params[1]!.grad = g.slice(6);
        opt.step();
      }
      const { values, versions } = await workers[0]!.worker.pull();
      expect(versions).toEqual([15, 15]);
      expect(values).toEqual(Float32Array.from([...params[0]!.data, ...params[1]!.data]));
    } finally {
      for (const h of workers) await h.close();
      await rig.close();
    }
  }, 30_000);

  test.each(['reject', 'block', 'scale'] as const)('with an artificially delayed worker (tau = 2), policy %s: no applied update older than tau (reject, block) or older ones scaled by 1/(1+s) (scale)', async (policy) => {
    const tau = 2;
    const job = freshJob(`ps-${policy}`);
    const rig = await startServers(job, 1, tau, policy);
    const workers = await Promise.all(['fast0', 'fast1', 'slow'].map((id) => startWorker(job, id, 1)));
    try {
      let fastDone = 0;
      const fast = [0, 1].map((w) => train(workers[w]!.worker, w, 12).finally(() => fastDone++));
      // The slow worker holds its gradient until the others have moved the server tau + 1 versions on (under
      // 'block' they cannot, so it waits a fixed time instead).
      const slow = train(workers[2]!.worker, 2, 2, async (pulled) => {
        if (policy === 'block') {
          await sleep(150);
          return;
        }
        while (fastDone < 2 && (await workers[2]!.worker.pull()).versions[0]! < pulled[0]! + tau + 1) await sleep(5);
      });
      const slowResults = await slow;
      await Promise.all(fast);
      const server = rig.servers[0]!;
      const report = server.report();
      const applied = server.log.filter((e) => e.status === 'applied');
      expect(report.applied).toBe(applied.length);
      expect(report.version).toBe(applied.length);
      if (policy === 'scale') {
        for (const e of applied) expect(e.scale).toBe(e.staleness > tau ? 1 / (1 + e.staleness) : 1);
        expect(slowResults[0]![0]).toMatchObject({ status: 'applied' });
        expect(slowResults[0]![0]!.staleness).toBeGreaterThan(tau);
        expect(report.scaled).toBeGreaterThanOrEqual(1);
      } else {
        for (const e of applied) expect(e.staleness).toBeLessThanOrEqual(tau);
        expect(report.maxAppliedStaleness).toBeLessThanOrEqual(tau);
      }
      if (policy === 'reject') {
        expect(slowResults[0]![0]).toMatchObject({ status: 'rejected', reason: 'stale' });
        expect(report.rejected.stale).toBeGreaterThanOrEqual(1);
      }
      if (policy === 'block') {
        expect(report.rejected.stale).toBe(0);
        expect(applied).toHaveLength(26);
      }
    } finally {
      for (const h of workers) await h.close();
      await rig.close();
    }
  }, 30_000);

  test.each([0, 2, 8])('converges on a quadratic with tau = %i (3 workers, block)', async (tau) => {
    const job = freshJob(`ps-conv-${tau}`);
    const rig = await startServers(job, 2, tau, 'block');
    const workers = await Promise.all([0, 1, 2].map((w) => startWorker(job, `w${w}`, 2)));
    try {
      const start = loss((await workers[0]!.worker.pull()).values);
      await Promise.all(workers.map((h, w) => train(h.worker, w, 20)));
      const end = loss((await workers[0]!.worker.pull()).values);
      expect(end).toBeLessThan(0.05 * start);
      for (const s of rig.servers) for (const e of s.log) expect(e.staleness).toBeLessThanOrEqual(tau);
    } finally {
      for (const h of workers) await h.close();
      await rig.close();
    }
  }, 30_000);

  test('a duplicate push (same msgID) is applied once; a replay under another id is rejected', async () => {
    const job = freshJob('ps-dup');
    const rig = await startServers(job, 1, 4, 'reject');
    const h = await startWorker(job, 'w0', 1);
    try {
      const { values, versions } = await h.worker.pull();
      const g = gradient(values, 0, 0);
      expect(await h.worker.push(0, g, versions)).toMatchObject([{ status: 'applied', version: 1 }]);
      expect(await h.worker.push(0, g, versions)).toMatchObject([{ status: 'duplicate' }]);
      // The same (worker, step) with a different message id passes the stream's dedup: the server's guard stops it.
      const hdr = headers();
      hdr.set(PushHeaders.worker, 'w0');
      hdr.set(PushHeaders.step, '0');
      hdr.set(PushHeaders.version, '0');
      hdr.set(PushHeaders.dtype, 'float32');
      hdr.set(PushHeaders.shape, rig.servers[0]!.spec.shapeHash);
      await jetstream(rig.connections[0]!).publish(psNames.grad(job, 0), new Uint8Array(g.buffer.slice(0)), { msgID: 'w0:0:again', headers: hdr });
      while (rig.servers[0]!.report().rejected.replay === 0) await sleep(5);
      const server = rig.servers[0]!;
      expect(server.version).toBe(1);
      expect(server.log.filter((e) => e.status === 'applied')).toHaveLength(1);
      expect(server.report()).toMatchObject({ applied: 1, rejected: { replay: 1 } });
    } finally {
      await h.close();
      await rig.close();
    }
  }, 30_000);

  test('server state save/load: a server resumed from its state continues exactly (chunked shard values)', async () => {
    const job = freshJob('ps-state');
    // kvMaxBytes 16: the 6- and 4-element shards are published in 4-element chunks.
    let rig = await startServers(job, 1, 0, 'block', { kvMaxBytes: 16 });
    expect(rig.servers[0]!.spec.storage).toBe('chunked');
    const h = await startWorker(job, 'w0', 1);
    try {
      await train(h.worker, 0, 4);
      const state = JSON.parse(JSON.stringify(rig.servers[0]!.stateDict()));
      await rig.close();
      rig = await startServers(job, 1, 0, 'block', { kvMaxBytes: 16, state });
      expect(rig.servers[0]!.version).toBe(4);
      // Steps 4..7 (the worker's step counter continues).
      for (let step = 4; step < 8; step++) {
        const { values, versions } = await h.worker.pull();
        await h.worker.push(step, gradient(values, 0, step), versions);
      }
      const params = [new Parameter(new Float32Array(6).fill(2), [6]), new Parameter(new Float32Array(4).fill(-1), [4])];
      const opt = new SGD(params, { lr: 0.1 });
      for (let step = 0; step < 8; step++) {
        const g = gradient(Float32Array.from([...params[0]!.data, ...params[1]!.data]), 0, step);
        params[0]!.grad = g.slice(0, 6);
        params[1]!.grad = g.slice(6);
        opt.step();
      }
      const { values, versions } = await h.worker.pull();
      expect(versions).toEqual([8]);
      expect(values).toEqual(Float32Array.from([...params[0]!.data, ...params[1]!.data]));
    } finally {
      await h.close();
      await rig.close();
    }
  }, 30_000);
});
