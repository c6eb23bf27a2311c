import { type DType, type FloatArray, InvalidOptionError, Rng, allocate } from '@opt/tensor';
import { checkFinite, checkInteger, checkOneOf } from '@opt/core';
import { type Batch, type ParamsInfo, type Task, type TaskEvaluation, type TaskFamily, paramsInfo } from '../objective.js';
import type { Layer } from '../nn/layer.js';
import { MSEObjective } from '../nn/objectives.js';
import { type Activation, type Sequential, mlp } from '../nn/sequential.js';

/** A closed interval `[low, high]`. */
export type Interval = readonly [number, number];

/** Options of {@link SinusoidFamily}; the defaults are the setup of Finn et al. (2017), §5.1. */
export interface SinusoidFamilyOptions {
  /** Range of the amplitude A, drawn uniformly. Default `[0.1, 5]`. */
  amplitude?: Interval;
  /** Range of the phase φ, drawn uniformly. Default `[0, π]`. */
  phase?: Interval;
  /** Range of the inputs x, drawn uniformly. Default `[-5, 5]`. */
  inputRange?: Interval;
  /** Hidden widths of the default model `1 → hidden… → 1`. Default `[40, 40]`. */
  hidden?: readonly number[];
  /** Hidden activation of the default model. Default `'relu'`. */
  activation?: Activation;
  /** Support points K of a task's default objective and of `evaluate`'s training loss. Default 10. */
  shots?: number;
  /** Query points of `evaluate`'s test loss. Default 100. */
  queryShots?: number;
  /** dtype of the models and batches. Default `'float64'`. */
  dtype?: DType;
}

/** {@link SinusoidFamily} options with every default filled in, as a task receives them. */
export interface ResolvedSinusoidOptions {
  amplitude: Interval;
  phase: Interval;
  inputRange: Interval;
  hidden: readonly number[];
  activation: Activation;
  shots: number;
  queryShots: number;
  dtype: DType;
}

/**
 * One sinusoid regression task `y = A·sin(x − φ)` of {@link SinusoidFamily}:
 * seeded support and query sets of any size, an MSE objective for any model
 * (`objectiveFor`, e.g. a meta-learned model), and a default objective over a
 * freshly initialised model of its own (to satisfy {@link Task}).
 *
 * @example
 * ```ts
 * const task = new SinusoidFamily().sample(0);
 * const support = task.support(5);   // 5-shot: x [5, 1], y [5]
 * task.objective.lossAndGrad();      // MSE of the task's own model on support(10)
 * task.target(1.0);                  // A·sin(1 − φ)
 * ```
 */
export class SinusoidTask implements Task {
  readonly name: string;
  /** The seed the task was sampled from. */
  readonly seed: number;
  /** The amplitude A. */
  readonly amplitude: number;
  /** The phase φ. */
  readonly phase: number;
  /** The task's own model (`1 → hidden… → 1`), trained by {@link SinusoidTask.objective}. */
  readonly model: Sequential;
  /** MSE of {@link SinusoidTask.model} over `support(shots)`. */
  readonly objective: MSEObjective;
  readonly params: ParamsInfo;
  private readonly supportSeed: number;
  private readonly querySeed: number;
  private readonly options: ResolvedSinusoidOptions;
  private readonly initial: FloatArray[];

  /**
   * @param name - the task's name.
   * @param seed - the seed it was sampled from.
   * @param draws - amplitude, phase, the support and query seeds and the model seed.
   * @param options - the family's resolved options.
   */
  constructor(
    name: string,
    seed: number,
    draws: { amplitude: number; phase: number; supportSeed: number; querySeed: number; modelSeed: number },
    options: ResolvedSinusoidOptions,
  ) {
    this.name = name;
    this.seed = seed;
    this.amplitude = draws.amplitude;
    this.phase = draws.phase;
    this.supportSeed = draws.supportSeed;
    this.querySeed = draws.querySeed;
    this.options = options;
    this.model = mlp({ sizes: [1, ...options.hidden, 1], activation: options.activation, dtype: options.dtype, seed: draws.modelSeed });
    this.objective = this.objectiveFor(this.model, this.support(options.shots));
    this.params = paramsInfo(this.objective);
    this.initial = this.objective.parameters.map((p) => p.data.slice());
  }

  /** The target function `A·sin(x − φ)`. */
  target(x: number): number {
    return this.amplitude * Math.sin(x - this.phase);
  }

  /**
   * The first `k` support points: x uniform on the input range from the task's
   * support stream, y = target(x). The same `k` always gives the same points,
   * and `support(k)` is a prefix of `support(k + 1)`. A fresh batch (`x` `[k, 1]`, `y` `[k]`).
   */
  support(k: number): Batch {
    return this.points('support', k, this.supportSeed);
  }

  /** The first `k` query points, from a stream independent of the support stream (as {@link SinusoidTask.support}). */
  query(k: number): Batch {
    return this.points('query', k, this.querySeed);
  }

  /**
   * The MSE objective of `model` on this task: its default batch is `batch`
   * (default `support(shots)`); `loss(b)`/`lossAndGrad(b)` take any other batch,
   * e.g. `query(k)` for a MAML outer step.
   */
  objectiveFor(model: Layer, batch: Batch = this.support(this.options.shots)): MSEObjective {
    return new MSEObjective(model, { x: batch.x.subarray(0, batch.size), y: batch.y.subarray(0, batch.size), inputs: 1 }, { dtype: this.options.dtype });
  }

