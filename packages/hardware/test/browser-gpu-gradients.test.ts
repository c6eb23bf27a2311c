/**
 * Gradients already on the device: `DeviceOptimizer.step({ gradients })` with `GPUBuffer`s in headless Chromium
 * (onnxruntime-web on WebGPU/SwiftShader), bit-identical to the host-gradient path, and with `DeviceTensor`s on the
 * onnxruntime-node CPU provider (the same code path minus the buffer wrapping), plus the non-finite policy on device
 * gradients and the typed errors.
 */
import { Adam, Parameter } from '@opt/core';
import { NonFiniteError, ShapeMismatchError, InvalidOptionError } from '@opt/tensor';
import { runModuleInPage } from '@opt/browser-harness';
import { DeviceOptimizer, type DeviceTensor, GpuBufferUnavailableError } from '../src/index';
import { OrtNodeBackend } from '../src/node/index';
import { type BrowserSession, helperUrl, openBrowserSession } from './helpers/browser-page';
import type { GpuGradientsResult } from './helpers/browser-gpu-gradients-page';
import { chromiumPath, describeChromium } from './helpers/webgpu-env';

const backend = new OrtNodeBackend();
const HYPER = { lr: 1e-2, weightDecay: 1e-2 };

function makeParams(): Parameter[] {
  return [
    new Parameter(Float32Array.from({ length: 12 }, (_, i) => Math.sin(i + 1)), [3, 4], 'w'),
    new Parameter(Float32Array.from({ length: 5 }, (_, i) => Math.cos(i)), [5], 'b'),
  ];
}

function gradient(size: number, k: number, step: number): Float32Array {
  return Float32Array.from({ length: size }, (_, i) => Math.cos(i * 0.7 + 3 * k + step) * 0.1);
}

async function run(deviceGrads: boolean, steps: number): Promise<{ params: number[][]; state: unknown }> {
  const params = makeParams();
  const opt = await DeviceOptimizer.create(Adam, params, HYPER, { backend, devices: ['cpu'] });
  for (let step = 0; step < steps; step++) {
    const gradients = new Map<Parameter, DeviceTensor>();
    params.forEach((p, k) => {
      const g = gradient(p.size, k, step);
      if (deviceGrads && k === 0) {
        gradients.set(p, opt.runner.fromHost('float32', g, [p.size]));
        p.grad = new Float32Array(p.size).fill(Number.NaN); // must be neither read nor scanned
      } else {
        p.grad = g;
      }
    });
    await opt.step({ gradients });
  }
  const dict = await opt.stateDict();
  await opt.release();
  return { params: params.map((p) => Array.from(p.data)), state: dict.state };
}

