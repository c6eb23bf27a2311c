import { InvalidOptionError, Parameter, Rng, StateDictError } from '@opt/tensor';
import {
  type OptimizerStateDict,
  type TensorJson,
  checkInteger,
  checkPositive,
  decodeTensor,
  encodeTensor,
} from '@opt/core';
import type { Optimizer } from '@opt/core';
import type { FunctionalBatch, FunctionalModel, MetaTask } from './functional.js';

/** Any `@opt/core` optimizer, as the outer loop of a meta-learner uses it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any optimizer's options and state
export type MetaOptimizer = Optimizer<any, any>;

/** Builds the optimizer of the meta-parameters (outer loop), e.g. `(ps) => new Adam(ps, { lr: 1e-3 })`. */
export type MetaOptimizerFactory = (params: Parameter[]) => MetaOptimizer;

/** Options shared by {@link MAML}, {@link FOMAML}, {@link Reptile} and {@link MetaSGD}. */
export interface MetaLearnerOptions {
  /** Inner-loop SGD step size α. Must be > 0. Default 0.01 (Finn et al. 2017, sinusoid). */
  innerLr?: number;
  /** Inner-loop SGD steps k used in meta-training. Integer ≥ 1. Default 1. */
  innerSteps?: number;
  /** Learning rate of the default meta-optimizer (Adam). Must be > 0. Default 1e-3. */
  metaLr?: number;
  /** Seed of the initial meta-parameters (`model.init(new Rng(seed))`). Default 0. */
  seed?: number;
  /** Initial θ instead of `model.init` (copied). */
  initialParams?: Float64Array;
  /** Meta-optimizer over the meta-parameters. Default: `Adam` with `lr: metaLr`. */
  metaOptimizer?: MetaOptimizerFactory;
}

/** Options of {@link MetaLearner.evaluate}. */
export interface MetaEvaluateOptions {
  /** Adaptation step counts after which the query loss is recorded (0 = no adaptation). Default `[innerSteps]`. */
  steps?: readonly number[];
}

/** What {@link MetaLearner.evaluate} returns: for each requested step count, the query loss over the tasks. */
export interface MetaEvaluation {
  /** The step counts, ascending. */
  steps: number[];
  /** Mean query loss after `steps[i]` adaptation steps. */
  mean: number[];
  /** Half-width of the normal 95% confidence interval of `mean[i]`: `1.96 · sd / √n`. */
  ci95: number[];
  /** The per-task query losses, `perTask[i][t]` for `steps[i]` and task t. */
  perTask: Float64Array[];
}

/** The JSON-safe state of a {@link MetaLearner} (meta-parameters, meta-optimizer, iteration count). */
export interface MetaLearnerStateDict {
  format: '@opt/meta-learner';
  version: 1;
  /** The algorithm that wrote it, e.g. `"MAML"`. */
  algorithm: string;
  /** Meta-iterations done. */
  iterations: number;
  /** The meta-parameters by name (`theta`, and `alpha` for Meta-SGD), lossless. */
  params: Record<string, TensorJson>;
  /** The meta-optimizer's state dict. */
  optimizer: OptimizerStateDict;
}

/** The learner's fixed settings after validation. */
export interface ResolvedMetaLearnerOptions {
  innerLr: number;
  innerSteps: number;
  metaLr: number;
}

/**
 * Base of the gradient-based meta-learners over a {@link FunctionalModel}: it
 * owns the meta-parameters θ (a `Parameter`, so any `@opt/core` optimizer can
 * update them), the meta-optimizer and the iteration count, and implements the
 * common API: {@link MetaLearner.metaStep} (meta-gradient then one optimizer
 * step), {@link MetaLearner.adapt} (few-shot adaptation by SGD from θ),
 * {@link MetaLearner.evaluate} and lossless, bit-identical
 * {@link MetaLearner.stateDict} / {@link MetaLearner.loadStateDict}.
 *
 * A subclass defines the meta-gradient ({@link MetaLearner.metaGradient}) and,
 * where its inner step is not plain SGD with `innerLr`, {@link MetaLearner.innerStep}.
 */
export abstract class MetaLearner {
  /** Algorithm name, written into state dicts. */
  readonly name: string;
  /** The task model. */
  readonly model: FunctionalModel;
  /** The meta-learned initialisation θ (float64, `model.paramCount` values). */
  readonly theta: Parameter;
  /** The optimizer of the meta-parameters. */
  readonly metaOptimizer: MetaOptimizer;
  /** Validated settings. */
  readonly options: Readonly<ResolvedMetaLearnerOptions>;
  /** Meta-iterations done (one per {@link MetaLearner.metaStep}). */
  iterations = 0;
  /** Scratch gradient of one model evaluation. */
  protected readonly scratchGrad: Float64Array;

