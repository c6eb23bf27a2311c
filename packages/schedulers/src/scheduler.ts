import {
  InvalidOptionError,
  type JsonNumber,
  type Optimizer,
  type Parameter,
  ParamGroupError,
  StateDictError,
  checkFinite,
  checkInteger,
  decodeNumber,
  encodeNumber,
} from '@opt/core';

/** Any `@opt/core` optimizer: schedulers read and write its `paramGroups`. */
export type SchedulableOptimizer = Optimizer<object>;

/** A parameter group seen as a bag of hyper-parameters, which is how schedulers treat it. */
export type SchedulerGroup = Record<string, unknown> & { params: Parameter[] };

/** A JSON value of a scheduler state dict. */
export type SchedulerStateValue =
  | JsonNumber
  | string
  | boolean
  | null
  | SchedulerStateValue[]
  | { [key: string]: SchedulerStateValue };

/**
 * A scheduler's state as plain JSON data (`JSON.stringify` round-trips it exactly:
 * numbers are written losslessly, infinities as `"inf"` / `"-inf"`).
 * Functions given to a scheduler (`lrLambda`, `scaleFn`, `schedule`) are not
 * saved, as in PyTorch: rebuild the scheduler with the same functions, then load.
 */
export interface SchedulerStateDict {
  format: '@opt/scheduler-state';
  version: 1;
  /** The class that wrote it, e.g. `"StepLR"`. */
  scheduler: string;
  /** Number of parameters in each group of the optimizer the scheduler drove. */
  param_groups: number[];
  /** The scheduler's fields (hyper-parameters and counters), by property name. */
  state: Record<string, SchedulerStateValue>;
  /** Nested state (the children of SequentialLR, ChainedScheduler, LinearWarmup). */
  children?: SchedulerStateDict[];
}

/**
 * How a field is stored in a state dict, which is also how a loaded value is
 * checked: `groupNumbers` must hold one number per parameter group; `oneOf`
 * restricts a string.
 */
export type FieldSpec =
  | 'number'
  | 'boolean'
  | 'numbers'
  | 'groupNumbers'
  | 'nullableGroupNumbers'
  | { oneOf: readonly string[] };

/** Anything with a state dict: every scheduler of this package. */
export interface StatefulScheduler {
  stateDict(): SchedulerStateDict;
  loadStateDict(stateDict: SchedulerStateDict | Record<string, unknown>): void;
}

/**
 * Common base of every scheduler: the optimizer it drives, the guard against a
 * changed optimizer, and lossless, all-or-nothing state dicts built from a
 * declared list of fields ({@link Scheduler.stateFields}).
 */
export abstract class Scheduler implements StatefulScheduler {
  /** Class name, written into state dicts. */
  readonly name: string;
  /** The optimizer whose parameter groups this scheduler writes. */
  readonly optimizer: SchedulableOptimizer;
  private readonly builtWith: Parameter[][];

  /**
   * @param name - the class name.
   * @param optimizer - the optimizer to drive; its parameter groups are recorded
   *   so that a later change (a group added, a group object replaced) is detected.
   */
  protected constructor(name: string, optimizer: SchedulableOptimizer) {
    countGroups(name, optimizer);
    this.name = name;
    this.optimizer = optimizer;
    this.builtWith = this.groups.map((g) => [...g.params]);
  }

  /** The optimizer's parameter groups as mutable records. */
  protected get groups(): SchedulerGroup[] {
    return this.optimizer.paramGroups as unknown as SchedulerGroup[];
  }

  /** Number of parameter groups. */
  protected get groupCount(): number {
    return this.builtWith.length;
  }

