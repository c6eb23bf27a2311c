import type { Optimizer } from '@opt/core';
import { InvalidOptionError, NonFiniteError, type Parameter, Rng } from '@opt/tensor';
import type { Batch, Task, TaskFamily } from '@opt/tasks';
import type { LearnedOptimizerFactory } from '../learnable.js';
import { type HorizonSpec, checkHorizon, sampleHorizon } from './seeds.js';

/**
 * One inner training problem as a meta-trainer sees it: parameters, a
 * deterministic sequence of mini-batches and the loss on them. Replaying it
 * after {@link InnerProblem.reset} gives bit-identical losses and gradients for
 * identical parameters, which is what lets the two members of an antithetic
 * pair share task, initialisation and batches.
 */
export interface InnerProblem {
  /** The parameters being trained. */
  readonly parameters: Parameter[];
  /**
   * Restore the initial parameters and restart the batch sequence at batch
   * `position` (default 0): a resumed truncated unroll skips the batches it already saw.
   */
  reset(position?: number): void;
  /** Mini-batch loss of the next batch at the current parameters; overwrites every gradient; advances the sequence. */
  lossAndGrad(): number;
  /** Full training-set loss at the current parameters (no gradient), for evaluation. */
  trainLoss(): number;
  /** Held-out loss at the current parameters, when the task has a test split. */
  testLoss?(): number;
}

/** Draws inner problems from a generator: a task, its initialisation and its batch order. */
export type InnerProblemSampler = (rng: Rng) => InnerProblem;

/** A task with an endless batch stream (as `MLPClassificationTask.stream`). */
interface StreamingTask extends Task {
  stream(seed?: number): IterableIterator<Batch>;
}

function hasStream(task: Task): task is StreamingTask {
  return typeof (task as Partial<StreamingTask>).stream === 'function';
}

/**
 * The {@link InnerProblem} of an `@opt/tasks` task: mini-batches from the
 * task's endless `stream(dataSeed)` when it has one, else consecutive epochs
 * of `batches(batchSize, dataSeed + epoch)`, else full-batch (deterministic
 * objectives such as quadratics).
 *
 * @param task - the task (reset to its initial parameters first, when it has `reset`).
 * @param dataSeed - seed of the batch order.
 * @param batchSize - mini-batch size for tasks without a stream (default 32).
 */
export function taskProblem(task: Task, dataSeed: number, batchSize = 32): InnerProblem {
  const objective = task.objective;
  // Snapshot the task's own initialisation, not whatever an earlier run on the same task left behind.
  task.reset?.();
  const initial = objective.parameters.map((p) => p.data.slice());
  let next: () => Batch | undefined;
  let restart: () => void;
  if (hasStream(task)) {
    let stream = task.stream(dataSeed);
    restart = () => {
      stream = task.stream(dataSeed);
    };
    next = () => stream.next().value as Batch;
  } else if (typeof task.batches === 'function') {
    let epoch = 0;
    let it = task.batches(batchSize, dataSeed);
    restart = () => {
      epoch = 0;
      it = task.batches!(batchSize, dataSeed);
    };
    next = () => {
      let r = it.next();
      if (r.done) {
        epoch++;
        it = task.batches!(batchSize, dataSeed + epoch);
        r = it.next();
      }
      return r.value as Batch;
    };
  } else {
    restart = () => undefined;
    next = () => undefined;
  }
  const supervised = task as Partial<{ train: Batch; test: Batch }>;
  const problem: InnerProblem = {
    parameters: objective.parameters,
    reset(position = 0) {
      objective.parameters.forEach((p, k) => p.data.set(initial[k]!));
      restart();
      for (let i = 0; i < position; i++) next();
    },
    lossAndGrad() {
      const batch = next();
      return batch === undefined ? objective.lossAndGrad() : objective.lossAndGrad(batch);
    },
    trainLoss() {
      return supervised.train === undefined ? objective.loss() : objective.loss(supervised.train);
    },
  };
  if (supervised.test !== undefined) {
    const test = supervised.test;
    problem.testLoss = () => objective.loss(test);
  }
  return problem;
}

/**
 * A sampler over an `@opt/tasks` family: each draw takes a task seed uniform
 * on `[seeds[0], seeds[1])` (keep meta-training, validation and test seeds in
 * disjoint ranges) and a batch-order seed, both from the generator.
 */
