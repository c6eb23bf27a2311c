import { InvalidOptionError, checkInteger } from '@opt/core';
import { type FieldSpec, LRScheduler, type SchedulableOptimizer, type StatefulScheduler, bisectRight } from './scheduler.js';

function checkChildren(where: string, schedulers: unknown, optimizer: SchedulableOptimizer | undefined): LRScheduler[] {
  if (!Array.isArray(schedulers) || schedulers.length === 0) {
    throw new InvalidOptionError('schedulers', schedulers, 'a non-empty list of LRScheduler instances', where);
  }
  const target = optimizer ?? (schedulers[0] as LRScheduler | undefined)?.optimizer;
  schedulers.forEach((s, i) => {
    if (!(s instanceof LRScheduler)) {
      throw new InvalidOptionError(`schedulers[${i}]`, s, 'an LRScheduler (ReduceLROnPlateau cannot be composed)', where);
    }
    if (s.optimizer !== target) {
      throw new InvalidOptionError(`schedulers[${i}]`, s.name, 'a scheduler built on the same optimizer as the others', where);
    }
  });
  return [...(schedulers as LRScheduler[])];
}

/** Options of {@link SequentialLR}. */
export interface SequentialLROptions {
  /** The schedulers, built on the same optimizer, in the order they take over. */
  schedulers: readonly LRScheduler[];
  /** The epochs at which the next scheduler takes over (one fewer than schedulers, non-decreasing). */
  milestones: readonly number[];
}

/**
 * Runs schedulers one after the other, switching at milestones, as
 * `torch.optim.lr_scheduler.SequentialLR`. Construction resets every group's lr
 * to its `initialLr`, undoes the children's construction steps and redoes the
 * first child's. At a milestone the next child is stepped as `step(0)`, i.e.
 * its closed form at epoch 0 (CosineAnnealingLR → base, LinearLR → base·startFactor),
 * not from the current lr.
 *
 * @example
 * ```ts
 * import { Parameter, SGD } from '@opt/core';
 * import { CosineAnnealingLR, LinearLR, SequentialLR } from '@opt/schedulers';
 * const opt = new SGD([new Parameter(new Float64Array([1]))], { lr: 0.1 });
 * const warmup = new LinearLR(opt, { startFactor: 0.1, totalIters: 5 });
 * const cosine = new CosineAnnealingLR(opt, { tMax: 95 });
 * const sched = new SequentialLR(opt, { schedulers: [warmup, cosine], milestones: [5] });
 * for (let i = 0; i < 5; i++) sched.step();
 * console.log(sched.getLastLr()); // [0.1]
 * ```
 */
export class SequentialLR extends LRScheduler {
  /** The children, in order. */
  readonly schedulers: LRScheduler[];
  /** Switch epochs. */
  milestones: number[];

  constructor(optimizer: SchedulableOptimizer, options: SequentialLROptions) {
    const where = 'SequentialLR';
    const schedulers = checkChildren(where, options.schedulers, optimizer);
    if (!Array.isArray(options.milestones) || options.milestones.length !== schedulers.length - 1) {
      throw new InvalidOptionError('milestones', options.milestones, `a list of ${schedulers.length - 1} epochs (one fewer than schedulers)`, where);
    }
    const milestones = options.milestones.map((m, i) => checkInteger(where, `milestones[${i}]`, m, 0));
    milestones.forEach((m, i) => {
      if (i > 0 && m < milestones[i - 1]!) throw new InvalidOptionError('milestones', options.milestones, 'non-decreasing epochs', where);
    });
    super(where, optimizer);
    this.schedulers = schedulers;
    this.milestones = milestones;
    this.lastEpoch = 0;
    for (const group of this.groups) group.lr = group.initialLr;
    for (const s of schedulers) s.lastEpoch -= 1;
    schedulers[0]!.initialStep();
    this.lastLr = schedulers[0]!.getLastLr();
  }

  protected getLr(): number[] {
    return this.currentLrs();
  }

  /** Step the child in charge of the next epoch (`step(0)` on the one taking over at a milestone). */
  override step(epoch?: number): void {
    if (epoch !== undefined) throw new InvalidOptionError('epoch', epoch, 'no argument: SequentialLR only steps by one', this.name);
    this.checkOptimizer();
    this.stepCount += 1;
    this.lastEpoch += 1;
    const idx = bisectRight(this.milestones, this.lastEpoch);
    const child = this.schedulers[idx]!;
    if (idx > 0 && this.milestones[idx - 1] === this.lastEpoch) child.step(0);
    else child.step();
    this.lastLr = child.getLastLr();
  }

  protected override stateFields(): Record<string, FieldSpec> {
    return { ...super.stateFields(), milestones: 'numbers' };
  }

  protected override childSchedulers(): StatefulScheduler[] {
    return this.schedulers;
  }
}

/**
 * Steps several schedulers together at every step, as
 * `torch.optim.lr_scheduler.ChainedScheduler`: with recursive (chainable)
 * children the multiplicative effects compose. It performs no construction
 * step of its own.
 *
 * @example
 * ```ts
 * import { Parameter, SGD } from '@opt/core';
 * import { ChainedScheduler, ConstantLR, ExponentialLR } from '@opt/schedulers';
 * const opt = new SGD([new Parameter(new Float64Array([1]))], { lr: 1 });
 * const sched = new ChainedScheduler([
 *   new ConstantLR(opt, { factor: 0.1, totalIters: 2 }),
 *   new ExponentialLR(opt, { gamma: 0.9 }),
 * ]);
 * sched.step();
 * console.log(sched.getLastLr()); // [0.09] (up to rounding)
 * ```
 */
export class ChainedScheduler extends LRScheduler {
  /** The children, stepped in order. */
  readonly schedulers: LRScheduler[];

  /** @param schedulers - schedulers built on the same optimizer. */
  constructor(schedulers: readonly LRScheduler[]) {
    const children = checkChildren('ChainedScheduler', schedulers, undefined);
    super('ChainedScheduler', children[0]!.optimizer);
    this.schedulers = children;
    this.lastLr = this.currentLrs();
  }

  protected getLr(): number[] {
    return this.currentLrs();
  }

  /** Step every child in order. */
  override step(epoch?: number): void {
    if (epoch !== undefined) throw new InvalidOptionError('epoch', epoch, 'no argument: ChainedScheduler only steps by one', this.name);
    this.checkOptimizer();
    this.stepCount += 1;
    this.lastEpoch += 1;
    for (const s of this.schedulers) s.step();
    this.lastLr = this.currentLrs();
  }

  protected override childSchedulers(): StatefulScheduler[] {
    return this.schedulers;
  }
}
