import { type Backend, type FloatArray, InvalidOptionError, type Parameter, larsUpdate, resolveBackend, zerosLike } from '@opt/tensor';
import { WasmGroupStorage, type WasmSegment, gatherSegmentState } from '../flat-state.js';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import { checkBoolean, checkNonNegative, checkPositive } from '../validation.js';

/** Hyper-parameters of {@link LARS}. */
export interface LARSOptions {
  /** Global learning rate γ (multiplies the trust ratio, which is small). Default 1. */
  lr: number;
  /** Momentum μ. Default 0.9. */
  momentum: number;
  /** Weight decay β, added to the gradient and to the trust ratio's denominator. Default 0. */
  weightDecay: number;
  /** Trust coefficient η. Default 1e-3. */
  trustCoefficient: number;
  /** Added to the trust ratio's denominator. Default 0 (the zero-norm rule already prevents division by zero). */
  eps: number;
  /** Nesterov momentum (needs momentum > 0). Default false. */
  nesterov: boolean;
  /**
   * Skip layer-wise adaptation for this group (trust ratio 1): plain momentum
   * SGD with weight decay. Put biases and normalisation parameters in such a
   * group, as the reference setups exclude them. Default false.
   */
  excludeFromAdaptation: boolean;
  /** Maximize the objective instead of minimizing. Default false. */
  maximize: boolean;
}

/** Per-parameter state of {@link LARS}: the momentum buffer (`null` until the first step with momentum). */
export interface LARSState {
  [key: string]: FloatArray | null;
  momentum_buffer: FloatArray | null;
}

const DEFAULTS: LARSOptions = {
  lr: 1,
  momentum: 0.9,
  weightDecay: 0,
  trustCoefficient: 1e-3,
  eps: 0,
  nesterov: false,
  excludeFromAdaptation: false,
  maximize: false,
};

/**
 * LARS, layer-wise adaptive rate scaling (You, Gitman & Ginsburg 2017, "Large
 * Batch Training of Convolutional Networks", arXiv:1708.03888, Algorithm 1).
 * Each parameter tensor is one layer:
 *
 * ```
 * g ← ±∇f(p)
 * λ ← η·‖p‖ / (‖g‖ + weightDecay·‖p‖ + eps)    (λ = 1 when ‖p‖ = 0 or ‖g‖ = 0, or excludeFromAdaptation)
 * u ← lr·λ·(g + weightDecay·p)
 * b ← μ·b + u
 * p ← p − (nesterov ? u + μ·b : b)
 * ```
 *
 * - The trust ratio uses the paper's denominator ‖g‖ + β‖p‖ (optax and the
 *   TensorFlow SimCLR implementation use ‖g + βp‖ instead; the two agree when β = 0).
 * - A parameter with zero norm (freshly zero-initialised) or a zero gradient gets
 *   λ = 1, the optax / reference convention, so it can leave zero at all.
 * - The learning rate is inside the momentum buffer, as in the paper and the
 *   references; with a constant lr this equals PyTorch-style SGD momentum.
 *
 * With `backend: 'wasm'`, WebAssembly SIMD kernels per parameter (the two
 * norms in index order, then the fused update), bit-identical to the JS
 * backend in float64.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { LARS } from '@opt/core';
 * const w = new Parameter(new Float32Array([0.5, -0.5, 0.25, 1]), [2, 2], 'w');
 * const b = new Parameter(new Float32Array([0, 0]), [2], 'b');
 * const opt = new LARS([{ params: [w] }, { params: [b], excludeFromAdaptation: true }], { lr: 2, weightDecay: 5e-4 });
 * w.grad = new Float32Array([0.1, -0.3, 0.2, 0]);
 * b.grad = new Float32Array([0.05, -0.05]);
 * opt.step();
 * ```
 */
export class LARS extends Optimizer<LARSOptions, LARSState> {
  /** The kernel backend this optimizer runs on (resolved from the `backend` setting). */
  readonly backend: Backend;
  private readonly wasm: WasmGroupStorage | null;
  private readonly stateOfParam: (p: Parameter, group: ParamGroup<LARSOptions>) => LARSState;

