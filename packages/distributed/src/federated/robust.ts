/**
 * Aggregation rules for federated updates: the weighted mean of FedAvg and the Byzantine-robust rules Krum,
 * Multi-Krum, coordinate-wise median, trimmed mean, Bulyan and norm bounding (as in Flower's strategies, with
 * typed errors when there are too few clients for the number of Byzantine clients to tolerate).
 *
 * Every rule aggregates client UPDATES Δᵢ = wᵢ − w (translation-invariant rules give the same answer on weights).
 * Robust rules ignore `numExamples`: a Byzantine client could claim any count, so weighting by it would hand the
 * attacker the aggregate. Secure aggregation and robust aggregation do not compose (the server never sees the
 * individual updates a robust rule needs).
 *
 * @packageDocumentation
 */
import { type FloatArray, InvalidOptionError, ShapeMismatchError } from '@opt/tensor';
import { InvalidConfigurationError } from './errors.js';

/** A rule that combines client updates (equal-length vectors) into one. */
export interface Aggregator {
  /** The rule's name, e.g. `"Krum"`. */
  readonly name: string;
  /** Whether `weights` (the clients' `numExamples`) change the result. False for every robust rule. */
  readonly usesWeights: boolean;
  /**
   * Combine `updates` into a fresh float64 vector.
   *
   * @param updates - one vector per client, all of the same length.
   * @param weights - one non-negative weight per client (ignored unless {@link Aggregator.usesWeights}).
   */
  aggregate(updates: readonly FloatArray[], weights?: readonly number[]): Float64Array;
}

function checkUpdates(rule: string, updates: readonly FloatArray[]): number {
  if (updates.length === 0) throw new InvalidConfigurationError(rule, 'at least one update', 'got none');
  const d = updates[0]!.length;
  for (let i = 1; i < updates.length; i++) {
    if (updates[i]!.length !== d) throw new ShapeMismatchError(`${rule}: update ${i} has ${updates[i]!.length} elements, update 0 has ${d}`);
  }
  return d;
}

function checkByzantine(rule: string, f: number): number {
  if (!Number.isInteger(f) || f < 0) throw new InvalidOptionError('numByzantine', f, 'an integer >= 0', rule);
  return f;
}

/** The unweighted mean of `updates[k]` for k in `indices` (all when null). */
function meanOf(updates: readonly FloatArray[], indices: readonly number[] | null, d: number): Float64Array {
  const out = new Float64Array(d);
  const count = indices === null ? updates.length : indices.length;
  for (let k = 0; k < count; k++) {
    const u = updates[indices === null ? k : indices[k]!]!;
    for (let j = 0; j < d; j++) out[j] += u[j]!;
  }
  for (let j = 0; j < d; j++) out[j] /= count;
  return out;
}

/** Squared Euclidean distances between every pair of updates, row-major n × n (float64 sums). */
export function pairwiseSquaredDistances(updates: readonly FloatArray[]): Float64Array {
  const n = updates.length;
  const d = checkUpdates('pairwiseSquaredDistances', updates);
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const a = updates[i]!;
    for (let k = i + 1; k < n; k++) {
      const b = updates[k]!;
      let s = 0;
      for (let j = 0; j < d; j++) {
        const t = a[j]! - b[j]!;
        s += t * t;
      }
      out[i * n + k] = s;
      out[k * n + i] = s;
    }
  }
  return out;
}

/**
 * Krum scores (Blanchard et al. 2017) of the clients in `members` (indices into a distance matrix over `n`
 * clients): score(i) = Σ of the squared distances from i to its `neighbours` nearest other members.
 */
function krumScores(dist: Float64Array, n: number, members: readonly number[], neighbours: number): Float64Array {
  const m = members.length;
  const scores = new Float64Array(m);
  const row = new Float64Array(m - 1);
  for (let a = 0; a < m; a++) {
    const i = members[a]!;
    let r = 0;
    for (let b = 0; b < m; b++) if (b !== a) row[r++] = dist[i * n + members[b]!]!;
    row.sort();
    let s = 0;
    for (let k = 0; k < neighbours; k++) s += row[k]!;
    scores[a] = s;
  }
  return scores;
}

/** Indices 0..m−1 ordered by ascending score (ties: lower index first, so the choice is deterministic). */
function byScore(scores: Float64Array): number[] {
  const order = Array.from({ length: scores.length }, (_, i) => i);
  order.sort((a, b) => scores[a]! - scores[b]! || a - b);
  return order;
}

