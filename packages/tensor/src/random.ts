import type { FloatArray } from './dtype.js';
import { InvalidOptionError, StateDictError } from './errors.js';

/**
 * The complete state of an {@link Rng}, as plain JSON data: the four 32-bit
 * words of the xoshiro128** state and the cached second normal deviate of the
 * polar method (`null` when none is cached). Restoring it with
 * {@link Rng.setState} continues the exact same stream.
 */
export interface RngState {
  /** The generator's four state words, each an unsigned 32-bit integer, not all zero. */
  s: [number, number, number, number];
  /** The spare standard normal deviate produced by the last `normal()` pair, if unused. */
  spare: number | null;
}

/** 2^-32: maps an unsigned 32-bit integer into [0, 1). */
const TWO_POW_M32 = 1 / 4294967296;
/** 2^-53: maps a 53-bit integer into [0, 1) with every float64 mantissa bit random. */
const TWO_POW_M53 = 1 / 9007199254740992;

/**
 * The library's seedable pseudo-random number generator: xoshiro128**
 * (Blackman & Vigna, 2018), 128 bits of state, period 2^128 − 1, built from
 * 32-bit operations only (`Math.imul`, shifts, xors), so it is fast in every
 * JavaScript engine and needs no BigInt.
 *
 * ```
 * out   = rotl(s1·5, 7)·9                           (mod 2^32)
 * t     = s1 << 9
 * s2 ^= s0;  s3 ^= s1;  s1 ^= s2;  s0 ^= s3;  s2 ^= t;  s3 = rotl(s3, 11)
 * ```
 *
 * A numeric seed is expanded into the four state words with splitmix32 (a Weyl
 * sequence passed through MurmurHash3's 32-bit finaliser), so nearby seeds give
 * unrelated streams and the state is never all zero. Normal deviates use
 * Marsaglia's polar method, which yields two per accepted pair; the second is
 * cached and is part of the checkpointable {@link RngState}.
 *
 * @example
 * ```ts
 * import { Rng } from '@opt/tensor';
 * const rng = new Rng(42);
 * const noise = rng.fillNormal(new Float32Array(1024), 0, 0.1);
 * const saved = rng.getState();   // plain JSON data, e.g. for a checkpoint
 * const a = rng.normal();
 * rng.setState(saved);
 * console.log(rng.normal() === a); // true: restoring the state replays the stream
 * ```
 */
