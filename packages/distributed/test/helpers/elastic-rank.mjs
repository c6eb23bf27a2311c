// A rank of the elastic-training fault tests, run with child_process.fork (it imports the BUILT package: run
// `npx tsc -p packages/distributed/tsconfig.build.json` first, as CI's `turbo build` does).
//
// The parent sends one message { url, job, rank, worldSize, totalSteps, checkpointEvery, heartbeatMs, timeoutMs,
// chunkBytes, die?: { step, afterChunks }, checkpoint?, reportSteps? } and receives { type: 'done', ... } or
// { type: 'error', ... }. With `die`, this rank process.exit()s in the middle of the all-reduce of step `die.step`,
// after publishing `afterChunks` of its reduce-scatter chunks. With `checkpoint`, it restores that checkpoint
// before training (the "clean run from the checkpoint" reference). With `reportSteps`, it sends { type: 'step' }
// before each step.
import { SGD } from '@opt/core';
import { Parameter } from '@opt/tensor';
import { connect } from '@nats-io/transport-node';
import { ElasticTrainer, NatsCollective } from '../../dist/index.js';

// Least squares y ≈ X w + b in float32; rows are dealt to ranks round-robin, so re-sharding after a re-formation
// is a function of (rank, worldSize) only.
const D = 11;
const N = 12;

function vec(n, seed) {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

const X = vec(N * D, 7);
const Y = vec(N, 9);

function shardGradient({ rank, worldSize, parameters }) {
  const [w, b] = parameters;
  const gw = w.grad;
  const gb = b.grad;
  gw.fill(0);
  gb.fill(0);
  for (let i = rank; i < N; i += worldSize) {
    let pred = b.data[0];
    for (let j = 0; j < D; j++) pred = Math.fround(pred + Math.fround(X[i * D + j] * w.data[j]));
    const r = Math.fround(pred - Y[i]);
    for (let j = 0; j < D; j++) gw[j] = gw[j] + Math.fround(r * X[i * D + j]);
    gb[0] = gb[0] + r;
  }
}

process.once('message', async (cfg) => {
  let nc = null;
  try {
    nc = await connect({ servers: cfg.url, maxReconnectAttempts: -1, reconnectTimeWait: 100, name: `elastic-${cfg.rank}` });
    let armed = false;
    if (cfg.die) {
      // Fault injection: count this rank's reduce-scatter publications during the fatal step and die half-way.
      const publish = nc.publish.bind(nc);
      let sent = 0;
      let dying = false;
      nc.publish = (subject, data, options) => {
        if (dying) return;
        if (armed && subject.includes('.ar.')) {
          if (sent === cfg.die.afterChunks) {
            dying = true;
            void nc.flush().then(() => process.exit(3));
            return;
          }
          sent++;
        }
        publish(subject, data, options);
      };
    }
    const collective = await NatsCollective.create({
      connection: nc,
      ownsConnection: true,
      job: cfg.job,
      rank: cfg.rank,
      worldSize: cfg.worldSize,
      heartbeatMs: cfg.heartbeatMs,
      timeoutMs: cfg.timeoutMs,
      chunkBytes: cfg.chunkBytes,
    });
    const params = [new Parameter(vec(D, 3), [D], 'w'), new Parameter(new Float32Array(1), [1], 'b')];
    const optimizer = new SGD(params, { lr: 0.05, momentum: 0.9 });
    let restored = null;
    const trainer = await ElasticTrainer.create(optimizer, collective, {
      checkpointEvery: cfg.checkpointEvery,
      onReform: () => {
        const c = trainer.lastCheckpoint;
        restored = { step: c.step, parameters: Array.from(c.parameters), optimizer: c.optimizer };
      },
    });
    if (cfg.checkpoint) {
      trainer.restore({ ...cfg.checkpoint, epoch: collective.epoch, worldSize: collective.worldSize, parameters: Float32Array.from(cfg.checkpoint.parameters) });
    }
    const epochBefore = collective.epoch;
    let stepStartedAt = 0;
    await trainer.run(cfg.totalSteps, (ctx) => {
      if (cfg.reportSteps) process.send({ type: 'step', step: ctx.step, epoch: ctx.epoch });
      if (cfg.die && ctx.step === cfg.die.step) armed = true;
      if (stepStartedAt === 0 && ctx.step === (cfg.die?.step ?? cfg.watchStep)) stepStartedAt = Date.now();
      shardGradient(ctx);
    });
    process.send({
      type: 'done',
      rank: cfg.rank,
      parameters: Array.from(trainer.ddp.flat.data),
      epochBefore,
      epochAfter: trainer.collective.epoch,
      worldSizeAfter: trainer.collective.worldSize,
      reforms: trainer.reforms.map((r) => ({ error: r.error.name, message: r.error.message, elapsedMs: r.failedAt - stepStartedAt, fromEpoch: r.fromEpoch, toEpoch: r.toEpoch, toWorldSize: r.toWorldSize, restoredStep: r.restoredStep })),
      restored,
    });
    await trainer.collective.close();
  } catch (e) {
    process.send({ type: 'error', rank: cfg.rank, name: e?.name, message: e?.stack ?? String(e) });
    if (nc !== null) await nc.close().catch(() => undefined);
  }
  process.disconnect();
});
