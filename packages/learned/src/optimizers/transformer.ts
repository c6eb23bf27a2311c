import {
  type Closure,
  Optimizer,
  type OptimizerSettings,
  type ParamGroup,
  type ParamsArg,
  checkBetas,
  checkInteger,
  checkNonNegative,
  checkPositive,
} from '@opt/core';
import { InvalidOptionError, type Parameter, Rng, StateDictError, zerosLike } from '@opt/tensor';
import type { LearnedCreateOptions, LearnedOptimizerFactory } from '../learnable.js';
import { type WeightsSource, getWeightsRecord, loadWeights } from '../weights/index.js';
import { foldTimeBias, mlpHybridUpdate } from './features.js';
import {
  MLP_HYBRID_ARCH,
  type MLPHybridConfig,
  type MLPLearnedOptimizerOptions,
  type MLPLearnedOptimizerState,
  mlpInitialMetaParams,
  mlpMetaParamCount,
  mlpTensorFeatureCount,
  resolveMLPConfig,
} from './mlp.js';
import { tanhTimeFeatures } from './time-features.js';

/** Architecture identifier of {@link TransformerLearnedOptimizer} controller weights. */
export const TRANSFORMER_CTRL_ARCH = 'transformer-ctrl';

/** Number of features of a tensor's token (see {@link TransformerLearnedOptimizer}). */
export const TOKEN_FEATURES = 11;

/** Time scales τ of the token's `tanh(t/τ − 1)` features. */
const TOKEN_TIME_SCALES: readonly number[] = Object.freeze([10, 100, 1000]);

/** Shape of the attention controller. */
export interface ControllerConfig {
  /** Transformer blocks (1 or 2). Default 1. */
  layers: number;
  /** Model width d. Default 16. */
  dModel: number;
  /** Attention heads (must divide d). Default 2. */
  heads: number;
  /** Hidden width of each block's feed-forward layer. Default 32. */
  ffn: number;
  /** Bound of the log learning-rate scale output. Default 3. */
  maxLogScale: number;
}

/** Default {@link ControllerConfig}. */
export const DEFAULT_CONTROLLER_CONFIG: Readonly<ControllerConfig> = Object.freeze({ layers: 1, dModel: 16, heads: 2, ffn: 32, maxLogScale: 3 });

/** Validate and complete a partial {@link ControllerConfig}. */
export function resolveControllerConfig(config: Partial<ControllerConfig> = {}, where = 'TransformerLearnedOptimizer'): ControllerConfig {
  const c = { ...DEFAULT_CONTROLLER_CONFIG, ...config };
  checkInteger(where, 'controller.layers', c.layers, 1);
  checkInteger(where, 'controller.dModel', c.dModel, 1);
  checkInteger(where, 'controller.heads', c.heads, 1);
  checkInteger(where, 'controller.ffn', c.ffn, 1);
  checkPositive(where, 'controller.maxLogScale', c.maxLogScale);
  if (c.dModel % c.heads !== 0) throw new InvalidOptionError('controller.heads', c.heads, `a divisor of dModel (${c.dModel})`, where);
  return { layers: c.layers, dModel: c.dModel, heads: c.heads, ffn: c.ffn, maxLogScale: c.maxLogScale };
}

/** Offsets of one transformer block's weights in the controller's meta-parameters. */
export interface ControllerBlockLayout {
  /** Query projection `[d × d]`. */
  wq: number;
  /** Key projection `[d × d]`. */
  wk: number;
  /** Value projection `[d × d]`. */
  wv: number;
  /** Output projection `[d × d]`. */
  wo: number;
  /** Feed-forward weights `[d × ffn]`. */
  w1: number;
  /** Feed-forward bias `[ffn]`. */
  b1: number;
  /** Feed-forward output weights `[ffn × d]`. */
  w2: number;
  /** Feed-forward output bias `[d]`. */
  b2: number;
}

/** Flat layout of the controller's meta-parameters. */
export interface ControllerLayout {
  /** Input embedding `[F × d]` and its bias `[d]`. */
  readonly win: number;
  /** Offset of the input bias. */
  readonly bin: number;
  /** Per block: Wq, Wk, Wv, Wo `[d × d]`, W1 `[d × ffn]`, b1, W2 `[ffn × d]`, b2. */
  readonly blocks: readonly ControllerBlockLayout[];
  /** Output head `[d × 2]` (column 0 → log-lr scale, 1 → direction gain). */
  readonly wout: number;
  /** Output bias `[2]`. */
  readonly bout: number;
  /** Total count. */
  readonly count: number;
}

