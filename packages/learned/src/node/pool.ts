import { Worker } from 'node:worker_threads';
import { InvalidOptionError, OptError } from '@opt/tensor';
import type { MetaGradientEstimator } from '../learnable.js';
import type { EstimatePool, EstimateResult } from '../meta/trainer.js';

/** How a worker thread starts: a module file (the built `worker.js`) or source evaluated as CommonJS. */
export type WorkerEntry = { file: string | URL } | { code: string };

/** Options of {@link WorkerPool}. */
export interface WorkerPoolOptions {
  /** Number of worker threads (≥ 1). */
  workers: number;
  /** The worker's entry: normally `defaultWorkerEntry()` (the built `dist/node/worker.js`). */
  entry: WorkerEntry;
  /** Absolute path or URL of the job module each worker imports. */
  module: string;
  /** Name of the job module's export `(options) => handler` (default `'createHandler'`). */
  exportName?: string;
  /** Structured-cloneable options passed to that export in every worker. */
  options?: unknown;
}

/** A job failed inside a worker; the message carries the worker's stack. */
export class WorkerJobError extends OptError {
  constructor(message: string) {
    super('WORKER_JOB', message);
  }
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/**
 * A fixed pool of worker threads running one job module. {@link WorkerPool.run}
 * sends jobs to idle workers as they free up and returns the results in JOB
 * order, so a reduction over them is independent of the number of threads and
 * of their timing. The job module exports a function `(options) => handler`,
 * called once per worker; `handler(job)` returns (or resolves to) a
 * structured-cloneable result.
 *
 * @example
 * ```ts
 * const pool = new WorkerPool({ workers: 2, entry: defaultWorkerEntry(), module: '/abs/path/jobs.js', options: { size: 10 } });
 * const results = await pool.run([job0, job1, job2]);
 * await pool.close();
 * ```
 */
export class WorkerPool {
  /** Number of threads. */
  readonly size: number;
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | null = null;

  constructor(options: WorkerPoolOptions) {
    const where = 'WorkerPool';
    if (!Number.isInteger(options.workers) || options.workers < 1) {
      throw new InvalidOptionError('workers', options.workers, 'an integer >= 1', where);
    }
    if (typeof options.module !== 'string' || options.module.length === 0) {
      throw new InvalidOptionError('module', options.module, 'the path or URL of a job module', where);
    }
    this.size = options.workers;
    const workerData = { module: options.module, exportName: options.exportName ?? 'createHandler', options: options.options ?? null };
    for (let i = 0; i < this.size; i++) {
      const entry = options.entry;
      const worker = 'code' in entry ? new Worker(entry.code, { eval: true, workerData }) : new Worker(entry.file, { workerData });
      worker.on('message', (message: { id: number; result?: unknown; error?: string }) => {
        const p = this.pending.get(message.id);
        if (p === undefined) return;
        this.pending.delete(message.id);
        if (message.error !== undefined) p.reject(new WorkerJobError(message.error));
        else p.resolve(message.result);
      });
      worker.on('error', (error: Error) => this.fail(error));
      worker.on('exit', (code) => {
        if (code !== 0) this.fail(new WorkerJobError(`a worker thread exited with code ${code}`));
      });
      this.workers.push(worker);
    }
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }

  private send(worker: Worker, job: unknown): Promise<unknown> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, job });
    });
  }

  /** Run every job; the results come back in job order. Rejects on the first failed job. */
  async run<J, R>(jobs: readonly J[]): Promise<R[]> {
    const results = new Array<R>(jobs.length);
    let next = 0;
    const drain = async (worker: Worker): Promise<void> => {
      while (next < jobs.length) {
        const k = next++;
        results[k] = (await this.send(worker, jobs[k])) as R;
      }
    };
    await Promise.all(this.workers.map((w) => drain(w)));
    return results;
  }

  /** Terminate every thread. */
  async close(): Promise<void> {
    const workers = this.workers.splice(0);
    for (const w of workers) w.removeAllListeners('exit');
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** One estimate job: everything a worker needs to reproduce `estimator.estimate` exactly. */
export interface EstimateJob {
  metaParams: Float64Array;
  metaStep: number;
  index: number;
  seed: number;
}

/**
 * An {@link EstimatePool} over a {@link WorkerPool} whose job module answers
 * {@link EstimateJob}s (build its handler with {@link estimateHandler}).
 * For stateless estimators (antithetic ES): each job is a pure function of
 * `(θ, metaStep, index, seed)`. PES keeps per-particle state and runs in-process.
 */
export class ThreadEstimatePool implements EstimatePool {
  constructor(readonly pool: WorkerPool) {}

  async estimateMany(metaParams: Float64Array, metaStep: number, seed: number, count: number): Promise<EstimateResult[]> {
    const jobs: EstimateJob[] = [];
    for (let index = 0; index < count; index++) jobs.push({ metaParams, metaStep, index, seed });
    return this.pool.run<EstimateJob, EstimateResult>(jobs);
  }

  /** Terminate the threads. */
  close(): Promise<void> {
    return this.pool.close();
  }
}

/**
 * The job handler of a worker that computes estimates: export
 * `createHandler = (options) => estimateHandler(buildEstimator(options))` from the job module.
 */
export function estimateHandler(estimator: MetaGradientEstimator): (job: EstimateJob) => EstimateResult {
  return (job) => {
    const grad = new Float64Array(job.metaParams.length);
    const loss = estimator.estimate(job.metaParams, grad, { metaStep: job.metaStep, index: job.index, seed: job.seed });
    return { grad, loss };
  };
}
