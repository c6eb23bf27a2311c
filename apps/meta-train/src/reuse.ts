import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeWeights, getWeightsRecord } from '@opt/learned';
import type { TrainConfig } from './config.js';
import type { EvalJob, EvalTaskResult, SplitName } from './eval-task.js';

/**
 * The starting meta-parameters of a fine-tune: the record's, plus the depth exponent γ and/or the fan-in exponent η
 * when the recipe adds them (appended in the optimizer's order: γ, then η). Anything else that differs in size is
 * refused (the networks would not line up).
 */
export function warmStartParams(config: TrainConfig, count: number, repoRoot: string): Float64Array {
  const { weights, depthExponent, fanInExponent } = config.warmStart!;
  // A shipped name, or a record kept with an unshipped run (a path relative to the repository).
  const record = weights.endsWith('.json') ? JSON.parse(readFileSync(join(repoRoot, weights), 'utf8')) : getWeightsRecord(weights);
  if (record === undefined) throw new Error(`warm start: unknown weights '${weights}'`);
  const from = decodeWeights(record, `warm start ${weights}`);
  const appended = [
    ...(config.depthExponent && depthExponent !== undefined ? [depthExponent] : []),
    ...(config.fanInExponent === true && fanInExponent !== undefined ? [fanInExponent] : []),
  ];
  if (from.length + appended.length === count) {
    const out = new Float64Array(count);
    out.set(from);
    out.set(appended, from.length);
    return out;
  }
  throw new Error(`warm start: '${weights}' has ${from.length} meta-parameters${appended.length > 0 ? ` (+${appended.length} appended)` : ''}, the recipe's architecture ${count}`);
}

/**
 * Meta-parameters with the fan-in exponent η set: appended after the others when the record does not carry one
 * (`carried` false: how v11's η was swept on v9), or replacing the last when it does (how v12's was re-swept).
 */
export function withFanInExponent(metaParams: ArrayLike<number>, carried: boolean, eta: number): Float64Array {
  const kept = carried ? metaParams.length - 1 : metaParams.length;
  const out = new Float64Array(kept + 1);
  for (let i = 0; i < kept; i++) out[i] = metaParams[i]!;
  out[kept] = eta;
  return out;
}

/**
 * The meta-parameters the record gets: the trained ones, with the fan-in exponent η (the last) replaced by the
 * recipe's swept value when it has one.
 */
export function finalMetaParams(config: TrainConfig, trained: Float64Array): Float64Array {
  const eta = config.sweptFanInExponent;
  if (eta === undefined) return trained;
  if (config.fanInExponent !== true) throw new Error('sweptFanInExponent needs a recipe with fanInExponent');
  return withFanInExponent(trained, true, eta);
}

/** What `--baselines-from` reads: an earlier evaluation's tasks, indexed by split and position. */
export interface ReusedBaselines {
  globalLr: number;
  tasks: { split: SplitName; index: number; result: NonNullable<EvalJob['baselines']> }[];
}

/**
 * Read an earlier evaluation JSON for `--baselines-from`, refusing one whose tasks or baselines could differ from this
 * run's: another split kind (validation vs test), K, lr grid, score seeds, or too few tasks per split. (Task names are
 * checked again per task in the worker, which catches changed families.)
 */
export function loadBaselines(
  file: string,
  expect: { K: number; validation: boolean; tasks: number; scoreSeeds: number[]; grid: readonly number[] },
): ReusedBaselines {
  const prior = JSON.parse(readFileSync(file, 'utf8')) as {
    K: number;
    grid: number[];
    globalLr: number;
    tasksPerSplit: number;
    scoreSeeds: number[];
    taskSeeds?: string;
    tasks: (EvalTaskResult & { split: SplitName })[];
  };
  const kind = expect.validation ? 'validation' : 'test';
  const problems = [
    prior.K !== expect.K && `K ${prior.K} vs ${expect.K}`,
    JSON.stringify(prior.grid) !== JSON.stringify(expect.grid) && 'another lr grid',
    JSON.stringify(prior.scoreSeeds) !== JSON.stringify(expect.scoreSeeds) && 'other score seeds',
    (prior.taskSeeds ?? 'test') !== kind && `${prior.taskSeeds ?? 'test'} tasks, this run scores ${kind} tasks`,
    prior.tasksPerSplit < expect.tasks && `${prior.tasksPerSplit} tasks per split, this run needs ${expect.tasks}`,
  ].filter((x): x is string => typeof x === 'string');
  if (problems.length > 0) throw new Error(`--baselines-from ${file}: cannot reuse (${problems.join('; ')})`);
  const seen = new Map<SplitName, number>();
  const tasks = prior.tasks.map((t) => {
    const index = seen.get(t.split) ?? 0;
    seen.set(t.split, index + 1);
    return { split: t.split, index, result: { name: t.name, losses: t.losses, testLosses: t.testLosses, tunedLr: t.tunedLr } };
  });
  return { globalLr: prior.globalLr, tasks };
}
