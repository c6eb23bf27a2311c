/**
 * Runs IN the page (headless Chromium, served by @opt/browser-harness): the Adam step graph on onnxruntime-web's
 * wasm and WebGPU (SwiftShader) providers, 10 steps each; on WebGPU the outputs stay in GPU buffers
 * (`preferredOutputLocation: 'gpu-buffer'`) and are fed back, and `getData()` downloads them at the end.
 */
import * as ort from 'onnxruntime-web';
import { ALGORITHMS } from '../../src/graphs/algorithms.js';
import { buildStepGraph } from '../../src/graphs/step-graph.js';

type T = ort.Tensor;

async function loop(ep: 'wasm' | 'webgpu', n: number, steps: number): Promise<{ values: Float32Array[]; gpuResident: boolean }> {
  const graph = buildStepGraph({ algorithm: 'adam', dtype: 'float32', compute: 'float32' });
  const session = await ort.InferenceSession.create(graph.model, {
    executionProviders: [ep],
    ...(ep === 'webgpu' ? { preferredOutputLocation: 'gpu-buffer' as const } : {}),
  });
  const p0 = new Float32Array(n);
  for (let i = 0; i < n; i++) p0[i] = Math.sin(i * 0.7);
  let param: T = new ort.Tensor('float32', p0, [n]);
  let m: T = new ort.Tensor('float32', new Float32Array(n), [n]);
  let v: T = new ort.Tensor('float32', new Float32Array(n), [n]);
  const hyper64 = new Float64Array(graph.hyperNames.length);
  let gpuResident = true;
  for (let t = 1; t <= steps; t++) {
    const g = new Float32Array(n);
    for (let i = 0; i < n; i++) g[i] = Math.cos(i * 0.3 + t) * 0.1;
    ALGORITHMS.adam.hyper({ lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8 }, graph.flags, t, t === 1, hyper64);
    const out = await session.run({
      param,
      grad: new ort.Tensor('float32', g, [n]),
      exp_avg: m,
      exp_avg_sq: v,
      hyper: new ort.Tensor('float32', Float32Array.from(hyper64), [hyper64.length]),
    });
    if (ep === 'webgpu') {
      for (const name of ['param_out', 'exp_avg_out', 'exp_avg_sq_out']) if (out[name]!.location !== 'gpu-buffer') gpuResident = false;
      // GPU buffers are not garbage-collected: release the previous step's.
      if (t > 1) for (const x of [param, m, v]) x.dispose();
    }
    param = out['param_out']!;
    m = out['exp_avg_out']!;
    v = out['exp_avg_sq_out']!;
  }
  const values = [];
  for (const x of [param, m, v]) values.push(Float32Array.from((await x.getData()) as Float32Array));
  await session.release();
  return { values, gpuResident };
}

/** Compare wasm and WebGPU. */
export async function run(args: { n?: number; steps?: number }): Promise<{ maxDiff: number[]; gpuResident: boolean; moved: number }> {
  const n = args.n ?? 262144;
  const steps = args.steps ?? 10;
  ort.env.wasm.numThreads = 1;
  const wasm = await loop('wasm', n, steps);
  const gpu = await loop('webgpu', n, steps);
  const maxDiff = wasm.values.map((a, k) => {
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(a[i]! - gpu.values[k]![i]!));
    return worst;
  });
  let moved = 0;
  for (let i = 0; i < n; i++) moved = Math.max(moved, Math.abs(wasm.values[0]![i]! - Math.sin(i * 0.7)));
  return { maxDiff, gpuResident: gpu.gpuResident, moved };
}
