import { InvalidOptionError, type Schedule, checkFinite, checkInRange, checkNonNegative, checkOneOf, checkPositive } from '@opt/core';
import {
  type FieldSpec,
  LRScheduler,
  type LRSchedulerOptions,
  type SchedulableOptimizer,
  type StatefulScheduler,
} from './scheduler.js';
import { type WsdDecayShape, inverseSqrtSchedule, polynomialSchedule, warmupCosineDecaySchedule, wsdSchedule } from './schedules.js';

/**
 * Base of the closed-form schedulers below: each group's lr is a pure function
 * of `lastEpoch` built from the group's base lr (so `step(epoch)` jumps exactly).
 * The per-group functions are rebuilt from the saved fields after a state-dict load.
 */
abstract class ClosedFormLR extends LRScheduler {
  private perGroup: Schedule[] = [];

  /** The lr schedule of a group whose base lr is `base`. */
  protected abstract build(base: number): Schedule;

  protected override afterLoad(): void {
    this.perGroup = this.baseLrs.map((base) => this.build(base));
  }

  protected getLr(): number[] {
    if (this.perGroup.length !== this.baseLrs.length) this.afterLoad();
    return this.perGroup.map((f) => f(this.lastEpoch));
  }
}

function warmupFields(where: string, warmupSteps: unknown, startFactor: unknown): { warmupSteps: number; startFactor: number } {
  return {
    warmupSteps: checkNonNegative(where, 'warmupSteps', warmupSteps),
    startFactor: checkInRange(where, 'startFactor', startFactor, 0, 1, '[]'),
  };
}

function checkTotal(where: string, totalSteps: unknown, warmupSteps: number): number {
  const total = checkFinite(where, 'totalSteps', totalSteps);
  if (total <= warmupSteps) throw new InvalidOptionError('totalSteps', total, `a number > warmupSteps (${warmupSteps})`, where);
  return total;
}

/** Options of {@link WarmupCosineLR}. */
export interface WarmupCosineLROptions extends LRSchedulerOptions {
  /** Steps of the linear warm-up (≥ 0). */
  warmupSteps: number;
  /** Total steps, warm-up included (> warmupSteps); the lr stays at `etaMin` afterwards. */
  totalSteps: number;
  /** Fraction of the base lr at step 0, in [0, 1]. Default 0. */
  startFactor?: number;
  /** Final lr. Default 0. */
  etaMin?: number;
}

/**
 * Linear warm-up then cosine decay, the usual recipe for transformers and
 * vision models, with W = warmupSteps, T = totalSteps, s = startFactor:
 *
 * ```
 * e < W:  lr = base·(s + (1 − s)·e/W)
 * e ≥ W:  lr = η_min + (base − η_min)·(1 + cos(π·min(1, (e − W)/(T − W))))/2
 * ```
 *
 * @example
 * ```ts
 * import { AdamW, Parameter } from '@opt/core';
 * import { WarmupCosineLR } from '@opt/schedulers';
 * const opt = new AdamW([new Parameter(new Float32Array(4))], { lr: 1e-3 });
 * const sched = new WarmupCosineLR(opt, { warmupSteps: 100, totalSteps: 1000 });
 * for (let i = 0; i < 100; i++) sched.step();
 * console.log(sched.getLastLr()); // [0.001]
 * ```
 */
export class WarmupCosineLR extends ClosedFormLR {
  /** Warm-up length. */
  warmupSteps: number;
  /** Total length. */
  totalSteps: number;
  /** Start factor of the warm-up. */
  startFactor: number;
  /** Final lr. */
  etaMin: number;

  constructor(optimizer: SchedulableOptimizer, options: WarmupCosineLROptions) {
    const where = 'WarmupCosineLR';
    const { warmupSteps, startFactor } = warmupFields(where, options.warmupSteps, options.startFactor ?? 0);
    const totalSteps = checkTotal(where, options.totalSteps, warmupSteps);
    const etaMin = checkNonNegative(where, 'etaMin', options.etaMin ?? 0);
    super(where, optimizer, options);
    this.warmupSteps = warmupSteps;
    this.totalSteps = totalSteps;
    this.startFactor = startFactor;
    this.etaMin = etaMin;
    this.initialStep();
  }

  protected build(base: number): Schedule {
    return warmupCosineDecaySchedule({
      initValue: base * this.startFactor,
      peakValue: base,
      warmupSteps: this.warmupSteps,
      decaySteps: this.totalSteps,
      endValue: this.etaMin,
    });
  }

