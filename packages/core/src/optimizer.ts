import {
  type BackendOption,
  type FloatArray,
  InvalidOptionError,
  NonFiniteError,
  OptError,
  Parameter,
  ParamGroupError,
  StateDictError,
  firstNonFinite,
} from '@opt/tensor';
import {
  type OptimizerStateDict,
  type ParamGroupJson,
  type ParamState,
  type StateValueJson,
  decodeOption,
  decodeStateValue,
  encodeOption,
  encodeStateValue,
  snakeToCamel,
} from './state-dict.js';
import { checkOneOf } from './validation.js';

/** Re-evaluates the objective: recomputes the loss, writes every parameter's `grad`, returns the loss. */
export type Closure = () => number;

/** A parameter, or a `[name, parameter]` pair as PyTorch's `named_parameters()` yields. */
export type ParamInput = Parameter | readonly [string, Parameter];

/** A parameter group as passed to a constructor: its parameters and any options it overrides. */
export type ParamGroupInput<O> = Partial<O> & { params: Iterable<ParamInput> };

/** What an optimizer constructor accepts: parameters (plain or named) or a list of groups. */
export type ParamsArg<O> = Iterable<ParamInput> | readonly ParamGroupInput<O>[];

/** A live parameter group: its parameters and its options, which may be changed between steps. */
export type ParamGroup<O> = O & { params: Parameter[] };

/**
 * What to do when a gradient holds NaN or ±Infinity:
 * - `'throw'` (default): throw a {@link NonFiniteError} before touching anything;
 * - `'skip'`: skip the whole step (parameters and state untouched), count it in
 *   {@link Optimizer.skippedSteps} and call `onNonFinite`;
 * - `'ignore'`: no check (PyTorch's behaviour: non-finite values propagate).
 */
export type NonFinitePolicy = 'throw' | 'skip' | 'ignore';

/** Report passed to `onNonFinite` when a step is skipped. */
export interface NonFiniteReport {
  /** Name of the parameter (or its position over all groups). */
  parameter: string;
  /** Flat index of the first non-finite gradient element. */
  index: number;
  /** The offending value. */
  value: number;
}

/**
 * How many threads an optimizer's kernel calls may use: `'auto'` (all threads
 * of the pool started by `initThreads()`, when one runs), a number (at most
 * that many of them; 1 = never split), or `false` (never split, and keep the
 * storage in the optimizer's own, unshared memory).
 */
export type ThreadsSetting = 'auto' | number | false;

/** Checks whether every gradient of the given groups is finite, where the gradients are stored. */
export interface GradientScanner {
  gradientsFinite(groups: ReadonlyArray<{ readonly params: readonly Parameter[] }>): boolean;
  /** Told the optimizer's `threads` setting when it is attached and whenever the setting changes. */
  setThreads?(threads: ThreadsSetting): void;
}

/** Settings of the optimizer object itself, not per-group hyper-parameters. */
export interface OptimizerSettings {
  /** Non-finite gradient policy; see {@link NonFinitePolicy}. Default `'throw'`. */
  nonFinite?: NonFinitePolicy;
  /** Called when a step is skipped under the `'skip'` policy. */
  onNonFinite?: (report: NonFiniteReport) => void;
  /**
   * Kernel backend of the optimizers that have a WebAssembly path (SGD, Adam,
   * AdamW, Adagrad, RMSprop, Adadelta, Adamax, NAdam, RAdam, Rprop, Lion, LAMB,
   * LARS, Adafactor; the others ignore it): `'js'`, `'wasm'` or `'auto'`.
   * Default: `getDefaultBackend()` from `@opt/tensor` (`'js'`). With `'wasm'`
   * the parameters, gradients and state move into wasm memory and `p.data` /
   * `p.grad` are re-bound to views there: read them through the `Parameter`,
   * not through an array you kept from before.
   */
  backend?: BackendOption;
  /**
   * Threads of the wasm backend's kernel calls (see `ThreadsSetting`):
   * `'auto'` (default) splits calls of at least `getThreadThreshold()`
   * elements over the pool started by `initThreads()` from `@opt/tensor`, when
   * one runs; a number caps the threads used (1: never split); `false` never
   * splits. Results are bit-identical for every choice. Can be changed later
   * through {@link Optimizer.threads}.
   */
  threads?: ThreadsSetting;
}

