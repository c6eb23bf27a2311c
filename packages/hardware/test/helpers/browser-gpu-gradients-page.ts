/**
 * Runs IN the page (headless Chromium, served by @opt/browser-harness): `DeviceOptimizer` on onnxruntime-web's
 * WebGPU (SwiftShader) takes gradients that are already in `GPUBuffer`s. The buffers are created on the optimizer's
 * own `GPUDevice` and filled with `queue.writeBuffer`; the host-gradient run gets the same values through
 * `param.grad`. Same graph, same inputs: the parameters and state must be bit-identical.
 */
import * as ort from 'onnxruntime-web';
import { Adam, Parameter } from '@opt/core';
import { OrtWebBackend } from '../../src/backends/ort-web.js';
import { type OrtModule, gpuBufferBytes } from '../../src/backends/runner.js';
import { DeviceOptimizer } from '../../src/device/device-optimizer.js';

// GPUBufferUsage bits (the page has the global too; numbers keep this module free of WebGPU type declarations).
const MAP_READ = 0x1;
const COPY_SRC = 0x4;
const COPY_DST = 0x8;
const STORAGE = 0x80;

/** The WebGPU calls this scenario makes, beyond what `GpuDeviceLike` declares. */
interface PageGpuDevice {
  createBuffer(d: { size: number; usage: number }): PageGpuBuffer;
  createCommandEncoder(): { copyBufferToBuffer(a: PageGpuBuffer, ao: number, b: PageGpuBuffer, bo: number, size: number): void; finish(): unknown };
  readonly queue: { writeBuffer(b: PageGpuBuffer, offset: number, data: ArrayBufferView): void; submit(commands: unknown[]): void };
}
interface PageGpuBuffer {
  readonly size: number;
  readonly mapState: 'unmapped' | 'pending' | 'mapped';
  mapAsync(mode: number): Promise<void>;
  getMappedRange(): ArrayBuffer;
  unmap(): void;
  destroy(): void;
}

const SHAPES: readonly (readonly number[])[] = [[64, 48], [37]];
const HYPER = { lr: 1e-2, betas: [0.9, 0.999] as [number, number], eps: 1e-8, weightDecay: 1e-2 };

function makeParams(): Parameter[] {
  return SHAPES.map((shape, k) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    for (let i = 0; i < size; i++) data[i] = Math.sin(i * 0.37 + k);
    return new Parameter(data, shape, `p${k}`);
  });
}

function gradient(size: number, k: number, step: number): Float32Array {
  const g = new Float32Array(size);
  for (let i = 0; i < size; i++) g[i] = Math.cos(i * 0.11 + 3 * k + step) * 0.1;
  return g;
}

/** Host gradients, GPU-buffer gradients, or GPU buffers for the first parameter and host gradients for the rest. */
type Mode = 'host' | 'gpu' | 'mixed';

interface RunOutcome {
  /** Flattened parameters, then every state buffer in state-dict order. */
  arrays: number[][];
  steps: number[];
  device: string;
  /** The last gradient written to the first buffer, read back after the last step (it must be untouched). */
  bufferAfter: number[] | null;
}

async function readBuffer(device: PageGpuDevice, buffer: PageGpuBuffer): Promise<Float32Array> {
  const staging = device.createBuffer({ size: buffer.size, usage: MAP_READ | COPY_DST });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(buffer, 0, staging, 0, buffer.size);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(MAP_READ);
  const out = new Float32Array(staging.getMappedRange().slice(0));
  staging.unmap();
  staging.destroy();
  return out;
}

