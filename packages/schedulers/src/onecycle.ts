import { InvalidOptionError, checkBoolean, checkInRange, checkInteger, checkNonNegative, checkOneOf, checkPositive } from '@opt/core';
import {
  type FieldSpec,
  LRScheduler,
  type LRSchedulerOptions,
  type SchedulableOptimizer,
  countGroups,
  perGroup,
} from './scheduler.js';

/** Options of {@link OneCycleLR}. */
export interface OneCycleLROptions extends LRSchedulerOptions {
  /** Peak lr, or one per group. */
  maxLr: number | readonly number[];
  /** Number of steps of the cycle; or give `epochs` and `stepsPerEpoch`. */
  totalSteps?: number;
  /** Epochs (with `stepsPerEpoch`) when `totalSteps` is not given. */
  epochs?: number;
  /** Steps per epoch (with `epochs`). */
  stepsPerEpoch?: number;
  /** Fraction of the cycle spent increasing the lr. Default 0.3. */
  pctStart?: number;
  /** Annealing shape. Default `'cos'`. */
  annealStrategy?: 'cos' | 'linear';
  /** Cycle `momentum` (or `betas[0]` for Adam-like optimizers) inversely to the lr. Default true. */
  cycleMomentum?: boolean;
  /** Momentum at the peak lr, or one per group. Default 0.85. */
  baseMomentum?: number | readonly number[];
  /** Momentum at the start and end, or one per group. Default 0.95. */
  maxMomentum?: number | readonly number[];
  /** Initial lr = maxLr / divFactor. Default 25. */
  divFactor?: number;
  /** Minimum lr = initial lr / finalDivFactor. Default 1e4. */
  finalDivFactor?: number;
  /** Three phases (up, back down to the initial lr, then annihilate) instead of two. Default false. */
  threePhase?: boolean;
}

type LrKey = 'initial' | 'max' | 'min';
type MomentumKey = 'max' | 'base';

interface Phase {
  endStep: number;
  startLr: LrKey;
  endLr: LrKey;
  startMomentum: MomentumKey;
  endMomentum: MomentumKey;
}

/**
 * The 1cycle policy (Smith & Topin, 2018), as `torch.optim.lr_scheduler.OneCycleLR`.
 * With `initial = maxLr/divFactor`, `min = initial/finalDivFactor` and N = totalSteps,
 * the phases end at steps (as floats) `pctStart·N − 1`, then `N − 1`
 * (three-phase: `pctStart·N − 1`, `2·pctStart·N − 2`, `N − 1`) and go
 * initial → max → min (three-phase: initial → max → initial → min). In the phase
 * [start, end] containing e (the last phase takes everything after it):
 *
 * ```
 * pct = (e − start)/(end − start)
 * cos:    end + (start − end)/2·(1 + cos(π·pct))
 * linear: (end − start)·pct + start
 * ```
 *
 * Momentum (SGD's `momentum`, or `betas[0]` when the optimizer has `betas`)
 * anneals max → base → max (three-phase: max → base → max → max).
 * `step()` may be called exactly N times (the last value extrapolates, pct > 1);
 * one more call throws an `InvalidOptionError` naming `totalSteps`.
 *
 * @example
 * ```ts
 * import { Parameter, SGD } from '@opt/core';
 * import { OneCycleLR } from '@opt/schedulers';
 * const opt = new SGD([new Parameter(new Float64Array([1]))], { lr: 0.1, momentum: 0.9 });
 * const sched = new OneCycleLR(opt, { maxLr: 1, totalSteps: 100 });
 * console.log(sched.getLastLr()); // [0.04]
 * ```
 */
export class OneCycleLR extends LRScheduler {
  /** Steps of the cycle. */
  totalSteps: number;
  /** Fraction of the cycle spent increasing. */
  pctStart: number;
  /** Annealing shape. */
  annealStrategy: 'cos' | 'linear';
  /** Three phases instead of two. */
  threePhase: boolean;
  /** Peak lrs, one per group. */
  maxLrs: number[];
  /** Final lrs, one per group. */
  minLrs: number[];
  /** Whether momentum is cycled. */
  cycleMomentum: boolean;
  /** Whether the cycled momentum is `betas[0]` (Adam-like optimizers) rather than `momentum`. */
  useBeta1: boolean;
  /** Momentum at the peak lr (null when not cycled). */
  baseMomentums: number[] | null;
  /** Momentum at the ends (null when not cycled). */
  maxMomentums: number[] | null;
  private phases: Phase[] = [];