  /**
   * Throw a {@link ParamGroupError} when the optimizer's parameter groups are no
   * longer those the scheduler was built with: a per-group schedule indexed by
   * position would silently drive the wrong group otherwise.
   */
  protected checkOptimizer(): void {
    const now = this.optimizer.paramGroups;
    let same = now.length === this.builtWith.length;
    for (let g = 0; same && g < now.length; g++) {
      const a = now[g]!.params;
      const b = this.builtWith[g]!;
      same = a.length === b.length;
      for (let i = 0; same && i < a.length; i++) same = a[i] === b[i];
    }
    if (!same) {
      throw new ParamGroupError(
        `${this.name}: the optimizer's parameter groups changed since the scheduler was built ` +
          `(${describeGroups(this.builtWith.map((p) => p.length))} then, ` +
          `${describeGroups(now.map((g) => g.params.length))} now); build a new scheduler for the new groups`,
      );
    }
  }

  /** Number of parameters per group of the optimizer the scheduler was built on. */
  protected groupSizes(): number[] {
    return this.builtWith.map((p) => p.length);
  }

  /** The fields saved in state dicts: property name → how it is stored and checked. */
  protected abstract stateFields(): Record<string, FieldSpec>;

  /** Schedulers nested inside this one (saved under `children`). */
  protected childSchedulers(): StatefulScheduler[] {
    return [];
  }

  /** Recompute derived fields after a load (e.g. OneCycleLR's phases). */
  protected afterLoad(): void {}

  /** The scheduler's state as JSON-serialisable data; see {@link SchedulerStateDict}. */
  stateDict(): SchedulerStateDict {
    const state: Record<string, SchedulerStateValue> = {};
    const self = this as unknown as Record<string, unknown>;
    for (const key of Object.keys(this.stateFields())) state[key] = encodeField(self[key]);
    const children = this.childSchedulers();
    return {
      format: '@opt/scheduler-state',
      version: 1,
      scheduler: this.name,
      param_groups: this.groupSizes(),
      state,
      ...(children.length > 0 ? { children: children.map((c) => c.stateDict()) } : {}),
    };
  }

  /**
   * Restore a state written by {@link Scheduler.stateDict} of the same class on an
   * optimizer with the same group layout. All or nothing: on any mismatch a
   * `StateDictError` is thrown and the scheduler (and its children) are unchanged.
   * The optimizer's own hyper-parameters (the current `lr`, `momentum`) live in the
   * optimizer's state dict, as in PyTorch: load both to resume.
   */
  loadStateDict(stateDict: SchedulerStateDict | Record<string, unknown>): void {
    const where = `${this.name}.loadStateDict`;
    const sd = stateDict as Partial<SchedulerStateDict>;
    if (typeof sd !== 'object' || sd === null || sd.format !== '@opt/scheduler-state' || typeof sd.state !== 'object' || sd.state === null) {
      throw new StateDictError(`${where}: expected an object written by a scheduler's stateDict()`);
    }
    if (sd.scheduler !== this.name) {
      throw new StateDictError(`${where}: the state dict was written by ${String(sd.scheduler)}, not ${this.name}`);
    }
    const sizes = this.groupSizes();
    const saved = sd.param_groups;
    if (!Array.isArray(saved) || saved.length !== sizes.length || saved.some((n, i) => n !== sizes[i])) {
      throw new StateDictError(
        `${where}: the state dict was written for an optimizer with ${Array.isArray(saved) ? describeGroups(saved as number[]) : 'unknown groups'}, ` +
          `this scheduler drives ${describeGroups(sizes)}`,
      );
    }
    const decoded = new Map<string, unknown>();
    const self = this as unknown as Record<string, unknown>;
    for (const [key, spec] of Object.entries(this.stateFields())) {
      if (!(key in sd.state)) throw new StateDictError(`${where}: missing field "${key}"`);
      decoded.set(key, decodeField(sd.state[key], spec, sizes.length, `${where}: ${key}`));
    }
    const children = this.childSchedulers();
    const savedChildren = sd.children ?? [];
    if (!Array.isArray(savedChildren) || savedChildren.length !== children.length) {
      throw new StateDictError(`${where}: expected ${children.length} nested scheduler states`);
    }
    const before = children.map((c) => c.stateDict());
    try {
      children.forEach((c, i) => c.loadStateDict(savedChildren[i]!));
    } catch (e) {
      children.forEach((c, i) => c.loadStateDict(before[i]!));
      throw e;
    }
    for (const [key, value] of decoded) self[key] = value;
    this.afterLoad();
  }
}

