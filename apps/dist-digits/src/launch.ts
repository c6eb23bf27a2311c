/**
 * Run K ranks of {@link trainDigitsRank} over NATS: a private nats-server, then either K forked Node processes
 * (the real deployment shape: one process per rank, `worker.js`) or K connections in this process (tests).
 */
import { fork } from 'node:child_process';
import { connectNatsCollective, startNatsServer } from '@opt/distributed/node';
import { type RankOptions, type RankResult, prepareDigits, trainDigitsRank } from './experiment.js';

/** What the launcher hands a forked rank (JSON in argv[2]). */
export interface WorkerArgs {
  servers: string;
  job: string;
  rank: number;
  worldSize: number;
  options: Omit<RankOptions, 'onStep'>;
}

/** A message from a forked rank. */
export type WorkerMessage =
  | { type: 'progress'; rank: number; step: number; total: number }
  | { type: 'result'; value: RankResult }
  | { type: 'error'; message: string };

/** Options of {@link runDataParallel}. */
export interface LaunchOptions extends Omit<RankOptions, 'onStep'> {
  /** Number of ranks (processes). Default 2. */
  workers?: number;
  /** A running NATS server; default: start a private one for this run. */
  natsUrl?: string;
  /** Run the ranks as connections in this process instead of forked processes (tests). Default false. */
  inProcess?: boolean;
  /** The compiled rank program (`dist/worker.js`); required unless `inProcess`. */
  workerFile?: string;
  /** Rank 0's progress. */
  onStep?: (step: number, total: number) => void;
  /** Bound on the whole run in milliseconds (default 10 minutes). */
  timeoutMs?: number;
}

let runCounter = 0;

/** Train on K ranks over NATS and resolve to every rank's result, in rank order. */
export async function runDataParallel(options: LaunchOptions = {}): Promise<RankResult[]> {
  const { workers = 2, natsUrl, inProcess = false, workerFile, onStep, timeoutMs = 600_000, ...rankOptions } = options;
  const server = natsUrl === undefined ? await startNatsServer() : null;
  const servers = natsUrl ?? server!.url;
  const job = `dist-digits-${process.pid}-${++runCounter}-${Date.now().toString(36)}`;
  try {
    if (inProcess) {
      const data = prepareDigits(rankOptions.seed ?? 0);
      const collectives = await Promise.all(
        Array.from({ length: workers }, (_, rank) => connectNatsCollective({ servers, job, rank, worldSize: workers, timeoutMs: 60_000 })),
      );
      try {
        return await Promise.all(
          collectives.map((c, rank) => trainDigitsRank(c, { ...rankOptions, ...(rank === 0 && onStep ? { onStep } : {}) }, data)),
        );
      } finally {
        await Promise.all(collectives.map((c) => c.close()));
      }
    }
    if (workerFile === undefined) throw new RangeError('runDataParallel: workerFile (dist/worker.js) is required unless inProcess');
    return await forkRanks(workerFile, servers, job, workers, rankOptions, onStep, timeoutMs);
  } finally {
    await server?.stop();
  }
}

function forkRanks(
  file: string,
  servers: string,
  job: string,
  worldSize: number,
  options: Omit<RankOptions, 'onStep'>,
  onStep: ((step: number, total: number) => void) | undefined,
  timeoutMs: number,
): Promise<RankResult[]> {
  return new Promise((resolve, reject) => {
    const results = new Array<RankResult>(worldSize);
    let remaining = worldSize;
    let failed = false;
    const children = Array.from({ length: worldSize }, (_, rank) => {
      const args: WorkerArgs = { servers, job, rank, worldSize, options };
      return fork(file, [JSON.stringify(args)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    });
    const timer = setTimeout(() => fail(`the run did not finish within ${timeoutMs} ms`), timeoutMs);
    function fail(message: string): void {
      if (failed) return;
      failed = true;
      clearTimeout(timer);
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      reject(new Error(message));
    }
    children.forEach((child, rank) => {
      let reported = false;
      child.on('message', (m: WorkerMessage) => {
        if (m.type === 'progress') {
          if (rank === 0) onStep?.(m.step, m.total);
        } else if (m.type === 'error') {
          fail(`rank ${rank}: ${m.message}`);
        } else {
          reported = true;
          results[rank] = m.value;
          if (--remaining === 0 && !failed) {
            clearTimeout(timer);
            resolve(results);
          }
        }
      });
      child.on('exit', (code) => {
        if (!reported) fail(`rank ${rank} exited (code ${code}) without a result`);
      });
    });
  });
}
