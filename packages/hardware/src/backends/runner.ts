import type * as OrtCommon from 'onnxruntime-common';
import { InvalidOptionError, OptError, ShapeMismatchError } from '@opt/tensor';
import { GraphBuilder } from '../onnx/builder.js';
import { ELEM_BYTES, type ElemType } from '../onnx/model.js';
import { type DeviceKind, ExecutionProviderUnavailableError, type FallbackDiagnostic, GpuBufferUnavailableError } from './errors.js';

/**
 * The parts of an onnxruntime module (onnxruntime-node or onnxruntime-web) the backends use. `env` is optional
 * (a module passed without it still runs); {@link Runner.gpuDevice} needs it.
 */
export type OrtModule = Pick<typeof OrtCommon, 'InferenceSession' | 'Tensor'> & Partial<Pick<typeof OrtCommon, 'env'>>;

/**
 * A WebGPU `GPUBuffer`. Typed through onnxruntime's own alias: with the WebGPU type declarations loaded
 * (`@webgpu/types`) it is the real `GPUBuffer`, otherwise the structural `{ size, mapState }`, so this package
 * compiles without them.
 */
export type GpuBuffer = OrtCommon.Tensor.GpuBufferType;

/** The subset of a WebGPU `GPUDevice` that creating and filling gradient buffers needs (used without `@webgpu/types`). */
export interface GpuDeviceLike {
  /** `GPUDevice.createBuffer`; `usage` is a `GPUBufferUsage` bit set. */
  createBuffer(descriptor: { size: number; usage: number; mappedAtCreation?: boolean; label?: string }): GpuBuffer;
  /** The device's queue: `writeBuffer` uploads host data, `onSubmittedWorkDone` waits for the GPU. */
  readonly queue: {
    writeBuffer(buffer: GpuBuffer, bufferOffset: number, data: ArrayBufferView | ArrayBuffer, dataOffset?: number, size?: number): void;
    onSubmittedWorkDone(): Promise<void>;
  };
}

/** A WebGPU `GPUDevice`: the real type when the WebGPU declarations are loaded, else {@link GpuDeviceLike}. */
export type GpuDevice = typeof globalThis extends { GPUDevice: { prototype: infer T } } ? T : GpuDeviceLike;

/** Element types a tensor over a GPU buffer may have (onnxruntime-web's GPU buffer types that a {@link HostArray} can hold). */
const GPU_BUFFER_TYPES: readonly ElemType[] = ['float32', 'float16', 'int32', 'int64', 'uint8', 'bool'];

/**
 * The size in bytes a `GPUBuffer` must have to enter a run as a tensor of `count` elements of `elemType`:
 * the data size rounded up to a multiple of 16. onnxruntime-web's WebGPU kernels treat every buffer as whole
 * 16-byte blocks (its own buffers are allocated that way); with a buffer cut at the data size, a measured Adam step
 * on 37 float32 elements (148 bytes) gave a wrong parameter update, with no WebGPU validation error.
 *
 * @param elemType - the element type.
 * @param count - the number of elements.
 * @example
 * ```ts
 * const buffer = device.createBuffer({ size: gpuBufferBytes('float32', p.size), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
 * ```
 */
export function gpuBufferBytes(elemType: ElemType, count: number): number {
  return Math.ceil((count * ELEM_BYTES[elemType]) / 16) * 16;
}