  /** Restore the task model's initial parameters. */
  reset(): void {
    this.objective.parameters.forEach((p, k) => p.data.set(this.initial[k]!));
  }

  /** MSE of the task model on `support(shots)` (train) and `query(queryShots)` (test). */
  evaluate(): TaskEvaluation {
    return { trainLoss: this.objective.loss(), testLoss: this.objective.loss(this.query(this.options.queryShots)) };
  }

  private points(what: string, k: number, seed: number): Batch {
    checkInteger(`SinusoidTask.${what}`, 'k', k, 1);
    const rng = new Rng(seed);
    const [lo, hi] = this.options.inputRange;
    const x = allocate(this.options.dtype, k);
    const y = allocate(this.options.dtype, k);
    for (let i = 0; i < k; i++) {
      const v = rng.uniform(lo, hi);
      x[i] = v;
      // The target of the stored input, so float32 batches are exactly consistent.
      y[i] = this.target(x[i]!);
    }
    return { x, y, size: k };
  }
}

function checkInterval(where: string, option: string, value: Interval | undefined, fallback: Interval): Interval {
  const v = value ?? fallback;
  if (!Array.isArray(v) || v.length !== 2) throw new InvalidOptionError(option, v, 'an interval [low, high]', where);
  checkFinite(where, `${option}[0]`, v[0]);
  checkFinite(where, `${option}[1]`, v[1]);
  if (!(v[0] <= v[1])) throw new InvalidOptionError(option, v, 'an interval [low, high] with low <= high', where);
  return [v[0], v[1]];
}

/**
 * Few-shot sinusoid regression, the benchmark of Finn, Abbeel & Levine (2017,
 * "Model-Agnostic Meta-Learning", §5.1): each task is `y = A·sin(x − φ)` (the
 * sign of the authors' data generator) with
 * A ~ U[0.1, 5], φ ~ U[0, π], inputs x ~ U[−5, 5], fitted by an MLP 1-40-40-1
 * with ReLU under the mean squared error (K = 10 support points by default).
 *
 * For each seed, `Rng(seed)` draws A, then φ, then the seeds of the support
 * stream, the query stream and the task model's initialisation.
 *
 * @example
 * ```ts
 * import { SGD } from '@opt/core';
 * import { SinusoidFamily } from '@opt/tasks';
 * const family = new SinusoidFamily();
 * const meta = family.createModel(0);              // shared across tasks
 * const task = family.sample(3);
 * const inner = task.objectiveFor(meta, task.support(10));
 * const opt = new SGD(inner.parameters, { lr: 0.01 });
 * opt.step(() => inner.lossAndGrad());             // one adaptation step
 * inner.loss(task.query(10));                      // post-adaptation query loss
 * ```
 */
export class SinusoidFamily implements TaskFamily<SinusoidTask> {
  readonly name = 'sinusoid';
  private readonly options: ResolvedSinusoidOptions;

  /** @param options - ranges, default model and sizes; defaults from Finn et al. (2017). */
  constructor(options: SinusoidFamilyOptions = {}) {
    const where = 'SinusoidFamily';
    const hidden = options.hidden ?? [40, 40];
    if (!Array.isArray(hidden)) throw new InvalidOptionError('hidden', hidden, 'an array of hidden widths', where);
    hidden.forEach((h, i) => checkInteger(where, `hidden[${i}]`, h, 1));
    this.options = Object.freeze({
      amplitude: checkInterval(where, 'amplitude', options.amplitude, [0.1, 5]),
      phase: checkInterval(where, 'phase', options.phase, [0, Math.PI]),
      inputRange: checkInterval(where, 'inputRange', options.inputRange, [-5, 5]),
      hidden: Object.freeze([...hidden]),
      activation: checkOneOf<Activation>(where, 'activation', options.activation ?? 'relu', ['relu', 'tanh', 'gelu', 'sigmoid']),
      shots: checkInteger(where, 'shots', options.shots ?? 10, 1),
      queryShots: checkInteger(where, 'queryShots', options.queryShots ?? 100, 1),
      dtype: checkOneOf<DType>(where, 'dtype', options.dtype ?? 'float64', ['float32', 'float64']),
    });
  }

  /** A fresh model `1 → hidden… → 1` of the family's architecture (e.g. a meta-learner), seeded. */
  createModel(seed: number): Sequential {
    const { hidden, activation, dtype } = this.options;
    return mlp({ sizes: [1, ...hidden, 1], activation, dtype, seed });
  }

  /** The task of `seed`: same seed, identical amplitude, phase, points and task model. */
  sample(seed: number): SinusoidTask {
    checkFinite('SinusoidFamily.sample', 'seed', seed);
    const rng = new Rng(seed);
    const amplitude = rng.uniform(this.options.amplitude[0], this.options.amplitude[1]);
    const phase = rng.uniform(this.options.phase[0], this.options.phase[1]);
    const supportSeed = rng.nextUint32();
    const querySeed = rng.nextUint32();
    const modelSeed = rng.nextUint32();
    const name = `sinusoid/A${amplitude.toFixed(3)}-phase${phase.toFixed(3)}/seed${seed}`;
    return new SinusoidTask(name, seed, { amplitude, phase, supportSeed, querySeed, modelSeed }, this.options);
  }
}