async function train(backend: OrtWebBackend, mode: Mode, steps: number): Promise<RunOutcome> {
  const params = makeParams();
  const opt = await DeviceOptimizer.create(Adam, params, HYPER, { backend, devices: ['webgpu'] });
  const device = mode === 'host' ? null : ((await opt.gpuDevice()) as unknown as PageGpuDevice);
  const buffers =
    device === null ? [] : params.map((p) => device.createBuffer({ size: gpuBufferBytes('float32', p.size), usage: STORAGE | COPY_DST | COPY_SRC }));
  for (let step = 0; step < steps; step++) {
    const gradients = new Map<Parameter, never>();
    params.forEach((p, k) => {
      const g = gradient(p.size, k, step);
      if (device !== null && (mode === 'gpu' || k === 0)) {
        device.queue.writeBuffer(buffers[k]!, 0, g);
        gradients.set(p, buffers[k]! as never);
        // Poison the host copy: the step must not read (or scan) it for a parameter with a device gradient.
        p.grad = new Float32Array(p.size).fill(Number.NaN);
      } else {
        p.grad = g;
      }
    });
    await opt.step({ gradients });
  }
  const dict = await opt.stateDict();
  const arrays = params.map((p) => Array.from(p.data));
  const stepCounts: number[] = [];
  for (const s of Object.values(dict.state)) {
    const entry = s as Record<string, unknown>;
    stepCounts.push(entry['step'] as number);
    for (const key of ['exp_avg', 'exp_avg_sq']) arrays.push(Array.from(entry[key] as Float32Array));
  }
  const bufferAfter = device === null ? null : Array.from(await readBuffer(device, buffers[0]!));
  for (const b of buffers) b.destroy();
  const chosen = opt.device;
  await opt.release();
  return { arrays, steps: stepCounts, device: chosen, bufferAfter };
}

/** What the non-finite checks and the typed errors did. */
export interface PolicyOutcome {
  /** `NonFiniteError` fields for a NaN at index 7 of the first buffer under `nonFinite: 'throw'`. */
  thrown: { name: string; code: string; index: number; parameter: string; message: string };
  /** `nonFinite: 'skip'` with +Inf in a buffer: steps skipped and whether the parameters stayed put. */
  skipped: number;
  unchangedAfterSkip: boolean;
  /** Error names and codes of: a GPU buffer on `'wasm'`; `gpuDevice()` on `'wasm'`; a buffer for another parameter. */
  wasmBuffer: string;
  wasmDevice: string;
  tooSmall: string;
  /** A buffer of exactly the data size (148 bytes for 37 float32), not rounded up to 16 bytes. */
  unpadded: string;
}

async function errorOf(f: () => Promise<unknown>): Promise<string> {
  try {
    await f();
    return 'no error';
  } catch (e) {
    const err = e as { name?: string; code?: string };
    return `${err.name ?? '?'}/${err.code ?? '?'}`;
  }
}

