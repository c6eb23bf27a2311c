import { type DType, type FloatArray, InvalidOptionError, Parameter, ShapeMismatchError } from '@opt/tensor';
import { checkBoolean, checkInteger, checkOneOf } from '@opt/core';
import { type InitRandomness, type InitScheme, initialise, resolveRng } from './init.js';
import {
  BatchBuffers,
  type Layer,
  UnsupportedOperationError,
  buffer,
  checkExactLength,
  emptyLike,
  requireForward,
  zeroGrads,
} from './layer.js';

/** A size given once for both spatial axes, or as `[height, width]`. */
export type Size2 = number | readonly [number, number];

/** Options of {@link Conv2d}. */
export interface Conv2dOptions extends InitRandomness {
  /** Step between kernel positions. Default 1. */
  stride?: Size2;
  /** Zeros added on each side of the input. Default 0. */
  padding?: Size2;
  /**
   * Spatial size `[H, W]` of the input. Default: inferred from the input length
   * as a square image (`H = W = √(length / (B·C))`).
   */
  inputSize?: Size2;
  /** Element type of the parameters and buffers. Default `'float64'`. */
  dtype?: DType;
  /** Learn a bias per output channel. Default true. */
  bias?: boolean;
  /** Initialisation; see {@link InitScheme}. Default `'kaiming-uniform'` (PyTorch's `nn.Conv2d`). */
  init?: InitScheme;
  /** Prefix of the parameter names. Default `''`. */
  prefix?: string;
}

interface ConvBuffers {
  y: FloatArray;
  gx: FloatArray;
}

const WHERE = 'Conv2d';

function pair(option: string, value: Size2, min: number): [number, number] {
  const [a, b] = typeof value === 'number' ? [value, value] : value;
  checkInteger(WHERE, `${option}[0]`, a, min);
  checkInteger(WHERE, `${option}[1]`, b, min);
  return [a as number, b as number];
}

/**
 * A 2-D convolution (cross-correlation, as PyTorch's `nn.Conv2d` with
 * `dilation = 1`, `groups = 1`) on a batch `x` of shape `[B, C, H, W]`:
 *
 * ```
 * y[b, o, i, j] = bias[o] + Σ_{c, p, q} W[o, c, p, q] · x[b, c, i·sH + p − padH, j·sW + q − padW]
 * ```
 * (out-of-range input positions read as zero), output `[B, O, Hₒ, Wₒ]` with
 * `Hₒ = ⌊(H + 2·padH − kH)/sH⌋ + 1`. The backward pass scatters `∂L/∂y` back
 * along the same index map: `∂L/∂W[o,c,p,q] += Σ ∂L/∂y[b,o,i,j]·x[b,c,…]`,
 * `∂L/∂x[b,c,…] += Σ ∂L/∂y[b,o,i,j]·W[o,c,p,q]`, `∂L/∂bias[o] += Σ ∂L/∂y[b,o,i,j]`.
 * Direct loops: meant for small images.
 *
 * Per-example gradients are exact; per-example norms without materialising are
 * not available (the weight gradient is a sum of outer products over positions)
 * and throw an {@link UnsupportedOperationError}.
 *
 * @example
 * ```ts
 * import { Conv2d, Flatten, Dense, ReLU, Sequential } from '@opt/tasks';
 * const net = new Sequential([
 *   new Conv2d(1, 4, 3, { padding: 1, inputSize: 8, seed: 0 }), new ReLU(), new Flatten(),
 *   new Dense(4 * 8 * 8, 10, { seed: 1 }),
 * ]);
 * const logits = net.forward(new Float64Array(2 * 64), 2); // [2, 10]
 * ```
 */
export class Conv2d implements Layer {
  readonly inChannels: number;
  readonly outChannels: number;
  /** `[kH, kW]`. */
  readonly kernelSize: readonly [number, number];
  /** `[sH, sW]`. */
  readonly stride: readonly [number, number];
  /** `[padH, padW]`. */
  readonly padding: readonly [number, number];
  /** Weight of shape `[outChannels, inChannels, kH, kW]`. */
  readonly weight: Parameter;
  /** Bias of shape `[outChannels]`, or null. */
  readonly bias: Parameter | null;
  readonly parameters: readonly Parameter[];
  readonly exactNorms = false;
  readonly dtype: DType;
  private readonly fixedSize: readonly [number, number] | null;
  private readonly buffers: BatchBuffers<ConvBuffers>;
  private x: FloatArray | null = null;
  private cur: ConvBuffers | null = null;
  private batch = 0;
  private h = 0;
  private w = 0;
  private ho = 0;
  private wo = 0;
  // The kernel geometry as plain numbers, so the hot loops read fields rather than destructure arrays.
  private readonly kh: number;
  private readonly kw: number;
  private readonly sh: number;
  private readonly sw: number;
  private readonly ph: number;
  private readonly pw: number;