/** The flat meta-parameter layout of a controller. */
export function controllerLayout(config: ControllerConfig): ControllerLayout {
  const d = config.dModel;
  let o = 0;
  const win = o;
  o += TOKEN_FEATURES * d;
  const bin = o;
  o += d;
  const blocks: ControllerBlockLayout[] = [];
  for (let l = 0; l < config.layers; l++) {
    const wq = o;
    const wk = wq + d * d;
    const wv = wk + d * d;
    const wo = wv + d * d;
    const w1 = wo + d * d;
    const b1 = w1 + d * config.ffn;
    const w2 = b1 + config.ffn;
    const b2 = w2 + config.ffn * d;
    o = b2 + d;
    blocks.push({ wq, wk, wv, wo, w1, b1, w2, b2 });
  }
  const wout = o;
  const bout = wout + 2 * d;
  return { win, bin, blocks, wout, bout, count: bout + 2 };
}

/**
 * Untrained controller meta-parameters: Gaussian hidden weights (variance 1/fan-in,
 * 2/fan-in before the ReLU) from `Rng(seed)` and a ZERO output head, so the
 * controller is exactly neutral (log-lr scale 0, gain 0) and the optimizer is the
 * MLP optimizer it modulates, while perturbations of the head already see
 * informative features.
 */
export function controllerInitialMetaParams(config: ControllerConfig, seed = 0): Float64Array {
  const L = controllerLayout(config);
  const d = config.dModel;
  const out = new Float64Array(L.count);
  const rng = new Rng(seed);
  rng.fillNormal(out.subarray(L.win, L.bin), 0, 1 / Math.sqrt(TOKEN_FEATURES));
  for (const b of L.blocks) {
    rng.fillNormal(out.subarray(b.wq, b.w1), 0, 1 / Math.sqrt(d));
    rng.fillNormal(out.subarray(b.w1, b.b1), 0, Math.sqrt(2 / d));
    rng.fillNormal(out.subarray(b.w2, b.b2), 0, 0.5 / Math.sqrt(config.ffn));
  }
  return out;
}

/** Preallocated buffers of {@link controllerForward} for up to `maxTokens` tokens. */
export interface ControllerScratch {
  /** Capacity in tokens. */
  readonly maxTokens: number;
  /** Residual stream `[T × d]`. */
  readonly x: Float64Array;
  /** Normalised stream `[T × d]`. */
  readonly u: Float64Array;
  /** Queries, keys, values, attention output `[T × d]` each. */
  readonly q: Float64Array;
  readonly k: Float64Array;
  readonly v: Float64Array;
  readonly o: Float64Array;
  /** Attention probabilities of the last forward, `[layers × heads × T × T]` (row i: token i's weights over tokens). */
  readonly attention: Float64Array;
  /** Feed-forward hidden `[ffn]`. */
  readonly hidden: Float64Array;
}

/** Buffers for {@link controllerForward}. */
export function createControllerScratch(config: ControllerConfig, maxTokens: number): ControllerScratch {
  const n = maxTokens * config.dModel;
  return {
    maxTokens,
    x: new Float64Array(n),
    u: new Float64Array(n),
    q: new Float64Array(n),
    k: new Float64Array(n),
    v: new Float64Array(n),
    o: new Float64Array(n),
    attention: new Float64Array(config.layers * config.heads * maxTokens * maxTokens),
    hidden: new Float64Array(config.ffn),
  };
}

function layerNorm(src: Float64Array, dst: Float64Array, T: number, d: number): void {
  for (let i = 0; i < T; i++) {
    const o = i * d;
    let mean = 0;
    for (let j = 0; j < d; j++) mean += src[o + j]!;
    mean /= d;
    let varSum = 0;
    for (let j = 0; j < d; j++) {
      const c = src[o + j]! - mean;
      varSum += c * c;
    }
    const inv = 1 / Math.sqrt(varSum / d + 1e-5);
    for (let j = 0; j < d; j++) dst[o + j] = (src[o + j]! - mean) * inv;
  }
}

/** `dst[T × d] = src[T × d] · W[d × d]` with W at `meta[off]`. */
function project(meta: Float64Array, off: number, src: Float64Array, dst: Float64Array, T: number, d: number): void {
  for (let i = 0; i < T; i++) {
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += src[i * d + k]! * meta[off + k * d + j]!;
      dst[i * d + j] = s;
    }
  }
}

