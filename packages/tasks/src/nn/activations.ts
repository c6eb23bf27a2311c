import { type FloatArray, type Parameter, ShapeMismatchError, allocate, dtypeOf } from '@opt/tensor';
import { checkInteger } from '@opt/core';
import { BatchBuffers, type Layer, checkExactLength, emptyLike, requireForward } from './layer.js';
import { normalCdf, normalPdf } from './special.js';

/** Per-batch-size buffers of an element-wise layer: its output (and what backward needs). */
export interface ElementwiseBuffers {
  y: FloatArray;
  gx: FloatArray;
  /** A float64 per-element cache for the backward pass (GELU's Φ(x)); empty for others. */
  aux: Float64Array;
}

const NO_PARAMETERS: readonly Parameter[] = Object.freeze([]);

/**
 * Base of the parameter-free element-wise activations: output and input
 * gradient have the input's length and dtype; buffers are cached per length.
 * A subclass supplies the forward map and the backward product with the derivative.
 *
 * @example
 * ```ts
 * // Softplus log(1 + eˣ), derivative σ(x):
 * class Softplus extends Elementwise {
 *   constructor() { super('Softplus', false); }
 *   protected apply(x: FloatArray, y: FloatArray, _aux: Float64Array, n: number) {
 *     for (let k = 0; k < n; k++) y[k] = Math.max(x[k], 0) + Math.log1p(Math.exp(-Math.abs(x[k])));
 *   }
 *   protected chain(x: FloatArray, _y: FloatArray, _aux: Float64Array, gy: FloatArray, gx: FloatArray, n: number) {
 *     for (let k = 0; k < n; k++) gx[k] = gy[k] / (1 + Math.exp(-x[k]));
 *   }
 * }
 * ```
 */
export abstract class Elementwise implements Layer {
  readonly parameters: readonly Parameter[] = NO_PARAMETERS;
  readonly exactNorms = true;
  private readonly buffers64: BatchBuffers<ElementwiseBuffers>;
  private readonly buffers32: BatchBuffers<ElementwiseBuffers>;
  /** The last forward's input (kept by reference). */
  protected x: FloatArray | null = null;
  /** The last forward's buffers. */
  protected cur: ElementwiseBuffers | null = null;

  /**
   * @param name - the layer's name in messages.
   * @param needsAux - whether the subclass caches a float64 value per element.
   */
  protected constructor(
    protected readonly name: string,
    needsAux: boolean,
  ) {
    const make = (dtype: 'float32' | 'float64') => (n: number) => ({
      y: allocate(dtype, n),
      gx: allocate(dtype, n),
      aux: new Float64Array(needsAux ? n : 0),
    });
    this.buffers64 = new BatchBuffers(make('float64'));
    this.buffers32 = new BatchBuffers(make('float32'));
  }

  namedParameters(): Array<[string, Parameter]> {
    return [];
  }

  forward(x: FloatArray, batchSize: number): FloatArray {
    checkInteger(this.name, 'batchSize', batchSize, 1);
    if (x.length % batchSize !== 0) {
      throw new ShapeMismatchError(`${this.name}: input of ${x.length} elements is not ${batchSize} equal rows`);
    }
    const buf = (dtypeOf(x) === 'float64' ? this.buffers64 : this.buffers32).get(x.length);
    this.apply(x, buf.y, buf.aux, x.length);
    this.x = x;
    this.cur = buf;
    return buf.y;
  }

  backward(gradY: FloatArray, needInputGrad = true): FloatArray {
    const x = requireForward(this.name, this.x);
    if (!needInputGrad) return emptyLike(dtypeOf(x));
    const buf = this.cur!;
    checkExactLength(this.name, 'gradY', gradY, x.length);
    this.chain(x, buf.y, buf.aux, gradY, buf.gx, x.length);
    return buf.gx;
  }

  backwardPerExample(gradY: FloatArray, _out: readonly FloatArray[], _offset: number, needInputGrad: boolean): FloatArray {
    return this.backward(gradY, needInputGrad);
  }

  backwardSquaredNorms(gradY: FloatArray, _out: Float64Array, needInputGrad: boolean): FloatArray {
    return this.backward(gradY, needInputGrad);
  }

  zeroGrad(): void {}

  /** Write `y[k] = f(x[k])` for `k < n` (and any per-element cache into `aux`). */
  protected abstract apply(x: FloatArray, y: FloatArray, aux: Float64Array, n: number): void;
  /** Write `gx[k] = gy[k]·f′(x[k])` for `k < n`, from the forward's `x`, `y` and `aux`. */
  protected abstract chain(x: FloatArray, y: FloatArray, aux: Float64Array, gy: FloatArray, gx: FloatArray, n: number): void;
}

