import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Rng } from '@opt/tensor';
import { Kvm } from '@nats-io/kv';
import {
  type AdvertiseKeysMessage,
  FedAvg,
  FederatedClient,
  FederatedServer,
  type FederatedTask,
  InvalidConfigurationError,
  Krum,
  RoundFailedError,
  SecAggClient,
  type SecAggTaskConfig,
  decodeSecAggMessage,
  encodeSecAggMessage,
  encodeUpdate,
} from '../src/index';
import { findNatsServer } from '../src/node/nats-server';
import { freshJob, natsUrl } from './helpers/ranks';

const D = 6;

/** A shard of a logistic-regression problem (5 features and a bias column). */
function shard(seed: number, m = 60): { x: Float64Array; y: Float64Array } {
  const truth = new Rng(99);
  const wStar = Array.from({ length: D }, () => truth.normal(0, 2));
  const rng = new Rng(seed);
  const x = new Float64Array(m * D);
  const y = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let z = 0;
    for (let j = 0; j < D; j++) {
      x[i * D + j] = j === D - 1 ? 1 : rng.normal();
      z += x[i * D + j]! * wStar[j]!;
    }
    y[i] = z + rng.normal(0, 0.5) > 0 ? 1 : 0;
  }
  return { x, y };
}

function localTrain(w: Float64Array, s: { x: Float64Array; y: Float64Array }): Float64Array {
  const m = s.y.length;
  for (let step = 0; step < 5; step++) {
    const g = new Float64Array(D);
    for (let i = 0; i < m; i++) {
      let z = 0;
      for (let j = 0; j < D; j++) z += s.x[i * D + j]! * w[j]!;
      const r = 1 / (1 + Math.exp(-z)) - s.y[i]!;
      for (let j = 0; j < D; j++) g[j] += (r * s.x[i * D + j]!) / m;
    }
    for (let j = 0; j < D; j++) w[j] -= 0.5 * g[j]!;
  }
  return w;
}

function accuracy(w: Float64Array, shards: Array<{ x: Float64Array; y: Float64Array }>): number {
  let ok = 0;
  let n = 0;
  for (const s of shards) {
    for (let i = 0; i < s.y.length; i++) {
      let z = 0;
      for (let j = 0; j < D; j++) z += s.x[i * D + j]! * w[j]!;
      if ((z > 0 ? 1 : 0) === s.y[i]) ok++;
      n++;
    }
  }
  return ok / n;
}

async function makeClients(url: string, job: string, count: number, shards: Array<{ x: Float64Array; y: Float64Array }>, opts = {}): Promise<{ conns: NatsConnection[]; clients: FederatedClient[] }> {
  const conns = await Promise.all(Array.from({ length: count }, () => connect({ servers: url, ...opts })));
  const clients = await Promise.all(
    conns.map((connection, k) =>
      FederatedClient.create({
        connection,
        job,
        clientId: `c${k}`,
        train: (model) => ({ weights: localTrain(Float64Array.from(model), shards[k]!), numExamples: shards[k]!.y.length }),
      }),
    ),
  );
  return { conns, clients };
}

