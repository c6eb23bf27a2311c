import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { InvalidOptionError, StateDictError } from '@opt/tensor';
import type { EstimatePool, MetaStepRecord, MetaTrainer, MetaTrainerState } from '../meta/trainer.js';

/**
 * Write `text` to `path` atomically: into a temporary file beside it, flushed
 * to disk, then renamed over `path`. A crash leaves either the old file or the
 * new one, never a torn checkpoint.
 */
export function writeFileAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** Save a trainer's state dict to `path` atomically (JSON; float64 values round-trip exactly). */
export function saveCheckpoint(path: string, trainer: MetaTrainer): void {
  writeFileAtomic(path, JSON.stringify(trainer.stateDict()));
}

/**
 * Read a checkpoint written by {@link saveCheckpoint}, or `null` when `path` does not exist.
 * @throws `StateDictError` when the file is not a meta-trainer checkpoint.
 */
export function loadCheckpoint(path: string): MetaTrainerState | null {
  if (!existsSync(path)) return null;
  let state: MetaTrainerState;
  try {
    state = JSON.parse(readFileSync(path, 'utf8')) as MetaTrainerState;
  } catch (error) {
    throw new StateDictError(`loadCheckpoint: ${path} is not valid JSON (${(error as Error).message})`);
  }
  if (state === null || typeof state !== 'object' || state.format !== 'meta-trainer') {
    throw new StateDictError(`loadCheckpoint: ${path} is not a meta-trainer checkpoint`);
  }
  return state;
}

/** Options of {@link trainWithCheckpoints}. */
export interface CheckpointOptions {
  /** Checkpoint file. */
  path: string;
  /** Save every this many meta-steps (default 25). */
  everySteps?: number;
  /** Also save when this many seconds passed since the last save (default 60). */
  everySeconds?: number;
  /** Resume from `path` when it exists (default true). */
  resume?: boolean;
  /** Worker threads for the estimates (in-process when omitted). */
  pool?: EstimatePool;
  /** Stop (after saving) once this many meta-steps ran in this call; default: run to the end. */
  maxSteps?: number;
  /** Called after each meta-step. */
  onStep?: (record: MetaStepRecord) => void;
  /** Clock in milliseconds (default `Date.now`); tests pass a fake one. */
  now?: () => number;
}

/**
 * Run a trainer to its end (or `maxSteps` more steps) with checkpoints: resume
 * from `path` if it exists, save every `everySteps` steps and every
 * `everySeconds` seconds, and once more at the end. Because the trainer's
 * state holds the meta-optimizer, estimator state and metric log, a run
 * killed and restarted continues bit-identically from its last checkpoint.
 *
 * @returns whether the state was resumed from a checkpoint.
 */
export async function trainWithCheckpoints(trainer: MetaTrainer, options: CheckpointOptions): Promise<boolean> {
  const everySteps = options.everySteps ?? 25;
  const everySeconds = options.everySeconds ?? 60;
  if (!Number.isInteger(everySteps) || everySteps < 1) throw new InvalidOptionError('everySteps', everySteps, 'an integer >= 1', 'trainWithCheckpoints');
  if (!(everySeconds > 0)) throw new InvalidOptionError('everySeconds', everySeconds, 'a number > 0', 'trainWithCheckpoints');
  const now = options.now ?? Date.now;
  let resumed = false;
  if (options.resume ?? true) {
    const state = loadCheckpoint(options.path);
    if (state !== null) {
      trainer.loadStateDict(state);
      resumed = true;
    }
  }
  let last = now();
  let ran = 0;
  const limit = options.maxSteps ?? Infinity;
  while (!trainer.done && ran < limit) {
    const record = await trainer.stepAsync(options.pool);
    ran++;
    options.onStep?.(record);
    if (trainer.metaStep % everySteps === 0 || now() - last >= everySeconds * 1000) {
      saveCheckpoint(options.path, trainer);
      last = now();
    }
  }
  saveCheckpoint(options.path, trainer);
  return resumed;
}
