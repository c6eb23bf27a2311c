import { type FloatArray, InvalidOptionError, type Rng, ShapeMismatchError, isFloatArray } from '@opt/tensor';
import { checkBoolean, checkInRange, checkInteger, checkOneOf, checkPositive } from '@opt/core';
import type { ShapedArray } from './losses.js';
import { checkGradBuffer, checkLabels, checkWeight, classTargetRows, keptWeight, logitsShape } from './losses-rows.js';

/**
 * A standard Gamma(shape, 1) deviate by Marsaglia & Tsang (2000): with
 * `d = a − 1/3`, `c = 1/√(9d)`, draw z ~ N(0, 1), `v = (1 + c·z)³`, accept `d·v` when
 * `v > 0` and `ln u < z²/2 + d − d·v + d·ln v` (a cheap squeeze `u < 1 − 0.0331·z⁴`
 * accepts most draws without logarithms). For `a < 1` the boost
 * `Gamma(a) = Gamma(a + 1)·u^(1/a)` is used.
 *
 * @param rng - the generator to draw from (its state advances).
 * @param shape - the shape parameter a > 0.
 */
export function sampleGamma(rng: Rng, shape: number): number {
  checkPositive('sampleGamma', 'shape', shape);
  if (shape >= 1) return marsagliaTsang(rng, shape);
  const g = marsagliaTsang(rng, shape + 1);
  return g * Math.pow(1 - rng.uniform(), 1 / shape);
}

/**
 * A Beta(a, b) deviate as `X / (X + Y)` with independent X ~ Gamma(a), Y ~ Gamma(b)
 * ({@link sampleGamma}; X is drawn first). Small shapes (< 1) are combined in log
 * space, `1 / (1 + exp(ln Y − ln X))`, because `u^(1/a)` underflows to 0 for tiny
 * a (MixUp with α = 0.1 routinely gives such draws) and 0/0 would be NaN.
 *
 * @param rng - the generator to draw from.
 * @param a - first shape parameter (> 0).
 * @param b - second shape parameter (> 0).
 */
export function sampleBeta(rng: Rng, a: number, b: number): number {
  checkPositive('sampleBeta', 'a', a);
  checkPositive('sampleBeta', 'b', b);
  const lx = logGammaVariate(rng, a);
  const ly = logGammaVariate(rng, b);
  return 1 / (1 + Math.exp(ly - lx));
}

/**
 * A uniformly random permutation of 0…n−1 (Fisher–Yates, drawing `rng.int(i + 1)`
 * for i = n−1 down to 1).
 *
 * @param rng - the generator to draw from.
 * @param n - the length.
 * @param out - optional buffer of length n to fill instead of a new one.
 */
export function randomPermutation(rng: Rng, n: number, out?: Int32Array): Int32Array {
  checkInteger('randomPermutation', 'n', n, 0);
  const perm = out ?? new Int32Array(n);
  if (perm.length !== n) throw new ShapeMismatchError(`randomPermutation: out has ${perm.length} elements, expected ${n}`);
  for (let i = 0; i < n; i++) perm[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  return perm;
}

function marsagliaTsang(rng: Rng, a: number): number {
  const d = a - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const z = rng.normal();
    const t = 1 + c * z;
    if (t <= 0) continue;
    const v = t * t * t;
    const u = 1 - rng.uniform(); // in (0, 1], so ln u is finite
    const z2 = z * z;
    if (u < 1 - 0.0331 * z2 * z2) return d * v;
    if (Math.log(u) < 0.5 * z2 + d * (1 - v + Math.log(v))) return d * v;
  }
}

function logGammaVariate(rng: Rng, a: number): number {
  if (a >= 1) return Math.log(marsagliaTsang(rng, a));
  const g = marsagliaTsang(rng, a + 1);
  return Math.log(g) + Math.log(1 - rng.uniform()) / a;
}

/** The pasted region of {@link cutmix}: rows `[y0, y1)` and columns `[x0, x1)` of every channel. */
export interface CutMixBox {
  y0: number;
  y1: number;
  x0: number;
  x1: number;
}

