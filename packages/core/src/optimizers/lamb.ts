import { type Backend, type FloatArray, InvalidOptionError, type Parameter, lambUpdate, resolveBackend, zerosLike } from '@opt/tensor';
import { WasmGroupStorage, type WasmSegment, gatherSegmentState } from '../flat-state.js';
import { WasmScratch } from './elementwise-wasm.js';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import { checkBetas, checkBoolean, checkNonNegative, checkPositive } from '../validation.js';

/** Hyper-parameters of {@link LAMB}. */
export interface LAMBOptions {
  /** Learning rate. Default 1e-3. */
  lr: number;
  /** Decay rates of the first and second moment estimates. Default [0.9, 0.999]. */
  betas: [number, number];
  /** Added to the bias-corrected √v. Default 1e-6 (the paper's and optax's). */
  eps: number;
  /** Decoupled weight decay λ, added to the Adam direction before the trust ratio. Default 0. */
  weightDecay: number;
  /**
   * Upper clamp φ(‖p‖) = min(‖p‖, clampValue) of the weight norm in the trust
   * ratio; `Infinity` disables it. Default 10, as the widely used PyTorch
   * implementations (pytorch-optimizer's `clamp_value`); the paper leaves φ open.
   */
  clampValue: number;
  /** Maximize the objective instead of minimizing. Default false. */
  maximize: boolean;
}

/** Per-parameter state of {@link LAMB}: Adam's moments and step count. */
export interface LAMBState {
  [key: string]: number | FloatArray;
  step: number;
  exp_avg: FloatArray;
  exp_avg_sq: FloatArray;
}

const DEFAULTS: LAMBOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-6, weightDecay: 0, clampValue: 10, maximize: false };

/**
 * LAMB, layer-wise adaptive moments (You et al. 2019, "Large Batch Optimization
 * for Deep Learning: Training BERT in 76 minutes", ICLR 2020; arXiv:1904.00962,
 * Algorithm 2). With t the parameter's step count:
 *
 * ```
 * g ← ±∇f(p)
 * m ← β1·m + (1 − β1)·g;   v ← β2·v + (1 − β2)·g²
 * u ← (m/(1 − β1^t)) / (√(v/(1 − β2^t)) + eps) + weightDecay·p
 * r ← min(‖p‖, clampValue) / ‖u‖          (r = 1 when ‖p‖ = 0 or ‖u‖ = 0)
 * p ← p − lr·r·u
 * ```
 *
 * Each parameter tensor is one "layer": its norms are over the whole tensor.
 * The trust ratio needs ‖u‖ before any element moves, so each step makes two
 * passes over the parameter (see `lambUpdate`); `u` is written into a scratch
 * buffer allocated once per parameter, with its state, and kept out of the
 * state dict (it is recomputed every step).
 *
 * With `backend: 'wasm'`, three WebAssembly SIMD kernel calls per parameter
 * (‖p‖², moments and direction with ‖u‖², update), the norms summed in index
 * order so that the trust ratio equals the JS backend's.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { LAMB } from '@opt/core';
 * const w = new Parameter(new Float32Array([0.5, -0.5, 0.25, 1]), [2, 2], 'w');
 * const opt = new LAMB([w], { lr: 1e-2, weightDecay: 0.01 });
 * w.grad = new Float32Array([0.1, -0.3, 0.2, 0]);
 * opt.step();
 * ```
 */
export class LAMB extends Optimizer<LAMBOptions, LAMBState> {
  private readonly scratch = new WeakMap<Parameter, FloatArray>();

  /** The kernel backend this optimizer runs on (resolved from the `backend` setting). */
  readonly backend: Backend;
  private readonly wasm: WasmGroupStorage | null;
  /** The wasm backend's direction buffer u, as long as the largest parameter, shared by all (one parameter at a time). */
  private readonly wasmScratch = new WasmScratch();
  private readonly stateOfParam: (p: Parameter, group: ParamGroup<LAMBOptions>) => LAMBState;