async function policies(backend: OrtWebBackend): Promise<PolicyOutcome> {
  const params = makeParams();
  const opt = await DeviceOptimizer.create(Adam, params, HYPER, { backend, devices: ['webgpu'] });
  const device = (await opt.gpuDevice()) as unknown as PageGpuDevice;
  const [w, b] = params as [Parameter, Parameter];
  const bw = device.createBuffer({ size: gpuBufferBytes('float32', w.size), usage: STORAGE | COPY_DST | COPY_SRC });
  const bb = device.createBuffer({ size: gpuBufferBytes('float32', b.size), usage: STORAGE | COPY_DST | COPY_SRC });
  const gw = gradient(w.size, 0, 0);
  gw[7] = Number.NaN;
  device.queue.writeBuffer(bw, 0, gw);
  device.queue.writeBuffer(bb, 0, gradient(b.size, 1, 0));
  let thrown: PolicyOutcome['thrown'] = { name: 'none', code: '', index: -1, parameter: '', message: '' };
  try {
    await opt.step({ gradients: new Map([[w, bw as never], [b, bb as never]]) });
  } catch (e) {
    const err = e as { name: string; code: string; index: number; parameter: string; message: string };
    thrown = { name: err.name, code: err.code, index: err.index, parameter: err.parameter, message: err.message };
  }

  opt.optimizer.nonFinite = 'skip';
  const before = Array.from(b.data);
  const gb = gradient(b.size, 1, 0);
  gb[3] = Number.POSITIVE_INFINITY;
  device.queue.writeBuffer(bw, 0, gradient(w.size, 0, 0));
  device.queue.writeBuffer(bb, 0, gb);
  await opt.step({ gradients: new Map([[w, bw as never], [b, bb as never]]) });
  await opt.syncToHost();
  const unchangedAfterSkip = Array.from(b.data).every((x, i) => Object.is(x, before[i]));

  const tooSmall = await errorOf(() => opt.step({ gradients: new Map([[w, bb as never]]) }));
  // 37 float32 = 148 bytes: enough for the data, but not rounded up to 16 bytes.
  const exact = device.createBuffer({ size: b.size * 4, usage: STORAGE | COPY_DST | COPY_SRC });
  const unpadded = await errorOf(() => opt.step({ gradients: new Map([[b, exact as never]]) }));
  exact.destroy();
  const skipped = opt.skippedSteps;
  bw.destroy();
  bb.destroy();
  await opt.release();

  const onWasm = await DeviceOptimizer.create(Adam, [w], HYPER, { backend, devices: ['wasm'] });
  const wasmBuffer = await errorOf(() => onWasm.step({ gradients: new Map([[w, { size: w.size * 4, mapState: 'unmapped' } as never]]) }));
  const wasmDevice = await errorOf(() => onWasm.gpuDevice());
  await onWasm.release();
  return { thrown, skipped, unchangedAfterSkip, wasmBuffer, wasmDevice, tooSmall, unpadded };
}

/** Results of {@link run}. */
export interface GpuGradientsResult {
  device: string;
  /** Per array (parameters, then exp_avg/exp_avg_sq per parameter): whether the GPU-buffer run is bit-identical. */
  identicalGpu: boolean[];
  identicalMixed: boolean[];
  /** Per array: the largest absolute difference to the host run (0 when identical; for diagnosis). */
  maxDiffGpu: number[];
  maxDiffMixed: number[];
  /** Step counters of the three runs. */
  steps: number[][];
  /** Largest parameter movement of the host run (so the comparison is not vacuous). */
  moved: number;
  /** The first gradient buffer after the last step equals the gradient written into it. */
  bufferUntouched: boolean;
  policies: PolicyOutcome;
}

function bitIdentical(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
}

function maxDiff(a: number[], b: number[]): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

/** Host, GPU-buffer and mixed runs of `steps` Adam steps, then the policy and error checks. */
export async function run(args: { steps?: number }): Promise<GpuGradientsResult> {
  const steps = args.steps ?? 10;
  ort.env.wasm.numThreads = 1;
  const backend = new OrtWebBackend(ort as unknown as OrtModule);
  const host = await train(backend, 'host', steps);
  const gpu = await train(backend, 'gpu', steps);
  const mixed = await train(backend, 'mixed', steps);
  const start = makeParams();
  let moved = 0;
  start.forEach((p, k) => p.data.forEach((x, i) => (moved = Math.max(moved, Math.abs(x - host.arrays[k]![i]!)))));
  const last = gradient(start[0]!.size, 0, steps - 1);
  return {
    device: gpu.device,
    identicalGpu: host.arrays.map((a, i) => bitIdentical(a, gpu.arrays[i]!)),
    identicalMixed: host.arrays.map((a, i) => bitIdentical(a, mixed.arrays[i]!)),
    maxDiffGpu: host.arrays.map((a, i) => maxDiff(a, gpu.arrays[i]!)),
    maxDiffMixed: host.arrays.map((a, i) => maxDiff(a, mixed.arrays[i]!)),
    steps: [host.steps, gpu.steps, mixed.steps],
    moved,
    bufferUntouched: gpu.bufferAfter !== null && bitIdentical(gpu.bufferAfter, Array.from(last)),
    policies: await policies(backend),
  };
}