function describeGroups(sizes: readonly number[]): string {
  return `${sizes.length} group${sizes.length === 1 ? '' : 's'} of [${sizes.join(', ')}] parameters`;
}

function encodeField(value: unknown): SchedulerStateValue {
  if (typeof value === 'number') return encodeNumber(value);
  if (Array.isArray(value)) return value.map(encodeField);
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  throw new StateDictError(`a ${typeof value} cannot be stored in a scheduler state dict`);
}

function decodeNumbers(value: unknown, where: string, length?: number): number[] {
  if (!Array.isArray(value) || (length !== undefined && value.length !== length)) {
    throw new StateDictError(`${where}: expected ${length === undefined ? 'a list of numbers' : `${length} numbers, one per parameter group`}`);
  }
  return value.map((v, i) => decodeNumber(v, `${where}[${i}]`));
}

function decodeField(value: unknown, spec: FieldSpec, groups: number, where: string): unknown {
  if (typeof spec === 'object') {
    if (typeof value !== 'string' || !spec.oneOf.includes(value)) {
      throw new StateDictError(`${where}: expected one of ${spec.oneOf.join(', ')}, got ${JSON.stringify(value)}`);
    }
    return value;
  }
  switch (spec) {
    case 'number':
      return decodeNumber(value, where);
    case 'boolean':
      if (typeof value !== 'boolean') throw new StateDictError(`${where}: expected true or false`);
      return value;
    case 'numbers':
      return decodeNumbers(value, where);
    case 'groupNumbers':
      return decodeNumbers(value, where, groups);
    case 'nullableGroupNumbers':
      return value === null ? null : decodeNumbers(value, where, groups);
  }
}

/** Options every epoch-based scheduler accepts. */
export interface LRSchedulerOptions {
  /**
   * The index of the last epoch when resuming by construction (PyTorch's
   * `last_epoch`). Default −1: a fresh start, which records each group's `lr` as
   * its `initialLr`. Any other value needs `initialLr` already in every group.
   */
  lastEpoch?: number;
}

/**
 * Base class of the epoch-based learning-rate schedulers, as PyTorch's
 * `_LRScheduler`. Construction records `initialLr` in every parameter group
 * (only where absent, like `group.setdefault('initial_lr', lr)`, so a second
 * scheduler on the same optimizer sees the original lr), copies those into
 * {@link LRScheduler.baseLrs} and performs a first step with `lastEpoch = 0`.
 *
 * `step()` advances `lastEpoch` and writes the lr of every group:
 *
 * ```
 * lastEpoch ← lastEpoch + 1
 * lr_g ← getLr()_g            (recursive forms multiply the current lr)
 * ```
 *
 * `step(epoch)` is PyTorch's deprecated form: it sets `lastEpoch = epoch` and uses
 * the class's closed form where it has one.
 *
 * Subclasses set their fields, then call {@link LRScheduler.initialStep} at the
 * end of their constructor (fields are not yet set when this constructor runs).
 *
 * @example
 * ```ts
 * import { Parameter, SGD } from '@opt/core';
 * import { StepLR } from '@opt/schedulers';
 * const opt = new SGD([new Parameter(new Float64Array([1]))], { lr: 0.1 });
 * const sched = new StepLR(opt, { stepSize: 10, gamma: 0.5 });
 * for (let epoch = 0; epoch < 30; epoch++) {
 *   // ... train one epoch: opt.step() ...
 *   sched.step();
 * }
 * console.log(sched.getLastLr()); // [0.0125]
 * ```
 */
export abstract class LRScheduler extends Scheduler {
  /** Each group's `initialLr` when the scheduler was built (PyTorch's `base_lrs`). */
  baseLrs: number[];
  /** Number of `step()` calls (−1 before the construction step), PyTorch's `last_epoch`. */
  lastEpoch: number;
  /** Number of `step()` calls including the construction step (PyTorch's `_step_count`). */
  stepCount = 0;
  /** The lrs written by the latest step. */
  protected lastLr: number[];

