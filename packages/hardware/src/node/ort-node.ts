import type * as OrtCommon from 'onnxruntime-common';
import { type DeviceKind, ExecutionProviderUnavailableError } from '../backends/errors.js';
import { type Backend, type OrtModule, OrtRunner, type Runner, type RunnerOptions } from '../backends/runner.js';

/** Options of {@link OrtNodeBackend}. */
export interface OrtNodeBackendOptions {
  /** The onnxruntime-node module to use (default: `import('onnxruntime-node')` on first use). */
  ort?: OrtModule;
  /** Extra session options merged into every session. */
  sessionOptions?: OrtCommon.InferenceSession.SessionOptions;
}

/**
 * onnxruntime-node: devices `'cpu'`, `'webgpu'` (bundled; needs a Vulkan
 * driver) and `'cuda'`/`'tensorrt'` (only when their provider libraries were
 * installed with `ONNXRUNTIME_NODE_INSTALL=cuda12`). `'rocm'` and `'migraphx'`
 * fail at once with an {@link ExecutionProviderUnavailableError}: ONNX Runtime
 * removed them in 1.23. GPU-resident outputs are read back through an Identity
 * session with CPU outputs, never with `getData()`, which aborts Node.
 *
 * @example
 * ```ts
 * const backend = new OrtNodeBackend();
 * const runner = await backend.create(model, { devices: ['webgpu', 'cpu'] });
 * console.log(runner.device, runner.diagnostics);
 * ```
 */
export class OrtNodeBackend implements Backend {
  readonly name = 'onnxruntime-node';
  private ort: OrtModule | undefined;
  private readonly options: OrtNodeBackendOptions;

  constructor(options: OrtNodeBackendOptions = {}) {
    this.ort = options.ort;
    this.options = options;
  }

  devices(): readonly DeviceKind[] {
    return ['cpu', 'webgpu', 'cuda', 'tensorrt'];
  }

  private async module(): Promise<OrtModule> {
    if (this.ort === undefined) {
      try {
        this.ort = (await import('onnxruntime-node')) as unknown as OrtModule;
      } catch (e) {
        throw new ExecutionProviderUnavailableError(
          'cpu',
          `onnxruntime-node could not be loaded (install it with ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node@1.30.0): ${e instanceof Error ? e.message : String(e)}`,
        );
      }
    }
    return this.ort;
  }

  async create(model: Uint8Array, options: RunnerOptions): Promise<Runner> {
    const ort = await this.module();
    const extra = this.options.sessionOptions;
    return OrtRunner.create(
      ort,
      { devices: this.devices(), readBackThroughSession: true, ...(extra !== undefined ? { sessionOptions: () => extra } : {}) },
      model,
      options,
    );
  }
}
