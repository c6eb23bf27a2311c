import { InvalidOptionError, Rng, ShapeMismatchError } from '@opt/tensor';
import {
  type Aggregator,
  Bulyan,
  CoordinateMedian,
  InvalidConfigurationError,
  Krum,
  MultiKrum,
  NormBound,
  TrimmedMean,
  WeightedMean,
} from '../src/index';

const v = (...xs: number[]): Float64Array => Float64Array.from(xs);
const list = (a: Float64Array): number[] => Array.from(a);

describe('robust aggregation rules on hand-computed arrays', () => {
  // 1-D updates 0, 1, 2, 3, 100 with f = 1: each Krum score sums the squared distances to the 2 nearest others:
  // 0 → 1 + 4 = 5, 1 → 1 + 1 = 2, 2 → 1 + 1 = 2, 3 → 1 + 4 = 5, 100 → 97² + 98² = 19013.
  const five = [v(0), v(1), v(2), v(3), v(100)];

  test('Krum picks the update with the smallest score (ties to the lower index)', () => {
    const krum = new Krum({ numByzantine: 1 });
    expect(list(krum.aggregate(five))).toEqual([1]);
    expect(krum.lastSelection).toEqual([1]);
  });

  test('Multi-Krum averages the m best-scored updates (default m = n − f)', () => {
    const two = new MultiKrum({ numByzantine: 1, numToKeep: 2 });
    expect(list(two.aggregate(five))).toEqual([1.5]);
    expect(two.lastSelection).toEqual([1, 2]);
    const dflt = new MultiKrum({ numByzantine: 1 });
    expect(list(dflt.aggregate(five))).toEqual([1.5]);
    expect(dflt.lastSelection).toEqual([1, 2, 0, 3]);
  });

  test('Krum and Multi-Krum refuse n < 2f + 3 with InvalidConfigurationError', () => {
    expect(() => new Krum({ numByzantine: 1 }).aggregate(five.slice(0, 4))).toThrow(InvalidConfigurationError);
    expect(() => new MultiKrum({ numByzantine: 2 }).aggregate(five)).toThrow(/n >= 2f \+ 3/);
    expect(() => new Krum({ numByzantine: -1 })).toThrow(InvalidOptionError);
  });

  test('the coordinate median takes the middle value, or the mean of the two middle values', () => {
    expect(list(new CoordinateMedian().aggregate([v(1, 9), v(2, -1), v(100, 0)]))).toEqual([2, 0]);
    expect(list(new CoordinateMedian().aggregate([v(1), v(2), v(3), v(10)]))).toEqual([2.5]);
    expect(() => new CoordinateMedian({ numByzantine: 2 }).aggregate([v(1), v(2), v(3), v(4)])).toThrow(InvalidConfigurationError);
  });

  test('the trimmed mean drops ⌊βn⌋ values at each end of every coordinate', () => {
    const tm = new TrimmedMean({ beta: 0.2 });
    expect(list(tm.aggregate([v(1, -50), v(2, 0), v(3, 1), v(4, 2), v(100, 3)]))).toEqual([3, 1]);
    expect(() => new TrimmedMean({ beta: 0.2, numByzantine: 2 }).aggregate(five)).toThrow(/⌊βn⌋ >= f/);
    expect(() => new TrimmedMean({ beta: 0.5 })).toThrow(InvalidOptionError);
  });

  test('Bulyan selects θ = n − 2f by repeated Krum and averages the β = θ − 2f values nearest the median', () => {
    // Picks (hand-traced): 2 (tie with 3), 3, 1 (tie with 4), 4, 0; selected values 2, 3, 1, 4, 0, median 2,
    // the 3 nearest are 2, 3, 1, mean 2. The outlier 1000 is never selected.
    const bulyan = new Bulyan({ numByzantine: 1 });
    expect(list(bulyan.aggregate([v(0), v(1), v(2), v(3), v(4), v(5), v(1000)]))).toEqual([2]);
    expect(bulyan.lastSelection).toEqual([2, 3, 1, 4, 0]);
    expect(() => new Bulyan({ numByzantine: 2 }).aggregate(Array.from({ length: 10 }, (_, i) => v(i)))).toThrow(/n >= 4f \+ 3/);
  });

  test('norm bounding scales each update to at most maxNorm before the mean', () => {
    const nb = new NormBound({ maxNorm: 1 });
    const out = nb.aggregate([v(30, 40), v(0.3, 0.4)]);
    expect(out[0]).toBeCloseTo(0.45, 15);
    expect(out[1]).toBeCloseTo(0.6, 15);
    expect(nb.lastClipped).toBe(1);
    expect(() => new NormBound({ maxNorm: 0 })).toThrow(InvalidOptionError);
  });

  test('the weighted mean weights by example counts; robust rules ignore the weights', () => {
    expect(list(new WeightedMean().aggregate([v(1, 2), v(3, 6)], [1, 3]))).toEqual([2.5, 5]);
    expect(new Krum({ numByzantine: 0 }).usesWeights).toBe(false);
    expect(() => new WeightedMean().aggregate([v(1, 2), v(3)])).toThrow(ShapeMismatchError);
  });
});