  protected override stateFields(): Record<string, FieldSpec> {
    return { ...super.stateFields(), warmupSteps: 'number', totalSteps: 'number', startFactor: 'number', etaMin: 'number' };
  }
}

/** Options of {@link InverseSqrtLR}. */
export interface InverseSqrtLROptions extends LRSchedulerOptions {
  /** Steps of the linear warm-up (> 0). */
  warmupSteps: number;
  /** Fraction of the base lr at step 0, in [0, 1]. Default 0. */
  startFactor?: number;
}

/**
 * The Transformer's inverse-square-root schedule (Vaswani et al., 2017), peaking
 * at the base lr at the end of the warm-up (W = warmupSteps, s = startFactor):
 *
 * ```
 * e < W:  lr = base·(s + (1 − s)·e/W)
 * e ≥ W:  lr = base·√(W/e)
 * ```
 *
 * @example
 * ```ts
 * import { Adam, Parameter } from '@opt/core';
 * import { InverseSqrtLR } from '@opt/schedulers';
 * const opt = new Adam([new Parameter(new Float32Array(4))], { lr: 1e-3 });
 * const sched = new InverseSqrtLR(opt, { warmupSteps: 4 });
 * for (let i = 0; i < 16; i++) sched.step();
 * console.log(sched.getLastLr()); // [0.0005]
 * ```
 */
export class InverseSqrtLR extends ClosedFormLR {
  /** Warm-up length. */
  warmupSteps: number;
  /** Start factor of the warm-up. */
  startFactor: number;

  constructor(optimizer: SchedulableOptimizer, options: InverseSqrtLROptions) {
    const where = 'InverseSqrtLR';
    const warmupSteps = checkPositive(where, 'warmupSteps', options.warmupSteps);
    const startFactor = checkInRange(where, 'startFactor', options.startFactor ?? 0, 0, 1, '[]');
    super(where, optimizer, options);
    this.warmupSteps = warmupSteps;
    this.startFactor = startFactor;
    this.initialStep();
  }

  protected build(base: number): Schedule {
    return inverseSqrtSchedule({ peakValue: base, warmupSteps: this.warmupSteps, initValue: base * this.startFactor });
  }

  protected override stateFields(): Record<string, FieldSpec> {
    return { ...super.stateFields(), warmupSteps: 'number', startFactor: 'number' };
  }
}

/** Options of {@link WarmupPolynomialLR}. */
export interface WarmupPolynomialLROptions extends LRSchedulerOptions {
  /** Steps of the linear warm-up (≥ 0). */
  warmupSteps: number;
  /** Total steps, warm-up included (> warmupSteps). */
  totalSteps: number;
  /** Power of the decay. Default 1. */
  power?: number;
  /** Fraction of the base lr at step 0, in [0, 1]. Default 0. */
  startFactor?: number;
  /** Final lr. Default 0. */
  endLr?: number;
}

/**
 * Linear warm-up then polynomial decay to `endLr` (BERT's schedule with power 1),
 * with W = warmupSteps, T = totalSteps, s = startFactor, p = power:
 *
 * ```
 * e < W:  lr = base·(s + (1 − s)·e/W)
 * e ≥ W:  lr = endLr + (base − endLr)·(1 − min(1, (e − W)/(T − W)))^p
 * ```
 *
 * @example
 * ```ts
 * import { Parameter, SGD } from '@opt/core';
 * import { WarmupPolynomialLR } from '@opt/schedulers';
 * const opt = new SGD([new Parameter(new Float64Array([1]))], { lr: 0.1 });
 * const sched = new WarmupPolynomialLR(opt, { warmupSteps: 10, totalSteps: 110, power: 2 });
 * for (let i = 0; i < 60; i++) sched.step();
 * console.log(sched.getLastLr()); // [0.025]
 * ```
 */
export class WarmupPolynomialLR extends ClosedFormLR {
  /** Warm-up length. */
  warmupSteps: number;
  /** Total length. */
  totalSteps: number;
  /** Power of the decay. */
  power: number;
  /** Start factor of the warm-up. */
  startFactor: number;
  /** Final lr. */
  endLr: number;

  constructor(optimizer: SchedulableOptimizer, options: WarmupPolynomialLROptions) {
    const where = 'WarmupPolynomialLR';
    const { warmupSteps, startFactor } = warmupFields(where, options.warmupSteps, options.startFactor ?? 0);
    const totalSteps = checkTotal(where, options.totalSteps, warmupSteps);
    const power = checkPositive(where, 'power', options.power ?? 1);
    const endLr = checkNonNegative(where, 'endLr', options.endLr ?? 0);
    super(where, optimizer, options);
    this.warmupSteps = warmupSteps;
    this.totalSteps = totalSteps;
    this.power = power;
    this.startFactor = startFactor;
    this.endLr = endLr;
    this.initialStep();
  }

