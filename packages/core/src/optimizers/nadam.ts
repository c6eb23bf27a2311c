import { type Backend, type FloatArray, type Parameter, nadamUpdate, resolveBackend, zerosLike } from '@opt/tensor';
import { WasmGroupStorage, type WasmSegment, gatherSegmentState } from '../flat-state.js';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamsArg } from '../optimizer.js';
import { checkBetas, checkBoolean, checkNonNegative, checkOneOf, checkPositive } from '../validation.js';

/**
 * Which PyTorch NAdam to reproduce:
 * - `'latest'` (default): the corrected schedule of later PyTorch versions,
 *   `Πμ_next = Πμ_t · μ(t+1)`;
 * - `'torch-1.13'`: PyTorch 1.13's `Πμ_next = Πμ_t · μt · μ(t+1)`, which counts μt twice.
 */
export type NAdamCompat = 'latest' | 'torch-1.13';

/** Hyper-parameters of {@link NAdam}. */
export interface NAdamOptions {
  /** Learning rate. Default 2e-3. */
  lr: number;
  /** Decay rates of the first and second moment estimates. Default [0.9, 0.999]. */
  betas: [number, number];
  /** Added to the bias-corrected root of the second moment. Default 1e-8. */
  eps: number;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay: number;
  /** ψ, the decay of the momentum schedule μt. Default 4e-3. */
  momentumDecay: number;
  /** Maximize the objective instead of minimizing (not in PyTorch 1.13). Default false. */
  maximize: boolean;
  /** Momentum-product formula to reproduce; see {@link NAdamCompat}. Default `'latest'`. */
  compat: NAdamCompat;
}

/** Per-parameter state of {@link NAdam}. */
export interface NAdamState {
  [key: string]: number | FloatArray;
  step: number;
  /** Πμ over the steps so far, kept rounded to float32 as PyTorch keeps it (a float32 scalar tensor). */
  mu_product: number;
  exp_avg: FloatArray;
  exp_avg_sq: FloatArray;
}

const DEFAULTS: NAdamOptions = {
  lr: 2e-3,
  betas: [0.9, 0.999],
  eps: 1e-8,
  weightDecay: 0,
  momentumDecay: 4e-3,
  maximize: false,
  compat: 'latest',
};

const COMPAT_MODES: readonly NAdamCompat[] = ['latest', 'torch-1.13'];

/**
 * NAdam, Adam with Nesterov momentum (Dozat, 2016), as `torch.optim.NAdam`, with
 * t the parameter's step count and ψ = momentumDecay:
 *
 * ```
 * g ← ±∇f(p) + weightDecay·p
 * μt = β1·(1 − ½·0.96^(t·ψ)),  μ(t+1) = β1·(1 − ½·0.96^((t+1)·ψ))
 * Πμ ← Πμ·μt                                  (float32, as PyTorch stores it)
 * Πμ_next = Πμ·μ(t+1)                         ('torch-1.13': Πμ·μt·μ(t+1))
 * m ← β1·m + (1 − β1)·g
 * v ← β2·v + (1 − β2)·g²
 * d = sqrt(v/(1 − β2^t)) + eps
 * p ← p − lr·(1 − μt)/(1 − Πμ) · g/d − lr·μ(t+1)/(1 − Πμ_next) · m/d
 * ```
 *
 * With `backend: 'wasm'`, one WebAssembly SIMD kernel call per parameter group
 * whose parameters share their step and `mu_product` (see `Adam`).
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { NAdam } from '@opt/core';
 * const w = new Parameter(new Float32Array([0.5, -0.5]), [2], 'w');
 * const opt = new NAdam([w], { lr: 1e-2, momentumDecay: 4e-3 });
 * w.grad = new Float32Array([0.1, -0.3]);
 * opt.step();
 * ```
 */
export class NAdam extends Optimizer<NAdamOptions, NAdamState> {
  /** The kernel backend this optimizer runs on (resolved from the `backend` setting). */
  readonly backend: Backend;
  private readonly wasm: WasmGroupStorage | null;
  private readonly stateOfParam: (p: Parameter, group: ParamGroup<NAdamOptions>) => NAdamState;

  constructor(params: ParamsArg<NAdamOptions>, options: Partial<NAdamOptions> & OptimizerSettings = {}) {
    super('NAdam', params, DEFAULTS, options);
    this.backend = resolveBackend(options.backend, 'NAdam');
    this.wasm = this.backend === 'wasm' ? new WasmGroupStorage(() => NADAM_KEYS, (p) => this.state.get(p)) : null;
    this.gradientScanner = this.wasm;
    this.stateOfParam = (p, group) => this.stateFor(p, group);
  }

  protected validateGroup(o: Readonly<NAdamOptions>): void {
    checkNonNegative('NAdam', 'lr', o.lr);
    checkBetas('NAdam', o.betas);
    checkPositive('NAdam', 'eps', o.eps);
    checkNonNegative('NAdam', 'weightDecay', o.weightDecay);
    checkNonNegative('NAdam', 'momentumDecay', o.momentumDecay);
    checkBoolean('NAdam', 'maximize', o.maximize);
    checkOneOf('NAdam', 'compat', o.compat, COMPAT_MODES);
  }

