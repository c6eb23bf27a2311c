import { InvalidOptionError, OptError } from '../errors.js';
import {
  type WasmKernelExports,
  type WasmMemory,
  compileSharedWasmModule,
  createSharedMemory,
  instantiateSharedKernels,
  simdSupported,
  wasmLoadError,
} from '../wasm/loader.js';
import { WasmArena } from '../wasm/arena.js';
import { THREADED_KERNELS, chunkLength, kernelElementBytes } from './kernels.js';
import { BROWSER_WORKER_SOURCE, CONTROL, NODE_WORKER_SOURCE } from './worker-source.js';

const PAGE = 65536;
/** Polls of the caller waiting for workers before it sleeps (~several ms). */
const MAIN_SPIN = 1 << 20;


/** Options of {@link createThreadPool}. */
export interface ThreadPoolOptions {
  /**
   * Threads that run a kernel call, the calling thread included (so `threads - 1`
   * workers are started). Default: the number of cores, at most 4 (these
   * kernels are memory-bound: more threads rarely help).
   */
  threads?: number;
  /** Initial size of the shared memory in bytes. Default 1 MiB. */
  initialBytes?: number;
  /** Largest size the shared memory may grow to, in bytes (at most 4 GiB). Default 4 GiB. */
  maximumBytes?: number;
  /**
   * `Atomics.load` polls a worker makes after a job (or a wake-up) before it
   * sleeps in `Atomics.wait`. Spinning avoids a wake-up (~50 µs) when calls
   * come back to back, at the price of a busy core for that long.
   * Default 20000 (~50–100 µs).
   */
  spin?: number;
}

/** The few members of a Node `worker_threads` Worker the pool uses. */
interface NodeWorker {
  once(event: 'message' | 'error' | 'exit', listener: (value: unknown) => void): unknown;
  off(event: 'message' | 'error' | 'exit', listener: (value: unknown) => void): unknown;
  unref(): void;
  terminate(): Promise<number>;
}

/** The few members of a browser Web Worker the pool uses. */
interface BrowserWorker {
  postMessage(message: unknown): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  terminate(): void;
}

interface Platform {
  kind: 'node' | 'browser';
  cores: number;
  start(setup: WorkerSetup): Promise<() => Promise<void>>;
}

interface WorkerSetup {
  module: object;
  memory: WasmMemory;
  control: SharedArrayBuffer;
  index: number;
  names: string[];
  spin: number;
}

type Globals = {
  process?: { versions?: { node?: string } };
  Worker?: new (url: string) => BrowserWorker;
  Blob?: new (parts: string[], options: { type: string }) => object;
  URL?: { createObjectURL(blob: object): string; revokeObjectURL(url: string): void };
  navigator?: { hardwareConcurrency?: number };
  crossOriginIsolated?: boolean;
  SharedArrayBuffer?: unknown;
  Atomics?: unknown;
};

function globals(): Globals {
  return globalThis as unknown as Globals;
}

function isNode(): boolean {
  return typeof globals().process?.versions?.node === 'string';
}

/**
 * Whether this environment can run kernels on several threads: WebAssembly
 * SIMD, `SharedArrayBuffer` and `Atomics`, a shared WebAssembly memory (in a
 * browser: a cross-origin isolated page), and workers (Node's
 * `worker_threads`, or Web Workers with Blob URLs).
 */
export function threadsAvailable(): boolean {
  const g = globals();
  if (typeof g.SharedArrayBuffer !== 'function' || typeof g.Atomics !== 'object' || !simdSupported()) return false;
  if (!isNode() && (typeof g.Worker !== 'function' || typeof g.Blob !== 'function' || g.URL === undefined || g.crossOriginIsolated === false)) {
    return false;
  }
  return createSharedMemory(1, 1) !== null;
}

// A variable specifier, so that bundlers leave Node's module alone in browser builds.
const WORKER_THREADS = 'node:worker_threads';
const OS = 'node:os';

