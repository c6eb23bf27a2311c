import { InvalidOptionError, Rng } from '@opt/tensor';

/** A proportion with its bootstrap confidence interval. */
export interface Interval {
  /** The point estimate. */
  value: number;
  /** Lower end of the interval. */
  low: number;
  /** Upper end of the interval. */
  high: number;
}

/** Options of the bootstrap helpers. */
export interface BootstrapOptions {
  /** Resamples (default 2000). */
  resamples?: number;
  /** Confidence level (default 0.95). */
  confidence?: number;
  /** Seed of the resampling generator (default 0). */
  seed?: number;
}

/**
 * The mean of `values` with a percentile bootstrap interval: resample the
 * values (tasks) with replacement `resamples` times and take the
 * `(1 ± confidence)/2` quantiles of the resampled means.
 */
export function bootstrapMean(values: readonly number[], options: BootstrapOptions = {}): Interval {
  const n = values.length;
  if (n === 0) throw new InvalidOptionError('values', values, 'a non-empty list', 'bootstrapMean');
  const resamples = options.resamples ?? 2000;
  const confidence = options.confidence ?? 0.95;
  const rng = new Rng(options.seed ?? 0);
  const mean = values.reduce((s, v) => s + v, 0) / n;
  const means = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += values[rng.int(n)]!;
    means[b] = s / n;
  }
  means.sort();
  const alpha = (1 - confidence) / 2;
  const at = (q: number): number => means[Math.min(resamples - 1, Math.max(0, Math.floor(q * resamples)))]!;
  return { value: mean, low: at(alpha), high: at(1 - alpha) };
}

/**
 * Win-rate of a candidate against a baseline over tasks, paired by seed:
 * `lossesA[task][seed]` vs `lossesB[task][seed]`; a pair is a win when the
 * candidate's loss is lower (a non-finite candidate loss loses, a non-finite
 * baseline loss with a finite candidate loss is a win), each task scores the
 * fraction of its seeds won, and the win-rate is the mean over tasks with a
 * bootstrap interval over tasks.
 */
export function winRate(candidate: readonly (readonly number[])[], baseline: readonly (readonly number[])[], options: BootstrapOptions = {}): Interval {
  if (candidate.length !== baseline.length) throw new InvalidOptionError('baseline', baseline.length, `${candidate.length} tasks`, 'winRate');
  const perTask = candidate.map((seeds, t) => {
    let wins = 0;
    seeds.forEach((a, s) => {
      const b = baseline[t]![s]!;
      if (Number.isFinite(a) && (!Number.isFinite(b) || a < b)) wins++;
    });
    return wins / seeds.length;
  });
  return bootstrapMean(perTask, options);
}

/**
 * Geometric mean of the per-task loss ratios `mean_s(L_A) / mean_s(L_B)`
 * (each task's losses averaged over its seeds first): `exp(mean_t log ratio_t)`.
 * Tasks where either loss is non-finite are left out (count them as divergences).
 */
export function geometricMeanRatio(candidate: readonly (readonly number[])[], baseline: readonly (readonly number[])[]): number {
  let s = 0;
  let n = 0;
  candidate.forEach((seeds, t) => {
    const a = seeds.reduce((x, y) => x + y, 0) / seeds.length;
    const b = baseline[t]!.reduce((x, y) => x + y, 0) / baseline[t]!.length;
    if (Number.isFinite(a) && Number.isFinite(b) && a > 0 && b > 0) {
      s += Math.log(a / b);
      n++;
    }
  });
  return n === 0 ? NaN : Math.exp(s / n);
}

/** Median of a list (NaN for an empty one). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const v = [...values].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 === 1 ? v[m]! : 0.5 * (v[m - 1]! + v[m]!);
}

/** Number of runs that diverged: a non-finite final loss, or one above the task's initial loss. */
export function divergences(losses: readonly (readonly number[])[], initialLosses: readonly number[]): number {
  let count = 0;
  losses.forEach((seeds, t) => {
    for (const l of seeds) if (!Number.isFinite(l) || l > initialLosses[t]!) count++;
  });
  return count;
}
