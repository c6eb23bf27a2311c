import { InvalidOptionError, checkInRange, checkInteger, checkNonNegative, checkPositive } from '@opt/core';
import {
  type FieldSpec,
  LRScheduler,
  type LRSchedulerOptions,
  type SchedulableOptimizer,
  bisectRight,
  countGroups,
  perGroup,
} from './scheduler.js';

/** A multiplier as a function of the scheduler's `lastEpoch`. */
export type LrLambda = (epoch: number) => number;

function lambdas(where: string, value: unknown, groups: number): LrLambda[] {
  const list = perGroup<unknown>(where, 'lrLambda', value as unknown, groups);
  list.forEach((f, g) => {
    if (typeof f !== 'function') throw new InvalidOptionError(groups > 1 && Array.isArray(value) ? `lrLambda[${g}]` : 'lrLambda', f, 'a function (epoch) => number', where);
  });
  return list as LrLambda[];
}

/** Options of {@link LambdaLR}. */
export interface LambdaLROptions extends LRSchedulerOptions {
  /** The multiplier `f(epoch)`, or one per parameter group. */
  lrLambda: LrLambda | readonly LrLambda[];
}

/**
 * Sets each group's lr to its base lr times a function of the epoch, as
 * `torch.optim.lr_scheduler.LambdaLR` (not recursive):
 *
 * ```
 * lr_g = base_g · f_g(e)
 * ```
 *
 * The functions are not saved in state dicts (PyTorch saves only callable objects).
 *
 * @example
 * ```ts
 * import { Parameter, SGD } from '@opt/core';
 * import { LambdaLR } from '@opt/schedulers';
 * const opt = new SGD([new Parameter(new Float64Array([1]))], { lr: 0.1 });
 * const sched = new LambdaLR(opt, { lrLambda: (e) => Math.min(1, (e + 1) / 10) }); // linear warm-up
 * sched.step();
 * console.log(sched.getLastLr()); // [0.02]
 * ```
 */
export class LambdaLR extends LRScheduler {
  /** The multipliers, one per group. */
  lrLambdas: LrLambda[];

  constructor(optimizer: SchedulableOptimizer, options: LambdaLROptions) {
    const lrLambdas = lambdas('LambdaLR', options.lrLambda, countGroups('LambdaLR', optimizer));
    super('LambdaLR', optimizer, options);
    this.lrLambdas = lrLambdas;
    this.initialStep();
  }

  protected getLr(): number[] {
    return this.baseLrs.map((base, g) => base * this.lrLambdas[g]!(this.lastEpoch));
  }
}

/** Options of {@link MultiplicativeLR}. */
export interface MultiplicativeLROptions extends LRSchedulerOptions {
  /** The factor `f(epoch)` applied at each step, or one per parameter group. */
  lrLambda: LrLambda | readonly LrLambda[];
}

/**
 * Multiplies each group's lr by a function of the epoch at every step, as
 * `torch.optim.lr_scheduler.MultiplicativeLR` (recursive):
 *
 * ```
 * lr_g ← e > 0 ? lr_g · f_g(e) : lr_g
 * ```
 *
 * @example
 * ```ts
 * import { Parameter, SGD } from '@opt/core';
 * import { MultiplicativeLR } from '@opt/schedulers';
 * const opt = new SGD([new Parameter(new Float64Array([1]))], { lr: 0.1 });
 * const sched = new MultiplicativeLR(opt, { lrLambda: () => 0.95 });
 * sched.step();
 * console.log(sched.getLastLr()); // [0.095]
 * ```
 */
export class MultiplicativeLR extends LRScheduler {
  /** The factors, one per group. */
  lrLambdas: LrLambda[];

  constructor(optimizer: SchedulableOptimizer, options: MultiplicativeLROptions) {
    const lrLambdas = lambdas('MultiplicativeLR', options.lrLambda, countGroups('MultiplicativeLR', optimizer));
    super('MultiplicativeLR', optimizer, options);
    this.lrLambdas = lrLambdas;
    this.initialStep();
  }

  protected getLr(): number[] {
    const lrs = this.currentLrs();
    if (this.lastEpoch <= 0) return lrs;
    return lrs.map((lr, g) => lr * this.lrLambdas[g]!(this.lastEpoch));
  }
}

/** Options of {@link StepLR}. */
export interface StepLROptions extends LRSchedulerOptions {
  /** Period of the decay, in epochs (integer > 0). */
  stepSize: number;
  /** Multiplicative factor of the decay. Default 0.1. */
  gamma?: number;
}