/** Options of {@link Optimizer.zeroGrad}. */
export interface ZeroGradOptions {
  /** Set gradients to `null` (default, as in PyTorch 2) instead of filling them with zeros. */
  setToNone?: boolean;
}

/** Options of {@link Optimizer.loadStateDict}. */
export interface LoadStateDictOptions {
  /**
   * Match saved state to parameters by name (the default when every current and
   * saved parameter has a name) or by position (`'position'`, PyTorch's way).
   */
  matchBy?: 'auto' | 'name' | 'position';
}

const SETTINGS_KEYS = new Set(['nonFinite', 'onNonFinite', 'backend', 'threads']);

/**
 * Base class of every optimizer, with PyTorch's surface: `paramGroups` with live
 * hyper-parameters, `state` per parameter, `step(closure?)`, `zeroGrad`,
 * `addParamGroup`, and lossless `stateDict` / `loadStateDict`.
 *
 * A subclass supplies its validation ({@link Optimizer.validateGroup}), its fresh
 * per-parameter state ({@link Optimizer.initState}, every key present, `null`
 * for buffers created lazily) and its update ({@link Optimizer.updateGroup}).
 *
 * @typeParam O - the per-group hyper-parameters (camelCase of PyTorch's names).
 * @typeParam S - the per-parameter state, keyed as PyTorch keys it.
 */
export abstract class Optimizer<O extends object, S extends ParamState = ParamState> {
  /** Class name, written into state dicts (`"Adam"`). */
  readonly name: string;
  /** The options every group starts from. */
  readonly defaults: Readonly<O>;
  /** The parameter groups; change `paramGroups[i].lr` (or any option) between steps. */
  readonly paramGroups: ParamGroup<O>[] = [];
  /** Per-parameter state, created on a parameter's first step (some optimizers at construction). */
  readonly state = new Map<Parameter, S>();
  /** The non-finite gradient policy; see {@link NonFinitePolicy}. */
  nonFinite: NonFinitePolicy;
  /** Number of steps skipped because a gradient was not finite (policy `'skip'`). */
  skippedSteps = 0;
  /** Whether the most recent `step()` was skipped. */
  lastStepSkipped = false;
  /** Callback for skipped steps. */
  onNonFinite: ((report: NonFiniteReport) => void) | undefined;
  private scanner: GradientScanner | null = null;
  private threadsSetting: ThreadsSetting;
  private readonly names = new Map<Parameter, string>();

  /**
   * @param name - the class name written into state dicts.
   * @param params - parameters, named parameters or parameter groups.
   * @param defaults - the optimizer's default hyper-parameters (PyTorch's defaults).
   * @param options - the user's options: hyper-parameters overriding `defaults`, plus {@link OptimizerSettings}.
   */
  protected constructor(name: string, params: ParamsArg<O>, defaults: O, options: Partial<O> & OptimizerSettings = {}) {
    this.name = name;
    this.defaults = Object.freeze(mergeOptions(name, defaults, options));
    this.nonFinite = checkOneOf(name, 'nonFinite', options.nonFinite ?? 'throw', ['throw', 'skip', 'ignore'] as const);
    this.onNonFinite = options.onNonFinite;
    this.threadsSetting = checkThreads(name, options.threads ?? 'auto');
    this.validateGroup(this.defaults);
    const groups = toGroups<O>(params);
    if (groups.length === 0 || groups.every((g) => [...g.params].length === 0)) {
      throw new ParamGroupError(`${name}: the optimizer got an empty parameter list`);
    }
    for (let groupIndex = 0; groupIndex < groups.length; groupIndex++) {
      const group = groups[groupIndex]!;
      this.addParamGroup(group);
    }
  }

  /** Set by optimizers whose gradients live in a backend's memory: a faster finite check there. */
  protected get gradientScanner(): GradientScanner | null {
    return this.scanner;
  }

