import { Adam, AdamW, LAMB, Lion, Parameter, RMSprop, SGD, type Optimizer } from '@opt/core';
import { ExponentialLR } from '@opt/schedulers';
import {
  DeviceOptimizer,
  ExecutionProviderUnavailableError,
  GraphBuilder,
  STEP_ALGORITHMS,
  buildStepGraph,
} from '../src/index';
import { OrtNodeBackend } from '../src/node/index';

const backend = new OrtNodeBackend();

/** Deterministic pseudo-random values (no Math.random in tests either: reproducible failures). */
function values(n: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
}

function makeParams(dtype: 'float32' | 'float64'): Parameter[] {
  return [
    Parameter.from(values(12, 1), { shape: [3, 4], dtype, name: 'w' }),
    Parameter.from(values(5, 2), { shape: [5], dtype, name: 'b' }),
  ];
}

function setGrads(params: Parameter[], k: number): void {
  params.forEach((p, i) => {
    const g = values(p.size, 100 + 7 * k + i);
    p.grad = p.dtype === 'float64' ? Float64Array.from(g) : Float32Array.from(g);
  });
}

type Factory = (params: Parameter[]) => Optimizer<object>;

function coreRun(factory: Factory, dtype: 'float32' | 'float64', steps: number): Parameter[] {
  const params = makeParams(dtype);
  const opt = factory(params);
  for (let k = 0; k < steps; k++) {
    setGrads(params, k);
    opt.step();
  }
  return params;
}

async function deviceRun(factory: Factory, dtype: 'float32' | 'float64', steps: number, compute: 'float32' | 'float64'): Promise<Parameter[]> {
  const params = makeParams(dtype);
  const opt = await DeviceOptimizer.wrap(factory(params), { backend, devices: ['cpu'], compute });
  for (let k = 0; k < steps; k++) {
    setGrads(params, k);
    await opt.step();
  }
  await opt.syncToHost();
  await opt.release();
  return params;
}

function maxRelDiff(a: Parameter[], b: Parameter[]): number {
  let m = 0;
  a.forEach((p, i) => p.data.forEach((x, j) => (m = Math.max(m, Math.abs(x - b[i]!.data[j]!) / Math.max(1e-30, Math.abs(b[i]!.data[j]!))))));
  return m;
}

describe('step graphs', () => {
  test.each(STEP_ALGORITHMS.flatMap((a) => (['float32', 'float64'] as const).map((d) => [a, d] as const)))(
    'the %s graph (%s, every flag on) loads in onnxruntime-node CPU',
    async (algorithm, dtype) => {
      const graph = buildStepGraph({
        algorithm,
        dtype,
        flags: { maximize: true, weightDecay: true, amsgrad: true, momentum: true, nesterov: algorithm === 'sgd', centered: true },
      });
      const runner = await backend.create(graph.model, { devices: ['cpu'] });
      expect([...runner.inputNames].sort()).toEqual(['grad', 'hyper', 'param', ...graph.stateKeys].sort());
      expect([...runner.outputNames].sort()).toEqual(['param_out', ...graph.stateKeys.map((k) => `${k}_out`)].sort());
      await runner.release();
    },
  );
});

