import {
  InvalidOptionError,
  type Schedule,
  StateDictError,
  checkInRange,
  checkOneOf,
  checkPositive,
  decodeNumber,
  encodeNumber,
  type JsonNumber,
} from '@opt/core';

/** Competence functions of Platanios et al. (2019), plus a geometric ramp. */
export type PacingKind = 'linear' | 'root' | 'geometric';

/** Options of {@link curriculumPacing}. */
export interface CurriculumPacingOptions {
  /** Shape of the competence curve. */
  kind: PacingKind;
  /** Initial competence c0, in [0, 1] ((0, 1] for `'geometric'`). */
  start: number;
  /** Step T at which competence reaches 1 (> 0). */
  fullAt: number;
  /** Root order p of `'root'` (2: the paper's square root). Default 2. */
  p?: number;
}

/**
 * Competence c(t) ∈ [c0, 1] of competence-based curriculum learning
 * (Platanios et al., 2019, "Competence-based Curriculum Learning for Neural
 * Machine Translation"): the fraction of the training data, easiest first, a
 * model may see at step t (negative steps count as 0).
 *
 * ```
 * linear:     c(t) = min(1, c0 + (1 − c0)·t/T)
 * root (p):   c(t) = min(1, (c0^p + (1 − c0^p)·t/T)^(1/p))
 * geometric:  c(t) = min(1, c0·(1/c0)^(t/T))      (a constant ratio per step)
 * ```
 *
 * @example
 * ```ts
 * import { curriculumPacing } from '@opt/schedulers';
 * const c = curriculumPacing({ kind: 'root', start: 0.01, fullAt: 1000 });
 * console.log(c(0), c(1000)); // 0.01 1
 * ```
 */
export function curriculumPacing(options: CurriculumPacingOptions): Schedule {
  const where = 'curriculumPacing';
  const kind = checkOneOf(where, 'kind', options.kind, ['linear', 'root', 'geometric'] as const);
  const c0 = kind === 'geometric' ? checkInRange(where, 'start', options.start, 0, 1, '(]') : checkInRange(where, 'start', options.start, 0, 1, '[]');
  const T = checkPositive(where, 'fullAt', options.fullAt);
  const p = checkPositive(where, 'p', options.p ?? 2);
  switch (kind) {
    case 'linear':
      return (t) => Math.min(1, c0 + ((1 - c0) * Math.max(t, 0)) / T);
    case 'root': {
      const c0p = c0 ** p;
      return (t) => Math.min(1, (c0p + ((1 - c0p) * Math.max(t, 0)) / T) ** (1 / p));
    }
    case 'geometric':
      return (t) => Math.min(1, c0 * (1 / c0) ** (Math.max(t, 0) / T));
  }
}

function checkCompetence(where: string, competence: number): number {
  return checkInRange(where, 'competence', competence, 0, 1, '[]');
}

/**
 * The examples a model at `competence` c may draw from, given the examples
 * sorted from easiest to hardest: the first ⌊c·N⌋ (an example of rank i is
 * eligible when its difficulty CDF (i + 1)/N ≤ c), and at least the easiest
 * one, since an empty pool cannot be sampled.
 *
 * @example
 * ```ts
 * import { curriculumSubset } from '@opt/schedulers';
 * console.log(curriculumSubset(['a', 'b', 'c', 'd'], 0.5)); // ['a', 'b']
 * ```
 */
export function curriculumSubset<T>(sortedExamplesByDifficulty: readonly T[], competence: number): T[] {
  checkCompetence('curriculumSubset', competence);
  const n = sortedExamplesByDifficulty.length;
  // The relative slack keeps c·N = 2.9999999999999996 from losing an example to rounding.
  const count = Math.min(n, Math.max(1, Math.floor(competence * n * (1 + 1e-12))));
  return sortedExamplesByDifficulty.slice(0, count);
}

