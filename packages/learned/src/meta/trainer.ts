import { Adam, type Optimizer, type OptimizerStateDict, checkInteger, checkPositive } from '@opt/core';
import { InvalidOptionError, Parameter, StateDictError } from '@opt/tensor';
import type { LearnedOptimizerFactory, MetaGradientEstimator } from '../learnable.js';

/** One estimate computed elsewhere (a worker thread): the gradient and the meta-loss. */
export interface EstimateResult {
  /** The meta-gradient estimate. */
  grad: Float64Array;
  /** The meta-loss of the unrolls it used. */
  loss: number;
}

/**
 * Computes a meta-step's estimates in parallel (`@opt/learned/node`'s worker
 * pool). Results must come back in index order and equal what
 * `estimator.estimate(θ, g, { metaStep, index, seed })` gives in-process.
 */
export interface EstimatePool {
  /** Estimates `index = 0..count-1` at `metaParams`, in index order. */
  estimateMany(metaParams: Float64Array, metaStep: number, seed: number, count: number): Promise<EstimateResult[]>;
}

/** Options of the meta-optimizer: Adam over the meta-parameters. */
export interface MetaAdamOptions {
  /** Meta learning rate (default 3e-3). */
  lr?: number;
  /** Adam betas (default [0.9, 0.999]). */
  betas?: [number, number];
}

/** One meta-step of the metric log. */
export interface MetaStepRecord {
  /** 0-based meta-step. */
  metaStep: number;
  /** Mean meta-loss of the step's estimates. */
  metaLoss: number;
  /** Norm of the averaged meta-gradient before clipping. */
  gradNorm: number;
  /** Whether the gradient was clipped. */
  clipped: boolean;
}

/** Options of {@link MetaTrainer}. */
export interface MetaTrainerOptions {
  /** The learned optimizer family being meta-trained. */
  factory: LearnedOptimizerFactory;
  /** The meta-gradient estimator (ES, PES, truncated BPTT). */
  estimator: MetaGradientEstimator;
  /**
   * The meta-optimizer: Adam options (default lr 3e-3), or a function that
   * builds any `@opt/core` optimizer over the meta-parameter.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any core optimizer
  metaOptimizer?: MetaAdamOptions | ((params: Parameter[]) => Optimizer<any, any>);
  /** Clip the averaged meta-gradient to this L2 norm (default 10; `Infinity` disables). */
  clipNorm?: number;
  /** Meta-steps {@link MetaTrainer.train} runs in total. */
  metaSteps: number;
  /** Estimator calls per meta-step (antithetic pairs, PES particles), averaged in index order. Default 1. */
  estimatesPerStep?: number;
  /** Base seed of every estimate (default 0). */
  seed?: number;
  /** Starting meta-parameters (copied); default `factory.initialMetaParams()`. */
  initialMetaParams?: Float64Array;
  /** Called after every meta-step with its record. */
  onProgress?: (record: MetaStepRecord, trainer: MetaTrainer) => void;
}

/** What {@link MetaTrainer.stateDict} returns: everything a resumed run needs to continue bit-identically. */
export interface MetaTrainerState {
  format: 'meta-trainer';
  version: 1;
  arch: string;
  estimator: string;
  metaStep: number;
  seed: number;
  metaParams: number[];
  metaOptimizer: OptimizerStateDict;
  estimatorState: unknown;
  history: MetaStepRecord[];
}

/**
 * The meta-training loop. Each meta-step asks the estimator for
 * `estimatesPerStep` estimates (in-process, or through an {@link EstimatePool}
 * of worker threads), averages them in index order, clips the average to
 * `clipNorm`, and lets the meta-optimizer (Adam) update the meta-parameters:
 *
 * ```
 * ĝ = (1/N) Σ_{i<N} estimate_i(θ),   ĝ ← ĝ · min(1, c / ‖ĝ‖),   θ ← Adam(θ, ĝ)
 * ```
 *
 * Every estimate is seeded by `(seed, metaStep, index)` and reduced in index
 * order, so the result does not depend on the number of threads; with
 * {@link MetaTrainer.stateDict} (meta-parameters, Adam state, estimator state,
 * metric log) a resumed run continues bit-identically.
 *
 * @example
 * ```ts
 * const objective = new UnrollObjective({ factory, sampler, horizon: 100 });
 * const trainer = new MetaTrainer({ factory, estimator: new AntitheticES({ objective }), estimatesPerStep: 8, metaSteps: 600 });
 * trainer.train();
 * trainer.metaParams; // the meta-trained weights
 * ```
 */