  constructor(optimizer: SchedulableOptimizer, options: OneCycleLROptions) {
    const where = 'OneCycleLR';
    const n = countGroups(where, optimizer);
    let totalSteps: number;
    if (options.totalSteps !== undefined) {
      totalSteps = checkInteger(where, 'totalSteps', options.totalSteps, 1);
    } else if (options.epochs !== undefined || options.stepsPerEpoch !== undefined) {
      totalSteps = checkInteger(where, 'epochs', options.epochs, 1) * checkInteger(where, 'stepsPerEpoch', options.stepsPerEpoch, 1);
    } else {
      throw new InvalidOptionError('totalSteps', undefined, 'a positive integer, or epochs and stepsPerEpoch', where);
    }
    const pctStart = checkInRange(where, 'pctStart', options.pctStart ?? 0.3, 0, 1, '[]');
    const annealStrategy = checkOneOf(where, 'annealStrategy', options.annealStrategy ?? 'cos', ['cos', 'linear'] as const);
    const threePhase = checkBoolean(where, 'threePhase', options.threePhase ?? false);
    const divFactor = checkPositive(where, 'divFactor', options.divFactor ?? 25);
    const finalDivFactor = checkPositive(where, 'finalDivFactor', options.finalDivFactor ?? 1e4);
    const maxLrs = perGroup(where, 'maxLr', options.maxLr, n).map((v) => checkNonNegative(where, 'maxLr', v));
    const cycleMomentum = checkBoolean(where, 'cycleMomentum', options.cycleMomentum ?? true);
    const hasBetas = 'betas' in optimizer.defaults;
    if (cycleMomentum && !hasBetas && !('momentum' in optimizer.defaults)) {
      throw new InvalidOptionError('cycleMomentum', true, `false for ${optimizer.name}, which has neither momentum nor betas`, where);
    }
    const maxMomentums = cycleMomentum
      ? perGroup(where, 'maxMomentum', options.maxMomentum ?? 0.95, n).map((v) => checkNonNegative(where, 'maxMomentum', v))
      : null;
    const baseMomentums = cycleMomentum
      ? perGroup(where, 'baseMomentum', options.baseMomentum ?? 0.85, n).map((v) => checkNonNegative(where, 'baseMomentum', v))
      : null;
    const lastEpoch = options.lastEpoch ?? -1;
    const initialLrs = maxLrs.map((m) => m / divFactor);
    if (lastEpoch === -1) {
      const groups = optimizer.paramGroups as unknown as Array<Record<string, unknown>>;
      groups.forEach((group, g) => {
        // Unlike other schedulers, OneCycleLR overwrites initial_lr: its cycle defines the start.
        group.initialLr = initialLrs[g];
        if (maxMomentums !== null) {
          if (hasBetas) group.betas = [maxMomentums[g], ...(group.betas as number[]).slice(1)];
          else group.momentum = maxMomentums[g];
        }
      });
    }
    super(where, optimizer, options);
    this.totalSteps = totalSteps;
    this.pctStart = pctStart;
    this.annealStrategy = annealStrategy;
    this.threePhase = threePhase;
    this.maxLrs = maxLrs;
    this.minLrs = this.baseLrs.map((initial) => initial / finalDivFactor);
    this.cycleMomentum = cycleMomentum;
    this.useBeta1 = hasBetas;
    this.baseMomentums = baseMomentums;
    this.maxMomentums = maxMomentums;
    this.afterLoad();
    this.initialStep();
  }

  protected override afterLoad(): void {
    const N = this.totalSteps;
    const p = this.pctStart;
    this.phases = this.threePhase
      ? [
          { endStep: p * N - 1, startLr: 'initial', endLr: 'max', startMomentum: 'max', endMomentum: 'base' },
          { endStep: 2 * p * N - 2, startLr: 'max', endLr: 'initial', startMomentum: 'base', endMomentum: 'max' },
          { endStep: N - 1, startLr: 'initial', endLr: 'min', startMomentum: 'max', endMomentum: 'max' },
        ]
      : [
          { endStep: p * N - 1, startLr: 'initial', endLr: 'max', startMomentum: 'max', endMomentum: 'base' },
          { endStep: N - 1, startLr: 'max', endLr: 'min', startMomentum: 'base', endMomentum: 'max' },
        ];
  }

  private anneal(start: number, end: number, pct: number): number {
    if (this.annealStrategy === 'cos') return end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1);
    return (end - start) * pct + start;
  }

  private lrOf(key: LrKey, g: number): number {
    return key === 'initial' ? this.baseLrs[g]! : key === 'max' ? this.maxLrs[g]! : this.minLrs[g]!;
  }

  /** Advance one step (or jump to `epoch`); throws past `totalSteps` before changing anything. */
  override step(epoch?: number): void {
    const next = epoch ?? this.lastEpoch + 1;
    if (next > this.totalSteps) {
      throw new InvalidOptionError(
        'totalSteps',
        this.totalSteps,
        `at least ${next}: OneCycleLR was stepped ${next} times past its construction, but the cycle has ${this.totalSteps} steps`,
        this.name,
      );
    }
    super.step(epoch);
  }

  protected getLr(): number[] {
    const e = this.lastEpoch;
    const groups = this.groups;
    const lrs: number[] = [];
    for (let g = 0; g < groups.length; g++) {
      let start = 0;
      for (let i = 0; i < this.phases.length; i++) {
        const phase = this.phases[i]!;
        const end = phase.endStep;
        if (e <= end || i === this.phases.length - 1) {
          const pct = (e - start) / (end - start);
          lrs.push(this.anneal(this.lrOf(phase.startLr, g), this.lrOf(phase.endLr, g), pct));
          if (this.cycleMomentum && this.maxMomentums !== null && this.baseMomentums !== null) {
            const mom = (key: MomentumKey) => (key === 'max' ? this.maxMomentums![g]! : this.baseMomentums![g]!);
            const m = this.anneal(mom(phase.startMomentum), mom(phase.endMomentum), pct);
            const group = groups[g]!;
            // A fresh tuple: groups that did not override betas share the defaults' array.
            if (this.useBeta1) group.betas = [m, ...(group.betas as number[]).slice(1)];
            else group.momentum = m;
          }
          break;
        }
        start = end;
      }
    }
    return lrs;
  }

  protected override stateFields(): Record<string, FieldSpec> {
    return {
      ...super.stateFields(),
      totalSteps: 'number',
      pctStart: 'number',
      annealStrategy: { oneOf: ['cos', 'linear'] },
      threePhase: 'boolean',
      maxLrs: 'groupNumbers',
      minLrs: 'groupNumbers',
      cycleMomentum: 'boolean',
      useBeta1: 'boolean',
      baseMomentums: 'nullableGroupNumbers',
      maxMomentums: 'nullableGroupNumbers',
    };
  }
}
