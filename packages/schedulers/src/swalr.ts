import { checkInteger, checkNonNegative, checkOneOf } from '@opt/core';
import {
  type FieldSpec,
  LRScheduler,
  type LRSchedulerOptions,
  type SchedulableOptimizer,
  countGroups,
  perGroup,
} from './scheduler.js';

/** Options of {@link SWALR}. */
export interface SWALROptions extends LRSchedulerOptions {
  /** The constant lr of the SWA phase, or one per group. */
  swaLr: number | readonly number[];
  /** Number of steps of the anneal towards `swaLr` (integer ≥ 0). Default 10. */
  annealEpochs?: number;
  /** Anneal shape. Default `'cos'`. */
  annealStrategy?: 'cos' | 'linear';
}

/**
 * The learning rate of stochastic weight averaging (Izmailov et al., 2018), as
 * `torch.optim.swa_utils.SWALR`: anneals each group's lr from its current value
 * to `swaLr` over `annealEpochs` of its own steps, then holds it. With s the
 * number of its `step()` calls (0 at construction; at least 1 when
 * `annealEpochs = 0`), A = max(1, annealEpochs), a(t) = (1 − cos πt)/2 (cos)
 * or t (linear):
 *
 * ```
 * α0   = a(clamp((s − 1)/A, 0, 1)),   prev = α0 = 1 ? swaLr : (lr − α0·swaLr)/(1 − α0)
 * α    = a(clamp(s/A, 0, 1))
 * lr  ← swaLr·α + prev·(1 − α)
 * ```
 *
 * Recovering `prev` from the current lr lets another scheduler change the lr
 * between its steps, as in PyTorch.
 *
 * @example
 * ```ts
 * import { Parameter, SGD } from '@opt/core';
 * import { SWALR } from '@opt/schedulers';
 * const opt = new SGD([new Parameter(new Float64Array([1]))], { lr: 0.1 });
 * const swa = new SWALR(opt, { swaLr: 0.05, annealEpochs: 2, annealStrategy: 'linear' });
 * swa.step();
 * console.log(swa.getLastLr()); // [0.075] (up to rounding)
 * ```
 */
export class SWALR extends LRScheduler {
  /** Target lrs, one per group. */
  swaLrs: number[];
  /** Anneal length. */
  annealEpochs: number;
  /** Anneal shape. */
  annealStrategy: 'cos' | 'linear';

  constructor(optimizer: SchedulableOptimizer, options: SWALROptions) {
    const where = 'SWALR';
    const n = countGroups(where, optimizer);
    const swaLrs = perGroup(where, 'swaLr', options.swaLr, n).map((v, g) => checkNonNegative(where, Array.isArray(options.swaLr) ? `swaLr[${g}]` : 'swaLr', v));
    const annealEpochs = checkInteger(where, 'annealEpochs', options.annealEpochs ?? 10, 0);
    const annealStrategy = checkOneOf(where, 'annealStrategy', options.annealStrategy ?? 'cos', ['cos', 'linear'] as const);
    super(where, optimizer, options);
    this.swaLrs = swaLrs;
    this.annealEpochs = annealEpochs;
    this.annealStrategy = annealStrategy;
    this.initialStep();
  }

  private anneal(t: number): number {
    return this.annealStrategy === 'cos' ? (1 - Math.cos(Math.PI * t)) / 2 : t;
  }

  protected getLr(): number[] {
    let s = this.stepCount - 1;
    if (this.annealEpochs === 0) s = Math.max(1, s);
    const A = Math.max(1, this.annealEpochs);
    const alpha0 = this.anneal(Math.max(0, Math.min(1, (s - 1) / A)));
    const alpha = this.anneal(Math.max(0, Math.min(1, s / A)));
    return this.currentLrs().map((lr, g) => {
      const swa = this.swaLrs[g]!;
      const prev = alpha0 === 1 ? swa : (lr - alpha0 * swa) / (1 - alpha0);
      return swa * alpha + prev * (1 - alpha);
    });
  }

  protected override stateFields(): Record<string, FieldSpec> {
    return { ...super.stateFields(), swaLrs: 'groupNumbers', annealEpochs: 'number', annealStrategy: { oneOf: ['cos', 'linear'] } };
  }
}
