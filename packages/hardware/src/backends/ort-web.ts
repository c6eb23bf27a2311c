import type * as OrtCommon from 'onnxruntime-common';
import type { DeviceKind } from './errors.js';
import { type Backend, type OrtModule, OrtRunner, type Runner, type RunnerOptions } from './runner.js';

/** Options of {@link OrtWebBackend}. */
export interface OrtWebBackendOptions {
  /** Extra session options merged into every session (for example `enableGraphCapture`). */
  sessionOptions?: OrtCommon.InferenceSession.SessionOptions;
}

/**
 * onnxruntime-web: devices `'wasm'` and `'webgpu'`. The `ort` module is a
 * parameter so this package never imports onnxruntime-web itself (pass
 * `await import('onnxruntime-web')` or the bundle's global). Device tensors are
 * read with `getData()`, which works in browsers. To share a `GPUDevice`, set
 * `ort.env.webgpu.device` before creating sessions, or ask a runner on
 * `'webgpu'` for the one it uses ({@link Runner.gpuDevice}); buffers created on
 * it enter a run without a host copy through {@link Runner.fromGpuBuffer}.
 *
 * @example
 * ```ts
 * const ort = await import('onnxruntime-web');
 * const backend = new OrtWebBackend(ort);
 * const runner = await backend.create(model, { devices: ['webgpu', 'wasm'] });
 * runner.diagnostics; // why webgpu failed, when it did
 * ```
 */
export class OrtWebBackend implements Backend {
  readonly name = 'onnxruntime-web';
  private readonly ort: OrtModule;
  private readonly options: OrtWebBackendOptions;

  constructor(ort: OrtModule, options: OrtWebBackendOptions = {}) {
    this.ort = ort;
    this.options = options;
  }

  devices(): readonly DeviceKind[] {
    return ['webgpu', 'wasm'];
  }

  create(model: Uint8Array, options: RunnerOptions): Promise<Runner> {
    const extra = this.options.sessionOptions;
    return OrtRunner.create(
      this.ort,
      { devices: this.devices(), readBackThroughSession: false, gpuBuffers: true, backendName: this.name, ...(extra !== undefined ? { sessionOptions: () => extra } : {}) },
      model,
      options,
    );
  }
}