export function familySampler(family: TaskFamily, seeds: readonly [number, number], batchSize = 32): InnerProblemSampler {
  const [lo, hi] = seeds;
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi <= lo) {
    throw new InvalidOptionError('seeds', seeds, 'an integer range [lo, hi) with hi > lo', 'familySampler');
  }
  return (rng: Rng) => {
    const seed = lo + Math.floor(rng.uniform() * (hi - lo));
    const dataSeed = rng.nextUint32();
    return taskProblem(family.sample(seed), dataSeed, batchSize);
  };
}

/** How an inner run's losses become one meta-loss. */
export interface UnrollLossOptions {
  /**
   * `'log'` (default): mean over steps of `log(L_t / L_0)`; `'normalized'`:
   * mean of `L_t / L_0`. Both normalise by the first loss so tasks of
   * different scales weigh alike.
   */
  metaLoss?: 'log' | 'normalized';
  /** Upper clip of `L_t / L_0` (default 5): one exploding step cannot dominate the estimate. */
  lossClip?: number;
  /** Meta-loss of a run that produced a non-finite loss or gradient; the run stops there. Default `log(lossClip) + 1`. */
  nanPenalty?: number;
  /**
   * Lower clip of `L_t / L_0` (default 1e-10, which only guards `log(0)`). A larger floor such as 1e-4 stops
   * rewarding a run once its loss is that far below where it started, so the easiest tasks of a family (whose
   * losses can fall towards 0 and whose log-losses would otherwise dominate the estimate) do not pull the
   * optimizer towards steps that only they survive.
   */
  lossFloor?: number;
}

/** The resolved {@link UnrollLossOptions}. */
export interface ResolvedLossOptions {
  metaLoss: 'log' | 'normalized';
  lossClip: number;
  nanPenalty: number;
  lossFloor: number;
}

/** Validate {@link UnrollLossOptions} and fill the defaults. */
export function resolveLossOptions(where: string, options: UnrollLossOptions): ResolvedLossOptions {
  const metaLoss = options.metaLoss ?? 'log';
  if (metaLoss !== 'log' && metaLoss !== 'normalized') throw new InvalidOptionError('metaLoss', metaLoss, "'log' or 'normalized'", where);
  const lossClip = options.lossClip ?? 5;
  if (!(lossClip > 1) || !Number.isFinite(lossClip)) throw new InvalidOptionError('lossClip', lossClip, 'a finite number > 1', where);
  const nanPenalty = options.nanPenalty ?? (metaLoss === 'log' ? Math.log(lossClip) + 1 : lossClip + 1);
  if (!Number.isFinite(nanPenalty)) throw new InvalidOptionError('nanPenalty', nanPenalty, 'a finite number', where);
  const lossFloor = options.lossFloor ?? RELATIVE_FLOOR;
  if (!(lossFloor > 0 && lossFloor < 1)) throw new InvalidOptionError('lossFloor', lossFloor, 'a number in (0, 1)', where);
  return { metaLoss, lossClip, nanPenalty, lossFloor };
}

/** Default floor of relative losses before the log (a solved quadratic reaches exactly 0). */
const RELATIVE_FLOOR = 1e-10;

/** The per-step meta-loss term of a relative loss `r = L_t / L_0`, clipped to `[lossFloor, lossClip]`. */
export function lossTerm(r: number, options: ResolvedLossOptions): number {
  const floor = options.lossFloor;
  const c = r > options.lossClip ? options.lossClip : r < floor ? floor : r;
  return options.metaLoss === 'log' ? Math.log(c) : c;
}

/**
 * Run `steps` inner steps of `optimizer` on `problem`: each step measures the
 * mini-batch loss `L_t` (writing the gradients), adds its meta-loss term
 * (relative to `scale.l0`, which the first loss of a fresh run sets when it is
 * NaN), then updates. With `includeFinal`, the loss after the last update is
 * measured and added too. Returns the sum of the terms, or NaN as soon as a
 * loss or gradient is not finite (the run stops; the caller substitutes its penalty).
 *
 * @param problem - the inner problem, positioned where the run continues.
 * @param optimizer - the (learned) optimizer over `problem.parameters`.
 * @param steps - number of updates.
 * @param scale - `l0`, the loss every term is relative to (NaN: take the first loss measured).
 * @param options - the meta-loss shape.
 * @param includeFinal - also count the loss after the last update.
 */
