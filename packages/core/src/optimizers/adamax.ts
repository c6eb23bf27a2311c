import { type Backend, type FloatArray, type Parameter, adamaxUpdate, resolveBackend, zerosLike } from '@opt/tensor';
import { WasmGroupStorage, type WasmSegment } from '../flat-state.js';
import { wasmElementwiseStep } from './elementwise-wasm.js';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import { checkBetas, checkBoolean, checkNonNegative, checkPositive } from '../validation.js';

/** Hyper-parameters of {@link Adamax}. */
export interface AdamaxOptions {
  /** Learning rate. Default 2e-3. */
  lr: number;
  /** Decay rates of the first moment and of the infinity norm. Default [0.9, 0.999]. */
  betas: [number, number];
  /** Added to |g| inside the max. Default 1e-8. */
  eps: number;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay: number;
  /** Maximize the objective instead of minimizing. Default false. */
  maximize: boolean;
}

/** Per-parameter state of {@link Adamax}. */
export interface AdamaxState {
  [key: string]: number | FloatArray;
  step: number;
  exp_avg: FloatArray;
  exp_inf: FloatArray;
}

const DEFAULTS: AdamaxOptions = { lr: 2e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, maximize: false };

/**
 * Adamax, the infinity-norm variant of Adam (Kingma & Ba, 2015, §7.1), as
 * `torch.optim.Adamax`, with t the parameter's step count:
 *
 * ```
 * g ← ±∇f(p) + weightDecay·p
 * m ← β1·m + (1 − β1)·g
 * u ← max(β2·u, |g| + eps)
 * p ← p − lr/(1 − β1^t) · m / u
 * ```
 *
 * State: `step`, `exp_avg` (m), `exp_inf` (u).
 *
 * With `backend: 'wasm'`, one WebAssembly SIMD kernel call per parameter group
 * (see `Adam`), bit-identical to the JS backend in float64.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { Adamax } from '@opt/core';
 * const w = new Parameter(new Float32Array([0.5, -0.5]), [2], 'w');
 * const opt = new Adamax([w], { lr: 2e-3 });
 * w.grad = new Float32Array([0.1, -0.3]);
 * opt.step();
 * ```
 */
export class Adamax extends Optimizer<AdamaxOptions, AdamaxState> {
  /** The kernel backend this optimizer runs on (resolved from the `backend` setting). */
  readonly backend: Backend;
  private readonly wasm: WasmGroupStorage | null;
  private readonly stateOfParam: (p: Parameter, group: ParamGroup<AdamaxOptions>) => AdamaxState;

  constructor(params: ParamsArg<AdamaxOptions>, options: Partial<AdamaxOptions> & OptimizerSettings = {}) {
    super('Adamax', params, DEFAULTS, options);
    this.backend = resolveBackend(options.backend, 'Adamax');
    this.wasm = this.backend === 'wasm' ? new WasmGroupStorage(() => ADAMAX_KEYS, (p) => this.state.get(p)) : null;
    this.gradientScanner = this.wasm;
    this.stateOfParam = (p, group) => this.stateFor(p, group);
  }

  protected validateGroup(o: Readonly<AdamaxOptions>): void {
    checkNonNegative('Adamax', 'lr', o.lr);
    checkBetas('Adamax', o.betas);
    checkPositive('Adamax', 'eps', o.eps);
    checkNonNegative('Adamax', 'weightDecay', o.weightDecay);
    checkBoolean('Adamax', 'maximize', o.maximize);
  }

  protected initState(p: Parameter): AdamaxState {
    return { step: 0, exp_avg: zerosLike(p.data), exp_inf: zerosLike(p.data) };
  }

  protected updateGroup(group: ParamGroup<AdamaxOptions>): void {
    if (this.wasm !== null) {
      wasmElementwiseStep(this.wasm, group, this.stateOfParam, true, adamaxCall);
      return;
    }
    const { lr, betas, eps, weightDecay, maximize } = group;
    const beta1 = betas[0];
    const beta2 = betas[1];
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      const t = ++s.step;
      const clr = lr / (1 - beta1 ** t);
      adamaxUpdate(p.data, g, s.exp_avg, s.exp_inf, clr, beta1, beta2, eps, weightDecay, maximize);
    }
  }
}

const ADAMAX_KEYS: readonly string[] = ['exp_avg', 'exp_inf'];

function adamaxCall(wasm: WasmGroupStorage, seg: WasmSegment, i: number, t: number, group: ParamGroup<AdamaxOptions>): void {
  const arena = wasm.arena;
  const a = arena.scalars;
  a[0] = group.lr / (1 - group.betas[0] ** t);
  a[1] = group.betas[0];
  a[2] = group.betas[1];
  a[3] = group.eps;
  a[4] = group.weightDecay;
  const k = wasm.kernels;
  (seg.dtype === 'float64' ? k.adamaxF64 : k.adamaxF32)(
    seg.ptr(0, i), seg.ptr(1, i), seg.ptr(2, i), seg.ptr(3, i), seg.count(i), arena.scalarsPtr, group.maximize ? 1 : 0,
  );
}
