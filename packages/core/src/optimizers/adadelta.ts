import { type Backend, type FloatArray, type Parameter, adadeltaUpdate, resolveBackend, zerosLike } from '@opt/tensor';
import { WasmGroupStorage, type WasmSegment } from '../flat-state.js';
import { wasmElementwiseStep } from './elementwise-wasm.js';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import { checkBoolean, checkInRange, checkNonNegative, checkPositive } from '../validation.js';

/** Hyper-parameters of {@link Adadelta}. */
export interface AdadeltaOptions {
  /** Scales the update Δ; 1 (the default) is the paper's rule. */
  lr: number;
  /** Decay rate ρ of the running averages of g² and Δ². Default 0.9. */
  rho: number;
  /** Added inside both roots. Default 1e-6. */
  eps: number;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay: number;
  /** Maximize the objective instead of minimizing. Default false. */
  maximize: boolean;
}

/** Per-parameter state of {@link Adadelta}. */
export interface AdadeltaState {
  [key: string]: number | FloatArray;
  step: number;
  square_avg: FloatArray;
  acc_delta: FloatArray;
}

const DEFAULTS: AdadeltaOptions = { lr: 1, rho: 0.9, eps: 1e-6, weightDecay: 0, maximize: false };

/**
 * Adadelta (Zeiler, 2012), as `torch.optim.Adadelta`:
 *
 * ```
 * g ← ±∇f(p) + weightDecay·p
 * E[g²] ← ρ·E[g²] + (1 − ρ)·g²
 * Δ ← √(E[Δ²] + eps) / √(E[g²] + eps) · g        (E[Δ²] from the previous step)
 * E[Δ²] ← ρ·E[Δ²] + (1 − ρ)·Δ²
 * p ← p − lr·Δ
 * ```
 *
 * eps sits inside both roots. State: `step`, `square_avg` (E[g²]), `acc_delta` (E[Δ²]).
 *
 * With `backend: 'wasm'`, one WebAssembly SIMD kernel call per parameter group
 * (see `Adam`), bit-identical to the JS backend in float64.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { Adadelta } from '@opt/core';
 * const w = new Parameter(new Float64Array([1, -2]), [2], 'w');
 * const opt = new Adadelta([w], { rho: 0.95 });
 * w.grad = new Float64Array([2, -4]);
 * opt.step();
 * ```
 */
export class Adadelta extends Optimizer<AdadeltaOptions, AdadeltaState> {
  /** The kernel backend this optimizer runs on (resolved from the `backend` setting). */
  readonly backend: Backend;
  private readonly wasm: WasmGroupStorage | null;
  private readonly stateOfParam: (p: Parameter, group: ParamGroup<AdadeltaOptions>) => AdadeltaState;

  constructor(params: ParamsArg<AdadeltaOptions>, options: Partial<AdadeltaOptions> & OptimizerSettings = {}) {
    super('Adadelta', params, DEFAULTS, options);
    this.backend = resolveBackend(options.backend, 'Adadelta');
    this.wasm = this.backend === 'wasm' ? new WasmGroupStorage(() => ADADELTA_KEYS, (p) => this.state.get(p)) : null;
    this.gradientScanner = this.wasm;
    this.stateOfParam = (p, group) => this.stateFor(p, group);
  }

  protected validateGroup(o: Readonly<AdadeltaOptions>): void {
    checkNonNegative('Adadelta', 'lr', o.lr);
    checkInRange('Adadelta', 'rho', o.rho, 0, 1, '[]');
    checkPositive('Adadelta', 'eps', o.eps);
    checkNonNegative('Adadelta', 'weightDecay', o.weightDecay);
    checkBoolean('Adadelta', 'maximize', o.maximize);
  }

  protected initState(p: Parameter): AdadeltaState {
    return { step: 0, square_avg: zerosLike(p.data), acc_delta: zerosLike(p.data) };
  }

  protected updateGroup(group: ParamGroup<AdadeltaOptions>): void {
    if (this.wasm !== null) {
      wasmElementwiseStep(this.wasm, group, this.stateOfParam, false, adadeltaCall);
      return;
    }
    const { lr, rho, eps, weightDecay, maximize } = group;
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      s.step++;
      adadeltaUpdate(p.data, g, s.square_avg, s.acc_delta, lr, rho, eps, weightDecay, maximize);
    }
  }
}

const ADADELTA_KEYS: readonly string[] = ['square_avg', 'acc_delta'];

function adadeltaCall(wasm: WasmGroupStorage, seg: WasmSegment, i: number, _t: number, group: ParamGroup<AdadeltaOptions>): void {
  const arena = wasm.arena;
  const a = arena.scalars;
  a[0] = group.lr;
  a[1] = group.rho;
  a[2] = group.eps;
  a[3] = group.weightDecay;
  const k = wasm.kernels;
  (seg.dtype === 'float64' ? k.adadeltaF64 : k.adadeltaF32)(
    seg.ptr(0, i), seg.ptr(1, i), seg.ptr(2, i), seg.ptr(3, i), seg.count(i), arena.scalarsPtr, group.maximize ? 1 : 0,
  );
}
