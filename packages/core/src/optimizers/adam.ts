import { type Backend, type FloatArray, type Parameter, adamUpdate, resolveBackend, zerosLike } from '@opt/tensor';
import type { WasmGroupStorage } from '../flat-state.js';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import { adamStepWasm, adamWasmStorage } from './adam-wasm.js';
import { checkBetas, checkBoolean, checkNonNegative, checkPositive } from '../validation.js';

/** Hyper-parameters of {@link Adam}. */
export interface AdamOptions {
  /** Learning rate. Default 1e-3. */
  lr: number;
  /** Decay rates of the first and second moment estimates. Default [0.9, 0.999]. */
  betas: [number, number];
  /** Added to the bias-corrected root of the second moment. Default 1e-8. */
  eps: number;
  /** L2 penalty added to the gradient (coupled weight decay). Default 0. */
  weightDecay: number;
  /** Use the running maximum of the second moment (AMSGrad). Default false. */
  amsgrad: boolean;
  /** Maximize the objective instead of minimizing. Default false. */
  maximize: boolean;
}

/** Per-parameter state of {@link Adam} (and {@link AdamW}). */
export interface AdamState {
  [key: string]: number | FloatArray;
  step: number;
  exp_avg: FloatArray;
  exp_avg_sq: FloatArray;
}

const DEFAULTS: AdamOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false };

/**
 * Adam (Kingma & Ba, 2015), as `torch.optim.Adam`, with t the parameter's step count:
 *
 * ```
 * g ← ±∇f(p) + weightDecay·p
 * m ← β1·m + (1 − β1)·g
 * v ← β2·v + (1 − β2)·g²            (AMSGrad: v̂ ← max(v̂, v), used below in place of v)
 * p ← p − lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + eps)
 * ```
 *
 * With `backend: 'wasm'` the step runs the WebAssembly SIMD kernel, one call
 * per parameter group, over parameters, gradients and state moved into wasm
 * memory (see `flat-state.ts` for what that means for arrays you hold).
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { Adam } from '@opt/core';
 * const w = new Parameter(new Float32Array([0.5, -0.5]), [2], 'w');
 * const opt = new Adam([w], { lr: 1e-2, betas: [0.9, 0.99] });
 * w.grad = new Float32Array([0.1, -0.3]);
 * opt.step();
 * ```
 */
export class Adam extends Optimizer<AdamOptions, AdamState> {
  /** The kernel backend this optimizer runs on (resolved from the `backend` setting). */
  readonly backend: Backend;
  private readonly wasm: WasmGroupStorage | null;
  private readonly stateOfParam: (p: Parameter, group: ParamGroup<AdamOptions>) => AdamState;

  constructor(params: ParamsArg<AdamOptions>, options: Partial<AdamOptions> & OptimizerSettings = {}) {
    super('Adam', params, DEFAULTS, options);
    this.backend = resolveBackend(options.backend, 'Adam');
    this.wasm = this.backend === 'wasm' ? adamWasmStorage(this.state) : null;
    this.gradientScanner = this.wasm;
    this.stateOfParam = (p, group) => this.stateFor(p, group);
  }

  protected validateGroup(o: Readonly<AdamOptions>): void {
    validateAdamFamily('Adam', o);
  }

  protected initState(p: Parameter, group: ParamGroup<AdamOptions>): AdamState {
    return initAdamState(p, group.amsgrad);
  }

  protected updateGroup(group: ParamGroup<AdamOptions>): void {
    if (this.wasm !== null) {
      adamStepWasm(this.wasm, group, this.stateOfParam, false);
      return;
    }
    const { lr, betas, eps, weightDecay, amsgrad, maximize } = group;
    const beta1 = betas[0];
    const beta2 = betas[1];
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      const t = ++s.step;
      const stepSize = lr / (1 - beta1 ** t);
      const sqrtBc2 = Math.sqrt(1 - beta2 ** t);
      const vMax = amsgrad ? (s.max_exp_avg_sq as FloatArray) : null;
      adamUpdate(p.data, g, s.exp_avg, s.exp_avg_sq, vMax, stepSize, sqrtBc2, beta1, beta2, eps, weightDecay, 1, maximize);
    }
  }
}

/** Validation shared by Adam-like optimizers (lr, betas, eps, weightDecay, amsgrad, maximize). */
export function validateAdamFamily(where: string, o: Readonly<AdamOptions>): void {
  checkNonNegative(where, 'lr', o.lr);
  checkBetas(where, o.betas);
  checkPositive(where, 'eps', o.eps);
  checkNonNegative(where, 'weightDecay', o.weightDecay);
  checkBoolean(where, 'amsgrad', o.amsgrad);
  checkBoolean(where, 'maximize', o.maximize);
}

/** Fresh Adam state: step 0, zero moments, and `max_exp_avg_sq` when AMSGrad is on. */
export function initAdamState(p: Parameter, amsgrad: boolean): AdamState {
  const s: AdamState = { step: 0, exp_avg: zerosLike(p.data), exp_avg_sq: zerosLike(p.data) };
  if (amsgrad) s.max_exp_avg_sq = zerosLike(p.data);
  return s;
}