// ---- attack simulations on a federated logistic regression -------------------------------------------------------

const D = 6; // 5 features + bias
const CLIENTS = 11;
const BYZANTINE = 2;

interface Shard {
  x: Float64Array; // row-major [m, D] with a trailing 1 for the bias
  y: Float64Array;
}

function makeShards(seed: number): Shard[] {
  const rng = new Rng(seed);
  const wStar = Array.from({ length: D }, () => rng.normal(0, 2));
  return Array.from({ length: CLIENTS }, () => {
    const m = 40;
    const x = new Float64Array(m * D);
    const y = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      let z = 0;
      for (let j = 0; j < D; j++) {
        x[i * D + j] = j === D - 1 ? 1 : rng.normal();
        z += x[i * D + j]! * wStar[j]!;
      }
      y[i] = z + rng.normal(0, 1.5) > 0 ? 1 : 0; // label noise: an over-confident model pays for it
    }
    return { x, y };
  });
}

function lossGrad(w: Float64Array, s: Shard, grad: Float64Array | null): number {
  const m = s.y.length;
  let loss = 0;
  grad?.fill(0);
  for (let i = 0; i < m; i++) {
    let z = 0;
    for (let j = 0; j < D; j++) z += s.x[i * D + j]! * w[j]!;
    // log(1 + e^z) − y·z, written to stay finite for large |z|
    loss += Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))) - s.y[i]! * z;
    if (grad) {
      const r = 1 / (1 + Math.exp(-z)) - s.y[i]!;
      for (let j = 0; j < D; j++) grad[j] += (r * s.x[i * D + j]!) / m;
    }
  }
  return loss / m;
}

function localUpdate(w: Float64Array, s: Shard): Float64Array {
  const local = Float64Array.from(w);
  const g = new Float64Array(D);
  for (let k = 0; k < 5; k++) {
    lossGrad(local, s, g);
    for (let j = 0; j < D; j++) local[j] -= 0.5 * g[j]!;
  }
  for (let j = 0; j < D; j++) local[j] -= w[j]!;
  return local;
}

type Attack = 'none' | 'sign-flip' | 'scale-100' | 'noise' | 'a-little-is-enough';

function attackUpdates(attack: Attack, honest: Float64Array[], own: Float64Array[], poisoned: Float64Array[], rng: Rng): Float64Array[] {
  if (attack === 'none') return own;
  if (attack === 'sign-flip') return own.map((u) => u.map((x) => -10 * x));
  // Model replacement (Bagdasaryan et al. 2020): the attacker's update, trained on flipped labels, boosted ×100.
  if (attack === 'scale-100') return poisoned.map((u) => u.map((x) => 100 * x));
  if (attack === 'noise') return own.map((u) => u.map(() => rng.normal(0, 20)));
  // Baruch et al. 2019: every attacker sends μ − z·σ of the honest updates, coordinate by coordinate (z = 1).
  const mu = new Float64Array(D);
  const sd = new Float64Array(D);
  for (const u of honest) for (let j = 0; j < D; j++) mu[j] += u[j]! / honest.length;
  for (const u of honest) for (let j = 0; j < D; j++) sd[j] += (u[j]! - mu[j]!) ** 2 / honest.length;
  const alie = mu.map((m, j) => m - Math.sqrt(sd[j]!));
  return own.map(() => Float64Array.from(alie));
}

interface RunResult {
  loss: number;
  accuracy: number;
  /** Largest violation of the rule's bound over all rounds (≤ 0 when always within). */
  worstExcess: number;
}

