import {
  ADAM8BIT_SCALARS,
  type FloatArray,
  MIN_8BIT_SIZE,
  type Parameter,
  QUANT_BLOCK_SIZE,
  SIGNED_ZERO_CODE,
  StateDictError,
  UNSIGNED_ZERO_CODE,
  adam8bitUpdate,
  adamUpdate,
  blockCount,
  setAdam8bitScalars,
  zerosLike,
} from '@opt/tensor';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import {
  type OptimizerStateDict,
  type ParamState,
  type StateValueJson,
  decodeStateValue,
  decodeTensor,
  isTensorJson,
} from '../state-dict.js';
import { checkBetas, checkBoolean, checkInteger, checkNonNegative, checkPositive } from '../validation.js';

/** Hyper-parameters of {@link Adam8bit} and {@link AdamW8bit}. */
export interface Adam8bitOptions {
  /** Learning rate. Default 1e-3. */
  lr: number;
  /** Decay rates of the first and second moment estimates. Default [0.9, 0.999]. */
  betas: [number, number];
  /** Added to the bias-corrected root of the second moment. Default 1e-8. */
  eps: number;
  /** Adam8bit: L2 penalty added to the gradient (default 0); AdamW8bit: decoupled decay (default 0.01). */
  weightDecay: number;
  /** Maximize the objective instead of minimizing. Default false. */
  maximize: boolean;
}

/** Settings of {@link Adam8bit} / {@link AdamW8bit} beyond the per-group hyper-parameters. */
export interface Adam8bitSettings extends OptimizerSettings {
  /**
   * Parameters with fewer elements keep 32-bit (parameter-dtype) moments, as
   * bitsandbytes' `min_8bit_size`. Default 4096. Fixed for the optimizer's life:
   * it decides the layout of each parameter's state.
   */
  min8bitSize?: number;
}

/**
 * Per-parameter state of {@link Adam8bit} / {@link AdamW8bit}, keyed as
 * bitsandbytes keys it. For a parameter of at least `min8bitSize` elements:
 * `state1` / `state2` are one-byte codes of the first / second moment into the
 * signed / unsigned dynamic map and `absmax1` / `absmax2` their float32 scale per
 * block of 256 elements. For a smaller parameter: `state1` / `state2` are the
 * moments themselves (`exp_avg`, `exp_avg_sq`) in the parameter's dtype and the
 * scales are `null`.
 */
export interface Adam8bitState {
  step: number;
  state1: Uint8Array | FloatArray;
  state2: Uint8Array | FloatArray;
  absmax1: Float32Array | null;
  absmax2: Float32Array | null;
}

/** A byte tensor in a state dict: the codes of an 8-bit state, one integer in [0, 255] per element. */
export interface Uint8TensorJson {
  dtype: 'uint8';
  shape: number[];
  data: number[];
}

const ADAM_DEFAULTS: Adam8bitOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, maximize: false };
const ADAMW_DEFAULTS: Adam8bitOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, maximize: false };
const STATE_KEYS = ['step', 'state1', 'state2', 'absmax1', 'absmax2'];

/**
 * Shared machinery of the 8-bit Adam optimizers (Dettmers et al. 2021, "8-bit
 * Optimizers via Block-wise Quantization"): Adam's update, with both moments
 * stored as one-byte codes of a dynamic (tree) quantisation map times a
 * float32 absmax per block of 256 elements. Each step dequantises a block,
 * updates the parameter with the dequantised-then-updated moments (the exact
 * Adam step on that state) and requantises with the block's new absmax.
 *
 * State memory per element: 2 bytes plus 8 bytes per 256-element block
 * (≈ 2.03 bytes) instead of 8 (float32 moments), about 25.4%.
 *
 * AMSGrad is not offered: a running maximum of a quantised quantity is not
 * monotone once its block scale changes (bitsandbytes does not offer it either).
 */
export abstract class QuantizedAdam extends Optimizer<Adam8bitOptions> {
  /** Parameters with fewer elements than this keep 32-bit state. */
  readonly min8bitSize: number;
  private readonly decoupled: boolean;
  // Holds one block's new moments until its absmax is known; shared by every parameter.
  private readonly scratch = new Float64Array(2 * QUANT_BLOCK_SIZE);
  // The kernel's scalars, passed in memory so that the (not inlined) call boxes no float.
  private readonly scalars = new Float64Array(ADAM8BIT_SCALARS);

  protected constructor(
    name: string,
    params: ParamsArg<Adam8bitOptions>,
    defaults: Adam8bitOptions,
    decoupled: boolean,
    options: Partial<Adam8bitOptions> & Adam8bitSettings,
  ) {
    super(name, params, defaults, withoutMin8bitSize(options));
    this.min8bitSize = checkInteger(name, 'min8bitSize', options.min8bitSize ?? MIN_8BIT_SIZE, 0);
    this.decoupled = decoupled;
  }

  protected validateGroup(o: Readonly<Adam8bitOptions>): void {
    checkNonNegative(this.name, 'lr', o.lr);
    checkBetas(this.name, o.betas);
    checkPositive(this.name, 'eps', o.eps);
    checkNonNegative(this.name, 'weightDecay', o.weightDecay);
    checkBoolean(this.name, 'maximize', o.maximize);
  }

