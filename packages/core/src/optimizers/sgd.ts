import { type Backend, type FloatArray, InvalidOptionError, resolveBackend, sgdUpdate, zerosLike } from '@opt/tensor';
import { WasmGroupStorage, type WasmSegment } from '../flat-state.js';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import { checkBoolean, checkNonNegative } from '../validation.js';

/** Hyper-parameters of {@link SGD} (PyTorch's names in camelCase). */
export interface SGDOptions {
  /** Learning rate. Default 1e-3. */
  lr: number;
  /** Momentum factor μ. Default 0. */
  momentum: number;
  /** Dampening for momentum. Default 0. */
  dampening: number;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0). Default false. */
  nesterov: boolean;
  /** Maximize the objective instead of minimizing. Default false. */
  maximize: boolean;
}

/** Per-parameter state of {@link SGD}: the momentum buffer (`null` until the first step with momentum). */
export interface SGDState {
  [key: string]: FloatArray | null;
  momentum_buffer: FloatArray | null;
}

const DEFAULTS: SGDOptions = { lr: 1e-3, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false };

/**
 * Stochastic gradient descent with optional momentum, as `torch.optim.SGD`:
 *
 * ```
 * g ← ±∇f(p) + weightDecay·p
 * b ← g on the first step, else μ·b + (1 − dampening)·g
 * d ← nesterov ? g + μ·b : b          (d = g when μ = 0)
 * p ← p − lr·d
 * ```
 *
 * With `backend: 'wasm'`, one WebAssembly SIMD kernel call per parameter group
 * (see {@link Adam}).
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { SGD } from '@opt/core';
 * const w = new Parameter(new Float64Array([1, -2]), [2], 'w');
 * const opt = new SGD([w], { lr: 0.1, momentum: 0.9 });
 * w.grad = new Float64Array([2, -4]); // ∇ of |w|²
 * opt.step();
 * ```
 */
export class SGD extends Optimizer<SGDOptions, SGDState> {
  /** The kernel backend this optimizer runs on (resolved from the `backend` setting). */
  readonly backend: Backend;
  private readonly wasm: WasmGroupStorage | null;

  constructor(params: ParamsArg<SGDOptions>, options: Partial<SGDOptions> & OptimizerSettings = {}) {
    super('SGD', params, DEFAULTS, options);
    this.backend = resolveBackend(options.backend, 'SGD');
    this.wasm =
      this.backend === 'wasm'
        ? new WasmGroupStorage((group) => ((group as SGDOptions).momentum !== 0 ? MOMENTUM_KEYS : NO_KEYS), (p) => this.state.get(p))
        : null;
    this.gradientScanner = this.wasm;
  }

  protected validateGroup(o: Readonly<SGDOptions>): void {
    checkNonNegative('SGD', 'lr', o.lr);
    checkNonNegative('SGD', 'momentum', o.momentum);
    checkNonNegative('SGD', 'dampening', o.dampening);
    checkNonNegative('SGD', 'weightDecay', o.weightDecay);
    checkBoolean('SGD', 'nesterov', o.nesterov);
    checkBoolean('SGD', 'maximize', o.maximize);
    if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) {
      throw new InvalidOptionError('nesterov', true, 'momentum > 0 and dampening = 0 when nesterov is true', 'SGD');
    }
  }

  protected initState(): SGDState {
    return { momentum_buffer: null };
  }

  protected updateGroup(group: ParamGroup<SGDOptions>): void {
    if (this.wasm !== null) {
      this.updateGroupWasm(this.wasm, group);
      return;
    }
    const { lr, momentum, dampening, weightDecay, nesterov, maximize } = group;
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      const state = this.stateFor(p, group);
      let first = false;
      if (momentum !== 0 && state.momentum_buffer === null) {
        state.momentum_buffer = zerosLike(p.data);
        first = true;
      }
      const buf = momentum !== 0 ? state.momentum_buffer : null;
      sgdUpdate(p.data, g, buf, lr, momentum, dampening, weightDecay, nesterov, maximize, first);
    }
  }

  /**
   * The wasm step: the buffer of a parameter's first momentum step is the
   * arena view, filled by the kernel with a copy of the gradient; one call per
   * segment when every parameter has a gradient and all are on their first
   * momentum step or all past it, else one call per parameter.
   */
  private updateGroupWasm(wasm: WasmGroupStorage, group: ParamGroup<SGDOptions>): void {
    const momentum = group.momentum;
    const segs = wasm.prepare(group);
    for (let segIndex = 0; segIndex < segs.length; segIndex++) {
      const seg = segs[segIndex]!;
      let whole = seg.allGrads;
      let firsts = 0;
      let withGrad = 0;
      for (let i = 0; i < seg.params.length; i++) {
        if (seg.hasGrad[i] === 0) continue;
        withGrad++;
        const state = this.stateFor(seg.params[i]!, group);
        seg.adopt(state, i);
        if (momentum !== 0 && state.momentum_buffer === null) firsts++;
      }
      if (firsts !== 0 && firsts !== withGrad) whole = false;
      if (whole) {
        if (firsts !== 0) for (let i = 0; i < seg.params.length; i++) this.state.get(seg.params[i]!)!.momentum_buffer = seg.stateView(0, i);
        sgdCall(wasm, seg, -1, group, firsts !== 0);
        continue;
      }
      for (let i = 0; i < seg.params.length; i++) {
        if (seg.hasGrad[i] === 0) continue;
        const state = this.state.get(seg.params[i]!)!;
        const first = momentum !== 0 && state.momentum_buffer === null;
        if (first) state.momentum_buffer = seg.stateView(0, i);
        sgdCall(wasm, seg, i, group, first);
      }
    }
  }
}

const NO_KEYS: readonly string[] = [];
const MOMENTUM_KEYS: readonly string[] = ['momentum_buffer'];

function sgdCall(wasm: WasmGroupStorage, seg: WasmSegment, i: number, group: ParamGroup<SGDOptions>, first: boolean): void {
  const { lr, momentum, dampening, weightDecay, nesterov, maximize } = group;
  const arena = wasm.arena;
  const a = arena.scalars;
  a[0] = lr;
  a[1] = momentum;
  a[2] = dampening;
  a[3] = weightDecay;
  const k = wasm.kernels;
  (seg.dtype === 'float64' ? k.sgdF64 : k.sgdF32)(
    seg.ptr(0, i), seg.ptr(1, i), momentum !== 0 ? seg.ptr(2, i) : 0, seg.count(i), arena.scalarsPtr, nesterov ? 1 : 0, maximize ? 1 : 0, first ? 1 : 0,
  );
}
