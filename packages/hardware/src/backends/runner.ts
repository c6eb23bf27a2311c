import type * as OrtCommon from 'onnxruntime-common';
import { InvalidOptionError, OptError } from '@opt/tensor';
import { GraphBuilder } from '../onnx/builder.js';
import type { ElemType } from '../onnx/model.js';
import { type DeviceKind, ExecutionProviderUnavailableError, type FallbackDiagnostic } from './errors.js';

/** The parts of an onnxruntime module (onnxruntime-node or onnxruntime-web) the backends use. */
export type OrtModule = Pick<typeof OrtCommon, 'InferenceSession' | 'Tensor'>;

/** Host arrays a tensor can be made from or read into (float16 and bfloat16 as bit patterns). */
export type HostArray = Float32Array | Float64Array | Uint16Array | Int32Array | BigInt64Array | Uint8Array;

/** Where a tensor's data lives. */
export type TensorLocation = 'cpu' | 'gpu-buffer';

/** Options of {@link Backend.create}. */
export interface RunnerOptions {
  /**
   * The devices to try, in order; the first that creates a session is used.
   * onnxruntime does not fall back by itself when a provider fails to start,
   * so every failure is caught and recorded in `runner.diagnostics`.
   */
  devices: readonly DeviceKind[];
  /**
   * Keep outputs on the device (WebGPU: `preferredOutputLocation: 'gpu-buffer'`)
   * so they can be fed back as inputs without a copy. Default true; ignored on CPU/wasm.
   */
  keepOutputsOnDevice?: boolean;
  /** Session log severity (0 verbose … 4 fatal); default 3 (errors only). */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}

const handles = new WeakMap<DeviceTensor, OrtCommon.Tensor>();

/**
 * A tensor owned by a {@link Runner}: a host tensor or a device-resident one.
 * It deliberately has no data accessor: in onnxruntime-node, reading a
 * GPU-resident tensor's data aborts the whole process, so reads go through
 * {@link Runner.read}, which copies through a read-back session.
 */
export class DeviceTensor {
  /** Element type. */
  readonly elemType: ElemType;
  /** Dimensions. */
  readonly dims: readonly number[];
  /** Where the data lives. */
  readonly location: TensorLocation;
  private disposed = false;

  /** Wraps an onnxruntime tensor; created by runners, not by user code. */
  constructor(tensor: OrtCommon.Tensor, elemType: ElemType) {
    handles.set(this, tensor);
    this.elemType = elemType;
    this.dims = [...tensor.dims];
    this.location = tensor.location === 'gpu-buffer' ? 'gpu-buffer' : 'cpu';
  }

  /** Whether {@link DeviceTensor.dispose} was called. */
  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Release device memory now (host tensors are left to the garbage collector). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.location === 'gpu-buffer') handles.get(this)?.dispose();
    handles.delete(this);
  }
}

/** The onnxruntime tensor inside a {@link DeviceTensor} (backends only). */
export function ortTensorOf(t: DeviceTensor): OrtCommon.Tensor {
  const tensor = handles.get(t);
  if (tensor === undefined) throw new OptError('TENSOR_DISPOSED', 'the device tensor was disposed');
  return tensor;
}

/** A compiled graph on one device. */
export interface Runner {
  /** The device that runs the graph (after any fallback). */
  readonly device: DeviceKind;
  /** Failed attempts before `device` was chosen (empty when the first device worked). */
  readonly diagnostics: readonly FallbackDiagnostic[];
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Wrap host data as an input tensor (it is copied to the device when a run uses it). */
  fromHost(elemType: ElemType, data: HostArray, dims: readonly number[]): DeviceTensor;
  /** Run the graph; outputs stay where the runner keeps them (see `keepOutputsOnDevice`). */
  run(feeds: Readonly<Record<string, DeviceTensor>>): Promise<Record<string, DeviceTensor>>;
  /** Copy a tensor's data to the host (safe for device tensors). */
  read(t: DeviceTensor): Promise<HostArray>;
  /** Release the sessions. */
  release(): Promise<void>;
}

/** Something that compiles ONNX models into {@link Runner}s. */
export interface Backend {
  /** Name for diagnostics (`'onnxruntime-node'`). */
  readonly name: string;
  /** The devices this backend can try (whether they work is only known by trying). */
  devices(): readonly DeviceKind[];
  /** Compile `model` on the first device of `options.devices` that works. */
  create(model: Uint8Array, options: RunnerOptions): Promise<Runner>;
}

/** Which onnxruntime execution provider name each device maps to. */
const EP_NAME: Readonly<Record<DeviceKind, string>> = {
  cpu: 'cpu',
  wasm: 'wasm',
  webgpu: 'webgpu',
  cuda: 'cuda',
  tensorrt: 'tensorrt',
  rocm: 'rocm',
  migraphx: 'migraphx',
};

function identityModel(elemType: ElemType, rank: number): Uint8Array {
  const g = new GraphBuilder(`read_back_${elemType}_${rank}`);
  const dims = Array.from({ length: rank }, (_, i) => `d${i}`);
  g.input('x', elemType, dims);
  g.op('Identity', ['x'], {}, 'y');
  g.output('y', elemType, dims);
  return g.toModel();
}