  protected build(base: number): Schedule {
    const W = this.warmupSteps;
    const s = this.startFactor;
    const decay = polynomialSchedule({ initValue: base, endValue: this.endLr, power: this.power, transitionSteps: this.totalSteps - W, transitionBegin: W });
    return (e) => (e < W ? base * (s + ((1 - s) * Math.max(e, 0)) / W) : decay(e));
  }

  protected override stateFields(): Record<string, FieldSpec> {
    return { ...super.stateFields(), warmupSteps: 'number', totalSteps: 'number', power: 'number', startFactor: 'number', endLr: 'number' };
  }
}

/** Options of {@link WarmupStableDecayLR}. */
export interface WarmupStableDecayLROptions extends LRSchedulerOptions {
  /** Steps of the linear warm-up (≥ 0). */
  warmupSteps: number;
  /** Steps at the base lr (≥ 0). */
  stableSteps: number;
  /** Steps of the final decay (> 0). */
  decaySteps: number;
  /** Fraction of the base lr at step 0, in [0, 1]. Default 0. */
  startFactor?: number;
  /** Final lr. Default 0. */
  etaMin?: number;
  /** Shape of the decay. Default `'linear'`. */
  decayShape?: WsdDecayShape;
}

/**
 * Warm-up–stable–decay (WSD; Hu et al., 2024; Hägele et al., 2024) on every
 * group's base lr; see {@link wsdSchedule} for the formula (peak = base,
 * init = base·startFactor, end = etaMin).
 *
 * @example
 * ```ts
 * import { Parameter, SGD } from '@opt/core';
 * import { WarmupStableDecayLR } from '@opt/schedulers';
 * const opt = new SGD([new Parameter(new Float64Array([1]))], { lr: 0.1 });
 * const sched = new WarmupStableDecayLR(opt, { warmupSteps: 5, stableSteps: 90, decaySteps: 5, decayShape: '1-sqrt' });
 * for (let i = 0; i < 50; i++) sched.step();
 * console.log(sched.getLastLr()); // [0.1]
 * ```
 */
export class WarmupStableDecayLR extends ClosedFormLR {
  /** Warm-up length. */
  warmupSteps: number;
  /** Stable length. */
  stableSteps: number;
  /** Decay length. */
  decaySteps: number;
  /** Start factor of the warm-up. */
  startFactor: number;
  /** Final lr. */
  etaMin: number;
  /** Decay shape. */
  decayShape: WsdDecayShape;

  constructor(optimizer: SchedulableOptimizer, options: WarmupStableDecayLROptions) {
    const where = 'WarmupStableDecayLR';
    const { warmupSteps, startFactor } = warmupFields(where, options.warmupSteps, options.startFactor ?? 0);
    const stableSteps = checkNonNegative(where, 'stableSteps', options.stableSteps);
    const decaySteps = checkPositive(where, 'decaySteps', options.decaySteps);
    const etaMin = checkNonNegative(where, 'etaMin', options.etaMin ?? 0);
    const decayShape = checkOneOf(where, 'decayShape', options.decayShape ?? 'linear', ['linear', 'cosine', '1-sqrt'] as const);
    super(where, optimizer, options);
    this.warmupSteps = warmupSteps;
    this.stableSteps = stableSteps;
    this.decaySteps = decaySteps;
    this.startFactor = startFactor;
    this.etaMin = etaMin;
    this.decayShape = decayShape;
    this.initialStep();
  }

  protected build(base: number): Schedule {
    return wsdSchedule({
      peakValue: base,
      warmupSteps: this.warmupSteps,
      stableSteps: this.stableSteps,
      decaySteps: this.decaySteps,
      initValue: base * this.startFactor,
      endValue: this.etaMin,
      decayShape: this.decayShape,
    });
  }

  protected override stateFields(): Record<string, FieldSpec> {
    return {
      ...super.stateFields(),
      warmupSteps: 'number',
      stableSteps: 'number',
      decaySteps: 'number',
      startFactor: 'number',
      etaMin: 'number',
      decayShape: { oneOf: ['linear', 'cosine', '1-sqrt'] },
    };
  }
}

