import { InvalidOptionError, checkBoolean, checkFinite, checkNonNegative, checkOneOf, checkPositive } from '@opt/core';
import {
  type FieldSpec,
  LRScheduler,
  type LRSchedulerOptions,
  type SchedulableOptimizer,
  countGroups,
  perGroup,
} from './scheduler.js';

/** Built-in CyclicLR policies. */
export type CyclicMode = 'triangular' | 'triangular2' | 'exp_range';

/** Options of {@link CyclicLR}. */
export interface CyclicLROptions extends LRSchedulerOptions {
  /** Lower lr of the cycle, or one per group. */
  baseLr: number | readonly number[];
  /** Upper lr of the cycle (≥ baseLr), or one per group. */
  maxLr: number | readonly number[];
  /** Steps of the increasing half. Default 2000. */
  stepSizeUp?: number;
  /** Steps of the decreasing half. Default `stepSizeUp`. */
  stepSizeDown?: number;
  /** Amplitude policy (ignored when `scaleFn` is given). Default `'triangular'`. */
  mode?: CyclicMode;
  /** Decay of the amplitude per iteration in `'exp_range'` mode. Default 1. */
  gamma?: number;
  /** Custom amplitude factor, a function of the cycle number or of the iteration (see `scaleMode`). */
  scaleFn?: (x: number) => number;
  /** What `scaleFn` receives: the cycle number (from 1) or the iteration. Default `'cycle'`. */
  scaleMode?: 'cycle' | 'iterations';
  /** Cycle the optimizer's `momentum` inversely to the lr. Default true (needs a `momentum` option). */
  cycleMomentum?: boolean;
  /** Momentum at the peak lr, or one per group. Default 0.8. */
  baseMomentum?: number | readonly number[];
  /** Momentum at the base lr, or one per group. Default 0.9. */
  maxMomentum?: number | readonly number[];
}

/**
 * Cyclical learning rates (Smith, 2017), as `torch.optim.lr_scheduler.CyclicLR`.
 * With `total = up + down`, `ratio = up/total` and e the iteration:
 *
 * ```
 * cycle = ⌊1 + e/total⌋,   x = 1 + e/total − cycle
 * scale = x ≤ ratio ? x/ratio : (x − 1)/(ratio − 1)
 * lr    = baseLr + (maxLr − baseLr)·scale·f
 * f     = 1 (triangular), 1/2^(cycle − 1) (triangular2), γ^e (exp_range), scaleFn(cycle or e)
 * momentum = maxMomentum − (maxMomentum − baseMomentum)·scale·f
 * ```
 *
 * Construction sets every group's lr to `baseLr` (and momentum to `baseMomentum`,
 * then `maxMomentum` by the construction step). As in PyTorch 1.13, momentum
 * cycling needs a `momentum` option: for Adam-like optimizers pass
 * `cycleMomentum: false` (an `InvalidOptionError` says so otherwise).
 * A custom `scaleFn` is not saved in state dicts.
 *
 * @example
 * ```ts
 * import { Parameter, SGD } from '@opt/core';
 * import { CyclicLR } from '@opt/schedulers';
 * const opt = new SGD([new Parameter(new Float64Array([1]))], { lr: 0.1, momentum: 0.9 });
 * const sched = new CyclicLR(opt, { baseLr: 0.01, maxLr: 0.1, stepSizeUp: 4 });
 * for (let i = 0; i < 2; i++) sched.step();
 * console.log(sched.getLastLr(), opt.paramGroups[0]!.momentum); // [0.055] 0.85 (up to rounding)
 * ```
 */
export class CyclicLR extends LRScheduler {
  /** Upper lrs, one per group. */
  maxLrs: number[];
  /** Steps per cycle. */
  totalSize: number;
  /** Fraction of the cycle spent increasing. */
  stepRatio: number;
  /** Amplitude policy of the built-in modes. */
  mode: CyclicMode;
  /** exp_range decay. */
  gamma: number;
  /** What the amplitude factor receives. */
  scaleMode: 'cycle' | 'iterations';
  /** Custom amplitude factor (not saved in state dicts). */
  scaleFn: ((x: number) => number) | undefined;
  /** Whether momentum is cycled. */
  cycleMomentum: boolean;
  /** Momentum at the peak lr (null when momentum is not cycled). */
  baseMomentums: number[] | null;
  /** Momentum at the base lr (null when momentum is not cycled). */
  maxMomentums: number[] | null;