/** Settings of an {@link OrtRunner} that differ between onnxruntime-node and onnxruntime-web. */
export interface OrtFlavour {
  /** The devices this module can run. */
  devices: readonly DeviceKind[];
  /** Read GPU tensors through an Identity session with CPU outputs (Node) instead of `getData()` (web). */
  readBackThroughSession: boolean;
  /** Extra session options per device (for example a shared `GPUDevice`). */
  sessionOptions?: (device: DeviceKind) => OrtCommon.InferenceSession.SessionOptions;
}

/**
 * A {@link Runner} over an onnxruntime module: explicit provider choice,
 * recorded fallback, device-resident outputs and a safe read-back path.
 */
export class OrtRunner implements Runner {
  readonly device: DeviceKind;
  readonly diagnostics: readonly FallbackDiagnostic[];
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  private readonly readBack = new Map<string, Promise<OrtCommon.InferenceSession>>();
  private readonly outputTypes: ReadonlyMap<string, ElemType>;

  private constructor(
    private readonly ort: OrtModule,
    private readonly flavour: OrtFlavour,
    private readonly session: OrtCommon.InferenceSession,
    device: DeviceKind,
    diagnostics: FallbackDiagnostic[],
  ) {
    this.device = device;
    this.diagnostics = diagnostics;
    this.inputNames = [...session.inputNames];
    this.outputNames = [...session.outputNames];
    const types = new Map<string, ElemType>();
    const meta = (session as { outputMetadata?: ReadonlyArray<{ name: string; isTensor: boolean; type?: string }> }).outputMetadata ?? [];
    for (const m of meta) if (m.isTensor && m.type !== undefined) types.set(m.name, m.type as ElemType);
    this.outputTypes = types;
  }

  /** Create a session on the first device of `options.devices` that works. */
  static async create(ort: OrtModule, flavour: OrtFlavour, model: Uint8Array, options: RunnerOptions): Promise<OrtRunner> {
    if (options.devices.length === 0) throw new InvalidOptionError('devices', options.devices, 'at least one device', 'Backend.create');
    const diagnostics: FallbackDiagnostic[] = [];
    let lastError: ExecutionProviderUnavailableError | null = null;
    for (const device of options.devices) {
      try {
        const session = await OrtRunner.open(ort, flavour, model, device, options);
        return new OrtRunner(ort, flavour, session, device, diagnostics);
      } catch (e) {
        const error = e instanceof ExecutionProviderUnavailableError ? e : new ExecutionProviderUnavailableError(device, messageOf(e));
        diagnostics.push({ device, error: error.message });
        lastError = error;
      }
    }
    if (options.devices.length === 1) throw lastError!;
    throw new ExecutionProviderUnavailableError(
      options.devices[options.devices.length - 1]!,
      `no device of [${options.devices.join(', ')}] worked: ${diagnostics.map((d) => d.error).join(' | ')}`,
    );
  }

  private static async open(
    ort: OrtModule,
    flavour: OrtFlavour,
    model: Uint8Array,
    device: DeviceKind,
    options: RunnerOptions,
  ): Promise<OrtCommon.InferenceSession> {
    if (device === 'rocm' || device === 'migraphx' || !flavour.devices.includes(device)) {
      // Not a provider this onnxruntime build has: fail with the guidance, without asking onnxruntime.
      throw new ExecutionProviderUnavailableError(device, '');
    }
    const onDevice = device === 'webgpu' && options.keepOutputsOnDevice !== false;
    return ort.InferenceSession.create(model, {
      executionProviders: [EP_NAME[device]],
      logSeverityLevel: options.logSeverityLevel ?? 3,
      ...(onDevice ? { preferredOutputLocation: 'gpu-buffer' as const } : {}),
      ...(flavour.sessionOptions?.(device) ?? {}),
    });
  }

  fromHost(elemType: ElemType, data: HostArray, dims: readonly number[]): DeviceTensor {
    const tensor = new this.ort.Tensor(elemType as 'float32', data as Float32Array, [...dims]);
    return new DeviceTensor(tensor, elemType);
  }

  async run(feeds: Readonly<Record<string, DeviceTensor>>): Promise<Record<string, DeviceTensor>> {
    const ortFeeds: Record<string, OrtCommon.Tensor> = {};
    for (const name of Object.keys(feeds)) ortFeeds[name] = ortTensorOf(feeds[name]!);
    const results = await this.session.run(ortFeeds);
    const out: Record<string, DeviceTensor> = {};
    for (const name of Object.keys(results)) {
      const t = results[name]!;
      out[name] = new DeviceTensor(t, this.outputTypes.get(name) ?? (t.type as ElemType));
    }
    return out;
  }

  async read(t: DeviceTensor): Promise<HostArray> {
    const tensor = ortTensorOf(t);
    if (t.location === 'cpu') return tensor.data as HostArray;
    if (!this.flavour.readBackThroughSession) return (await tensor.getData()) as HostArray;
    const key = `${t.elemType}/${t.dims.length}`;
    let session = this.readBack.get(key);
    if (session === undefined) {
      // A second session with CPU outputs: onnxruntime-node cannot download a GPU tensor itself.
      session = this.ort.InferenceSession.create(identityModel(t.elemType, t.dims.length), {
        executionProviders: [EP_NAME[this.device]],
        preferredOutputLocation: 'cpu',
        logSeverityLevel: 3,
      });
      this.readBack.set(key, session);
    }
    const result = await (await session).run({ x: tensor });
    return result.y!.data as HostArray;
  }

  async release(): Promise<void> {
    for (const s of this.readBack.values()) await (await s).release();
    this.readBack.clear();
    await this.session.release();
  }
}

function messageOf(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 500);
}
