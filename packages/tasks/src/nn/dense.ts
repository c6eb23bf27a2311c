import { type DType, type FloatArray, Parameter } from '@opt/tensor';
import { checkBoolean, checkInteger, checkOneOf } from '@opt/core';
import { type InitRandomness, type InitScheme, initialise, resolveRng } from './init.js';
import {
  BatchBuffers,
  type Layer,
  buffer,
  checkExactLength,
  checkLength,
  emptyLike,
  requireForward,
  zeroGrads,
} from './layer.js';

/** Options of {@link Dense}. */
export interface DenseOptions extends InitRandomness {
  /** Element type of the parameters and of the layer's buffers. Default `'float64'`. */
  dtype?: DType;
  /** Learn an additive bias. Default true. */
  bias?: boolean;
  /** Initialisation scheme; see {@link InitScheme}. Default `'kaiming-uniform'` (PyTorch's `nn.Linear`). */
  init?: InitScheme;
  /** Prefix of the parameter names (`prefix + 'weight'`, `prefix + 'bias'`). Default `''`. */
  prefix?: string;
}

interface DenseBuffers {
  y: FloatArray;
  gx: FloatArray;
}

const WHERE = 'Dense';

/**
 * A fully connected layer, PyTorch's `nn.Linear`: for a batch `x` of shape
 * `[B, in]`, `y = x·Wᵀ + b` with `weight` W of shape `[out, in]` and `bias` b of shape `[out]`.
 *
 * Backward, for `G = ∂L/∂y` of shape `[B, out]`:
 * ```
 * ∂L/∂W += Gᵀ·x      ∂L/∂b += Σ_rows G      ∂L/∂x = G·W
 * ```
 * Example i's own weight gradient is the outer product `δᵢ·aᵢᵀ` (δᵢ = row i of G,
 * aᵢ = row i of x), so its squared Frobenius norm is `‖δᵢ‖²·‖aᵢ‖²` (plus `‖δᵢ‖²`
 * for the bias): per-example gradient norms cost O(B·(in + out)).
 *
 * @example
 * ```ts
 * import { Dense } from '@opt/tasks';
 * const layer = new Dense(3, 2, { seed: 1 });
 * const y = layer.forward(new Float64Array([1, 2, 3, 4, 5, 6]), 2);   // [2, 2]
 * const gx = layer.backward(new Float64Array([1, 0, 0, 1]));          // [2, 3]; weight.grad, bias.grad filled
 * ```
 */
export class Dense implements Layer {
  /** Input features per example. */
  readonly inFeatures: number;
  /** Output features per example. */
  readonly outFeatures: number;
  /** Weight of shape `[outFeatures, inFeatures]` (PyTorch layout). */
  readonly weight: Parameter;
  /** Bias of shape `[outFeatures]`, or null when built with `bias: false`. */
  readonly bias: Parameter | null;
  /** `[weight, bias]`, or `[weight]` without a bias. */
  readonly parameters: readonly Parameter[];
  readonly exactNorms = true;
  /** Element type of the parameters and buffers. */
  readonly dtype: DType;
  private readonly buffers: BatchBuffers<DenseBuffers>;
  private x: FloatArray | null = null;
  private cur: DenseBuffers | null = null;
  private batch = 0;
  private readonly row: Float64Array;

  /**
   * @param inFeatures - features per input example (≥ 1).
   * @param outFeatures - features per output example (≥ 1).
   * @param options - dtype, bias, initialisation, randomness and name prefix.
   */
  constructor(inFeatures: number, outFeatures: number, options: DenseOptions = {}) {
    checkInteger(WHERE, 'inFeatures', inFeatures, 1);
    checkInteger(WHERE, 'outFeatures', outFeatures, 1);
    const dtype = checkOneOf<DType>(WHERE, 'dtype', options.dtype ?? 'float64', ['float32', 'float64']);
    const hasBias = checkBoolean(WHERE, 'bias', options.bias ?? true);
    const init = checkOneOf<InitScheme>(WHERE, 'init', options.init ?? 'kaiming-uniform', ['kaiming-uniform', 'xavier', 'zeros']);
    const prefix = options.prefix ?? '';
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.dtype = dtype;
    this.weight = Parameter.zeros([outFeatures, inFeatures], dtype, `${prefix}weight`);
    this.bias = hasBias ? Parameter.zeros([outFeatures], dtype, `${prefix}bias`) : null;
    initialise(WHERE, init, this.weight.data, this.bias?.data ?? null, inFeatures, outFeatures, resolveRng(options));
    this.parameters = this.bias ? [this.weight, this.bias] : [this.weight];
    this.row = new Float64Array(inFeatures);
    this.buffers = new BatchBuffers((b) => ({ y: buffer(dtype, b * outFeatures), gx: buffer(dtype, b * inFeatures) }));
  }

  namedParameters(prefix = ''): Array<[string, Parameter]> {
    const named: Array<[string, Parameter]> = [[`${prefix}weight`, this.weight]];
    if (this.bias) named.push([`${prefix}bias`, this.bias]);
    return named;
  }

