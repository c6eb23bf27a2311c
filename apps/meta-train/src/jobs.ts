/**
 * The job module the worker threads load (`dist/jobs.js`): meta-gradient estimates for `train`, and per-task
 * evaluations for `evaluate`.
 */
import { estimateHandler } from '@opt/learned/node';
import { type TrainConfig, makeEstimator } from './config.js';
import { type EvalJob, evaluateTask } from './eval-task.js';

/** Options of a worker: which job kind it answers. */
export type JobOptions = { kind: 'estimate'; config: TrainConfig } | { kind: 'evaluate' };

/** Build the worker's handler. */
export function createHandler(options: JobOptions): (job: unknown) => unknown {
  if (options.kind === 'estimate') return estimateHandler(makeEstimator(options.config)) as (job: unknown) => unknown;
  return (job) => evaluateTask(job as EvalJob);
}