/** Options shared by {@link mixup} and {@link cutmix}. */
export interface MixOptions {
  /** Number of classes C of the soft targets. */
  numClasses: number;
  /** λ ~ Beta(alpha, alpha) when `lambda` is not given. Default 1 (uniform λ). */
  alpha?: number;
  /** The mixing coefficient λ ∈ [0, 1] (weight of the unpermuted sample); sampled when absent. */
  lambda?: number;
  /** Partner of each sample: row i is mixed with row `perm[i]` (any index map into [0, N)); sampled when absent. */
  perm?: ArrayLike<number>;
  /** The seeded generator used for every sampled quantity (λ, then the permutation, then the CutMix box). */
  rng?: Rng;
  /** Label smoothing ε ∈ [0, 1] applied to the mixed targets: (1 − ε)·y + ε/C. Default 0. */
  labelSmoothing?: number;
  /** Buffer for the mixed inputs (same length and dtype as x; must not be x itself). */
  out?: FloatArray;
  /** Buffer for the soft targets, N·C elements. */
  targetsOut?: FloatArray;
}

/** Options of {@link cutmix}: those of {@link MixOptions} plus a fixed box. */
export interface CutMixOptions extends MixOptions {
  /** The box to paste; λ is then its exact complement area ratio (`lambda` must not be given too). */
  box?: CutMixBox;
}

/**
 * A mixed batch produced by {@link mixup} or {@link cutmix}: everything the losses
 * and the backward pass need.
 */
export interface MixedBatch {
  /** The mixed inputs, same shape and dtype as the original batch. */
  x: FloatArray;
  /** Shape of `x` (the original batch's). */
  shape: readonly number[];
  /** Soft targets [N, C]: λ·onehot(y) + (1 − λ)·onehot(y[perm]), smoothed if asked; dtype of x. */
  targets: FloatArray;
  /** Number of classes C. */
  numClasses: number;
  /** The mixing coefficient actually used (for CutMix: 1 − box area / image area). */
  lambda: number;
  /** The partner index of every sample. */
  perm: Int32Array;
  /** The original integer labels (a copy). */
  labels: Int32Array;
  /** CutMix's pasted box; `null` for MixUp. */
  box: CutMixBox | null;
}

/**
 * MixUp (Zhang et al., 2018): convex combinations of pairs of samples and of their labels,
 *
 * ```
 * λ ~ Beta(α, α) (unless given),   perm a random permutation (unless given)
 * x̃_i = λ·x_i + (1 − λ)·x_perm[i]
 * ỹ_i = λ·onehot(y_i) + (1 − λ)·onehot(y_perm[i]),  then (1 − ε)·ỹ_i + ε/C
 * ```
 *
 * x has any shape whose first dimension is the batch size N. Train on `targets` with
 * `crossEntropy(logits, batch.targets)` (probability targets), or equivalently
 * {@link mixedCrossEntropy}; backpropagate to x with {@link mixBackward}.
 *
 * @param x - the batch, [N, …].
 * @param labels - N integer class labels in [0, numClasses).
 */
export function mixup(x: ShapedArray, labels: ArrayLike<number>, options: MixOptions): MixedBatch {
  const where = 'mixup';
  const { n, rowSize } = batchShape(x, where, 1);
  const common = resolveCommon(x, labels, options, where, n);
  const lambda = options.lambda !== undefined ? checkInRange(where, 'lambda', options.lambda, 0, 1) : sampleLambda(options, where);
  const perm = resolvePerm(options, n, where);
  const out = common.out;
  const src = x.data;
  const mu = 1 - lambda;
  for (let i = 0; i < n; i++) {
    const o = i * rowSize;
    const op = perm[i]! * rowSize;
    for (let k = 0; k < rowSize; k++) out[o + k] = lambda * src[o + k]! + mu * src[op + k]!;
  }
  fillTargets(common.targets, common.labels, perm, lambda, common.numClasses, common.eps);
  return {
    x: out,
    shape: [...x.shape],
    targets: common.targets,
    numClasses: common.numClasses,
    lambda,
    perm,
    labels: common.labels,
    box: null,
  };
}

