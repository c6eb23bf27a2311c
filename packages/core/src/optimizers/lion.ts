import { type FloatArray, type Parameter, lionUpdate, zerosLike } from '@opt/tensor';
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
  constructor(params: ParamsArg<LionOptions>, options: Partial<LionOptions> & OptimizerSettings = {}) {
    super('Lion', params, DEFAULTS, options);
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
    const { lr, betas, weightDecay, maximize } = group;
    const decay = 1 - lr * weightDecay;
    for (const p of group.params) {
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      lionUpdate(p.data, g, s.exp_avg, lr, betas[0], betas[1], decay, maximize);
    }
  }
}