  constructor(params: ParamsArg<LARSOptions>, options: Partial<LARSOptions> & OptimizerSettings = {}) {
    super('LARS', params, DEFAULTS, options);
    this.backend = resolveBackend(options.backend, 'LARS');
    this.wasm =
      this.backend === 'wasm'
        ? new WasmGroupStorage((group) => ((group as LARSOptions).momentum !== 0 ? LARS_KEYS : NO_KEYS), (p) => this.state.get(p))
        : null;
    this.gradientScanner = this.wasm;
    this.stateOfParam = (p, group) => this.stateFor(p, group);
  }

  protected validateGroup(o: Readonly<LARSOptions>): void {
    checkNonNegative('LARS', 'lr', o.lr);
    checkNonNegative('LARS', 'momentum', o.momentum);
    checkNonNegative('LARS', 'weightDecay', o.weightDecay);
    checkPositive('LARS', 'trustCoefficient', o.trustCoefficient);
    checkNonNegative('LARS', 'eps', o.eps);
    checkBoolean('LARS', 'nesterov', o.nesterov);
    checkBoolean('LARS', 'excludeFromAdaptation', o.excludeFromAdaptation);
    checkBoolean('LARS', 'maximize', o.maximize);
    if (o.nesterov && o.momentum <= 0) {
      throw new InvalidOptionError('nesterov', true, 'momentum > 0 when nesterov is true', 'LARS');
    }
  }

  protected initState(): LARSState {
    return { momentum_buffer: null };
  }

  protected updateGroup(group: ParamGroup<LARSOptions>): void {
    if (this.wasm !== null) {
      // Trust ratios are per parameter: one norm pass and one update call per parameter with a gradient.
      const segs = this.wasm.prepare(group);
      for (let segIndex = 0; segIndex < segs.length; segIndex++) {
        const seg = segs[segIndex]!;
        gatherSegmentState(seg, this.stateOfParam, group, null);
        for (let i = 0; i < seg.params.length; i++) {
          if (seg.hasGrad[i] === 0) continue;
          const s = this.state.get(seg.params[i]!)!;
          // The buffer is created lazily (null until the first momentum step): zeros in its arena block.
          if (group.momentum !== 0 && s.momentum_buffer === null) s.momentum_buffer = seg.stateView(0, i).fill(0);
          larsCall(this.wasm, seg, i, group);
        }
      }
      return;
    }
    const { lr, momentum, weightDecay, trustCoefficient, eps, nesterov, excludeFromAdaptation, maximize } = group;
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      // A zero buffer makes the first step b = u, so no first-step special case is needed.
      if (momentum !== 0 && s.momentum_buffer === null) s.momentum_buffer = zerosLike(p.data);
      const buf = momentum !== 0 ? s.momentum_buffer : null;
      larsUpdate(p.data, g, buf, lr, momentum, weightDecay, trustCoefficient, eps, nesterov, maximize, !excludeFromAdaptation);
    }
  }
}

const LARS_KEYS: readonly string[] = ['momentum_buffer'];
const NO_KEYS: readonly string[] = [];

/** One LARS step of parameter `i` on the wasm backend: the trust ratio from index-order norms (as the JS kernel), then the fused update. */
function larsCall(wasm: WasmGroupStorage, seg: WasmSegment, i: number, group: ParamGroup<LARSOptions>): void {
  const { lr, momentum, weightDecay, trustCoefficient, eps, nesterov, excludeFromAdaptation, maximize } = group;
  const arena = wasm.arena;
  const k = wasm.kernels;
  const f64 = seg.dtype === 'float64';
  const n = seg.count(i);
  const p = seg.ptr(0, i);
  const g = seg.ptr(1, i);
  let ratio = 1;
  if (!excludeFromAdaptation) {
    const pNorm = Math.sqrt(f64 ? k.sumsqOrderedF64(p, n) : k.sumsqOrderedF32(p, n));
    const gNorm = Math.sqrt(f64 ? k.sumsqOrderedF64(g, n) : k.sumsqOrderedF32(g, n));
    if (pNorm > 0 && gNorm > 0) ratio = (trustCoefficient * pNorm) / (gNorm + weightDecay * pNorm + eps);
  }
  const a = arena.scalars;
  a[0] = lr * ratio;
  a[1] = momentum;
  a[2] = weightDecay;
  (f64 ? k.larsF64 : k.larsF32)(p, g, momentum !== 0 ? seg.ptr(2, i) : 0, n, arena.scalarsPtr, nesterov ? 1 : 0, maximize ? 1 : 0);
}
