/**
 * One rank of the data-parallel digits run, in its own process (forked by `launch.ts`): joins the NATS group,
 * trains, reports progress and the result to the parent over IPC, and exits.
 */
import { connectNatsCollective } from '@opt/distributed/node';
import { trainDigitsRank } from './experiment.js';
import type { WorkerArgs, WorkerMessage } from './launch.js';

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as WorkerArgs;
  const send = (m: WorkerMessage): Promise<void> => new Promise((resolve) => process.send!(m, () => resolve()));
  const collective = await connectNatsCollective({ servers: args.servers, job: args.job, rank: args.rank, worldSize: args.worldSize, timeoutMs: 60_000 });
  try {
    let lastReport = 0;
    const value = await trainDigitsRank(collective, {
      ...args.options,
      onStep: (step, total) => {
        // Progress at most every 50 ms: IPC messages are not free.
        const now = Date.now();
        if (step === total || now - lastReport > 50) {
          lastReport = now;
          process.send!({ type: 'progress', rank: args.rank, step, total } satisfies WorkerMessage);
        }
      },
    });
    await send({ type: 'result', value });
  } catch (e) {
    await send({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  } finally {
    await collective.close();
  }
}

void main().then(() => process.exit(0));
