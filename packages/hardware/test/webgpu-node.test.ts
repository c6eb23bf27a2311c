/**
 * onnxruntime-node's WebGPU execution provider on Mesa 25 lavapipe (no GPU needed). Each scenario runs in a child
 * process started with the Vulkan environment (see test/helpers/webgpu-register.cjs for why).
 */
import { describeLavapipe, runWebGpuScenario } from './helpers/webgpu-env';
import type { IoResult } from './helpers/webgpu-io-scenario';
import type { DigitsResult } from './helpers/webgpu-digits-scenario';

describeLavapipe('WebGPU in Node on lavapipe', () => {
  it('keeps Adam state on the GPU over 12 steps and reads it back bit-identical to the CPU provider', async () => {
    const { result } = await runWebGpuScenario<IoResult>('webgpu-io-scenario.ts', { n: 65536, steps: 12 });
    expect(result.device).toBe('webgpu');
    expect(result.outputsOnDevice).toBe(true);
    // Both providers compute the float32 graph with the same op order: the tolerance is 0.
    expect(result.maxDiff).toEqual({ param: 0, exp_avg: 0, exp_avg_sq: 0 });
  }, 180_000);

  it('never exposes getData on a device tensor and refuses to read a disposed one with a typed error', async () => {
    const { result } = await runWebGpuScenario<IoResult>('webgpu-io-scenario.ts', { n: 1024, steps: 2 });
    expect(result.hasRawAccessor).toBe(false);
    expect(result.disposedReadError).toBe('TENSOR_DISPOSED');
  }, 180_000);

  it('DeviceOptimizer trains the digits MLP on WebGPU to the accuracy of @opt/core Adam on the host', async () => {
    const { result } = await runWebGpuScenario<DigitsResult>('webgpu-digits-scenario.ts', { device: 'webgpu', epochs: 3, trainSubset: 600 });
    expect(result.device).toBe('webgpu');
    expect(result.hostAccuracy).toBeGreaterThan(0.85);
    expect(Math.abs(result.deviceAccuracy - result.hostAccuracy)).toBeLessThanOrEqual(0.01);
    expect(result.maxParamDiff).toBeLessThan(1e-4);
  }, 180_000);
});
