import {
  type FloatArray,
  InvalidOptionError,
  NonFiniteError,
  OptError,
  type Parameter,
  ShapeMismatchError,
  firstNonFinite,
} from '@opt/tensor';
import type { Optimizer, OptimizerStateDict, ParamGroup, ParamState, ParamsArg } from '@opt/core';
import { ALGORITHMS, type AlgorithmDefinition, type StepAlgorithm, type StepHyperOptions, algorithmOf } from '../graphs/algorithms.js';
import { type FloatType } from '../graphs/step-builder.js';
import { type StepGraph, buildStepGraph, stepGraphKey } from '../graphs/step-graph.js';
import type { DeviceKind, FallbackDiagnostic } from '../backends/errors.js';
import { type Backend, DeviceTensor, type GpuBuffer, type GpuDevice, type Runner } from '../backends/runner.js';
import { GraphBuilder } from '../onnx/builder.js';
import { ONNX_DATA_TYPE } from '../onnx/model.js';

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

/**
 * A gradient that is already on the device: a WebGPU `GPUBuffer` (onnxruntime-web on `'webgpu'` only; created
 * on {@link DeviceOptimizer.gpuDevice} with `STORAGE | COPY_SRC` usage, plus `COPY_DST` to fill it with
 * `queue.writeBuffer`, and a size of at least `gpuBufferBytes(p.dtype, p.size)`, which is `p.size` elements
 * rounded up to 16 bytes; `COPY_SRC` lets a non-finite gradient be read back to name its first bad entry) or a
 * {@link DeviceTensor} of the optimizer's runner (for example another session's output), of `p.dtype` and
 * `p.size` elements.
 */
export type DeviceGradient = GpuBuffer | DeviceTensor;

/** Options of {@link DeviceOptimizer.step}. */
export interface DeviceStepOptions {
  /**
   * Gradients already on the device, by parameter. Nothing is uploaded for these parameters (their host
   * `p.grad` is ignored for this step); the others use their host `p.grad` as usual. The buffers and tensors stay
   * the caller's: the step neither modifies nor destroys them.
   */
  gradients?: ReadonlyMap<Parameter, DeviceGradient>;
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
 * Gradients that already live on the device (a WebGPU `GPUBuffer` in the
 * browser, or a {@link DeviceTensor}) go to `step({ gradients })` and are not
 * uploaded at all; see {@link DeviceStepOptions}.
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
  private readonly finiteCheck = new Map<string, Promise<Runner>>();

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

  /**
   * The runner of the optimizer's first step graph, on {@link DeviceOptimizer.device}: its
   * `fromGpuBuffer`/`fromHost` make tensors every step graph of this optimizer can take as gradients.
   */
  get runner(): Runner {
    return this.chosen!;
  }