/**
 * Rectified linear unit, `relu(x) = max(0, x)`, with derivative `1[x > 0]`
 * (0 at x = 0, as PyTorch).
 *
 * @example
 * ```ts
 * import { ReLU } from '@opt/tasks';
 * new ReLU().forward(new Float64Array([-1, 2]), 1); // [0, 2]
 * ```
 */
export class ReLU extends Elementwise {
  constructor() {
    super('ReLU', false);
  }

  protected apply(x: FloatArray, y: FloatArray, _aux: Float64Array, n: number): void {
    for (let k = 0; k < n; k++) {
      const v = x[k]!;
      y[k] = v > 0 ? v : 0;
    }
  }

  protected chain(x: FloatArray, _y: FloatArray, _aux: Float64Array, gy: FloatArray, gx: FloatArray, n: number): void {
    for (let k = 0; k < n; k++) gx[k] = x[k]! > 0 ? gy[k]! : 0;
  }
}

/**
 * Hyperbolic tangent, with derivative `1 − tanh²(x)` taken from the forward's output.
 *
 * @example
 * ```ts
 * import { Tanh } from '@opt/tasks';
 * new Tanh().forward(new Float64Array([0, 1]), 1); // [0, 0.7615941559557649]
 * ```
 */
export class Tanh extends Elementwise {
  constructor() {
    super('Tanh', false);
  }

  protected apply(x: FloatArray, y: FloatArray, _aux: Float64Array, n: number): void {
    for (let k = 0; k < n; k++) y[k] = Math.tanh(x[k]!);
  }

  protected chain(_x: FloatArray, y: FloatArray, _aux: Float64Array, gy: FloatArray, gx: FloatArray, n: number): void {
    for (let k = 0; k < n; k++) {
      const t = y[k]!;
      gx[k] = gy[k]! * (1 - t * t);
    }
  }
}

/**
 * Logistic sigmoid `σ(x) = 1/(1 + e^(−x))`, with derivative `σ(x)(1 − σ(x))`.
 * Evaluated as `e^x/(1 + e^x)` for negative x so `e^(−x)` never overflows.
 *
 * @example
 * ```ts
 * import { Sigmoid } from '@opt/tasks';
 * new Sigmoid().forward(new Float64Array([0]), 1); // [0.5]
 * ```
 */
export class Sigmoid extends Elementwise {
  constructor() {
    super('Sigmoid', false);
  }

  protected apply(x: FloatArray, y: FloatArray, _aux: Float64Array, n: number): void {
    for (let k = 0; k < n; k++) {
      const v = x[k]!;
      if (v >= 0) {
        y[k] = 1 / (1 + Math.exp(-v));
      } else {
        const e = Math.exp(v);
        y[k] = e / (1 + e);
      }
    }
  }

  protected chain(_x: FloatArray, y: FloatArray, _aux: Float64Array, gy: FloatArray, gx: FloatArray, n: number): void {
    for (let k = 0; k < n; k++) {
      const s = y[k]!;
      gx[k] = gy[k]! * s * (1 - s);
    }
  }
}

/**
 * Gaussian error linear unit, exact form (PyTorch's default `approximate='none'`):
 *
 * ```
 * gelu(x)  = x·Φ(x) = x/2·(1 + erf(x/√2))
 * gelu′(x) = Φ(x) + x·φ(x)
 * ```
 *
 * Φ is evaluated through an accurate erfc ({@link normalCdf}) and cached in float64
 * by the forward pass for the backward pass.
 *
 * @example
 * ```ts
 * import { GELU } from '@opt/tasks';
 * new GELU().forward(new Float64Array([1]), 1); // [0.8413447460685429]
 * ```
 */
export class GELU extends Elementwise {
  constructor() {
    super('GELU', true);
  }

  protected apply(x: FloatArray, y: FloatArray, aux: Float64Array, n: number): void {
    for (let k = 0; k < n; k++) {
      const v = x[k]!;
      const cdf = normalCdf(v);
      aux[k] = cdf;
      y[k] = v * cdf;
    }
  }

  protected chain(x: FloatArray, _y: FloatArray, aux: Float64Array, gy: FloatArray, gx: FloatArray, n: number): void {
    for (let k = 0; k < n; k++) {
      const v = x[k]!;
      gx[k] = gy[k]! * (aux[k]! + v * normalPdf(v));
    }
  }
}