/**
 * The attention controller over T tensor tokens (pre-LayerNorm transformer
 * encoder without positional encodings, so permuting the tokens permutes the
 * outputs):
 *
 * ```
 * x = tokens·W_in + b_in
 * per block:  u = LN(x);  x ← x + MHA(u·W_q, u·W_k, u·W_v)·W_o;   x ← x + W_2·ReLU(W_1·LN(x) + b_1) + b_2
 * MHA: head h over its d/H columns, softmax_j(q_i·k_j / √(d/H)) v_j
 * out = x·W_out + b_out          (T × 2: log learning-rate scale, direction gain)
 * ```
 *
 * `LN` has no affine parameters. Allocates nothing.
 *
 * @param meta - controller meta-parameters ({@link controllerLayout}).
 * @param config - the controller's shape.
 * @param tokens - `[T × TOKEN_FEATURES]` row-major.
 * @param T - number of tokens (≤ `scratch.maxTokens`).
 * @param out - `[T × 2]` raw outputs (before clamping).
 * @param scratch - buffers from {@link createControllerScratch}.
 */
export function controllerForward(
  meta: Float64Array,
  config: ControllerConfig,
  layout: ControllerLayout,
  tokens: Float64Array,
  T: number,
  out: Float64Array,
  scratch: ControllerScratch,
): void {
  const d = config.dModel;
  const H = config.heads;
  const dh = d / H;
  const { x, u, q, k, v, o, attention, hidden } = scratch;
  const F = TOKEN_FEATURES;
  for (let i = 0; i < T; i++) {
    for (let j = 0; j < d; j++) {
      let s = meta[layout.bin + j]!;
      for (let f = 0; f < F; f++) s += tokens[i * F + f]! * meta[layout.win + f * d + j]!;
      x[i * d + j] = s;
    }
  }
  const invSqrt = 1 / Math.sqrt(dh);
  for (let l = 0; l < layout.blocks.length; l++) {
    const b = layout.blocks[l]!;
    layerNorm(x, u, T, d);
    project(meta, b.wq, u, q, T, d);
    project(meta, b.wk, u, k, T, d);
    project(meta, b.wv, u, v, T, d);
    for (let h = 0; h < H; h++) {
      const c0 = h * dh;
      const aOff = (l * H + h) * T * T;
      for (let i = 0; i < T; i++) {
        let max = -Infinity;
        for (let j = 0; j < T; j++) {
          let s = 0;
          for (let c = 0; c < dh; c++) s += q[i * d + c0 + c]! * k[j * d + c0 + c]!;
          s *= invSqrt;
          attention[aOff + i * T + j] = s;
          if (s > max) max = s;
        }
        let z = 0;
        for (let j = 0; j < T; j++) {
          const e = Math.exp(attention[aOff + i * T + j]! - max);
          attention[aOff + i * T + j] = e;
          z += e;
        }
        for (let c = 0; c < dh; c++) o[i * d + c0 + c] = 0;
        for (let j = 0; j < T; j++) {
          const a = attention[aOff + i * T + j]! / z;
          attention[aOff + i * T + j] = a;
          for (let c = 0; c < dh; c++) o[i * d + c0 + c] += a * v[j * d + c0 + c]!;
        }
      }
    }
    // x ← x + o·W_o (u is free again and holds the projection).
    project(meta, b.wo, o, u, T, d);
    for (let i = 0; i < T * d; i++) x[i] += u[i]!;
    layerNorm(x, u, T, d);
    for (let i = 0; i < T; i++) {
      for (let m = 0; m < config.ffn; m++) {
        let s = meta[b.b1 + m]!;
        for (let c = 0; c < d; c++) s += u[i * d + c]! * meta[b.w1 + c * config.ffn + m]!;
        hidden[m] = s > 0 ? s : 0;
      }
      for (let c = 0; c < d; c++) {
        let s = meta[b.b2 + c]!;
        for (let m = 0; m < config.ffn; m++) s += hidden[m]! * meta[b.w2 + m * d + c]!;
        x[i * d + c] += s;
      }
    }
  }
  for (let i = 0; i < T; i++) {
    for (let r = 0; r < 2; r++) {
      let s = meta[layout.bout + r]!;
      for (let c = 0; c < d; c++) s += x[i * d + c]! * meta[layout.wout + c * 2 + r]!;
      out[i * 2 + r] = s;
    }
  }
}

function safeLog(x: number): number {
  return Math.log(x + 1e-12) / 10;
}

