import { Parameter } from '@opt/tensor';
import type { Optimizer, OptimizerStateDict } from '../../src/index';

const TARGET = [1, 2, -1, 0, 0.5, 0.5];

/** Gradients of a fixed, coordinate-weighted quadratic around TARGET. */
function setGrads(w: Parameter, b: Parameter): void {
  const gw = w.ensureGrad();
  const gb = b.ensureGrad();
  for (let i = 0; i < 4; i++) gw[i] = (i + 1) * (w.data[i]! - TARGET[i]!);
  for (let i = 0; i < 2; i++) gb[i] = b.data[i]! - TARGET[4 + i]!;
}

/**
 * The JSON-resume check shared by the optimizers without a PyTorch fixture: a
 * float64 [2, 2] weight `w` and a float32 [2] bias `b`, stepped 3 times by the
 * optimizer `build` makes, saved through JSON text and loaded into the one
 * `rebuild` makes over copies of the parameters (typically with other options:
 * the saved ones must win). Both then step 3 more times: the parameters after
 * every step and the final state dicts must be identical.
 *
 * @param afterEarlyStep - runs on the original after each of its first 3 steps (e.g. a schedule changing lr).
 * @returns the saved state dict (as parsed JSON) and the resumed optimizer, for optimizer-specific assertions.
 */
export function expectJsonResumeIsBitIdentical<T extends Optimizer<object>>(
  build: (w: Parameter, b: Parameter) => T,
  rebuild: (w: Parameter, b: Parameter) => T,
  afterEarlyStep?: (opt: T) => void,
): { saved: OptimizerStateDict; resumed: T } {
  const w = new Parameter(new Float64Array([0.5, -1, 2, 0.1]), [2, 2], 'w');
  const b = new Parameter(new Float32Array([0.25, -0.5]), [2], 'b');
  const original = build(w, b);
  for (let t = 0; t < 3; t++) {
    setGrads(w, b);
    original.step();
    afterEarlyStep?.(original);
  }
  const saved = JSON.parse(JSON.stringify(original.stateDict())) as OptimizerStateDict;
  const w2 = new Parameter(Float64Array.from(w.data), [2, 2], 'w');
  const b2 = new Parameter(Float32Array.from(b.data), [2], 'b');
  const resumed = rebuild(w2, b2);
  resumed.loadStateDict(saved);
  for (let t = 0; t < 3; t++) {
    setGrads(w, b);
    setGrads(w2, b2);
    original.step();
    resumed.step();
    expect(Array.from(w2.data)).toEqual(Array.from(w.data));
    expect(Array.from(b2.data)).toEqual(Array.from(b.data));
  }
  expect(JSON.stringify(resumed.stateDict())).toBe(JSON.stringify(original.stateDict()));
  return { saved, resumed };
}