  constructor(params: ParamsArg<LAMBOptions>, options: Partial<LAMBOptions> & OptimizerSettings = {}) {
    super('LAMB', params, DEFAULTS, options);
    this.backend = resolveBackend(options.backend, 'LAMB');
    this.wasm = this.backend === 'wasm' ? new WasmGroupStorage(() => LAMB_KEYS, (p) => this.state.get(p)) : null;
    this.gradientScanner = this.wasm;
    this.stateOfParam = (p, group) => this.stateFor(p, group);
  }

  protected validateGroup(o: Readonly<LAMBOptions>): void {
    checkNonNegative('LAMB', 'lr', o.lr);
    checkBetas('LAMB', o.betas);
    checkPositive('LAMB', 'eps', o.eps);
    checkNonNegative('LAMB', 'weightDecay', o.weightDecay);
    if (typeof o.clampValue !== 'number' || !(o.clampValue > 0)) {
      throw new InvalidOptionError('clampValue', o.clampValue, 'a number > 0 (Infinity for no clamp)', 'LAMB');
    }
    checkBoolean('LAMB', 'maximize', o.maximize);
  }

  protected initState(p: Parameter): LAMBState {
    // The wasm backend writes u into wasm memory instead (see wasmScratch).
    if (this.backend !== 'wasm') this.scratch.set(p, zerosLike(p.data));
    return { step: 0, exp_avg: zerosLike(p.data), exp_avg_sq: zerosLike(p.data) };
  }

  protected updateGroup(group: ParamGroup<LAMBOptions>): void {
    if (this.wasm !== null) {
      // Trust ratios are per parameter: one pair of kernel calls per parameter with a gradient.
      const segs = this.wasm.prepare(group);
      for (let segIndex = 0; segIndex < segs.length; segIndex++) {
        const seg = segs[segIndex]!;
        gatherSegmentState(seg, this.stateOfParam, group, null);
        for (let i = 0; i < seg.params.length; i++) {
          if (seg.hasGrad[i] === 1) lambCall(this.wasm, this.wasmScratch, seg, i, ++this.state.get(seg.params[i]!)!.step, group);
        }
      }
      return;
    }
    const { lr, betas, eps, weightDecay, clampValue, maximize } = group;
    const beta1 = betas[0];
    const beta2 = betas[1];
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      const t = ++s.step;
      const u = this.scratch.get(p)!;
      lambUpdate(p.data, g, s.exp_avg, s.exp_avg_sq, u, lr, beta1, beta2, 1 - beta1 ** t, 1 - beta2 ** t, eps, weightDecay, clampValue, maximize);
    }
  }
}

const LAMB_KEYS: readonly string[] = ['exp_avg', 'exp_avg_sq'];

/**
 * One LAMB step of parameter `i` on the wasm backend: ‖p‖² and the moments /
 * direction pass (which returns ‖u‖²), the trust ratio formed here exactly as
 * the JS kernel forms it, then p ← p − lr·ratio·u.
 */
function lambCall(wasm: WasmGroupStorage, scratch: WasmScratch, seg: WasmSegment, i: number, t: number, group: ParamGroup<LAMBOptions>): void {
  const { lr, betas, eps, weightDecay, clampValue, maximize } = group;
  const arena = wasm.arena;
  const k = wasm.kernels;
  const f64 = seg.dtype === 'float64';
  const n = seg.count(i);
  const p = seg.ptr(0, i);
  const u = scratch.ptr(arena, n * (f64 ? 8 : 4));
  const a = arena.scalars;
  a[0] = betas[0];
  a[1] = betas[1];
  a[2] = 1 - betas[0] ** t;
  a[3] = 1 - betas[1] ** t;
  a[4] = eps;
  a[5] = weightDecay;
  const pNorm = Math.sqrt(f64 ? k.sumsqOrderedF64(p, n) : k.sumsqOrderedF32(p, n));
  const uSq = (f64 ? k.lambDirectionF64 : k.lambDirectionF32)(p, seg.ptr(1, i), seg.ptr(2, i), seg.ptr(3, i), u, n, arena.scalarsPtr, maximize ? 1 : 0);
  const uNorm = Math.sqrt(uSq);
  const ratio = pNorm === 0 || uNorm === 0 ? 1 : Math.min(pNorm, clampValue) / uNorm;
  a[0] = lr * ratio;
  (f64 ? k.lambApplyF64 : k.lambApplyF32)(p, u, n, arena.scalarsPtr);
}