/** Construction settings of {@link TransformerLearnedOptimizer}. */
export interface TransformerLearnedOptimizerSettings extends OptimizerSettings, LearnedCreateOptions {
  /**
   * The controller's meta-parameters: `'untrained'` (neutral: exactly the MLP
   * optimizer), a shipped name (`'transformer-ctrl-v1'`), a record, or a raw
   * vector (held by reference). Default `'untrained'`.
   */
  weights?: WeightsSource;
  /** The per-parameter MLP it modulates: a weights name, record or vector. Default: the controller record's, else `'untrained'` (Adam). */
  mlpWeights?: WeightsSource;
  /** The controller's shape (a record's `featureSpec` takes precedence). */
  controller?: Partial<ControllerConfig>;
  /** The MLP's architecture for `'untrained'` or a raw vector (a record's `featureSpec` takes precedence). */
  mlpConfig?: Partial<MLPHybridConfig>;
}

/** What a controller weights record's `featureSpec` holds. */
export interface TransformerFeatureSpec {
  /** Controller shape. */
  controller: ControllerConfig;
  /** Name of the MLP weights it was trained on top of. */
  mlpWeights: string;
  /** Base learning rate it was trained with. */
  lr: number;
  /** Token feature names. */
  tokenFeatures: readonly string[];
}

/** Names of the token features, in order. */
export const TOKEN_FEATURE_NAMES: readonly string[] = Object.freeze([
  'log_rms_g',
  'log_rms_m',
  'log_rms_sqrt_v',
  'log_rms_p',
  'log_size',
  'snr_m_over_sqrt_v',
  'log_loss_ratio',
  'loss_trend',
  'tanh_t_10',
  'tanh_t_100',
  'tanh_t_1000',
]);

const DEFAULTS: MLPLearnedOptimizerOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 };
const SETTING_KEYS = ['weights', 'mlpWeights', 'controller', 'mlpConfig', 'totalSteps'] as const;

function mlpTarget(config: MLPHybridConfig): { arch: string; metaParamCount: number; initialMetaParams(): Float64Array } {
  return { arch: MLP_HYBRID_ARCH, metaParamCount: mlpMetaParamCount(config), initialMetaParams: () => mlpInitialMetaParams(config) };
}

function mlpConfigOf(source: WeightsSource, fallback: Partial<MLPHybridConfig> | undefined, where: string): MLPHybridConfig {
  const record = typeof source === 'string' ? getWeightsRecord(source) : source instanceof Float64Array ? undefined : source;
  const { features: _f, lr: _lr, ...fromRecord } = (record?.featureSpec ?? {}) as Record<string, unknown>;
  const config = resolveMLPConfig(record === undefined ? fallback : (fromRecord as Partial<MLPHybridConfig>), where);
  // The controller sets each tensor's step scale itself; a learned depth factor on top is not part of its design.
  if (config.depthExponent) throw new InvalidOptionError('mlpConfig.depthExponent', true, 'false (the controller modulates the step per tensor)', where);
  if (config.fanInExponent) throw new InvalidOptionError('mlpConfig.fanInExponent', true, 'false (the controller modulates the step per tensor)', where);
  return config;
}

/**
 * A per-tensor attention controller over the hybrid MLP learned optimizer
 * (VeLO's hierarchy with the per-tensor LSTM replaced by attention). At every
 * step each parameter tensor k becomes one token of 11 features,
 *
 * ```
 * ln RMS(g)/10, ln RMS(m)/10, ln √mean(v)/10, ln RMS(p)/10, ln(size)/10, min(RMS(m)/√mean(v), 3),
 * clamp(ln(L/L₀), ±10)/10, loss trend (EMA of Δ ln L, ×10, clamped ±1), tanh(t/τ − 1) for τ = 10, 100, 1000
 * ```
 *
 * (m, v: Adam's moments before this step; L: the loss the closure returns, 0
 * features without a closure), the controller ({@link controllerForward}: one
 * or two pre-LN blocks, d = 16, 2 heads, attention ACROSS tensors) maps the
 * tokens to (a_k, b_k), and tensor k takes the MLP optimizer's step with
 *
 * ```
 * lr_k = lr · exp(clamp(a_k, ±maxLogScale)),    β_k = β · (1 + clamp(b_k, −1, 3))
 * p ← p − lr_k · μ · (m̂/(√v̂ + eps) + β_k · d)      (μ, d from the per-parameter MLP)
 * ```
 *
 * The controller's output head starts at zero, so the untrained optimizer IS the
 * MLP optimizer, bit for bit (and Adam with untrained MLP weights). Tokens cost
 * one pass per tensor and the attention O(T²·d) for T tensors: a few µs per step.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { TransformerLearnedOptimizer } from '@opt/learned';
 * const w = new Parameter(new Float64Array([1, -2, 3]), [3], 'w');
 * const b = new Parameter(new Float64Array([0.5]), [1], 'b');
 * const opt = new TransformerLearnedOptimizer([w, b], { lr: 1e-2 });
 * for (let i = 0; i < 50; i++) {
 *   opt.step(() => {
 *     w.grad = w.data.map((x) => 2 * x);
 *     b.grad = b.data.map((x) => 2 * x);
 *     return w.data.reduce((s, x) => s + x * x, 0) + b.data[0]! ** 2;
 *   });
 * }
 * ```
 */
