import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';

/** What a forked elastic rank reports (see elastic-rank.mjs). */
export interface RankReport {
  type: 'done' | 'error';
  rank: number;
  name?: string;
  message?: string;
  parameters?: number[];
  epochBefore?: number;
  epochAfter?: number;
  worldSizeAfter?: number;
  reforms?: Array<{ error: string; message: string; elapsedMs: number; fromEpoch: number; toEpoch: number; toWorldSize: number; restoredStep: number }>;
  restored?: { step: number; parameters: number[]; optimizer: unknown } | null;
}

export interface ForkedRank {
  child: ChildProcess;
  /** Resolves with the final report, or with `null` when the process exits without one (a killed rank). */
  result: Promise<RankReport | null>;
  exitCode: Promise<number | null>;
}

const script = join(__dirname, 'elastic-rank.mjs');

/** Fork one elastic rank with its configuration; `onStep` receives its `{ type: 'step' }` messages. */
export function forkRank(config: Record<string, unknown>, onStep?: (m: { step: number; epoch: number }) => void): ForkedRank {
  const child = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exitCode = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const result = new Promise<RankReport | null>((resolve) => {
    child.on('message', (m: RankReport | { type: 'step'; step: number; epoch: number }) => {
      if (m.type === 'step') onStep?.(m as { step: number; epoch: number });
      else resolve(m as RankReport);
    });
    child.once('exit', () => resolve(null));
  });
  child.send(config);
  return { child, result, exitCode };
}

/** Kill every rank still running (test cleanup) and wait for the exits. */
export async function killAll(ranks: readonly ForkedRank[]): Promise<void> {
  await Promise.all(
    ranks.map(async (r) => {
      if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
      await r.exitCode;
    }),
  );
}
