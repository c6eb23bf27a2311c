import {
  type FloatArray,
  KernelThreadPool,
  THREADED_KERNELS,
  WasmArena,
  type WasmKernelExports,
  chunkLength,
  createThreadPool,
  getThreadThreshold,
  initThreads,
  kernelElementBytes,
  setThreadThreshold,
  shutdownThreads,
  threadPool,
  threadsAvailable,
} from '../src/index';

const available = threadsAvailable();

/** Pointer arguments a kernel accepts as 0 ("no buffer"): SGD's momentum buffer, AMSGrad's vmax, RMSprop's gradAvg and buf. */
const OPTIONAL: Record<string, number[]> = {
  sgdF32: [2],
  sgdF64: [2],
  adamF32: [4],
  adamF64: [4],
  rmspropF32: [3, 4],
  rmspropF64: [3, 4],
  larsF32: [2],
  larsF64: [2],
};
const maybe = available ? describe : describe.skip;

/** Deterministic, sign-varying values with some exact zeros. */
function fill(x: FloatArray, seed: number): void {
  for (let i = 0; i < x.length; i++) x[i] = i % 97 === 0 ? 0 : Math.sin(seed * 12.9898 + i * 0.731) * (1 + (i % 7));
}

/** Copy `n`-element buffers of one kernel's pointer arguments, run it through `k`, return the buffers' final contents. */
function runKernel(
  arena: WasmArena,
  k: WasmKernelExports,
  name: string,
  pointers: number,
  n: number,
  absent: number,
  steps: number,
): FloatArray[] {
  const bytes = kernelElementBytes(name);
  const stride = Math.ceil((n * bytes) / 16) * 16;
  const region = arena.alloc(stride * pointers);
  const views: FloatArray[] = [];
  for (let j = 0; j < pointers; j++) {
    const v = bytes === 8 ? arena.f64(region.byteOffset + j * stride, n) : arena.f32(region.byteOffset + j * stride, n);
    fill(v, j + 1);
    // Second moments and Adagrad sums must be non-negative.
    if (j >= 2) for (let i = 0; i < n; i++) v[i] = Math.abs(v[i]!);
    views.push(v);
  }
  const s = arena.scalars;
  // Generic scalars valid for every kernel (lr-like, betas-like, eps, decays).
  s[0] = 0.01;
  s[1] = 0.9;
  s[2] = 0.5;
  s[3] = 0.999;
  s[4] = 1e-8;
  s[5] = 0.01;
  s[6] = 0.999;
  const fn = (k as unknown as Record<string, (...a: number[]) => void>)[name]!;
  const ptr = (j: number): number => (j === absent ? 0 : views[j]!.byteOffset);
  for (let t = 0; t < steps; t++) {
    const args = [...Array.from({ length: pointers }, (_, j) => ptr(j)), n, arena.scalarsPtr, t % 2, 1, t === 0 ? 1 : 0];
    fn(...args);
  }
  const out = views.map((v) => v.slice());
  arena.free(region);
  return out;
}

describe('chunkLength', () => {
  test('chunks are whole 16-byte vectors and cover every element exactly once', () => {
    for (const n of [0, 1, 3, 7, 100, 1001, 65537]) {
      for (const t of [1, 2, 3, 4]) {
        for (const bytes of [4, 8]) {
          const c = chunkLength(n, t, bytes);
          expect((c * bytes) % 16).toBe(0);
          expect(c * t).toBeGreaterThanOrEqual(n);
        }
      }
    }
  });
});

maybe('KernelThreadPool', () => {
  let pools: KernelThreadPool[] = [];
  const threshold = getThreadThreshold();

  beforeAll(async () => {
    pools = [await createThreadPool({ threads: 2 }), await createThreadPool({ threads: 3 })];
    setThreadThreshold(0);
  });

  afterAll(async () => {
    setThreadThreshold(threshold);
    await Promise.all(pools.map((p) => p.shutdown()));
  });

  test('every threaded kernel gives bit-identical results with 1, 2 and 3 threads (odd n, optional pointers absent or not)', () => {
    const reference = WasmArena.create();
    for (const { name, pointers } of THREADED_KERNELS) {
      for (const n of [1, 5, 4099]) {
        // absent = -1: every pointer given; else that optional buffer is pointer 0.
        const absents = [-1, ...(OPTIONAL[name] ?? [])];
        for (const absent of absents) {
          const expected = runKernel(reference, reference.exports, name, pointers, n, absent, 3);
          for (const pool of pools) {
            for (let t = 1; t <= pool.threads; t++) {
              const got = runKernel(pool.arena, pool.arena.kernelsFor(t), name, pointers, n, absent, 3);
              for (let j = 0; j < pointers; j++) {
                if (j === absent) continue;
                expect([name, n, absent, t, j, Buffer.from(got[j]!.buffer).equals(Buffer.from(expected[j]!.buffer))]).toEqual([name, n, absent, t, j, true]);
              }
            }
          }
        }
      }
    }
  });

  test('a pool has a single arena over its shared memory', () => {
    const pool = pools[0]!;
    expect(WasmArena.create({ pool })).toBe(pool.arena);
    expect(pool.arena.pool).toBe(pool);
    expect(pool.arena.kernelsFor(1)).toBe(pool.arena.exports);
    expect(pool.arena.kernels).toBe(pool.arena.kernelsFor(2));
  });

  test('workers see memory the arena grew after they started', () => {
    const pool = pools[1]!;
    const arena = pool.arena;
    const before = arena.byteLength;
    const n = Math.ceil(before / 4) + 4099;
    const region = arena.alloc(n * 4);
    expect(arena.byteLength).toBeGreaterThan(before);
    const x = arena.f32(region.byteOffset, n).fill(3);
    arena.scaleInPlace(x, 0.5);
    expect(x.every((v) => v === 1.5)).toBe(true);
    arena.free(region);
  });
});

maybe('the shared pool', () => {
  afterAll(async () => {
    await shutdownThreads();
  });

  test('initThreads starts one pool, shutdownThreads stops it, and kernels then run on the calling thread', async () => {
    expect(await initThreads(2)).toBe(true);
    const pool = threadPool()!;
    expect(pool.threads).toBe(2);
    expect(await initThreads(2)).toBe(true);
    expect(threadPool()).toBe(pool);
    const arena = pool.arena;
    const region = arena.alloc(4 * 200000);
    const x = arena.f32(region.byteOffset, 200000).fill(2);
    await shutdownThreads();
    expect(threadPool()).toBeNull();
    expect(pool.open).toBe(false);
    arena.scaleInPlace(x, 0.25);
    expect(x.every((v) => v === 0.5)).toBe(true);
  });

  test('the README example runs and shuts down', async () => {
    const pool = await createThreadPool({ threads: 2 });
    const arena = pool.arena;
    const x = arena.f32(arena.alloc(4 * 100000).byteOffset, 100000).fill(2);
    arena.scaleInPlace(x, 0.5);
    await pool.shutdown();
    expect(x[99999]).toBe(1);
  });
});

test('threads options are validated', async () => {
  await expect(initThreads(0)).rejects.toThrow(/threads/);
  expect(() => setThreadThreshold(-1)).toThrow(/threshold/);
  await expect(createThreadPool({ spin: -1 })).rejects.toThrow(/spin/);
});