export class TransformerLearnedOptimizer extends Optimizer<MLPLearnedOptimizerOptions, MLPLearnedOptimizerState> {
  /** Controller meta-parameters (held by reference). */
  readonly metaParams: Float64Array;
  /** The per-parameter MLP's meta-parameters. */
  readonly mlpParams: Float64Array;
  /** Controller shape. */
  readonly controller: ControllerConfig;
  /** MLP architecture. */
  readonly mlpConfig: MLPHybridConfig;
  /** Name of the controller weights. */
  readonly weightsName: string;
  /** The latest per-tensor outputs `[T × 2]`: (log-lr scale, gain) after clamping. */
  readonly modulation: Float64Array;
  private readonly layout: ControllerLayout;
  private readonly tensors: Parameter[];
  private readonly indexOf = new Map<Parameter, number>();
  private readonly tokens: Float64Array;
  private readonly raw: Float64Array;
  private readonly scratch: ControllerScratch;
  private readonly timeFeatures: Float64Array;
  private readonly bias1: Float64Array;
  private readonly hid1: Float64Array;
  private readonly tokenTime = new Float64Array(TOKEN_TIME_SCALES.length);
  private globalStep = 0;
  private loss0: number | null = null;
  private lossPrev: number | null = null;
  private trend = 0;

  constructor(params: ParamsArg<MLPLearnedOptimizerOptions>, options: Partial<MLPLearnedOptimizerOptions> & TransformerLearnedOptimizerSettings = {}) {
    const where = 'TransformerLearnedOptimizer';
    const source = options.weights ?? 'untrained';
    const record = typeof source === 'string' ? getWeightsRecord(source) : source instanceof Float64Array ? undefined : source;
    const spec = record?.featureSpec as Partial<TransformerFeatureSpec> | undefined;
    const controller = resolveControllerConfig(spec?.controller ?? options.controller, where);
    const layout = controllerLayout(controller);
    const loaded = loadWeights(
      source,
      { arch: TRANSFORMER_CTRL_ARCH, metaParamCount: layout.count, initialMetaParams: () => controllerInitialMetaParams(controller) },
      where,
    );
    const mlpSource = options.mlpWeights ?? spec?.mlpWeights ?? 'untrained';
    const mlpConfig = mlpConfigOf(mlpSource, options.mlpConfig, where);
    const mlp = loadWeights(mlpSource, mlpTarget(mlpConfig), where);
    const groupOptions: Record<string, unknown> = { ...options };
    for (const key of SETTING_KEYS) delete groupOptions[key];
    const defaults = typeof spec?.lr === 'number' ? { ...DEFAULTS, lr: spec.lr } : DEFAULTS;
    super('TransformerLearnedOptimizer', params, defaults, groupOptions as Partial<MLPLearnedOptimizerOptions> & OptimizerSettings);
    this.metaParams = loaded.metaParams;
    this.weightsName = loaded.name;
    this.mlpParams = mlp.metaParams;
    this.controller = controller;
    this.mlpConfig = mlpConfig;
    this.layout = layout;
    this.tensors = this.allParams();
    this.tensors.forEach((p, i) => this.indexOf.set(p, i));
    const T = this.tensors.length;
    this.tokens = new Float64Array(T * TOKEN_FEATURES);
    this.raw = new Float64Array(T * 2);
    this.modulation = new Float64Array(T * 2);
    this.scratch = createControllerScratch(controller, T);
    this.timeFeatures = new Float64Array(mlpConfig.timeScales.length);
    this.bias1 = new Float64Array(mlpConfig.hidden[0]);
    this.hid1 = new Float64Array(mlpConfig.hidden[0]);
  }

  /** The tokens of the latest step, `[tensors × TOKEN_FEATURES]` (for distillation and analysis). */
  get lastTokens(): Float64Array {
    return this.tokens;
  }