/**
 * CutMix (Yun et al., 2019): paste a box of each partner image into each image and
 * mix the labels in proportion to the areas. x is [N, C, H, W] (or [N, H, W]).
 *
 * ```
 * λ ~ Beta(α, α);  r = √(1 − λ);  h = ⌊H·r⌋,  w = ⌊W·r⌋;  centre (cy, cx) uniform on the grid
 * box = [clip(cy − ⌊h/2⌋), clip(cy + ⌊h/2⌋)) × [clip(cx − ⌊w/2⌋), clip(cx + ⌊w/2⌋))   (clip to the image)
 * x̃_i = x_i outside the box, x_perm[i] inside it (every channel)
 * λ ← 1 − |box| / (H·W)   (the exact area ratio after clipping, as in the paper's code)
 * ỹ_i = λ·onehot(y_i) + (1 − λ)·onehot(y_perm[i]),  then (1 − ε)·ỹ_i + ε/C
 * ```
 *
 * With a given `box`, λ is its area complement; with a given `lambda`, the box is
 * sampled for that λ and λ is then re-adjusted to the box.
 *
 * @param x - the images, [N, C, H, W] or [N, H, W].
 * @param labels - N integer class labels in [0, numClasses).
 */
export function cutmix(x: ShapedArray, labels: ArrayLike<number>, options: CutMixOptions): MixedBatch {
  const where = 'cutmix';
  const { n, rowSize } = batchShape(x, where, 3);
  const rank = x.shape.length;
  if (rank !== 3 && rank !== 4) {
    throw new ShapeMismatchError(`${where}: x must have shape [N, C, H, W] or [N, H, W], got [${x.shape.join(', ')}]`);
  }
  const h = x.shape[rank - 2]!;
  const w = x.shape[rank - 1]!;
  const channels = rank === 4 ? x.shape[1]! : 1;
  const common = resolveCommon(x, labels, options, where, n);
  let box: CutMixBox;
  let perm: Int32Array;
  if (options.box !== undefined) {
    if (options.lambda !== undefined) {
      throw new InvalidOptionError('lambda', options.lambda, 'absent when a box is given (λ is the box area complement)', where);
    }
    box = checkBox(options.box, h, w, where);
    perm = resolvePerm(options, n, where);
  } else {
    const lambda0 = options.lambda !== undefined ? checkInRange(where, 'lambda', options.lambda, 0, 1) : sampleLambda(options, where);
    perm = resolvePerm(options, n, where);
    const rng = requireRng(options, where, 'the CutMix box');
    const ratio = Math.sqrt(1 - lambda0);
    const halfH = Math.floor(Math.floor(h * ratio) / 2);
    const halfW = Math.floor(Math.floor(w * ratio) / 2);
    const cy = rng.int(h);
    const cx = rng.int(w);
    box = {
      y0: clamp(cy - halfH, 0, h),
      y1: clamp(cy + halfH, 0, h),
      x0: clamp(cx - halfW, 0, w),
      x1: clamp(cx + halfW, 0, w),
    };
  }
  const lambda = 1 - ((box.y1 - box.y0) * (box.x1 - box.x0)) / (h * w);
  const out = common.out;
  out.set(x.data);
  const src = x.data;
  const plane = h * w;
  for (let i = 0; i < n; i++) {
    const p = perm[i]!;
    for (let ch = 0; ch < channels; ch++) {
      const o = i * rowSize + ch * plane;
      const op = p * rowSize + ch * plane;
      for (let r = box.y0; r < box.y1; r++) {
        for (let col = box.x0; col < box.x1; col++) out[o + r * w + col] = src[op + r * w + col]!;
      }
    }
  }
  fillTargets(common.targets, common.labels, perm, lambda, common.numClasses, common.eps);
  return {
    x: out,
    shape: [...x.shape],
    targets: common.targets,
    numClasses: common.numClasses,
    lambda,
    perm,
    labels: common.labels,
    box,
  };
}

/** Options of {@link mixBackward}. */
export interface MixBackwardOptions {
  /** Buffer (length and dtype of x) receiving ∂L/∂x; a new one when absent. */
  gradX?: FloatArray;
  /** Add into `gradX` instead of overwriting it. Default false. */
  accumulate?: boolean;
}

