/**
 * LearnedOptimizerRunner: the `@opt/learned` networks exported to ONNX match their TypeScript twins (float32,
 * 10 steps, shipped weights) on onnxruntime-node's CPU provider (in process) and on WebGPU over lavapipe (child).
 */
import { describeLavapipe, runWebGpuScenario } from './helpers/webgpu-env';
import { type LearnedCase, type LearnedTwinResult, run as twin } from './helpers/webgpu-learned-scenario';
import { exportControllerNetwork, exportLstmStep, exportMlpStep } from '../src/learned/networks';
import { LSTMLearnedOptimizer, MLPLearnedOptimizer, TransformerLearnedOptimizer } from '@opt/learned';
import { Parameter } from '@opt/tensor';

const CASES: readonly LearnedCase[] = ['mlp', 'mlp-v3', 'mlp-tensor', 'mlp-depth', 'mlp-gate', 'mlp-fanin', 'lstm-pure', 'lstm-adam', 'transformer'];

function expectTwin(r: LearnedTwinResult): void {
  expect(r.stepsAgree).toBe(true);
  // The updates are not vacuous: parameters move by ~1e-2 per step.
  expect(r.meanUpdate).toBeGreaterThan(1e-3);
  // Same update within 1e-5 (float32 graph vs float64 arithmetic rounded to float32 in TypeScript).
  expect(r.maxParamError).toBeLessThanOrEqual(1e-5);
  // Recurrent LSTM states carry float32 rounding through 10 steps: relative 1e-4.
  expect(r.maxStateRelError).toBeLessThanOrEqual(1e-4);
}

describe('LearnedOptimizerRunner on the CPU provider', () => {
  it.each(CASES)('the %s network gives the TypeScript optimizer\'s updates and state', async (c) => {
    const r = await twin({ case: c, device: 'cpu', steps: 10 });
    expect(r.device).toBe('cpu');
    expectTwin(r);
  });

  it('the LSTM written as MatMul/Sigmoid/Tanh equals the ONNX LSTM operator with converted gate order', async () => {
    expectTwin(await twin({ case: 'lstm-pure', device: 'cpu', steps: 10, lstmCell: 'matmul' }));
  });

  it('exports the networks as ONNX models that carry no runtime dependency', () => {
    const p = [new Parameter(new Float32Array(4), [4], 'w')];
    const mlp = new MLPLearnedOptimizer(p, { weights: 'mlp-hybrid-v1' });
    const lstm = new LSTMLearnedOptimizer(p, { weights: 'lstm-l2l-v1' });
    const tr = new TransformerLearnedOptimizer(p, { weights: 'transformer-ctrl-v1' });
    for (const bytes of [
      exportMlpStep(mlp.metaParams, mlp.config),
      exportLstmStep(lstm.metaParams, lstm.layout, 'pure'),
      exportControllerNetwork(tr.metaParams, tr.controller),
    ]) {
      expect(bytes).toBeInstanceOf(Uint8Array);
      // ModelProto field 1 (ir_version) comes first: tag 0x08, value 8.
      expect([bytes[0], bytes[1]]).toEqual([0x08, 8]);
    }
  });
});

describeLavapipe('LearnedOptimizerRunner on WebGPU (lavapipe)', () => {
  it('every network matches its TypeScript twin on the WebGPU provider', async () => {
    const { result } = await runWebGpuScenario<Record<string, LearnedTwinResult>>('webgpu-learned-all.ts', { steps: 5 }, 300_000);
    for (const r of Object.values(result)) {
      expect(r.device).toBe('webgpu');
      expectTwin(r);
    }
    expect(Object.keys(result).sort()).toEqual(['lstm-adam', 'lstm-matmul', 'mlp', 'transformer']);
  }, 300_000);
});
