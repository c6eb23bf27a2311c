import { connect } from '@nats-io/transport-node';
import type { Collective } from '../../src/collective';
import { NatsCollective } from '../../src/nats';
import { ShmCollective, createShmGroup } from '../../src/shm';

let jobCounter = 0;

/** A job name no other test uses (the server is shared by the whole run). */
export function freshJob(prefix: string): string {
  return `${prefix}-${process.pid}-${++jobCounter}-${Date.now().toString(36)}`;
}

export function natsUrl(): string {
  const url = process.env.OPT_NATS_URL;
  if (!url) throw new Error('OPT_NATS_URL is not set: the package jest config starts nats-server in its globalSetup');
  return url;
}

/** K ShmCollective ranks in this thread. */
export function shmRanks(worldSize: number, slotBytes = 4096, timeoutMs = 5000): ShmCollective[] {
  const group = createShmGroup({ worldSize, slotBytes });
  return Array.from({ length: worldSize }, (_, r) => new ShmCollective(group, r, { timeoutMs, spin: 0 }));
}

/** K NatsCollective ranks in this process, one connection each. */
export async function natsRanks(worldSize: number, options: { chunkBytes?: number; heartbeatMs?: number; timeoutMs?: number } = {}): Promise<NatsCollective[]> {
  const job = freshJob('t');
  return Promise.all(
    Array.from({ length: worldSize }, async (_, rank) => {
      const connection = await connect({ servers: natsUrl() });
      return NatsCollective.create({ connection, job, rank, worldSize, ownsConnection: true, timeoutMs: 10000, ...options });
    }),
  );
}

export async function closeAll(ranks: readonly Collective[]): Promise<void> {
  await Promise.all(ranks.map((c) => c.close()));
}

export function bytes(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** A deterministic pseudo-random float32 vector (no Math.random: reproducible failures). */
export function vector(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (((s >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}
