import { InvalidOptionError, OptError, Rng, type FloatArray, type RngState } from '@opt/tensor';

/**
 * Where DP noise and sampling randomness come from:
 * - `'private'` (default): a cryptographically secure generator, Web Crypto's
 *   `globalThis.crypto.getRandomValues` (Node ≥ 20 and every browser), turned
 *   into Gaussians by the Box–Muller transform on 53-bit uniforms;
 * - `'secure'`: the same CSPRNG, and each Gaussian is the sum of four
 *   independent Gaussians divided by 2 (same variance), Opacus' `secure_mode`
 *   mitigation of the floating-point attacks on Gaussian samplers described by
 *   Holohan & Braghin, "Secure Random Sampling in Differential Privacy"
 *   (arXiv:2107.10138) and Jin et al., "Are We There Yet? Timing and
 *   Floating-Point Attacks on Differential Privacy Systems" (arXiv:2112.05307);
 * - `'seeded'`: the library's seeded xoshiro128** `Rng`, reproducible and
 *   checkpointable, for tests and debugging. **Not private**: anyone with the
 *   seed can subtract the noise.
 */
export type NoiseMode = 'private' | 'secure' | 'seeded';

/**
 * The platform has no Web Crypto `getRandomValues`, so the private noise modes
 * cannot run (use Node ≥ 20, a browser, or the non-private `'seeded'` mode).
 */
export class SecureRandomUnavailableError extends OptError {
  constructor(message: string) {
    super('SECURE_RANDOM_UNAVAILABLE', message);
  }
}

interface WebCrypto {
  getRandomValues<T extends Uint32Array>(array: T): T;
}

/** Words per `getRandomValues` call: the Web Crypto limit is 65 536 bytes. */
const POOL_WORDS = 16384;
const TWO_POW_M53 = 1 / 9007199254740992;
const TWO_PI = 2 * Math.PI;

function webCrypto(where: string): WebCrypto {
  const c = (globalThis as unknown as { crypto?: Partial<WebCrypto> }).crypto;
  if (c === undefined || typeof c.getRandomValues !== 'function') {
    throw new SecureRandomUnavailableError(
      `${where}: globalThis.crypto.getRandomValues is not available; private noise needs Web Crypto (Node >= 20 or a browser). ` +
        `The 'seeded' mode works without it but is NOT private.`,
    );
  }
  return c as WebCrypto;
}

/**
 * A source of uniform and standard-normal deviates, either a CSPRNG or a
 * seeded generator. The DP code draws every random number (Poisson sampling,
 * Gaussian noise, the adaptive-clipping count noise) through one of these.
 */
export interface RandomSource {
  /** The mode it implements. */
  readonly mode: NoiseMode;
  /** Whether its output is suitable for a differential-privacy guarantee (false for `'seeded'`). */
  readonly private: boolean;
  /** A uniform deviate on [0, 1) with 53 random bits. */
  uniform(): number;
  /** A standard normal deviate N(0, 1) (in `'secure'` mode, the sum of four divided by 2). */
  normal(): number;
  /** `x[j] ← x[j] + std·zⱼ` for every element, with fresh N(0, 1) draws zⱼ; allocates nothing. */
  addNoise(x: FloatArray, std: number): void;
  /** The generator state (seeded mode only; `null` for a CSPRNG, which has no reproducible state). */
  getState(): RngState | null;
  /** Restore a state from {@link RandomSource.getState} (seeded mode only). */
  setState(state: RngState): void;
}

/**
 * Uniform and Gaussian deviates from Web Crypto `getRandomValues`, read from a
 * pool of 16 384 words refilled in one call when used up (so the per-draw cost
 * is a few arithmetic operations and no allocation). Uniforms take 53 bits from
 * two words (`(a·2^26 + b)·2^-53`); normals use Box–Muller, whose two outputs
 * are both used. With `secure: true` every normal is `(z₁ + z₂ + z₃ + z₄)/2`,
 * Opacus' `secure_mode` construction (arXiv:2107.10138, arXiv:2112.05307):
 * summing independent draws smooths the gaps in the floating-point
 * representation of a single sampled Gaussian that those attacks exploit.
 *
 * @example
 * ```ts
 * const source = new CryptoRandomSource();
 * const noise = new Float64Array(4);
 * source.addNoise(noise, 1.0); // four N(0, 1) draws from the CSPRNG
 * ```
 */