async function nodePlatform(): Promise<Platform> {
  const wt = (await import(/* webpackIgnore: true */ /* @vite-ignore */ WORKER_THREADS)) as {
    Worker: new (code: string, options: { eval: boolean; workerData: unknown }) => NodeWorker;
  };
  const os = (await import(/* webpackIgnore: true */ /* @vite-ignore */ OS)) as { availableParallelism?: () => number; cpus(): unknown[] };
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return {
    kind: 'node',
    cores,
    start(setup) {
      const worker = new wt.Worker(NODE_WORKER_SOURCE, { eval: true, workerData: setup });
      // The workers wait in Atomics.wait between jobs: they must not keep the process alive.
      worker.unref();
      return new Promise((resolve, reject) => {
        const onError = (e: unknown): void => {
          worker.off('message', onReady);
          reject(e);
        };
        const onReady = (): void => {
          worker.off('error', onError);
          resolve(async () => {
            await worker.terminate();
          });
        };
        worker.once('message', onReady);
        worker.once('error', onError);
      });
    },
  };
}

function browserPlatform(): Platform {
  const g = globals();
  return {
    kind: 'browser',
    cores: g.navigator?.hardwareConcurrency ?? 2,
    start(setup) {
      const url = g.URL!.createObjectURL(new g.Blob!([BROWSER_WORKER_SOURCE], { type: 'text/javascript' }));
      const worker = new g.Worker!(url);
      return new Promise((resolve, reject) => {
        worker.onerror = (e) => {
          g.URL!.revokeObjectURL(url);
          reject(e instanceof Error ? e : new OptError('THREADS_UNAVAILABLE', 'a kernel worker failed to start'));
        };
        worker.onmessage = () => {
          worker.onmessage = null;
          worker.onerror = null;
          g.URL!.revokeObjectURL(url);
          resolve(async () => worker.terminate());
        };
        worker.postMessage(setup);
      });
    },
  };
}

/**
 * Create a {@link KernelThreadPool}: compile the shared-memory kernel module,
 * create a shared memory and start `threads − 1` workers over it. Prefer
 * `initThreads()`, which creates the pool the optimizers use.
 *
 * @throws {@link OptError} (code `THREADS_UNAVAILABLE`) where {@link threadsAvailable} is false.
 */
export async function createThreadPool(options: ThreadPoolOptions = {}): Promise<KernelThreadPool> {
  return KernelThreadPool.create(options);
}

/**
 * A set of worker threads that run the element-wise WebAssembly kernels over
 * one shared memory, each thread updating its own contiguous, 16-byte aligned
 * range of the elements (see `chunkLength`), so every element is written by
 * exactly one thread with exactly the arithmetic of the single-thread kernel:
 * results are bit-identical for any number of threads.
 *
 * A call ({@link KernelThreadPool.run}) writes the kernel id and arguments into
 * a preallocated `Int32Array` control block on a `SharedArrayBuffer`, wakes the
 * workers with `Atomics.notify`, runs the first range on the calling thread
 * and waits for the workers (spinning, then `Atomics.wait` where the platform
 * allows it on that thread): no message passing and no allocation per call.
 *
 * The pool's memory is carved by one arena, {@link KernelThreadPool.arena}:
 * buffers passed to the pool's kernels must live there.
 *
 * @example
 * ```ts
 * import { createThreadPool } from '@opt/tensor';
 * const pool = await createThreadPool({ threads: 2 });
 * const arena = pool.arena;
 * const x = arena.f32(arena.alloc(4 * 100000).byteOffset, 100000).fill(2);
 * arena.scaleInPlace(x, 0.5); // split over 2 threads above the threshold
 * await pool.shutdown();
 * ```
 */
export class KernelThreadPool {
  /** Threads that run a kernel call, the calling thread included. */
  readonly threads: number;
  /** The shared WebAssembly memory every thread's instance works on. */
  readonly memory: WasmMemory;
  /** The calling thread's instance of the shared-memory kernel module. */
  readonly exports: WasmKernelExports;
  private readonly control: Int32Array;
  private readonly local = new Int32Array(10);
  private readonly fns: Array<(...args: number[]) => unknown>;
  private readonly pointers: Int32Array;
  private readonly bytes: Int32Array;
  private readonly canWait: boolean;
  private stops: Array<() => Promise<void>> = [];
  private closed = false;