  /** Whether `param` gets 8-bit state (its size is at least {@link QuantizedAdam.min8bitSize}). */
  isQuantized(param: Parameter): boolean {
    return param.size >= this.min8bitSize;
  }

  protected initState(p: Parameter): ParamState {
    const n = p.size;
    let s: Adam8bitState;
    if (this.isQuantized(p)) {
      const blocks = blockCount(n, QUANT_BLOCK_SIZE);
      s = {
        step: 0,
        state1: new Uint8Array(n).fill(SIGNED_ZERO_CODE),
        state2: new Uint8Array(n).fill(UNSIGNED_ZERO_CODE),
        absmax1: new Float32Array(blocks),
        absmax2: new Float32Array(blocks),
      };
    } else {
      s = { step: 0, state1: zerosLike(p.data), state2: zerosLike(p.data), absmax1: null, absmax2: null };
    }
    // The base class types state values as float buffers; the codes are Uint8Arrays,
    // which stateDict/decodeParamState below encode themselves.
    return s as unknown as ParamState;
  }

  protected updateGroup(group: ParamGroup<Adam8bitOptions>): void {
    const { lr, betas, eps, weightDecay, maximize } = group;
    const beta1 = betas[0];
    const beta2 = betas[1];
    const l2 = this.decoupled ? 0 : weightDecay;
    const decay = this.decoupled ? 1 - lr * weightDecay : 1;
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group) as unknown as Adam8bitState;
      const t = ++s.step;
      const stepSize = lr / (1 - beta1 ** t);
      const sqrtBc2 = Math.sqrt(1 - beta2 ** t);
      if (s.absmax1 !== null) {
        setAdam8bitScalars(this.scalars, stepSize, sqrtBc2, beta1, beta2, eps, l2, decay, maximize);
        adam8bitUpdate(p.data, g, s.state1 as Uint8Array, s.absmax1, s.state2 as Uint8Array, s.absmax2!, this.scratch, QUANT_BLOCK_SIZE, this.scalars);
      } else {
        adamUpdate(p.data, g, s.state1 as FloatArray, s.state2 as FloatArray, null, stepSize, sqrtBc2, beta1, beta2, eps, l2, decay, maximize);
      }
    }
  }

  /** Bytes held by the optimizer's state buffers (codes, scales and 32-bit moments), for memory accounting. */
  stateBytes(): number {
    let bytes = 0;
    for (const s of this.state.values()) {
      for (const value of Object.values(s)) {
        if (ArrayBuffer.isView(value)) bytes += value.byteLength;
      }
    }
    return bytes;
  }

  /**
   * As {@link Optimizer.stateDict}, with the 8-bit codes written losslessly as
   * `{ dtype: 'uint8', shape, data }` tensors of integers; the float32 scales
   * and 32-bit moments are written like any float state.
   */
  override stateDict(): OptimizerStateDict {
    const sd = super.stateDict();
    let position = 0;
    for (const p of this.allParams()) {
      const s = this.state.get(p) as unknown as Adam8bitState | undefined;
      const entry = sd.state[String(position++)];
      if (s === undefined || entry === undefined) continue;
      if (s.state1 instanceof Uint8Array) entry.state1 = encodeCodes(s.state1, p.shape) as unknown as StateValueJson;
      if (s.state2 instanceof Uint8Array) entry.state2 = encodeCodes(s.state2, p.shape) as unknown as StateValueJson;
    }
    return sd;
  }

  /**
   * Decode one parameter's saved state. The saved layout (8-bit codes or 32-bit
   * moments) must be the one this optimizer gives the parameter; the codes must
   * be integers in [0, 255].
   */
  protected override decodeParamState(saved: unknown, p: Parameter, _group: ParamGroup<Adam8bitOptions>, where: string): ParamState {
    if (typeof saved !== 'object' || saved === null || Array.isArray(saved)) {
      throw new StateDictError(`${where}: expected an object`);
    }
    const entry = saved as Record<string, unknown>;
    const savedKeys = Object.keys(entry).sort();
    if (savedKeys.join(',') !== [...STATE_KEYS].sort().join(',')) {
      throw new StateDictError(`${where}: keys [${savedKeys.join(', ')}] do not match ${this.name}'s state keys [${STATE_KEYS.join(', ')}]`);
    }
    const step = decodeStateValue(entry.step, 0, p.dtype, `${where}.step`) as number;
    const n = p.size;
    if (this.isQuantized(p)) {
      const blocks = blockCount(n, QUANT_BLOCK_SIZE);
      const s: Adam8bitState = {
        step,
        state1: decodeCodes(entry.state1, n, `${where}.state1`, this.min8bitSize),
        state2: decodeCodes(entry.state2, n, `${where}.state2`, this.min8bitSize),
        absmax1: decodeTensor(entry.absmax1, 'float32', `${where}.absmax1`, blocks) as Float32Array,
        absmax2: decodeTensor(entry.absmax2, 'float32', `${where}.absmax2`, blocks) as Float32Array,
      };
      return s as unknown as ParamState;
    }
    for (const key of ['state1', 'state2'] as const) {
      const value = entry[key];
      if (isTensorJson(value) && (value as { dtype: unknown }).dtype === 'uint8') {
        throw new StateDictError(
          `${where}.${key}: saved as 8-bit codes, but this optimizer keeps 32-bit state for parameters under min8bitSize = ${this.min8bitSize} elements (this one has ${n})`,
        );
      }
    }
    for (const key of ['absmax1', 'absmax2'] as const) {
      if (entry[key] !== null) throw new StateDictError(`${where}.${key}: expected null for a parameter with 32-bit state`);
    }
    const s: Adam8bitState = {
      step,
      state1: decodeTensor(entry.state1, p.dtype, `${where}.state1`, n),
      state2: decodeTensor(entry.state2, p.dtype, `${where}.state2`, n),
      absmax1: null,
      absmax2: null,
    };
    return s as unknown as ParamState;
  }
}

