import { type FloatArray, InvalidOptionError, type Parameter } from '@opt/tensor';
import type { MaskInput } from './types.js';

/** The parameters one inner transform sees: their positions in the full list, and views to pass down. */
export interface Subset {
  /** Positions in the full parameter list, ascending. */
  readonly indices: number[];
  /** The parameters at those positions (a stable array, so inner caches stay valid). */
  readonly params: Parameter[];
  /** Scratch list the caller fills with the matching update buffers before calling the inner transform. */
  readonly updates: FloatArray[];
}

/**
 * Splits a parameter list into labelled subsets and remembers the split, so the
 * per-step path only confirms that the parameter list is unchanged (an identity
 * comparison per parameter) and refills the preallocated `updates` scratch.
 * The scratch is filled and consumed within one synchronous `update`, so one
 * cache per transform object serves any number of states.
 */
export class SubsetCache {
  private source: Parameter[] = [];
  private subsets: Subset[] = [];
  private built = false;

  /**
   * @param labelCount - number of subsets.
   * @param assign - the subset of each parameter (−1: none); called only when the parameter list changes.
   */
  constructor(
    private readonly labelCount: number,
    private readonly assign: (param: Parameter, index: number, count: number) => number,
  ) {}

  /** The subsets for `params`, rebuilt only when the list differs from the previous one. */
  subsetsFor(params: readonly Parameter[]): readonly Subset[] {
    if (!this.built || !this.sameList(params)) this.rebuild(params);
    return this.subsets;
  }

  /** Point each subset's scratch at the matching buffers of `updates`; returns the subsets. */
  gather(params: readonly Parameter[], updates: readonly FloatArray[]): readonly Subset[] {
    const subsets = this.subsetsFor(params);
    for (let s = 0; s < subsets.length; s++) {
      const { indices, updates: scratch } = subsets[s]!;
      for (let k = 0; k < indices.length; k++) scratch[k] = updates[indices[k]!]!;
    }
    return subsets;
  }

  private sameList(params: readonly Parameter[]): boolean {
    const source = this.source;
    if (source.length !== params.length) return false;
    for (let i = 0; i < params.length; i++) if (source[i] !== params[i]) return false;
    return true;
  }

  private rebuild(params: readonly Parameter[]): void {
    const subsets: Subset[] = [];
    for (let s = 0; s < this.labelCount; s++) subsets.push({ indices: [], params: [], updates: [] });
    params.forEach((p, i) => {
      const label = this.assign(p, i, params.length);
      if (label < 0) return;
      const subset = subsets[label]!;
      subset.indices.push(i);
      subset.params.push(p);
    });
    for (const subset of subsets) subset.updates.length = subset.indices.length;
    this.source = [...params];
    this.subsets = subsets;
    this.built = true;
  }
}

/** A {@link SubsetCache} with one subset: the parameters the mask selects. */
export function maskCache(where: string, mask: MaskInput): SubsetCache {
  if (typeof mask !== 'function' && !Array.isArray(mask)) {
    throw new InvalidOptionError('mask', mask, 'an array of booleans or a predicate (param, index) => boolean', where);
  }
  return new SubsetCache(1, (p, i, count) => {
    let keep: unknown;
    if (typeof mask === 'function') {
      keep = mask(p, i);
    } else {
      if (mask.length !== count) {
        throw new InvalidOptionError('mask', `${mask.length} booleans`, `one boolean per parameter (${count})`, where);
      }
      keep = mask[i];
    }
    if (typeof keep !== 'boolean') throw new InvalidOptionError(`mask[${i}]`, keep, 'true or false', where);
    return keep ? 0 : -1;
  });
}