function simulate(rule: Aggregator, attack: Attack, bound: (agg: Float64Array, honest: Float64Array[]) => number): RunResult {
  const shards = makeShards(7);
  const rng = new Rng(11);
  const w = new Float64Array(D);
  let worstExcess = -Infinity;
  for (let round = 0; round < 40; round++) {
    const updates = shards.map((s) => localUpdate(w, s));
    const honest = updates.slice(BYZANTINE);
    const poisoned = shards.slice(0, BYZANTINE).map((s) => localUpdate(w, { x: s.x, y: s.y.map((y) => 1 - y) }));
    const bad = attackUpdates(attack, honest, updates.slice(0, BYZANTINE), poisoned, rng);
    const agg = rule.aggregate([...bad, ...honest], shards.map((s) => s.y.length));
    worstExcess = Math.max(worstExcess, bound(agg, honest));
    for (let j = 0; j < D; j++) w[j] += agg[j]!;
  }
  let loss = 0;
  let correct = 0;
  let total = 0;
  for (const s of shards) {
    loss += lossGrad(w, s, null) / shards.length;
    for (let i = 0; i < s.y.length; i++) {
      let z = 0;
      for (let j = 0; j < D; j++) z += s.x[i * D + j]! * w[j]!;
      if ((z > 0 ? 1 : 0) === s.y[i]) correct++;
      total++;
    }
  }
  return { loss: Number.isFinite(loss) ? loss : Infinity, accuracy: correct / total, worstExcess };
}

/** Every coordinate of the aggregate lies within the honest values' range: returns the largest overshoot. */
function coordinateRange(agg: Float64Array, honest: Float64Array[]): number {
  let worst = -Infinity;
  for (let j = 0; j < D; j++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const u of honest) {
      lo = Math.min(lo, u[j]!);
      hi = Math.max(hi, u[j]!);
    }
    worst = Math.max(worst, agg[j]! - hi - 1e-12, lo - agg[j]! - 1e-12);
  }
  return worst;
}

/** ‖agg − μ_H‖ against the largest ‖Δᵢ − μ_H‖ over honest i (the honest updates' spread). */
function honestSpread(agg: Float64Array, honest: Float64Array[]): number {
  const mu = new Float64Array(D);
  for (const u of honest) for (let j = 0; j < D; j++) mu[j] += u[j]! / honest.length;
  const dist = (a: Float64Array): number => Math.sqrt(a.reduce((s, x, j) => s + (x - mu[j]!) ** 2, 0));
  return dist(agg) - Math.max(...honest.map(dist)) - 1e-12;
}

const MAX_NORM = 1;
const normBound = (agg: Float64Array): number => Math.hypot(...agg) - MAX_NORM - 1e-12;

// The last column is the loss slack over the attack-free run: norm bounding limits the attackers' pull to C per
// update but does not remove it, so it gets a looser one.
const robustRules: Array<[string, () => Aggregator, (agg: Float64Array, honest: Float64Array[]) => number, number]> = [
  ['Krum', () => new Krum({ numByzantine: BYZANTINE }), honestSpread, 0.05],
  ['MultiKrum', () => new MultiKrum({ numByzantine: BYZANTINE }), honestSpread, 0.05],
  ['CoordinateMedian', () => new CoordinateMedian({ numByzantine: BYZANTINE }), coordinateRange, 0.05],
  ['TrimmedMean', () => new TrimmedMean({ beta: 0.2, numByzantine: BYZANTINE }), coordinateRange, 0.05],
  ['Bulyan', () => new Bulyan({ numByzantine: BYZANTINE }), honestSpread, 0.05],
  ['NormBound', () => new NormBound({ maxNorm: MAX_NORM }), normBound, 0.15],
];

describe('Byzantine attacks on federated logistic regression (11 clients, 2 attackers)', () => {
  const clean = simulate(new WeightedMean(), 'none', () => -1);

  test('without attackers FedAvg converges (the reference)', () => {
    expect(clean.accuracy).toBeGreaterThan(0.9);
    expect(clean.loss).toBeLessThan(0.35);
  });

  test.each(['sign-flip', 'scale-100', 'noise'] as const)('plain FedAvg diverges under the %s attack', (attack) => {
    const r = simulate(new WeightedMean(), attack, () => -1);
    expect(r.loss).toBeGreaterThan(Math.log(2)); // worse than the untrained model
  });

  for (const attack of ['sign-flip', 'scale-100', 'noise', 'a-little-is-enough'] as const) {
    test.each(robustRules)(`%s converges under the ${attack} attack and every aggregated step stays within its bound`, (_name, make, bound, slack) => {
      const r = simulate(make(), attack, bound);
      expect(r.accuracy).toBeGreaterThan(0.88);
      expect(r.loss).toBeLessThan(clean.loss + slack);
      expect(r.worstExcess).toBeLessThanOrEqual(0);
    });
  }
});