/**
 * Decays each group's lr by `gamma` every `stepSize` epochs, as
 * `torch.optim.lr_scheduler.StepLR`:
 *
 * ```
 * recursive:    lr ← (e > 0 and e mod stepSize = 0) ? lr·γ : lr
 * closed form:  lr = base · γ^⌊e / stepSize⌋
 * ```
 *
 * @example
 * ```ts
 * import { Parameter, SGD } from '@opt/core';
 * import { StepLR } from '@opt/schedulers';
 * const opt = new SGD([new Parameter(new Float64Array([1]))], { lr: 0.1 });
 * const sched = new StepLR(opt, { stepSize: 2, gamma: 0.5 });
 * sched.step();
 * sched.step();
 * console.log(sched.getLastLr()); // [0.05]
 * ```
 */
export class StepLR extends LRScheduler {
  /** Period of the decay. */
  stepSize: number;
  /** Decay factor. */
  gamma: number;

  constructor(optimizer: SchedulableOptimizer, options: StepLROptions) {
    const stepSize = checkInteger('StepLR', 'stepSize', options.stepSize, 1);
    const gamma = checkNonNegative('StepLR', 'gamma', options.gamma ?? 0.1);
    super('StepLR', optimizer, options);
    this.stepSize = stepSize;
    this.gamma = gamma;
    this.initialStep();
  }

  protected getLr(): number[] {
    const lrs = this.currentLrs();
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return lrs;
    return lrs.map((lr) => lr * this.gamma);
  }

  protected override closedFormLr(): number[] {
    return this.baseLrs.map((base) => base * this.gamma ** Math.floor(this.lastEpoch / this.stepSize));
  }

  protected override stateFields(): Record<string, FieldSpec> {
    return { ...super.stateFields(), stepSize: 'number', gamma: 'number' };
  }
}

/** Options of {@link MultiStepLR}. */
export interface MultiStepLROptions extends LRSchedulerOptions {
  /** Epochs at which the lr is multiplied by `gamma`; a repeated milestone multiplies once per occurrence. */
  milestones: readonly number[];
  /** Multiplicative factor. Default 0.1. */
  gamma?: number;
}

/**
 * Decays each group's lr by `gamma` at each milestone, as
 * `torch.optim.lr_scheduler.MultiStepLR`:
 *
 * ```
 * recursive:    lr ← lr · γ^(number of milestones equal to e)
 * closed form:  lr = base · γ^(number of milestones ≤ e)
 * ```
 *
 * @example
 * ```ts
 * import { Parameter, SGD } from '@opt/core';
 * import { MultiStepLR } from '@opt/schedulers';
 * const opt = new SGD([new Parameter(new Float64Array([1]))], { lr: 1 });
 * const sched = new MultiStepLR(opt, { milestones: [1, 3], gamma: 0.5 });
 * sched.step();
 * console.log(sched.getLastLr()); // [0.5]
 * ```
 */
export class MultiStepLR extends LRScheduler {
  /** Milestones, sorted (repeats kept). */
  milestones: number[];
  /** Decay factor. */
  gamma: number;

  constructor(optimizer: SchedulableOptimizer, options: MultiStepLROptions) {
    if (!Array.isArray(options.milestones)) {
      throw new InvalidOptionError('milestones', options.milestones, 'a list of integer epochs', 'MultiStepLR');
    }
    const milestones = options.milestones.map((m, i) => checkInteger('MultiStepLR', `milestones[${i}]`, m, 0)).sort((a, b) => a - b);
    const gamma = checkNonNegative('MultiStepLR', 'gamma', options.gamma ?? 0.1);
    super('MultiStepLR', optimizer, options);
    this.milestones = milestones;
    this.gamma = gamma;
    this.initialStep();
  }

  protected getLr(): number[] {
    let count = 0;
    for (const m of this.milestones) if (m === this.lastEpoch) count++;
    const lrs = this.currentLrs();
    if (count === 0) return lrs;
    return lrs.map((lr) => lr * this.gamma ** count);
  }

  protected override closedFormLr(): number[] {
    const n = bisectRight(this.milestones, this.lastEpoch);
    return this.baseLrs.map((base) => base * this.gamma ** n);
  }

  protected override stateFields(): Record<string, FieldSpec> {
    return { ...super.stateFields(), milestones: 'numbers', gamma: 'number' };
  }
}

/** Options of {@link ConstantLR}. */
export interface ConstantLROptions extends LRSchedulerOptions {
  /** The factor applied until `totalIters`, in (0, 1]. Default 1/3. */
  factor?: number;
  /** Number of epochs the factor applies. Default 5. */
  totalIters?: number;
}

