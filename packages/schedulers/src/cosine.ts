import { InvalidOptionError, checkFinite, checkInteger, checkNonNegative, checkPositive } from '@opt/core';
import { type FieldSpec, LRScheduler, type LRSchedulerOptions, type SchedulableOptimizer } from './scheduler.js';

/** Options of {@link CosineAnnealingLR}. */
export interface CosineAnnealingLROptions extends LRSchedulerOptions {
  /** Half period of the cosine, in epochs (> 0). */
  tMax: number;
  /** Minimum lr. Default 0. */
  etaMin?: number;
}

/**
 * Cosine annealing from each group's base lr to `etaMin` over `tMax` epochs,
 * as `torch.optim.lr_scheduler.CosineAnnealingLR`, in PyTorch's recursive form
 * (so it composes inside ChainedScheduler with other multiplicative schedulers):
 *
 * ```
 * e = 0:                          lr
 * (e − 1 − T) mod 2T = 0:         lr + (base − η_min)·(1 − cos(π/T))/2
 * otherwise:                      η_min + (lr − η_min)·(1 + cos(πe/T)) / (1 + cos(π(e − 1)/T))
 * closed form (step(epoch)):      η_min + (base − η_min)·(1 + cos(πe/T))/2
 * ```
 *
 * Past `tMax` the lr rises again (period 2T), as in PyTorch.
 *
 * @example
 * ```ts
 * import { Parameter, SGD } from '@opt/core';
 * import { CosineAnnealingLR } from '@opt/schedulers';
 * const opt = new SGD([new Parameter(new Float64Array([1]))], { lr: 0.1 });
 * const sched = new CosineAnnealingLR(opt, { tMax: 2 });
 * sched.step();
 * console.log(sched.getLastLr()); // [0.05] (up to rounding)
 * ```
 */
export class CosineAnnealingLR extends LRScheduler {
  /** Half period. */
  tMax: number;
  /** Minimum lr. */
  etaMin: number;

  constructor(optimizer: SchedulableOptimizer, options: CosineAnnealingLROptions) {
    const tMax = checkPositive('CosineAnnealingLR', 'tMax', options.tMax);
    const etaMin = checkNonNegative('CosineAnnealingLR', 'etaMin', options.etaMin ?? 0);
    super('CosineAnnealingLR', optimizer, options);
    this.tMax = tMax;
    this.etaMin = etaMin;
    this.initialStep();
  }

  protected getLr(): number[] {
    const e = this.lastEpoch;
    const T = this.tMax;
    const lrs = this.currentLrs();
    if (e === 0) return lrs;
    // Constructed with lastEpoch ≥ 0: there is no previous lr to recurse from.
    if (this.stepCount === 1 && e > 0) return this.closedForm();
    if ((e - 1 - T) % (2 * T) === 0) {
      return lrs.map((lr, g) => lr + ((this.baseLrs[g]! - this.etaMin) * (1 - Math.cos(Math.PI / T))) / 2);
    }
    const ratio = (1 + Math.cos((Math.PI * e) / T)) / (1 + Math.cos((Math.PI * (e - 1)) / T));
    return lrs.map((lr) => ratio * (lr - this.etaMin) + this.etaMin);
  }

  private closedForm(): number[] {
    const c = 1 + Math.cos((Math.PI * this.lastEpoch) / this.tMax);
    return this.baseLrs.map((base) => this.etaMin + ((base - this.etaMin) * c) / 2);
  }

  protected override closedFormLr(): number[] {
    return this.closedForm();
  }

  protected override stateFields(): Record<string, FieldSpec> {
    return { ...super.stateFields(), tMax: 'number', etaMin: 'number' };
  }
}

/** Options of {@link CosineAnnealingWarmRestarts}. */
export interface CosineAnnealingWarmRestartsOptions extends LRSchedulerOptions {
  /** Length of the first period, in epochs (integer > 0). */
  t0: number;
  /** Factor by which each period is longer than the previous one (integer ≥ 1). Default 1. */
  tMult?: number;
  /** Minimum lr. Default 0. */
  etaMin?: number;
}