  /**
   * @param inChannels - channels C of the input.
   * @param outChannels - channels O of the output.
   * @param kernelSize - kernel size, one number or `[kH, kW]`.
   * @param options - stride, padding, input size, dtype, bias, initialisation.
   */
  constructor(inChannels: number, outChannels: number, kernelSize: Size2, options: Conv2dOptions = {}) {
    checkInteger(WHERE, 'inChannels', inChannels, 1);
    checkInteger(WHERE, 'outChannels', outChannels, 1);
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = pair('kernelSize', kernelSize, 1);
    this.stride = pair('stride', options.stride ?? 1, 1);
    this.padding = pair('padding', options.padding ?? 0, 0);
    this.fixedSize = options.inputSize === undefined ? null : pair('inputSize', options.inputSize, 1);
    this.kh = this.kernelSize[0];
    this.kw = this.kernelSize[1];
    this.sh = this.stride[0];
    this.sw = this.stride[1];
    this.ph = this.padding[0];
    this.pw = this.padding[1];
    const dtype = checkOneOf<DType>(WHERE, 'dtype', options.dtype ?? 'float64', ['float32', 'float64']);
    const hasBias = checkBoolean(WHERE, 'bias', options.bias ?? true);
    const init = checkOneOf<InitScheme>(WHERE, 'init', options.init ?? 'kaiming-uniform', ['kaiming-uniform', 'xavier', 'zeros']);
    const prefix = options.prefix ?? '';
    this.dtype = dtype;
    const [kh, kw] = this.kernelSize;
    this.weight = Parameter.zeros([outChannels, inChannels, kh, kw], dtype, `${prefix}weight`);
    this.bias = hasBias ? Parameter.zeros([outChannels], dtype, `${prefix}bias`) : null;
    const fanIn = inChannels * kh * kw;
    initialise(WHERE, init, this.weight.data, this.bias?.data ?? null, fanIn, outChannels * kh * kw, resolveRng(options));
    this.parameters = this.bias ? [this.weight, this.bias] : [this.weight];
    // Keyed by batch size; the geometry (h, w, ho, wo) of the forward in progress sizes the buffers.
    this.buffers = new BatchBuffers((b) => ({
      y: buffer(dtype, b * outChannels * this.ho * this.wo),
      gx: buffer(dtype, b * inChannels * this.h * this.w),
    }));
  }

  /** Output spatial size `[Hₒ, Wₒ]` for an input of spatial size `[h, w]`. */
  outputSize(h: number, w: number): [number, number] {
    const [kh, kw] = this.kernelSize;
    const ho = Math.floor((h + 2 * this.padding[0] - kh) / this.stride[0]) + 1;
    const wo = Math.floor((w + 2 * this.padding[1] - kw) / this.stride[1]) + 1;
    if (ho < 1 || wo < 1) {
      throw new ShapeMismatchError(`${WHERE}: input ${h}×${w} is smaller than the ${kh}×${kw} kernel with padding ${this.padding.join('×')}`);
    }
    return [ho, wo];
  }

  namedParameters(prefix = ''): Array<[string, Parameter]> {
    const named: Array<[string, Parameter]> = [[`${prefix}weight`, this.weight]];
    if (this.bias) named.push([`${prefix}bias`, this.bias]);
    return named;
  }

  forward(x: FloatArray, batchSize: number): FloatArray {
    checkInteger(WHERE, 'batchSize', batchSize, 1);
    const C = this.inChannels;
    if (x.length % (batchSize * C) !== 0) {
      throw new ShapeMismatchError(`${WHERE}: input of ${x.length} elements is not [${batchSize}, ${C}, H, W]`);
    }
    this.setGeometry(x.length / (batchSize * C));
    const { h, w, ho, wo, kh, kw, sh, sw, ph, pw } = this;
    let buf = this.buffers.get(batchSize);
    if (buf.gx.length !== x.length) {
      // A new image size at a known batch size (only without a fixed inputSize): rebuild the cache.
      this.buffers.clear();
      buf = this.buffers.get(batchSize);
    }
    const y = buf.y;
    const O = this.outChannels;
    const wt = this.weight.data;
    const bias = this.bias?.data ?? null;
    for (let b = 0; b < batchSize; b++) {
      for (let o = 0; o < O; o++) {
        const bo = bias === null ? 0 : bias[o]!;
        const yBase = (b * O + o) * ho * wo;
        for (let i = 0; i < ho; i++) {
          for (let j = 0; j < wo; j++) {
            let s = bo;
            for (let c = 0; c < C; c++) {
              const xBase = (b * C + c) * h * w;
              const wBase = (o * C + c) * kh * kw;
              for (let p = 0; p < kh; p++) {
                const r = i * sh + p - ph;
                if (r < 0 || r >= h) continue;
                for (let q = 0; q < kw; q++) {
                  const col = j * sw + q - pw;
                  if (col < 0 || col >= w) continue;
                  s += wt[wBase + p * kw + q]! * x[xBase + r * w + col]!;
                }
              }
            }
            y[yBase + i * wo + j] = s;
          }
        }
      }
    }
    this.x = x;
    this.cur = buf;
    this.batch = batchSize;
    return y;
  }

