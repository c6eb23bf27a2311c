import type { WorkerEntry } from './pool.js';

/** The built worker entry (`dist/node/worker.js`, beside this module): what {@link WorkerPool} runs by default. */
export function defaultWorkerEntry(): WorkerEntry {
  return { file: new URL('./worker.js', import.meta.url) };
}