  protected validateGroup(o: Readonly<MLPLearnedOptimizerOptions>): void {
    const where = 'TransformerLearnedOptimizer';
    checkNonNegative(where, 'lr', o.lr);
    checkBetas(where, o.betas);
    checkPositive(where, 'eps', o.eps);
    checkNonNegative(where, 'weightDecay', o.weightDecay);
  }

  protected initState(p: Parameter): MLPLearnedOptimizerState {
    return { step: 0, exp_avg: zerosLike(p.data), exp_avg_sq: zerosLike(p.data), exp_avg_fast: zerosLike(p.data), exp_avg_slow: zerosLike(p.data) };
  }

  /** One step: the closure's loss (if any) feeds the loss features; the controller runs once over all tensors, then every tensor updates. */
  override step(closure?: Closure): number | undefined {
    const loss = closure ? closure() : undefined;
    if (!this.checkGradients()) return loss;
    this.globalStep++;
    this.observeLoss(loss);
    this.computeModulation();
    for (let gi = 0; gi < this.paramGroups.length; gi++) this.updateGroup(this.paramGroups[gi]!);
    return loss;
  }

  private observeLoss(loss: number | undefined): void {
    if (loss === undefined || !Number.isFinite(loss) || loss <= 0) return;
    if (this.loss0 === null) this.loss0 = loss;
    if (this.lossPrev !== null) this.trend = 0.9 * this.trend + 0.1 * (Math.log(loss) - Math.log(this.lossPrev));
    this.lossPrev = loss;
  }

  private computeModulation(): void {
    const F = TOKEN_FEATURES;
    const T = this.tensors.length;
    tanhTimeFeatures(this.globalStep, TOKEN_TIME_SCALES, this.tokenTime);
    const lossRatio = this.loss0 !== null && this.lossPrev !== null ? Math.log(this.lossPrev / this.loss0) : 0;
    const lossFeature = Math.max(-10, Math.min(10, lossRatio)) / 10;
    const trendFeature = Math.max(-1, Math.min(1, 10 * this.trend));
    for (let k = 0; k < T; k++) {
      const p = this.tensors[k]!;
      const s = this.state.get(p);
      const g = p.grad;
      const data = p.data;
      const n = data.length;
      let sg = 0;
      let sm = 0;
      let sv = 0;
      let sp = 0;
      for (let i = 0; i < n; i++) {
        const gi = g === null ? 0 : g[i]!;
        sg += gi * gi;
        sp += data[i]! * data[i]!;
        if (s !== undefined) {
          sm += s.exp_avg[i]! * s.exp_avg[i]!;
          sv += s.exp_avg_sq[i]!;
        }
      }
      const rmsM = Math.sqrt(sm / n);
      const rootV = Math.sqrt(sv / n);
      const o = k * F;
      this.tokens[o] = safeLog(Math.sqrt(sg / n));
      this.tokens[o + 1] = safeLog(rmsM);
      this.tokens[o + 2] = safeLog(rootV);
      this.tokens[o + 3] = safeLog(Math.sqrt(sp / n));
      this.tokens[o + 4] = Math.log(n) / 10;
      this.tokens[o + 5] = Math.min(rmsM / (rootV + 1e-12), 3);
      this.tokens[o + 6] = lossFeature;
      this.tokens[o + 7] = trendFeature;
      this.tokens[o + 8] = this.tokenTime[0]!;
      this.tokens[o + 9] = this.tokenTime[1]!;
      this.tokens[o + 10] = this.tokenTime[2]!;
    }
    controllerForward(this.metaParams, this.controller, this.layout, this.tokens, T, this.raw, this.scratch);
    const bound = this.controller.maxLogScale;
    for (let k = 0; k < T; k++) {
      const a = this.raw[2 * k]!;
      const b = this.raw[2 * k + 1]!;
      // NaN passes on (as in the MLP optimizer) so a fallback wrapper can detect it.
      this.modulation[2 * k] = a > bound ? bound : a < -bound ? -bound : a;
      this.modulation[2 * k + 1] = b > 3 ? 3 : b < -1 ? -1 : b;
    }
  }