/**
 * SGDR (Loshchilov & Hutter, 2017): cosine annealing with warm restarts, as
 * `torch.optim.lr_scheduler.CosineAnnealingWarmRestarts`:
 *
 * ```
 * lr = η_min + (base − η_min)·(1 + cos(π·T_cur/T_i))/2
 * step():       T_cur ← T_cur + 1; if T_cur ≥ T_i: T_cur ← T_cur − T_i, T_i ← T_i·T_mult
 * step(epoch):  epoch < T_0: T_i = T_0, T_cur = epoch
 *               T_mult = 1:  T_cur = epoch mod T_0
 *               else n = the restart count, T_cur = epoch − T_0·(T_mult^n − 1)/(T_mult − 1), T_i = T_0·T_mult^n
 * ```
 *
 * `step(epoch)` accepts fractional epochs (call it once per batch with
 * `epoch + batch/batches`).
 *
 * @example
 * ```ts
 * import { Parameter, SGD } from '@opt/core';
 * import { CosineAnnealingWarmRestarts } from '@opt/schedulers';
 * const opt = new SGD([new Parameter(new Float64Array([1]))], { lr: 0.1 });
 * const sched = new CosineAnnealingWarmRestarts(opt, { t0: 10, tMult: 2 });
 * sched.step(5.5);
 * console.log(sched.getLastLr());
 * ```
 */
export class CosineAnnealingWarmRestarts extends LRScheduler {
  /** First period. */
  t0: number;
  /** Current period. */
  tI: number;
  /** Period growth factor. */
  tMult: number;
  /** Minimum lr. */
  etaMin: number;
  /** Epochs since the last restart (may be fractional). */
  tCur: number;

  constructor(optimizer: SchedulableOptimizer, options: CosineAnnealingWarmRestartsOptions) {
    const t0 = checkInteger('CosineAnnealingWarmRestarts', 't0', options.t0, 1);
    const tMult = checkInteger('CosineAnnealingWarmRestarts', 'tMult', options.tMult ?? 1, 1);
    const etaMin = checkNonNegative('CosineAnnealingWarmRestarts', 'etaMin', options.etaMin ?? 0);
    super('CosineAnnealingWarmRestarts', optimizer, options);
    this.t0 = t0;
    this.tI = t0;
    this.tMult = tMult;
    this.etaMin = etaMin;
    this.tCur = this.lastEpoch;
    this.initialStep();
  }

  protected getLr(): number[] {
    const c = 1 + Math.cos((Math.PI * this.tCur) / this.tI);
    return this.baseLrs.map((base) => this.etaMin + ((base - this.etaMin) * c) / 2);
  }

  /** Advance one epoch, or jump to a (possibly fractional) `epoch ≥ 0`. */
  override step(epoch?: number): void {
    this.checkOptimizer();
    let target = epoch;
    if (target === undefined && this.lastEpoch < 0) target = 0;
    if (target === undefined) {
      target = this.lastEpoch + 1;
      this.tCur += 1;
      if (this.tCur >= this.tI) {
        this.tCur -= this.tI;
        this.tI *= this.tMult;
      }
    } else {
      checkFinite(this.name, 'epoch', target);
      if (target < 0) throw new InvalidOptionError('epoch', target, 'a number >= 0', this.name);
      if (target >= this.t0) {
        if (this.tMult === 1) {
          this.tCur = target % this.t0;
        } else {
          const n = restartsBefore(target, this.t0, this.tMult);
          this.tCur = target - (this.t0 * (this.tMult ** n - 1)) / (this.tMult - 1);
          this.tI = this.t0 * this.tMult ** n;
        }
      } else {
        this.tI = this.t0;
        this.tCur = target;
      }
    }
    this.lastEpoch = Math.floor(target);
    this.stepCount += 1;
    this.writeLrs(this.getLr());
  }

  protected override stateFields(): Record<string, FieldSpec> {
    return { ...super.stateFields(), t0: 'number', tI: 'number', tMult: 'number', etaMin: 'number', tCur: 'number' };
  }
}

/**
 * The number n of completed periods at `epoch ≥ t0`: the largest n with
 * `t0·(m^n − 1)/(m − 1) ≤ epoch`. PyTorch computes `trunc(log(epoch/t0·(m − 1) + 1)/log(m))`,
 * whose float rounding can land an ulp below an integer at an exact restart
 * (and V8's `Math.log` differs from glibc's); counting on the exact integer
 * restart points gives the mathematically intended n, which is PyTorch's
 * whenever its logarithms round correctly.
 */
function restartsBefore(epoch: number, t0: number, m: number): number {
  let n = 0;
  while ((t0 * (m ** (n + 1) - 1)) / (m - 1) <= epoch) n++;
  return n;
}
