import {
  type Backend,
  type FloatArray,
  InvalidOptionError,
  type Parameter,
  adafactorFactoredUpdate,
  adafactorVectorUpdate,
  resolveBackend,
  zerosLike,
} from '@opt/tensor';
import { WasmGroupStorage, type WasmSegment, gatherSegmentState } from '../flat-state.js';
import { WasmScratch } from './elementwise-wasm.js';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import { checkBoolean, checkFinite, checkInRange, checkNonNegative } from '../validation.js';

/** Hyper-parameters of {@link Adafactor} (`torch.optim.Adafactor`'s names in camelCase, plus `beta1`). */
export interface AdafactorOptions {
  /** Cap of the relative step size ρ_t = min(lr, 1/√t), and the factor of decoupled weight decay. Default 1e-2. */
  lr: number;
  /** τ in β̂2_t = 1 − t^τ; must be ≤ 0. Default −0.8. */
  beta2Decay: number;
  /**
   * The pair `[eps1, eps2]`: eps1 floors √V̂ and the factored estimate's normaliser (`null`:
   * the machine epsilon of the parameter's dtype, as PyTorch); eps2 floors RMS(p)
   * in the step size. Default [null, 1e-3].
   */
  eps: [number | null, number];
  /** Update clipping threshold d ≥ 1. Default 1. */
  d: number;
  /** Decoupled weight decay: `p ← p·(1 − lr·weightDecay)`. Default 0. */
  weightDecay: number;
  /**
   * Decay of an optional first moment of the (clipped, scaled) update, as the
   * paper's momentum variants and the HF/fairseq `beta1`; `null` keeps none
   * (PyTorch's Adafactor has no first moment). Default null.
   */
  beta1: number | null;
  /** Maximize the objective instead of minimizing. Default false. */
  maximize: boolean;
}

/**
 * Per-parameter state of {@link Adafactor}, keyed as `torch.optim.Adafactor`:
 * `row_var` and `col_var` for parameters of two or more dimensions, `variance`
 * otherwise, and `exp_avg` when `beta1` is set.
 */
export interface AdafactorState {
  [key: string]: number | FloatArray;
  step: number;
}

const DEFAULTS: AdafactorOptions = {
  lr: 1e-2,
  beta2Decay: -0.8,
  eps: [null, 1e-3],
  d: 1,
  weightDecay: 0,
  beta1: null,
  maximize: false,
};

/** Machine epsilon of float32 and float64, PyTorch's eps1 when it is `None`. */
const EPS_F32 = 2 ** -23;
const EPS_F64 = 2 ** -52;

/**
 * Adafactor (Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates with
 * Sublinear Memory Cost", ICML; arXiv:1804.04235) with the semantics of
 * PyTorch 2.5's `torch.optim.Adafactor`. For a parameter with last two
 * dimensions n × m (row and column factors per leading index):
 *
 * ```
 * G ← ±∇f(p);  β̂2 ← 1 − t^beta2Decay;  ρ ← min(lr, 1/√t);  α ← max(eps2, RMS(p))·ρ
 * p ← p·(1 − lr·weightDecay)
 * R ← β̂2·R + (1 − β̂2)·mean_j G²,   C ← β̂2·C + (1 − β̂2)·mean_i G²      (≥ 2-D)
 * V̂ ← R·C / max(mean_i R, eps1)                                          (≥ 2-D)
 * V̂ ← β̂2·V̂ + (1 − β̂2)·G²                                               (0-D, 1-D)
 * U ← G / max(√V̂, eps1);  Û ← U / max(1, RMS(U)/d)
 * p ← p − α·Û                      (beta1: m ← β1·m + (1 − β1)·α·Û;  p ← p − m)
 * ```
 *
 * Differences from the paper (and from the HF `transformers` version):
 * - `lr` caps ρ_t (the paper fixes 1e-2) and scales decoupled weight decay
 *   (the paper has none); there is no `relative_step`/`scale_parameter` switch:
 *   the step is always relative to RMS(p), as in the paper;
 * - eps1 floors √V̂ and the normaliser instead of being added to G² before
 *   the factors (paper/HF: 1e-30); `null` picks the dtype's machine epsilon,
 *   resolved per parameter (PyTorch resolves it once from the first parameter);
 * - the factors hold means, not sums (the same V̂, better scaled);
 * - `beta1` is an addition (PyTorch has no first moment); like HF/fairseq it
 *   averages the final scaled update α·Û, so changing ρ_t or RMS(p) enters gradually;
 * - PyTorch's `foreach` switch has no counterpart here.
 *
 * With `backend: 'wasm'`, one WebAssembly SIMD kernel call per parameter,
 * computing in float64 as the JS reference does: bit-identical to the JS
 * backend in float32 and float64.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { Adafactor } from '@opt/core';
 * const w = new Parameter(new Float32Array(6).fill(0.5), [2, 3], 'w');
 * const opt = new Adafactor([w]); // keeps 2 + 3 second-moment values, not 6
 * w.grad = new Float32Array([0.1, -0.3, 0.2, 0, 0.4, -0.1]);
 * opt.step();
 * ```
 */
