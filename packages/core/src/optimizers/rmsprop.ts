import { type Backend, type FloatArray, type Parameter, resolveBackend, rmspropUpdate, zerosLike } from '@opt/tensor';
import { WasmGroupStorage, type WasmSegment, gatherSegmentState } from '../flat-state.js';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import { checkBoolean, checkInRange, checkNonNegative, checkPositive } from '../validation.js';

/** Hyper-parameters of {@link RMSprop}. */
export interface RMSpropOptions {
  /** Learning rate. Default 1e-2. */
  lr: number;
  /** Smoothing constant α of the running averages. Default 0.99. */
  alpha: number;
  /** Added to the root of the (centered) second moment. Default 1e-8. */
  eps: number;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay: number;
  /** Momentum factor μ. Default 0. */
  momentum: number;
  /** Normalize by the estimated variance (E[g²] − E[g]²) instead of E[g²]. Default false. */
  centered: boolean;
  /** Maximize the objective instead of minimizing. Default false. */
  maximize: boolean;
}

/**
 * Per-parameter state of {@link RMSprop}. As in PyTorch, `momentum_buffer`
 * exists only when momentum > 0 and `grad_avg` only when centered.
 */
export interface RMSpropState {
  [key: string]: number | FloatArray;
  step: number;
  square_avg: FloatArray;
}

const DEFAULTS: RMSpropOptions = { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false };

/**
 * RMSprop (Hinton, 2012; centered variant of Graves, 2013), as `torch.optim.RMSprop`:
 *
 * ```
 * g ← ±∇f(p) + weightDecay·p
 * v ← α·v + (1 − α)·g²
 * centered: ḡ ← α·ḡ + (1 − α)·g;  a ← √(v − ḡ²) + eps
 * else:     a ← √v + eps
 * μ > 0:    b ← μ·b + g/a;  p ← p − lr·b
 * else:     p ← p − lr·g/a
 * ```
 *
 * eps is added outside the root. State: `step`, `square_avg` (v), plus
 * `momentum_buffer` (b) when momentum > 0 and `grad_avg` (ḡ) when centered.
 *
 * With `backend: 'wasm'`, one WebAssembly SIMD kernel call per parameter group
 * (see {@link Adam}).
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { RMSprop } from '@opt/core';
 * const w = new Parameter(new Float32Array([0.5, -0.5]), [2], 'w');
 * const opt = new RMSprop([w], { lr: 1e-3, momentum: 0.9, centered: true });
 * w.grad = new Float32Array([0.1, -0.3]);
 * opt.step();
 * ```
 */
export class RMSprop extends Optimizer<RMSpropOptions, RMSpropState> {
  /** The kernel backend this optimizer runs on (resolved from the `backend` setting). */
  readonly backend: Backend;
  private readonly wasm: WasmGroupStorage | null;
  private readonly stateOfParam: (p: Parameter, group: ParamGroup<RMSpropOptions>) => RMSpropState;

  constructor(params: ParamsArg<RMSpropOptions>, options: Partial<RMSpropOptions> & OptimizerSettings = {}) {
    super('RMSprop', params, DEFAULTS, options);
    this.backend = resolveBackend(options.backend, 'RMSprop');
    this.wasm = this.backend === 'wasm' ? new WasmGroupStorage(rmspropLayout, (p) => this.state.get(p)) : null;
    this.gradientScanner = this.wasm;
    this.stateOfParam = (p, group) => this.stateFor(p, group);
  }

  protected validateGroup(o: Readonly<RMSpropOptions>): void {
    checkNonNegative('RMSprop', 'lr', o.lr);
    checkInRange('RMSprop', 'alpha', o.alpha, 0, 1, '[]');
    checkPositive('RMSprop', 'eps', o.eps);
    checkNonNegative('RMSprop', 'weightDecay', o.weightDecay);
    checkNonNegative('RMSprop', 'momentum', o.momentum);
    checkBoolean('RMSprop', 'centered', o.centered);
    checkBoolean('RMSprop', 'maximize', o.maximize);
  }

