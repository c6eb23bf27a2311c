import { type Backend, type FloatArray, type Parameter, adamUpdate, resolveBackend } from '@opt/tensor';
import type { WasmGroupStorage } from '../flat-state.js';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import { type AdamOptions, type AdamState, initAdamState, validateAdamFamily } from './adam.js';
import { adamStepWasm, adamWasmStorage } from './adam-wasm.js';

/** Hyper-parameters of {@link AdamW}: Adam's, with decoupled weight decay. */
export interface AdamWOptions extends AdamOptions {
  /** Decoupled weight decay: the parameter is multiplied by `1 − lr·weightDecay` each step. Default 0.01. */
  weightDecay: number;
}

const DEFAULTS: AdamWOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, maximize: false };

/**
 * AdamW (Loshchilov & Hutter, 2019), as `torch.optim.AdamW`: Adam with the
 * weight decay decoupled from the gradient. With t the parameter's step count:
 *
 * ```
 * p ← p·(1 − lr·weightDecay)          (first, on the parameter itself)
 * g ← ±∇f(p)                          (no L2 term)
 * m ← β1·m + (1 − β1)·g
 * v ← β2·v + (1 − β2)·g²            (AMSGrad: v̂ ← max(v̂, v), used below in place of v)
 * p ← p − lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + eps)
 * ```
 *
 * State per parameter: `step`, `exp_avg`, `exp_avg_sq` (and `max_exp_avg_sq` with AMSGrad).
 * With `backend: 'wasm'`, one WebAssembly SIMD kernel call per parameter group
 * (see {@link Adam}).
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { AdamW } from '@opt/core';
 * const w = new Parameter(new Float32Array([0.5, -0.5]), [2], 'w');
 * const opt = new AdamW([w], { lr: 1e-3, weightDecay: 0.05 });
 * w.grad = new Float32Array([0.1, -0.3]);
 * opt.step();
 * ```
 */
export class AdamW extends Optimizer<AdamWOptions, AdamState> {
  /** The kernel backend this optimizer runs on (resolved from the `backend` setting). */
  readonly backend: Backend;
  private readonly wasm: WasmGroupStorage | null;
  private readonly stateOfParam: (p: Parameter, group: ParamGroup<AdamWOptions>) => AdamState;

  constructor(params: ParamsArg<AdamWOptions>, options: Partial<AdamWOptions> & OptimizerSettings = {}) {
    super('AdamW', params, DEFAULTS, options);
    this.backend = resolveBackend(options.backend, 'AdamW');
    this.wasm = this.backend === 'wasm' ? adamWasmStorage(this.state) : null;
    this.gradientScanner = this.wasm;
    this.stateOfParam = (p, group) => this.stateFor(p, group);
  }

  protected validateGroup(o: Readonly<AdamWOptions>): void {
    validateAdamFamily('AdamW', o);
  }

  protected initState(p: Parameter, group: ParamGroup<AdamWOptions>): AdamState {
    return initAdamState(p, group.amsgrad);
  }

  protected updateGroup(group: ParamGroup<AdamWOptions>): void {
    if (this.wasm !== null) {
      adamStepWasm(this.wasm, group, this.stateOfParam, true);
      return;
    }
    const { lr, betas, eps, weightDecay, amsgrad, maximize } = group;
    const beta1 = betas[0];
    const beta2 = betas[1];
    const decay = 1 - lr * weightDecay;
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      const t = ++s.step;
      const stepSize = lr / (1 - beta1 ** t);
      const sqrtBc2 = Math.sqrt(1 - beta2 ** t);
      const vMax = amsgrad ? (s.max_exp_avg_sq as FloatArray) : null;
      adamUpdate(p.data, g, s.exp_avg, s.exp_avg_sq, vMax, stepSize, sqrtBc2, beta1, beta2, eps, 0, decay, maximize);
    }
  }
}