/**
 * The backward pass of {@link mixup} / {@link cutmix}: given ∂L/∂x̃ (`gradMixed`, the
 * shape of the mixed batch), returns ∂L/∂x. Each sample receives its own share and
 * the shares of every row that used it as a partner:
 *
 * ```
 * MixUp:   ∂L/∂x_j = λ·∂L/∂x̃_j + (1 − λ)·Σ_{i: perm[i] = j} ∂L/∂x̃_i
 * CutMix:  ∂L/∂x_j = ∂L/∂x̃_j outside the box + Σ_{i: perm[i] = j} (∂L/∂x̃_i inside the box)
 * ```
 *
 * (The sums are scatter-adds, so any index map works, not only permutations.)
 *
 * @param batch - the batch returned by the forward call.
 * @param gradMixed - ∂L/∂x̃, same length as `batch.x`.
 */
export function mixBackward(batch: MixedBatch, gradMixed: ArrayLike<number>, options: MixBackwardOptions = {}): FloatArray {
  const where = 'mixBackward';
  const size = batch.x.length;
  if (gradMixed === null || typeof gradMixed !== 'object' || gradMixed.length !== size) {
    throw new ShapeMismatchError(`${where}: gradMixed must have ${size} elements, like the mixed batch`);
  }
  const accumulate = checkBoolean(where, 'accumulate', options.accumulate ?? false);
  const grad = options.gradX !== undefined ? checkGradBuffer(options.gradX, size, where, 'gradX')! : zerosOf(batch.x, size);
  const n = batch.perm.length;
  const rowSize = n === 0 ? 0 : size / n;
  const perm = batch.perm;
  if (batch.box === null) {
    const lambda = batch.lambda;
    const mu = 1 - lambda;
    for (let k = 0; k < size; k++) grad[k] = (accumulate ? grad[k]! : 0) + lambda * gradMixed[k]!;
    for (let i = 0; i < n; i++) {
      const o = i * rowSize;
      const op = perm[i]! * rowSize;
      for (let k = 0; k < rowSize; k++) grad[op + k] = grad[op + k]! + mu * gradMixed[o + k]!;
    }
    return grad;
  }
  const { y0, y1, x0, x1 } = batch.box;
  const rank = batch.shape.length;
  const h = batch.shape[rank - 2]!;
  const w = batch.shape[rank - 1]!;
  const plane = h * w;
  const channels = rowSize / plane;
  // Pass 1: every element keeps its own gradient except inside the box, which it gave away.
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < channels; ch++) {
      const o = i * rowSize + ch * plane;
      for (let r = 0; r < h; r++) {
        const inRows = r >= y0 && r < y1;
        for (let col = 0; col < w; col++) {
          const k = o + r * w + col;
          const own = inRows && col >= x0 && col < x1 ? 0 : gradMixed[k]!;
          grad[k] = accumulate ? grad[k]! + own : own;
        }
      }
    }
  }
  // Pass 2: the box of row i came from row perm[i].
  for (let i = 0; i < n; i++) {
    const p = perm[i]!;
    for (let ch = 0; ch < channels; ch++) {
      const o = i * rowSize + ch * plane;
      const op = p * rowSize + ch * plane;
      for (let r = y0; r < y1; r++) {
        for (let col = x0; col < x1; col++) grad[op + r * w + col] = grad[op + r * w + col]! + gradMixed[o + r * w + col]!;
      }
    }
  }
  return grad;
}

/** Options of {@link mixedCrossEntropy}. */
export interface MixedCrossEntropyOptions {
  /** Label smoothing ε of both cross-entropy terms. Default 0. */
  labelSmoothing?: number;
  /** Per-class weights (each term's mean divides by its own Σ w[label]). */
  weight?: ArrayLike<number> | null;
  /** `'mean'` (default) or `'sum'`. */
  reduction?: 'mean' | 'sum';
  /** Output buffer for ∂loss/∂logits (N·C). */
  gradLogits?: FloatArray | null;
  /** Add into `gradLogits` instead of overwriting it. Default false. */
  accumulate?: boolean;
}

