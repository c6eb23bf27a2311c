import { type Backend, type FloatArray, type Parameter, radamUpdate, resolveBackend, zerosLike } from '@opt/tensor';
import { WasmGroupStorage, type WasmSegment } from '../flat-state.js';
import { wasmElementwiseStep } from './elementwise-wasm.js';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import { checkBetas, checkBoolean, checkNonNegative, checkPositive } from '../validation.js';

/** Hyper-parameters of {@link RAdam}. */
export interface RAdamOptions {
  /** Learning rate. Default 1e-3. */
  lr: number;
  /** Decay rates of the first and second moment estimates. Default [0.9, 0.999]. */
  betas: [number, number];
  /** Added to the uncorrected root of the second moment. Default 1e-8. */
  eps: number;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay: number;
  /** Maximize the objective instead of minimizing (not in PyTorch 1.13). Default false. */
  maximize: boolean;
}

/** Per-parameter state of {@link RAdam}. */
export interface RAdamState {
  [key: string]: number | FloatArray;
  step: number;
  exp_avg: FloatArray;
  exp_avg_sq: FloatArray;
}

const DEFAULTS: RAdamOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, maximize: false };

/**
 * The length of the approximated simple moving average at step t, ρt, which
 * decides whether RAdam's variance rectification applies (ρt > 5):
 * `ρ∞ = 2/(1 − β2) − 1`, `ρt = ρ∞ − 2·t·β2^t/(1 − β2^t)`.
 */
export function radamRho(beta2: number, t: number): number {
  const rhoInf = 2 / (1 - beta2) - 1;
  return rhoInf - (2 * t * beta2 ** t) / (1 - beta2 ** t);
}

/**
 * RAdam, Adam with variance rectification (Liu et al., 2020), as `torch.optim.RAdam`,
 * with t the parameter's step count:
 *
 * ```
 * g ← ±∇f(p) + weightDecay·p
 * m ← β1·m + (1 − β1)·g
 * v ← β2·v + (1 − β2)·g²
 * ρ∞ = 2/(1 − β2) − 1,  ρt = ρ∞ − 2t·β2^t/(1 − β2^t)
 * ρt > 5:  r = sqrt((ρt − 4)(ρt − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρt))
 *          p ← p − lr·r·sqrt(1 − β2^t)/(1 − β1^t) · m/(sqrt(v) + eps)
 * else:    p ← p − lr/(1 − β1^t) · m          (momentum SGD while the variance is intractable)
 * ```
 *
 * eps is added to the uncorrected root of v, as PyTorch does.
 *
 * With `backend: 'wasm'`, one WebAssembly SIMD kernel call per parameter group
 * (see `Adam`), bit-identical to the JS backend in float64.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { RAdam } from '@opt/core';
 * const w = new Parameter(new Float64Array([0.5, -0.5]), [2], 'w');
 * const opt = new RAdam([w], { lr: 1e-2, weightDecay: 1e-4 });
 * w.grad = new Float64Array([0.1, -0.3]);
 * opt.step();
 * ```
 */
export class RAdam extends Optimizer<RAdamOptions, RAdamState> {
  /** The kernel backend this optimizer runs on (resolved from the `backend` setting). */
  readonly backend: Backend;
  private readonly wasm: WasmGroupStorage | null;
  private readonly stateOfParam: (p: Parameter, group: ParamGroup<RAdamOptions>) => RAdamState;

  constructor(params: ParamsArg<RAdamOptions>, options: Partial<RAdamOptions> & OptimizerSettings = {}) {
    super('RAdam', params, DEFAULTS, options);
    this.backend = resolveBackend(options.backend, 'RAdam');
    this.wasm = this.backend === 'wasm' ? new WasmGroupStorage(() => RADAM_KEYS, (p) => this.state.get(p)) : null;
    this.gradientScanner = this.wasm;
    this.stateOfParam = (p, group) => this.stateFor(p, group);
  }

  protected validateGroup(o: Readonly<RAdamOptions>): void {
    checkNonNegative('RAdam', 'lr', o.lr);
    checkBetas('RAdam', o.betas);
    checkPositive('RAdam', 'eps', o.eps);
    checkNonNegative('RAdam', 'weightDecay', o.weightDecay);
    checkBoolean('RAdam', 'maximize', o.maximize);
  }

  protected initState(p: Parameter): RAdamState {
    return { step: 0, exp_avg: zerosLike(p.data), exp_avg_sq: zerosLike(p.data) };
  }

  protected updateGroup(group: ParamGroup<RAdamOptions>): void {
    if (this.wasm !== null) {
      wasmElementwiseStep(this.wasm, group, this.stateOfParam, true, radamCall);
      return;
    }
    const { lr, betas, eps, weightDecay, maximize } = group;
    const beta1 = betas[0];
    const beta2 = betas[1];
    const rhoInf = 2 / (1 - beta2) - 1;
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      const t = ++s.step;
      const bc1 = 1 - beta1 ** t;
      const bc2 = 1 - beta2 ** t;
      const rhoT = radamRho(beta2, t);
      const rectified = rhoT > 5;
      let stepSize = lr / bc1;
      if (rectified) {
        const rect = Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
        stepSize *= Math.sqrt(bc2) * rect;
      }
      radamUpdate(p.data, g, s.exp_avg, s.exp_avg_sq, beta1, beta2, stepSize, eps, rectified, weightDecay, maximize);
    }
  }
}

const RADAM_KEYS: readonly string[] = ['exp_avg', 'exp_avg_sq'];

function radamCall(wasm: WasmGroupStorage, seg: WasmSegment, i: number, t: number, group: ParamGroup<RAdamOptions>): void {
  const { lr, betas, eps, weightDecay, maximize } = group;
  const beta1 = betas[0];
  const beta2 = betas[1];
  const rhoInf = 2 / (1 - beta2) - 1;
  const rhoT = radamRho(beta2, t);
  const rectified = rhoT > 5;
  // The scalars exactly as the JS path forms them, so both backends agree bit for bit.
  let stepSize = lr / (1 - beta1 ** t);
  if (rectified) {
    const rect = Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
    stepSize *= Math.sqrt(1 - beta2 ** t) * rect;
  }
  const arena = wasm.arena;
  const a = arena.scalars;
  a[0] = beta1;
  a[1] = beta2;
  a[2] = stepSize;
  a[3] = eps;
  a[4] = weightDecay;
  const k = wasm.kernels;
  (seg.dtype === 'float64' ? k.radamF64 : k.radamF32)(
    seg.ptr(0, i), seg.ptr(1, i), seg.ptr(2, i), seg.ptr(3, i), seg.count(i), arena.scalarsPtr, rectified ? 1 : 0, maximize ? 1 : 0,
  );
}