/**
 * Multiplies the lr by a constant factor until `totalIters` epochs, as
 * `torch.optim.lr_scheduler.ConstantLR`:
 *
 * ```
 * recursive:    e = 0: lr·factor;  e = totalIters: lr·(1/factor);  otherwise lr
 * closed form:  lr = base · (e ≥ totalIters ? 1 : factor)
 * ```
 *
 * @example
 * ```ts
 * import { Parameter, SGD } from '@opt/core';
 * import { ConstantLR } from '@opt/schedulers';
 * const opt = new SGD([new Parameter(new Float64Array([1]))], { lr: 0.1 });
 * const sched = new ConstantLR(opt, { factor: 0.5, totalIters: 2 });
 * console.log(sched.getLastLr()); // [0.05]
 * ```
 */
export class ConstantLR extends LRScheduler {
  /** The factor. */
  factor: number;
  /** Epochs during which the factor applies. */
  totalIters: number;

  constructor(optimizer: SchedulableOptimizer, options: ConstantLROptions = {}) {
    const factor = checkInRange('ConstantLR', 'factor', options.factor ?? 1 / 3, 0, 1, '(]');
    const totalIters = checkInteger('ConstantLR', 'totalIters', options.totalIters ?? 5, 0);
    super('ConstantLR', optimizer, options);
    this.factor = factor;
    this.totalIters = totalIters;
    this.initialStep();
  }

  protected getLr(): number[] {
    const lrs = this.currentLrs();
    if (this.lastEpoch === 0) return lrs.map((lr) => lr * this.factor);
    if (this.lastEpoch !== this.totalIters) return lrs;
    // PyTorch multiplies by the reciprocal rather than dividing; kept for last-ulp agreement.
    return lrs.map((lr) => lr * (1 / this.factor));
  }

  protected override closedFormLr(): number[] {
    const on = this.lastEpoch >= this.totalIters ? 1 : 0;
    return this.baseLrs.map((base) => base * (this.factor + on * (1 - this.factor)));
  }

  protected override stateFields(): Record<string, FieldSpec> {
    return { ...super.stateFields(), factor: 'number', totalIters: 'number' };
  }
}

/** Options of {@link LinearLR}. */
export interface LinearLROptions extends LRSchedulerOptions {
  /** Factor at epoch 0, in (0, 1]. Default 1/3. */
  startFactor?: number;
  /** Factor from `totalIters` on, in [0, 1]. Default 1. */
  endFactor?: number;
  /** Number of epochs of the linear change. Default 5. */
  totalIters?: number;
}

/**
 * Changes each group's lr linearly from `base·startFactor` to `base·endFactor`
 * over `totalIters` epochs, as `torch.optim.lr_scheduler.LinearLR`
 * (s = startFactor, d = endFactor − startFactor, T = totalIters):
 *
 * ```
 * recursive:    e = 0: lr·s;  0 < e ≤ T: lr·(1 + d / (T·s + (e − 1)·d));  e > T: lr
 * closed form:  lr = base · (s + d·min(T, e)/T)
 * ```
 *
 * @example
 * ```ts
 * import { Parameter, SGD } from '@opt/core';
 * import { LinearLR } from '@opt/schedulers';
 * const opt = new SGD([new Parameter(new Float64Array([1]))], { lr: 0.1 });
 * const sched = new LinearLR(opt, { startFactor: 0.5, totalIters: 2 });
 * sched.step();
 * console.log(sched.getLastLr()); // [0.075]
 * ```
 */
export class LinearLR extends LRScheduler {
  /** Start factor. */
  startFactor: number;
  /** End factor. */
  endFactor: number;
  /** Length of the ramp. */
  totalIters: number;

  constructor(optimizer: SchedulableOptimizer, options: LinearLROptions = {}) {
    const startFactor = checkInRange('LinearLR', 'startFactor', options.startFactor ?? 1 / 3, 0, 1, '(]');
    const endFactor = checkInRange('LinearLR', 'endFactor', options.endFactor ?? 1, 0, 1, '[]');
    const totalIters = checkInteger('LinearLR', 'totalIters', options.totalIters ?? 5, 1);
    super('LinearLR', optimizer, options);
    this.startFactor = startFactor;
    this.endFactor = endFactor;
    this.totalIters = totalIters;
    this.initialStep();
  }

  protected getLr(): number[] {
    const lrs = this.currentLrs();
    const e = this.lastEpoch;
    if (e === 0) return lrs.map((lr) => lr * this.startFactor);
    if (e > this.totalIters) return lrs;
    const d = this.endFactor - this.startFactor;
    const ratio = 1 + d / (this.totalIters * this.startFactor + (e - 1) * d);
    return lrs.map((lr) => lr * ratio);
  }