export function runSteps(
  problem: InnerProblem,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any optimizer's options and state
  optimizer: Optimizer<any, any>,
  steps: number,
  scale: { l0: number },
  options: ResolvedLossOptions,
  includeFinal: boolean,
): number {
  let sum = 0;
  let current = 0;
  // The gradients are already written when the optimizer runs; the closure only
  // hands it the loss (learned optimizers may use it as a feature).
  const closure = (): number => current;
  try {
    for (let t = 0; t < steps; t++) {
      current = problem.lossAndGrad();
      if (!Number.isFinite(current)) return NaN;
      if (Number.isNaN(scale.l0)) scale.l0 = current > 0 ? current : 1;
      sum += lossTerm(current / scale.l0, options);
      optimizer.step(closure);
    }
    if (includeFinal) {
      current = problem.lossAndGrad();
      if (!Number.isFinite(current)) return NaN;
      sum += lossTerm(current / scale.l0, options);
    }
  } catch (error) {
    if (error instanceof NonFiniteError) return NaN;
    throw error;
  }
  for (const p of problem.parameters) {
    const d = p.data;
    for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i]!)) return NaN;
  }
  return sum;
}

/** What both members of an antithetic pair share: the problem and the horizon. */
export interface UnrollSample {
  /** The inner problem (reset before each run). */
  problem: InnerProblem;
  /** Number of inner steps. */
  steps: number;
}

/**
 * A meta-objective as ES sees it: draw what a pair shares, then evaluate the
 * meta-loss of one inner run at given meta-parameters on that draw. Running
 * the same draw twice at the same meta-parameters must give the same value.
 */
export interface MetaObjective<S = unknown> {
  /** Draw the shared randomness of an antithetic pair (task, initialisation, batches, horizon) from `rng`. */
  draw(rng: Rng): S;
  /** The meta-loss of one run at `metaParams` on `sample`. */
  loss(metaParams: Float64Array, sample: S): number;
}

/** Options of {@link UnrollObjective}. */
export interface UnrollObjectiveOptions extends UnrollLossOptions {
  /** The learned optimizer family. */
  factory: LearnedOptimizerFactory;
  /** Where inner problems come from. */
  sampler: InnerProblemSampler;
  /** Inner horizon: fixed, or a range sampled log-uniformly per draw. */
  horizon: HorizonSpec;
  /**
   * The `totalSteps` hint given to the optimizer: `'horizon'` (default) passes
   * the drawn horizon; a number passes that number; `null` passes nothing.
   */
  totalSteps?: 'horizon' | number | null;
}

/**
 * The meta-loss of full inner unrolls: a fresh learned optimizer (from the
 * factory, holding the given meta-parameters by reference) trains the drawn
 * problem for the drawn horizon K from its initial parameters:
 *
 * ```
 * meta-loss = (1/(K+1)) Σ_{t=0..K} φ(min(L_t / L_0, clip)),   φ = log (default) or identity
 * ```
 *
 * with `L_t` the mini-batch loss after t updates. A non-finite loss or
 * gradient stops the run and its meta-loss is the constant `nanPenalty`.
 */
export class UnrollObjective implements MetaObjective<UnrollSample> {
  readonly factory: LearnedOptimizerFactory;
  private readonly sampler: InnerProblemSampler;
  private readonly horizon: HorizonSpec;
  private readonly totalSteps: 'horizon' | number | null;
  private readonly loss_: ResolvedLossOptions;

  constructor(options: UnrollObjectiveOptions) {
    const where = 'UnrollObjective';
    this.factory = options.factory;
    this.sampler = options.sampler;
    this.horizon = checkHorizon(where, 'horizon', options.horizon);
    this.totalSteps = options.totalSteps === undefined ? 'horizon' : options.totalSteps;
    this.loss_ = resolveLossOptions(where, options);
  }

  /** The resolved meta-loss options. */
  get lossOptions(): ResolvedLossOptions {
    return this.loss_;
  }

  draw(rng: Rng): UnrollSample {
    const problem = this.sampler(rng);
    const steps = sampleHorizon(rng, this.horizon);
    return { problem, steps };
  }

  loss(metaParams: Float64Array, sample: UnrollSample): number {
    const { problem, steps } = sample;
    problem.reset();
    const total = this.totalSteps === 'horizon' ? steps : this.totalSteps;
    const optimizer = this.factory.create(problem.parameters, metaParams, total === null ? {} : { totalSteps: total });
    const sum = runSteps(problem, optimizer, steps, { l0: NaN }, this.loss_, true);
    return Number.isNaN(sum) ? this.loss_.nanPenalty : sum / (steps + 1);
  }
}