  protected initState(p: Parameter, group: ParamGroup<RMSpropOptions>): RMSpropState {
    const s: RMSpropState = { step: 0, square_avg: zerosLike(p.data) };
    if (group.momentum > 0) s.momentum_buffer = zerosLike(p.data);
    if (group.centered) s.grad_avg = zerosLike(p.data);
    return s;
  }

  protected updateGroup(group: ParamGroup<RMSpropOptions>): void {
    if (this.wasm !== null) {
      // The step counter is not used by the update: one call per segment whenever every parameter has a gradient.
      const segs = this.wasm.prepare(group);
      for (let segIndex = 0; segIndex < segs.length; segIndex++) {
        const seg = segs[segIndex]!;
        if (gatherSegmentState(seg, this.stateOfParam, group, null) >= 0) {
          for (let pIndex = 0; pIndex < seg.params.length; pIndex++) {
            const p = seg.params[pIndex]!;
            this.state.get(p)!.step++;
          }
          rmspropCall(this.wasm, seg, -1, group);
          continue;
        }
        for (let i = 0; i < seg.params.length; i++) {
          if (seg.hasGrad[i] === 0) continue;
          this.state.get(seg.params[i]!)!.step++;
          rmspropCall(this.wasm, seg, i, group);
        }
      }
      return;
    }
    const { lr, alpha, eps, weightDecay, momentum, centered, maximize } = group;
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      s.step++;
      // A group switched to momentum or centering after its state was created
      // gets the missing buffer now (PyTorch would fail with a KeyError).
      if (momentum > 0 && s.momentum_buffer === undefined) s.momentum_buffer = zerosLike(p.data);
      if (centered && s.grad_avg === undefined) s.grad_avg = zerosLike(p.data);
      const buf = momentum > 0 ? (s.momentum_buffer as FloatArray) : null;
      const gradAvg = centered ? (s.grad_avg as FloatArray) : null;
      rmspropUpdate(p.data, g, s.square_avg, gradAvg, buf, lr, alpha, eps, weightDecay, momentum, maximize);
    }
  }
}

// State blocks in this order: square_avg, then momentum_buffer and grad_avg when present.
const RMS_KEYS: readonly string[] = ['square_avg'];
const RMS_MOMENTUM_KEYS: readonly string[] = ['square_avg', 'momentum_buffer'];
const RMS_CENTERED_KEYS: readonly string[] = ['square_avg', 'grad_avg'];
const RMS_BOTH_KEYS: readonly string[] = ['square_avg', 'momentum_buffer', 'grad_avg'];

function rmspropLayout(group: object): readonly string[] {
  const { momentum, centered } = group as RMSpropOptions;
  if (momentum > 0) return centered ? RMS_BOTH_KEYS : RMS_MOMENTUM_KEYS;
  return centered ? RMS_CENTERED_KEYS : RMS_KEYS;
}

function rmspropCall(wasm: WasmGroupStorage, seg: WasmSegment, i: number, group: ParamGroup<RMSpropOptions>): void {
  const { lr, alpha, eps, weightDecay, momentum, centered, maximize } = group;
  const buf = momentum > 0 ? seg.ptr(3, i) : 0;
  const gradAvg = centered ? seg.ptr(momentum > 0 ? 4 : 3, i) : 0;
  const arena = wasm.arena;
  const a = arena.scalars;
  a[0] = lr;
  a[1] = alpha;
  a[2] = eps;
  a[3] = weightDecay;
  a[4] = momentum;
  const k = wasm.kernels;
  (seg.dtype === 'float64' ? k.rmspropF64 : k.rmspropF32)(seg.ptr(0, i), seg.ptr(1, i), seg.ptr(2, i), gradAvg, buf, seg.count(i), arena.scalarsPtr, maximize ? 1 : 0);
}