/** Options of {@link LinearWarmup}. */
export interface LinearWarmupOptions extends LRSchedulerOptions {
  /** Steps of the linear warm-up (integer ≥ 0). */
  warmupSteps: number;
  /** Fraction of the base lr at step 0, in [0, 1]. Default 0. */
  startFactor?: number;
  /**
   * What runs after the warm-up: a scheduler built on the same optimizer
   * (it takes over at `warmupSteps` as with SequentialLR: `step(0)` then `step()`),
   * or a multiplier schedule of the steps since the warm-up (`lr = base·then(e − W)`).
   * Default: the base lr.
   */
  then?: LRScheduler | Schedule;
}

/**
 * Adds a linear warm-up in front of any scheduler or multiplier schedule
 * (W = warmupSteps, s = startFactor):
 *
 * ```
 * e < W:  lr = base·(s + (1 − s)·e/W)
 * e ≥ W:  the wrapped scheduler, started at epoch 0 when e = W; or base·then(e − W)
 * ```
 *
 * Unlike LinearLR it may start from 0 (`startFactor: 0`). A wrapped scheduler's
 * construction step is undone, as SequentialLR does, and its state is saved in
 * this scheduler's state dict.
 *
 * @example
 * ```ts
 * import { Parameter, SGD } from '@opt/core';
 * import { CosineAnnealingLR, LinearWarmup } from '@opt/schedulers';
 * const opt = new SGD([new Parameter(new Float64Array([1]))], { lr: 0.1 });
 * const sched = new LinearWarmup(opt, { warmupSteps: 10, then: new CosineAnnealingLR(opt, { tMax: 90 }) });
 * for (let i = 0; i < 5; i++) sched.step();
 * console.log(sched.getLastLr()); // [0.05]
 * ```
 */
export class LinearWarmup extends LRScheduler {
  /** Warm-up length. */
  warmupSteps: number;
  /** Start factor of the warm-up. */
  startFactor: number;
  /** The wrapped scheduler or multiplier schedule, if any. */
  readonly then: LRScheduler | Schedule | undefined;

  constructor(optimizer: SchedulableOptimizer, options: LinearWarmupOptions) {
    const where = 'LinearWarmup';
    const warmupSteps = checkNonNegative(where, 'warmupSteps', options.warmupSteps);
    if (!Number.isInteger(warmupSteps)) throw new InvalidOptionError('warmupSteps', warmupSteps, 'an integer >= 0', where);
    const startFactor = checkInRange(where, 'startFactor', options.startFactor ?? 0, 0, 1, '[]');
    const then = options.then;
    if (then !== undefined && typeof then !== 'function' && !(then instanceof LRScheduler)) {
      throw new InvalidOptionError('then', then, 'an LRScheduler or a schedule function', where);
    }
    if (then instanceof LRScheduler && then.optimizer !== optimizer) {
      throw new InvalidOptionError('then', then.name, 'a scheduler built on the same optimizer', where);
    }
    super(where, optimizer, options);
    this.warmupSteps = warmupSteps;
    this.startFactor = startFactor;
    this.then = then;
    if (then instanceof LRScheduler) {
      for (const group of this.groups) group.lr = group.initialLr;
      then.lastEpoch -= 1;
    }
    this.initialStep();
  }

  private warm(e: number): number[] {
    const f = this.startFactor + ((1 - this.startFactor) * e) / this.warmupSteps;
    return this.baseLrs.map((base) => base * f);
  }

  protected getLr(): number[] {
    const e = this.lastEpoch;
    if (e < this.warmupSteps) return this.warm(Math.max(e, 0));
    const then = this.then;
    if (typeof then === 'function') return this.baseLrs.map((base) => base * then(e - this.warmupSteps));
    return [...this.baseLrs];
  }

  /** Advance one step; `step(epoch)` is accepted only when no scheduler is wrapped. */
  override step(epoch?: number): void {
    const then = this.then;
    if (!(then instanceof LRScheduler)) {
      super.step(epoch);
      return;
    }
    if (epoch !== undefined) {
      throw new InvalidOptionError('epoch', epoch, 'no argument when LinearWarmup wraps a scheduler', this.name);
    }
    this.checkOptimizer();
    this.stepCount += 1;
    this.lastEpoch += 1;
    const e = this.lastEpoch;
    if (e < this.warmupSteps) {
      this.writeLrs(this.warm(e));
      return;
    }
    if (e === this.warmupSteps) then.step(0);
    else then.step();
    this.lastLr = then.getLastLr();
  }

  protected override stateFields(): Record<string, FieldSpec> {
    return { ...super.stateFields(), warmupSteps: 'number', startFactor: 'number' };
  }

  protected override childSchedulers(): StatefulScheduler[] {
    return this.then instanceof LRScheduler ? [this.then] : [];
  }
}