  protected override closedFormLr(): number[] {
    const d = this.endFactor - this.startFactor;
    return this.baseLrs.map((base) => base * (this.startFactor + (d * Math.min(this.totalIters, this.lastEpoch)) / this.totalIters));
  }

  protected override stateFields(): Record<string, FieldSpec> {
    return { ...super.stateFields(), startFactor: 'number', endFactor: 'number', totalIters: 'number' };
  }
}

/** Options of {@link ExponentialLR}. */
export interface ExponentialLROptions extends LRSchedulerOptions {
  /** Multiplicative factor per epoch (≥ 0). */
  gamma: number;
}

/**
 * Decays each group's lr by `gamma` every epoch, as `torch.optim.lr_scheduler.ExponentialLR`:
 *
 * ```
 * recursive:    lr ← e > 0 ? lr·γ : lr
 * closed form:  lr = base · γ^e
 * ```
 *
 * @example
 * ```ts
 * import { Parameter, SGD } from '@opt/core';
 * import { ExponentialLR } from '@opt/schedulers';
 * const opt = new SGD([new Parameter(new Float64Array([1]))], { lr: 0.1 });
 * const sched = new ExponentialLR(opt, { gamma: 0.5 });
 * sched.step();
 * console.log(sched.getLastLr()); // [0.05]
 * ```
 */
export class ExponentialLR extends LRScheduler {
  /** Decay factor. */
  gamma: number;

  constructor(optimizer: SchedulableOptimizer, options: ExponentialLROptions) {
    const gamma = checkNonNegative('ExponentialLR', 'gamma', options.gamma);
    super('ExponentialLR', optimizer, options);
    this.gamma = gamma;
    this.initialStep();
  }

  protected getLr(): number[] {
    const lrs = this.currentLrs();
    if (this.lastEpoch === 0) return lrs;
    return lrs.map((lr) => lr * this.gamma);
  }

  protected override closedFormLr(): number[] {
    return this.baseLrs.map((base) => base * this.gamma ** this.lastEpoch);
  }

  protected override stateFields(): Record<string, FieldSpec> {
    return { ...super.stateFields(), gamma: 'number' };
  }
}

/** Options of {@link PolynomialLR}. */
export interface PolynomialLROptions extends LRSchedulerOptions {
  /** Number of epochs until the lr reaches 0. Default 5. */
  totalIters?: number;
  /** Power of the polynomial. Default 1. */
  power?: number;
}

/**
 * Decays each group's lr to 0 over `totalIters` epochs with a polynomial, as
 * `torch.optim.lr_scheduler.PolynomialLR` (T = totalIters, p = power):
 *
 * ```
 * recursive:    0 < e ≤ T: lr · ((1 − e/T) / (1 − (e − 1)/T))^p;  otherwise lr
 * closed form:  lr = base · (1 − min(T, e)/T)^p
 * ```
 *
 * @example
 * ```ts
 * import { Parameter, SGD } from '@opt/core';
 * import { PolynomialLR } from '@opt/schedulers';
 * const opt = new SGD([new Parameter(new Float64Array([1]))], { lr: 0.1 });
 * const sched = new PolynomialLR(opt, { totalIters: 4, power: 2 });
 * sched.step();
 * console.log(sched.getLastLr()); // [0.05625]
 * ```
 */
export class PolynomialLR extends LRScheduler {
  /** Length of the decay. */
  totalIters: number;
  /** Power of the polynomial. */
  power: number;

  constructor(optimizer: SchedulableOptimizer, options: PolynomialLROptions = {}) {
    const totalIters = checkInteger('PolynomialLR', 'totalIters', options.totalIters ?? 5, 1);
    const power = checkPositive('PolynomialLR', 'power', options.power ?? 1);
    super('PolynomialLR', optimizer, options);
    this.totalIters = totalIters;
    this.power = power;
    this.initialStep();
  }

  protected getLr(): number[] {
    const lrs = this.currentLrs();
    const e = this.lastEpoch;
    if (e === 0 || e > this.totalIters) return lrs;
    const factor = ((1 - e / this.totalIters) / (1 - (e - 1) / this.totalIters)) ** this.power;
    return lrs.map((lr) => lr * factor);
  }

  protected override closedFormLr(): number[] {
    return this.baseLrs.map((base) => base * (1 - Math.min(this.totalIters, this.lastEpoch) / this.totalIters) ** this.power);
  }

  protected override stateFields(): Record<string, FieldSpec> {
    return { ...super.stateFields(), totalIters: 'number', power: 'number' };
  }
}
