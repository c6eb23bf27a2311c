import {
  type ControllerConfig,
  type LSTMLayout,
  type LSTMMode,
  type MLPHybridConfig,
  NUM_ELEMENT_FEATURES,
  NUM_TENSOR_FEATURES,
  TOKEN_FEATURES,
  controllerLayout,
} from '@opt/learned';
import { GraphBuilder } from '../onnx/builder.js';

/** The runtime scalars of {@link exportMlpStep}'s `hyper` input, in order (computed on the host in float64). */
export const MLP_STEP_HYPER: readonly string[] = Object.freeze([
  'weight_decay',
  'beta1',
  'one_minus_beta1',
  'beta2',
  'one_minus_beta2',
  'decay_fast',
  'one_minus_decay_fast',
  'decay_slow',
  'one_minus_decay_slow',
  'inv_bc1',
  'inv_sqrt_bc2',
  'sqrt_bc2',
  'eps',
  'step_size',
  'lr_beta',
]);

/** The runtime scalars of {@link exportLstmStep}'s `hyper` input, in order. */
export const LSTM_STEP_HYPER: readonly string[] = Object.freeze([
  'k',
  'exp_k',
  'scale',
  'lr',
  'beta1',
  'one_minus_beta1',
  'beta2',
  'one_minus_beta2',
  'step_size',
  'sqrt_bc2',
  'eps',
]);

/** How {@link exportLstmStep} writes the LSTM cell. */
export type LstmCellOp = 'onnx-lstm' | 'matmul';

/** The float32 copy of `meta[offset + r·cols + c]` for `r < rows`, `c < cols` (a row-major block). */
function block(meta: Float64Array, offset: number, rows: number, cols: number, stride = cols): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = meta[offset + r * stride + c]!;
  return out;
}

/** A graph writer over {@link GraphBuilder} with the few float32 helpers the networks need. */
class Net {
  readonly g: GraphBuilder;
  private readonly consts = new Map<string, string>();
  private counter = 0;

  /** A constant's name: `GraphBuilder.fresh` claims the name itself, and `initializer` must claim it. */
  unique(prefix: string): string {
    return `${prefix}__${this.counter++}`;
  }

  constructor(name: string) {
    this.g = new GraphBuilder(name);
  }

  c(value: number): string {
    const key = `f${value}`;
    let name = this.consts.get(key);
    if (name === undefined) {
      name = this.g.scalar(this.unique('c'), 'float32', value);
      this.consts.set(key, name);
    }
    return name;
  }

  ints(values: readonly number[]): string {
    const key = `i${values.join(',')}`;
    let name = this.consts.get(key);
    if (name === undefined) {
      name = this.g.initializer(this.unique('axes'), 'int64', [values.length], values);
      this.consts.set(key, name);
    }
    return name;
  }

  weight(prefix: string, dims: readonly number[], values: Float32Array): string {
    return this.g.initializer(this.unique(prefix), 'float32', dims, values);
  }

  op(op: string, ...inputs: string[]): string {
    return this.g.op(op, inputs);
  }

  /** The `index`-th scalar of the 1-D input `hyper`. */
  hyper(index: number): string {
    const at = this.g.initializer(this.unique('at'), 'int64', [], [index]);
    return this.g.op('Gather', ['hyper', at], { axis: 0 });
  }

  clip(x: string, lo: number, hi: number): string {
    return this.g.op('Clip', [x, this.c(lo), this.c(hi)]);
  }

  /** `[n] → [n, 1]`. */
  column(x: string): string {
    return this.g.op('Unsqueeze', [x, this.ints([1])]);
  }

  /** Column `j` of an `[n, k]` matrix as `[n]`. */
  col(x: string, j: number): string {
    const at = this.g.initializer(this.unique('col'), 'int64', [], [j]);
    return this.g.op('Gather', [x, at], { axis: 1 });
  }

  /** `x·W + b` with `W` `[k × m]` and `b` `[m]` given as float32 values. */
  dense(x: string, prefix: string, k: number, m: number, w: Float32Array, b: Float32Array | null): string {
    const y = this.g.op('MatMul', [x, this.weight(`${prefix}_w`, [k, m], w)]);
    return b === null ? y : this.g.op('Add', [y, this.weight(`${prefix}_b`, [m], b)]);
  }