/** The WebGPU calls {@link OrtRunner.read} makes to copy a caller's buffer to the host. */
interface CopyDevice {
  createBuffer(descriptor: { size: number; usage: number }): CopyBuffer;
  createCommandEncoder(): { copyBufferToBuffer(src: CopyBuffer, srcOffset: number, dst: CopyBuffer, dstOffset: number, size: number): void; finish(): unknown };
  readonly queue: { submit(commands: unknown[]): void };
  pushErrorScope(filter: 'validation'): void;
  popErrorScope(): Promise<{ message: string } | null>;
}
interface CopyBuffer {
  mapAsync(mode: number): Promise<void>;
  getMappedRange(offset?: number, size?: number): ArrayBuffer;
  unmap(): void;
  destroy(): void;
}
// GPUBufferUsage.MAP_READ, GPUBufferUsage.COPY_DST and GPUMapMode.READ (the WebGPU globals exist only in browsers).
const USAGE_MAP_READ = 0x1;
const USAGE_COPY_DST = 0x8;
const MAP_MODE_READ = 0x1;

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
/** Tensors over a caller's GPU buffer: onnxruntime has no downloader for them, so `read` copies them through a staging buffer. */
const external = new WeakSet<DeviceTensor>();

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

  /**
   * Release device memory now (host tensors are left to the garbage collector). A tensor made by
   * {@link Runner.fromGpuBuffer} only lets go of the buffer: the buffer belongs to its creator, who destroys it.
   */
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
  /**
   * Wrap a WebGPU buffer that already holds the data as an input tensor, without a host copy (onnxruntime-web's
   * `Tensor.fromGpuBuffer`). The buffer must come from the runner's own `GPUDevice` ({@link Runner.gpuDevice}),
   * have `STORAGE` usage (and `COPY_SRC` to be {@link Runner.read} back) and a size of at least
   * {@link gpuBufferBytes}`(elemType, product(dims))` (the data rounded up to 16 bytes); `elemType` is float32,
   * float16, int32, int64, uint8 or bool. The buffer stays the caller's.
   *
   * @throws GpuBufferUnavailableError unless the runner is onnxruntime-web on `'webgpu'`.
   * @throws ShapeMismatchError when the buffer is smaller than {@link gpuBufferBytes}.
   */
  fromGpuBuffer(elemType: ElemType, buffer: GpuBuffer, dims: readonly number[]): DeviceTensor;
  /**
   * The `GPUDevice` the runner's WebGPU session uses (`ort.env.webgpu.device`, set once the first WebGPU session
   * exists), so user code can create buffers that its sessions can read.
   *
   * @throws GpuBufferUnavailableError unless the runner is onnxruntime-web on `'webgpu'`.
   */
  gpuDevice(): Promise<GpuDevice>;
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
  /**
   * Whether WebGPU sessions can take `GPUBuffer`s as inputs and expose their `GPUDevice` (onnxruntime-web).
   * Default false: onnxruntime-node's WebGPU tensors are opaque native handles.
   */
  gpuBuffers?: boolean;
  /** The backend's name in error messages (default: onnxruntime-node when reading back through a session, else onnxruntime-web). */
  backendName?: string;
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

  fromGpuBuffer(elemType: ElemType, buffer: GpuBuffer, dims: readonly number[]): DeviceTensor {
    this.requireGpuBuffers('wrapping a GPUBuffer as a tensor');
    if (!GPU_BUFFER_TYPES.includes(elemType)) {
      throw new InvalidOptionError('elemType', elemType, `one of ${GPU_BUFFER_TYPES.join(', ')} (onnxruntime-web GPU buffer types)`, 'Runner.fromGpuBuffer');
    }
    let count = 1;
    for (const d of dims) count *= d;
    const bytes = gpuBufferBytes(elemType, count);
    if (buffer.size < bytes) {
      throw new ShapeMismatchError(
        `Runner.fromGpuBuffer: the buffer holds ${buffer.size} bytes; a ${elemType} tensor of dims [${dims.join(', ')}] needs ${bytes} ` +
          '(its size rounded up to 16 bytes: onnxruntime-web reads whole 16-byte blocks; allocate gpuBufferBytes(elemType, count))',
      );
    }
    // No `dispose` callback: onnxruntime then treats the buffer as external and never destroys it.
    const tensor = this.ort.Tensor.fromGpuBuffer(buffer, { dataType: elemType as OrtCommon.Tensor.GpuBufferDataTypes, dims: [...dims] });
    const t = new DeviceTensor(tensor, elemType);
    external.add(t);
    return t;
  }

  async gpuDevice(): Promise<GpuDevice> {
    this.requireGpuBuffers('the GPUDevice');
    const env = this.ort.env;
    if (env === undefined) throw new OptError('ORT_ENV_MISSING', 'Runner.gpuDevice: the onnxruntime module was passed without its `env`');
    // After this runner's session exists the getter resolves to the backend's device; it never creates another.
    return (await env.webgpu.device) as unknown as GpuDevice;
  }

  /**
   * Copy a caller's GPU buffer to the host through a staging buffer. onnxruntime-web has no downloader for such
   * tensors, and its Identity kernel copies whole 16-byte blocks, past the end of a buffer sized to the tensor.
   */
  private async readExternal(t: DeviceTensor, tensor: OrtCommon.Tensor): Promise<HostArray> {
    const device = (await this.gpuDevice()) as unknown as CopyDevice;
    let count = 1;
    for (const d of t.dims) count *= d;
    const bytes = count * ELEM_BYTES[t.elemType];
    // WebGPU copies whole 4-byte words.
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    const staging = device.createBuffer({ size, usage: USAGE_MAP_READ | USAGE_COPY_DST });
    try {
      device.pushErrorScope('validation');
      const encoder = device.createCommandEncoder();
      encoder.copyBufferToBuffer(tensor.gpuBuffer as unknown as CopyBuffer, 0, staging, 0, size);
      device.queue.submit([encoder.finish()]);
      const error = await device.popErrorScope();
      if (error !== null) {
        throw new OptError('GPU_BUFFER_READ', `Runner.read: the GPU buffer could not be copied to the host (it needs COPY_SRC usage): ${error.message.split('\n')[0]}`);
      }
      await staging.mapAsync(MAP_MODE_READ);
      const copy = staging.getMappedRange(0, size).slice(0, bytes);
      staging.unmap();
      switch (t.elemType) {
        case 'float32':
          return new Float32Array(copy);
        case 'float16':
          return new Uint16Array(copy);
        case 'int32':
          return new Int32Array(copy);
        case 'int64':
          return new BigInt64Array(copy);
        default:
          return new Uint8Array(copy);
      }
    } finally {
      staging.destroy();
    }
  }

  private requireGpuBuffers(what: string): void {
    if (this.device !== 'webgpu' || this.flavour.gpuBuffers !== true) {
      const name = this.flavour.backendName ?? (this.flavour.readBackThroughSession ? 'onnxruntime-node' : 'onnxruntime-web');
      throw new GpuBufferUnavailableError(name, this.device, what);
    }
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
    if (external.has(t)) return this.readExternal(t, tensor);
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
