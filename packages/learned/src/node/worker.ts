/**
 * The worker-thread entry of {@link WorkerPool}: it imports the job module named in `workerData`, builds the
 * handler with its options once, then answers `{ id, job }` messages with `{ id, result }` (or `{ id, error }`).
 *
 * @packageDocumentation
 */
import { parentPort, workerData } from 'node:worker_threads';

/** What the pool passes as `workerData`. */
interface WorkerInit {
  module: string;
  exportName: string;
  options: unknown;
}

type Handler = (job: unknown) => unknown;

const init = workerData as WorkerInit;
const port = parentPort;
if (port === null) throw new Error('@opt/learned worker: started outside a worker thread');

const ready: Promise<Handler> = (async () => {
  const mod = (await import(init.module)) as Record<string, unknown>;
  const build = mod[init.exportName];
  if (typeof build !== 'function') throw new Error(`@opt/learned worker: ${init.module} has no function export '${init.exportName}'`);
  return (await (build as (options: unknown) => unknown)(init.options)) as Handler;
})();

port.on('message', (message: { id: number; job: unknown }) => {
  ready
    .then((handler) => handler(message.job))
    .then(
      (result) => port.postMessage({ id: message.id, result }),
      (error: unknown) => port.postMessage({ id: message.id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
    );
});