export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spare = 0;
  private hasSpare = false;

  /**
   * @param seed - any finite number; its integer part, up to 2^53 in magnitude,
   * selects the stream (the low and high 32-bit halves are both used). Default 0.
   */
  constructor(seed = 0) {
    this.seed(seed);
  }

  /** Restart the generator from `seed` (as the constructor does), dropping any cached normal. */
  seed(seed: number): void {
    if (typeof seed !== 'number' || !Number.isFinite(seed)) {
      throw new InvalidOptionError('seed', seed, 'a finite number', 'Rng');
    }
    const whole = Math.trunc(seed);
    const lo = whole >>> 0;
    const hi = Math.floor(Math.abs(whole) / 4294967296) >>> 0;
    // Mix the high word and the sign into the splitmix32 starting point so that
    // seeds differing only above bit 31 (or in sign) start distinct sequences.
    let x = (lo ^ Math.imul(hi ^ (whole < 0 ? 0x5bd1e995 : 0), 0x9e3779b1)) | 0;
    x = (x + 0x9e3779b9) | 0;
    this.s0 = fmix32(x);
    x = (x + 0x9e3779b9) | 0;
    this.s1 = fmix32(x);
    x = (x + 0x9e3779b9) | 0;
    this.s2 = fmix32(x);
    x = (x + 0x9e3779b9) | 0;
    this.s3 = fmix32(x);
    // fmix32 is a bijection and the four inputs differ, so at most one word is 0.
    this.hasSpare = false;
    this.spare = 0;
  }

  /** The next unsigned 32-bit integer, uniform on [0, 2^32). */
  nextUint32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 = s1 ^ this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /**
   * A uniform float64 on `[low, high)`; by default on [0, 1). Each draw uses two
   * 32-bit outputs so all 53 mantissa bits are random (`k·2^-53`, k < 2^53).
   */
  uniform(low = 0, high = 1): number {
    const a = this.nextUint32() >>> 5; // 27 bits
    const b = this.nextUint32() >>> 6; // 26 bits
    const u = (a * 67108864 + b) * TWO_POW_M53;
    return low + (high - low) * u;
  }

  /** A uniform float on [0, 1) with 32 random bits: one generator output, half the cost of {@link Rng.uniform}. */
  uniform32(): number {
    return this.nextUint32() * TWO_POW_M32;
  }

  /** A uniform integer on `[0, n)` for an integer `1 ≤ n ≤ 2^32`, without modulo bias (rejection sampling). */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 4294967296) {
      throw new InvalidOptionError('n', n, 'an integer in [1, 2^32]', 'Rng.int');
    }
    // Values at or above `limit` would make some residues more likely; redraw them.
    const limit = 4294967296 - (4294967296 % n);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return x % n;
  }

  /**
   * A normal deviate N(mean, std²), by Marsaglia's polar method: draw (u, v)
   * uniform on the square (−1, 1)², reject unless 0 < s = u² + v² < 1, then
   * `u·√(−2 ln s / s)` and `v·√(−2 ln s / s)` are independent N(0, 1); the
   * second is cached for the next call.
   */
  normal(mean = 0, std = 1): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return mean + std * this.spare;
    }
    let u = 0;
    let v = 0;
    let s = 0;
    do {
      u = 2 * this.uniform() - 1;
      v = 2 * this.uniform() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const m = Math.sqrt((-2 * Math.log(s)) / s);
    this.spare = v * m;
    this.hasSpare = true;
    return mean + std * (u * m);
  }

  /** Fill `buffer` with N(mean, std²) deviates, in order, and return it. */
  fillNormal<T extends FloatArray>(buffer: T, mean = 0, std = 1): T {
    for (let i = 0; i < buffer.length; i++) buffer[i] = mean + std * this.normal();
    return buffer;
  }

  /** Add N(0, std²) noise to every element of `buffer`, in place (`x ← x + std·z`), and return it. */
  addNormal<T extends FloatArray>(buffer: T, std: number): T {
    for (let i = 0; i < buffer.length; i++) buffer[i] = buffer[i]! + std * this.normal();
    return buffer;
  }

  /** Fill `buffer` with uniform deviates on `[low, high)` and return it. */
  fillUniform<T extends FloatArray>(buffer: T, low = 0, high = 1): T {
    for (let i = 0; i < buffer.length; i++) buffer[i] = this.uniform(low, high);
    return buffer;
  }

  /** A snapshot of the full state (a fresh object; JSON-serialisable). */
  getState(): RngState {
    return { s: [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0], spare: this.hasSpare ? this.spare : null };
  }

  /**
   * Restore a state from {@link Rng.getState}: the generator then produces
   * exactly what it produced after that snapshot. Throws a `StateDictError` on a
   * malformed state (and leaves the generator unchanged).
   */
  setState(state: RngState): void {
    const where = 'Rng.setState';
    if (typeof state !== 'object' || state === null || !Array.isArray(state.s) || state.s.length !== 4) {
      throw new StateDictError(`${where}: expected {s: [four uint32 words], spare: number | null}`);
    }
    for (const [i, w] of state.s.entries()) {
      if (!Number.isInteger(w) || w < 0 || w > 0xffffffff) {
        throw new StateDictError(`${where}: s[${i}] = ${String(w)} is not an unsigned 32-bit integer`);
      }
    }
    if (state.s.every((w) => w === 0)) throw new StateDictError(`${where}: the all-zero state is not a valid xoshiro128** state`);
    const spare = state.spare ?? null;
    if (spare !== null && (typeof spare !== 'number' || !Number.isFinite(spare))) {
      throw new StateDictError(`${where}: spare must be a finite number or null, got ${String(spare)}`);
    }
    this.s0 = state.s[0] | 0;
    this.s1 = state.s[1] | 0;
    this.s2 = state.s[2] | 0;
    this.s3 = state.s[3] | 0;
    this.hasSpare = spare !== null;
    this.spare = spare ?? 0;
  }

  /** An independent copy continuing the same stream. */
  clone(): Rng {
    const r = new Rng();
    r.setState(this.getState());
    return r;
  }

  /** A generator restored from a saved state. */
  static fromState(state: RngState): Rng {
    const r = new Rng();
    r.setState(state);
    return r;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** MurmurHash3's 32-bit finaliser: a bijection on 32-bit integers with full avalanche. */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}
