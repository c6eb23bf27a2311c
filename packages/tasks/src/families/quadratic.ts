import { checkBoolean, checkFinite, checkInteger } from '@opt/core';
import { type DType, InvalidOptionError, Rng } from '@opt/tensor';
import { IllConditionedQuadratic } from '../functions/quadratic.js';
import { type ParamsInfo, type Task, type TaskFamily, paramsInfo } from '../objective.js';

/** A fixed value or an inclusive range `[min, max]` to sample from. */
export type Sampled = number | readonly [number, number];

/** Options of {@link RandomQuadraticFamily}. */
export interface RandomQuadraticFamilyOptions {
  /** Dimension n, or an inclusive integer range sampled uniformly. Default `[2, 50]`. */
  dimension?: Sampled;
  /** Condition number κ ≥ 1, or a range sampled log-uniformly. Default `[1, 1e4]`. */
  conditionNumber?: Sampled;
  /** Rotate each task's eigenbasis (a random orthogonal basis per task). Default true. */
  rotate?: boolean;
  /** Standard deviation of the N(0, s²) starting point (0: start at the origin). Default 0. */
  startScale?: number;
  /** dtype of the parameters. Default `'float64'`. */
  dtype?: DType;
}

/**
 * One task of {@link RandomQuadraticFamily}: an {@link IllConditionedQuadratic}
 * with its sampled dimension, condition number and rotation.
 */
export class QuadraticTask implements Task {
  readonly name: string;
  readonly objective: IllConditionedQuadratic;
  readonly params: ParamsInfo;
  /** The seed the task was sampled from. */
  readonly seed: number;

  constructor(name: string, objective: IllConditionedQuadratic, seed: number) {
    this.name = name;
    this.objective = objective;
    this.params = paramsInfo(objective);
    this.seed = seed;
  }

  /** The sampled dimension n. */
  get dimension(): number {
    return this.objective.dimension;
  }

  /** The sampled condition number κ. */
  get conditionNumber(): number {
    return this.objective.conditionNumber;
  }

  /** Restore the starting point. */
  reset(): void {
    this.objective.reset();
  }
}

/** Validate a {@link Sampled} option: a number or an ordered pair, each within `[lo, ∞)`. */
function checkSampled(where: string, option: string, value: Sampled, lo: number, integer: boolean): void {
  const values = typeof value === 'number' ? [value] : Array.isArray(value) && value.length === 2 ? value : null;
  if (values === null) throw new InvalidOptionError(option, value, 'a number or a range [min, max]', where);
  values.forEach((v, i) => {
    const name = typeof value === 'number' ? option : `${option}[${i}]`;
    if (integer) checkInteger(where, name, v, lo);
    else if (typeof v !== 'number' || !Number.isFinite(v) || v < lo) throw new InvalidOptionError(name, v, `a finite number >= ${lo}`, where);
  });
  if (values.length === 2 && values[0]! > values[1]!) throw new InvalidOptionError(option, value, 'a range with min <= max', where);
}

/** An integer uniform on `[min, max]`. */
export function sampleInteger(rng: Rng, value: Sampled): number {
  if (typeof value === 'number') return value;
  return value[0] + rng.int(value[1] - value[0] + 1);
}

/** A number log-uniform on `[min, max]` (both > 0). */
export function sampleLogUniform(rng: Rng, value: Sampled): number {
  if (typeof value === 'number') return value;
  return Math.exp(rng.uniform(Math.log(value[0]), Math.log(value[1])));
}

/**
 * Random strictly convex quadratics `f(x) = ½(x − x*)ᵀA(x − x*)`: for each
 * seed the family draws, from `Rng(seed)` in this order, the dimension n
 * (uniform integer), the condition number κ (log-uniform), and a seed for the
 * {@link IllConditionedQuadratic} that builds the random rotation and the
 * minimiser x* ~ N(0, I), then (when `startScale > 0`) the start x₀ ~ N(0, s²I).
 *
 * The minimum is 0 at x*, so the suboptimality `f(x)` is directly comparable
 * across tasks; the family probes how an optimizer copes with conditioning and
 * with a non-axis-aligned eigenbasis.
 *
 * @example
 * ```ts
 * import { Adam } from '@opt/core';
 * const family = new RandomQuadraticFamily({ dimension: [5, 20], conditionNumber: [10, 1000] });
 * const task = family.sample(7);
 * const opt = new Adam(task.objective.parameters, { lr: 0.05 });
 * for (let i = 0; i < 200; i++) opt.step(() => task.objective.lossAndGrad());
 * ```
 */
export class RandomQuadraticFamily implements TaskFamily<QuadraticTask> {
  readonly name = 'quadratic';
  private readonly dimension: Sampled;
  private readonly conditionNumber: Sampled;
  private readonly rotate: boolean;
  private readonly startScale: number;
  private readonly dtype: DType;

  constructor(options: RandomQuadraticFamilyOptions = {}) {
    const where = 'RandomQuadraticFamily';
    this.dimension = options.dimension ?? [2, 50];
    this.conditionNumber = options.conditionNumber ?? [1, 1e4];
    checkSampled(where, 'dimension', this.dimension, 1, true);
    checkSampled(where, 'conditionNumber', this.conditionNumber, 1, false);
    this.rotate = checkBoolean(where, 'rotate', options.rotate ?? true);
    this.startScale = options.startScale ?? 0;
    if (!Number.isFinite(this.startScale) || this.startScale < 0) {
      throw new InvalidOptionError('startScale', this.startScale, 'a finite number >= 0', where);
    }
    this.dtype = options.dtype ?? 'float64';
  }

  /** The task of `seed`: same seed, identical matrix, minimiser and start. */
  sample(seed: number): QuadraticTask {
    checkFinite('RandomQuadraticFamily.sample', 'seed', seed);
    const rng = new Rng(seed);
    const n = sampleInteger(rng, this.dimension);
    // A 1-dimensional quadratic has condition number 1 whatever was asked.
    const kappa = n === 1 ? 1 : sampleLogUniform(rng, this.conditionNumber);
    const quadraticSeed = rng.nextUint32();
    const x0 = this.startScale > 0 ? rng.fillNormal(new Float64Array(n), 0, this.startScale) : new Float64Array(n);
    const objective = new IllConditionedQuadratic({
      dimension: n,
      conditionNumber: kappa,
      seed: quadraticSeed,
      rotate: this.rotate,
      dtype: this.dtype,
      x0,
    });
    return new QuadraticTask(`${this.name}/n${n}/kappa${kappa.toPrecision(3)}/seed${seed}`, objective, seed);
  }
}
