import { Adam, checkBoolean } from '@opt/core';
import type { FunctionalModel, MetaTask } from './functional.js';
import { MetaLearner, type MetaLearnerOptions } from './meta-learner.js';

/** Options of {@link MAML}. */
export interface MAMLOptions extends MetaLearnerOptions {
  /** Drop the second-order term (the Hessian), which gives {@link FOMAML}. Default false. */
  firstOrder?: boolean;
}

const MAML_DEFAULTS = { innerLr: 0.01, innerSteps: 1, metaLr: 1e-3 };

/**
 * Model-Agnostic Meta-Learning (Finn, Abbeel & Levine, 2017), second order by
 * default, with EXACT Hessian-vector products from the model.
 *
 * Inner loop on a task's support loss L_s, k steps from θ_0 = θ:
 * `θ_{j+1} = θ_j − α ∇L_s(θ_j)`. Outer loss: the query loss L_q(θ_k), averaged
 * over the task batch. Its gradient with respect to θ is chained backward
 * through the inner steps, each contributing its Jacobian `I − α H_s(θ_j)`:
 * ```
 * u_k = ∇L_q(θ_k),    u_j = u_{j+1} − α H_s(θ_j) u_{j+1}   (j = k−1 … 0),    ∇θ L_q = u_0
 * ```
 * so k inner steps cost k gradients, k HVPs (about two gradients each) and
 * one query gradient per task, with memory for the k intermediate θ_j. With
 * `firstOrder: true` the Hessian is dropped and the meta-gradient is
 * ∇L_q(θ_k) ({@link FOMAML}).
 *
 * The meta-gradient is written into `theta.grad` and applied by the
 * meta-optimizer (Adam with `metaLr` by default, as in the paper).
 *
 * @example
 * ```ts
 * import { FunctionalMLP, MAML, SinusoidTaskSampler } from '@opt/learned';
 * const model = new FunctionalMLP({ sizes: [1, 40, 40, 1], activation: 'relu' });
 * const maml = new MAML(model, { innerLr: 0.01, innerSteps: 1, metaLr: 1e-3, seed: 0 });
 * const sampler = new SinusoidTaskSampler({ shots: 10, queryShots: 10, seed: 1 });
 * for (let i = 0; i < 100; i++) maml.metaStep(sampler.batch(25));
 * const task = sampler.next();
 * const adapted = maml.adapt(task.support, 1);   // few-shot adaptation
 * model.loss(adapted, task.query);
 * ```
 */
export class MAML extends MetaLearner {
  /** Whether the Hessian term is dropped (FOMAML). */
  readonly firstOrder: boolean;
  private readonly iterates: Float64Array[];
  private readonly u: Float64Array;
  private readonly hv: Float64Array;

  /**
   * @param model - the task model (exact `hvp` required for second order).
   * @param options - inner/outer settings; `firstOrder` selects FOMAML.
   */
  constructor(model: FunctionalModel, options: MAMLOptions = {}) {
    super(
      options.firstOrder === true && new.target === FOMAML ? 'FOMAML' : 'MAML',
      model,
      options,
      MAML_DEFAULTS,
      () => [],
      (params, lr) => new Adam(params, { lr }),
    );
    this.firstOrder = checkBoolean(this.name, 'firstOrder', options.firstOrder ?? false);
    const n = model.paramCount;
    this.iterates = [];
    for (let j = 1; j <= this.options.innerSteps; j++) this.iterates.push(new Float64Array(n));
    this.u = new Float64Array(n);
    this.hv = new Float64Array(n);
  }

  metaGradient(tasks: readonly MetaTask[]): number {
    const model = this.model;
    const alpha = this.options.innerLr;
    const k = this.options.innerSteps;
    const theta = this.thetaData();
    const g = this.gradOf(this.theta);
    const grad = this.scratchGrad;
    const u = this.u;
    const hv = this.hv;
    const n = g.length;
    g.fill(0);
    let total = 0;
    for (let t = 0; t < tasks.length; t++) {
      const task = tasks[t]!;
      let current = theta;
      for (let j = 0; j < k; j++) {
        model.lossAndGrad(current, task.support, grad);
        const next = this.iterates[j]!;
        for (let i = 0; i < n; i++) next[i] = current[i]! - alpha * grad[i]!;
        current = next;
      }
      total += model.lossAndGrad(current, task.query, u);
      if (!this.firstOrder) {
        for (let j = k - 1; j >= 0; j--) {
          model.hvp(j === 0 ? theta : this.iterates[j - 1]!, task.support, u, hv);
          for (let i = 0; i < n; i++) u[i] = u[i]! - alpha * hv[i]!;
        }
      }
      for (let i = 0; i < n; i++) g[i] = g[i]! + u[i]!;
    }
    const scale = 1 / tasks.length;
    for (let i = 0; i < n; i++) g[i] = g[i]! * scale;
    return total * scale;
  }
}

/**
 * First-order MAML (Finn et al. 2017, §5.2): MAML with the Hessian term
 * dropped, meta-gradient `∇L_q(θ_k)` evaluated at the adapted parameters.
 * Cheaper (no HVP) and usually close to MAML; {@link MAML} with
 * `firstOrder: true` computes the same thing.
 *
 * @example
 * ```ts
 * import { FOMAML, FunctionalMLP, SinusoidTaskSampler } from '@opt/learned';
 * const model = new FunctionalMLP({ sizes: [1, 40, 40, 1] });
 * const fomaml = new FOMAML(model, { innerLr: 0.01, metaLr: 1e-3 });
 * const sampler = new SinusoidTaskSampler({ seed: 2 });
 * fomaml.metaStep(sampler.batch(25));
 * ```
 */
export class FOMAML extends MAML {
  /**
   * @param model - the task model.
   * @param options - as {@link MAML}'s, without `firstOrder` (always true).
   */
  constructor(model: FunctionalModel, options: Omit<MAMLOptions, 'firstOrder'> = {}) {
    super(model, { ...options, firstOrder: true });
  }
}