export class MetaTrainer {
  /** The meta-parameters, updated in place. */
  readonly metaParams: Float64Array;
  /** The factory being trained. */
  readonly factory: LearnedOptimizerFactory;
  /** The estimator. */
  readonly estimator: MetaGradientEstimator;
  /** Meta-steps to run in total. */
  readonly metaSteps: number;
  /** Estimates per meta-step. */
  readonly estimatesPerStep: number;
  /** Gradient clipping norm. */
  readonly clipNorm: number;
  /** Base seed. */
  readonly seed: number;
  /** The metric log, one record per meta-step done. */
  readonly history: MetaStepRecord[] = [];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any core optimizer
  private readonly optimizer: Optimizer<any, any>;
  private readonly param: Parameter;
  private readonly grad: Float64Array;
  private readonly scratch: Float64Array;
  private readonly onProgress: ((record: MetaStepRecord, trainer: MetaTrainer) => void) | undefined;
  private step_ = 0;

  constructor(options: MetaTrainerOptions) {
    const where = 'MetaTrainer';
    if (options.factory === undefined) throw new InvalidOptionError('factory', undefined, 'a LearnedOptimizerFactory', where);
    if (options.estimator === undefined) throw new InvalidOptionError('estimator', undefined, 'a MetaGradientEstimator', where);
    this.factory = options.factory;
    this.estimator = options.estimator;
    this.metaSteps = checkInteger(where, 'metaSteps', options.metaSteps, 0);
    this.estimatesPerStep = checkInteger(where, 'estimatesPerStep', options.estimatesPerStep ?? 1, 1);
    this.clipNorm = checkPositive(where, 'clipNorm', options.clipNorm ?? 10);
    this.seed = options.seed ?? 0;
    if (!Number.isFinite(this.seed)) throw new InvalidOptionError('seed', this.seed, 'a finite number', where);
    const init = options.initialMetaParams ?? this.factory.initialMetaParams();
    if (init.length !== this.factory.metaParamCount) {
      throw new InvalidOptionError('initialMetaParams', init.length, `${this.factory.metaParamCount} values`, where);
    }
    this.metaParams = Float64Array.from(init);
    this.param = new Parameter(this.metaParams, [this.metaParams.length], 'metaParams');
    this.grad = new Float64Array(this.metaParams.length);
    this.scratch = new Float64Array(this.metaParams.length);
    const meta = options.metaOptimizer;
    if (typeof meta === 'function') this.optimizer = meta([this.param]);
    else this.optimizer = new Adam([this.param], { lr: meta?.lr ?? 3e-3, betas: meta?.betas ?? [0.9, 0.999] });
    this.onProgress = options.onProgress;
  }

  /** Meta-steps done so far. */
  get metaStep(): number {
    return this.step_;
  }

  /** Whether {@link MetaTrainer.metaSteps} meta-steps are done. */
  get done(): boolean {
    return this.step_ >= this.metaSteps;
  }

