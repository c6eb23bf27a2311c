import { type DType, type FloatArray, OptError, type Parameter, ShapeMismatchError, allocate } from '@opt/tensor';

/**
 * An operation a layer cannot perform: per-example gradient norms without
 * materialising the gradients on a layer where no closed form exists (e.g.
 * {@link Conv2d}), or a backward pass before any forward pass.
 */
export class UnsupportedOperationError extends OptError {
  constructor(message: string) {
    super('UNSUPPORTED_OPERATION', message);
  }
}

/**
 * One differentiable layer of a model, working on a mini-batch stored row-major
 * as `[batchSize, features]` (a `[B, C, H, W]` image batch is the same memory).
 *
 * Contract shared by every layer:
 * - `forward(x, B)` returns the layer's own output buffer (reused by the next
 *   forward with the same batch size; copy it to keep it) and caches what the
 *   backward pass needs (a reference to `x`, which must not change before backward).
 * - `backward(gradY)` ACCUMULATES `∂L/∂θ` into each parameter's `grad`
 *   (allocated with `ensureGrad`) and returns `∂L/∂x` in a reused buffer.
 * - Buffers are allocated per batch size and kept for the last few batch sizes,
 *   so a warmed-up training loop allocates nothing in forward or backward.
 *
 * Per-example support (the row `i` of `gradY` is the gradient of example i's own
 * loss with respect to row i of the output; no layer mixes rows):
 * - `backwardPerExample` writes example i's parameter gradient into row i of
 *   `out[offset + k]` (one array per parameter, `B × parameter.size`) and
 *   leaves `grad` untouched.
 * - `backwardSquaredNorms` adds example i's squared parameter-gradient norm to
 *   `out[i]` without forming the gradient, where {@link Layer.exactNorms} is true.
 */
export interface Layer {
  /** The layer's trainable tensors, in PyTorch's order (`weight`, then `bias`). */
  readonly parameters: readonly Parameter[];
  /** Whether {@link Layer.backwardSquaredNorms} is available (closed-form per-example norms). */
  readonly exactNorms: boolean;
  /** `[name, parameter]` pairs named as PyTorch's `named_parameters()` (`prefix + 'weight'`). */
  namedParameters(prefix?: string): Array<[string, Parameter]>;
  /** The output of the layer for a batch of `batchSize` rows of `x`. */
  forward(x: FloatArray, batchSize: number): FloatArray;
  /**
   * Back-propagate `gradY = ∂L/∂y` of the last forward: accumulate the parameter
   * gradients and return `∂L/∂x`. With `needInputGrad = false` the input gradient
   * is skipped and an empty array is returned (the first layer of a model).
   */
  backward(gradY: FloatArray, needInputGrad?: boolean): FloatArray;
  /** As {@link Layer.backward}, but write per-example parameter gradients into `out[offset + k]` instead of `grad`. */
  backwardPerExample(gradY: FloatArray, out: readonly FloatArray[], offset: number, needInputGrad: boolean): FloatArray;
  /** As {@link Layer.backward}, but add each example's squared parameter-gradient norm to `out[i]` instead. */
  backwardSquaredNorms(gradY: FloatArray, out: Float64Array, needInputGrad: boolean): FloatArray;
  /** Fill every allocated parameter gradient with zeros. */
  zeroGrad(): void;
}

const EMPTY64 = new Float64Array(0);
const EMPTY32 = new Float32Array(0);

/** The zero-length array returned by a backward pass that skipped the input gradient. */
export function emptyLike(dtype: DType): FloatArray {
  return dtype === 'float64' ? EMPTY64 : EMPTY32;
}

/**
 * A small cache of per-batch-size buffers: `get(key)` returns the buffers made
 * for `key` (a batch size, or an element count), creating them on first use and
 * keeping the `capacity` most recent keys, so alternating between a training
 * batch size and an evaluation batch size does not reallocate. A lookup is a
 * scan of at most `capacity` numbers and allocates nothing.
 *
 * @example
 * ```ts
 * const outputs = new BatchBuffers((batchSize) => new Float64Array(batchSize * 10));
 * outputs.get(32) === outputs.get(32); // true: created once, then reused
 * ```
 */
export class BatchBuffers<T> {
  private readonly keys: number[] = [];
  private readonly items: T[] = [];

  /**
   * @param create - builds the buffers for a key (called once per key while it stays cached).
   * @param capacity - how many keys to keep (least recently created evicted first). Default 4.
   */
  constructor(
    private readonly create: (key: number) => T,
    private readonly capacity = 4,
  ) {}

  /** The buffers for `key`, created if missing. */
  get(key: number): T {
    const keys = this.keys;
    for (let i = 0; i < keys.length; i++) if (keys[i] === key) return this.items[i]!;
    if (keys.length >= this.capacity) {
      keys.shift();
      this.items.shift();
    }
    const item = this.create(key);
    keys.push(key);
    this.items.push(item);
    return item;
  }

  /** Drop every cached buffer. */
  clear(): void {
    this.keys.length = 0;
    this.items.length = 0;
  }
}

/** A buffer of `length` elements of `dtype`. */
export function buffer(dtype: DType, length: number): FloatArray {
  return allocate(dtype, length);
}

/** Throw a ShapeMismatchError unless `array` holds at least `length` elements. */
export function checkLength(where: string, what: string, array: ArrayLike<number>, length: number): void {
  if (array.length < length) {
    throw new ShapeMismatchError(`${where}: ${what} has ${array.length} elements, expected ${length}`);
  }
}

/** Throw a ShapeMismatchError unless `array` holds exactly `length` elements. */
export function checkExactLength(where: string, what: string, array: ArrayLike<number>, length: number): void {
  if (array.length !== length) {
    throw new ShapeMismatchError(`${where}: ${what} has ${array.length} elements, expected ${length}`);
  }
}

/** Throw unless a forward pass has run (backward needs its cached input). */
export function requireForward<T>(where: string, cached: T | null): T {
  if (cached === null) throw new UnsupportedOperationError(`${where}: backward() needs a forward() first`);
  return cached;
}

/** Zero the gradients of `params` that have one. */
export function zeroGrads(params: readonly Parameter[]): void {
  // Indexed: for-of over the frozen parameter arrays allocates an iterator per call in V8.
  for (let i = 0; i < params.length; i++) {
    const g = params[i]!.grad;
    if (g !== null) g.fill(0);
  }
}