  /**
   * @param name - algorithm name.
   * @param model - the task model.
   * @param options - validated against the common rules.
   * @param defaults - the algorithm's defaults.
   * @param extraParams - further meta-parameters (Meta-SGD's α), built once θ exists.
   * @param defaultOptimizer - the meta-optimizer when `options.metaOptimizer` is absent.
   */
  protected constructor(
    name: string,
    model: FunctionalModel,
    options: MetaLearnerOptions,
    defaults: ResolvedMetaLearnerOptions,
    extraParams: (rng: Rng, paramCount: number) => Parameter[],
    defaultOptimizer: (params: Parameter[], metaLr: number) => MetaOptimizer,
  ) {
    this.name = name;
    if (typeof model !== 'object' || model === null || !Number.isInteger(model.paramCount) || model.paramCount < 1) {
      throw new InvalidOptionError('model', model, 'a FunctionalModel with paramCount >= 1', name);
    }
    this.model = model;
    const o = options ?? {};
    this.options = Object.freeze({
      innerLr: checkPositive(name, 'innerLr', o.innerLr ?? defaults.innerLr),
      innerSteps: checkInteger(name, 'innerSteps', o.innerSteps ?? defaults.innerSteps, 1),
      metaLr: checkPositive(name, 'metaLr', o.metaLr ?? defaults.metaLr),
    });
    const seed = o.seed ?? 0;
    if (typeof seed !== 'number' || !Number.isFinite(seed)) throw new InvalidOptionError('seed', seed, 'a finite number', name);
    const rng = new Rng(seed);
    let theta: Float64Array;
    if (o.initialParams !== undefined) {
      if (!(o.initialParams instanceof Float64Array) || o.initialParams.length !== model.paramCount) {
        throw new InvalidOptionError('initialParams', o.initialParams, `a Float64Array of ${model.paramCount} values`, name);
      }
      theta = o.initialParams.slice();
    } else {
      theta = model.init(rng);
    }
    this.theta = new Parameter(theta, [theta.length], 'theta');
    const params = [this.theta, ...extraParams(rng, model.paramCount)];
    for (const p of params) p.grad = new Float64Array(p.size);
    if (o.metaOptimizer !== undefined && typeof o.metaOptimizer !== 'function') {
      throw new InvalidOptionError('metaOptimizer', o.metaOptimizer, 'a function (params) => Optimizer', name);
    }
    this.metaOptimizer = o.metaOptimizer ? o.metaOptimizer(params) : defaultOptimizer(params, this.options.metaLr);
    this.scratchGrad = new Float64Array(model.paramCount);
  }

  /** Every meta-parameter, in the order of the meta-optimizer's groups: θ first. */
  get parameters(): Parameter[] {
    return [this.theta];
  }

  /**
   * Write the meta-gradient of the mean post-adaptation query loss over
   * `tasks` into the `grad` of every meta-parameter (overwritten).
   *
   * @returns the mean query loss after adaptation, at the current meta-parameters.
   */
  abstract metaGradient(tasks: readonly MetaTask[]): number;

  /**
   * One meta-iteration: {@link MetaLearner.metaGradient} over the task batch,
   * then one step of the meta-optimizer.
   *
   * @returns the mean post-adaptation query loss before the update.
   */
  metaStep(tasks: readonly MetaTask[]): number {
    if (!Array.isArray(tasks) || tasks.length === 0) {
      throw new InvalidOptionError('tasks', tasks, 'a non-empty array of {support, query} tasks', `${this.name}.metaStep`);
    }
    const loss = this.metaGradient(tasks);
    this.metaOptimizer.step();
    this.afterMetaStep();
    this.iterations++;
    return loss;
  }

  /**
   * Few-shot adaptation: `steps` inner steps on `support` from θ (SGD with
   * `innerLr`; Meta-SGD: with its learned α).
   *
   * @param support - the task's support batch.
   * @param steps - inner steps; default `innerSteps`.
   * @param out - where to write the adapted parameters (default: a new array).
   * @returns the adapted parameters.
   */
  adapt(support: FunctionalBatch, steps: number = this.options.innerSteps, out?: Float64Array): Float64Array {
    checkInteger(`${this.name}.adapt`, 'steps', steps, 0);
    const params = out ?? new Float64Array(this.model.paramCount);
    if (params.length !== this.model.paramCount) {
      throw new InvalidOptionError('out', params.length, `a Float64Array of ${this.model.paramCount} values`, `${this.name}.adapt`);
    }
    params.set(this.thetaData());
    for (let s = 0; s < steps; s++) {
      this.model.lossAndGrad(params, support, this.scratchGrad);
      this.innerStep(params, this.scratchGrad, params);
    }
    return params;
  }

