/**
 * Child-process scenario (run by test/webgpu-fixtures.test.ts through `runWebGpuScenario`, so the lavapipe Vulkan
 * environment is in place before onnxruntime-node loads): every float32 case of the Adam, AdamW, SGD, RMSprop and
 * Adagrad fixtures replayed through `DeviceOptimizer` on onnxruntime-node's WebGPU provider with float32 step
 * graphs, and once more on the CPU provider with the same graphs as a reference. One process for all cases: the
 * WebGPU start-up costs seconds, the cases milliseconds.
 */
import * as ort from 'onnxruntime-node';
import type { OrtModule } from '../../src/backends/runner';
import { OrtNodeBackend } from '../../src/node/ort-node';
import { replayDeviceCase } from './fixture-device-replay';
import { type CaseScore, float32Cases, scoreReplay } from './fixture-scoring';

/** Arguments of {@link run}. */
export interface FixturesArgs {
  /** Also replay on the CPU provider and compare (default true). */
  cpuReference?: boolean;
}

/** Every case's errors, and the time of the whole WebGPU pass. */
export interface FixturesResult {
  scores: CaseScore[];
  webgpuMs: number;
}

/** Replay every float32 case on WebGPU (and on the CPU provider as the reference). */
export async function run(args: FixturesArgs): Promise<FixturesResult> {
  const backend = new OrtNodeBackend({ ort: ort as unknown as OrtModule });
  const scores: CaseScore[] = [];
  let webgpuMs = 0;
  for (const named of float32Cases()) {
    const gpu = await replayDeviceCase(named.case, named.optimizer, backend, 'webgpu');
    webgpuMs += gpu.ms;
    const cpu = args.cpuReference === false ? undefined : await replayDeviceCase(named.case, named.optimizer, backend, 'cpu');
    scores.push(scoreReplay(named, gpu, cpu));
  }
  return { scores, webgpuMs };
}
