import { Parameter, SGD } from '@opt/core';
import { CosineAnnealingLR } from '../src/index';

describe('resuming an optimizer and its scheduler', () => {
  function trainedOptimizer() {
    const p = Parameter.from([1], { dtype: 'float64', name: 'w' });
    const opt = new SGD([p], { lr: 0.1 });
    const sched = new CosineAnnealingLR(opt, { tMax: 10 });
    for (let k = 0; k < 3; k++) {
      p.grad = new Float64Array([1]);
      opt.step();
      sched.step();
    }
    return { opt, sched };
  }

  test("PyTorch's lastEpoch resume works after loading the optimizer state: initialLr travels in the state dict", () => {
    const { opt } = trainedOptimizer();
    const saved = JSON.parse(JSON.stringify(opt.stateDict()));
    expect(saved.param_groups[0].initialLr).toBe(0.1);
    const fresh = new SGD([Parameter.from([1], { dtype: 'float64', name: 'w' })], { lr: 0.1 });
    fresh.loadStateDict(saved);
    const resumed = new CosineAnnealingLR(fresh, { tMax: 10, lastEpoch: 3 });
    expect(resumed.baseLrs).toEqual([0.1]);
  });

  test('a scheduler rebuilt and loaded from its own state dict continues the same lr sequence', () => {
    const reference = trainedOptimizer();
    const copy = trainedOptimizer();
    const optState = JSON.parse(JSON.stringify(copy.opt.stateDict()));
    const schedState = JSON.parse(JSON.stringify(copy.sched.stateDict()));
    const opt = new SGD([Parameter.from([1], { dtype: 'float64', name: 'w' })], { lr: 0.1 });
    opt.loadStateDict(optState);
    const sched = new CosineAnnealingLR(opt, { tMax: 10 });
    sched.loadStateDict(schedState);
    for (let k = 0; k < 4; k++) {
      reference.sched.step();
      sched.step();
      expect(opt.paramGroups[0]!.lr).toBe(reference.opt.paramGroups[0]!.lr);
    }
  });
});