describe('DeviceOptimizer parity with @opt/core (CPU provider)', () => {
  const exact: Array<[string, Factory]> = [
    ['Lion', (p) => new Lion(p, { lr: 0.01, betas: [0.9, 0.99], weightDecay: 0.1 })],
    ['Lion (maximize)', (p) => new Lion(p, { lr: 0.01, maximize: true })],
    ['AdamW (amsgrad)', (p) => new AdamW(p, { lr: 0.01, amsgrad: true, weightDecay: 0.05 })],
    ['SGD (Nesterov, weight decay)', (p) => new SGD(p, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01 })],
    ['RMSprop (centered, momentum)', (p) => new RMSprop(p, { lr: 0.01, centered: true, momentum: 0.5 })],
  ];
  test.each(exact)('%s: float64-compute graphs on float32 parameters are bit-identical to the JS path over 25 steps', async (_name, factory) => {
    const core = coreRun(factory, 'float32', 25);
    const device = await deviceRun(factory, 'float32', 25, 'float64');
    expect(maxRelDiff(device, core)).toBe(0);
  });

  test.each(exact)('%s: float32-compute graphs stay within 1e-5 of the JS path over 25 steps', async (_name, factory) => {
    const core = coreRun(factory, 'float32', 25);
    const device = await deviceRun(factory, 'float32', 25, 'float32');
    expect(maxRelDiff(device, core)).toBeLessThan(1e-5);
  });

  test('LAMB: the trust ratio’s ReduceSumSquare sums in another order, so parity is 1e-12 (float64) and 1e-6 (float32)', async () => {
    const factory: Factory = (p) => new LAMB(p, { lr: 0.01, weightDecay: 0.01 });
    expect(maxRelDiff(await deviceRun(factory, 'float64', 25, 'float64'), coreRun(factory, 'float64', 25))).toBeLessThan(1e-12);
    expect(maxRelDiff(await deviceRun(factory, 'float32', 25, 'float64'), coreRun(factory, 'float32', 25))).toBeLessThan(1e-6);
    expect(maxRelDiff(await deviceRun(factory, 'float32', 25, 'float32'), coreRun(factory, 'float32', 25))).toBeLessThan(1e-5);
  });

  test('a checkpoint taken on the device loads into the core optimizer, which continues exactly as a pure core run', async () => {
    const factory: Factory = (p) => new Adam(p, { lr: 0.02, amsgrad: true });
    const reference = coreRun(factory, 'float32', 20);

    const params = makeParams('float32');
    const device = await DeviceOptimizer.wrap(factory(params), { backend, devices: ['cpu'] });
    for (let k = 0; k < 10; k++) {
      setGrads(params, k);
      await device.step();
    }
    const checkpoint = JSON.parse(JSON.stringify(await device.stateDict()));
    await device.release();
    expect(checkpoint.optimizer).toBe('Adam');
    expect(Object.keys(checkpoint.state['0']).sort()).toEqual(['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq', 'step']);

    const core = factory(params);
    core.loadStateDict(checkpoint);
    for (let k = 10; k < 20; k++) {
      setGrads(params, k);
      core.step();
    }
    expect(maxRelDiff(params, reference)).toBe(0);
  });

  test('a core checkpoint loads into a DeviceOptimizer, which continues exactly as the core optimizer', async () => {
    const factory: Factory = (p) => new RMSprop(p, { lr: 0.01, momentum: 0.9 });
    const reference = coreRun(factory, 'float64', 12);
    const params = makeParams('float64');
    const core = factory(params);
    for (let k = 0; k < 6; k++) {
      setGrads(params, k);
      core.step();
    }
    const device = await DeviceOptimizer.wrap(factory(params), { backend, devices: ['cpu'] });
    await device.loadStateDict(core.stateDict());
    for (let k = 6; k < 12; k++) {
      setGrads(params, k);
      await device.step();
    }
    await device.syncToHost();
    await device.release();
    expect(maxRelDiff(params, reference)).toBe(0);
  });

  test('lr changed by a core scheduler between steps reaches the graph (runtime input, same session)', async () => {
    const run = async (onDevice: boolean): Promise<Parameter[]> => {
      const params = makeParams('float32');
      const core = new Adam(params, { lr: 0.05 });
      const device = onDevice ? await DeviceOptimizer.wrap(core, { backend, devices: ['cpu'] }) : null;
      const scheduler = new ExponentialLR(core, { gamma: 0.7 });
      for (let k = 0; k < 8; k++) {
        setGrads(params, k);
        if (device) await device.step();
        else core.step();
        scheduler.step();
      }
      if (device) {
        await device.syncToHost();
        await device.release();
      }
      return params;
    };
    expect(maxRelDiff(await run(true), await run(false))).toBe(0);
  });

  test('two parameter groups with different options use their own hyper-parameters', async () => {
    const factory: Factory = (p) =>
      new SGD([{ params: [p[0]!] }, { params: [p[1]!], lr: 0.3, momentum: 0.5 }], { lr: 0.1 });
    expect(maxRelDiff(await deviceRun(factory, 'float32', 10, 'float64'), coreRun(factory, 'float32', 10))).toBe(0);
  });

  test('a non-finite gradient follows the core optimizer’s policy: throw by default, skip when asked', async () => {
    const params = makeParams('float32');
    const device = await DeviceOptimizer.wrap(new Adam(params, { nonFinite: 'skip' }), { backend, devices: ['cpu'] });
    setGrads(params, 0);
    params[1]!.grad![2] = NaN;
    const before = Array.from(params[0]!.data);
    await device.step();
    await device.syncToHost();
    expect(device.skippedSteps).toBe(1);
    expect(Array.from(params[0]!.data)).toEqual(before);
    const throwing = await DeviceOptimizer.wrap(new Adam(params), { backend, devices: ['cpu'] });
    await expect(throwing.step()).rejects.toThrow(/NaN|non-finite/i);
    await device.release();
    await throwing.release();
  });
});

