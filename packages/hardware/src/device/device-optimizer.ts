import {
  type FloatArray,
  InvalidOptionError,
  NonFiniteError,
  type Parameter,
  firstNonFinite,
} from '@opt/tensor';
import type { Optimizer, OptimizerStateDict, ParamGroup, ParamState, ParamsArg } from '@opt/core';
import { ALGORITHMS, type AlgorithmDefinition, type StepAlgorithm, type StepHyperOptions, algorithmOf } from '../graphs/algorithms.js';
import { type FloatType } from '../graphs/step-builder.js';
import { type StepGraph, buildStepGraph, stepGraphKey } from '../graphs/step-graph.js';
import type { DeviceKind, FallbackDiagnostic } from '../backends/errors.js';
import type { Backend, DeviceTensor, Runner } from '../backends/runner.js';

/** Options of {@link DeviceOptimizer}. */
export interface DeviceOptimizerOptions {
  /** The onnxruntime backend (`OrtNodeBackend` from `@opt/hardware/node`, or {@link OrtWebBackend}). */
  backend: Backend;
  /** Devices to try, in order (default `['cpu']`); failures are recorded in {@link DeviceOptimizer.diagnostics}. */
  devices?: readonly DeviceKind[];
  /**
   * Arithmetic type of the step graphs for float32 parameters: `'float64'`
   * reproduces `@opt/core`'s JS path bit for bit (it computes in doubles),
   * `'float32'` is what WebGPU supports. Default `'auto'`: float32 when the
   * first device is `'webgpu'`, else float64. float64 parameters always compute in float64.
   */
  compute?: FloatType | 'auto';
  /**
   * Copy the updated parameters to the host `Parameter`s after every step
   * (needed when the forward pass runs in JavaScript). Default false: they
   * stay on the device until {@link DeviceOptimizer.syncToHost}.
   */
  syncParams?: boolean;
}

/** Constructor of an `@opt/core` optimizer with a step graph. */
export type CoreOptimizerClass<O extends object> = new (params: ParamsArg<O>, options?: Partial<O>) => Optimizer<O>;

interface Slot {
  param: DeviceTensor;
  state: Map<string, DeviceTensor>;
  step: number;
  first: boolean;
}

const CORE_STATE_ORDER = (def: AlgorithmDefinition, keys: readonly string[]): string[] => (def.stepCounter ? ['step', ...keys] : [...keys]);

/**
 * Runs an `@opt/core` optimizer's updates as ONNX step graphs on a device
 * (onnxruntime: WebGPU, CPU, CUDA where installed). Parameters and state stay
 * on the device between steps (outputs are fed back as inputs); each step
 * uploads only the gradients and a small vector of hyper-parameters, which the
 * host computes in float64 exactly as the core optimizer does. The host copies
 * are brought up to date only by {@link DeviceOptimizer.syncToHost} and
 * {@link DeviceOptimizer.stateDict}, whose format is the core optimizer's, so
 * checkpoints move freely between the device and the plain JS optimizer.
 *
 * The wrapped optimizer keeps the parameter groups: change `paramGroups[i].lr`
 * (or let a scheduler do it) between steps. One session serves each
 * (algorithm, dtype, static flags) combination; changing a flag such as
 * `amsgrad` selects another session.
 *
 * For a parameter p with gradient g and t its step count, the update is the
 * core optimizer's (for Adam: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g²,
 * p ← p − (lr/(1−β₁ᵗ))·m / (√v/√(1−β₂ᵗ) + ε)).
 *
 * @example
 * ```ts
 * import { Adam, Parameter } from '@opt/core';
 * import { DeviceOptimizer } from '@opt/hardware';
 * import { OrtNodeBackend } from '@opt/hardware/node';
 *
 * const w = new Parameter(new Float32Array([1, -2]), [2], 'w');
 * const opt = await DeviceOptimizer.create(Adam, [w], { lr: 0.1 }, { backend: new OrtNodeBackend(), devices: ['webgpu', 'cpu'] });
 * w.grad = new Float32Array([0.5, -0.5]);
 * await opt.step();
 * await opt.syncToHost(); // w.data now holds the updated values
 * ```
 */
export class DeviceOptimizer<O extends object = object> {
  /** The wrapped core optimizer: its groups are live, its state is the host mirror. */
  readonly optimizer: Optimizer<O>;
  /** The graph algorithm. */
  readonly algorithm: StepAlgorithm;
  /** Steps skipped under the optimizer's `nonFinite: 'skip'` policy. */
  skippedSteps = 0;
  private readonly def: AlgorithmDefinition;
  private readonly backend: Backend;
  private readonly devices: readonly DeviceKind[];
  private readonly computeSetting: FloatType | 'auto';
  private readonly syncParams: boolean;
  private readonly runners = new Map<string, Promise<{ runner: Runner; graph: StepGraph }>>();
  private readonly slots = new Map<Parameter, Slot>();
  private chosen: Runner | null = null;
  private hyper64 = new Float64Array(16);