  protected set gradientScanner(scanner: GradientScanner | null) {
    this.scanner = scanner;
    scanner?.setThreads?.(this.threadsSetting);
  }

  /**
   * The `threads` setting (see {@link OptimizerSettings.threads}); assigning
   * it takes effect at the next step. Optimizers without a wasm path ignore it.
   */
  get threads(): ThreadsSetting {
    return this.threadsSetting;
  }

  set threads(threads: ThreadsSetting) {
    this.threadsSetting = checkThreads(this.name, threads);
    this.scanner?.setThreads?.(this.threadsSetting);
  }

  /**
   * Check a group's hyper-parameters, throwing an `InvalidOptionError` that names
   * the option and its allowed range. Runs on construction and on `addParamGroup`;
   * called before subclass fields are initialised, so it must use only its argument.
   */
  protected abstract validateGroup(options: Readonly<O>): void;

  /** The fresh state of a parameter: every key present, `null` where a buffer is created lazily. */
  protected abstract initState(param: Parameter, group: ParamGroup<O>): S;

  /** Apply one update to every parameter of `group` that has a gradient. */
  protected abstract updateGroup(group: ParamGroup<O>): void;

  /**
   * Perform one optimization step. With a closure, it is called first (its loss
   * is returned) so the gradients it writes are the ones used.
   */
  step(closure?: Closure): number | undefined {
    const loss = closure ? closure() : undefined;
    if (!this.checkGradients()) return loss;
    for (let groupIndex = 0; groupIndex < this.paramGroups.length; groupIndex++) {
      const group = this.paramGroups[groupIndex]!;
      this.updateGroup(group);
    }
    return loss;
  }