describe('devices, fallback and typed errors', () => {
  const tiny = (): Uint8Array => {
    const g = new GraphBuilder('id');
    g.input('x', 'float32', ['n']);
    g.op('Identity', ['x'], {}, 'y');
    g.output('y', 'float32', ['n']);
    return g.toModel();
  };

  test("'cuda' without its provider libraries throws ExecutionProviderUnavailableError naming the library, CUDA 12/cuDNN 9 and the install flag", async () => {
    const error = await backend.create(tiny(), { devices: ['cuda'] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecutionProviderUnavailableError);
    const message = (error as Error).message;
    expect(message).toContain('libonnxruntime_providers_cuda.so');
    expect(message).toContain('CUDA 12');
    expect(message).toContain('cuDNN 9');
    expect(message).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12');
    expect((error as ExecutionProviderUnavailableError).device).toBe('cuda');
  });

  test.each(['rocm', 'migraphx'] as const)("'%s' throws at once: removed from ONNX Runtime 1.23, use 'webgpu'", async (device) => {
    const error = await backend.create(tiny(), { devices: [device] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecutionProviderUnavailableError);
    expect((error as Error).message).toMatch(/removed from ONNX Runtime 1\.23; use 'webgpu'/);
  });

  test('an ordered fallback list records every failure and runs on the first device that works', async () => {
    const runner = await backend.create(tiny(), { devices: ['rocm', 'cuda', 'cpu'] });
    expect(runner.device).toBe('cpu');
    expect(runner.diagnostics.map((d) => d.device)).toEqual(['rocm', 'cuda']);
    expect(runner.diagnostics[1]!.error).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12');
    const out = await runner.run({ x: runner.fromHost('float32', new Float32Array([1, 2]), [2]) });
    expect(Array.from((await runner.read(out.y!)) as Float32Array)).toEqual([1, 2]);
    expect('data' in out.y!).toBe(false);
    await runner.release();
  });

  test('DeviceOptimizer exposes the chosen device and the fallback diagnostics', async () => {
    const params = makeParams('float32');
    const opt = await DeviceOptimizer.wrap(new Adam(params), { backend, devices: ['cuda', 'cpu'] });
    expect(opt.device).toBe('cpu');
    expect(opt.diagnostics.map((d) => d.device)).toEqual(['cuda']);
    await opt.release();
  });

  test('when every device fails the error lists each reason', async () => {
    await expect(backend.create(tiny(), { devices: ['rocm', 'cuda'] })).rejects.toThrow(/rocm.*\|.*cuda/s);
  });
});