export class CryptoRandomSource implements RandomSource {
  readonly mode: NoiseMode;
  readonly private = true;
  private readonly crypto: WebCrypto;
  private readonly pool = new Uint32Array(POOL_WORDS);
  private next = POOL_WORDS;
  private spare = 0;
  private hasSpare = false;

  /** @param options - `secure: true` for the four-Gaussian `'secure'` mode (default false). */
  constructor(options: { secure?: boolean } = {}) {
    this.mode = options.secure === true ? 'secure' : 'private';
    this.crypto = webCrypto('CryptoRandomSource');
  }

  private word(): number {
    if (this.next === POOL_WORDS) {
      this.crypto.getRandomValues(this.pool);
      this.next = 0;
    }
    return this.pool[this.next++]!;
  }

  uniform(): number {
    const a = this.word() >>> 5;
    const b = this.word() >>> 6;
    return (a * 67108864 + b) * TWO_POW_M53;
  }

  private gaussian(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    // 1 − u lies in (0, 1], so the logarithm is finite.
    const r = Math.sqrt(-2 * Math.log(1 - this.uniform()));
    const t = TWO_PI * this.uniform();
    this.spare = r * Math.sin(t);
    this.hasSpare = true;
    return r * Math.cos(t);
  }

  normal(): number {
    if (this.mode === 'secure') return 0.5 * (this.gaussian() + this.gaussian() + this.gaussian() + this.gaussian());
    return this.gaussian();
  }

  addNoise(x: FloatArray, std: number): void {
    if (this.mode === 'secure') {
      const half = 0.5 * std;
      for (let j = 0; j < x.length; j++) x[j] = x[j]! + half * (this.gaussian() + this.gaussian() + this.gaussian() + this.gaussian());
      return;
    }
    for (let j = 0; j < x.length; j++) x[j] = x[j]! + std * this.gaussian();
  }

  getState(): null {
    return null;
  }

  setState(): void {
    throw new InvalidOptionError('state', 'a saved generator state', "a 'seeded' random source (a CSPRNG cannot be restored)", 'CryptoRandomSource.setState');
  }
}

/**
 * Deviates from the seeded `Rng` of `@opt/tensor` (xoshiro128**, polar-method
 * normals). Reproducible and checkpointable, so training resumes bit-for-bit,
 * and therefore **NOT private**: `private` is false and the privacy engine
 * reports it. For tests only.
 *
 * @example
 * ```ts
 * const a = new SeededRandomSource(7), b = new SeededRandomSource(7);
 * console.log(a.normal() === b.normal()); // true
 * ```
 */
export class SeededRandomSource implements RandomSource {
  readonly mode: NoiseMode = 'seeded';
  readonly private = false;
  /** The underlying generator. */
  readonly rng: Rng;

  /** @param seed - the generator's seed (default 0). */
  constructor(seed = 0) {
    this.rng = new Rng(seed);
  }

  uniform(): number {
    return this.rng.uniform();
  }

  normal(): number {
    return this.rng.normal();
  }

  addNoise(x: FloatArray, std: number): void {
    this.rng.addNormal(x, std);
  }

  getState(): RngState {
    return this.rng.getState();
  }

  setState(state: RngState): void {
    this.rng.setState(state);
  }
}

/**
 * The random source for a mode: a {@link CryptoRandomSource} for `'private'`
 * and `'secure'`, a {@link SeededRandomSource} (not private) for `'seeded'`.
 *
 * @param mode - see {@link NoiseMode}.
 * @param seed - the seed of the `'seeded'` mode (default 0; ignored otherwise).
 */
export function createRandomSource(mode: NoiseMode, seed = 0): RandomSource {
  switch (mode) {
    case 'private':
      return new CryptoRandomSource();
    case 'secure':
      return new CryptoRandomSource({ secure: true });
    case 'seeded':
      return new SeededRandomSource(seed);
    default:
      throw new InvalidOptionError('noise', mode, "one of 'private', 'secure', 'seeded'", 'createRandomSource');
  }
}