  forward(x: FloatArray, batchSize: number): FloatArray {
    checkInteger(WHERE, 'batchSize', batchSize, 1);
    const nIn = this.inFeatures;
    const nOut = this.outFeatures;
    checkLength(WHERE, 'input', x, batchSize * nIn);
    const buf = this.buffers.get(batchSize);
    const y = buf.y;
    const w = this.weight.data;
    const b = this.bias?.data ?? null;
    for (let r = 0; r < batchSize; r++) {
      const xo = r * nIn;
      const yo = r * nOut;
      for (let o = 0; o < nOut; o++) {
        const wo = o * nIn;
        let s = b === null ? 0 : b[o]!;
        for (let i = 0; i < nIn; i++) s += w[wo + i]! * x[xo + i]!;
        y[yo + o] = s;
      }
    }
    this.x = x;
    this.cur = buf;
    this.batch = batchSize;
    return y;
  }

  backward(gradY: FloatArray, needInputGrad = true): FloatArray {
    const x = requireForward(WHERE, this.x);
    const B = this.batch;
    const nIn = this.inFeatures;
    const nOut = this.outFeatures;
    checkExactLength(WHERE, 'gradY', gradY, B * nOut);
    const gw = this.weight.ensureGrad();
    const gb = this.bias?.ensureGrad() ?? null;
    for (let r = 0; r < B; r++) {
      const xo = r * nIn;
      const go = r * nOut;
      for (let o = 0; o < nOut; o++) {
        const g = gradY[go + o]!;
        if (gb !== null) gb[o] = gb[o]! + g;
        if (g === 0) continue;
        const wo = o * nIn;
        for (let i = 0; i < nIn; i++) gw[wo + i] = gw[wo + i]! + g * x[xo + i]!;
      }
    }
    return needInputGrad ? this.inputGrad(gradY) : emptyLike(this.dtype);
  }

  backwardPerExample(gradY: FloatArray, out: readonly FloatArray[], offset: number, needInputGrad: boolean): FloatArray {
    const x = requireForward(WHERE, this.x);
    const B = this.batch;
    const nIn = this.inFeatures;
    const nOut = this.outFeatures;
    checkExactLength(WHERE, 'gradY', gradY, B * nOut);
    const wSize = nOut * nIn;
    const ow = out[offset]!;
    checkExactLength(WHERE, 'per-example weight gradients', ow, B * wSize);
    const ob = this.bias === null ? null : out[offset + 1]!;
    if (ob !== null) checkExactLength(WHERE, 'per-example bias gradients', ob, B * nOut);
    for (let r = 0; r < B; r++) {
      const xo = r * nIn;
      const go = r * nOut;
      const base = r * wSize;
      for (let o = 0; o < nOut; o++) {
        const g = gradY[go + o]!;
        if (ob !== null) ob[go + o] = g;
        const wo = base + o * nIn;
        for (let i = 0; i < nIn; i++) ow[wo + i] = g * x[xo + i]!;
      }
    }
    return needInputGrad ? this.inputGrad(gradY) : emptyLike(this.dtype);
  }

  backwardSquaredNorms(gradY: FloatArray, out: Float64Array, needInputGrad: boolean): FloatArray {
    const x = requireForward(WHERE, this.x);
    const B = this.batch;
    const nIn = this.inFeatures;
    const nOut = this.outFeatures;
    checkExactLength(WHERE, 'gradY', gradY, B * nOut);
    checkLength(WHERE, 'norms', out, B);
    const withBias = this.bias !== null;
    for (let r = 0; r < B; r++) {
      let dd = 0;
      const go = r * nOut;
      for (let o = 0; o < nOut; o++) {
        const g = gradY[go + o]!;
        dd += g * g;
      }
      let aa = 0;
      const xo = r * nIn;
      for (let i = 0; i < nIn; i++) {
        const a = x[xo + i]!;
        aa += a * a;
      }
      out[r] = out[r]! + dd * aa + (withBias ? dd : 0);
    }
    return needInputGrad ? this.inputGrad(gradY) : emptyLike(this.dtype);
  }

  zeroGrad(): void {
    zeroGrads(this.parameters);
  }

  /** `∂L/∂x = G·W`, accumulated in float64. */
  private inputGrad(gradY: FloatArray): FloatArray {
    const gx = this.cur!.gx;
    const B = this.batch;
    const nIn = this.inFeatures;
    const nOut = this.outFeatures;
    const w = this.weight.data;
    const acc = this.row;
    for (let r = 0; r < B; r++) {
      const go = r * nOut;
      acc.fill(0);
      // Row-wise sum of weight rows (contiguous reads) into a float64 row, then one rounding on store.
      for (let o = 0; o < nOut; o++) {
        const g = gradY[go + o]!;
        if (g === 0) continue;
        const wo = o * nIn;
        for (let i = 0; i < nIn; i++) acc[i] = acc[i]! + g * w[wo + i]!;
      }
      gx.set(acc, r * nIn);
    }
    return gx;
  }
}