  protected initState(p: Parameter): NAdamState {
    return { step: 0, mu_product: 1, exp_avg: zerosLike(p.data), exp_avg_sq: zerosLike(p.data) };
  }

  protected updateGroup(group: ParamGroup<NAdamOptions>): void {
    if (this.wasm !== null) {
      this.updateGroupWasm(this.wasm, group);
      return;
    }
    const { lr, betas, eps, weightDecay, momentumDecay, maximize, compat } = group;
    const beta1 = betas[0];
    const beta2 = betas[1];
    const legacy = compat === 'torch-1.13';
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
      const p = group.params[pIndex]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      const t = ++s.step;
      const bc2 = 1 - beta2 ** t;
      const mu = beta1 * (1 - 0.5 * 0.96 ** (t * momentumDecay));
      const muNext = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentumDecay));
      // PyTorch keeps mu_product in a float32 scalar tensor, so each product is a
      // float32 multiply (the Python-float factor is rounded to float32 first).
      const muProduct = Math.fround(s.mu_product * Math.fround(mu));
      s.mu_product = muProduct;
      // PyTorch 1.13 evaluates `mu_product * mu * mu_next` after `mu_product *= mu`,
      // multiplying μt in twice, in float32 tensor arithmetic.
      const muProductNext = legacy
        ? Math.fround(Math.fround(muProduct * Math.fround(mu)) * Math.fround(muNext))
        : muProduct * muNext;
      const gradCoef = (lr * (1 - mu)) / (1 - muProduct);
      const momentumCoef = (lr * muNext) / (1 - muProductNext);
      nadamUpdate(p.data, g, s.exp_avg, s.exp_avg_sq, beta1, beta2, bc2, eps, gradCoef, momentumCoef, weightDecay, maximize);
    }
  }

  /**
   * The wasm step: ONE kernel call per segment when every parameter has a
   * gradient and all share their step count and `mu_product` (the scalars
   * depend on both), else one call per parameter that has a gradient.
   */
  private updateGroupWasm(wasm: WasmGroupStorage, group: ParamGroup<NAdamOptions>): void {
    const segs = wasm.prepare(group);
    for (let segIndex = 0; segIndex < segs.length; segIndex++) {
      const seg = segs[segIndex]!;
      const shared = gatherSegmentState(seg, this.stateOfParam, group, 'step');
      let whole = shared >= 0;
      const first = whole ? this.state.get(seg.params[0]!)! : null;
      for (let pIndex = 1; whole && pIndex < seg.params.length; pIndex++) {
        if (this.state.get(seg.params[pIndex]!)!.mu_product !== first!.mu_product) whole = false;
      }
      if (whole) {
        const muProduct = nadamCall(wasm, seg, -1, ++first!.step, first!.mu_product, group);
        for (let pIndex = 0; pIndex < seg.params.length; pIndex++) {
          const s = this.state.get(seg.params[pIndex]!)!;
          s.step = first!.step;
          s.mu_product = muProduct;
        }
        continue;
      }
      for (let i = 0; i < seg.params.length; i++) {
        if (seg.hasGrad[i] === 0) continue;
        const s = this.state.get(seg.params[i]!)!;
        s.mu_product = nadamCall(wasm, seg, i, ++s.step, s.mu_product, group);
      }
    }
  }
}

const NADAM_KEYS: readonly string[] = ['exp_avg', 'exp_avg_sq'];

/** One NAdam kernel call at step t from `muProduct` (the state's, before this step); returns the new `mu_product`. */
function nadamCall(wasm: WasmGroupStorage, seg: WasmSegment, i: number, t: number, muProductBefore: number, group: ParamGroup<NAdamOptions>): number {
  const { lr, betas, eps, weightDecay, momentumDecay, maximize, compat } = group;
  const beta1 = betas[0];
  // The scalars exactly as the JS path forms them (float32 mu_product included), so both backends agree.
  const mu = beta1 * (1 - 0.5 * 0.96 ** (t * momentumDecay));
  const muNext = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentumDecay));
  const muProduct = Math.fround(muProductBefore * Math.fround(mu));
  const muProductNext =
    compat === 'torch-1.13' ? Math.fround(Math.fround(muProduct * Math.fround(mu)) * Math.fround(muNext)) : muProduct * muNext;
  const arena = wasm.arena;
  const a = arena.scalars;
  a[0] = beta1;
  a[1] = betas[1];
  a[2] = 1 - betas[1] ** t;
  a[3] = eps;
  a[4] = (lr * (1 - mu)) / (1 - muProduct);
  a[5] = (lr * muNext) / (1 - muProductNext);
  a[6] = weightDecay;
  const k = wasm.kernels;
  (seg.dtype === 'float64' ? k.nadamF64 : k.nadamF32)(
    seg.ptr(0, i), seg.ptr(1, i), seg.ptr(2, i), seg.ptr(3, i), seg.count(i), arena.scalarsPtr, maximize ? 1 : 0,
  );
  return muProduct;
}
