import { InvalidOptionError, Rng, type RngState, StateDictError } from '@opt/tensor';
import { checkInteger } from '@opt/core';
import type { Batch, Interval, SinusoidTask } from '@opt/tasks';
import type { FunctionalBatch, MetaTask } from './functional.js';

/**
 * Convert an `@opt/tasks` `Batch` (float32 or float64 features, float or
 * integer targets) to a float64 {@link FunctionalBatch}. Float64 inputs are
 * viewed, not copied.
 *
 * @param batch - the batch; its first `size` rows are used.
 * @param inputs - features per row. Default 1.
 * @param outputs - targets per row. Default 1.
 */
export function toFunctionalBatch(batch: Batch, inputs = 1, outputs = 1): FunctionalBatch {
  const size = checkInteger('toFunctionalBatch', 'batch.size', batch.size, 1);
  const nx = size * inputs;
  const ny = size * outputs;
  const x = batch.x instanceof Float64Array ? batch.x.subarray(0, nx) : Float64Array.from(batch.x.subarray(0, nx));
  const y = batch.y instanceof Float64Array ? batch.y.subarray(0, ny) : Float64Array.from(batch.y.subarray(0, ny));
  return { x, y, size };
}

/**
 * A sinusoid task of `@opt/tasks` as a {@link MetaTask}: its first `shots`
 * support points and first `queryShots` query points (independent streams).
 */
export function sinusoidMetaTask(task: SinusoidTask, shots: number, queryShots: number): MetaTask {
  return { support: toFunctionalBatch(task.support(shots)), query: toFunctionalBatch(task.query(queryShots)) };
}

/** Options of {@link SinusoidTaskSampler} and {@link sinusoidTestTasks}. */
export interface SinusoidTaskSamplerOptions {
  /** Range of the amplitude A. Default `[0.1, 5]` (as `SinusoidFamily`). */
  amplitude?: Interval;
  /** Range of the phase φ. Default `[0, π]`. */
  phase?: Interval;
  /** Range of the inputs x. Default `[-5, 5]`. */
  inputRange?: Interval;
  /** Support points K per task. Default 10. */
  shots?: number;
  /** Query points per task. Default 10 (training); {@link sinusoidTestTasks} defaults to 100. */
  queryShots?: number;
  /** Seed of the stream of task seeds (sampler) or of the held-out block (test tasks). Default 0. */
  seed?: number;
}

/** State of a {@link SinusoidTaskSampler}: its generator and how many tasks it has drawn. */
export interface SinusoidTaskSamplerState {
  rng: RngState;
  drawn: number;
}

/**
 * Offset of the held-out task seeds: training seeds are 32-bit draws, so every
 * seed ≥ 2^40 is a task the sampler can never produce.
 */
export const SINUSOID_TEST_SEED_OFFSET = 2 ** 40;

interface Ranges {
  amplitude: Interval;
  phase: Interval;
  inputRange: Interval;
}

function resolveRanges(where: string, options: SinusoidTaskSamplerOptions): Ranges {
  const check = (option: string, value: Interval | undefined, fallback: Interval): Interval => {
    const v = value ?? fallback;
    if (!Array.isArray(v) || v.length !== 2 || !Number.isFinite(v[0]) || !Number.isFinite(v[1]) || !(v[0] <= v[1])) {
      throw new InvalidOptionError(option, v, 'a finite interval [low, high] with low <= high', where);
    }
    return [v[0], v[1]];
  };
  return {
    amplitude: check('amplitude', options.amplitude, [0.1, 5]),
    phase: check('phase', options.phase, [0, Math.PI]),
    inputRange: check('inputRange', options.inputRange, [-5, 5]),
  };
}

function drawPoints(seed: number, k: number, amplitude: number, phase: number, range: Interval): FunctionalBatch {
  const rng = new Rng(seed);
  const x = new Float64Array(k);
  const y = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    const v = rng.uniform(range[0], range[1]);
    x[i] = v;
    y[i] = amplitude * Math.sin(v - phase);
  }
  return { x, y, size: k };
}

/**
 * The task `SinusoidFamily.sample(seed)` would give, as a {@link MetaTask},
 * without building the task's own model: the same draws in the same order
 * (A, then φ, then the support and query stream seeds; each point x uniform,
 * y = A·sin(x − φ)), so the points are bit-identical.
 */
