import { InvalidOptionError, checkFinite, checkInRange, checkInteger, checkNonNegative, checkOneOf } from '@opt/core';
import { type FieldSpec, type SchedulableOptimizer, Scheduler, countGroups, perGroup } from './scheduler.js';

/** Options of {@link ReduceLROnPlateau}. */
export interface ReduceLROnPlateauOptions {
  /** `'min'`: the metric should decrease (a loss); `'max'`: increase (an accuracy). Default `'min'`. */
  mode?: 'min' | 'max';
  /** Factor by which the lr is reduced, in [0, 1). Default 0.1. */
  factor?: number;
  /** Number of bad epochs tolerated before reducing. Default 10. */
  patience?: number;
  /** Minimum change that counts as an improvement. Default 1e-4. */
  threshold?: number;
  /** `'rel'`: relative to the best value; `'abs'`: absolute. Default `'rel'`. */
  thresholdMode?: 'rel' | 'abs';
  /** Epochs to wait after a reduction before counting bad epochs again. Default 0. */
  cooldown?: number;
  /** Lower bound of the lr, or one per group. Default 0. */
  minLr?: number | readonly number[];
  /** A reduction smaller than this is not applied. Default 1e-8. */
  eps?: number;
}

/**
 * Reduces the lr when a metric has stopped improving, as
 * `torch.optim.lr_scheduler.ReduceLROnPlateau` (no construction step; `step(metric)`):
 *
 * ```
 * better(a) = a < best·(1 − threshold)   (min, rel)     a < best − threshold (min, abs)
 *             a > best·(1 + threshold)   (max, rel)     a > best + threshold (max, abs)
 * better(a) ? (best ← a, bad ← 0) : bad ← bad + 1
 * if cooldownCounter > 0: cooldownCounter ← cooldownCounter − 1, bad ← 0
 * if bad > patience: for each group new = max(lr·factor, minLr_g), applied only if lr − new > eps;
 *                    cooldownCounter ← cooldown, bad ← 0
 * ```
 *
 * A NaN metric throws an `InvalidOptionError` (PyTorch would count it as a bad epoch silently).
 *
 * @example
 * ```ts
 * import { Parameter, SGD } from '@opt/core';
 * import { ReduceLROnPlateau } from '@opt/schedulers';
 * const opt = new SGD([new Parameter(new Float64Array([1]))], { lr: 0.1 });
 * const sched = new ReduceLROnPlateau(opt, { patience: 1, factor: 0.5 });
 * for (const loss of [1, 0.9, 0.95, 0.96, 0.97]) sched.step(loss);
 * console.log(sched.getLastLr()); // [0.05]
 * ```
 */
export class ReduceLROnPlateau extends Scheduler {
  /** Direction of improvement. */
  mode: 'min' | 'max';
  /** Reduction factor. */
  factor: number;
  /** Bad epochs tolerated. */
  patience: number;
  /** Improvement threshold. */
  threshold: number;
  /** How the threshold is applied. */
  thresholdMode: 'rel' | 'abs';
  /** Cooldown length. */
  cooldown: number;
  /** Lower bounds, one per group. */
  minLrs: number[];
  /** Minimal applied reduction. */
  eps: number;
  /** Best metric so far (±Infinity before the first step). */
  best: number;
  /** Consecutive epochs without improvement. */
  numBadEpochs = 0;
  /** Remaining cooldown epochs. */
  cooldownCounter = 0;
  /** Number of `step()` calls. */
  lastEpoch = 0;
  private lastLr: number[];

  constructor(optimizer: SchedulableOptimizer, options: ReduceLROnPlateauOptions = {}) {
    const where = 'ReduceLROnPlateau';
    const n = countGroups(where, optimizer);
    const mode = checkOneOf(where, 'mode', options.mode ?? 'min', ['min', 'max'] as const);
    const factor = checkInRange(where, 'factor', options.factor ?? 0.1, 0, 1, '[)');
    const patience = checkInteger(where, 'patience', options.patience ?? 10, 0);
    const threshold = checkNonNegative(where, 'threshold', options.threshold ?? 1e-4);
    const thresholdMode = checkOneOf(where, 'thresholdMode', options.thresholdMode ?? 'rel', ['rel', 'abs'] as const);
    const cooldown = checkInteger(where, 'cooldown', options.cooldown ?? 0, 0);
    const minLrs = perGroup(where, 'minLr', options.minLr ?? 0, n).map((v, g) => checkNonNegative(where, Array.isArray(options.minLr) ? `minLr[${g}]` : 'minLr', v));
    const eps = checkNonNegative(where, 'eps', options.eps ?? 1e-8);
    super(where, optimizer);
    this.groups.forEach((group, g) => checkFinite(where, `paramGroups[${g}].lr`, group.lr));
    this.mode = mode;
    this.factor = factor;
    this.patience = patience;
    this.threshold = threshold;
    this.thresholdMode = thresholdMode;
    this.cooldown = cooldown;
    this.minLrs = minLrs;
    this.eps = eps;
    this.best = mode === 'min' ? Infinity : -Infinity;
    this.lastLr = this.groups.map((g) => g.lr as number);
  }

  /** Whether `a` improves on `best` by more than the threshold. */
  isBetter(a: number, best: number): boolean {
    if (this.mode === 'min') return this.thresholdMode === 'rel' ? a < best * (1 - this.threshold) : a < best - this.threshold;
    return this.thresholdMode === 'rel' ? a > best * (this.threshold + 1) : a > best + this.threshold;
  }

  /** Whether a reduction happened less than `cooldown` epochs ago. */
  get inCooldown(): boolean {
    return this.cooldownCounter > 0;
  }

  /**
   * Record the epoch's metric and reduce the lrs if it has plateaued.
   * @param metric - the monitored value (not NaN; ±Infinity are accepted).
   * @param epoch - PyTorch's deprecated explicit epoch number.
   */
  step(metric: number, epoch?: number): void {
    this.checkOptimizer();
    if (typeof metric !== 'number' || Number.isNaN(metric)) {
      throw new InvalidOptionError('metric', metric, 'a number that is not NaN', this.name);
    }
    if (epoch !== undefined) checkFinite(this.name, 'epoch', epoch);
    this.lastEpoch = epoch ?? this.lastEpoch + 1;
    if (this.isBetter(metric, this.best)) {
      this.best = metric;
      this.numBadEpochs = 0;
    } else {
      this.numBadEpochs += 1;
    }
    if (this.inCooldown) {
      this.cooldownCounter -= 1;
      this.numBadEpochs = 0;
    }
    if (this.numBadEpochs > this.patience) {
      this.reduceLr();
      this.cooldownCounter = this.cooldown;
      this.numBadEpochs = 0;
    }
    this.lastLr = this.groups.map((g) => g.lr as number);
  }

  private reduceLr(): void {
    this.groups.forEach((group, g) => {
      const old = group.lr as number;
      const next = Math.max(old * this.factor, this.minLrs[g]!);
      if (old - next > this.eps) group.lr = next;
    });
  }

  /** The lrs after the latest step (the current lrs before the first). */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  protected stateFields(): Record<string, FieldSpec> {
    return {
      mode: { oneOf: ['min', 'max'] },
      factor: 'number',
      patience: 'number',
      threshold: 'number',
      thresholdMode: { oneOf: ['rel', 'abs'] },
      cooldown: 'number',
      minLrs: 'groupNumbers',
      eps: 'number',
      best: 'number',
      numBadEpochs: 'number',
      cooldownCounter: 'number',
      lastEpoch: 'number',
      lastLr: 'groupNumbers',
    };
  }
}
