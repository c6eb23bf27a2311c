/**
 * Device residency in onnxruntime-node on WebGPU: the Adam step graph run 12 times with its outputs fed back
 * (IO binding), compared with the same loop on the CPU provider; the read-back path; the abort guard.
 */
import * as ort from 'onnxruntime-node';
import { OptError, Rng } from '@opt/tensor';
import type { DeviceKind } from '../../src/backends/errors';
import type { DeviceTensor, OrtModule, Runner } from '../../src/backends/runner';
import { ALGORITHMS } from '../../src/graphs/algorithms';
import { buildStepGraph } from '../../src/graphs/step-graph';
import { OrtNodeBackend } from '../../src/node/ort-node';

/** What the loop observed. */
export interface IoResult {
  device: string;
  steps: number;
  n: number;
  /** Every output of every step stayed on the GPU (location 'gpu-buffer'). */
  outputsOnDevice: boolean;
  /** max |x_webgpu − x_cpu| over param, exp_avg, exp_avg_sq after the loop. */
  maxDiff: Record<string, number>;
  /** Reading a disposed device tensor throws this error code (instead of touching freed memory). */
  disposedReadError: string;
  /** The device tensor exposes no `data` or `getData` (the accessor that aborts Node). */
  hasRawAccessor: boolean;
}

async function loop(device: DeviceKind, p0: Float32Array, grads: Float32Array[]): Promise<{ runner: Runner; values: Record<string, Float32Array>; onDevice: boolean; last: DeviceTensor }> {
  const graph = buildStepGraph({ algorithm: 'adam', dtype: 'float32', compute: 'float32' });
  const runner = await new OrtNodeBackend({ ort: ort as unknown as OrtModule }).create(graph.model, { devices: [device] });
  const n = p0.length;
  let param = runner.fromHost('float32', Float32Array.from(p0), [n]);
  let m = runner.fromHost('float32', new Float32Array(n), [n]);
  let v = runner.fromHost('float32', new Float32Array(n), [n]);
  const hyper64 = new Float64Array(graph.hyperNames.length);
  const def = ALGORITHMS.adam;
  let onDevice = true;
  for (let t = 1; t <= grads.length; t++) {
    def.hyper({ lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 }, graph.flags, t, t === 1, hyper64);
    const out = await runner.run({
      param,
      grad: runner.fromHost('float32', grads[t - 1]!, [n]),
      exp_avg: m,
      exp_avg_sq: v,
      hyper: runner.fromHost('float32', Float32Array.from(hyper64), [hyper64.length]),
    });
    for (const name of ['param_out', 'exp_avg_out', 'exp_avg_sq_out']) if (out[name]!.location !== 'gpu-buffer') onDevice = false;
    param.dispose();
    m.dispose();
    v.dispose();
    param = out['param_out']!;
    m = out['exp_avg_out']!;
    v = out['exp_avg_sq_out']!;
  }
  const values = {
    param: Float32Array.from((await runner.read(param)) as Float32Array),
    exp_avg: Float32Array.from((await runner.read(m)) as Float32Array),
    exp_avg_sq: Float32Array.from((await runner.read(v)) as Float32Array),
  };
  m.dispose();
  v.dispose();
  return { runner, values, onDevice, last: param };
}

/** Run the loop on WebGPU and on the CPU provider. */
export async function run(args: { n?: number; steps?: number }): Promise<IoResult> {
  const n = args.n ?? 65536;
  const steps = args.steps ?? 12;
  const rng = new Rng(5);
  const p0 = new Float32Array(n);
  rng.fillNormal(p0, 0, 1);
  const grads = Array.from({ length: steps }, () => {
    const g = new Float32Array(n);
    rng.fillNormal(g, 0, 0.1);
    return g;
  });
  const gpu = await loop('webgpu', p0, grads);
  const cpu = await loop('cpu', p0, grads);
  const maxDiff: Record<string, number> = {};
  for (const key of Object.keys(gpu.values)) {
    const a = gpu.values[key]!;
    const b = cpu.values[key]!;
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    maxDiff[key] = worst;
  }
  const hasRawAccessor = 'data' in gpu.last || 'getData' in gpu.last;
  gpu.last.dispose();
  let disposedReadError = 'none';
  try {
    await gpu.runner.read(gpu.last);
  } catch (e) {
    disposedReadError = e instanceof OptError ? e.code : String(e);
  }
  const device = gpu.runner.device;
  cpu.last.dispose();
  await gpu.runner.release();
  await cpu.runner.release();
  return { device, steps, n, outputsOnDevice: gpu.onDevice, maxDiff, disposedReadError, hasRawAccessor };
}