function drawTask(seed: number, ranges: Ranges, shots: number, queryShots: number): MetaTask {
  const rng = new Rng(seed);
  const amplitude = rng.uniform(ranges.amplitude[0], ranges.amplitude[1]);
  const phase = rng.uniform(ranges.phase[0], ranges.phase[1]);
  const supportSeed = rng.nextUint32();
  const querySeed = rng.nextUint32();
  return {
    support: drawPoints(supportSeed, shots, amplitude, phase, ranges.inputRange),
    query: drawPoints(querySeed, queryShots, amplitude, phase, ranges.inputRange),
  };
}

/**
 * An endless, seeded stream of meta-training tasks of the sinusoid family of
 * `@opt/tasks` (`SinusoidFamily`): task i is the task of seed s_i, a 32-bit
 * draw of the sampler's generator, with exactly the points
 * `sinusoidMetaTask(new SinusoidFamily(ranges).sample(s_i), shots, queryShots)`
 * would give, but drawn directly (no per-task model is built, which would
 * dominate a meta-iteration). Reproducible, resumable
 * ({@link SinusoidTaskSampler.stateDict}) and disjoint from {@link sinusoidTestTasks}.
 *
 * @example
 * ```ts
 * import { SinusoidTaskSampler } from '@opt/learned';
 * const sampler = new SinusoidTaskSampler({ shots: 10, queryShots: 10, seed: 7 });
 * const batch = sampler.batch(25);   // 25 tasks, each {support, query}
 * batch[0].support.x;                 // 10 inputs in [-5, 5]
 * ```
 */
export class SinusoidTaskSampler {
  /** Support points per task. */
  readonly shots: number;
  /** Query points per task. */
  readonly queryShots: number;
  /** Tasks drawn so far. */
  drawn = 0;
  private readonly ranges: Ranges;
  private readonly rng: Rng;

  /** @param options - ranges, sizes and seed. */
  constructor(options: SinusoidTaskSamplerOptions = {}) {
    const where = 'SinusoidTaskSampler';
    this.ranges = resolveRanges(where, options);
    this.shots = checkInteger(where, 'shots', options.shots ?? 10, 1);
    this.queryShots = checkInteger(where, 'queryShots', options.queryShots ?? 10, 1);
    this.rng = new Rng(options.seed ?? 0);
  }

  /** The seed of the next task (the family's `sample(seed)`), advancing the stream. */
  nextSeed(): number {
    this.drawn++;
    return this.rng.nextUint32();
  }

  /** The next task. */
  next(): MetaTask {
    return drawTask(this.nextSeed(), this.ranges, this.shots, this.queryShots);
  }

  /** The next `count` tasks (a meta-batch). */
  batch(count: number): MetaTask[] {
    checkInteger('SinusoidTaskSampler.batch', 'count', count, 1);
    const tasks: MetaTask[] = [];
    for (let i = 0; i < count; i++) tasks.push(this.next());
    return tasks;
  }

  /** The sampler's position in its stream (JSON-safe). */
  stateDict(): SinusoidTaskSamplerState {
    return { rng: this.rng.getState(), drawn: this.drawn };
  }

  /** Restore a position saved by {@link SinusoidTaskSampler.stateDict}; throws `StateDictError` on malformed input. */
  loadStateDict(state: SinusoidTaskSamplerState): void {
    if (typeof state !== 'object' || state === null || !Number.isInteger(state.drawn) || state.drawn < 0) {
      throw new StateDictError('SinusoidTaskSampler.loadStateDict: expected {rng, drawn}');
    }
    this.rng.setState(state.rng);
    this.drawn = state.drawn;
  }
}

/**
 * `count` held-out sinusoid tasks: the `SinusoidFamily` tasks of seeds
 * `SINUSOID_TEST_SEED_OFFSET + 10^6·seed + i` (never drawn by a
 * {@link SinusoidTaskSampler}), `shots` support points and `queryShots` query
 * points (default 100) each. The same arguments always give the same tasks.
 */
export function sinusoidTestTasks(count: number, options: SinusoidTaskSamplerOptions = {}): MetaTask[] {
  const where = 'sinusoidTestTasks';
  checkInteger(where, 'count', count, 1);
  const ranges = resolveRanges(where, options);
  const shots = checkInteger(where, 'shots', options.shots ?? 10, 1);
  const queryShots = checkInteger(where, 'queryShots', options.queryShots ?? 100, 1);
  const base = SINUSOID_TEST_SEED_OFFSET + checkInteger(where, 'seed', options.seed ?? 0, 0) * 1_000_000;
  const tasks: MetaTask[] = [];
  for (let i = 0; i < count; i++) tasks.push(drawTask(base + i, ranges, shots, queryShots));
  return tasks;
}