describe('DeviceOptimizer with gradients already on the device (onnxruntime-node CPU)', () => {
  it('a DeviceTensor gradient gives bit-identical parameters and state to the same values from the host', async () => {
    const host = await run(false, 6);
    const device = await run(true, 6);
    expect(device.params).toEqual(host.params);
    expect(device.state).toEqual(host.state);
    expect(Math.abs(host.params[0]![0]! - Math.sin(1))).toBeGreaterThan(1e-3);
  });

  it('a NaN in a device gradient throws NonFiniteError naming the parameter and entry, before any update', async () => {
    const [w, b] = makeParams() as [Parameter, Parameter];
    const opt = await DeviceOptimizer.create(Adam, [w, b], HYPER, { backend, devices: ['cpu'] });
    const g = gradient(b.size, 1, 0);
    g[3] = Number.NaN;
    w.grad = gradient(w.size, 0, 0);
    const before = Array.from(w.data);
    const error = await opt.step({ gradients: new Map([[b, opt.runner.fromHost('float32', g, [b.size])]]) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NonFiniteError);
    expect((error as NonFiniteError).parameter).toBe('b');
    expect((error as NonFiniteError).index).toBe(3);
    await opt.syncToHost();
    expect(Array.from(w.data)).toEqual(before);
    await opt.release();
  });

  it("under nonFinite: 'skip' an infinite device gradient skips the whole step and counts it", async () => {
    const [w] = makeParams() as [Parameter];
    const opt = await DeviceOptimizer.create(Adam, [w], HYPER, { backend, devices: ['cpu'] });
    opt.optimizer.nonFinite = 'skip';
    const g = gradient(w.size, 0, 0);
    g[11] = Number.NEGATIVE_INFINITY;
    const before = Array.from(w.data);
    await opt.step({ gradients: new Map([[w, opt.runner.fromHost('float32', g, [w.size])]]) });
    expect(opt.skippedSteps).toBe(1);
    await opt.syncToHost();
    expect(Array.from(w.data)).toEqual(before);
    await opt.release();
  });

  it('rejects GPU buffers off onnxruntime-web WebGPU, wrong sizes and foreign parameters with typed errors', async () => {
    const [w, b] = makeParams() as [Parameter, Parameter];
    const opt = await DeviceOptimizer.create(Adam, [w], HYPER, { backend, devices: ['cpu'] });
    const fakeBuffer = { size: w.size * 4, mapState: 'unmapped' as const };
    const onCpu = await opt.step({ gradients: new Map([[w, fakeBuffer]]) }).catch((e: unknown) => e);
    expect(onCpu).toBeInstanceOf(GpuBufferUnavailableError);
    expect((onCpu as Error).message).toContain("needs onnxruntime-web with a session on 'webgpu'");
    expect((onCpu as Error).message).toContain("onnxruntime-node on 'cpu'");
    await expect(opt.gpuDevice()).rejects.toBeInstanceOf(GpuBufferUnavailableError);
    const short = opt.runner.fromHost('float32', new Float32Array(w.size - 1), [w.size - 1]);
    await expect(opt.step({ gradients: new Map([[w, short]]) })).rejects.toBeInstanceOf(ShapeMismatchError);
    const foreign = opt.runner.fromHost('float32', new Float32Array(b.size), [b.size]);
    await expect(opt.step({ gradients: new Map([[b, foreign]]) })).rejects.toBeInstanceOf(InvalidOptionError);
    await opt.release();
  });
});

describeChromium('DeviceOptimizer takes GPUBuffer gradients in headless Chromium (onnxruntime-web WebGPU)', () => {
  let session: BrowserSession;
  let r: GpuGradientsResult;

  beforeAll(async () => {
    session = await openBrowserSession(chromiumPath());
    r = await runModuleInPage<GpuGradientsResult>(session.page, helperUrl('browser-gpu-gradients-page.js'), 'run', { steps: 10 });
  }, 180_000);

  afterAll(async () => {
    await session?.close();
  });

  it('10 Adam steps from GPU buffers give parameters and state bit-identical to the host-gradient path', () => {
    expect(r.device).toBe('webgpu');
    // Two parameters, then exp_avg and exp_avg_sq of each.
    expect(r.identicalGpu).toEqual([true, true, true, true, true, true]);
    expect(r.maxDiffGpu).toEqual([0, 0, 0, 0, 0, 0]);
    expect(r.steps).toEqual([[10, 10], [10, 10], [10, 10]]);
    expect(r.moved).toBeGreaterThan(1e-2);
    expect(session.page.errors).toEqual([]);
  });

  it('GPU-buffer and host gradients mix in one step, bit-identical too, and the buffers are left as written', () => {
    expect(r.identicalMixed).toEqual([true, true, true, true, true, true]);
    expect(r.maxDiffMixed).toEqual([0, 0, 0, 0, 0, 0]);
    expect(r.bufferUntouched).toBe(true);
  });

  it('the in-graph non-finite check catches NaN and Inf in GPU buffers under the throw and skip policies', () => {
    const p = r.policies;
    expect(p.thrown).toMatchObject({ name: 'NonFiniteError', code: 'NON_FINITE', index: 7, parameter: 'p0' });
    expect(p.thrown.message).toContain('(NaN)');
    expect(p.skipped).toBe(1);
    expect(p.unchangedAfterSkip).toBe(true);
  });

  it('typed errors: GPU buffers and gpuDevice() on wasm, a buffer smaller than the parameter, one not padded to 16 bytes', () => {
    expect(r.policies.wasmBuffer).toBe('GpuBufferUnavailableError/GPU_BUFFER_UNAVAILABLE');
    expect(r.policies.wasmDevice).toBe('GpuBufferUnavailableError/GPU_BUFFER_UNAVAILABLE');
    expect(r.policies.tooSmall).toBe('ShapeMismatchError/SHAPE_MISMATCH');
    // onnxruntime-web reads whole 16-byte blocks: a 148-byte buffer for 37 floats once gave a wrong update silently.
    expect(r.policies.unpadded).toBe('ShapeMismatchError/SHAPE_MISMATCH');
    expect(session.page.console.filter((line) => line.includes('WebGPU validation error'))).toEqual([]);
  });
});