  private constructor(threads: number, memory: WasmMemory, exports: WasmKernelExports, control: SharedArrayBuffer, canWait: boolean) {
    this.threads = threads;
    this.memory = memory;
    this.exports = exports;
    this.control = new Int32Array(control);
    this.canWait = canWait;
    const table = exports as unknown as Record<string, (...args: number[]) => unknown>;
    this.fns = THREADED_KERNELS.map((k) => table[k.name]!);
    this.pointers = Int32Array.from(THREADED_KERNELS, (k) => k.pointers);
    this.bytes = Int32Array.from(THREADED_KERNELS, (k) => kernelElementBytes(k.name));
  }

  /** See {@link createThreadPool}. */
  static async create(options: ThreadPoolOptions = {}): Promise<KernelThreadPool> {
    const initialBytes = options.initialBytes ?? 1 << 20;
    const maximumBytes = options.maximumBytes ?? 65536 * PAGE;
    const spin = options.spin ?? 20000;
    if (!Number.isFinite(initialBytes) || initialBytes < 0 || initialBytes > 65536 * PAGE) {
      throw new InvalidOptionError('initialBytes', initialBytes, `a number of bytes in [0, ${65536 * PAGE}]`, 'createThreadPool');
    }
    if (!Number.isFinite(maximumBytes) || maximumBytes < initialBytes || maximumBytes > 65536 * PAGE) {
      throw new InvalidOptionError('maximumBytes', maximumBytes, `a number of bytes in [initialBytes, ${65536 * PAGE}]`, 'createThreadPool');
    }
    if (!Number.isInteger(spin) || spin < 0) throw new InvalidOptionError('spin', spin, 'a non-negative integer', 'createThreadPool');
    if (!threadsAvailable()) {
      const why = wasmLoadError();
      throw new OptError(
        'THREADS_UNAVAILABLE',
        'createThreadPool: shared WebAssembly memory and workers are not available here' +
          (why instanceof Error ? ` (${why.message})` : '') +
          ' (browsers need a cross-origin isolated page)',
      );
    }
    const platform = isNode() ? await nodePlatform() : browserPlatform();
    const threads = options.threads ?? Math.max(1, Math.min(4, platform.cores));
    if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
      throw new InvalidOptionError('threads', threads, 'an integer in [1, 64]', 'createThreadPool');
    }
    const module = await compileSharedWasmModule();
    const memory = createSharedMemory(Math.max(1, Math.ceil(initialBytes / PAGE)), Math.ceil(maximumBytes / PAGE));
    if (module === null || memory === null) {
      throw new OptError('THREADS_UNAVAILABLE', 'createThreadPool: the shared-memory kernel module could not be loaded');
    }
    const exports = instantiateSharedKernels(module, memory)!;
    const control = new SharedArrayBuffer(CONTROL.LENGTH * 4);
    // Node allows Atomics.wait on its main thread; a browser's main thread does not (spin there).
    const pool = new KernelThreadPool(threads, memory, exports, control, platform.kind === 'node');
    const names = THREADED_KERNELS.map((k) => k.name as string);
    try {
      pool.stops = await Promise.all(
        Array.from({ length: threads - 1 }, (_, w) => platform.start({ module, memory, control, index: w + 1, names, spin })),
      );
    } catch (e) {
      await pool.shutdown();
      throw new OptError('THREADS_UNAVAILABLE', `createThreadPool: a kernel worker failed to start (${e instanceof Error ? e.message : String(e)})`);
    }
    return pool;
  }

  /** Whether the pool still runs (not shut down). A closed pool's kernels run on the calling thread. */
  get open(): boolean {
    return !this.closed;
  }

  /**
   * The arena over the pool's shared memory (created on first use): allocate
   * the buffers of threaded kernel calls here; its `kernelsFor(t)` (and
   * `kernels`) split large calls over the pool.
   */
  get arena(): WasmArena {
    return WasmArena.create({ pool: this });
  }

  /**
   * Run threaded kernel `id` (an index into `THREADED_KERNELS`) on `threads`
   * threads (at most the pool's), with the kernel's own arguments `a0…a9`
   * (pointers first, then `n`; unused trailing ones may be omitted). Runs it
   * on the calling thread alone when the pool is closed. Synchronous: returns
   * when every element is updated.
   *
   * @throws {@link OptError} (code `THREAD_KERNEL`) when a worker's call trapped.
   */
  run(id: number, threads: number, a0: number, a1: number, a2?: number, a3?: number, a4?: number, a5?: number, a6?: number, a7?: number, a8?: number, a9?: number): void {
    const local = this.local;
    local[0] = a0;
    local[1] = a1;
    local[2] = a2 as number;
    local[3] = a3 as number;
    local[4] = a4 as number;
    local[5] = a5 as number;
    local[6] = a6 as number;
    local[7] = a7 as number;
    local[8] = a8 as number;
    local[9] = a9 as number;
    const p = this.pointers[id]!;
    const n = local[p]!;
    const t = this.closed ? 1 : Math.min(threads, this.threads);
    const fn = this.fns[id]!;
    if (t <= 1 || n <= 0) {
      fn(local[0]!, local[1]!, local[2]!, local[3]!, local[4]!, local[5]!, local[6]!, local[7]!, local[8]!, local[9]!);
      return;
    }
    const bytes = this.bytes[id]!;
    const chunk = chunkLength(n, t, bytes);
    const c = this.control;
    c[CONTROL.KERNEL] = id;
    c[CONTROL.THREADS] = t;
    c[CONTROL.CHUNK] = chunk;
    c[CONTROL.BYTES] = bytes;
    c[CONTROL.POINTERS] = p;
    c[CONTROL.N] = n;
    for (let j = 0; j < 10; j++) c[CONTROL.ARGS + j] = local[j]!;
    // Every worker acknowledges every job (those beyond `t` at once), so no
    // worker can still be reading this job's slots when the next one is written.
    Atomics.store(c, CONTROL.PENDING, this.threads - 1);
    Atomics.add(c, CONTROL.SEQ, 1);
    Atomics.notify(c, CONTROL.SEQ);
    // Thread 0's range starts at element 0: the pointers stay, only n shrinks.
    local[p] = Math.min(n, chunk);
    let failed: unknown = null;
    try {
      fn(local[0]!, local[1]!, local[2]!, local[3]!, local[4]!, local[5]!, local[6]!, local[7]!, local[8]!, local[9]!);
    } catch (e) {
      failed = e;
    }
    this.waitForWorkers();
    const error = Atomics.exchange(c, CONTROL.ERROR, 0);
    if (failed !== null) throw failed;
    if (error !== 0) {
      throw new OptError('THREAD_KERNEL', `KernelThreadPool: kernel ${THREADED_KERNELS[id]!.name} trapped on worker ${error - 1}`);
    }
  }

  private waitForWorkers(): void {
    const c = this.control;
    let spins = 0;
    for (;;) {
      const pending = Atomics.load(c, CONTROL.PENDING);
      if (pending === 0) return;
      // The caller has nothing else to do: it spins through a worker's wake-up
      // (~50 µs), since sleeping itself would add a second wake-up; it sleeps
      // only when a worker is held up far longer (descheduled).
      if (this.canWait && ++spins > MAIN_SPIN) Atomics.wait(c, CONTROL.PENDING, pending, 1);
    }
  }

  /**
   * Wake the sleeping workers without a job, so that they spin (see
   * {@link ThreadPoolOptions.spin}) instead of sleeping when the next call
   * comes: a caller that knows a large call is near (an optimizer at the start
   * of its step, before scanning gradients) hides the wake-up latency this way.
   * Cheap (one `Atomics.notify`); results are unaffected.
   */
  wake(): void {
    if (!this.closed) Atomics.notify(this.control, CONTROL.SEQ);
  }

  /**
   * Stop the workers (they exit their loop, then are terminated). Kernel calls
   * made afterwards, also through the pool's arena, run on the calling thread;
   * the memory and the arena stay valid.
   */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const c = this.control;
    c[CONTROL.KERNEL] = -1;
    Atomics.add(c, CONTROL.SEQ, 1);
    Atomics.notify(c, CONTROL.SEQ);
    const stops = this.stops;
    this.stops = [];
    await Promise.all(stops.map((stop) => stop()));
  }
}