export class Adafactor extends Optimizer<AdafactorOptions, AdafactorState> {
  /** Float64 column sums of one slice, grown to the widest parameter seen; reused by every step. */
  private colScratch = new Float64Array(0);

  /** The kernel backend this optimizer runs on (resolved from the `backend` setting). */
  readonly backend: Backend;
  private readonly wasm: WasmGroupStorage | null;
  /** The wasm backend's work space: one parameter's second-moment factors (copied in and out) and column sums. */
  private readonly wasmScratch = new WasmScratch();
  private readonly stateOfParam: (p: Parameter, group: ParamGroup<AdafactorOptions>) => AdafactorState;

  constructor(params: ParamsArg<AdafactorOptions>, options: Partial<AdafactorOptions> & OptimizerSettings = {}) {
    super('Adafactor', params, DEFAULTS, options);
    this.backend = resolveBackend(options.backend, 'Adafactor');
    this.wasm =
      this.backend === 'wasm'
        ? new WasmGroupStorage((group) => ((group as AdafactorOptions).beta1 !== null ? ADAFACTOR_KEYS : NO_KEYS), (p) => this.state.get(p))
        : null;
    this.gradientScanner = this.wasm;
    this.stateOfParam = (p, group) => this.stateFor(p, group);
  }

  protected validateGroup(o: Readonly<AdafactorOptions>): void {
    checkNonNegative('Adafactor', 'lr', o.lr);
    if (checkFinite('Adafactor', 'beta2Decay', o.beta2Decay) > 0) {
      throw new InvalidOptionError('beta2Decay', o.beta2Decay, 'a finite number <= 0', 'Adafactor');
    }
    if (!Array.isArray(o.eps) || o.eps.length !== 2) {
      throw new InvalidOptionError('eps', o.eps, 'a pair [eps1 (number >= 0 or null), eps2 (number >= 0)]', 'Adafactor');
    }
    if (o.eps[0] !== null) checkNonNegative('Adafactor', 'eps[0]', o.eps[0]);
    checkNonNegative('Adafactor', 'eps[1]', o.eps[1]);
    if (checkFinite('Adafactor', 'd', o.d) < 1) throw new InvalidOptionError('d', o.d, 'a finite number >= 1', 'Adafactor');
    checkNonNegative('Adafactor', 'weightDecay', o.weightDecay);
    if (o.beta1 !== null) checkInRange('Adafactor', 'beta1', o.beta1, 0, 1, '[)');
    checkBoolean('Adafactor', 'maximize', o.maximize);
  }

  protected initState(p: Parameter, group: ParamGroup<AdafactorOptions>): AdafactorState {
    const s: AdafactorState = { step: 0 };
    if (p.shape.length > 1) {
      const rows = p.shape[p.shape.length - 2]!;
      const cols = p.shape[p.shape.length - 1]!;
      const slices = rows * cols === 0 ? 0 : p.size / (rows * cols);
      s.row_var = zerosLike(p.data, slices * rows);
      s.col_var = zerosLike(p.data, slices * cols);
    } else {
      s.variance = zerosLike(p.data);
    }
    if (group.beta1 !== null) s.exp_avg = zerosLike(p.data);
    return s;
  }

