import { InvalidOptionError, type Schedule, StateDictError, checkFinite, checkInteger, checkOneOf } from '@opt/core';
import { type FieldSpec, type SchedulableOptimizer, Scheduler, type SchedulerStateDict, countGroups } from './scheduler.js';

/** Options of {@link HyperparameterScheduler}. */
export interface HyperparameterSchedulerOptions {
  /** The group option to drive: `'lr'`, `'weightDecay'`, `'momentum'`, `'betas'`, … (any numeric or tuple key). */
  option: string;
  /** The schedule of the step count, or one per driven group. */
  schedule: Schedule | readonly Schedule[];
  /** For tuple options (`betas`): the entry to drive (`0` for β1). */
  index?: number;
  /** The groups to drive (positions in `optimizer.paramGroups`). Default: all. */
  groups?: readonly number[];
  /**
   * `'absolute'` (default): the option is set to `schedule(t)`;
   * `'multiplier'`: to its value at construction times `schedule(t)`.
   */
  mode?: 'absolute' | 'multiplier';
}

/**
 * Drives any hyper-parameter of any parameter group from a schedule of the step
 * count t (0 at construction, which applies `schedule(0)` as PyTorch's schedulers do):
 *
 * ```
 * group[option]         ← schedule(t)            (absolute)
 * group[option]         ← initial·schedule(t)    (multiplier)
 * group[option][index]  ← …                      (tuple options, a fresh tuple each time)
 * ```
 *
 * A non-finite schedule value throws an `InvalidOptionError` before anything is written.
 *
 * @example
 * ```ts
 * import { AdamW, Parameter } from '@opt/core';
 * import { HyperparameterScheduler, linearSchedule } from '@opt/schedulers';
 * const opt = new AdamW([new Parameter(new Float32Array(4))], { lr: 1e-3, weightDecay: 0.01 });
 * const wd = new HyperparameterScheduler(opt, {
 *   option: 'weightDecay',
 *   schedule: linearSchedule({ initValue: 0.01, endValue: 0.1, transitionSteps: 100 }),
 * });
 * for (let i = 0; i < 50; i++) wd.step();
 * console.log(opt.paramGroups[0]!.weightDecay); // 0.055 (up to rounding)
 * ```
 */
export class HyperparameterScheduler extends Scheduler {
  /** The driven option. */
  readonly option: string;
  /** The driven tuple entry, if any. */
  readonly index: number | undefined;
  /** The driven groups. */
  readonly groupIndices: number[];
  /** Absolute values or multipliers. */
  mode: 'absolute' | 'multiplier';
  /** The driven value of each driven group at construction. */
  initialValues: number[];
  /** Number of `step()` calls (−1 before the construction step). */
  lastStep = -1;
  private lastValues: number[] = [];
  private readonly schedules: Schedule[];

  constructor(optimizer: SchedulableOptimizer, options: HyperparameterSchedulerOptions) {
    const where = 'HyperparameterScheduler';
    const n = countGroups(where, optimizer);
    const option = options.option;
    if (typeof option !== 'string' || option === 'params') {
      throw new InvalidOptionError('option', option, 'the name of a parameter-group option', where);
    }
    const groupIndices = (options.groups ?? [...Array(n).keys()]).map((g, i) => checkInteger(where, `groups[${i}]`, g, 0));
    groupIndices.forEach((g, i) => {
      if (g >= n) throw new InvalidOptionError(`groups[${i}]`, g, `a group index < ${n}`, where);
    });
    const index = options.index === undefined ? undefined : checkInteger(where, 'index', options.index, 0);
    const mode = checkOneOf(where, 'mode', options.mode ?? 'absolute', ['absolute', 'multiplier'] as const);
    const raw = options.schedule;
    const schedules = Array.isArray(raw) ? [...(raw as Schedule[])] : new Array<Schedule>(groupIndices.length).fill(raw as Schedule);
    if (schedules.length !== groupIndices.length || schedules.some((s) => typeof s !== 'function')) {
      throw new InvalidOptionError('schedule', raw, `a schedule function, or ${groupIndices.length} (one per driven group)`, where);
    }
    const groups = optimizer.paramGroups as unknown as Array<Record<string, unknown>>;
    const initialValues = groupIndices.map((g) => {
      const value = groups[g]![option];
      if (index === undefined) {
        if (typeof value !== 'number') {
          throw new InvalidOptionError('option', option, `a numeric option of param group ${g} (it is ${JSON.stringify(value)}; pass index for tuples)`, where);
        }
        return value;
      }
      if (!Array.isArray(value) || index >= value.length || typeof value[index] !== 'number') {
        throw new InvalidOptionError('index', index, `an entry of param group ${g}'s ${option} tuple (${JSON.stringify(value)})`, where);
      }
      return value[index] as number;
    });
    super(where, optimizer);
    this.option = option;
    this.index = index;
    this.groupIndices = groupIndices;
    this.mode = mode;
    this.initialValues = initialValues;
    this.schedules = schedules;
    this.step();
  }

  /** Advance one step (or jump to step `t`) and write the scheduled values. */
  step(t?: number): void {
    this.checkOptimizer();
    const next = t === undefined ? this.lastStep + 1 : checkFinite(this.name, 'step', t);
    const values = this.schedules.map((schedule, i) => {
      const v = schedule(next);
      const value = this.mode === 'multiplier' ? this.initialValues[i]! * v : v;
      if (!Number.isFinite(value)) {
        throw new InvalidOptionError(this.option, value, `a finite value from the schedule at step ${next}`, this.name);
      }
      return value;
    });
    const groups = this.groups;
    this.groupIndices.forEach((g, i) => {
      const group = groups[g]!;
      if (this.index === undefined) {
        group[this.option] = values[i];
      } else {
        // A fresh tuple: groups that did not override it share the optimizer defaults' array.
        const tuple = [...(group[this.option] as number[])];
        tuple[this.index] = values[i]!;
        group[this.option] = tuple;
      }
    });
    this.lastStep = next;
    this.lastValues = values;
  }

  /** The values written by the latest step, one per driven group. */
  getLastValues(): number[] {
    return [...this.lastValues];
  }

  /** Restore a saved state; it must drive the same option of as many groups. */
  override loadStateDict(stateDict: SchedulerStateDict | Record<string, unknown>): void {
    const state = (stateDict as Partial<SchedulerStateDict>).state;
    for (const key of ['initialValues', 'lastValues']) {
      const saved = state?.[key];
      if (Array.isArray(saved) && saved.length !== this.groupIndices.length) {
        throw new StateDictError(`${this.name}.loadStateDict: ${key} has ${saved.length} values, this scheduler drives ${this.groupIndices.length} groups`);
      }
    }
    super.loadStateDict(stateDict);
  }

  protected stateFields(): Record<string, FieldSpec> {
    return {
      option: { oneOf: [this.option] },
      mode: { oneOf: ['absolute', 'multiplier'] },
      initialValues: 'numbers',
      lastStep: 'number',
      lastValues: 'numbers',
    };
  }
}