/**
 * Indices of the examples a model at `competence` c may draw from, given raw
 * difficulty scores in any order: example i is eligible when its empirical
 * difficulty CDF, `#{j : d_j ≤ d_i}/N`, is at most c (ties enter together).
 * The easiest examples are always included, so the pool is never empty.
 * Indices are returned in increasing order.
 *
 * @example
 * ```ts
 * import { filterByDifficulty } from '@opt/schedulers';
 * console.log(filterByDifficulty([5, 1, 3, 2], 0.5)); // [1, 3]
 * ```
 */
export function filterByDifficulty(difficulties: ArrayLike<number>, competence: number): number[] {
  const where = 'filterByDifficulty';
  checkCompetence(where, competence);
  const n = difficulties.length;
  const order: number[] = [];
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(difficulties[i])) throw new InvalidOptionError(`difficulties[${i}]`, NaN, 'a number', where);
    order.push(i);
  }
  order.sort((a, b) => difficulties[a]! - difficulties[b]!);
  const limit = competence * n * (1 + 1e-12);
  const out: number[] = [];
  let k = 0;
  while (k < n) {
    // The run of ties starting at k has CDF (end of run)/N.
    let end = k + 1;
    while (end < n && difficulties[order[end]!] === difficulties[order[k]!]) end++;
    if (end > limit && k > 0) break;
    for (let j = k; j < end; j++) out.push(order[j]!);
    k = end;
  }
  return out.sort((a, b) => a - b);
}

/** Options of {@link CurriculumSchedule}. */
export type CurriculumScheduleOptions = CurriculumPacingOptions;

/** State of a {@link CurriculumSchedule}. */
export interface CurriculumStateDict {
  format: '@opt/curriculum-state';
  version: 1;
  step: JsonNumber;
}

/**
 * A curriculum that advances with training: competence by step (see
 * {@link curriculumPacing}) and the pool of examples it allows.
 *
 * @example
 * ```ts
 * import { CurriculumSchedule } from '@opt/schedulers';
 * const curriculum = new CurriculumSchedule({ kind: 'linear', start: 0.25, fullAt: 3 });
 * const difficulties = [0.9, 0.1, 0.5, 0.3];
 * console.log(curriculum.pool(difficulties)); // [1]
 * curriculum.step();
 * console.log(curriculum.competence, curriculum.pool(difficulties)); // 0.5 [1, 3]
 * ```
 */
export class CurriculumSchedule {
  /** The competence function. */
  readonly pacing: Schedule;
  /** Number of `step()` calls. */
  stepCount = 0;

  constructor(options: CurriculumScheduleOptions) {
    this.pacing = curriculumPacing(options);
  }

  /** Competence at the current step. */
  get competence(): number {
    return this.pacing(this.stepCount);
  }

  /** Advance one training step. */
  step(): void {
    this.stepCount += 1;
  }

  /** Indices of the examples eligible now, from raw difficulty scores (see {@link filterByDifficulty}). */
  pool(difficulties: ArrayLike<number>): number[] {
    return filterByDifficulty(difficulties, this.competence);
  }

  /** The eligible prefix of examples sorted easiest first (see {@link curriculumSubset}). */
  subset<T>(sortedExamplesByDifficulty: readonly T[]): T[] {
    return curriculumSubset(sortedExamplesByDifficulty, this.competence);
  }

  /** The curriculum's position as JSON data. */
  stateDict(): CurriculumStateDict {
    return { format: '@opt/curriculum-state', version: 1, step: encodeNumber(this.stepCount) };
  }

  /** Restore a position saved by {@link CurriculumSchedule.stateDict}. */
  loadStateDict(stateDict: CurriculumStateDict | Record<string, unknown>): void {
    const sd = stateDict as Partial<CurriculumStateDict>;
    if (typeof sd !== 'object' || sd === null || sd.format !== '@opt/curriculum-state') {
      throw new StateDictError('CurriculumSchedule.loadStateDict: expected an object written by stateDict()');
    }
    const step = decodeNumber(sd.step, 'CurriculumSchedule.loadStateDict: step');
    if (!Number.isInteger(step) || step < 0) throw new StateDictError(`CurriculumSchedule.loadStateDict: step must be an integer >= 0, got ${step}`);
    this.stepCount = step;
  }
}