  protected updateGroup(group: ParamGroup<AdafactorOptions>): void {
    if (this.wasm !== null) {
      // The factored moments are per parameter (and not as long as it): one kernel call per parameter with a gradient.
      const segs = this.wasm.prepare(group);
      for (let segIndex = 0; segIndex < segs.length; segIndex++) {
        const seg = segs[segIndex]!;
        gatherSegmentState(seg, this.stateOfParam, group, null);
        for (let i = 0; i < seg.params.length; i++) {
          if (seg.hasGrad[i] === 1) adafactorCall(this.wasm, this.wasmScratch, seg, i, this.state.get(seg.params[i]!)!, group);
        }
      }
      return;
    }
    const { lr, beta2Decay, eps, d, weightDecay, beta1, maximize } = group;
    const decay = 1 - lr * weightDecay;
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      const t = ++s.step;
      const w = t ** beta2Decay;
      const rho = Math.min(lr, 1 / t ** 0.5);
      const eps1 = eps[0] ?? (p.data instanceof Float64Array ? EPS_F64 : EPS_F32);
      let expAvg: FloatArray | null = null;
      if (beta1 !== null) {
        // Created on demand when beta1 is set after the state exists.
        if (s.exp_avg === undefined) s.exp_avg = zerosLike(p.data);
        expAvg = s.exp_avg as FloatArray;
      }
      if (p.shape.length > 1) {
        const cols = p.shape[p.shape.length - 1]!;
        if (this.colScratch.length < cols) this.colScratch = new Float64Array(cols);
        const rows = p.shape[p.shape.length - 2]!;
        adafactorFactoredUpdate(
          p.data, g, s.row_var as FloatArray, s.col_var as FloatArray, this.colScratch, rows, cols, expAvg,
          rho, w, eps1, eps[1], d, decay, beta1 ?? 0, maximize,
        );
      } else {
        adafactorVectorUpdate(p.data, g, s.variance as FloatArray, expAvg, rho, w, eps1, eps[1], d, decay, beta1 ?? 0, maximize);
      }
    }
  }
}

const ADAFACTOR_KEYS: readonly string[] = ['exp_avg'];
const NO_KEYS: readonly string[] = [];

/**
 * One Adafactor step of parameter `i` on the wasm backend. Data, gradient and
 * `exp_avg` live in the segment; the second-moment factors (`row_var` and
 * `col_var`, or `variance` for a vector) stay in the state on the JS heap and
 * are copied into the scratch block around the call: for a matrix that is
 * O(rows + cols) per step against the O(rows·cols) of the update, and it keeps
 * state tensors shorter than the parameter out of the segment's equal-length
 * blocks.
 */
function adafactorCall(
  wasm: WasmGroupStorage,
  scratch: WasmScratch,
  seg: WasmSegment,
  i: number,
  s: AdafactorState,
  group: ParamGroup<AdafactorOptions>,
): void {
  const { lr, beta2Decay, eps, d, weightDecay, beta1, maximize } = group;
  const p = seg.params[i]!;
  const t = ++s.step;
  const f64 = seg.dtype === 'float64';
  const bytes = f64 ? 8 : 4;
  const arena = wasm.arena;
  const a = arena.scalars;
  a[0] = Math.min(lr, 1 / t ** 0.5);
  a[1] = t ** beta2Decay;
  a[2] = eps[0] ?? (f64 ? EPS_F64 : EPS_F32);
  a[3] = eps[1];
  a[4] = d;
  a[5] = 1 - lr * weightDecay;
  a[6] = beta1 ?? 0;
  const k = wasm.kernels;
  const n = seg.count(i);
  const expAvg = beta1 !== null ? seg.ptr(2, i) : 0;
  const flag = maximize ? 1 : 0;
  if (p.shape.length > 1) {
    const rows = p.shape[p.shape.length - 2]!;
    const cols = p.shape[p.shape.length - 1]!;
    const rowVar = s.row_var as FloatArray;
    const colVar = s.col_var as FloatArray;
    const moments = rowVar.length + colVar.length;
    const colSums = Math.ceil((moments * bytes) / 16) * 16;
    const base = scratch.ptr(arena, colSums + cols * 8);
    const view = f64 ? scratch.f64() : scratch.f32();
    copyIn(view, 0, rowVar);
    copyIn(view, rowVar.length, colVar);
    const colPtr = base + rowVar.length * bytes;
    (f64 ? k.adafactorFactoredF64 : k.adafactorFactoredF32)(
      seg.ptr(0, i), seg.ptr(1, i), base, colPtr, expAvg, base + colSums, n, arena.scalarsPtr, rows, cols, flag,
    );
    copyOut(view, 0, rowVar);
    copyOut(view, rowVar.length, colVar);
    return;
  }
  const variance = s.variance as FloatArray;
  const base = scratch.ptr(arena, n * bytes);
  const view = f64 ? scratch.f64() : scratch.f32();
  copyIn(view, 0, variance);
  (f64 ? k.adafactorVectorF64 : k.adafactorVectorF32)(seg.ptr(0, i), seg.ptr(1, i), base, expAvg, n, arena.scalarsPtr, flag);
  copyOut(view, 0, variance);
}

/** view[at …] ← x, element by element (no subarray: a step must not allocate). */
function copyIn(view: FloatArray, at: number, x: FloatArray): void {
  for (let j = 0; j < x.length; j++) view[at + j] = x[j]!;
}

/** x ← view[at …]. */
function copyOut(view: FloatArray, at: number, x: FloatArray): void {
  for (let j = 0; j < x.length; j++) x[j] = view[at + j]!;
}
