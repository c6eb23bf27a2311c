import { CollectiveAbortedError, CollectiveTimeoutError, EpochChangedError, PeerLostError } from '../src/errors';
import { ShmCollective, createShmGroup } from '../src/shm';
import { float16Bits, fromFloat16Bits } from '../src/reduce';
import { bytes, shmRanks, vector } from './helpers/ranks';

function rankOrderSum(parts: Float32Array[]): Float32Array {
  const out = Float32Array.from(parts[0]!);
  for (let r = 1; r < parts.length; r++) for (let i = 0; i < out.length; i++) out[i] = out[i]! + parts[r]![i]!;
  return out;
}

describe('ShmCollective', () => {
  test('allReduce sums float32 in rank order across chunk boundaries, identically on every rank', async () => {
    const ranks = shmRanks(3, 64); // 16 float32 per chunk: 1000 elements take 63 chunks
    const inputs = ranks.map((_, r) => vector(1000, r + 1, 10 ** r));
    const bufs = inputs.map((v) => Float32Array.from(v));
    await Promise.all(ranks.map((c, r) => c.allReduce(bufs[r]!, 'sum')));
    const expected = rankOrderSum(inputs);
    for (const b of bufs) expect(bytes(b).equals(bytes(expected))).toBe(true);
  });

  test('mean divides the rank-order sum by the world size once', async () => {
    const ranks = shmRanks(3);
    const inputs = ranks.map((_, r) => vector(37, 7 * r + 3));
    const bufs = inputs.map((v) => Float32Array.from(v));
    await Promise.all(ranks.map((c, r) => c.allReduce(bufs[r]!, 'mean')));
    const expected = rankOrderSum(inputs).map((x) => x / 3);
    expect(bytes(bufs[2]!).equals(bytes(expected))).toBe(true);
  });

  test('max and min reduce float64 element-wise', async () => {
    const ranks = shmRanks(2);
    const a = [new Float64Array([1, -5, 3]), new Float64Array([2, -7, 3])];
    const b = a.map((x) => Float64Array.from(x));
    await Promise.all(ranks.map((c, r) => c.allReduce(a[r]!, 'max')));
    await Promise.all(ranks.map((c, r) => c.allReduce(b[r]!, 'min')));
    expect(Array.from(a[1]!)).toEqual([2, -5, 3]);
    expect(Array.from(b[0]!)).toEqual([1, -7, 3]);
  });

  test('float16 buffers are summed with a float16 rounding after every addition', async () => {
    const ranks = shmRanks(3);
    // 2048 + 1 + 1: in float16 (spacing 2 above 2048) each addition of 1 rounds back to 2048 (half to even).
    const bufs = [2048, 1, 1].map((x) => Uint16Array.of(float16Bits(x)));
    await Promise.all(ranks.map((c, r) => c.allReduce(bufs[r]!, 'sum', { halfFormat: 'float16' })));
    expect(fromFloat16Bits(bufs[0]![0]!)).toBe(2048);
  });

  test('broadcast copies the root buffer to every rank, chunk by chunk', async () => {
    const ranks = shmRanks(3, 40);
    const bufs = ranks.map((_, r) => (r === 1 ? vector(101, 5) : new Float32Array(101)));
    await Promise.all(ranks.map((c, r) => c.broadcast(bufs[r]!, 1)));
    for (const b of bufs) expect(bytes(b).equals(bytes(bufs[1]!))).toBe(true);
  });

  test('allGather returns variable-length parts in rank order, larger than a slot included', async () => {
    const ranks = shmRanks(3, 16);
    const parts = [new Uint8Array(0), Uint8Array.from({ length: 50 }, (_, i) => i), Uint8Array.of(9, 8, 7)];
    const out = await Promise.all(ranks.map((c, r) => c.allGather(parts[r]!)));
    for (const o of out) expect(o.map((p) => Array.from(p))).toEqual(parts.map((p) => Array.from(p)));
  });

  test('a rank that never arrives makes the barrier time out naming it, and the others fail as peer lost', async () => {
    const ranks = shmRanks(3, 64, 200);
    const results = await Promise.allSettled([ranks[0]!.barrier(), ranks[1]!.barrier({ timeoutMs: 100 })]);
    const errors = results.map((r) => (r.status === 'rejected' ? (r.reason as Error) : null));
    const timeout = errors.find((e) => e instanceof CollectiveTimeoutError) as CollectiveTimeoutError;
    expect(timeout).toBeDefined();
    expect(timeout.missingRanks).toEqual([2]);
    expect(timeout.op).toBe('barrier');
    expect(errors.every((e) => e instanceof CollectiveTimeoutError || e instanceof PeerLostError)).toBe(true);
    expect(ranks[2]!.epoch).toBe(1);
    await expect(ranks[2]!.barrier()).rejects.toBeInstanceOf(EpochChangedError);
  });

  test('an abort signal ends the wait and breaks the group', async () => {
    const ranks = shmRanks(2);
    const controller = new AbortController();
    const pending = ranks[0]!.allReduce(new Float32Array(4), 'sum', { signal: controller.signal });
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toBeInstanceOf(CollectiveAbortedError);
    await expect(ranks[1]!.barrier()).rejects.toBeInstanceOf(EpochChangedError);
  });

  test('breakGroup (a launcher seeing a thread die) fails a waiting rank at once with PeerLostError', async () => {
    const group = createShmGroup({ worldSize: 2 });
    const c = new ShmCollective(group, 0, { timeoutMs: 10000 });
    const pending = c.barrier();
    ShmCollective.breakGroup(group, 1);
    await expect(pending).rejects.toMatchObject({ name: 'PeerLostError', rank: 1 });
  });
});