  /**
   * The `GPUDevice` the step graphs run on (onnxruntime-web on `'webgpu'`): create gradient buffers on it
   * (`STORAGE | COPY_DST` usage) to hand them to {@link DeviceOptimizer.step} without a host copy.
   *
   * @throws GpuBufferUnavailableError on any other backend or device.
   */
  gpuDevice(): Promise<GpuDevice> {
    return this.chosen!.gpuDevice();
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

  /** The non-finite policy over host gradients (the path without device gradients). */
  private scanGradients(): boolean {
    const policy = this.optimizer.nonFinite;
    if (policy === 'ignore') return true;
    let position = 0;
    for (const group of this.optimizer.paramGroups) {
      for (const p of group.params) {
        const g = p.grad;
        const index = g === null ? -1 : firstNonFinite(g);
        if (index >= 0) return this.nonFinite(p, position, index, g![index]!);
        position++;
      }
    }
    return true;
  }

  /** Apply the policy to a non-finite gradient entry: throw, or count and report a skipped step. */
  private nonFinite(p: Parameter, position: number, index: number, value: number): false {
    const name = this.optimizer.paramName(p) ?? `#${position}`;
    if (this.optimizer.nonFinite === 'throw') throw new NonFiniteError(name, index, value);
    this.skippedSteps++;
    this.optimizer.onNonFinite?.({ parameter: name, index, value });
    return false;
  }

  /**
   * The non-finite policy when some gradients are on the device. Those are checked in a graph: for each one,
   * `bad ← bad + ReduceSum(g · 0)` stays on the device (0·x is 0 for finite x and NaN for ±Inf or NaN, and a
   * sum of zeros cannot overflow), and only `bad` (one float32) is read back. When it is not 0, the device
   * gradients are read back in parameter order to name the first offending entry exactly as the host path does.
   */
  private async scanWithDeviceGradients(gradients: ReadonlyMap<Parameter, DeviceTensor>): Promise<boolean> {
    if (this.optimizer.nonFinite === 'ignore') return true;
    const runner = this.chosen!;
    let bad: DeviceTensor | null = null;
    for (const [p, g] of gradients) {
      const check = await this.finiteCheckFor(p.dtype);
      const acc = bad ?? check.fromHost('float32', new Float32Array(1), [1]);
      const out = await check.run({ g, acc });
      if (bad !== null) bad.dispose();
      bad = out.acc_out!;
    }
    const deviceBad = bad !== null && (await runner.read(bad))[0] !== 0;
    bad?.dispose();
    let position = 0;
    let firstDevice = -1;
    for (const group of this.optimizer.paramGroups) {
      for (const p of group.params) {
        const d = gradients.get(p);
        let g: FloatArray | null = p.grad;
        if (d !== undefined) {
          if (firstDevice < 0) firstDevice = position;
          g = deviceBad ? ((await runner.read(d)) as FloatArray) : null;
        }
        const index = g === null ? -1 : firstNonFinite(g);
        if (index >= 0) return this.nonFinite(p, position, index, g![index]!);
        position++;
      }
    }
    if (deviceBad) {
      // The check saw a non-finite value that the read-back did not: never step on it; name the first device gradient.
      const [p] = gradients.keys();
      return this.nonFinite(p!, firstDevice, -1, Number.NaN);
    }
    return true;
  }

  /** The accumulating finiteness-check session for gradients of one dtype, on the chosen device. */
  private finiteCheckFor(dtype: FloatType): Promise<Runner> {
    let entry = this.finiteCheck.get(dtype);
    if (entry === undefined) {
      const g = new GraphBuilder(`finite_check_${dtype}`);
      g.input('g', dtype, ['n']);
      g.input('acc', 'float32', [1]);
      const zero = g.scalar('zero', dtype, 0);
      const sum = g.op('ReduceSum', [g.op('Mul', ['g', zero])], { keepdims: 1 });
      const sum32 = dtype === 'float32' ? sum : g.op('Cast', [sum], { to: ONNX_DATA_TYPE.float32 });
      g.op('Add', ['acc', sum32], {}, 'acc_out');
      g.output('acc_out', 'float32', [1]);
      entry = this.backend.create(g.toModel(), { devices: [this.chosen!.device] });
      this.finiteCheck.set(dtype, entry);
    }
    return entry;
  }

  /** Turn the caller's device gradients into tensors of the runner, checking parameters, types and sizes. */
  private async deviceGradients(gradients: ReadonlyMap<Parameter, DeviceGradient>): Promise<Map<Parameter, DeviceTensor>> {
    let known = 0;
    for (const group of this.optimizer.paramGroups) for (const p of group.params) if (gradients.has(p)) known++;
    if (known !== gradients.size) {
      throw new InvalidOptionError('gradients', `${gradients.size - known} parameter(s) not in this optimizer`, 'gradients of parameters of this optimizer only', 'DeviceOptimizer.step');
    }
    const out = new Map<Parameter, DeviceTensor>();
    for (const group of this.optimizer.paramGroups) {
      for (const p of group.params) {
        const d = gradients.get(p);
        if (d === undefined) continue;
        if (d instanceof DeviceTensor) {
          if (d.isDisposed) throw new OptError('TENSOR_DISPOSED', `the device gradient of ${this.optimizer.paramName(p) ?? 'a parameter'} was disposed`);
          let count = 1;
          for (const x of d.dims) count *= x;
          if (d.elemType !== p.dtype || count !== p.size) {
            throw new ShapeMismatchError(
              `device gradient of ${this.optimizer.paramName(p) ?? 'a parameter'}: ${d.elemType} with ${count} elements, the parameter is ${p.dtype} with ${p.size}`,
            );
          }
          out.set(p, d);
        } else {
          const { runner } = await this.runnerFor(group, p.dtype);
          out.set(p, runner.fromGpuBuffer(p.dtype, d, [p.size]));
        }
      }
    }
    return out;
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
   * One optimization step over every parameter with a gradient: taken from `options.gradients` when it holds
   * one for the parameter (already on the device: nothing is uploaded), else read from `param.grad` on the
   * host. Applies the core optimizer's non-finite policy first, to both kinds: host gradients are scanned on the
   * host; device gradients are checked in a graph, which costs one extra small run per parameter and a
   * read-back of a single float32 per step (set the optimizer's `nonFinite: 'ignore'` to skip both).
   *
   * @param options - gradients already on the device ({@link DeviceStepOptions}).
   * @throws GpuBufferUnavailableError for a `GPUBuffer` unless the backend is onnxruntime-web on `'webgpu'`.
   * @throws ShapeMismatchError for a device gradient of the wrong type or size.
   * @throws InvalidOptionError for a gradient of a parameter this optimizer does not hold.
   */
  async step(options: DeviceStepOptions = {}): Promise<void> {
    const given = options.gradients;
    if (given === undefined || given.size === 0) {
      if (!this.scanGradients()) return;
      for (const group of this.optimizer.paramGroups) {
        for (const p of group.params) {
          const g = p.grad;
          if (g === null) continue;
          await this.stepParam(group, p, g);
        }
      }
      return;
    }
    const device = await this.deviceGradients(given);
    try {
      if (!(await this.scanWithDeviceGradients(device))) return;
      for (const group of this.optimizer.paramGroups) {
        for (const p of group.params) {
          const d = device.get(p);
          if (d !== undefined) await this.stepParam(group, p, d);
          else if (p.grad !== null) await this.stepParam(group, p, p.grad);
        }
      }
    } finally {
      // Only the wrappers made here from GPUBuffers: onnxruntime lets go of the buffer and leaves it to its owner.
      for (const [p, t] of device) if (t !== given.get(p)) t.dispose();
    }
  }

  private async stepParam(group: ParamGroup<O>, p: Parameter, g: FloatArray | DeviceTensor): Promise<void> {
    const { runner, graph } = await this.runnerFor(group, p.dtype);
    const slot = this.slotFor(p, runner, graph);
    const t = this.def.stepCounter ? slot.step + 1 : 0;
    const k = graph.hyperNames.length;
    if (this.hyper64.length < k) this.hyper64 = new Float64Array(k);
    this.def.hyper(group as unknown as StepHyperOptions, graph.flags, t, slot.first, this.hyper64);
    const hyper = graph.compute === 'float64' ? this.hyper64.slice(0, k) : Float32Array.from(this.hyper64.subarray(0, k));
    const feeds: Record<string, DeviceTensor> = {
      param: slot.param,
      grad: g instanceof DeviceTensor ? g : runner.fromHost(p.dtype, g, [p.size]),
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
    for (const entry of this.finiteCheck.values()) await (await entry).release();
    this.finiteCheck.clear();
  }
}
