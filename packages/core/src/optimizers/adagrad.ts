import { type Backend, type FloatArray, type Parameter, adagradUpdate, resolveBackend, zerosLike } from '@opt/tensor';
import { WasmGroupStorage, type WasmSegment, gatherSegmentState } from '../flat-state.js';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import { checkBoolean, checkNonNegative, checkPositive } from '../validation.js';

/** Hyper-parameters of {@link Adagrad}. */
export interface AdagradOptions {
  /** Learning rate. Default 1e-2. */
  lr: number;
  /** Learning-rate decay: step t uses `lr / (1 + (t − 1)·lrDecay)`. Default 0. */
  lrDecay: number;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay: number;
  /** Starting value of every element of the accumulator `sum`. Default 0. */
  initialAccumulatorValue: number;
  /** Added to the root of the accumulator. Default 1e-10. */
  eps: number;
  /** Maximize the objective instead of minimizing. Default false. */
  maximize: boolean;
}

/** Per-parameter state of {@link Adagrad}: the step count and the sum of squared gradients. */
export interface AdagradState {
  [key: string]: number | FloatArray;
  step: number;
  sum: FloatArray;
}

const DEFAULTS: AdagradOptions = {
  lr: 1e-2,
  lrDecay: 0,
  weightDecay: 0,
  initialAccumulatorValue: 0,
  eps: 1e-10,
  maximize: false,
};

/**
 * Adagrad (Duchi et al., 2011), as `torch.optim.Adagrad`, with t the parameter's
 * step count:
 *
 * ```
 * g ← ±∇f(p) + weightDecay·p
 * clr ← lr / (1 + (t − 1)·lrDecay)
 * sum ← sum + g²
 * p ← p − clr · g / (√sum + eps)
 * ```
 *
 * As in PyTorch, the state (`step` = 0, `sum` filled with
 * `initialAccumulatorValue`) is created when a parameter is added, not on its
 * first step, so a fresh optimizer's state dict already lists every parameter.
 *
 * With `backend: 'wasm'`, one WebAssembly SIMD kernel call per parameter group
 * (see {@link Adam}).
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { Adagrad } from '@opt/core';
 * const w = new Parameter(new Float64Array([1, -2]), [2], 'w');
 * const opt = new Adagrad([w], { lr: 0.1, initialAccumulatorValue: 0.1 });
 * w.grad = new Float64Array([2, -4]);
 * opt.step();
 * ```
 */
export class Adagrad extends Optimizer<AdagradOptions, AdagradState> {
  /** The kernel backend this optimizer runs on (resolved from the `backend` setting). */
  readonly backend: Backend;
  private readonly wasm: WasmGroupStorage | null;
  private readonly stateOfParam: (p: Parameter, group: ParamGroup<AdagradOptions>) => AdagradState;

  constructor(params: ParamsArg<AdagradOptions>, options: Partial<AdagradOptions> & OptimizerSettings = {}) {
    super('Adagrad', params, DEFAULTS, options);
    this.backend = resolveBackend(options.backend, 'Adagrad');
    this.wasm = this.backend === 'wasm' ? new WasmGroupStorage(() => ADAGRAD_KEYS, (p) => this.state.get(p)) : null;
    this.gradientScanner = this.wasm;
    this.stateOfParam = (p, group) => this.stateFor(p, group);
  }

  protected validateGroup(o: Readonly<AdagradOptions>): void {
    checkNonNegative('Adagrad', 'lr', o.lr);
    checkNonNegative('Adagrad', 'lrDecay', o.lrDecay);
    checkNonNegative('Adagrad', 'weightDecay', o.weightDecay);
    checkNonNegative('Adagrad', 'initialAccumulatorValue', o.initialAccumulatorValue);
    checkPositive('Adagrad', 'eps', o.eps);
    checkBoolean('Adagrad', 'maximize', o.maximize);
  }

  protected initState(p: Parameter, group: ParamGroup<AdagradOptions>): AdagradState {
    const sum = zerosLike(p.data);
    if (group.initialAccumulatorValue !== 0) sum.fill(group.initialAccumulatorValue);
    return { step: 0, sum };
  }

  protected override onGroupAdded(group: ParamGroup<AdagradOptions>): void {
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      this.stateFor(p, group);
    }
  }

  protected updateGroup(group: ParamGroup<AdagradOptions>): void {
    if (this.wasm !== null) {
      // One call per segment when every parameter has a gradient and all share their step count.
      const segs = this.wasm.prepare(group);
      for (let segIndex = 0; segIndex < segs.length; segIndex++) {
        const seg = segs[segIndex]!;
        const shared = gatherSegmentState(seg, this.stateOfParam, group, 'step');
        if (shared >= 0) {
          for (let pIndex = 0; pIndex < seg.params.length; pIndex++) {
            const p = seg.params[pIndex]!;
            this.state.get(p)!.step = shared + 1;
          }
          adagradCall(this.wasm, seg, -1, shared + 1, group);
          continue;
        }
        for (let i = 0; i < seg.params.length; i++) {
          if (seg.hasGrad[i] === 1) adagradCall(this.wasm, seg, i, ++this.state.get(seg.params[i]!)!.step, group);
        }
      }
      return;
    }
    const { lr, lrDecay, weightDecay, eps, maximize } = group;
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      const t = ++s.step;
      const clr = lr / (1 + (t - 1) * lrDecay);
      adagradUpdate(p.data, g, s.sum, clr, eps, weightDecay, maximize);
    }
  }
}

const ADAGRAD_KEYS: readonly string[] = ['sum'];

function adagradCall(wasm: WasmGroupStorage, seg: WasmSegment, i: number, t: number, group: ParamGroup<AdagradOptions>): void {
  const { lr, lrDecay, weightDecay, eps, maximize } = group;
  const arena = wasm.arena;
  const a = arena.scalars;
  a[0] = lr / (1 + (t - 1) * lrDecay);
  a[1] = eps;
  a[2] = weightDecay;
  const k = wasm.kernels;
  (seg.dtype === 'float64' ? k.adagradF64 : k.adagradF32)(seg.ptr(0, i), seg.ptr(1, i), seg.ptr(2, i), seg.count(i), arena.scalarsPtr, maximize ? 1 : 0);
}
