import {
  Optimizer,
  type OptimizerSettings,
  type ParamGroup,
  type ParamsArg,
  checkBetas,
  checkInteger,
  checkOneOf,
  checkPositive,
} from '@opt/core';
import { type FloatArray, InvalidOptionError, type Parameter, Rng, zerosLike } from '@opt/tensor';
import type { LearnedCreateOptions, LearnedOptimizerFactory } from '../learnable.js';
import { type WeightsSource, getWeightsRecord, loadWeights } from '../weights/index.js';

/**
 * How the LSTM's output becomes an update:
 * - `'pure'`: `Δθ = scale · y` (Andrychowicz et al. 2016);
 * - `'adam-correction'`: `Δθ = −lr · (d_adam − y)`, Adam's step plus a learned
 *   correction in units of the learning rate (zero-initialised output layer, so the
 *   untrained optimizer is exactly Adam).
 */
export type LSTMMode = 'pure' | 'adam-correction';

/** Hyper-parameters of {@link LSTMLearnedOptimizer} (one set per parameter group). */
export interface LSTMLearnedOptimizerOptions {
  /** Output mode; see {@link LSTMMode}. Default `'pure'`. It fixes the input width, so it must match the meta-parameters. */
  mode: LSTMMode;
  /** Output scale of the pure mode (the paper's 0.01). Default 0.01. */
  scale: number;
  /** Adam learning rate of the `'adam-correction'` mode (also the unit of the correction). Default 1e-3. */
  lr: number;
  /** Adam's moment decays in the `'adam-correction'` mode. Default [0.9, 0.999]. */
  betas: [number, number];
  /** Adam's eps in the `'adam-correction'` mode. Default 1e-8. */
  eps: number;
  /** LogAndSign constant k. Default 5, as in the official code (the paper's text uses 10). */
  k: number;
}

/** Per-parameter state of {@link LSTMLearnedOptimizer}: the LSTM's recurrent state per coordinate, and Adam's moments. */
export interface LSTMState {
  [key: string]: number | FloatArray | null;
  step: number;
  /** Layer-1 hidden state, `[size × hidden]` float64. */
  h1: Float64Array;
  /** Layer-1 cell state, `[size × hidden]` float64. */
  c1: Float64Array;
  /** Layer-2 hidden state, `[size × hidden]` float64. */
  h2: Float64Array;
  /** Layer-2 cell state, `[size × hidden]` float64. */
  c2: Float64Array;
  /** Adam's first moment (`'adam-correction'` mode; `null` in the pure mode). */
  exp_avg: FloatArray | null;
  /** Adam's second moment (`'adam-correction'` mode; `null` in the pure mode). */
  exp_avg_sq: FloatArray | null;
}

/** Architecture identifier of pure-mode LSTM weights (`'-adam-correction'` appended for the correction mode). */
export const LSTM_ARCH = 'lstm-l2l';

/** Hidden width of each of the two LSTM layers in Andrychowicz et al. 2016. */
export const LSTM_HIDDEN = 20;

/**
 * The flat layout of an LSTM optimizer's meta-parameters: two LSTM layers
 * (weights row-major `[(in + hidden) × 4·hidden]`, rows for the inputs first and
 * then for the previous hidden state; gate columns in PyTorch's order i, f, g, o;
 * then a bias of `4·hidden`), and the linear output layer (`hidden` weights, 1 bias).
 */
export interface LSTMLayout {
  /** Input features per coordinate (2 for LogAndSign, 3 with the Adam direction). */
  readonly inputs: number;
  /** Hidden width of each layer. */
  readonly hidden: number;
  /** Offset of layer 1's weights. */
  readonly w1: number;
  /** Offset of layer 1's bias. */
  readonly b1: number;
  /** Offset of layer 2's weights. */
  readonly w2: number;
  /** Offset of layer 2's bias. */
  readonly b2: number;
  /** Offset of the output weights. */
  readonly wo: number;
  /** Offset of the output bias. */
  readonly bo: number;
  /** Total number of meta-parameters. */
  readonly count: number;
}

