/**
 * Run K ranks as worker threads over one `ShmCollective` group.
 *
 * @packageDocumentation
 */
import { Worker, parentPort, workerData } from 'node:worker_threads';
import { InvalidOptionError, OptError } from '@opt/tensor';
import type { Collective } from '../collective.js';
import { type ShmGroup, ShmCollective, createShmGroup } from '../shm.js';

/** How a worker thread starts: a JavaScript module file, or CommonJS source evaluated in the thread. */
export type WorkerEntry = { file: string | URL } | { code: string };

/** Options of {@link runWorkers}. */
export interface RunWorkersOptions {
  /** Number of ranks, one worker thread each (≥ 1). */
  worldSize: number;
  /** The rank program: a module that calls {@link workerMain} (or CommonJS source that requires one). */
  entry: WorkerEntry;
  /** Structured-cloneable data handed to every rank's function. */
  data?: unknown;
  /** Default timeout of every collective operation in the workers (ms; default 30 s). */
  timeoutMs?: number;
  /** Staging bytes per rank in the shared memory (default 4 MiB). */
  slotBytes?: number;
}

/** A rank's thread failed: it threw, or exited before reporting a result. */
export class WorkerFailedError extends OptError {
  /** The failing rank. */
  readonly rank: number;

  constructor(rank: number, message: string) {
    super('WORKER_FAILED', `rank ${rank}: ${message}`);
    this.rank = rank;
  }
}

/** What {@link runWorkers} passes to each thread. */
interface RankInit {
  readonly optShm: { group: ShmGroup; rank: number; timeoutMs: number | undefined };
  readonly data: unknown;
}

type RankMessage = { type: 'result'; value: unknown } | { type: 'error'; message: string };

/**
 * Start `worldSize` worker threads on `entry`, each with its own rank of one shared-memory group, and resolve to
 * their results in rank order. When a thread throws or exits early, the group is broken (the other ranks' pending
 * collectives fail with `PeerLostError` at once, not after their timeout), every thread is terminated and the call
 * rejects with {@link WorkerFailedError}.
 *
 * @example
 * ```ts
 * // rank.mjs:  import { workerMain } from '@opt/distributed/node';
 * //            workerMain(async (collective) => { const x = new Float32Array([collective.rank]);
 * //                                               await collective.allReduce(x); return x[0]; });
 * const sums = await runWorkers<number>({ worldSize: 3, entry: { file: new URL('./rank.mjs', import.meta.url) } });
 * // [3, 3, 3]
 * ```
 */
export async function runWorkers<R = unknown>(options: RunWorkersOptions): Promise<R[]> {
  const where = 'runWorkers';
  const { worldSize, entry } = options;
  if (!Number.isInteger(worldSize) || worldSize < 1) throw new InvalidOptionError('worldSize', worldSize, 'an integer >= 1', where);
  if (entry === null || typeof entry !== 'object' || !('file' in entry || 'code' in entry)) {
    throw new InvalidOptionError('entry', entry, '{ file } or { code }', where);
  }
  const group = createShmGroup({ worldSize, slotBytes: options.slotBytes });
  const workers: Worker[] = [];
  const results = new Array<R>(worldSize);
  let remaining = worldSize;
  let failure: WorkerFailedError | null = null;
  return new Promise<R[]>((resolve, reject) => {
    const fail = (rank: number, message: string): void => {
      if (failure !== null || remaining === 0) return;
      failure = new WorkerFailedError(rank, message);
      ShmCollective.breakGroup(group, rank);
      void Promise.all(workers.map((w) => w.terminate())).then(() => reject(failure));
    };
    for (let rank = 0; rank < worldSize; rank++) {
      const init: RankInit = { optShm: { group, rank, timeoutMs: options.timeoutMs }, data: options.data };
      const worker = 'code' in entry ? new Worker(entry.code, { eval: true, workerData: init }) : new Worker(entry.file, { workerData: init });
      workers.push(worker);
      let reported = false;
      worker.on('message', (m: RankMessage) => {
        if (m.type === 'error') {
          fail(rank, m.message);
          return;
        }
        reported = true;
        results[rank] = m.value as R;
        if (--remaining === 0 && failure === null) resolve(results);
      });
      worker.on('error', (e: Error) => fail(rank, e.stack ?? e.message));
      worker.on('exit', (code) => {
        if (!reported) fail(rank, `the thread exited (code ${code}) without a result`);
      });
    }
  });
}

/**
 * Tie a worker thread to its rank of a shared-memory group: when the thread exits (it crashed, called
 * `process.exit`, or was `terminate()`d) before `done` resolves, the group is broken, so the other ranks' pending
 * and later collectives fail at once with `PeerLostError` naming `rank` instead of waiting for their timeout.
 * {@link runWorkers} does this for its own threads; use this with threads you start yourself.
 *
 * @example
 * ```ts
 * const worker = new Worker(file, { workerData: { group, rank: 2 } });
 * watchWorker(worker, group, 2);
 * ```
 */
export function watchWorker(worker: Worker, group: ShmGroup, rank: number, done?: Promise<unknown>): void {
  let finished = false;
  void done?.then(
    () => (finished = true),
    () => undefined,
  );
  worker.once('exit', () => {
    if (!finished) ShmCollective.breakGroup(group, rank);
  });
}

/**
 * The body of a rank started by {@link runWorkers}: build this thread's collective, run `fn`, report its result
 * (structured-cloneable) or its error to the launcher, and close the collective.
 *
 * @throws `OptError` (code `NOT_A_RANK`) when the thread was not started by {@link runWorkers}.
 */
export function workerMain<R, D = unknown>(fn: (collective: Collective, data: D) => R | Promise<R>): void {
  const init = workerData as RankInit | null;
  if (parentPort === null || init === null || typeof init !== 'object' || !init.optShm) {
    throw new OptError('NOT_A_RANK', 'workerMain must run in a worker thread started by runWorkers');
  }
  const port = parentPort;
  const { group, rank, timeoutMs } = init.optShm;
  const collective = new ShmCollective(group, rank, timeoutMs === undefined ? {} : { timeoutMs });
  void (async () => {
    try {
      const value = await fn(collective, init.data as D);
      port.postMessage({ type: 'result', value } satisfies RankMessage);
    } catch (e) {
      port.postMessage({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) } satisfies RankMessage);
    } finally {
      await collective.close();
    }
  })();
}
