import { checkInteger } from '@opt/core';
import { InvalidOptionError } from '@opt/tensor';
import type { TaskFamily } from '@opt/tasks';
import type { LearnedOptimizerFactory } from '../learnable.js';
import { AntitheticES } from './es.js';
import { type UnrollLossOptions, UnrollObjective, familySampler } from './inner.js';
import type { HorizonSpec } from './seeds.js';
import { MetaTrainer, type MetaStepRecord } from './trainer.js';

/** A shipped optimizer to specialise: its factory and its meta-trained parameters. */
export interface ShippedOptimizer {
  /** The factory of the architecture (e.g. `mlpLearnedOptimizerFactory(...)` with the record's featureSpec). */
  factory: LearnedOptimizerFactory;
  /** The shipped meta-parameters (not modified: the result is a copy). */
  metaParams: Float64Array;
}

/** Options of {@link finetune}. */
export interface FinetuneOptions extends UnrollLossOptions {
  /** ES meta-steps (default 50). */
  metaSteps?: number;
  /** The handful of tasks fine-tuned on: task seeds `firstSeed … firstSeed + tasks − 1` (default 8 tasks from seed 0). */
  tasks?: number;
  /** First task seed (default 0). */
  firstSeed?: number;
  /** Inner horizon (default 100). */
  horizon?: HorizonSpec;
  /** Antithetic pairs per meta-step (default 4). */
  pairs?: number;
  /** ES σ (default 0.01: stay near the shipped weights). */
  sigma?: number;
  /** Meta learning rate (default 1e-3). */
  lr?: number;
  /** Meta-gradient clipping norm (default 10). */
  clipNorm?: number;
  /** Seed (default 0). */
  seed?: number;
  /** Called after each meta-step. */
  onProgress?: (record: MetaStepRecord) => void;
}

/** The result of {@link finetune}. */
export interface FinetuneResult {
  /** The specialised meta-parameters. */
  metaParams: Float64Array;
  /** The metric log of the fine-tuning run. */
  history: MetaStepRecord[];
}

/**
 * Specialise a shipped learned optimizer to a new task family with a few
 * antithetic-ES meta-steps on a handful of its tasks, starting from the
 * shipped meta-parameters (a small σ and meta-lr keep it close to them):
 *
 * ```
 * θ₀ = θ_shipped,   θ_{k+1} = Adam(θ_k, clip(ĝ_ES(θ_k; tasks of the new family)))
 * ```
 *
 * @example
 * ```ts
 * const { metaParams } = finetune({ factory, metaParams: shipped }, new RandomQuadraticFamily(), { metaSteps: 20 });
 * const opt = factory.create(params, metaParams);
 * ```
 */
export function finetune(shipped: ShippedOptimizer, family: TaskFamily, options: FinetuneOptions = {}): FinetuneResult {
  const where = 'finetune';
  const { factory } = shipped;
  if (shipped.metaParams.length !== factory.metaParamCount) {
    throw new InvalidOptionError('metaParams', shipped.metaParams.length, `${factory.metaParamCount} values`, where);
  }
  const tasks = checkInteger(where, 'tasks', options.tasks ?? 8, 1);
  const firstSeed = checkInteger(where, 'firstSeed', options.firstSeed ?? 0, 0);
  const objective = new UnrollObjective({
    ...options,
    factory,
    sampler: familySampler(family, [firstSeed, firstSeed + tasks]),
    horizon: options.horizon ?? 100,
  });
  const trainer = new MetaTrainer({
    factory,
    estimator: new AntitheticES({ objective, sigma: options.sigma ?? 0.01 }),
    metaOptimizer: { lr: options.lr ?? 1e-3 },
    clipNorm: options.clipNorm ?? 10,
    metaSteps: checkInteger(where, 'metaSteps', options.metaSteps ?? 50, 0),
    estimatesPerStep: checkInteger(where, 'pairs', options.pairs ?? 4, 1),
    seed: options.seed ?? 0,
    initialMetaParams: shipped.metaParams,
    ...(options.onProgress === undefined ? {} : { onProgress: (r: MetaStepRecord) => options.onProgress!(r) }),
  });
  trainer.train();
  return { metaParams: trainer.metaParams, history: trainer.history };
}