  /**
   * Mean query loss after adapting to each task's support set, recorded after
   * each requested number of steps (one adaptation run per task, up to the
   * largest count), with a 95% confidence interval over the tasks.
   */
  evaluate(tasks: readonly MetaTask[], options: MetaEvaluateOptions = {}): MetaEvaluation {
    const where = `${this.name}.evaluate`;
    if (!Array.isArray(tasks) || tasks.length === 0) throw new InvalidOptionError('tasks', tasks, 'a non-empty array of tasks', where);
    const steps = [...(options.steps ?? [this.options.innerSteps])].sort((a, b) => a - b);
    if (steps.length === 0) throw new InvalidOptionError('steps', steps, 'a non-empty array of step counts', where);
    steps.forEach((s, i) => checkInteger(where, `steps[${i}]`, s, 0));
    const perTask = steps.map(() => new Float64Array(tasks.length));
    const params = new Float64Array(this.model.paramCount);
    const last = steps[steps.length - 1]!;
    for (let t = 0; t < tasks.length; t++) {
      const task = tasks[t]!;
      params.set(this.thetaData());
      let next = 0;
      for (let s = 0; s <= last; s++) {
        if (s > 0) {
          this.model.lossAndGrad(params, task.support, this.scratchGrad);
          this.innerStep(params, this.scratchGrad, params);
        }
        while (next < steps.length && steps[next] === s) perTask[next++]![t] = this.model.loss(params, task.query);
      }
    }
    const mean: number[] = [];
    const ci95: number[] = [];
    for (const losses of perTask) {
      let sum = 0;
      for (let t = 0; t < losses.length; t++) sum += losses[t]!;
      const m = sum / losses.length;
      let ss = 0;
      for (let t = 0; t < losses.length; t++) ss += (losses[t]! - m) ** 2;
      const sd = losses.length > 1 ? Math.sqrt(ss / (losses.length - 1)) : 0;
      mean.push(m);
      ci95.push((1.96 * sd) / Math.sqrt(losses.length));
    }
    return { steps, mean, ci95, perTask };
  }

  /** The learner's state: meta-parameters, meta-optimizer state and iteration count (JSON-safe, lossless). */
  stateDict(): MetaLearnerStateDict {
    const params: Record<string, TensorJson> = {};
    for (const p of this.parameters) params[p.name!] = encodeTensor(p.data);
    return {
      format: '@opt/meta-learner',
      version: 1,
      algorithm: this.name,
      iterations: this.iterations,
      params,
      optimizer: this.metaOptimizer.stateDict(),
    };
  }

  /**
   * Restore what {@link MetaLearner.stateDict} returned; training then
   * continues bit-identically. All-or-nothing: on a mismatch a
   * `StateDictError` is thrown and the learner is unchanged.
   */
  loadStateDict(state: MetaLearnerStateDict): void {
    const where = `${this.name}.loadStateDict`;
    const sd = state as Partial<MetaLearnerStateDict> | null;
    if (typeof sd !== 'object' || sd === null || sd.format !== '@opt/meta-learner' || sd.version !== 1) {
      throw new StateDictError(`${where}: expected a "@opt/meta-learner" state dict of version 1`);
    }
    if (sd.algorithm !== this.name) throw new StateDictError(`${where}: the state dict was written by ${String(sd.algorithm)}, not ${this.name}`);
    if (!Number.isInteger(sd.iterations) || sd.iterations! < 0) {
      throw new StateDictError(`${where}: iterations must be an integer >= 0, got ${String(sd.iterations)}`);
    }
    if (typeof sd.params !== 'object' || sd.params === null || typeof sd.optimizer !== 'object' || sd.optimizer === null) {
      throw new StateDictError(`${where}: expected "params" and "optimizer"`);
    }
    const decoded = this.parameters.map((p) => decodeTensor(sd.params![p.name!], 'float64', `${where}: params.${p.name!}`, p.size));
    this.metaOptimizer.loadStateDict(sd.optimizer);
    this.parameters.forEach((p, i) => p.data.set(decoded[i]!));
    this.iterations = sd.iterations!;
  }

  /**
   * One inner SGD step `out = params − innerLr · grad` (`out` may be `params`).
   * Meta-SGD overrides it with its per-parameter α.
   */
  protected innerStep(params: Float64Array, grad: Float64Array, out: Float64Array): void {
    const lr = this.options.innerLr;
    for (let i = 0; i < out.length; i++) out[i] = params[i]! - lr * grad[i]!;
  }

  /** Hook after each meta-optimizer step (Meta-SGD clamps α). */
  protected afterMetaStep(): void {}

  /** θ as a float64 array (the meta-optimizer updates it in place). */
  protected thetaData(): Float64Array {
    return this.theta.data as Float64Array;
  }

  /** The `grad` buffer of a meta-parameter (created at construction). */
  protected gradOf(p: Parameter): Float64Array {
    return p.grad as Float64Array;
  }
}
