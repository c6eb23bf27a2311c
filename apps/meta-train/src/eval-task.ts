import { Adam, SGD } from '@opt/core';
import { type MLPHybridConfig, mlpLearnedOptimizerFactory, taskProblem } from '@opt/learned';
import type { MLPClassificationTask, TaskFamily } from '@opt/tasks';
import { loadFashionMnist, loadIris, loadWine } from '@opt/tasks/node';
import { type SyntheticFamilyOptions, SyntheticClassificationFamily, datasetFamilies, downsample8, otherActivation } from './families.js';

/** Which family a held-out task comes from. */
export type SplitName = 'in-distribution' | 'ood-size' | 'ood-activation' | 'ood-datasets';

/** One task to evaluate: everything is rebuilt from these fields inside a worker. */
export interface EvalJob {
  split: SplitName;
  /** Index of the data-set family within the `ood-datasets` split (wine, iris, fashion8). */
  familyIndex: number;
  taskSeed: number;
  /** Nominal horizon K; runs go to 4K and are read at K, 2K, 4K. */
  K: number;
  /** The learned optimizer's meta-parameters (as shipped: decoded from the weights record). */
  metaParams: number[];
  lr: number;
  /** The learned optimizer's architecture (the weights record's featureSpec). */
  config: MLPHybridConfig;
  /** The weights' training family (in distribution; its sizes and activation also define the other splits). */
  family: SyntheticFamilyOptions;
  /** The out-of-distribution-in-size family (2–4× wider and/or deeper than `family`). */
  oodSizeFamily: SyntheticFamilyOptions;
  /** Adam's lr tuned once over the meta-validation tasks (0: tuning job, skip the scored runs). */
  globalLr: number;
  /** Learning-rate grid of the per-task tuned baselines. */
  grid: number[];
  /** Batch-order seed used for tuning; scores use `scoreSeeds`. */
  tuneSeed: number;
  scoreSeeds: number[];
  /** Only run Adam over the grid on the tuning seed (meta-validation tuning of the global lr). */
  tuneOnly?: boolean;
  /**
   * The per-task-tuned baselines of an earlier evaluation of this same task (same seeds, K and grid): they are taken
   * as they are instead of tuned and run again, and only the learned optimizer and adam-global (the cost reference)
   * run. The task's name must match.
   */
  baselines?: Pick<EvalTaskResult, 'name' | 'losses' | 'testLosses' | 'tunedLr'>;
}

/** Per-horizon results of one optimizer on one task: final full-batch training loss per score seed. */
export interface EvalTaskResult {
  split: SplitName;
  name: string;
  params: number;
  initialLoss: number;
  /** `losses[optimizer][h][s]`: final training loss at horizon index h (K, 2K, 4K), score seed s. */
  losses: Record<string, number[][]>;
  /** Test losses of the learned optimizer and tuned Adam+cosine at each horizon (mean over seeds). */
  testLosses: Record<string, number[]>;
  /** Chosen lr per baseline and horizon. */
  tunedLr: Record<string, number[]>;
  /** Adam's final training loss per grid lr at each horizon on the tuning seed (for the global-lr tuning). */
  adamGrid: number[][];
  /** Milliseconds per step: learned (optimizer + fwd/bwd) and Adam (same), measured on this task. */
  msPerStep: { learned: number; adam: number };
}

let datasets: { key: string; families: TaskFamily<MLPClassificationTask>[] } | null = null;
function family(job: EvalJob): TaskFamily<MLPClassificationTask> {
  switch (job.split) {
    case 'in-distribution':
      return new SyntheticClassificationFamily(job.family);
    case 'ood-size':
      return new SyntheticClassificationFamily(job.oodSizeFamily);
    case 'ood-activation':
      return new SyntheticClassificationFamily(otherActivation(job.family));
    case 'ood-datasets': {
      const key = JSON.stringify(job.family);
      if (datasets?.key !== key) {
        const sets = { wine: loadWine(), iris: loadIris(), fashion8: downsample8(loadFashionMnist({ split: 'test' }), 'fashion-mnist-8x8') };
        datasets = { key, families: datasetFamilies(sets, job.family) };
      }
      return datasets.families[job.familyIndex]!;
    }
  }
}

export type Kind = 'adam' | 'adam-cosine' | 'sgdm' | 'learned';

/**
 * Train one task from its initial parameters for `steps` steps and return the full-batch training loss after
 * each step in `at` (NaN once non-finite), and the test loss at the end.
 */
export function trainTask(
  task: MLPClassificationTask,
  kind: Kind,
  lr: number,
  steps: number,
  at: number[],
  dataSeed: number,
  meta: Float64Array | null,
  config: MLPHybridConfig,
): { train: number[]; test: number[]; ms: number } {
  const problem = taskProblem(task, dataSeed);
  problem.reset();
  const params = problem.parameters;
  const opt =
    kind === 'learned'
      ? mlpLearnedOptimizerFactory({ ...config, lr, nonFinite: 'ignore' }).create(params, meta!)
      : kind === 'sgdm'
        ? new SGD(params, { lr, momentum: 0.9, nonFinite: 'ignore' })
        : new Adam(params, { lr, nonFinite: 'ignore' });
  const train: number[] = [];
  const test: number[] = [];
  let k = 0;
  const t0 = performance.now();
  let loss = 0;
  const closure = (): number => loss;
  for (let t = 1; t <= steps; t++) {
    if (kind === 'adam-cosine') opt.paramGroups[0]!.lr = 0.5 * lr * (1 + Math.cos((Math.PI * (t - 1)) / steps));
    loss = problem.lossAndGrad();
    if (!Number.isFinite(loss)) break;
    opt.step(closure);
    if (t === at[k]) {
      const l = problem.trainLoss();
      train.push(Number.isFinite(l) ? l : NaN);
      test.push(problem.testLoss!());
      k++;
    }
  }
  const ms = (performance.now() - t0) / steps;
  while (train.length < at.length) {
    train.push(NaN);
    test.push(NaN);
  }
  return { train, test, ms };
}