  /** Mean of `x` over all elements, a scalar. */
  mean(x: string): string {
    return this.g.op('ReduceMean', [x], { keepdims: 0 });
  }

  output(from: string, name: string, dims: readonly (number | string)[]): void {
    this.g.op('Identity', [from], {}, name);
    this.g.output(name, 'float32', dims);
  }
}

/**
 * Export one step of `@opt/learned`'s `MLPLearnedOptimizer` on one tensor as an ONNX graph (float32, opset 17),
 * the per-tensor feature normalisation INCLUDED in the graph (reductions over the tensor), so a step uploads only
 * the gradient and the scalars:
 *
 * ```
 * g ← g + wd·p;  m, v, m_fast, m_slow ← their EMAs of g
 * x = [g, p, m_fast, m, m_slow, √v̂, m̂/(√v̂+eps), max(ln(|g_n|+1e-8)/5, −1)] / RMS over the tensor, bounded ±1e3
 * (d, s) = W3·ReLU(W2·ReLU(W1·[x, φ(t)] + b1) + b2) + b3
 * p ← p − (μ·stepSize·m/(√v/√bc2 + eps) + μ·lrβ·d),   μ = exp(clamp(α·s, ±maxLog))
 * ```
 *
 * Inputs: `param`, `grad`, `exp_avg`, `exp_avg_sq`, `exp_avg_fast`, `exp_avg_slow` (`[n]`), `hyper`
 * ({@link MLP_STEP_HYPER}) and `time` (`[1, T]`, the `tanh(t/τ − 1)` features). Outputs: `param_out` and
 * `<state>_out`, and `moment_stats` (`[2]`: mean(m²) and mean(v) of the new moments, which the transformer
 * controller's next tokens need). The meta-parameters are float32 initializers; the batch is every element of the tensor.
 *
 * @param meta - the MLP's flat meta-parameters (`MLPLearnedOptimizer.metaParams`).
 * @param config - its architecture.
 * @returns the ONNX model bytes.
 */
