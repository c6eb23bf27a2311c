import { type Backend, type FloatArray, type Parameter, lionUpdate, resolveBackend, zerosLike } from '@opt/tensor';
import { WasmGroupStorage, type WasmSegment, gatherSegmentState } from '../flat-state.js';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import { checkBetas, checkBoolean, checkNonNegative } from '../validation.js';

/** Hyper-parameters of {@link Lion}. */
export interface LionOptions {
  /** Learning rate (the size of every coordinate's step). Default 1e-4. */
  lr: number;
  /** β1 interpolates the update direction, β2 decays the stored momentum. Default [0.9, 0.99]. */
  betas: [number, number];
  /** Decoupled weight decay: `p ← p·(1 − lr·weightDecay)` before the step. Default 0. */
  weightDecay: number;
  /** Maximize the objective instead of minimizing. Default false. */
  maximize: boolean;
}

/** Per-parameter state of {@link Lion}: the momentum, keyed as the reference implementations key it. */
export interface LionState {
  [key: string]: FloatArray;
  exp_avg: FloatArray;
}

const DEFAULTS: LionOptions = { lr: 1e-4, betas: [0.9, 0.99], weightDecay: 0, maximize: false };

/**
 * Lion, "EvoLved Sign Momentum" (Chen et al. 2023, "Symbolic Discovery of
 * Optimization Algorithms", arXiv:2302.06675, Program 1):
 *
 * ```
 * g ← ±∇f(p)
 * c ← β1·m + (1 − β1)·g
 * p ← p·(1 − lr·weightDecay) − lr·sign(c)
 * m ← β2·m + (1 − β2)·g
 * ```
 *
 * Every coordinate moves by exactly `lr` (or 0 where `c = 0`), so the update
 * has a larger norm than Adam's: the paper suggests a learning rate 3–10×
 * smaller and a weight decay 3–10× larger than AdamW's. The only state is the
 * momentum `exp_avg`; there is no step counter and no bias correction.
 *
 * With `backend: 'wasm'`, one WebAssembly SIMD kernel call per parameter group
 * (see {@link Adam}).
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { Lion } from '@opt/core';
 * const w = new Parameter(new Float32Array([0.5, -0.5]), [2], 'w');
 * const opt = new Lion([w], { lr: 3e-4, weightDecay: 0.1 });
 * w.grad = new Float32Array([0.1, -0.3]);
 * opt.step(); // each weight moves by 3e-4 against its gradient's sign
 * ```
 */
export class Lion extends Optimizer<LionOptions, LionState> {
  /** The kernel backend this optimizer runs on (resolved from the `backend` setting). */
  readonly backend: Backend;
  private readonly wasm: WasmGroupStorage | null;
  private readonly stateOfParam: (p: Parameter, group: ParamGroup<LionOptions>) => LionState;

  constructor(params: ParamsArg<LionOptions>, options: Partial<LionOptions> & OptimizerSettings = {}) {
    super('Lion', params, DEFAULTS, options);
    this.backend = resolveBackend(options.backend, 'Lion');
    this.wasm = this.backend === 'wasm' ? new WasmGroupStorage(() => LION_KEYS, (p) => this.state.get(p)) : null;
    this.gradientScanner = this.wasm;
    this.stateOfParam = (p, group) => this.stateFor(p, group);
  }

  protected validateGroup(o: Readonly<LionOptions>): void {
    checkNonNegative('Lion', 'lr', o.lr);
    checkBetas('Lion', o.betas);
    checkNonNegative('Lion', 'weightDecay', o.weightDecay);
    checkBoolean('Lion', 'maximize', o.maximize);
  }

  protected initState(p: Parameter): LionState {
    return { exp_avg: zerosLike(p.data) };
  }

  protected updateGroup(group: ParamGroup<LionOptions>): void {
    if (this.wasm !== null) {
      // One call per segment when every parameter has a gradient, else one per parameter that has one.
      const segs = this.wasm.prepare(group);
      for (let segIndex = 0; segIndex < segs.length; segIndex++) {
        const seg = segs[segIndex]!;
        if (gatherSegmentState(seg, this.stateOfParam, group, null) >= 0) lionCall(this.wasm, seg, -1, group);
        else for (let i = 0; i < seg.params.length; i++) if (seg.hasGrad[i] === 1) lionCall(this.wasm, seg, i, group);
      }
      return;
    }
    const { lr, betas, weightDecay, maximize } = group;
    const decay = 1 - lr * weightDecay;
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      lionUpdate(p.data, g, s.exp_avg, lr, betas[0], betas[1], decay, maximize);
    }
  }
}

const LION_KEYS: readonly string[] = ['exp_avg'];

function lionCall(wasm: WasmGroupStorage, seg: WasmSegment, i: number, group: ParamGroup<LionOptions>): void {
  const { lr, betas, weightDecay, maximize } = group;
  const arena = wasm.arena;
  const a = arena.scalars;
  a[0] = lr;
  a[1] = betas[0];
  a[2] = betas[1];
  a[3] = 1 - lr * weightDecay;
  const k = wasm.kernels;
  (seg.dtype === 'float64' ? k.lionF64 : k.lionF32)(seg.ptr(0, i), seg.ptr(1, i), seg.ptr(2, i), seg.count(i), arena.scalarsPtr, maximize ? 1 : 0);
}
