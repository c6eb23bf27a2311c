import { type Backend, type FloatArray, InvalidOptionError, type Parameter, resolveBackend, rpropUpdate, zerosLike } from '@opt/tensor';
import { WasmGroupStorage, type WasmSegment } from '../flat-state.js';
import { wasmElementwiseStep } from './elementwise-wasm.js';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import { checkBoolean, checkFinite, checkNonNegative, checkPositive } from '../validation.js';

/** Hyper-parameters of {@link Rprop}. */
export interface RpropOptions {
  /** Learning rate: the initial step size of every element. Default 1e-2. */
  lr: number;
  /** `[etaminus, etaplus]`: step-size factors after a sign change / a sign agreement, 0 < etaminus < 1 < etaplus. Default [0.5, 1.2]. */
  etas: [number, number];
  /** `[min, max]` bounds of the step sizes. Default [1e-6, 50]. */
  stepSizes: [number, number];
  /** Maximize the objective instead of minimizing. Default false. */
  maximize: boolean;
}

/** Per-parameter state of {@link Rprop}. */
export interface RpropState {
  [key: string]: number | FloatArray;
  step: number;
  /** The previous (sign-change-zeroed) gradient. */
  prev: FloatArray;
  /** Per-element step sizes, starting at `lr`. */
  step_size: FloatArray;
}

const DEFAULTS: RpropOptions = { lr: 1e-2, etas: [0.5, 1.2], stepSizes: [1e-6, 50], maximize: false };

/**
 * Resilient backpropagation (Riedmiller & Braun, 1993), as `torch.optim.Rprop`:
 * only the sign of the gradient is used, with a per-element step size η adapted
 * to the agreement of successive signs. Per element, with `s = sign(g·prev)`:
 *
 * ```
 * g ← ±∇f(p)
 * η ← clamp(η·(s > 0 ? etaplus : s < 0 ? etaminus : 1), stepSizes[0], stepSizes[1])
 * g ← 0 where s < 0                   (no move right after a sign change)
 * p ← p − sign(g)·η
 * prev ← g
 * ```
 *
 * η starts at `lr` and the clamp applies from the first step.
 *
 * With `backend: 'wasm'`, one WebAssembly SIMD kernel call per parameter group
 * (see `Adam`), bit-identical to the JS backend in float32 and float64.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { Rprop } from '@opt/core';
 * const w = new Parameter(new Float64Array([1, -2]), [2], 'w');
 * const opt = new Rprop([w], { lr: 0.01, etas: [0.5, 1.2], stepSizes: [1e-6, 1] });
 * w.grad = new Float64Array([2, -4]);
 * opt.step();
 * ```
 */
export class Rprop extends Optimizer<RpropOptions, RpropState> {
  /** The kernel backend this optimizer runs on (resolved from the `backend` setting). */
  readonly backend: Backend;
  private readonly wasm: WasmGroupStorage | null;
  private readonly stateOfParam: (p: Parameter, group: ParamGroup<RpropOptions>) => RpropState;

  constructor(params: ParamsArg<RpropOptions>, options: Partial<RpropOptions> & OptimizerSettings = {}) {
    super('Rprop', params, DEFAULTS, options);
    this.backend = resolveBackend(options.backend, 'Rprop');
    this.wasm = this.backend === 'wasm' ? new WasmGroupStorage(() => RPROP_KEYS, (p) => this.state.get(p)) : null;
    this.gradientScanner = this.wasm;
    this.stateOfParam = (p, group) => this.stateFor(p, group);
  }

  protected validateGroup(o: Readonly<RpropOptions>): void {
    checkNonNegative('Rprop', 'lr', o.lr);
    const etas: unknown = o.etas;
    if (!Array.isArray(etas) || etas.length !== 2) {
      throw new InvalidOptionError('etas', etas, 'a pair [etaminus, etaplus]', 'Rprop');
    }
    const etaminus = checkFinite('Rprop', 'etas[0]', etas[0]);
    const etaplus = checkFinite('Rprop', 'etas[1]', etas[1]);
    if (!(etaminus > 0 && etaminus < 1)) {
      throw new InvalidOptionError('etas[0]', etaminus, 'a number in (0, 1) (0 < etaminus < 1 < etaplus)', 'Rprop');
    }
    if (!(etaplus > 1)) {
      throw new InvalidOptionError('etas[1]', etaplus, 'a finite number > 1 (0 < etaminus < 1 < etaplus)', 'Rprop');
    }
    const sizes: unknown = o.stepSizes;
    if (!Array.isArray(sizes) || sizes.length !== 2) {
      throw new InvalidOptionError('stepSizes', sizes, 'a pair [min, max]', 'Rprop');
    }
    const lo = checkNonNegative('Rprop', 'stepSizes[0]', sizes[0]);
    const hi = checkPositive('Rprop', 'stepSizes[1]', sizes[1]);
    if (lo > hi) throw new InvalidOptionError('stepSizes', sizes, 'min <= max', 'Rprop');
    checkBoolean('Rprop', 'maximize', o.maximize);
  }

  protected initState(p: Parameter, group: ParamGroup<RpropOptions>): RpropState {
    return { step: 0, prev: zerosLike(p.data), step_size: zerosLike(p.data).fill(group.lr) };
  }

  protected updateGroup(group: ParamGroup<RpropOptions>): void {
    if (this.wasm !== null) {
      wasmElementwiseStep(this.wasm, group, this.stateOfParam, false, rpropCall);
      return;
    }
    const { etas, stepSizes, maximize } = group;
    const etaminus = etas[0];
    const etaplus = etas[1];
    const lo = stepSizes[0];
    const hi = stepSizes[1];
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      s.step++;
      // PyTorch writes the etas into a tensor of the gradient's dtype before
      // multiplying the step sizes, so float32 parameters see float32 etas.
      const f32 = p.data instanceof Float32Array;
      const down = f32 ? Math.fround(etaminus) : etaminus;
      const up = f32 ? Math.fround(etaplus) : etaplus;
      rpropUpdate(p.data, g, s.prev, s.step_size, down, up, lo, hi, maximize);
    }
  }
}

const RPROP_KEYS: readonly string[] = ['prev', 'step_size'];

function rpropCall(wasm: WasmGroupStorage, seg: WasmSegment, i: number, _t: number, group: ParamGroup<RpropOptions>): void {
  const arena = wasm.arena;
  const a = arena.scalars;
  // The float32 kernel rounds the etas to float32 itself, as PyTorch's tensor of the parameter's dtype does.
  a[0] = group.etas[0];
  a[1] = group.etas[1];
  a[2] = group.stepSizes[0];
  a[3] = group.stepSizes[1];
  const k = wasm.kernels;
  (seg.dtype === 'float64' ? k.rpropF64 : k.rpropF32)(
    seg.ptr(0, i), seg.ptr(1, i), seg.ptr(2, i), seg.ptr(3, i), seg.count(i), arena.scalarsPtr, group.maximize ? 1 : 0,
  );
}