  /** Reset every parameter's gradient: to `null` (default) or to zeros. */
  zeroGrad(options?: ZeroGradOptions): void {
    const setToNone = options?.setToNone ?? true;
    for (let groupIndex = 0; groupIndex < this.paramGroups.length; groupIndex++) {
      const group = this.paramGroups[groupIndex]!;
      for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
        const p = group.params[pIndex]!;
        if (setToNone) p.grad = null;
        else if (p.grad) p.grad.fill(0);
      }
    }
  }

  /** Add a group of parameters, with options overriding the defaults. */
  addParamGroup(group: ParamGroupInput<O>): void {
    const params: Parameter[] = [];
    const groupNames: Array<[Parameter, string]> = [];
    for (const entry of group.params) {
      const [name, p] = entry instanceof Parameter ? [entry.name, entry] : [entry[0], entry[1]];
      if (!(p instanceof Parameter)) {
        throw new ParamGroupError(`${this.name}: params must be Parameter objects or [name, Parameter] pairs`);
      }
      params.push(p);
      if (name !== undefined) groupNames.push([p, name]);
    }
    const seen = new Set<Parameter>();
    for (let pIndex = 0; pIndex < params.length; pIndex++) {
      const p = params[pIndex]!;
      const label = p.name ?? `at position ${params.indexOf(p)} of the new group`;
      if (seen.has(p)) throw new ParamGroupError(`${this.name}: parameter ${label} appears twice in one group`);
      seen.add(p);
      if (this.paramGroups.some((g) => g.params.includes(p))) {
        throw new ParamGroupError(`${this.name}: parameter ${label} appears in more than one parameter group`);
      }
    }
    const { params: _ignored, ...overrides } = group;
    const options = mergeOptions(this.name, this.defaults, overrides as Partial<O>);
    this.validateGroup(options);
    const full = { ...options, params } as ParamGroup<O>;
    this.paramGroups.push(full);
    for (const [p, name] of groupNames) this.names.set(p, name);
    this.onGroupAdded(full);
  }

  /** Hook for optimizers that create state at construction (Adagrad). */
  protected onGroupAdded(_group: ParamGroup<O>): void {}

  /** The state of `param`, created with {@link Optimizer.initState} on first use. */
  protected stateFor(param: Parameter, group: ParamGroup<O>): S {
    let s = this.state.get(param);
    if (s === undefined) {
      s = this.initState(param, group);
      this.state.set(param, s);
    }
    return s;
  }

  /** Every parameter over all groups, in order (the order state dicts use). */
  protected allParams(): Parameter[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  /** The parameter's name: from the constructor's `[name, param]` pair, else `param.name`. */
  paramName(param: Parameter): string | undefined {
    return this.names.get(param) ?? param.name;
  }

  /**
   * Apply the non-finite policy to the gradients about to be used. Returns false
   * when the step must be skipped.
   */
  protected checkGradients(): boolean {
    this.lastStepSkipped = false;
    if (this.nonFinite === 'ignore') return true;
    // A backend that keeps gradients elsewhere (wasm memory) scans them there; the
    // scan below then runs only to find and report the offending element.
    if (this.gradientScanner !== null && this.gradientScanner.gradientsFinite(this.paramGroups)) return true;
    let position = 0;
    for (let groupIndex = 0; groupIndex < this.paramGroups.length; groupIndex++) {
      const group = this.paramGroups[groupIndex]!;
      for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
        const p = group.params[pIndex]!;
        const g = p.grad;
        if (g !== null) {
          const index = firstNonFinite(g);
          if (index >= 0) return this.reportNonFinite(p, position, index, g);
        }
        position++;
      }
    }
    return true;
  }

  private reportNonFinite(p: Parameter, position: number, index: number, g: FloatArray): false {
    const parameter = this.paramName(p) ?? `#${position}`;
    const value = g[index]!;
    if (this.nonFinite === 'throw') throw new NonFiniteError(parameter, index, value);
    this.skippedSteps++;
    this.lastStepSkipped = true;
    this.onNonFinite?.({ parameter, index, value });
    return false;
  }

  /**
   * The optimizer's state as plain JSON-serialisable data. Floats are encoded
   * losslessly (float64 state survives bit-for-bit); state keys are PyTorch's.
   */
  stateDict(): OptimizerStateDict {
    const state: OptimizerStateDict['state'] = {};
    const groups: ParamGroupJson[] = [];
    let position = 0;
    for (const [gi, group] of this.paramGroups.entries()) {
      const indices: number[] = [];
      const names: string[] = [];
      for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
        const p = group.params[pIndex]!;
        const s = this.state.get(p);
        if (s !== undefined) {
          const entry: Record<string, StateValueJson> = {};
          for (const [key, value] of Object.entries(s)) entry[key] = encodeStateValue(value, p.shape, p.size);
          state[String(position)] = entry;
        }
        indices.push(position++);
        const name = this.paramName(p);
        if (name !== undefined) names.push(name);
      }
      const json: ParamGroupJson = { params: indices };
      for (const [key, value] of Object.entries(group)) {
        if (key !== 'params') json[key] = encodeOption(value, `${this.name}.paramGroups[${gi}].${key}`);
      }
      if (names.length === indices.length) json.param_names = names;
      groups.push(json);
    }
    const extra = this.extraState();
    return {
      format: '@opt/optimizer-state',
      version: 1,
      optimizer: this.name,
      state,
      param_groups: groups,
      ...(extra === undefined ? {} : { extra }),
    } as OptimizerStateDict;
  }

  /**
   * Restore state saved by {@link Optimizer.stateDict} (or a PyTorch state dict
   * converted to JSON in the same layout). Group options are restored too. The
   * load is all-or-nothing: on any mismatch a {@link StateDictError} is thrown
   * and the optimizer is unchanged.
   */
  loadStateDict(stateDict: OptimizerStateDict | Record<string, unknown>, options: LoadStateDictOptions = {}): void {
    const sd = stateDict as Partial<OptimizerStateDict> & { extra?: unknown };
    const where = `${this.name}.loadStateDict`;
    if (typeof sd !== 'object' || sd === null || typeof sd.state !== 'object' || !Array.isArray(sd.param_groups)) {
      throw new StateDictError(`${where}: expected an object with "state" and "param_groups"`);
    }
    if (sd.optimizer !== undefined && sd.optimizer !== this.name) {
      throw new StateDictError(`${where}: the state dict was written by ${String(sd.optimizer)}, not ${this.name}`);
    }
    const savedGroups = sd.param_groups;
    if (savedGroups.length !== this.paramGroups.length) {
      throw new StateDictError(
        `${where}: the state dict has ${savedGroups.length} parameter groups, the optimizer has ${this.paramGroups.length}`,
      );
    }
    // Resolve which saved position feeds each current parameter.
    const savedPositionOf = this.matchParameters(savedGroups, options.matchBy ?? 'auto', where);

    // Decode group options first: a state template may depend on them (amsgrad, momentum).
    const newOptions = this.paramGroups.map((group, gi) => {
      const saved = savedGroups[gi]!;
      const merged: Record<string, unknown> = { ...group };
      for (const [rawKey, value] of Object.entries(saved)) {
        if (rawKey === 'params' || rawKey === 'param_names') continue;
        const key = rawKey in group ? rawKey : snakeToCamel(rawKey);
        // `initialLr` is the base lr a scheduler writes into the group (PyTorch's
        // `initial_lr`); restoring it lets a scheduler built after the load resume.
        if (key === 'initialLr' && !(key in group)) {
          merged[key] = decodeOption(value, 0, `${where}: param_groups[${gi}].${rawKey}`);
          continue;
        }
        if (!(key in group) || key === 'params') continue;
        merged[key] = decodeOption(value, (group as Record<string, unknown>)[key], `${where}: param_groups[${gi}].${rawKey}`);
      }
      const { params: _params, ...opts } = merged;
      try {
        this.validateGroup(opts as O);
      } catch (e) {
        if (e instanceof OptError) throw new StateDictError(`${where}: param_groups[${gi}]: ${e.message}`);
        throw e;
      }
      return opts;
    });

    const newState = new Map<Parameter, S>();
    for (const [gi, group] of this.paramGroups.entries()) {
      const groupWithNewOptions = { ...group, ...newOptions[gi] } as ParamGroup<O>;
      for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
        const p = group.params[pIndex]!;
        const position = savedPositionOf.get(p)!;
        const saved = (sd.state as Record<string, unknown>)[String(position)];
        if (saved === undefined || saved === null) continue;
        const label = this.paramName(p) ?? `#${position}`;
        newState.set(p, this.decodeParamState(saved, p, groupWithNewOptions, `${where}: state of parameter ${label}`));
      }
    }
    const extra = sd.extra;
    this.validateExtraState(extra, where);

    // Everything decoded: commit.
    this.paramGroups.forEach((group, gi) => Object.assign(group, newOptions[gi]));
    this.state.clear();
    for (const [p, s] of newState) this.state.set(p, s);
    this.loadExtraState(extra);
  }

  /** Decode one parameter's saved state against its fresh template. */
  protected decodeParamState(saved: unknown, p: Parameter, group: ParamGroup<O>, where: string): S {
    if (typeof saved !== 'object' || saved === null || Array.isArray(saved)) {
      throw new StateDictError(`${where}: expected an object`);
    }
    const template = this.initState(p, group);
    const savedKeys = Object.keys(saved).sort();
    const expectedKeys = Object.keys(template).sort();
    if (savedKeys.join(',') !== expectedKeys.join(',')) {
      throw new StateDictError(
        `${where}: keys [${savedKeys.join(', ')}] do not match ${this.name}'s state keys [${expectedKeys.join(', ')}]`,
      );
    }
    const out: ParamState = {};
    // Template order, so a loaded state serialises exactly like the saved one.
    for (const key of Object.keys(template)) {
      out[key] = decodeStateValue((saved as Record<string, unknown>)[key], template[key]!, p.dtype, `${where}.${key}`);
    }
    return out as S;
  }

  /** Optimizer-wide state beyond per-parameter state (wrappers such as Lookahead); JSON data. */
  protected extraState(): unknown {
    return undefined;
  }

  /** Check optimizer-wide state before anything is committed; throw a StateDictError if it is wrong. */
  protected validateExtraState(_extra: unknown, _where: string): void {}

  /** Restore optimizer-wide state (already validated). */
  protected loadExtraState(_extra: unknown): void {}

  private matchParameters(
    savedGroups: readonly ParamGroupJson[],
    matchBy: 'auto' | 'name' | 'position',
    where: string,
  ): Map<Parameter, number> {
    const current = this.allParams();
    const currentNames = current.map((p) => this.paramName(p));
    const savedNames = savedGroups.flatMap((g) => g.param_names ?? []);
    const savedCount = savedGroups.reduce((n, g) => n + (Array.isArray(g.params) ? g.params.length : 0), 0);
    const namesUsable =
      currentNames.every((n) => n !== undefined) &&
      savedNames.length === savedCount &&
      new Set(savedNames).size === savedNames.length &&
      new Set(currentNames).size === currentNames.length;
    if (matchBy === 'name' && !namesUsable) {
      throw new StateDictError(`${where}: matching by name needs unique names on every current and saved parameter`);
    }
    const byName = matchBy === 'name' || (matchBy === 'auto' && namesUsable);
    const out = new Map<Parameter, number>();
    if (byName) {
      const positionOfName = new Map<string, { group: number; position: number }>();
      savedGroups.forEach((g, gi) => g.params.forEach((pos, k) => positionOfName.set(g.param_names![k]!, { group: gi, position: pos })));
      this.paramGroups.forEach((group, gi) => {
        for (let pIndex = 0; pIndex < group.params.length; pIndex++) {
          const p = group.params[pIndex]!;
          const name = this.paramName(p)!;
          const hit = positionOfName.get(name);
          if (hit === undefined) throw new StateDictError(`${where}: no saved state for parameter "${name}"`);
          if (hit.group !== gi) {
            throw new StateDictError(`${where}: parameter "${name}" is in group ${gi} but was saved in group ${hit.group}`);
          }
          out.set(p, hit.position);
        }
      });
      return out;
    }
    this.paramGroups.forEach((group, gi) => {
      const saved = savedGroups[gi]!;
      if (!Array.isArray(saved.params) || saved.params.length !== group.params.length) {
        throw new StateDictError(
          `${where}: param_groups[${gi}] has ${Array.isArray(saved.params) ? saved.params.length : 'no'} parameters, the optimizer's group has ${group.params.length}`,
        );
      }
      group.params.forEach((p, k) => out.set(p, saved.params[k]!));
    });
    return out;
  }
}

