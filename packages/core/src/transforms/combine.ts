import { type FloatArray, InvalidOptionError, type Parameter, ShapeMismatchError } from '@opt/tensor';
import { SubsetCache, maskCache } from './subsets.js';
import type { GradientTransformation, MaskInput, StateOf } from './types.js';

/** The state of a {@link chain}: the states of its links, in order. */
export type ChainState<T extends readonly GradientTransformation<unknown>[]> = { -readonly [K in keyof T]: StateOf<T[K]> };

/**
 * Compose transformations: each link transforms the updates the previous one
 * produced (optax `chain`). The state is the list of the links' states.
 *
 * ```ts
 * const tx = chain(clipByGlobalNorm(1), scaleByAdam(), addDecayedWeights(1e-2), scaleByLearningRate(1e-3));
 * ```
 */
export function chain<const T extends readonly GradientTransformation<unknown>[]>(
  ...transforms: T
): GradientTransformation<ChainState<T>> {
  return {
    init: (params) => transforms.map((t) => t.init(params)) as ChainState<T>,
    update(updates, state, params) {
      const states = state as unknown[];
      for (let i = 0; i < transforms.length; i++) transforms[i]!.update(updates, states[i], params);
    },
  };
}

/** State of {@link masked}: the inner transform's state over the selected parameters only. */
export interface MaskedState<S> {
  inner: S;
}

/**
 * Apply `inner` to the parameters the mask selects; the updates of the others
 * pass through unchanged (optax `masked`). The inner transform is initialised
 * with, and sees, only the selected parameters, so its state holds nothing
 * for the rest.
 *
 * @param inner - the transform to apply.
 * @param mask - a boolean per parameter, or a predicate `(param, index) => boolean`
 * (evaluated once per parameter list, not per step).
 */
export function masked<S>(inner: GradientTransformation<S>, mask: MaskInput): GradientTransformation<MaskedState<S>> {
  const cache = maskCache('masked', mask);
  return {
    init: (params) => ({ inner: inner.init(cache.subsetsFor(params)[0]!.params) }),
    update(updates, state, params) {
      checkCount('masked', updates, params);
      const subset = cache.gather(params, updates)[0]!;
      inner.update(subset.updates, state.inner, subset.params);
    },
  };
}

/** State of {@link partition}: one inner state per label, over that label's parameters. */
export type PartitionState<T extends Record<string, GradientTransformation<unknown>>> = { [K in keyof T]: StateOf<T[K]> };

/**
 * Treat parameters differently by label (optax `partition`, formerly
 * `multi_transform`): each parameter gets a label, and the transform of that
 * label sees exactly the parameters carrying it. Per-group hyper-parameters of
 * the PyTorch layer map to this.
 *
 * ```ts
 * const tx = partition({ train: adam(1e-3), frozen: setToZero() }, (p) => (p.name?.startsWith('embed') ? 'frozen' : 'train'));
 * ```
 *
 * @param transforms - one transform per label.
 * @param labels - a label per parameter, or a function `(param, index) => label`
 * (evaluated once per parameter list, not per step). Every label must be a key of `transforms`.
 */
export function partition<T extends Record<string, GradientTransformation<unknown>>>(
  transforms: T,
  labels: readonly string[] | ((param: Parameter, index: number) => string),
): GradientTransformation<PartitionState<T>> {
  const keys = Object.keys(transforms) as (keyof T & string)[];
  if (keys.length === 0) throw new InvalidOptionError('transforms', transforms, 'at least one labelled transform', 'partition');
  if (typeof labels !== 'function' && !Array.isArray(labels)) {
    throw new InvalidOptionError('labels', labels, 'an array of labels or a function (param, index) => label', 'partition');
  }
  const slot = new Map<string, number>(keys.map((k, i) => [k, i]));
  const cache = new SubsetCache(keys.length, (p, i, count) => {
    if (typeof labels !== 'function' && labels.length !== count) {
      throw new InvalidOptionError('labels', `${labels.length} labels`, `one label per parameter (${count})`, 'partition');
    }
    const label = typeof labels === 'function' ? labels(p, i) : labels[i];
    const index = typeof label === 'string' ? slot.get(label) : undefined;
    if (index === undefined) {
      throw new InvalidOptionError(`labels[${i}]`, label, `one of ${keys.map((k) => JSON.stringify(k)).join(', ')}`, 'partition');
    }
    return index;
  });
  return {
    init(params) {
      const subsets = cache.subsetsFor(params);
      const state: Record<string, unknown> = {};
      keys.forEach((k, i) => (state[k] = transforms[k]!.init(subsets[i]!.params)));
      return state as PartitionState<T>;
    },
    update(updates, state, params) {
      checkCount('partition', updates, params);
      const subsets = cache.gather(params, updates);
      const states = state as Record<string, unknown>;
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        const subset = subsets[i]!;
        transforms[key]!.update(subset.updates, states[key], subset.params);
      }
    },
  };
}

function checkCount(where: string, updates: readonly FloatArray[], params: readonly Parameter[]): void {
  if (updates.length !== params.length) {
    throw new ShapeMismatchError(`${where}: got ${updates.length} update buffers for ${params.length} parameters`);
  }
}