  protected constructor(name: string, optimizer: SchedulableOptimizer, options: LRSchedulerOptions = {}) {
    super(name, optimizer);
    const lastEpoch = options.lastEpoch ?? -1;
    checkInteger(name, 'lastEpoch', lastEpoch, -1);
    this.groups.forEach((group, g) => {
      checkFinite(name, `paramGroups[${g}].lr`, group.lr);
      if (lastEpoch === -1) {
        if (!('initialLr' in group)) group.initialLr = group.lr;
      } else if (typeof group.initialLr !== 'number') {
        throw new InvalidOptionError(
          'lastEpoch',
          lastEpoch,
          `-1, or an initialLr in every parameter group (param group ${g} has none) to resume from`,
          name,
        );
      }
    });
    this.baseLrs = this.groups.map((g) => g.initialLr as number);
    this.lastEpoch = lastEpoch;
    this.lastLr = this.currentLrs();
  }

  /** The lr of every group right now. */
  protected currentLrs(): number[] {
    return this.groups.map((g) => g.lr as number);
  }

  /**
   * Perform the construction step: reset the step count and step once. Called
   * by every subclass constructor once its fields are set, and by SequentialLR
   * on its first child.
   */
  initialStep(): void {
    this.stepCount = 0;
    this.step();
  }

  /** The lrs of the next step, from `lastEpoch` (already advanced) and the current lrs. */
  protected abstract getLr(): number[];

  /** The lrs at `lastEpoch` in closed form, for `step(epoch)`; `null` where PyTorch has none. */
  protected closedFormLr(): number[] | null {
    return null;
  }

  /**
   * Advance one step (no argument), or jump to `epoch` (PyTorch's deprecated
   * form, using the closed form where the class has one).
   */
  step(epoch?: number): void {
    this.checkOptimizer();
    if (epoch !== undefined) checkFinite(this.name, 'epoch', epoch);
    this.stepCount += 1;
    let values: number[];
    if (epoch === undefined) {
      this.lastEpoch += 1;
      values = this.getLr();
    } else {
      this.lastEpoch = epoch;
      values = this.closedFormLr() ?? this.getLr();
    }
    this.writeLrs(values);
  }

  /** Write `values` as the groups' lrs and remember them. */
  protected writeLrs(values: readonly number[]): void {
    const groups = this.groups;
    for (let g = 0; g < groups.length; g++) groups[g]!.lr = values[g]!;
    this.lastLr = this.currentLrs();
  }

  /** The lrs written by the latest step, one per group (PyTorch's `get_last_lr()`). */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  protected stateFields(): Record<string, FieldSpec> {
    return { baseLrs: 'groupNumbers', lastEpoch: 'number', stepCount: 'number', lastLr: 'groupNumbers' };
  }
}

/**
 * The number of parameter groups of `optimizer`, checking it is an optimizer
 * (constructors validate their options against it before touching it).
 */
export function countGroups(where: string, optimizer: SchedulableOptimizer): number {
  if (optimizer === null || typeof optimizer !== 'object' || !Array.isArray(optimizer.paramGroups)) {
    throw new InvalidOptionError('optimizer', optimizer, 'an @opt/core Optimizer', where);
  }
  return optimizer.paramGroups.length;
}

/**
 * Resolve an option given once for all groups or once per group (PyTorch's
 * `_format_param`): a list must have one entry per group.
 */
export function perGroup<T>(where: string, option: string, value: T | readonly T[], groups: number): T[] {
  if (Array.isArray(value)) {
    if (value.length !== groups) {
      throw new InvalidOptionError(option, value, `one value, or a list of ${groups} (one per parameter group)`, where);
    }
    return [...(value as readonly T[])];
  }
  return new Array<T>(groups).fill(value as T);
}

/** Python's `bisect_right` on a sorted list: the number of entries `<= x`. */
export function bisectRight(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x < sorted[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