/**
 * The meta-parameter layout for `inputs` features and `hidden` units per layer:
 * `(inputs + H)·4H + 4H + 2H·4H + 4H + H + 1` values (5,141 for LogAndSign with H = 20, as in the paper's code).
 */
export function lstmLayout(inputs: number, hidden: number = LSTM_HIDDEN): LSTMLayout {
  checkInteger('lstmLayout', 'inputs', inputs, 1);
  checkInteger('lstmLayout', 'hidden', hidden, 1);
  const g = 4 * hidden;
  const w1 = 0;
  const b1 = w1 + (inputs + hidden) * g;
  const w2 = b1 + g;
  const b2 = w2 + 2 * hidden * g;
  const wo = b2 + g;
  const bo = wo + hidden;
  return { inputs, hidden, w1, b1, w2, b2, wo, bo, count: bo + 1 };
}

/** Number of input features of a mode: LogAndSign (2), plus Adam's direction in the correction mode. */
export function lstmInputs(mode: LSTMMode): number {
  return mode === 'pure' ? 2 : 3;
}

/**
 * Initial meta-parameters: LSTM weights uniform on `±1/√H` (PyTorch's LSTM
 * initialisation), zero biases except the forget gates' +1 (Sonnet's
 * `forget_bias`, which keeps the cell state alive early in training), and an
 * output layer drawn like the weights in the pure mode or zero in the
 * correction mode (so the untrained optimizer is exactly Adam).
 *
 * @param layout - the layout to fill.
 * @param zeroOutput - zero the output layer.
 * @param seed - seed of the uniform draws.
 */
