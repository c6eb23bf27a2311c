import { type FloatArray, InvalidOptionError, Rng } from '@opt/tensor';

/**
 * Weight initialisation of {@link Dense} and {@link Conv2d}:
 * - `'kaiming-uniform'` (PyTorch's default for `nn.Linear` and `nn.Conv2d`:
 *   `kaiming_uniform_(a=√5)`, which works out to) weight and bias ~ U(−1/√fanIn, 1/√fanIn);
 * - `'xavier'`: Glorot uniform, weight ~ U(−√(6/(fanIn + fanOut)), +√(6/(fanIn + fanOut))), bias 0;
 * - `'zeros'`: weight and bias 0.
 */
export type InitScheme = 'kaiming-uniform' | 'xavier' | 'zeros';

/** Randomness of a layer's initialisation: a generator (shared, advanced in place) or a seed. */
export interface InitRandomness {
  /** A generator to draw from; takes precedence over `seed`. */
  rng?: Rng;
  /** Seed of a fresh generator when no `rng` is given. Default 0. */
  seed?: number;
}

/** The generator a layer draws its initial values from. */
export function resolveRng(options: InitRandomness): Rng {
  return options.rng ?? new Rng(options.seed ?? 0);
}

/**
 * Fill `weight` then `bias` (when present) by `scheme`, drawing weight elements
 * in row-major order and then bias elements, so a seed fixes every value.
 */
export function initialise(
  where: string,
  scheme: InitScheme,
  weight: FloatArray,
  bias: FloatArray | null,
  fanIn: number,
  fanOut: number,
  rng: Rng,
): void {
  if (scheme === 'zeros') return;
  if (scheme === 'kaiming-uniform') {
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    rng.fillUniform(weight, -bound, bound);
    if (bias !== null) rng.fillUniform(bias, -bound, bound);
    return;
  }
  if (scheme === 'xavier') {
    const bound = Math.sqrt(6 / (fanIn + fanOut));
    rng.fillUniform(weight, -bound, bound);
    return;
  }
  throw new InvalidOptionError('init', scheme, "'kaiming-uniform', 'xavier' or 'zeros'", where);
}