  backward(gradY: FloatArray, needInputGrad = true): FloatArray {
    requireForward(WHERE, this.x);
    const gw = this.weight.ensureGrad();
    const gb = this.bias?.ensureGrad() ?? null;
    return this.scatter(gradY, gw, gb, -1, needInputGrad);
  }

  backwardPerExample(gradY: FloatArray, out: readonly FloatArray[], offset: number, needInputGrad: boolean): FloatArray {
    requireForward(WHERE, this.x);
    const ow = out[offset]!;
    checkExactLength(WHERE, 'per-example weight gradients', ow, this.batch * this.weight.size);
    ow.fill(0);
    const ob = this.bias === null ? null : out[offset + 1]!;
    if (ob !== null) {
      checkExactLength(WHERE, 'per-example bias gradients', ob, this.batch * this.outChannels);
      ob.fill(0);
    }
    return this.scatter(gradY, ow, ob, 0, needInputGrad);
  }

  backwardSquaredNorms(_gradY: FloatArray, _out: Float64Array, _needInputGrad: boolean): FloatArray {
    throw new UnsupportedOperationError(
      `${WHERE}: per-example gradient norms without materialising the gradients are only available for Dense layers; use perExampleGrads`,
    );
  }

  zeroGrad(): void {
    zeroGrads(this.parameters);
  }

  /**
   * The backward loops. `rowStride < 0`: accumulate into one gradient (`gw`, `gb`);
   * otherwise example b writes into row b of `gw` (`b·|W|`) and `gb` (`b·O`).
   */
  private scatter(gradY: FloatArray, gw: FloatArray, gb: FloatArray | null, rowStride: number, needInputGrad: boolean): FloatArray {
    const x = this.x!;
    const B = this.batch;
    const C = this.inChannels;
    const O = this.outChannels;
    const { h, w, ho, wo, kh, kw, sh, sw, ph, pw } = this;
    checkExactLength(WHERE, 'gradY', gradY, B * O * ho * wo);
    const wt = this.weight.data;
    const gx = needInputGrad ? this.cur!.gx : null;
    if (gx !== null) gx.fill(0);
    const perExample = rowStride >= 0;
    const wSize = this.weight.size;
    for (let b = 0; b < B; b++) {
      const gwRow = perExample ? b * wSize : 0;
      const gbRow = perExample ? b * O : 0;
      for (let o = 0; o < O; o++) {
        const gyBase = (b * O + o) * ho * wo;
        for (let i = 0; i < ho; i++) {
          for (let j = 0; j < wo; j++) {
            const g = gradY[gyBase + i * wo + j]!;
            if (g === 0) continue;
            if (gb !== null) gb[gbRow + o] = gb[gbRow + o]! + g;
            for (let c = 0; c < C; c++) {
              const xBase = (b * C + c) * h * w;
              const wBase = (o * C + c) * kh * kw;
              for (let p = 0; p < kh; p++) {
                const r = i * sh + p - ph;
                if (r < 0 || r >= h) continue;
                for (let q = 0; q < kw; q++) {
                  const col = j * sw + q - pw;
                  if (col < 0 || col >= w) continue;
                  const xi = xBase + r * w + col;
                  const wi = wBase + p * kw + q;
                  gw[gwRow + wi] = gw[gwRow + wi]! + g * x[xi]!;
                  if (gx !== null) gx[xi] = gx[xi]! + g * wt[wi]!;
                }
              }
            }
          }
        }
      }
    }
    return gx ?? emptyLike(this.dtype);
  }

  /** Set the input size (h, w) for `hw = H·W` elements per channel, and the output size (ho, wo). */
  private setGeometry(hw: number): void {
    let h: number;
    let w: number;
    if (this.fixedSize !== null) {
      h = this.fixedSize[0];
      w = this.fixedSize[1];
      if (h * w !== hw) {
        throw new ShapeMismatchError(`${WHERE}: input has ${hw} elements per channel, but inputSize is ${h}×${w}`);
      }
    } else {
      h = Math.round(Math.sqrt(hw));
      w = h;
      if (h * w !== hw) {
        throw new InvalidOptionError('inputSize', undefined, `[H, W] for a non-square input of ${hw} elements per channel`, WHERE);
      }
    }
    const ho = Math.floor((h + 2 * this.ph - this.kh) / this.sh) + 1;
    const wo = Math.floor((w + 2 * this.pw - this.kw) / this.sw) + 1;
    if (ho < 1 || wo < 1) {
      throw new ShapeMismatchError(`${WHERE}: input ${h}×${w} is smaller than the ${this.kh}×${this.kw} kernel with padding ${this.ph}×${this.pw}`);
    }
    this.h = h;
    this.w = w;
    this.ho = ho;
    this.wo = wo;
  }
}