function toGroups<O>(params: ParamsArg<O>): ParamGroupInput<O>[] {
  const list = [...(params as Iterable<unknown>)];
  if (list.length > 0 && list.every((x) => typeof x === 'object' && x !== null && !(x instanceof Parameter) && !Array.isArray(x) && 'params' in x)) {
    return list as ParamGroupInput<O>[];
  }
  return [{ params: list as ParamInput[] } as unknown as ParamGroupInput<O>];
}

/**
 * Overlay user options on defaults. An unknown key is an error rather than a
 * silently ignored typo; a snake_case key gets a hint, since ported PyTorch
 * code is the usual source (`weight_decay` → `weightDecay`).
 */
function mergeOptions<O extends object>(where: string, defaults: Readonly<O>, options: Partial<O> & OptimizerSettings): O {
  const out: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries(options)) {
    if (SETTINGS_KEYS.has(key) || value === undefined) continue;
    if (!(key in defaults)) {
      const camel = snakeToCamel(key);
      const hint = camel !== key && camel in defaults ? `; did you mean ${camel}?` : '';
      throw new InvalidOptionError(key, value, `one of the options ${Object.keys(defaults).join(', ')}${hint}`, where);
    }
    out[key] = Array.isArray(value) ? [...value] : value;
  }
  return out as O;
}

function checkThreads(where: string, threads: ThreadsSetting): ThreadsSetting {
  if (threads === 'auto' || threads === false || (typeof threads === 'number' && Number.isInteger(threads) && threads >= 1)) return threads;
  throw new InvalidOptionError('threads', threads, "'auto', false or an integer ≥ 1", where);
}
