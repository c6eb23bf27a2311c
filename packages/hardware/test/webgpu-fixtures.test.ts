/**
 * Issue #9's parity on WebGPU in Node: the PyTorch 1.13 fixtures' float32 cases (Adam, AdamW, SGD, RMSprop,
 * Adagrad) replayed through `DeviceOptimizer` on onnxruntime-node's WebGPU provider over Mesa lavapipe, with the
 * float32 step graphs WebGPU runs; the same tolerance as the CPU provider's float32 replay (fixtures-cpu.test.ts).
 */
import { describeLavapipe, runWebGpuScenario } from './helpers/webgpu-env';
import type { CaseScore } from './helpers/fixture-scoring';
import { report } from './helpers/replay';
import type { FixturesResult } from './helpers/webgpu-fixtures-scenario';

describeLavapipe('PyTorch fixtures through DeviceOptimizer on WebGPU (Node, lavapipe)', () => {
  let scores: CaseScore[] = [];

  beforeAll(async () => {
    const { result } = await runWebGpuScenario<FixturesResult>('webgpu-fixtures-scenario.ts', { cpuReference: true });
    scores = result.scores;
    for (const s of scores) {
      report(`optim/${s.optimizer}.json`, 'webgpu-lavapipe', { ...s, dtype: 'float32', trajectory: [] });
    }
  }, 180_000);

  it('replays all 17 float32 cases of the five fixture files, every one on the webgpu provider', () => {
    expect(scores.map((s) => s.id)).toHaveLength(17);
    expect(new Set(scores.map((s) => s.optimizer))).toEqual(new Set(['adam', 'adamw', 'sgd', 'rmsprop', 'adagrad']));
    expect(scores.filter((s) => s.device !== 'webgpu')).toEqual([]);
  });

  it('every case matches PyTorch within 1e-5 (params after every step, final state with PyTorch keys)', () => {
    const failing = scores.filter((s) => s.keyMismatches.length > 0 || !(s.paramError <= 1e-5) || !(s.stateError <= 1e-5));
    expect(failing).toEqual([]);
  });

  it('every case stays within 1e-5 of the CPU provider running the same float32 graphs', () => {
    expect(scores.filter((s) => !(s.vsReference! <= 1e-5))).toEqual([]);
  });
});