  /** One meta-step with every estimate computed in this thread. */
  step(): MetaStepRecord {
    const n = this.estimatesPerStep;
    this.grad.fill(0);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      loss += this.estimator.estimate(this.metaParams, this.scratch, { metaStep: this.step_, index: i, seed: this.seed });
      for (let j = 0; j < this.grad.length; j++) this.grad[j] = this.grad[j]! + this.scratch[j]!;
    }
    return this.apply(loss);
  }

  /** One meta-step with the estimates computed by `pool` (in-process when omitted). */
  async stepAsync(pool?: EstimatePool): Promise<MetaStepRecord> {
    if (pool === undefined) return this.step();
    const results = await pool.estimateMany(this.metaParams, this.step_, this.seed, this.estimatesPerStep);
    if (results.length !== this.estimatesPerStep) {
      throw new InvalidOptionError('pool', results.length, `${this.estimatesPerStep} results`, 'MetaTrainer.stepAsync');
    }
    this.grad.fill(0);
    let loss = 0;
    for (const r of results) {
      loss += r.loss;
      for (let j = 0; j < this.grad.length; j++) this.grad[j] = this.grad[j]! + r.grad[j]!;
    }
    return this.apply(loss);
  }

  /** Average, clip, update, log. */
  private apply(lossSum: number): MetaStepRecord {
    const n = this.estimatesPerStep;
    const g = this.grad;
    let sq = 0;
    for (let j = 0; j < g.length; j++) {
      g[j] = g[j]! / n;
      sq += g[j]! * g[j]!;
    }
    const norm = Math.sqrt(sq);
    let clipped = false;
    if (!Number.isFinite(norm)) {
      // A non-finite estimate (an inner run the penalty did not catch) would poison Adam's moments: skip the update.
      g.fill(0);
      clipped = true;
    } else if (norm > this.clipNorm) {
      const c = this.clipNorm / norm;
      for (let j = 0; j < g.length; j++) g[j] = g[j]! * c;
      clipped = true;
    }
    this.param.grad = g;
    this.optimizer.step();
    const record: MetaStepRecord = { metaStep: this.step_, metaLoss: lossSum / n, gradNorm: norm, clipped };
    this.history.push(record);
    this.step_++;
    this.onProgress?.(record, this);
    return record;
  }

  /** Run the remaining meta-steps in this thread; returns the metric log. */
  train(): MetaStepRecord[] {
    while (!this.done) this.step();
    return this.history;
  }

  /** Run the remaining meta-steps through `pool` (in-process when omitted). */
  async trainAsync(pool?: EstimatePool): Promise<MetaStepRecord[]> {
    while (!this.done) await this.stepAsync(pool);
    return this.history;
  }

  /** Everything needed to resume: meta-parameters, meta-optimizer state, estimator state, metric log. */
  stateDict(): MetaTrainerState {
    return {
      format: 'meta-trainer',
      version: 1,
      arch: this.factory.arch,
      estimator: this.estimator.name,
      metaStep: this.step_,
      seed: this.seed,
      metaParams: Array.from(this.metaParams),
      metaOptimizer: this.optimizer.stateDict(),
      estimatorState: this.estimator.stateDict?.() ?? null,
      history: this.history.map((r) => ({ ...r })),
    };
  }

  /**
   * Restore a {@link MetaTrainer.stateDict}: the run continues exactly where it stopped.
   * @throws `StateDictError` when the state belongs to another architecture, estimator or seed.
   */
  loadStateDict(state: MetaTrainerState): void {
    const where = 'MetaTrainer.loadStateDict';
    if (state === null || typeof state !== 'object' || state.format !== 'meta-trainer' || state.version !== 1) {
      throw new StateDictError(`${where}: expected a meta-trainer state of version 1`);
    }
    if (state.arch !== this.factory.arch) throw new StateDictError(`${where}: state of arch '${state.arch}', trainer of '${this.factory.arch}'`);
    if (state.estimator !== this.estimator.name) {
      throw new StateDictError(`${where}: state of estimator '${state.estimator}', trainer of '${this.estimator.name}'`);
    }
    if (state.seed !== this.seed) throw new StateDictError(`${where}: state of seed ${state.seed}, trainer of seed ${this.seed}`);
    if (!Array.isArray(state.metaParams) || state.metaParams.length !== this.metaParams.length) {
      throw new StateDictError(`${where}: expected ${this.metaParams.length} meta-parameters`);
    }
    this.metaParams.set(state.metaParams);
    this.optimizer.loadStateDict(state.metaOptimizer);
    if (this.estimator.loadStateDict !== undefined && state.estimatorState !== null) this.estimator.loadStateDict(state.estimatorState);
    this.history.length = 0;
    for (const r of state.history) this.history.push({ ...r });
    this.step_ = state.metaStep;
  }
}
