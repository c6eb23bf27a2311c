import { SGD } from '@opt/core';
import type { FunctionalModel, MetaTask } from './functional.js';
import { MetaLearner, type MetaLearnerOptions } from './meta-learner.js';

const REPTILE_DEFAULTS = { innerLr: 0.02, innerSteps: 5, metaLr: 0.1 };

/**
 * Reptile (Nichol, Achiam & Schulman, 2018, "On First-Order Meta-Learning
 * Algorithms"): run k SGD steps on each task's support set from θ, then move
 * θ toward the adapted parameters θ_k:
 * ```
 * θ ← θ + ε · mean_tasks(θ_k − θ)
 * ```
 * The direction is handed to the meta-optimizer as the "gradient"
 * `g = mean_tasks(θ − θ_k)`, so the default meta-optimizer, SGD with
 * `lr = metaLr = ε`, is exactly the update above (plain interpolation, as in
 * the paper's sinusoid demo; pass `metaOptimizer` for Adam). No second
 * derivatives and no query gradient are used; the query loss is only
 * reported. Defaults: `innerLr` 0.02, `innerSteps` 5, `metaLr` (ε) 0.1.
 *
 * @example
 * ```ts
 * import { FunctionalMLP, Reptile, SinusoidTaskSampler } from '@opt/learned';
 * const model = new FunctionalMLP({ sizes: [1, 40, 40, 1] });
 * const reptile = new Reptile(model, { innerLr: 0.02, innerSteps: 5, metaLr: 0.1 });
 * const sampler = new SinusoidTaskSampler({ seed: 3 });
 * reptile.metaStep(sampler.batch(10));
 * ```
 */
export class Reptile extends MetaLearner {
  private readonly work: Float64Array;

  /**
   * @param model - the task model.
   * @param options - inner loop and outer step size ε (`metaLr`).
   */
  constructor(model: FunctionalModel, options: MetaLearnerOptions = {}) {
    super('Reptile', model, options, REPTILE_DEFAULTS, () => [], (params, lr) => new SGD(params, { lr }));
    this.work = new Float64Array(model.paramCount);
  }

  metaGradient(tasks: readonly MetaTask[]): number {
    const model = this.model;
    const k = this.options.innerSteps;
    const theta = this.thetaData();
    const g = this.gradOf(this.theta);
    const grad = this.scratchGrad;
    const w = this.work;
    const n = g.length;
    g.fill(0);
    let total = 0;
    for (let t = 0; t < tasks.length; t++) {
      const task = tasks[t]!;
      w.set(theta);
      for (let j = 0; j < k; j++) {
        model.lossAndGrad(w, task.support, grad);
        this.innerStep(w, grad, w);
      }
      total += model.loss(w, task.query);
      for (let i = 0; i < n; i++) g[i] = g[i]! + (theta[i]! - w[i]!);
    }
    const scale = 1 / tasks.length;
    for (let i = 0; i < n; i++) g[i] = g[i]! * scale;
    return total * scale;
  }
}