  private constructor(optimizer: Optimizer<O>, options: DeviceOptimizerOptions) {
    this.optimizer = optimizer;
    this.algorithm = algorithmOf(optimizer.name);
    this.def = ALGORITHMS[this.algorithm];
    this.backend = options.backend;
    this.devices = options.devices ?? ['cpu'];
    this.computeSetting = options.compute ?? 'auto';
    this.syncParams = options.syncParams === true;
    if (this.devices.length === 0) throw new InvalidOptionError('devices', this.devices, 'at least one device', 'DeviceOptimizer');
  }

  /** Wrap an existing core optimizer (its current host state is uploaded on first use). */
  static async wrap<O extends object>(optimizer: Optimizer<O>, options: DeviceOptimizerOptions): Promise<DeviceOptimizer<O>> {
    const d = new DeviceOptimizer(optimizer, options);
    await d.warmUp();
    return d;
  }

  /** Construct the core optimizer `cls(params, hyper)` and wrap it. */
  static create<O extends object>(
    cls: CoreOptimizerClass<O>,
    params: ParamsArg<O>,
    hyper: Partial<O>,
    options: DeviceOptimizerOptions,
  ): Promise<DeviceOptimizer<O>> {
    return DeviceOptimizer.wrap(new cls(params, hyper), options);
  }

  /** The parameter groups of the wrapped optimizer (live: edit options between steps). */
  get paramGroups(): ParamGroup<O>[] {
    return this.optimizer.paramGroups;
  }

  /** The device the sessions run on (after fallback). */
  get device(): DeviceKind {
    return this.chosen!.device;
  }

  /** Why earlier devices of the fallback list were not used. */
  get diagnostics(): readonly FallbackDiagnostic[] {
    return this.chosen!.diagnostics;
  }

  /** Resolve the device once, by compiling the graph of the first group. */
  private async warmUp(): Promise<void> {
    const group = this.optimizer.paramGroups[0]!;
    const p = group.params[0]!;
    await this.runnerFor(group, p.dtype);
  }

  private computeFor(dtype: FloatType): FloatType {
    if (dtype === 'float64') return 'float64';
    if (this.computeSetting !== 'auto') return this.computeSetting;
    return this.devices[0] === 'webgpu' ? 'float32' : 'float64';
  }

  private runnerFor(group: ParamGroup<O>, dtype: FloatType): Promise<{ runner: Runner; graph: StepGraph }> {
    const flags = this.def.flags(group as unknown as StepHyperOptions);
    const options = { algorithm: this.algorithm, dtype, compute: this.computeFor(dtype), flags };
    const key = stepGraphKey(options);
    let entry = this.runners.get(key);
    if (entry === undefined) {
      const graph = buildStepGraph(options);
      // Once a device is chosen every further session goes to it, so all tensors live in one place.
      const devices = this.chosen === null ? this.devices : [this.chosen.device];
      entry = this.backend.create(graph.model, { devices }).then((runner) => {
        this.chosen ??= runner;
        return { runner, graph };
      });
      this.runners.set(key, entry);
    }
    return entry;
  }

  private scanGradients(): boolean {
    const policy = this.optimizer.nonFinite;
    if (policy === 'ignore') return true;
    let position = 0;
    for (const group of this.optimizer.paramGroups) {
      for (const p of group.params) {
        const g = p.grad;
        const index = g === null ? -1 : firstNonFinite(g);
        if (index >= 0) {
          const name = this.optimizer.paramName(p) ?? `#${position}`;
          if (policy === 'throw') throw new NonFiniteError(name, index, g![index]!);
          this.skippedSteps++;
          this.optimizer.onNonFinite?.({ parameter: name, index, value: g![index]! });
          return false;
        }
        position++;
      }
    }
    return true;
  }

  private slotFor(p: Parameter, runner: Runner, graph: StepGraph): Slot {
    let slot = this.slots.get(p);
    if (slot === undefined) {
      const host = this.optimizer.state.get(p) as ParamState | undefined;
      slot = {
        param: runner.fromHost(p.dtype, p.data, [p.size]),
        state: new Map(),
        step: typeof host?.step === 'number' ? host.step : 0,
        first: true,
      };
      for (const key of graph.stateKeys) {
        const value = host?.[key];
        if (value instanceof Float32Array || value instanceof Float64Array) slot.state.set(key, runner.fromHost(p.dtype, value.slice(), [p.size]));
      }
      slot.first = !slot.state.has('momentum_buffer');
      this.slots.set(p, slot);
    }
    // A flag turned on since (momentum, amsgrad, centered): its buffer starts at zero as in the core optimizer.
    for (const key of graph.stateKeys) {
      if (!slot.state.has(key)) slot.state.set(key, runner.fromHost(p.dtype, p.dtype === 'float64' ? new Float64Array(p.size) : new Float32Array(p.size), [p.size]));
    }
    return slot;
  }