export function exportMlpStep(meta: Float64Array, config: MLPHybridConfig): Uint8Array {
  const [h1, h2] = config.hidden;
  const T = config.timeScales.length;
  const F = NUM_ELEMENT_FEATURES;
  const S = config.tensorFeatures ? NUM_TENSOR_FEATURES : 0;
  const stride = F + T + S;
  const net = new Net('mlp_hybrid_step');
  const g = net.g;
  const names = ['param', 'grad', 'exp_avg', 'exp_avg_sq', 'exp_avg_fast', 'exp_avg_slow'];
  for (const n of names) g.input(n, 'float32', ['n']);
  g.input('hyper', 'float32', [MLP_STEP_HYPER.length]);
  g.input('time', 'float32', [1, T]);
  const h = (name: string): string => net.hyper(MLP_STEP_HYPER.indexOf(name));
  const [wd, b1, c1, b2, c2, bf, cf, bs, cs, invBc1, invSqrtBc2, sqrtBc2, eps, stepSize, lrBeta] = MLP_STEP_HYPER.map(h) as [
    string, string, string, string, string, string, string, string, string, string, string, string, string, string, string,
  ];
  const mul = (a: string, b: string): string => net.op('Mul', a, b);
  const add = (a: string, b: string): string => net.op('Add', a, b);
  const div = (a: string, b: string): string => net.op('Div', a, b);
  const ema = (buf: string, decay: string, rest: string, x: string): string => add(mul(decay, buf), mul(rest, x));
  const p = 'param';
  const gi = add('grad', mul(wd, p));
  const m = ema('exp_avg', b1, c1, gi);
  const v = ema('exp_avg_sq', b2, c2, mul(gi, gi));
  const mf = ema('exp_avg_fast', bf, cf, gi);
  const ms = ema('exp_avg_slow', bs, cs, gi);
  const sqrtV = net.op('Sqrt', v);
  const dir = div(mul(m, invBc1), add(mul(sqrtV, invSqrtBc2), eps));
  const inv = (meanSquare: string): string => net.op('Reciprocal', net.op('Sqrt', add(meanSquare, net.c(1e-30))));
  const ms2 = (x: string): string => net.mean(mul(x, x));
  const rg = inv(ms2(gi));
  const rp = inv(ms2(p));
  const rf = inv(ms2(mf));
  const rm = inv(ms2(m));
  const rs = inv(ms2(ms));
  const rv = inv(div(net.mean(v), mul(sqrtBc2, sqrtBc2)));
  const rd = inv(ms2(dir));
  // NaN → 0 and ±∞ → ±1e3, as `bounded` in the TypeScript kernel (x == x is false only for NaN).
  const bounded = (x: string): string => g.op('Where', [net.op('Equal', x, x), net.clip(x, -1e3, 1e3), net.c(0)]);
  const rootV = div(sqrtV, sqrtBc2);
  const denom = add(rootV, eps);
  const adamStep = div(mul(stepSize, m), denom);
  const x0 = bounded(mul(gi, rg));
  const x1 = bounded(mul(p, rp));
  const x2 = bounded(mul(mf, rf));
  const x3 = bounded(mul(m, rm));
  const x4 = bounded(mul(ms, rs));
  const x5 = bounded(mul(rootV, rv));
  const x6 = bounded(mul(div(mul(m, invBc1), denom), rd));
  const x7 = net.op('Max', mul(net.op('Log', add(net.op('Abs', x0), net.c(1e-8))), net.c(0.2)), net.c(-1));
  // Two Concats of four: onnxruntime-web's WebGPU Concat binds every input and the output as storage buffers, and
  // with eight inputs (nine buffers) it exceeds WebGPU's default maxStorageBuffersPerShaderStage of 8, which
  // onnxruntime-web does not raise: the pipeline fails validation and the step silently computes garbage.
  const cols = [x0, x1, x2, x3, x4, x5, x6, x7].map((x) => net.column(x));
  const X = g.op('Concat', [g.op('Concat', cols.slice(0, 4), { axis: 1 }), g.op('Concat', cols.slice(4), { axis: 1 })], { axis: 1 });
  // W1 is [h1 × (F + T + S)] row-major: its first F columns act on x, the next T on φ(t) and the last S on the
  // tensor's signal-to-noise ratios (both shared by every element, so they enter as one [1, T + S] row).
  const w1x = new Float32Array(F * h1);
  const w1t = new Float32Array((T + S) * h1);
  for (let j = 0; j < h1; j++) {
    for (let f = 0; f < F; f++) w1x[f * h1 + j] = meta[j * stride + f]!;
    for (let k = 0; k < T + S; k++) w1t[k * h1 + j] = meta[j * stride + F + k]!;
  }
  let shared = 'time';
  if (S > 0) {
    // RMS(momentum)/RMS(√v̂) of the fast, β1 (bias-corrected) and slow momenta, as `mlpHybridUpdate` computes them.
    const snr = (rms: string): string => bounded(mul(rms, rv));
    const snrs = [snr(net.op('Sqrt', ms2(mf))), snr(mul(net.op('Sqrt', ms2(m)), invBc1)), snr(net.op('Sqrt', ms2(ms)))];
    const row = g.op('Concat', snrs.map((x) => g.op('Unsqueeze', [x, net.ints([0])])), { axis: 0 });
    shared = g.op('Concat', ['time', g.op('Unsqueeze', [row, net.ints([0])])], { axis: 1 });
  }
  const oB1 = h1 * stride;
  const oW2 = oB1 + h1;
  const oB2 = oW2 + h2 * h1;
  const oW3 = oB2 + h2;
  const oB3 = oW3 + 2 * h2;
  const bias1 = net.dense(shared, 'l1t', T + S, h1, w1t, block(meta, oB1, 1, h1));
  const a1 = net.op('Relu', add(g.op('MatMul', [X, net.weight('l1x_w', [F, h1], w1x)]), bias1));
  const w2t = new Float32Array(h1 * h2);
  for (let k = 0; k < h2; k++) for (let j = 0; j < h1; j++) w2t[j * h2 + k] = meta[oW2 + k * h1 + j]!;
  const a2 = net.op('Relu', net.dense(a1, 'l2', h1, h2, w2t, block(meta, oB2, 1, h2)));
  const w3t = new Float32Array(h2 * 2);
  for (let k = 0; k < h2; k++) {
    w3t[k * 2] = meta[oW3 + k]!;
    w3t[k * 2 + 1] = meta[oW3 + h2 + k]!;
  }
  const out = net.dense(a2, 'l3', h2, 2, w3t, block(meta, oB3, 1, 2));
  const rawD = net.col(out, 0);
  const d = config.maxDirection === null ? rawD : net.clip(rawD, -config.maxDirection, config.maxDirection);
  const s = net.col(out, 1);
  const mu = net.op('Exp', net.clip(mul(net.c(config.magnitudeScale), s), -config.maxLogMagnitude, config.maxLogMagnitude));
  // With gateDirection the direction is in units of the tensor's Adam step: lr·β times the RMS of m̂/(√v̂ + eps).
  const directionStep = config.gateDirection ? mul(lrBeta, net.op('Sqrt', ms2(dir))) : lrBeta;
  const pOut = net.op('Sub', p, add(mul(mu, adamStep), mul(mul(mu, directionStep), d)));
  net.output(pOut, 'param_out', ['n']);
  net.output(m, 'exp_avg_out', ['n']);
  net.output(v, 'exp_avg_sq_out', ['n']);
  net.output(mf, 'exp_avg_fast_out', ['n']);
  net.output(ms, 'exp_avg_slow_out', ['n']);
  // mean(m²) and mean(v) of the new moments: the next step's controller tokens need them without a read-back.
  net.output(g.op('Concat', [ms2(m), net.mean(v)].map((x) => g.op('Unsqueeze', [x, net.ints([0])])), { axis: 0 }), 'moment_stats', [2]);
  return g.toModel({ opset: 17, irVersion: 8, producerName: '@opt/hardware learned' });
}