/**
 * The weighted mean used by FedAvg (McMahan et al. 2017): `Σᵢ nᵢ·Δᵢ / Σᵢ nᵢ` with `nᵢ` the clients' example
 * counts (equal weights when none are given). Not robust: one client can move it arbitrarily far.
 *
 * @example
 * ```ts
 * new WeightedMean().aggregate([new Float64Array([1, 2]), new Float64Array([3, 6])], [1, 3]); // [2.5, 5]
 * ```
 */
export class WeightedMean implements Aggregator {
  readonly name = 'WeightedMean';
  readonly usesWeights = true;

  aggregate(updates: readonly FloatArray[], weights?: readonly number[]): Float64Array {
    const d = checkUpdates(this.name, updates);
    if (weights === undefined) return meanOf(updates, null, d);
    if (weights.length !== updates.length) throw new ShapeMismatchError(`${this.name}: ${weights.length} weights for ${updates.length} updates`);
    let total = 0;
    for (const w of weights) {
      if (!(w >= 0) || !Number.isFinite(w)) throw new InvalidOptionError('weights', w, 'finite numbers >= 0', this.name);
      total += w;
    }
    if (total === 0) throw new InvalidOptionError('weights', weights, 'a positive sum', this.name);
    const out = new Float64Array(d);
    for (let i = 0; i < updates.length; i++) {
      const u = updates[i]!;
      const c = weights[i]! / total;
      for (let j = 0; j < d; j++) out[j] += c * u[j]!;
    }
    return out;
  }
}

/**
 * Krum (Blanchard et al. 2017): the single update whose summed squared distance to its n − f − 2 nearest
 * neighbours is smallest. Tolerates f Byzantine clients when n ≥ 2f + 3.
 *
 * @example
 * ```ts
 * const krum = new Krum({ numByzantine: 1 });
 * krum.aggregate([a, b, c, d, e]); // a copy of the most central update; krum.lastSelection says which
 * ```
 */
export class Krum implements Aggregator {
  readonly name: string = 'Krum';
  readonly usesWeights = false;
  /** f, the number of Byzantine clients tolerated. */
  readonly numByzantine: number;
  /** Indices of the updates the last call selected (one for Krum, m for Multi-Krum). */
  lastSelection: number[] = [];

  constructor(options: { numByzantine: number }) {
    this.numByzantine = checkByzantine('Krum', options.numByzantine);
  }

  /** Indices of the `keep` updates with the lowest Krum scores, best first. */
  protected select(updates: readonly FloatArray[], keep: number): number[] {
    const n = updates.length;
    const f = this.numByzantine;
    if (n < 2 * f + 3) throw new InvalidConfigurationError(this.name, 'n >= 2f + 3', `got n = ${n} updates for f = ${f}`);
    const dist = pairwiseSquaredDistances(updates);
    const members = Array.from({ length: n }, (_, i) => i);
    return byScore(krumScores(dist, n, members, n - f - 2)).slice(0, keep);
  }

  aggregate(updates: readonly FloatArray[]): Float64Array {
    const d = checkUpdates(this.name, updates);
    this.lastSelection = this.select(updates, 1);
    return Float64Array.from(updates[this.lastSelection[0]!]!.subarray(0, d));
  }
}

/**
 * Multi-Krum (Blanchard et al. 2017; Flower's `MultiKrum`): the unweighted mean of the m updates with the lowest
 * Krum scores (default m = n − f). Requires n ≥ 2f + 3.
 *
 * @example
 * ```ts
 * new MultiKrum({ numByzantine: 1, numToKeep: 3 }).aggregate(updates);
 * ```
 */
export class MultiKrum extends Krum {
  override readonly name = 'MultiKrum';
  /** m, the number of updates averaged (null: n − f). */
  readonly numToKeep: number | null;

  constructor(options: { numByzantine: number; numToKeep?: number }) {
    super(options);
    const m = options.numToKeep;
    if (m !== undefined && (!Number.isInteger(m) || m < 1)) throw new InvalidOptionError('numToKeep', m, 'an integer >= 1', 'MultiKrum');
    this.numToKeep = m ?? null;
  }