  /**
   * One optimization step over every parameter with a gradient (read from
   * `param.grad` on the host). Applies the core optimizer's non-finite policy first.
   */
  async step(): Promise<void> {
    if (!this.scanGradients()) return;
    for (const group of this.optimizer.paramGroups) {
      for (const p of group.params) {
        const g = p.grad;
        if (g === null) continue;
        await this.stepParam(group, p, g);
      }
    }
  }

  private async stepParam(group: ParamGroup<O>, p: Parameter, g: FloatArray): Promise<void> {
    const { runner, graph } = await this.runnerFor(group, p.dtype);
    const slot = this.slotFor(p, runner, graph);
    const t = this.def.stepCounter ? slot.step + 1 : 0;
    const k = graph.hyperNames.length;
    if (this.hyper64.length < k) this.hyper64 = new Float64Array(k);
    this.def.hyper(group as unknown as StepHyperOptions, graph.flags, t, slot.first, this.hyper64);
    const hyper = graph.compute === 'float64' ? this.hyper64.slice(0, k) : Float32Array.from(this.hyper64.subarray(0, k));
    const feeds: Record<string, DeviceTensor> = {
      param: slot.param,
      grad: runner.fromHost(p.dtype, g, [p.size]),
      hyper: runner.fromHost(graph.compute, hyper, [k]),
    };
    for (const key of graph.stateKeys) feeds[key] = slot.state.get(key)!;
    const out = await runner.run(feeds);
    slot.param.dispose();
    slot.param = out.param_out!;
    for (const key of graph.stateKeys) {
      slot.state.get(key)!.dispose();
      slot.state.set(key, out[`${key}_out`]!);
    }
    slot.step = t;
    if (graph.flags.momentum) slot.first = false;
    if (this.syncParams) p.data.set((await runner.read(slot.param)) as FloatArray);
  }

  /** Set every gradient to `null` (or zeros), as the core optimizer does. */
  zeroGrad(options?: { setToNone?: boolean }): void {
    this.optimizer.zeroGrad(options);
  }

  /**
   * Copy parameters and state from the device into the host `Parameter`s and
   * the core optimizer's `state`, so the core optimizer can continue or save.
   */
  async syncToHost(): Promise<void> {
    const runner = this.chosen;
    if (runner === null) return;
    for (const group of this.optimizer.paramGroups) {
      const flags = this.def.flags(group as unknown as StepHyperOptions);
      const keys = this.def.stateKeys(flags);
      for (const p of group.params) {
        const slot = this.slots.get(p);
        if (slot === undefined) continue;
        p.data.set((await runner.read(slot.param)) as FloatArray);
        const s: ParamState = {};
        for (const key of CORE_STATE_ORDER(this.def, keys)) {
          if (key === 'step') {
            s.step = slot.step;
            continue;
          }
          const t = slot.state.get(key)!;
          s[key] = key === 'momentum_buffer' && slot.first ? null : ((await runner.read(t)) as FloatArray).slice();
        }
        // SGD keeps the key even without momentum (its template is { momentum_buffer: null }).
        if (this.algorithm === 'sgd' && !flags.momentum) s.momentum_buffer = null;
        this.optimizer.state.set(p, s);
      }
    }
  }

  /** The core optimizer's state dict, after a {@link DeviceOptimizer.syncToHost}. */
  async stateDict(): Promise<OptimizerStateDict> {
    await this.syncToHost();
    return this.optimizer.stateDict();
  }

  /**
   * Load a state dict (from `@opt/core` or from {@link DeviceOptimizer.stateDict})
   * into the wrapped optimizer; the device copies are rebuilt from it on the next step.
   */
  async loadStateDict(stateDict: OptimizerStateDict | Record<string, unknown>): Promise<void> {
    await this.syncToHost();
    this.optimizer.loadStateDict(stateDict);
    this.dropDeviceCopies();
  }

  /** Forget the device copies: the next step uploads the host parameters and state again (after host-side edits). */
  dropDeviceCopies(): void {
    for (const slot of this.slots.values()) {
      slot.param.dispose();
      for (const t of slot.state.values()) t.dispose();
    }
    this.slots.clear();
  }

  /** Release every session and device tensor (call {@link DeviceOptimizer.syncToHost} first to keep the results). */
  async release(): Promise<void> {
    this.dropDeviceCopies();
    for (const entry of this.runners.values()) await (await entry).runner.release();
    this.runners.clear();
  }
}