/**
 * The MixUp/CutMix loss in its pair form,
 * `λ·CE(logits, y) + (1 − λ)·CE(logits, y[perm])`, with the cross-entropy of
 * `crossEntropy` (label smoothing, class weights). Without weights it equals the
 * soft-target loss `crossEntropy(logits, batch.targets)` up to rounding, but never
 * builds the soft targets; the gradient is written into `gradLogits` in one pass
 * per term.
 *
 * @param logits - [N, C] scores for the mixed batch.
 * @param batch - `labels`, `perm` and `lambda` of the mixed batch (a {@link MixedBatch} fits).
 */
export function mixedCrossEntropy(
  logits: ShapedArray,
  batch: Pick<MixedBatch, 'labels' | 'perm' | 'lambda'>,
  options: MixedCrossEntropyOptions = {},
): number {
  const where = 'mixedCrossEntropy';
  const [n, c] = logitsShape(logits, where);
  const eps = checkInRange(where, 'labelSmoothing', options.labelSmoothing ?? 0, 0, 1);
  const weight = checkWeight(options.weight ?? null, c, where);
  const reduction = checkOneOf(where, 'reduction', options.reduction ?? 'mean', ['mean', 'sum'] as const);
  const grad = checkGradBuffer(options.gradLogits ?? null, n * c, where, 'gradLogits');
  const accumulate = checkBoolean(where, 'accumulate', options.accumulate ?? false);
  const lambda = checkInRange(where, 'lambda', batch.lambda, 0, 1);
  checkLabels(batch.labels, n, c, null, where, 'labels');
  checkPerm(batch.perm, n, where);
  // No label is ignored here; −1 can never equal a validated class index.
  const d1 = reduction === 'mean' ? keptWeight(batch.labels, null, weight, -1) : 1;
  const d2 = reduction === 'mean' ? keptWeight(batch.labels, batch.perm, weight, -1) : 1;
  const a = lambda / d1;
  const b = (1 - lambda) / d2;
  const s1 = classTargetRows(logits.data, n, c, batch.labels, null, weight, -1, eps, a, grad, accumulate, null);
  const s2 = classTargetRows(logits.data, n, c, batch.labels, batch.perm, weight, -1, eps, b, grad, true, null);
  return a * s1 + b * s2;
}

function batchShape(x: ShapedArray, where: string, minRank: number): { n: number; rowSize: number } {
  if (typeof x !== 'object' || x === null || !isFloatArray(x.data) || !Array.isArray(x.shape)) {
    throw new InvalidOptionError('x', x, 'a {data: Float32Array | Float64Array, shape: [N, ...]} array', where);
  }
  if (x.shape.length < minRank) {
    throw new ShapeMismatchError(`${where}: x must have at least ${minRank} dimensions, got [${x.shape.join(', ')}]`);
  }
  let size = 1;
  for (const d of x.shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeMismatchError(`${where}: invalid shape [${x.shape.join(', ')}]`);
    size *= d;
  }
  if (size !== x.data.length) {
    throw new ShapeMismatchError(`${where}: shape [${x.shape.join(', ')}] holds ${size} elements but x has ${x.data.length}`);
  }
  const n = x.shape[0]!;
  return { n, rowSize: n === 0 ? 0 : size / n };
}