/** ONNX's LSTM gate order is i, o, f, c; ours (PyTorch's) is i, f, g, o: ONNX gate q takes our gate ONNX_TO_OURS[q]. */
const ONNX_TO_OURS = [0, 3, 1, 2] as const;

/**
 * Export one step of `@opt/learned`'s `LSTMLearnedOptimizer` (Andrychowicz et al.'s coordinatewise two-layer LSTM)
 * as an ONNX graph over every coordinate of a tensor at once (the batch), float32:
 *
 * ```
 * x = (max(ln(|g| + ε)/k, −1), clamp(g·e^k, ±1))  [+ (lr/bc1)·m/(√v/√bc2 + eps) / lr in the correction mode]
 * h¹, c¹ = LSTM₁(x, h¹, c¹);   h², c² = LSTM₂(h¹, h², c²);   y = w_o·h² + b_o
 * pure: p ← p + scale·y;   adam-correction: p ← p − (adamStep − lr·y)
 * ```
 *
 * `cell: 'onnx-lstm'` uses ONNX's `LSTM` operator (sequence length 1), its weights converted from our
 * `[(in + H) × 4H]` layout with gates i, f, g, o to ONNX's `W [4H × in]`, `R [4H × H]` with gates i, o, f, c;
 * `'matmul'` writes the cell as `MatMul`, `Sigmoid` and `Tanh` (for providers without an `LSTM` kernel, such as
 * WebGPU, where the operator would run on the CPU).
 *
 * Inputs: `param`, `grad` (`[n]`), `h1`, `c1`, `h2`, `c2` (`[n, H]`), in the correction mode `exp_avg`,
 * `exp_avg_sq` (`[n]`), and `hyper` ({@link LSTM_STEP_HYPER}). Outputs `param_out` and `<state>_out`.
 *
 * @param meta - flat meta-parameters (`LSTMLearnedOptimizer.metaParams`).
 * @param layout - their layout (`LSTMLearnedOptimizer.layout`).
 * @param mode - the output mode.
 * @param cell - how to write the cell (default `'onnx-lstm'`).
 */