export function initLSTMMetaParams(layout: LSTMLayout, zeroOutput: boolean, seed = 0): Float64Array {
  const rng = new Rng(seed);
  const out = new Float64Array(layout.count);
  const H = layout.hidden;
  const bound = 1 / Math.sqrt(H);
  rng.fillUniform(out.subarray(layout.w1, layout.b1), -bound, bound);
  rng.fillUniform(out.subarray(layout.w2, layout.b2), -bound, bound);
  for (let j = 0; j < H; j++) {
    out[layout.b1 + H + j] = 1;
    out[layout.b2 + H + j] = 1;
  }
  if (!zeroOutput) rng.fillUniform(out.subarray(layout.wo, layout.bo), -bound, bound);
  return out;
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/**
 * Forward of one LSTM layer for one coordinate, PyTorch's cell:
 *
 * ```
 * z = [x, h₋]·W + b;   i = σ(z_i), f = σ(z_f), g = tanh(z_g), o = σ(z_o)
 * c = f ⊙ c₋ + i ⊙ g;  h = o ⊙ tanh(c)
 * ```
 *
 * `gates` receives the activations i, f, g, o (what the backward needs). `hOut`
 * and `cOut` may alias `hPrev` and `cPrev` at the same offsets (in-place update):
 * every gate is computed before any state is written.
 *
 * @param meta - the flat meta-parameters.
 * @param wOff - offset of the layer's weights `[(inDim + H) × 4H]`.
 * @param bOff - offset of the layer's bias `[4H]`.
 * @param inDim - input width.
 * @param H - hidden width.
 */
export function lstmLayerForward(
  meta: Float64Array,
  wOff: number,
  bOff: number,
  inDim: number,
  H: number,
  x: Float64Array,
  xOff: number,
  hPrev: Float64Array,
  hpOff: number,
  cPrev: Float64Array,
  cpOff: number,
  gates: Float64Array,
  gOff: number,
  hOut: Float64Array,
  hoOff: number,
  cOut: Float64Array,
  coOff: number,
): void {
  const G = 4 * H;
  for (let j = 0; j < G; j++) gates[gOff + j] = meta[bOff + j]!;
  for (let k = 0; k < inDim; k++) {
    const a = x[xOff + k]!;
    if (a === 0) continue;
    const row = wOff + k * G;
    for (let j = 0; j < G; j++) gates[gOff + j] += a * meta[row + j]!;
  }
  for (let k = 0; k < H; k++) {
    const a = hPrev[hpOff + k]!;
    if (a === 0) continue;
    const row = wOff + (inDim + k) * G;
    for (let j = 0; j < G; j++) gates[gOff + j] += a * meta[row + j]!;
  }
  for (let j = 0; j < H; j++) {
    const i = sigmoid(gates[gOff + j]!);
    const f = sigmoid(gates[gOff + H + j]!);
    const g = Math.tanh(gates[gOff + 2 * H + j]!);
    const o = sigmoid(gates[gOff + 3 * H + j]!);
    gates[gOff + j] = i;
    gates[gOff + H + j] = f;
    gates[gOff + 2 * H + j] = g;
    gates[gOff + 3 * H + j] = o;
    const c = f * cPrev[cpOff + j]! + i * g;
    cOut[coOff + j] = c;
    hOut[hoOff + j] = o * Math.tanh(c);
  }
}

/**
 * Hand-written backward of {@link lstmLayerForward} for one coordinate. With
 * `dh = ∂L/∂h` (total) and `dc = ∂L/∂c` arriving from the next time step:
 *
 * ```
 * dc ← dc + dh ⊙ o ⊙ (1 − tanh²c)
 * dz_i = dc ⊙ g ⊙ i(1 − i),  dz_f = dc ⊙ c₋ ⊙ f(1 − f),  dz_g = dc ⊙ i ⊙ (1 − g²),  dz_o = dh ⊙ tanh c ⊙ o(1 − o)
 * ∂W += [x, h₋]ᵀ dz,  ∂b += dz,  [dx, dh₋] = W dz,  dc₋ = dc ⊙ f
 * ```
 *
 * `dc` is updated in place to `∂L/∂c₋`; `dx` (when not null) and `dhPrev` are
 * overwritten; `grad` (same layout as `meta`) is accumulated into.
 */
export function lstmLayerBackward(
  meta: Float64Array,
  wOff: number,
  bOff: number,
  inDim: number,
  H: number,
  x: Float64Array,
  xOff: number,
  hPrev: Float64Array,
  hpOff: number,
  cPrev: Float64Array,
  cpOff: number,
  gates: Float64Array,
  gOff: number,
  c: Float64Array,
  cOff: number,
  dh: Float64Array,
  dhOff: number,
  dc: Float64Array,
  dcOff: number,
  grad: Float64Array,
  dx: Float64Array | null,
  dxOff: number,
  dhPrev: Float64Array,
  dhpOff: number,
  dz: Float64Array,
): void {
  const G = 4 * H;
  for (let j = 0; j < H; j++) {
    const i = gates[gOff + j]!;
    const f = gates[gOff + H + j]!;
    const g = gates[gOff + 2 * H + j]!;
    const o = gates[gOff + 3 * H + j]!;
    const tc = Math.tanh(c[cOff + j]!);
    const dhj = dh[dhOff + j]!;
    const dcj = dc[dcOff + j]! + dhj * o * (1 - tc * tc);
    dz[j] = dcj * g * i * (1 - i);
    dz[H + j] = dcj * cPrev[cpOff + j]! * f * (1 - f);
    dz[2 * H + j] = dcj * i * (1 - g * g);
    dz[3 * H + j] = dhj * tc * o * (1 - o);
    dc[dcOff + j] = dcj * f;
  }
  for (let j = 0; j < G; j++) grad[bOff + j] += dz[j]!;
  for (let k = 0; k < inDim; k++) {
    const a = x[xOff + k]!;
    const row = wOff + k * G;
    let s = 0;
    for (let j = 0; j < G; j++) {
      const d = dz[j]!;
      grad[row + j] += a * d;
      s += meta[row + j]! * d;
    }
    if (dx !== null) dx[dxOff + k] = s;
  }
  for (let k = 0; k < H; k++) {
    const a = hPrev[hpOff + k]!;
    const row = wOff + (inDim + k) * G;
    let s = 0;
    for (let j = 0; j < G; j++) {
      const d = dz[j]!;
      grad[row + j] += a * d;
      s += meta[row + j]! * d;
    }
    dhPrev[dhpOff + k] = s;
  }
}

/** float32 machine epsilon: LogAndSign's eps in the reference code (its gradients are float32), used for every dtype here. */
const LOG_EPS = 1.1920928955078125e-7;

/**
 * LogAndSign preprocessing of a gradient (Andrychowicz et al. 2016, appendix A),
 * written into `out[off]`, `out[off + 1]`:
 *
 * ```
 * ( max(log(|g| + eps)/k, −1),  clamp(g·e^k, −1, 1) )
 * ```
 *
 * @param g - the gradient value.
 * @param k - the constant (5 in the reference code, 10 in the paper's text).
 * @param expK - `e^k`, precomputed.
 */
export function logAndSign(g: number, k: number, expK: number, out: Float64Array, off: number): void {
  const l = Math.log(Math.abs(g) + LOG_EPS) / k;
  out[off] = l < -1 ? -1 : l;
  const s = g * expK;
  out[off + 1] = s > 1 ? 1 : s < -1 ? -1 : s;
}

/**
 * The linear output layer `y = h₂·w_o + b_o` of one coordinate.
 */
export function lstmOutput(meta: Float64Array, layout: LSTMLayout, h2: Float64Array, off: number): number {
  let y = meta[layout.bo]!;
  for (let j = 0; j < layout.hidden; j++) y += h2[off + j]! * meta[layout.wo + j]!;
  return y;
}

const DEFAULTS: LSTMLearnedOptimizerOptions = { mode: 'pure', scale: 0.01, lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, k: 5 };

/** Constructor options of {@link LSTMLearnedOptimizer} beyond the per-group hyper-parameters. */
export interface LSTMLearnedOptimizerSettings extends OptimizerSettings {
  /**
   * The flat meta-parameters (held by reference and read at every step). Default:
   * {@link initLSTMMetaParams} for the mode (untrained).
   */
  metaParams?: Float64Array;
  /**
   * Meta-parameters by name (`'lstm-l2l-v1'`, `'untrained'`), record or vector,
   * checked against the architecture; a record's `featureSpec` (mode, hidden, k,
   * scale, lr) supplies the defaults of the options not given. Ignored when
   * `metaParams` is given.
   */
  weights?: WeightsSource;
  /** Hidden width of the two LSTM layers. Default 20. */
  hidden?: number;
}

/** What an LSTM weights record's `featureSpec` holds. */
export interface LSTMFeatureSpec {
  /** Output mode. */
  mode: LSTMMode;
  /** Hidden width. */
  hidden: number;
  /** LogAndSign k. */
  k: number;
  /** Pure-mode output scale. */
  scale: number;
  /** Adam learning rate of the correction mode. */
  lr: number;
}

/**
 * The coordinatewise LSTM optimizer of Andrychowicz et al. 2016, "Learning to
 * learn by gradient descent by gradient descent": one small 2-layer LSTM (20
 * units per layer) shared by every scalar parameter, each coordinate carrying its
 * own hidden and cell states. Per coordinate and step:
 *
 * ```
 * x   = LogAndSign(g) = (max(log(|g| + ε)/k, −1), clamp(g·e^k, −1, 1))    [+ d_adam in the correction mode]
 * h¹, c¹ = LSTM₁(x, h¹, c¹);   h², c² = LSTM₂(h¹, h², c²);   y = w_o·h² + b_o
 * pure:             θ ← θ + scale·y                               (scale 0.01)
 * adam-correction:  θ ← θ − lr·(m̂/(√v̂ + eps) − y)                 (y = 0 untrained: exactly Adam)
 * ```
 *
 * k = 5 as in the official code (`deepmind/learning-to-learn`, where the paper's
 * appendix says 10): with k = 10 the log feature is clamped at −1 only below
 * |g| ≈ 4.5e−5 instead of 6.7e−3, which wastes its range on gradients that large
 * models never see; the code's value is what produced the published curves.
 *
 * The step allocates nothing: the cell runs coordinate by coordinate as a row of
 * the `[coords × inputs]·[inputs × 4H]` product, in scratch buffers made once.
 * The recurrent states are float64 state entries (`h1`, `c1`, `h2`, `c2`), so a
 * state dict round trip resumes bit-identically.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { LSTMLearnedOptimizer } from '@opt/learned';
 * const w = new Parameter(new Float64Array([1, -2, 3]), [3], 'w');
 * const opt = new LSTMLearnedOptimizer([w], { mode: 'adam-correction', lr: 0.1 });
 * for (let t = 0; t < 10; t++) {
 *   w.grad = w.data.map((x) => 2 * x);
 *   opt.step();
 * }
 * ```
 */
export class LSTMLearnedOptimizer extends Optimizer<LSTMLearnedOptimizerOptions, LSTMState> {
  /** The meta-parameters, held by reference. */
  readonly metaParams: Float64Array;
  /** Their layout. */
  readonly layout: LSTMLayout;
  private readonly x: Float64Array;
  private readonly gates1: Float64Array;
  private readonly gates2: Float64Array;

  constructor(params: ParamsArg<LSTMLearnedOptimizerOptions>, options: Partial<LSTMLearnedOptimizerOptions> & LSTMLearnedOptimizerSettings = {}) {
    const { metaParams, hidden: hiddenOption, weights, ...rest } = options;
    const source = metaParams === undefined ? weights : undefined;
    const record = typeof source === 'string' ? getWeightsRecord(source) : source instanceof Float64Array ? undefined : source;
    const spec = record?.featureSpec as Partial<LSTMFeatureSpec> | undefined;
    const defaults: LSTMLearnedOptimizerOptions = { ...DEFAULTS };
    if (spec !== undefined) {
      if (spec.mode === 'pure' || spec.mode === 'adam-correction') defaults.mode = spec.mode;
      if (typeof spec.k === 'number') defaults.k = spec.k;
      if (typeof spec.scale === 'number') defaults.scale = spec.scale;
      if (typeof spec.lr === 'number') defaults.lr = spec.lr;
    }
    const hidden = hiddenOption ?? (typeof spec?.hidden === 'number' ? spec.hidden : undefined);
    super('LSTMLearnedOptimizer', params, defaults, rest);
    const mode = this.defaults.mode;
    for (const group of this.paramGroups) {
      if (group.mode !== mode) {
        throw new InvalidOptionError('mode', group.mode, `the same mode in every group (the meta-parameters are for '${mode}')`, this.name);
      }
    }
    this.layout = lstmLayout(lstmInputs(mode), hidden ?? LSTM_HIDDEN);
    const layout = this.layout;
    const arch = mode === 'pure' ? LSTM_ARCH : `${LSTM_ARCH}-adam-correction`;
    this.metaParams =
      metaParams ??
      (source === undefined
        ? initLSTMMetaParams(layout, mode === 'adam-correction')
        : loadWeights(source, { arch, metaParamCount: layout.count, initialMetaParams: () => initLSTMMetaParams(layout, mode === 'adam-correction') }, this.name)
            .metaParams);
    if (!(this.metaParams instanceof Float64Array) || this.metaParams.length !== this.layout.count) {
      throw new InvalidOptionError('metaParams', this.metaParams?.length, `a Float64Array of ${this.layout.count} values`, this.name);
    }
    this.x = new Float64Array(this.layout.inputs);
    this.gates1 = new Float64Array(4 * this.layout.hidden);
    this.gates2 = new Float64Array(4 * this.layout.hidden);
  }

  protected validateGroup(o: Readonly<LSTMLearnedOptimizerOptions>): void {
    const where = 'LSTMLearnedOptimizer';
    checkOneOf(where, 'mode', o.mode, ['pure', 'adam-correction'] as const);
    checkPositive(where, 'scale', o.scale);
    checkPositive(where, 'lr', o.lr);
    checkBetas(where, o.betas);
    checkPositive(where, 'eps', o.eps);
    checkPositive(where, 'k', o.k);
  }

  protected initState(p: Parameter, group: ParamGroup<LSTMLearnedOptimizerOptions>): LSTMState {
    const n = p.size * this.layout.hidden;
    const adam = group.mode === 'adam-correction';
    return {
      step: 0,
      h1: new Float64Array(n),
      c1: new Float64Array(n),
      h2: new Float64Array(n),
      c2: new Float64Array(n),
      exp_avg: adam ? zerosLike(p.data) : null,
      exp_avg_sq: adam ? zerosLike(p.data) : null,
    };
  }

  protected updateGroup(group: ParamGroup<LSTMLearnedOptimizerOptions>): void {
    const L = this.layout;
    const H = L.hidden;
    const meta = this.metaParams;
    const x = this.x;
    const g1 = this.gates1;
    const g2 = this.gates2;
    const { scale, lr, eps, k } = group;
    const beta1 = group.betas[0];
    const beta2 = group.betas[1];
    const expK = Math.exp(k);
    const adam = group.mode === 'adam-correction';
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const grad = p.grad;
      if (grad === null) continue;
      const s = this.stateFor(p, group);
      const t = ++s.step;
      const stepSize = lr / (1 - beta1 ** t);
      const sqrtBc2 = Math.sqrt(1 - beta2 ** t);
      const m = s.exp_avg;
      const v = s.exp_avg_sq;
      const data = p.data;
      const { h1, c1, h2, c2 } = s;
      for (let i = 0; i < data.length; i++) {
        const gi = grad[i]!;
        logAndSign(gi, k, expK, x, 0);
        let adamStep = 0;
        if (adam) {
          m![i] = beta1 * m![i]! + (1 - beta1) * gi;
          v![i] = beta2 * v![i]! + (1 - beta2) * (gi * gi);
          // Same expression as the core Adam kernel, so a zero correction reproduces Adam bit for bit.
          adamStep = (stepSize * m![i]!) / (Math.sqrt(v![i]!) / sqrtBc2 + eps);
          x[2] = adamStep / lr;
        }
        const off = i * H;
        lstmLayerForward(meta, L.w1, L.b1, L.inputs, H, x, 0, h1, off, c1, off, g1, 0, h1, off, c1, off);
        lstmLayerForward(meta, L.w2, L.b2, H, H, h1, off, h2, off, c2, off, g2, 0, h2, off, c2, off);
        const y = lstmOutput(meta, L, h2, off);
        data[i] = adam ? data[i]! - (adamStep - lr * y) : data[i]! + scale * y;
      }
    }
  }
}