const argmin = (xs: number[]): number => xs.reduce((best, x, i) => (Number.isFinite(x) && (!(Number.isFinite(xs[best]!)) || x < xs[best]!) ? i : best), 0);

/**
 * Evaluate one held-out task: tune the baselines on the tuning seed (or take them from `job.baselines`), then score
 * everything on the score seeds.
 */
export function evaluateTask(job: EvalJob): EvalTaskResult {
  const task = family(job).sample(job.taskSeed);
  const K = job.K;
  const H = [K, 2 * K, 4 * K];
  const meta = Float64Array.from(job.metaParams);
  task.reset();
  const initialLoss = task.objective.loss(task.train);
  const losses: Record<string, number[][]> = {};
  const testLosses: Record<string, number[]> = {};
  const tunedLr: Record<string, number[]> = {};
  const adamGrid = job.baselines === undefined ? job.grid.map((lr) => trainTask(task, 'adam', lr, 4 * K, H, job.tuneSeed, null, job.config).train) : [];
  const result: EvalTaskResult = {
    split: job.split,
    name: task.name,
    params: task.params.count,
    initialLoss,
    losses,
    testLosses,
    tunedLr,
    adamGrid: H.map((_, h) => adamGrid.map((r) => r[h]!)),
    msPerStep: { learned: 0, adam: 0 },
  };
  if (job.tuneOnly) return result;
  if (job.baselines !== undefined) {
    if (job.baselines.name !== task.name) throw new Error(`reused baselines are for task ${job.baselines.name}, this job samples ${task.name}`);
    // Shallow copies: scoreLearned below replaces the learned and adam-global entries, it never mutates the others.
    Object.assign(losses, job.baselines.losses);
    Object.assign(testLosses, job.baselines.testLosses);
    Object.assign(tunedLr, job.baselines.tunedLr);
  } else {
    const sgdGrid = job.grid.map((lr) => trainTask(task, 'sgdm', lr, 4 * K, H, job.tuneSeed, null, job.config).train);
    const cosGrid = H.map((h) => job.grid.map((lr) => trainTask(task, 'adam-cosine', lr, h, [h], job.tuneSeed, null, job.config).train[0]!));
    tunedLr['adam'] = H.map((_, h) => job.grid[argmin(adamGrid.map((r) => r[h]!))]!);
    tunedLr['sgdm'] = H.map((_, h) => job.grid[argmin(sgdGrid.map((r) => r[h]!))]!);
    tunedLr['adam-cosine'] = H.map((_, h) => job.grid[argmin(cosGrid[h]!)]!);
    for (const name of ['adam', 'sgdm', 'adam-cosine']) {
      losses[name] = H.map(() => []);
      testLosses[name] = H.map(() => 0);
    }
    for (const seed of job.scoreSeeds) {
      H.forEach((h, i) => {
        for (const name of ['adam', 'sgdm', 'adam-cosine'] as const) {
          const r = trainTask(task, name, tunedLr[name]![i]!, h, [h], seed, null, job.config);
          losses[name]![i]!.push(r.train[0]!);
          testLosses[name]![i]! += r.test[0]! / job.scoreSeeds.length;
        }
      });
    }
  }
  scoreLearned(job, task, meta, result);
  return result;
}

/**
 * The learned optimizer and adam-global (Adam at the one validation-tuned lr, also the step-cost reference) on the
 * score seeds, each run once to 4K and read at K, 2K and 4K.
 */
function scoreLearned(job: EvalJob, task: MLPClassificationTask, meta: Float64Array, result: EvalTaskResult): void {
  const H = [job.K, 2 * job.K, 4 * job.K];
  result.tunedLr['adam-global'] = H.map(() => job.globalLr);
  for (const name of ['learned', 'adam-global']) {
    result.losses[name] = H.map(() => []);
    result.testLosses[name] = H.map(() => 0);
  }
  let msLearned = 0;
  let msAdam = 0;
  for (const seed of job.scoreSeeds) {
    const learned = trainTask(task, 'learned', job.lr, 4 * job.K, H, seed, meta, job.config);
    const global = trainTask(task, 'adam', job.globalLr, 4 * job.K, H, seed, null, job.config);
    msLearned += learned.ms;
    msAdam += global.ms;
    H.forEach((_, i) => {
      result.losses['learned']![i]!.push(learned.train[i]!);
      result.testLosses['learned']![i]! += learned.test[i]! / job.scoreSeeds.length;
      result.losses['adam-global']![i]!.push(global.train[i]!);
      result.testLosses['adam-global']![i]! += global.test[i]! / job.scoreSeeds.length;
    });
  }
  result.msPerStep = { learned: msLearned / job.scoreSeeds.length, adam: msAdam / job.scoreSeeds.length };
}