  protected updateGroup(group: ParamGroup<MLPLearnedOptimizerOptions>): void {
    const { lr, betas, eps, weightDecay } = group;
    const beta1 = betas[0];
    const beta2 = betas[1];
    const config = this.mlpConfig;
    const h1 = config.hidden[0];
    const h2 = config.hidden[1];
    const numTime = config.timeScales.length;
    const numTensor = mlpTensorFeatureCount(config);
    const meta = this.mlpParams;
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      const t = ++s.step;
      tanhTimeFeatures(t, config.timeScales, this.timeFeatures);
      foldTimeBias(meta, h1, numTime, this.timeFeatures, this.bias1, numTensor);
      const bc1 = 1 - beta1 ** t;
      const k = this.indexOf.get(p)!;
      const scale = Math.exp(this.modulation[2 * k]!);
      const gain = 1 + this.modulation[2 * k + 1]!;
      mlpHybridUpdate(
        p.data, g, s.exp_avg, s.exp_avg_sq, s.exp_avg_fast, s.exp_avg_slow, meta, h1, h2, numTime, numTensor, this.bias1, this.hid1,
        (scale * lr) / bc1, Math.sqrt(1 - beta2 ** t), 1 / bc1, scale * lr * config.directionScale * gain,
        beta1, beta2, config.momentumDecays[0], config.momentumDecays[1], eps, weightDecay, config.magnitudeScale, config.maxLogMagnitude,
        config.maxDirection ?? Infinity, config.gateDirection, null,
      );
    }
  }

  /** Architecture, step counter and loss-feature memory: what the per-parameter state does not hold. */
  protected override extraState(): unknown {
    return {
      arch: TRANSFORMER_CTRL_ARCH,
      meta_param_count: this.metaParams.length,
      global_step: this.globalStep,
      loss0: this.loss0,
      loss_prev: this.lossPrev,
      trend: this.trend,
    };
  }

  protected override validateExtraState(extra: unknown, where: string): void {
    const e = extra as Record<string, unknown> | undefined;
    if (typeof e !== 'object' || e === null || e.arch !== TRANSFORMER_CTRL_ARCH || e.meta_param_count !== this.metaParams.length) {
      throw new StateDictError(`${where}: "extra" must record ${TRANSFORMER_CTRL_ARCH} with ${this.metaParams.length} meta-parameters`);
    }
    if (typeof e.global_step !== 'number' || typeof e.trend !== 'number') throw new StateDictError(`${where}: "extra" lacks global_step or trend`);
    for (const key of ['loss0', 'loss_prev']) {
      if (e[key] !== null && typeof e[key] !== 'number') throw new StateDictError(`${where}: extra.${key} must be a number or null`);
    }
  }

  protected override loadExtraState(extra: unknown): void {
    const e = extra as { global_step: number; loss0: number | null; loss_prev: number | null; trend: number };
    this.globalStep = e.global_step;
    this.loss0 = e.loss0;
    this.lossPrev = e.loss_prev;
    this.trend = e.trend;
  }
}

/** Options of {@link transformerLearnedOptimizerFactory}. */
export interface TransformerFactoryOptions extends Partial<MLPLearnedOptimizerOptions> {
  /** Controller shape. */
  controller?: Partial<ControllerConfig>;
  /** The MLP weights to modulate (name, record or vector). Default `'untrained'`. */
  mlpWeights?: WeightsSource;
  /** MLP architecture for `'untrained'` or a vector. */
  mlpConfig?: Partial<MLPHybridConfig>;
  /** Seed of the untrained controller. Default 0. */
  seed?: number;
  /** Non-finite policy of the created optimizers. */
  nonFinite?: OptimizerSettings['nonFinite'];
}

/**
 * A `LearnedOptimizerFactory` of {@link TransformerLearnedOptimizer}s whose
 * meta-parameters are the CONTROLLER's (the per-parameter MLP stays fixed), so
 * ES perturbs ~2k values.
 *
 * @example
 * ```ts
 * const factory = transformerLearnedOptimizerFactory({ lr: 1e-2, mlpWeights: 'untrained' });
 * const meta = factory.initialMetaParams(); // neutral: the MLP optimizer itself
 * const opt = factory.create(params, meta);
 * ```
 */
export function transformerLearnedOptimizerFactory(options: TransformerFactoryOptions = {}): LearnedOptimizerFactory<TransformerLearnedOptimizer> {
  const { controller: c, mlpWeights, mlpConfig, seed, nonFinite, ...group } = options;
  const controller = resolveControllerConfig(c, 'transformerLearnedOptimizerFactory');
  const layout = controllerLayout(controller);
  return {
    arch: TRANSFORMER_CTRL_ARCH,
    metaParamCount: layout.count,
    initialMetaParams: () => controllerInitialMetaParams(controller, seed ?? 0),
    create: (params: Parameter[], metaParams: Float64Array, createOptions: LearnedCreateOptions = {}) =>
      new TransformerLearnedOptimizer(params, {
        ...group,
        weights: metaParams,
        controller,
        ...(mlpWeights === undefined ? {} : { mlpWeights }),
        ...(mlpConfig === undefined ? {} : { mlpConfig }),
        ...(nonFinite === undefined ? {} : { nonFinite }),
        ...(createOptions.totalSteps === undefined ? {} : { totalSteps: createOptions.totalSteps }),
      }),
  };
}