describe('federated rounds on JetStream', () => {
  test('4 Node clients train a logistic regression with FedAvg and client sampling; it converges', async () => {
    const job = freshJob('fl-run');
    const shards = [1, 2, 3, 4].map((s) => shard(s));
    const serverConn = await connect({ servers: natsUrl() });
    const model = new Float64Array(D);
    const server = await FederatedServer.create({ connection: serverConn, job, model, clientsPerRound: 3, minClients: 3, roundTimeoutMs: 20000, seed: 5 });
    const { conns, clients } = await makeClients(natsUrl(), job, 4, shards);
    try {
      expect(await server.waitForClients(4, 5000)).toEqual(['c0', 'c1', 'c2', 'c3']);
      const before = accuracy(model, shards);
      const loops = clients.map((c) => c.run(15000));
      const reports = [];
      for (let round = 0; round < 6; round++) reports.push(await server.runRound());
      await server.finish();
      const participated = await Promise.all(loops);
      for (const r of reports) {
        expect(r.sampled).toHaveLength(3);
        expect(r.accepted.slice().sort()).toEqual(r.sampled);
        expect(r.rejected).toEqual([]);
        expect(r.closedBy).toBe('complete');
      }
      expect(participated.reduce((a, b) => a + b, 0)).toBe(18);
      expect(server.modelVersion).toBe(6);
      expect(before).toBeLessThan(0.7);
      expect(accuracy(model, shards)).toBeGreaterThan(0.85);
    } finally {
      await server.destroy();
      await Promise.all([serverConn, ...conns].map((c) => c.close()));
    }
  }, 30000);

  test('malformed, non-finite, mis-shaped, oversized, stale, replayed and unsampled updates are rejected and counted', async () => {
    const job = freshJob('fl-bad');
    const serverConn = await connect({ servers: natsUrl() });
    const model = new Float32Array(4);
    const server = await FederatedServer.create({ connection: serverConn, job, model, minClients: 1, roundTimeoutMs: 1500, maxUpdateNorm: 100 });
    const { conns, clients } = await makeClients(natsUrl(), job, 2, [shard(1), shard(2)]);
    const js = jetstream(serverConn);
    try {
      await server.waitForClients(2, 5000);
      await server.runRound().catch(() => undefined); // round 1 (nobody answers: fails, the model is untouched)
      expect(server.round).toBe(2);
      const task: FederatedTask = await server.startRound();
      const good = new Float32Array([1, 2, 3, 4]);
      const h = { round: task.round, modelVersion: task.modelVersion, shapeHash: task.shapeHash, numExamples: 10, nonce: 1 };
      const subject = (id: string): string => `fl.${job}.${task.round}.update.${id}`;
      await js.publish(subject('c0'), Uint8Array.of(1, 2, 3), { msgID: 'junk' }); // header
      await js.publish(subject('c0'), encodeUpdate(h, new Float32Array([1, NaN, 3, 4])), { msgID: 'nan' }); // non-finite
      await js.publish(subject('c0'), encodeUpdate(h, new Float32Array(3)), { msgID: 'short' }); // shape
      await js.publish(subject('c0'), encodeUpdate(h, new Float64Array(2)), { msgID: 'f64' }); // dtype (same byte count)
      await js.publish(subject('c0'), encodeUpdate({ ...h, round: 1 }, good), { msgID: 'old' }); // stale
      await js.publish(subject('c0'), encodeUpdate(h, new Float32Array([1000, 0, 0, 0])), { msgID: 'big' }); // norm
      await js.publish(subject('c0'), new Uint8Array(4096), { msgID: 'huge' }); // size
      await js.publish(subject('intruder'), encodeUpdate(h, good), { msgID: 'intruder' }); // authentication (not sampled)
      const first = await clients[0]!.publishUpdate(task, good, 10, 7);
      const dup = await clients[0]!.publishUpdate(task, good, 10, 7); // same message id: JetStream drops it
      expect(first.duplicate).toBe(false);
      expect(dup.duplicate).toBe(true);
      await js.publish(subject('c0'), encodeUpdate({ ...h, nonce: 8 }, good), { msgID: 'again' }); // replay (new id, same round)
      await clients[1]!.publishUpdate(task, new Float32Array([3, 2, 1, 0]), 30);
      const report = await server.finishRound();
      expect(report.accepted).toEqual(['c0', 'c1']);
      expect(report.rejections).toEqual({ header: 1, 'non-finite': 1, shape: 1, dtype: 1, stale: 1, norm: 1, size: 1, authentication: 1, replay: 1 });
      expect(Array.from(model)).toEqual([2.5, 2, 1.5, 1]); // (10·[1,2,3,4] + 30·[3,2,1,0]) / 40
      await expect(server.runRound()).rejects.toBeInstanceOf(RoundFailedError);
    } finally {
      await server.destroy();
      await Promise.all([serverConn, ...conns].map((c) => c.close()));
    }
  }, 30000);
});