/** Options of {@link lstmLearnedOptimizerFactory}. */
export interface LSTMFactoryOptions extends Partial<LSTMLearnedOptimizerOptions> {
  /** Hidden width. Default 20. */
  hidden?: number;
  /** Seed of {@link LearnedOptimizerFactory.initialMetaParams}. Default 0. */
  seed?: number;
}

/**
 * A `LearnedOptimizerFactory` of {@link LSTMLearnedOptimizer}s with fixed
 * hyper-parameters: `arch` is `'lstm-l2l'` (pure) or `'lstm-l2l-adam-correction'`,
 * and `metaParamCount` the {@link lstmLayout} count (5,141 pure, 5,221 correction).
 *
 * @example
 * ```ts
 * const factory = lstmLearnedOptimizerFactory({ mode: 'pure' });
 * const meta = factory.initialMetaParams();
 * const opt = factory.create(task.objective.parameters, meta);
 * ```
 */
export function lstmLearnedOptimizerFactory(options: LSTMFactoryOptions = {}): LearnedOptimizerFactory<LSTMLearnedOptimizer> {
  const { hidden, seed, ...hyper } = options;
  const mode = hyper.mode ?? 'pure';
  const layout = lstmLayout(lstmInputs(mode), hidden ?? LSTM_HIDDEN);
  return {
    arch: mode === 'pure' ? LSTM_ARCH : `${LSTM_ARCH}-adam-correction`,
    metaParamCount: layout.count,
    initialMetaParams: () => initLSTMMetaParams(layout, mode === 'adam-correction', seed ?? 0),
    create: (params: Parameter[], metaParams: Float64Array, _options?: LearnedCreateOptions) =>
      new LSTMLearnedOptimizer(params, { ...hyper, hidden: layout.hidden, metaParams }),
  };
}