  override aggregate(updates: readonly FloatArray[]): Float64Array {
    const d = checkUpdates(this.name, updates);
    const n = updates.length;
    const m = this.numToKeep ?? n - this.numByzantine;
    if (m > n) throw new InvalidConfigurationError(this.name, 'numToKeep <= n', `numToKeep = ${m} but only ${n} updates`);
    this.lastSelection = this.select(updates, m);
    return meanOf(updates, this.lastSelection, d);
  }
}

/** Median of `v[0..len)` (sorts that prefix in place); mean of the two middle values when len is even (numpy's rule). */
function medianInPlace(v: Float64Array, len: number): number {
  const s = v.subarray(0, len).sort();
  const h = len >> 1;
  return len % 2 === 1 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

/**
 * Coordinate-wise median (Yin et al. 2018; Flower's `FedMedian`): each coordinate is the median of the clients'
 * values (the mean of the two middle ones when n is even). With `numByzantine` f it checks n ≥ 2f + 1, so that
 * every output coordinate lies between two honest values.
 *
 * @example
 * ```ts
 * new CoordinateMedian().aggregate([new Float64Array([1, 9]), new Float64Array([2, -1]), new Float64Array([100, 0])]); // [2, 0]
 * ```
 */
export class CoordinateMedian implements Aggregator {
  readonly name = 'CoordinateMedian';
  readonly usesWeights = false;
  /** f, the number of Byzantine clients the caller expects (only checked against n). */
  readonly numByzantine: number;

  constructor(options: { numByzantine?: number } = {}) {
    this.numByzantine = checkByzantine(this.name, options.numByzantine ?? 0);
  }

  aggregate(updates: readonly FloatArray[]): Float64Array {
    const d = checkUpdates(this.name, updates);
    const n = updates.length;
    const f = this.numByzantine;
    if (n < 2 * f + 1) throw new InvalidConfigurationError(this.name, 'n >= 2f + 1', `got n = ${n} updates for f = ${f}`);
    const out = new Float64Array(d);
    const col = new Float64Array(n);
    for (let j = 0; j < d; j++) {
      for (let i = 0; i < n; i++) col[i] = updates[i]![j]!;
      out[j] = medianInPlace(col, n);
    }
    return out;
  }
}

/**
 * Coordinate-wise trimmed mean (Yin et al. 2018; Flower's `FedTrimmedAvg`): for each coordinate, drop the
 * k = ⌊β·n⌋ smallest and k largest values and average the rest. Requires 2k < n, and k ≥ f when `numByzantine`
 * is given (then every output coordinate lies within the honest values' range).
 *
 * @example
 * ```ts
 * new TrimmedMean({ beta: 0.2 }).aggregate(updates); // β = 0.2 as Flower's default
 * ```
 */
export class TrimmedMean implements Aggregator {
  readonly name = 'TrimmedMean';
  readonly usesWeights = false;
  /** β, the fraction trimmed at each end, in [0, 0.5). */
  readonly beta: number;
  /** f, the number of Byzantine clients the caller expects (checked against ⌊β·n⌋). */
  readonly numByzantine: number;

  constructor(options: { beta?: number; numByzantine?: number } = {}) {
    const beta = options.beta ?? 0.2;
    if (!(beta >= 0 && beta < 0.5)) throw new InvalidOptionError('beta', beta, 'in [0, 0.5)', this.name);
    this.beta = beta;
    this.numByzantine = checkByzantine(this.name, options.numByzantine ?? 0);
  }

  aggregate(updates: readonly FloatArray[]): Float64Array {
    const d = checkUpdates(this.name, updates);
    const n = updates.length;
    const k = Math.floor(this.beta * n);
    if (2 * k >= n) throw new InvalidConfigurationError(this.name, '2⌊βn⌋ < n', `β = ${this.beta} trims ${k} of ${n} at each end`);
    if (k < this.numByzantine) {
      throw new InvalidConfigurationError(this.name, '⌊βn⌋ >= f', `β = ${this.beta} trims ${k} of ${n} at each end, fewer than f = ${this.numByzantine}`);
    }
    const out = new Float64Array(d);
    const col = new Float64Array(n);
    const kept = n - 2 * k;
    for (let j = 0; j < d; j++) {
      for (let i = 0; i < n; i++) col[i] = updates[i]![j]!;
      col.sort();
      let s = 0;
      for (let i = k; i < n - k; i++) s += col[i]!;
      out[j] = s / kept;
    }
    return out;
  }
}

/**
 * Bulyan (El Mhamdi et al. 2018): select θ = n − 2f updates by applying Krum repeatedly (each pick leaves the
 * pool), then, coordinate by coordinate, average the β = θ − 2f selected values closest to their median.
 * Requires n ≥ 4f + 3. The inner Krum scores use max(1, m − f − 2) neighbours on a pool of m, as Flower does.
 *
 * @example
 * ```ts
 * new Bulyan({ numByzantine: 2 }).aggregate(updates); // needs at least 11 updates
 * ```
 */
export class Bulyan implements Aggregator {
  readonly name = 'Bulyan';
  readonly usesWeights = false;
  /** f, the number of Byzantine clients tolerated. */
  readonly numByzantine: number;
  /** Indices of the θ updates the last call selected, in the order Krum picked them. */
  lastSelection: number[] = [];

  constructor(options: { numByzantine: number }) {
    this.numByzantine = checkByzantine(this.name, options.numByzantine);
  }

  aggregate(updates: readonly FloatArray[]): Float64Array {
    const d = checkUpdates(this.name, updates);
    const n = updates.length;
    const f = this.numByzantine;
    if (n < 4 * f + 3) throw new InvalidConfigurationError(this.name, 'n >= 4f + 3', `got n = ${n} updates for f = ${f}`);
    const dist = pairwiseSquaredDistances(updates);
    const pool = Array.from({ length: n }, (_, i) => i);
    const theta = n - 2 * f;
    const selected: number[] = [];
    while (selected.length < theta) {
      const scores = krumScores(dist, n, pool, Math.max(1, pool.length - f - 2));
      const best = byScore(scores)[0]!;
      selected.push(pool[best]!);
      pool.splice(best, 1);
    }
    this.lastSelection = selected;
    const beta = theta - 2 * f;
    const out = new Float64Array(d);
    const col = new Float64Array(theta);
    const gap = new Float64Array(theta);
    const order = Array.from({ length: theta }, (_, i) => i);
    const byGap = (a: number, b: number): number => gap[a]! - gap[b]! || a - b;
    for (let j = 0; j < d; j++) {
      for (let i = 0; i < theta; i++) col[i] = updates[selected[i]!]![j]!;
      const med = medianInPlace(Float64Array.from(col), theta);
      for (let i = 0; i < theta; i++) {
        gap[i] = Math.abs(col[i]! - med);
        order[i] = i;
      }
      order.sort(byGap);
      let s = 0;
      for (let i = 0; i < beta; i++) s += col[order[i]!]!;
      out[j] = s / beta;
    }
    return out;
  }
}

/**
 * Norm bounding (Sun et al. 2019, "Can you really backdoor federated learning?"): every update is scaled down to
 * Euclidean norm at most `maxNorm` (Δ·min(1, C/‖Δ‖)), then combined by `inner` (default {@link WeightedMean}).
 * With the mean, the aggregate's norm is at most C whatever the clients send.
 *
 * @example
 * ```ts
 * new NormBound({ maxNorm: 1 }).aggregate([new Float64Array([30, 40]), new Float64Array([0.3, 0.4])]); // [0.45, 0.6]
 * ```
 */
export class NormBound implements Aggregator {
  readonly name = 'NormBound';
  /** C, the largest norm an update keeps. */
  readonly maxNorm: number;
  /** The rule applied to the clipped updates. */
  readonly inner: Aggregator;
  /** How many updates the last call clipped. */
  lastClipped = 0;

  constructor(options: { maxNorm: number; inner?: Aggregator }) {
    if (!(options.maxNorm > 0) || !Number.isFinite(options.maxNorm)) throw new InvalidOptionError('maxNorm', options.maxNorm, 'a finite number > 0', this.name);
    this.maxNorm = options.maxNorm;
    this.inner = options.inner ?? new WeightedMean();
  }

  get usesWeights(): boolean {
    return this.inner.usesWeights;
  }

  aggregate(updates: readonly FloatArray[], weights?: readonly number[]): Float64Array {
    const d = checkUpdates(this.name, updates);
    let clipped = 0;
    const bounded = updates.map((u) => {
      let s = 0;
      for (let j = 0; j < d; j++) s += u[j]! * u[j]!;
      const norm = Math.sqrt(s);
      const out = Float64Array.from(u);
      if (norm > this.maxNorm) {
        clipped++;
        const c = this.maxNorm / norm;
        for (let j = 0; j < d; j++) out[j] *= c;
      }
      return out;
    });
    this.lastClipped = clipped;
    return this.inner.aggregate(bounded, weights);
  }
}
