import { InvalidOptionError, Parameter, type Rng } from '@opt/tensor';
import { Adam, checkFinite } from '@opt/core';
import type { FunctionalModel, MetaTask } from './functional.js';
import { MetaLearner, type MetaLearnerOptions } from './meta-learner.js';

/** Options of {@link MetaSGD}. `innerLr` is not used: the inner step sizes are the learned α. */
export interface MetaSGDOptions extends Omit<MetaLearnerOptions, 'innerLr'> {
  /**
   * Initial α: a number (every coordinate) or an interval `[low, high]` drawn
   * uniformly per coordinate from the learner's seeded generator. Default
   * `[0.005, 0.1]` (Li et al. 2017).
   */
  alphaInit?: number | readonly [number, number];
  /**
   * α is clamped to `[low, high]` after every meta-step. Default `[0, Infinity]`:
   * a negative step size is gradient ascent, which diverges as soon as the
   * learner is adapted for more steps than it was trained with.
   * `[-Infinity, Infinity]` gives the paper's unconstrained α.
   */
  alphaBounds?: readonly [number, number];
}

const WHERE = 'MetaSGD';

function checkPair(option: string, value: unknown): readonly [number, number] {
  if (!Array.isArray(value) || value.length !== 2 || typeof value[0] !== 'number' || typeof value[1] !== 'number' || !(value[0] <= value[1])) {
    throw new InvalidOptionError(option, value, 'an interval [low, high] with low <= high', WHERE);
  }
  return [value[0], value[1]];
}

/**
 * Meta-SGD (Li, Zhou, Chen & Li, 2017): MAML whose inner step size is a
 * learned vector α, one per parameter, meta-learned jointly with θ:
 * `θ_{j+1} = θ_j − α ⊙ ∇L_s(θ_j)`. The exact meta-gradient of L_q(θ_k)
 * chains backward through the k steps with u_k = ∇L_q(θ_k):
 * ```
 * ∂L_q/∂α += −u_{j+1} ⊙ ∇L_s(θ_j)
 * u_j = u_{j+1} − H_s(θ_j) (α ⊙ u_{j+1})        (∂θ_{j+1}/∂θ_j = I − diag(α) H_s, H_s symmetric)
 * ∂L_q/∂θ = u_0
 * ```
 * (for one step: ∂/∂α = −∇L_q(θ′) ⊙ ∇L_s(θ), first-order only; ∂/∂θ needs one
 * HVP). Both gradients go to the meta-optimizer (Adam, `metaLr`), then α is
 * clamped to `alphaBounds`. {@link MetaLearner.adapt} and
 * {@link MetaLearner.evaluate} step with α.
 *
 * @example
 * ```ts
 * import { FunctionalMLP, MetaSGD, SinusoidTaskSampler } from '@opt/learned';
 * const model = new FunctionalMLP({ sizes: [1, 40, 40, 1] });
 * const metaSgd = new MetaSGD(model, { metaLr: 1e-3, alphaInit: [0.005, 0.1], seed: 0 });
 * const sampler = new SinusoidTaskSampler({ seed: 4 });
 * metaSgd.metaStep(sampler.batch(25));
 * metaSgd.alpha.data;   // the learned per-parameter step sizes
 * ```
 */
export class MetaSGD extends MetaLearner {
  /** The learned per-parameter inner step sizes α (float64, one per parameter of θ). */
  readonly alpha: Parameter;
  /** The clamp applied to α after every meta-step. */
  readonly alphaBounds: readonly [number, number];
  private readonly iterates: Float64Array[];
  private readonly grads: Float64Array[];
  private readonly u: Float64Array;
  private readonly w: Float64Array;
  private readonly hv: Float64Array;

