import { InvalidOptionError, Rng } from '@opt/tensor';

/** murmur3's 32-bit finaliser: a bijection that spreads every input bit over the output. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A seed derived from a base seed and integer coordinates, e.g.
 * `(runSeed, metaStep, pairIndex)`: two 32-bit hash chains over the
 * coordinates, combined into an integer below 2^52 so that every `Rng` built
 * from it starts an independent stream.
 *
 * ```
 * h₁ = fmix(… fmix(fmix(s ⊕ c₀·φ) ⊕ c₁·φ) …),  h₂ likewise with another constant
 * seed = h₁·2^20 + ⌊h₂ / 2^12⌋
 * ```
 *
 * This is how every estimator seeds its randomness: a meta-step's estimates do
 * not depend on which thread or in which order they run.
 *
 * @param seed - the run's base seed (any finite number; its integer part is used).
 * @param coords - non-negative integer coordinates.
 */
export function metaSeed(seed: number, ...coords: number[]): number {
  if (!Number.isFinite(seed)) throw new InvalidOptionError('seed', seed, 'a finite number', 'metaSeed');
  const whole = Math.trunc(seed);
  let h1 = fmix32((whole >>> 0) ^ 0x243f6a88);
  let h2 = fmix32((Math.floor(Math.abs(whole) / 4294967296) >>> 0) ^ 0x85a308d3 ^ (whole < 0 ? 0x13198a2e : 0));
  for (let i = 0; i < coords.length; i++) {
    const c = coords[i]!;
    if (!Number.isInteger(c) || c < 0) throw new InvalidOptionError(`coords[${i}]`, c, 'a non-negative integer', 'metaSeed');
    const lo = c >>> 0;
    const hi = Math.floor(c / 4294967296) >>> 0;
    h1 = fmix32(h1 ^ Math.imul(lo + 1, 0x9e3779b1) ^ hi);
    h2 = fmix32(h2 ^ Math.imul(lo + 1, 0x7feb352d) ^ Math.imul(hi, 0x846ca68b));
  }
  return h1 * 1048576 + Math.floor(h2 / 4096);
}

/** A fresh `Rng` seeded by {@link metaSeed}. */
export function metaRng(seed: number, ...coords: number[]): Rng {
  return new Rng(metaSeed(seed, ...coords));
}

/** An inner horizon: a fixed number of steps, or an inclusive range sampled log-uniformly. */
export type HorizonSpec = number | readonly [number, number];

/**
 * Draw a horizon: `spec` itself when it is a number, else an integer
 * log-uniform on `[min, max]`: `round(exp(U(log min, log max + 1)))` clamped
 * to the range (truncation-bias studies sample horizons this way so short and
 * long runs are equally represented per decade).
 */
export function sampleHorizon(rng: Rng, spec: HorizonSpec): number {
  if (typeof spec === 'number') return spec;
  const [lo, hi] = spec;
  const t = Math.floor(Math.exp(rng.uniform(Math.log(lo), Math.log(hi + 1))));
  return Math.min(hi, Math.max(lo, t));
}

/** Throw unless `spec` is a positive integer or an ordered pair of them. */
export function checkHorizon(where: string, option: string, spec: HorizonSpec): HorizonSpec {
  const values = typeof spec === 'number' ? [spec] : Array.isArray(spec) && spec.length === 2 ? spec : null;
  if (values === null || values.some((v) => !Number.isInteger(v) || v < 1) || (values.length === 2 && values[0]! > values[1]!)) {
    throw new InvalidOptionError(option, spec, 'a positive integer or a range [min, max] of them', where);
  }
  return spec;
}