/**
 * Adam with 8-bit block-wise quantised moments (Dettmers et al. 2021), the
 * counterpart of `bnb.optim.Adam8bit` with `torch.optim.Adam`'s update and
 * coupled (L2) weight decay. With t the parameter's step count and Q/D the
 * block-wise quantisation / dequantisation (per 256-element block: codes of the
 * dynamic map times the block's absmax):
 *
 * ```
 * m, v ← D(state1, absmax1), D(state2, absmax2)
 * g ← ±∇f(p) + weightDecay·p
 * m ← β1·m + (1 − β1)·g
 * v ← β2·v + (1 − β2)·g²
 * p ← p − lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + eps)
 * state1, absmax1 ← Q_signed(m);  state2, absmax2 ← Q_unsigned(v)
 * ```
 *
 * Parameters under `min8bitSize` (4096) elements keep ordinary 32-bit moments.
 * The state takes about 25.4% of {@link Adam}'s memory for float32 parameters.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { Adam8bit } from '@opt/core';
 * const w = Parameter.zeros([256, 64], 'float32', 'w');
 * const opt = new Adam8bit([w], { lr: 1e-3 });
 * w.grad = new Float32Array(w.size).fill(0.01);
 * opt.step();
 * opt.stateBytes(); // 33,280: 2 bytes per element plus 8 per block of 256
 * ```
 */
export class Adam8bit extends QuantizedAdam {
  constructor(params: ParamsArg<Adam8bitOptions>, options: Partial<Adam8bitOptions> & Adam8bitSettings = {}) {
    super('Adam8bit', params, ADAM_DEFAULTS, false, options);
  }
}

/**
 * AdamW with 8-bit block-wise quantised moments (Dettmers et al. 2021), the
 * counterpart of `bnb.optim.AdamW8bit` with `torch.optim.AdamW`'s update:
 * as {@link Adam8bit}, but the weight decay is decoupled and applied first,
 * `p ← p·(1 − lr·weightDecay)`, and the gradient carries no L2 term. Default
 * `weightDecay` 0.01.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { AdamW8bit } from '@opt/core';
 * const w = Parameter.zeros([8192], 'float32', 'w');
 * const opt = new AdamW8bit([w], { lr: 1e-3, weightDecay: 0.05 });
 * w.grad = new Float32Array(w.size).fill(0.01);
 * opt.step();
 * ```
 */
export class AdamW8bit extends QuantizedAdam {
  constructor(params: ParamsArg<Adam8bitOptions>, options: Partial<Adam8bitOptions> & Adam8bitSettings = {}) {
    super('AdamW8bit', params, ADAMW_DEFAULTS, true, options);
  }
}

function withoutMin8bitSize(options: Partial<Adam8bitOptions> & Adam8bitSettings): Partial<Adam8bitOptions> & OptimizerSettings {
  const { min8bitSize: _omitted, ...rest } = options;
  return rest;
}

function encodeCodes(codes: Uint8Array, shape: readonly number[]): Uint8TensorJson {
  return { dtype: 'uint8', shape: [...shape], data: Array.from(codes) };
}

function decodeCodes(x: unknown, length: number, where: string, min8bitSize: number): Uint8Array {
  if (!isTensorJson(x)) throw new StateDictError(`${where}: expected a uint8 tensor {dtype, shape, data}`);
  if ((x as { dtype: unknown }).dtype !== 'uint8') {
    throw new StateDictError(
      `${where}: saved as a ${String((x as { dtype: unknown }).dtype)} tensor, but this optimizer keeps 8-bit codes for parameters of at least min8bitSize = ${min8bitSize} elements`,
    );
  }
  const data = x.data as unknown[];
  if (data.length !== length) throw new StateDictError(`${where}: tensor has ${data.length} elements, expected ${length}`);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    const c = data[i];
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 0 || c > 255) {
      throw new StateDictError(`${where}[${i}]: expected an integer code in [0, 255], got ${JSON.stringify(c)}`);
    }
    out[i] = c;
  }
  return out;
}
