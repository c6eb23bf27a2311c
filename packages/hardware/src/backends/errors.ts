import { OptError } from '@opt/tensor';

/** The execution devices a runner can be asked for. */
export type DeviceKind = 'cpu' | 'wasm' | 'webgpu' | 'cuda' | 'tensorrt' | 'rocm' | 'migraphx';

/** One failed attempt of a fallback list. */
export interface FallbackDiagnostic {
  /** The device tried. */
  device: DeviceKind;
  /** Why it failed. */
  error: string;
}

/** Why a device could not be used (PyTorch-style guidance for what is missing). */
export function missingPieceOf(device: DeviceKind): string {
  switch (device) {
    case 'cuda':
      return (
        'the CUDA execution provider needs libonnxruntime_providers_cuda.so and libonnxruntime_providers_shared.so, ' +
        'which onnxruntime-node downloads only at install time (ONNXRUNTIME_NODE_INSTALL=cuda12 npm install onnxruntime-node), ' +
        'plus a system CUDA 12 and cuDNN 9'
      );
    case 'tensorrt':
      return (
        'the TensorRT execution provider needs libonnxruntime_providers_tensorrt.so (install onnxruntime-node with ' +
        'ONNXRUNTIME_NODE_INSTALL=cuda12) and a system TensorRT, CUDA 12 and cuDNN 9'
      );
    case 'rocm':
    case 'migraphx':
      return `the ${device} execution provider was removed from ONNX Runtime 1.23; use 'webgpu' (AMD GPUs run through Vulkan)`;
    case 'webgpu':
      return 'the WebGPU execution provider needs a WebGPU adapter: a Vulkan driver in Node (for example Mesa lavapipe via VK_ICD_FILENAMES), or a browser with WebGPU enabled';
    case 'wasm':
      return "the 'wasm' device exists only in onnxruntime-web (use OrtWebBackend)";
    case 'cpu':
      return 'onnxruntime could not create a CPU session';
  }
}

/**
 * A requested execution provider cannot be used here. The message names what
 * is missing (libraries, drivers, install flags) and the provider's own error.
 */
export class ExecutionProviderUnavailableError extends OptError {
  /** The device that was asked for. */
  readonly device: DeviceKind;
  /** The underlying error message, when onnxruntime raised one. */
  readonly reason: string;

  constructor(device: DeviceKind, reason: string) {
    super('EXECUTION_PROVIDER_UNAVAILABLE', `${device} is unavailable: ${missingPieceOf(device)}${reason === '' ? '' : ` (${reason})`}`);
    this.device = device;
    this.reason = reason;
  }
}

/**
 * A GPU buffer was handed to a runner that cannot take one. Wrapping a
 * WebGPU `GPUBuffer` as a tensor without a host copy (`Tensor.fromGpuBuffer`)
 * exists only in onnxruntime-web, and only for sessions on `'webgpu'`:
 * onnxruntime-node's WebGPU buffers are opaque handles owned by the native
 * runtime, and CPU/wasm sessions read host memory.
 */
export class GpuBufferUnavailableError extends OptError {
  /** The backend that was asked (`'onnxruntime-node'`, `'onnxruntime-web'`). */
  readonly backend: string;
  /** The device its session runs on. */
  readonly device: DeviceKind;

  constructor(backend: string, device: DeviceKind, what: string) {
    super(
      'GPU_BUFFER_UNAVAILABLE',
      `${what} needs onnxruntime-web with a session on 'webgpu' (OrtWebBackend, devices: ['webgpu', ...]); this runner is ${backend} on '${device}'`,
    );
    this.backend = backend;
    this.device = device;
  }
}
