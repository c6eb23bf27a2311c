import { SGD } from '@opt/core';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { Parameter } from '@opt/tensor';
import { ParameterServer, type ParameterServerOptions } from '../../src/ps/server';
import { ParameterServerWorker, type PushResult } from '../../src/ps/worker';
import type { StalenessPolicy } from '../../src/ps/layout';
import { natsUrl } from './ranks';

/** The quadratic f(x) = ½ Σ aᵢ (xᵢ − bᵢ)² over a 10-element model split in two keys ('u': 6, 'v': 4). */
export const A = Float32Array.from({ length: 10 }, (_, i) => 0.5 + i / 9);
export const B = Float32Array.from({ length: 10 }, (_, i) => Math.sin(i + 1));

export function model(): Parameter[] {
  return [new Parameter(new Float32Array(6).fill(2), [6], 'u'), new Parameter(new Float32Array(4).fill(-1), [4], 'v')];
}

export function loss(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < 10; i++) s += 0.5 * A[i]! * (x[i]! - B[i]!) ** 2;
  return s;
}

/** The gradient of worker `w` at `step` (a deterministic per-(worker, step) perturbation of the true gradient). */
export function gradient(x: ArrayLike<number>, w: number, step: number): Float32Array {
  const g = new Float32Array(10);
  for (let i = 0; i < 10; i++) g[i] = Math.fround(A[i]! * Math.fround(x[i]! - B[i]!)) + Math.fround(0.01 * Math.sin(7 * w + 3 * step + i));
  return g;
}

export interface PsRig {
  servers: ParameterServer[];
  connections: NatsConnection[];
  job: string;
  close(): Promise<void>;
}

/** Start `numShards` shard servers of the quadratic (SGD, lr 0.1) on their own connections. */
export async function startServers(job: string, numShards: number, tau: number, policy: StalenessPolicy, extra: Partial<ParameterServerOptions> = {}): Promise<PsRig> {
  const connections: NatsConnection[] = [];
  const servers: ParameterServer[] = [];
  for (let shard = 0; shard < numShards; shard++) {
    const connection = await connect({ servers: natsUrl() });
    connections.push(connection);
    servers.push(await ParameterServer.start({ connection, job, shard, numShards, parameters: model(), optimizer: (p) => new SGD(p, { lr: 0.1 }), tau, policy, ...extra }));
  }
  return {
    servers,
    connections,
    job,
    async close() {
      for (const s of servers) await s.stop();
      for (const c of connections) await c.close();
    },
  };
}

/** A worker on its own connection. */
export async function startWorker(job: string, id: string, numShards: number): Promise<{ worker: ParameterServerWorker; close(): Promise<void> }> {
  const connection = await connect({ servers: natsUrl() });
  const worker = await ParameterServerWorker.create({ connection, job, worker: id, numShards, timeoutMs: 20_000 });
  return {
    worker,
    async close() {
      await worker.close();
      await connection.close();
    },
  };
}

/** Run `steps` pull → gradient → push iterations; `beforePush` may delay (the artificially slow worker). */
export async function train(worker: ParameterServerWorker, w: number, steps: number, beforePush?: (pulled: number[]) => Promise<void>): Promise<PushResult[][]> {
  const out: PushResult[][] = [];
  for (let step = 0; step < steps; step++) {
    const { values, versions } = await worker.pull();
    const g = gradient(values, w, step);
    if (beforePush) await beforePush(versions);
    out.push(await worker.push(step, g, versions));
  }
  return out;
}