export function exportLstmStep(meta: Float64Array, layout: LSTMLayout, mode: LSTMMode, cell: LstmCellOp = 'onnx-lstm'): Uint8Array {
  const H = layout.hidden;
  const G = 4 * H;
  const net = new Net(`lstm_l2l_step_${cell}`);
  const g = net.g;
  const adam = mode === 'adam-correction';
  g.input('param', 'float32', ['n']);
  g.input('grad', 'float32', ['n']);
  for (const s of ['h1', 'c1', 'h2', 'c2']) g.input(s, 'float32', ['n', H]);
  if (adam) {
    g.input('exp_avg', 'float32', ['n']);
    g.input('exp_avg_sq', 'float32', ['n']);
  }
  g.input('hyper', 'float32', [LSTM_STEP_HYPER.length]);
  const [k, expK, scale, lr, b1, c1, b2, c2, stepSize, sqrtBc2, eps] = LSTM_STEP_HYPER.map((_, i) => net.hyper(i)) as [
    string, string, string, string, string, string, string, string, string, string, string,
  ];
  const mul = (a: string, b: string): string => net.op('Mul', a, b);
  const add = (a: string, b: string): string => net.op('Add', a, b);
  const div = (a: string, b: string): string => net.op('Div', a, b);
  const grad = 'grad';
  // LogAndSign with the float32 machine epsilon, as the TypeScript optimizer (and the reference code) uses.
  const l = net.op('Max', div(net.op('Log', add(net.op('Abs', grad), net.c(1.1920928955078125e-7))), k), net.c(-1));
  const sgn = net.clip(mul(grad, expK), -1, 1);
  const features = [net.column(l), net.column(sgn)];
  let adamStep = '';
  let m = '';
  let v = '';
  if (adam) {
    m = add(mul(b1, 'exp_avg'), mul(c1, grad));
    v = add(mul(b2, 'exp_avg_sq'), mul(c2, mul(grad, grad)));
    adamStep = div(mul(stepSize, m), add(div(net.op('Sqrt', v), sqrtBc2), eps));
    features.push(net.column(div(adamStep, lr)));
  }
  const X = g.op('Concat', features, { axis: 1 });
  const layer = (x: string, inDim: number, wOff: number, bOff: number, hPrev: string, cPrev: string, tag: string): [string, string] => {
    if (cell === 'onnx-lstm') {
      const W = new Float32Array(G * inDim);
      const R = new Float32Array(G * H);
      const B = new Float32Array(2 * G);
      for (let q = 0; q < 4; q++) {
        const ours = ONNX_TO_OURS[q]!;
        for (let j = 0; j < H; j++) {
          const row = q * H + j;
          const col = ours * H + j;
          for (let c = 0; c < inDim; c++) W[row * inDim + c] = meta[wOff + c * G + col]!;
          for (let c = 0; c < H; c++) R[row * H + c] = meta[wOff + (inDim + c) * G + col]!;
          // Our single bias goes to Wb; Rb stays zero (ONNX adds both).
          B[row] = meta[bOff + col]!;
        }
      }
      const three = (x3: string): string => g.op('Unsqueeze', [x3, net.ints([0])]);
      const outs = g.node(
        'LSTM',
        [
          three(x),
          net.weight(`${tag}_W`, [1, G, inDim], W),
          net.weight(`${tag}_R`, [1, G, H], R),
          net.weight(`${tag}_B`, [1, 2 * G], B),
          '',
          three(hPrev),
          three(cPrev),
        ],
        { hidden_size: H },
        { outputs: 3 },
      );
      const squeeze = (t: string): string => g.op('Squeeze', [t, net.ints([0])]);
      return [squeeze(outs[1]!), squeeze(outs[2]!)];
    }
    const z = net.dense(g.op('Concat', [x, hPrev], { axis: 1 }), tag, inDim + H, G, block(meta, wOff, inDim + H, G), block(meta, bOff, 1, G));
    const split = g.initializer(net.unique('split'), 'int64', [4], [H, H, H, H]);
    const [zi, zf, zg, zo] = g.node('Split', [z, split], { axis: 1 }, { outputs: 4 }) as [string, string, string, string];
    const c = add(mul(net.op('Sigmoid', zf), cPrev), mul(net.op('Sigmoid', zi), net.op('Tanh', zg)));
    return [mul(net.op('Sigmoid', zo), net.op('Tanh', c)), c];
  };
  const [h1, c1n] = layer(X, layout.inputs, layout.w1, layout.b1, 'h1', 'c1', 'lstm1');
  const [h2, c2n] = layer(h1, H, layout.w2, layout.b2, 'h2', 'c2', 'lstm2');
  const y = net.col(net.dense(h2, 'out', H, 1, block(meta, layout.wo, H, 1), block(meta, layout.bo, 1, 1)), 0);
  const pOut = adam ? net.op('Sub', 'param', net.op('Sub', adamStep, mul(lr, y))) : add('param', mul(scale, y));
  net.output(pOut, 'param_out', ['n']);
  net.output(h1, 'h1_out', ['n', H]);
  net.output(c1n, 'c1_out', ['n', H]);
  net.output(h2, 'h2_out', ['n', H]);
  net.output(c2n, 'c2_out', ['n', H]);
  if (adam) {
    net.output(m, 'exp_avg_out', ['n']);
    net.output(v, 'exp_avg_sq_out', ['n']);
  }
  return g.toModel({ opset: 17, irVersion: 8, producerName: '@opt/hardware learned' });
}