  constructor(optimizer: SchedulableOptimizer, options: CyclicLROptions) {
    const where = 'CyclicLR';
    const n = countGroups(where, optimizer);
    const baseLrs = perGroup(where, 'baseLr', options.baseLr, n).map((v, g) => checkNonNegative(where, n > 1 ? `baseLr[${g}]` : 'baseLr', v));
    const maxLrs = perGroup(where, 'maxLr', options.maxLr, n).map((v, g) => checkFinite(where, n > 1 ? `maxLr[${g}]` : 'maxLr', v));
    maxLrs.forEach((max, g) => {
      if (max < baseLrs[g]!) throw new InvalidOptionError(`maxLr`, options.maxLr, `>= baseLr (${baseLrs[g]}) in param group ${g}`, where);
    });
    const up = checkPositive(where, 'stepSizeUp', options.stepSizeUp ?? 2000);
    const down = checkPositive(where, 'stepSizeDown', options.stepSizeDown ?? up);
    const scaleFn = options.scaleFn;
    if (scaleFn !== undefined && typeof scaleFn !== 'function') {
      throw new InvalidOptionError('scaleFn', scaleFn, 'a function (x) => number', where);
    }
    const mode = checkOneOf(where, 'mode', options.mode ?? 'triangular', ['triangular', 'triangular2', 'exp_range'] as const);
    const gamma = checkNonNegative(where, 'gamma', options.gamma ?? 1);
    const scaleMode = checkOneOf(where, 'scaleMode', options.scaleMode ?? 'cycle', ['cycle', 'iterations'] as const);
    const cycleMomentum = checkBoolean(where, 'cycleMomentum', options.cycleMomentum ?? true);
    let baseMomentums: number[] | null = null;
    let maxMomentums: number[] | null = null;
    if (cycleMomentum) {
      if (!('momentum' in optimizer.defaults)) {
        throw new InvalidOptionError(
          'cycleMomentum',
          true,
          `false for ${optimizer.name}, which has no momentum option (PyTorch 1.13's CyclicLR cannot cycle betas)`,
          where,
        );
      }
      baseMomentums = perGroup(where, 'baseMomentum', options.baseMomentum ?? 0.8, n).map((v) => checkNonNegative(where, 'baseMomentum', v));
      maxMomentums = perGroup(where, 'maxMomentum', options.maxMomentum ?? 0.9, n).map((v) => checkNonNegative(where, 'maxMomentum', v));
    }
    const lastEpoch = options.lastEpoch ?? -1;
    // PyTorch starts every group at the cycle's bottom before the base class records initial_lr.
    if (lastEpoch === -1) {
      const groups = optimizer.paramGroups as unknown as Array<Record<string, unknown>>;
      groups.forEach((group, g) => {
        group.lr = baseLrs[g];
        if (baseMomentums !== null) group.momentum = baseMomentums[g];
      });
    }
    super(where, optimizer, options);
    if (baseMomentums !== null) baseMomentums = this.groups.map((g) => g.momentum as number);
    this.baseLrs = baseLrs;
    this.maxLrs = maxLrs;
    this.totalSize = up + down;
    this.stepRatio = up / this.totalSize;
    this.mode = mode;
    this.gamma = gamma;
    this.scaleMode = scaleFn === undefined ? (mode === 'exp_range' ? 'iterations' : 'cycle') : scaleMode;
    this.scaleFn = scaleFn;
    this.cycleMomentum = cycleMomentum;
    this.baseMomentums = baseMomentums;
    this.maxMomentums = maxMomentums;
    this.initialStep();
  }

  private scale(x: number): number {
    if (this.scaleFn !== undefined) return this.scaleFn(x);
    switch (this.mode) {
      case 'triangular':
        return 1;
      case 'triangular2':
        return 1 / 2 ** (x - 1);
      case 'exp_range':
        return this.gamma ** x;
    }
  }

  protected getLr(): number[] {
    const e = this.lastEpoch;
    const cycle = Math.floor(1 + e / this.totalSize);
    const x = 1 + e / this.totalSize - cycle;
    const scaleFactor = x <= this.stepRatio ? x / this.stepRatio : (x - 1) / (this.stepRatio - 1);
    const f = this.scale(this.scaleMode === 'cycle' ? cycle : e);
    const lrs = this.baseLrs.map((base, g) => base + (this.maxLrs[g]! - base) * scaleFactor * f);
    if (this.cycleMomentum && this.baseMomentums !== null && this.maxMomentums !== null) {
      const groups = this.groups;
      for (let g = 0; g < groups.length; g++) {
        const max = this.maxMomentums[g]!;
        groups[g]!.momentum = max - (max - this.baseMomentums[g]!) * scaleFactor * f;
      }
    }
    return lrs;
  }

  protected override stateFields(): Record<string, FieldSpec> {
    return {
      ...super.stateFields(),
      maxLrs: 'groupNumbers',
      totalSize: 'number',
      stepRatio: 'number',
      mode: { oneOf: ['triangular', 'triangular2', 'exp_range'] },
      gamma: 'number',
      scaleMode: { oneOf: ['cycle', 'iterations'] },
      cycleMomentum: 'boolean',
      baseMomentums: 'nullableGroupNumbers',
      maxMomentums: 'nullableGroupNumbers',
    };
  }
}
