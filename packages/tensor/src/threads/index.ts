import { InvalidOptionError } from '../errors.js';
import { KernelThreadPool, threadsAvailable } from './pool.js';

export { KernelThreadPool, type ThreadPoolOptions, createThreadPool, threadsAvailable } from './pool.js';
export {
  DEFAULT_THREAD_THRESHOLD,
  THREADED_KERNELS,
  type ThreadedKernel,
  chunkLength,
  getThreadThreshold,
  kernelElementBytes,
  setThreadThreshold,
} from './kernels.js';

let shared: KernelThreadPool | null = null;
let starting: Promise<KernelThreadPool | null> | null = null;

/**
 * Start the thread pool that optimizers use (their `threads` setting, `'auto'`
 * by default, picks it up on their next step): `threads` threads in all, the
 * calling thread included (default: the number of cores, at most 4). A pool of
 * another size that is already running is shut down first. Resolves to
 * whether a pool runs; where threads are not available (see
 * {@link threadsAvailable}) it resolves to `false` and everything keeps
 * running on one thread.
 *
 * The pool's workers do not keep a Node process alive; call
 * {@link shutdownThreads} to stop them earlier.
 *
 * @example
 * ```ts
 * import { initThreads, shutdownThreads } from '@opt/tensor';
 * if (await initThreads(2)) {
 *   // optimizers with backend 'wasm' now split large groups over 2 threads
 * }
 * await shutdownThreads();
 * ```
 */
export async function initThreads(threads?: number): Promise<boolean> {
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > 64)) {
    throw new InvalidOptionError('threads', threads, 'an integer in [1, 64]', 'initThreads');
  }
  if (starting !== null) await starting;
  if (shared !== null && shared.open && (threads === undefined || shared.threads === threads)) return true;
  await shutdownThreads();
  if (!threadsAvailable()) return false;
  starting = KernelThreadPool.create(threads === undefined ? {} : { threads }).catch(() => null);
  try {
    shared = await starting;
  } finally {
    starting = null;
  }
  return shared !== null;
}

/** The pool started by {@link initThreads}, or `null` when none runs. */
export function threadPool(): KernelThreadPool | null {
  return shared !== null && shared.open ? shared : null;
}

/**
 * Stop the pool started by {@link initThreads}, if any. Optimizers whose
 * storage lives in its memory keep working, on the calling thread.
 */
export async function shutdownThreads(): Promise<void> {
  const pool = shared;
  shared = null;
  if (pool !== null) await pool.shutdown();
}