/**
 * Export the attention controller of `@opt/learned`'s `TransformerLearnedOptimizer` as an ONNX graph: tokens
 * `[T × 11]` (one per parameter tensor) → modulation `[T × 2]` = (log learning-rate scale clamped to
 * ±maxLogScale, direction gain clamped to [−1, 3]). Pre-LayerNorm blocks without affine parameters
 * (`LayerNormalization` with unit scale, epsilon 1e-5), multi-head attention across the tokens as batched
 * `MatMul` + `Softmax`, ReLU feed-forward, as `controllerForward`. The tokens are computed on the host (per-tensor
 * statistics and the loss features), and each tensor's update then runs {@link exportMlpStep}'s graph with the
 * modulated `step_size` and `lr_beta`.
 *
 * @param meta - the controller's meta-parameters.
 * @param config - its shape.
 */
export function exportControllerNetwork(meta: Float64Array, config: ControllerConfig): Uint8Array {
  const L = controllerLayout(config);
  const d = config.dModel;
  const H = config.heads;
  const dh = d / H;
  const net = new Net('transformer_controller');
  const g = net.g;
  g.input('tokens', 'float32', ['T', TOKEN_FEATURES]);
  const ones = net.weight('ln_scale', [d], new Float32Array(d).fill(1));
  const zeros = net.weight('ln_bias', [d], new Float32Array(d));
  const ln = (x: string): string => g.op('LayerNormalization', [x, ones, zeros], { axis: -1, epsilon: { type: 'float', value: 1e-5 } });
  const heads = g.initializer(net.unique('shape'), 'int64', [3], [-1, H, dh]);
  const flat = g.initializer(net.unique('shape'), 'int64', [2], [-1, d]);
  let x = net.dense('tokens', 'embed', TOKEN_FEATURES, d, block(meta, L.win, TOKEN_FEATURES, d), block(meta, L.bin, 1, d));
  L.blocks.forEach((b, l) => {
    const u = ln(x);
    const proj = (off: number, tag: string): string => net.dense(u, `b${l}_${tag}`, d, d, block(meta, off, d, d), null);
    const split = (t: string, perm: number[]): string => g.op('Transpose', [g.op('Reshape', [t, heads])], { perm });
    const q = split(proj(b.wq, 'q'), [1, 0, 2]);
    const k = split(proj(b.wk, 'k'), [1, 2, 0]);
    const v = split(proj(b.wv, 'v'), [1, 0, 2]);
    const scores = net.op('Mul', g.op('MatMul', [q, k]), net.c(1 / Math.sqrt(dh)));
    const attn = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), v]);
    const merged = g.op('Reshape', [g.op('Transpose', [attn], { perm: [1, 0, 2] }), flat]);
    x = net.op('Add', x, net.dense(merged, `b${l}_o`, d, d, block(meta, b.wo, d, d), null));
    const hidden = net.op('Relu', net.dense(ln(x), `b${l}_ffn1`, d, config.ffn, block(meta, b.w1, d, config.ffn), block(meta, b.b1, 1, config.ffn)));
    x = net.op('Add', x, net.dense(hidden, `b${l}_ffn2`, config.ffn, d, block(meta, b.w2, config.ffn, d), block(meta, b.b2, 1, d)));
  });
  const raw = net.dense(x, 'head', d, 2, block(meta, L.wout, d, 2), block(meta, L.bout, 1, 2));
  const bound = config.maxLogScale;
  const hi = net.weight('hi', [2], new Float32Array([bound, 3]));
  const lo = net.weight('lo', [2], new Float32Array([-bound, -1]));
  net.output(net.op('Max', net.op('Min', raw, hi), lo), 'modulation', ['T', 2]);
  return g.toModel({ opset: 17, irVersion: 8, producerName: '@opt/hardware learned' });
}