  /**
   * @param model - the task model (exact `hvp` required).
   * @param options - outer settings, α initialisation and bounds.
   */
  constructor(model: FunctionalModel, options: MetaSGDOptions = {}) {
    if ((options as MetaLearnerOptions).innerLr !== undefined) {
      throw new InvalidOptionError('innerLr', (options as MetaLearnerOptions).innerLr, 'absent (Meta-SGD learns alpha; use alphaInit)', WHERE);
    }
    const init = options.alphaInit ?? [0.005, 0.1];
    const interval = typeof init === 'number' ? [checkFinite(WHERE, 'alphaInit', init), init] as const : checkPair('alphaInit', init);
    const bounds = checkPair('alphaBounds', options.alphaBounds ?? [0, Infinity]);
    let alpha: Parameter | undefined;
    const makeAlpha = (rng: Rng, n: number): Parameter[] => {
      const a = new Float64Array(n);
      for (let i = 0; i < n; i++) a[i] = interval[0] === interval[1] ? interval[0] : rng.uniform(interval[0], interval[1]);
      alpha = new Parameter(a, [n], 'alpha');
      return [alpha];
    };
    super(WHERE, model, options, { innerLr: 1, innerSteps: 1, metaLr: 1e-3 }, makeAlpha, (params, lr) => new Adam(params, { lr }));
    this.alpha = alpha!;
    this.alphaBounds = bounds;
    this.clampAlpha();
    const n = model.paramCount;
    this.iterates = [];
    this.grads = [];
    for (let j = 0; j < this.options.innerSteps; j++) {
      this.iterates.push(new Float64Array(n));
      this.grads.push(new Float64Array(n));
    }
    this.u = new Float64Array(n);
    this.w = new Float64Array(n);
    this.hv = new Float64Array(n);
  }

  override get parameters(): Parameter[] {
    return [this.theta, this.alpha];
  }

  metaGradient(tasks: readonly MetaTask[]): number {
    const model = this.model;
    const k = this.options.innerSteps;
    const theta = this.thetaData();
    const alpha = this.alpha.data as Float64Array;
    const gTheta = this.gradOf(this.theta);
    const gAlpha = this.gradOf(this.alpha);
    const { u, w, hv } = this;
    const n = gTheta.length;
    gTheta.fill(0);
    gAlpha.fill(0);
    let total = 0;
    for (let t = 0; t < tasks.length; t++) {
      const task = tasks[t]!;
      let current = theta;
      for (let j = 0; j < k; j++) {
        const grad = this.grads[j]!;
        model.lossAndGrad(current, task.support, grad);
        const next = this.iterates[j]!;
        for (let i = 0; i < n; i++) next[i] = current[i]! - alpha[i]! * grad[i]!;
        current = next;
      }
      total += model.lossAndGrad(current, task.query, u);
      for (let j = k - 1; j >= 0; j--) {
        const grad = this.grads[j]!;
        for (let i = 0; i < n; i++) {
          gAlpha[i] = gAlpha[i]! - u[i]! * grad[i]!;
          w[i] = alpha[i]! * u[i]!;
        }
        model.hvp(j === 0 ? theta : this.iterates[j - 1]!, task.support, w, hv);
        for (let i = 0; i < n; i++) u[i] = u[i]! - hv[i]!;
      }
      for (let i = 0; i < n; i++) gTheta[i] = gTheta[i]! + u[i]!;
    }
    const scale = 1 / tasks.length;
    for (let i = 0; i < n; i++) {
      gTheta[i] = gTheta[i]! * scale;
      gAlpha[i] = gAlpha[i]! * scale;
    }
    return total * scale;
  }

  protected override innerStep(params: Float64Array, grad: Float64Array, out: Float64Array): void {
    const alpha = this.alpha.data;
    for (let i = 0; i < out.length; i++) out[i] = params[i]! - alpha[i]! * grad[i]!;
  }

  protected override afterMetaStep(): void {
    this.clampAlpha();
  }

  private clampAlpha(): void {
    const a = this.alpha.data;
    const [lo, hi] = this.alphaBounds;
    for (let i = 0; i < a.length; i++) {
      const v = a[i]!;
      if (v < lo) a[i] = lo;
      else if (v > hi) a[i] = hi;
    }
  }
}