function resolveCommon(
  x: ShapedArray,
  labels: ArrayLike<number>,
  options: MixOptions,
  where: string,
  n: number,
): { numClasses: number; eps: number; labels: Int32Array; out: FloatArray; targets: FloatArray } {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', options, 'an object with at least numClasses', where);
  }
  const numClasses = checkInteger(where, 'numClasses', options.numClasses, 1);
  const eps = checkInRange(where, 'labelSmoothing', options.labelSmoothing ?? 0, 0, 1);
  checkLabels(labels, n, numClasses, null, where, 'labels');
  const out = options.out ?? zerosOf(x.data, x.data.length);
  if (!isFloatArray(out) || out.length !== x.data.length || out.constructor !== x.data.constructor) {
    throw new ShapeMismatchError(`${where}: out must be a ${x.data.constructor.name} of ${x.data.length} elements`);
  }
  if (out === x.data || (out.buffer === x.data.buffer && overlaps(out, x.data))) {
    throw new InvalidOptionError('out', 'x', 'a buffer distinct from x (partners are read while rows are written)', where);
  }
  const targets = options.targetsOut ?? zerosOf(x.data, n * numClasses);
  if (!isFloatArray(targets) || targets.length !== n * numClasses) {
    throw new ShapeMismatchError(`${where}: targetsOut must be a float buffer of N·C = ${n * numClasses} elements`);
  }
  return { numClasses, eps, labels: Int32Array.from(labels), out, targets };
}

function overlaps(a: FloatArray, b: FloatArray): boolean {
  const a0 = a.byteOffset;
  const b0 = b.byteOffset;
  return a0 < b0 + b.byteLength && b0 < a0 + a.byteLength;
}

function sampleLambda(options: MixOptions, where: string): number {
  const alpha = checkPositive(where, 'alpha', options.alpha ?? 1);
  return sampleBeta(requireRng(options, where, 'λ'), alpha, alpha);
}

function requireRng(options: MixOptions, where: string, what: string): Rng {
  const rng = options.rng;
  if (rng === undefined || rng === null || typeof (rng as Rng).int !== 'function') {
    throw new InvalidOptionError('rng', rng, `a seeded Rng (from @opt/tensor) to sample ${what}`, where);
  }
  return rng;
}

function resolvePerm(options: MixOptions, n: number, where: string): Int32Array {
  if (options.perm === undefined) return randomPermutation(requireRng(options, where, 'the permutation'), n);
  checkPerm(options.perm, n, where);
  return Int32Array.from(options.perm);
}

function checkPerm(perm: ArrayLike<number>, n: number, where: string): void {
  if (perm === null || typeof perm !== 'object' || perm.length !== n) {
    throw new ShapeMismatchError(`${where}: perm must hold N = ${n} partner indices`);
  }
  for (let i = 0; i < n; i++) {
    const p = perm[i]!;
    if (!Number.isInteger(p) || p < 0 || p >= n) {
      throw new InvalidOptionError(`perm[${i}]`, p, `an integer index in [0, ${n})`, where);
    }
  }
}

function checkBox(box: CutMixBox, h: number, w: number, where: string): CutMixBox {
  if (typeof box !== 'object' || box === null) throw new InvalidOptionError('box', box, 'an object {y0, y1, x0, x1}', where);
  const y0 = checkInteger(where, 'box.y0', box.y0, 0);
  const y1 = checkInteger(where, 'box.y1', box.y1, 0);
  const x0 = checkInteger(where, 'box.x0', box.x0, 0);
  const x1 = checkInteger(where, 'box.x1', box.x1, 0);
  if (y0 > y1 || y1 > h) throw new InvalidOptionError('box', box, `0 <= y0 <= y1 <= H = ${h}`, where);
  if (x0 > x1 || x1 > w) throw new InvalidOptionError('box', box, `0 <= x0 <= x1 <= W = ${w}`, where);
  return { y0, y1, x0, x1 };
}

function fillTargets(
  targets: FloatArray,
  labels: Int32Array,
  perm: Int32Array,
  lambda: number,
  c: number,
  eps: number,
): void {
  const n = labels.length;
  const mu = 1 - lambda;
  const smooth = eps / c;
  for (let i = 0; i < n; i++) {
    const o = i * c;
    const y = labels[i]!;
    const yp = labels[perm[i]!]!;
    for (let k = 0; k < c; k++) {
      const mixed = (k === y ? lambda : 0) + (k === yp ? mu : 0);
      // ε = 0 leaves λ and 1 − λ untouched (no (1 − 0)·y + 0 round trip).
      targets[o + k] = eps === 0 ? mixed : (1 - eps) * mixed + smooth;
    }
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

function zerosOf(like: FloatArray, length: number): FloatArray {
  return like instanceof Float64Array ? new Float64Array(length) : new Float32Array(length);
}
