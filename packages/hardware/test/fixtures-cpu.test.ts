import { Adagrad, Adam, AdamW, RMSprop, SGD } from '@opt/core';
import { OrtNodeBackend } from '../src/node/index';
import { type CoreFactory, RTOL, loadFixture, maxAbsDiff, replayOnCore, replayOnDevice, report } from './helpers/replay';

const backend = new OrtNodeBackend();

const FIXTURES: Array<[string, CoreFactory]> = [
  ['optim/adam.json', (g, o) => new Adam(g, o)],
  ['optim/adamw.json', (g, o) => new AdamW(g, o)],
  ['optim/sgd.json', (g, o) => new SGD(g, o)],
  ['optim/rmsprop.json', (g, o) => new RMSprop(g, o)],
  ['optim/adagrad.json', (g, o) => new Adagrad(g, o)],
];

describe.each(FIXTURES)('%s through DeviceOptimizer on the CPU provider', (file, factory) => {
  const fixture = loadFixture(file);

  test.each(fixture.cases.map((c) => [c.id, c] as const))(
    '%s: float64-compute graphs match PyTorch within tolerance and @opt/core bit for bit',
    async (_id, c) => {
      const r = await replayOnDevice(c, factory, { backend, devices: ['cpu'], compute: 'float64' });
      report(file, 'compute-float64', r);
      expect(r.keyMismatches).toEqual([]);
      expect(r.paramError).toBeLessThanOrEqual(RTOL[c.dtype]);
      expect(r.stateError).toBeLessThanOrEqual(RTOL[c.dtype]);
      expect(maxAbsDiff(r.trajectory, replayOnCore(c, factory))).toBe(0);
    },
  );

  const f32 = fixture.cases.filter((c) => c.dtype === 'float32');
  test.each(f32.map((c) => [c.id, c] as const))('%s: float32-compute graphs (the WebGPU configuration) match PyTorch within 1e-5', async (_id, c) => {
    const r = await replayOnDevice(c, factory, { backend, devices: ['cpu'], compute: 'float32' });
    report(file, 'compute-float32', r);
    expect(r.keyMismatches).toEqual([]);
    expect(r.paramError).toBeLessThanOrEqual(1e-5);
    expect(r.stateError).toBeLessThanOrEqual(1e-5);
  });
});