describe('secure aggregation over NATS', () => {
  test('3 clients: the server applies the exact mean of their updates without seeing any one of them', async () => {
    const job = freshJob('fl-sa');
    const serverConn = await connect({ servers: natsUrl() });
    const model = new Float64Array(3);
    const server = await FederatedServer.create({ connection: serverConn, job, model, minClients: 2, roundTimeoutMs: 20000, secureAggregation: { threshold: 2 } });
    const updates = [[0.5, -1, 2], [1.5, 1, -2], [1, 3, 0.25]];
    const conns = await Promise.all([0, 1, 2].map(() => connect({ servers: natsUrl() })));
    const clients = await Promise.all(conns.map((connection, k) => FederatedClient.create({ connection, job, clientId: `c${k}`, train: () => ({ update: Float64Array.from(updates[k]!), numExamples: 1 }) })));
    try {
      await server.waitForClients(3, 5000);
      const task = await server.startRound();
      const [report, ...parts] = await Promise.all([server.finishRound(), ...clients.map((c) => c.participate(task))]);
      expect(parts.map((p) => p.included)).toEqual([true, true, true]);
      expect(report.accepted).toEqual(['c0', 'c1', 'c2']);
      expect(Array.from(model)).toEqual([1, 1, 0.25 / 3]); // the fixed-point sum is exact: [3, 3, 0.25]
      await expect(FederatedServer.create({ connection: serverConn, job, model, strategy: new FedAvg({ aggregator: new Krum({ numByzantine: 0 }) }), secureAggregation: { threshold: 2 } })).rejects.toBeInstanceOf(
        InvalidConfigurationError,
      );
    } finally {
      await server.destroy();
      await Promise.all([serverConn, ...conns].map((c) => c.close()));
    }
  }, 30000);

  test('a client that drops after sharing its keys is unmasked by the others’ shares', async () => {
    const job = freshJob('fl-sa-drop');
    const serverConn = await connect({ servers: natsUrl() });
    const model = new Float64Array(2);
    const server = await FederatedServer.create({ connection: serverConn, job, model, minClients: 2, roundTimeoutMs: 8000, secureAggregation: { threshold: 2, phaseTimeoutMs: 1500 } });
    const updates = [[1, 2], [3, 4]];
    const conns = await Promise.all([0, 1, 2].map(() => connect({ servers: natsUrl() })));
    const clients = await Promise.all(conns.slice(0, 2).map((connection, k) => FederatedClient.create({ connection, job, clientId: `c${k}`, train: () => ({ update: Float64Array.from(updates[k]!), numExamples: 1 }) })));
    // The third participant speaks the protocol by hand and vanishes after round 1 (ShareKeys).
    const quitter = await FederatedClient.create({ connection: conns[2]!, job, clientId: 'quitter', train: () => ({ numExamples: 0 }) });
    try {
      await server.waitForClients(3, 5000);
      const task = await server.startRound();
      const cfg = task.config.secagg as SecAggTaskConfig;
      const id = task.sampled.indexOf(quitter.clientId) + 1;
      const sa = await SecAggClient.create(id, { sessionId: `${job}.${task.round}`, ...cfg });
      const js = jetstream(conns[2]!);
      const kv = await new Kvm(conns[2]!).open(`fl_${job}`);
      const dropOut = (async () => {
        await js.publish(`fl.${job}.${task.round}.sa.keys.quitter`, encodeSecAggMessage(sa.advertiseKeys()));
        let roster = null;
        while (roster === null) {
          const e = await kv.get(`sa.${task.round}.roster`);
          if (e?.operation === 'PUT') roster = decodeSecAggMessage<AdvertiseKeysMessage[]>(e.value);
          else await new Promise((r) => setTimeout(r, 20));
        }
        await js.publish(`fl.${job}.${task.round}.sa.shares.quitter`, encodeSecAggMessage(await sa.shareKeys(roster)));
      })();
      const [report] = await Promise.all([server.finishRound(), dropOut, ...clients.map((c) => c.participate(task))]);
      expect(report.accepted).toEqual(['c0', 'c1']);
      expect(Array.from(model)).toEqual([2, 3]);
    } finally {
      await server.destroy();
      await Promise.all([serverConn, ...conns].map((c) => c.close()));
    }
  }, 30000);
});

// ---- nats-server killed and restarted mid-round ------------------------------------------------------------------

function startOwnServer(port: number, dir: string): Promise<ChildProcess> {
  const config = join(dir, 'nats.conf');
  writeFileSync(config, `listen: "127.0.0.1:${port}"\njetstream {\n  store_dir: ${JSON.stringify(join(dir, 'js'))}\n}\n`);
  const child = spawn(findNatsServer()!, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`nats-server not ready:\n${log}`)), 10000);
    child.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('Server is ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
  });
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

test('updates published before a nats-server crash are aggregated exactly once after the restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'opt-fl-restart-'));
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address() as AddressInfo;
      probe.close(() => resolve(free));
    });
  });
  let nats = await startOwnServer(port, dir);
  const url = `nats://127.0.0.1:${port}`;
  const reconnect = { maxReconnectAttempts: -1, reconnectTimeWait: 100 };
  const serverConn = await connect({ servers: url, ...reconnect });
  const job = 'restart';
  const model = new Float64Array(3);
  const server = await FederatedServer.create({ connection: serverConn, job, model, strategy: new FedAvg(), minClients: 3, roundTimeoutMs: 20000 });
  const updates = [new Float64Array([1, 0, 0]), new Float64Array([0, 2, 0]), new Float64Array([0, 0, 3])];
  const conns = await Promise.all([0, 1, 2].map(() => connect({ servers: url, ...reconnect })));
  const clients = await Promise.all(conns.map((connection, k) => FederatedClient.create({ connection, job, clientId: `c${k}`, train: () => ({ update: updates[k]!, numExamples: 1 }) })));
  try {
    await server.waitForClients(3, 5000);
    const task = await server.startRound();
    // Every client publishes (stored in the stream), then the engine dies before the server consumed anything.
    for (const c of clients) expect((await c.participate(task)).publish?.duplicate).toBe(false);
    await kill(nats);
    nats = await startOwnServer(port, dir);
    // A client whose acknowledgement was "lost" republishes after the restart: the stream drops the copy.
    const again = await clients[1]!.publishUpdate(task, updates[1]!, 1);
    expect(again.duplicate).toBe(true);
    const report = await server.finishRound();
    expect(report.accepted.slice().sort()).toEqual(['c0', 'c1', 'c2']);
    expect(report.rejected).toEqual([]);
    expect(Array.from(model)).toEqual([1 / 3, 2 / 3, 1]);
    const jsm = await jetstreamManager(serverConn);
    const info = await jsm.streams.info(server.names.stream, { subjects_filter: `fl.${job}.${task.round}.update.>` });
    expect(info.state.messages).toBe(4); // the task of round 1 + exactly one update per client
  } finally {
    await Promise.all([serverConn, ...conns].map((c) => c.close().catch(() => undefined)));
    await kill(nats);
    rmSync(dir, { recursive: true, force: true });
  }
}, 60000);