/**
 * Distillation of the controller's output head: ridge regression of the head
 * `[d × 2]` (and bias) onto target outputs for recorded token sets, with the
 * hidden layers kept, in closed form:
 *
 * ```
 * [W_out; b_out] = argmin Σ_tokens ‖x_final·W + b − y‖² + λ‖W‖²
 * ```
 *
 * With targets 0 this is the neutral initialisation (the controller reproduces
 * the MLP optimizer's steps exactly); with targets such as per-tensor log-lr
 * ratios measured on training tasks it starts the controller from them.
 *
 * @param meta - controller meta-parameters; the head is overwritten in place.
 * @param config - its shape.
 * @param tokenSets - recorded `[T × TOKEN_FEATURES]` token matrices.
 * @param targets - the matching `[T × 2]` targets.
 * @param ridge - λ. Default 1e-3.
 */
export function distillControllerHead(
  meta: Float64Array,
  config: ControllerConfig,
  tokenSets: readonly Float64Array[],
  targets: readonly Float64Array[],
  ridge = 1e-3,
): void {
  const layout = controllerLayout(config);
  const d = config.dModel;
  const n = d + 1;
  const A = new Float64Array(n * n);
  const B = new Float64Array(n * 2);
  const saveW = meta.slice(layout.wout, layout.bout + 2);
  meta.fill(0, layout.wout, layout.bout + 2);
  for (let s = 0; s < tokenSets.length; s++) {
    const T = tokenSets[s]!.length / TOKEN_FEATURES;
    const scratch = createControllerScratch(config, T);
    controllerForward(meta, config, layout, tokenSets[s]!, T, new Float64Array(2 * T), scratch);
    for (let i = 0; i < T; i++) {
      for (let a = 0; a < n; a++) {
        const xa = a < d ? scratch.x[i * d + a]! : 1;
        for (let b = 0; b < n; b++) A[a * n + b] += xa * (b < d ? scratch.x[i * d + b]! : 1);
        for (let r = 0; r < 2; r++) B[a * 2 + r] += xa * targets[s]![i * 2 + r]!;
      }
    }
  }
  for (let a = 0; a < d; a++) A[a * n + a] += ridge;
  A[d * n + d] += 1e-12;
  // Gaussian elimination with partial pivoting on the (n × n) normal equations, two right-hand sides.
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(A[r * n + c]!) > Math.abs(A[piv * n + c]!)) piv = r;
    if (A[piv * n + c] === 0) {
      meta.set(saveW, layout.wout);
      throw new InvalidOptionError('tokenSets', tokenSets.length, 'token sets whose embeddings span the head (the normal equations are singular)', 'distillControllerHead');
    }
    if (piv !== c) {
      for (let j = 0; j < n; j++) [A[c * n + j], A[piv * n + j]] = [A[piv * n + j]!, A[c * n + j]!];
      for (let r = 0; r < 2; r++) [B[c * 2 + r], B[piv * 2 + r]] = [B[piv * 2 + r]!, B[c * 2 + r]!];
    }
    for (let r = c + 1; r < n; r++) {
      const f = A[r * n + c]! / A[c * n + c]!;
      if (f === 0) continue;
      for (let j = c; j < n; j++) A[r * n + j] -= f * A[c * n + j]!;
      for (let q = 0; q < 2; q++) B[r * 2 + q] -= f * B[c * 2 + q]!;
    }
  }
  const X = new Float64Array(n * 2);
  for (let c = n - 1; c >= 0; c--) {
    for (let q = 0; q < 2; q++) {
      let s = B[c * 2 + q]!;
      for (let j = c + 1; j < n; j++) s -= A[c * n + j]! * X[j * 2 + q]!;
      X[c * 2 + q] = s / A[c * n + c]!;
    }
  }
  for (let a = 0; a < d; a++) for (let r = 0; r < 2; r++) meta[layout.wout + a * 2 + r] = X[a * 2 + r]!;
  meta[layout.bout] = X[d * 2]!;
  meta[layout.bout + 1] = X[d * 2 + 1]!;
}
