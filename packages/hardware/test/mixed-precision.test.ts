import { Adam, SGD } from '@opt/core';
import {
  ALGORITHMS,
  GradScaler,
  HalfParameter,
  MixedPrecisionOptimizer,
  bfloat16Bits,
  buildStepGraph,
  float16Bits,
  fromBfloat16Bits,
  fromFloat16Bits,
} from '../src/index';
import { OrtNodeBackend } from '../src/node/index';

describe('16-bit conversions', () => {
  test('float16 rounds to nearest even, overflows to Infinity and keeps subnormals', () => {
    expect(float16Bits(1)).toBe(0x3c00);
    expect(float16Bits(-2)).toBe(0xc000);
    expect(float16Bits(65504)).toBe(0x7bff);
    expect(float16Bits(65520)).toBe(0x7c00);
    expect(float16Bits(2 ** -24)).toBe(1);
    expect(float16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(float16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(fromFloat16Bits(0x3555)).toBeCloseTo(1 / 3, 3);
    for (const x of [0.1, -7.25, 1e-5, 300]) expect(float16Bits(fromFloat16Bits(float16Bits(x)))).toBe(float16Bits(x));
  });

  test('bfloat16 keeps the float32 exponent and rounds the mantissa to 7 bits', () => {
    expect(bfloat16Bits(1)).toBe(0x3f80);
    expect(fromBfloat16Bits(bfloat16Bits(1e30))).toBeCloseTo(1e30, -28);
    expect(fromBfloat16Bits(bfloat16Bits(1 + 2 ** -8))).toBe(1);
    expect(fromBfloat16Bits(bfloat16Bits(1 + 3 * 2 ** -8))).toBe(1 + 2 ** -6);
  });
});

describe('dynamic loss scaling', () => {
  test('GradScaler halves on overflow and doubles after growthInterval good steps, as PyTorch', () => {
    const s = new GradScaler({ initScale: 1024, growthInterval: 3 });
    s.update(true);
    expect(s.scale).toBe(512);
    s.update(false);
    s.update(false);
    expect(s.scale).toBe(512);
    s.update(false);
    expect(s.scale).toBe(1024);
    expect(s.stateDict()).toEqual({ scale: 1024, growth_factor: 2, backoff_factor: 0.5, growth_interval: 3, _growth_tracker: 0 });
  });

  test('an overflowing float16 gradient skips the step (parameters and masters untouched) and halves the scale', () => {
    const w = new HalfParameter('float16', [0.5, -0.25], [2], 'w');
    const mp = new MixedPrecisionOptimizer([w], (m) => new SGD(m, { lr: 0.1 }), { initScale: 2 ** 16 });
    const before = Array.from(w.data);
    w.grad = new Uint16Array([float16Bits(1e6), float16Bits(1)]); // 1e6 overflows float16
    mp.step();
    expect(mp.lastStepSkipped).toBe(true);
    expect(mp.skippedSteps).toBe(1);
    expect(mp.scale).toBe(2 ** 15);
    expect(Array.from(w.data)).toEqual(before);
    expect(Array.from(mp.masters[0]!.data)).toEqual([0.5, -0.25]);
  });

  test('a finite step unscales into float32 masters, updates them and rounds the float16 parameters', () => {
    const w = new HalfParameter('float16', [0.5, -0.25], [2], 'w');
    const mp = new MixedPrecisionOptimizer([w], (m) => new SGD(m, { lr: 0.1 }), { initScale: 1024 });
    w.grad = new Uint16Array([float16Bits(0.5 * 1024), float16Bits(-1 * 1024)]);
    mp.step();
    expect(mp.lastStepSkipped).toBe(false);
    expect(mp.masters[0]!.data[0]).toBe(Math.fround(0.5 - 0.1 * 0.5));
    expect(mp.masters[0]!.data[1]).toBe(Math.fround(-0.25 + 0.1));
    expect(Array.from(w.data)).toEqual([float16Bits(Math.fround(0.45)), float16Bits(Math.fround(-0.15))]);
  });
});

describe('mixed precision in the step graphs (Cast nodes)', () => {
  const backend = new OrtNodeBackend();

  test.each(['float16', 'bfloat16'] as const)(
    'an Adam graph with %s parameters, float32 masters and loss scaling equals the JS mixed-precision path bit for bit',
    async (type) => {
      const n = 64;
      const init = Array.from({ length: n }, (_, i) => Math.sin(i) * 0.5);
      const half = new HalfParameter(type, init, [n], 'w');
      const mp = new MixedPrecisionOptimizer([half], (m) => new Adam(m, { lr: 0.01 }), { initScale: 256 });

      // float16 gradients go in as float16 tensors; onnxruntime's JS API has no bfloat16 tensors, so those are widened on the host.
      const graph = buildStepGraph({ algorithm: 'adam', dtype: 'float32', compute: 'float64', gradType: type === 'float16' ? 'float16' : 'float32', lowPrecision: type, lossScale: true });
      const runner = await backend.create(graph.model, { devices: ['cpu'] });
      let master = runner.fromHost('float32', half.toFloat32(), [n]);
      let m = runner.fromHost('float32', new Float32Array(n), [n]);
      let v = runner.fromHost('float32', new Float32Array(n), [n]);
      const hyper = new Float64Array(graph.hyperNames.length);
      let low: Uint16Array = half.data.slice();
      for (let t = 1; t <= 5; t++) {
        const grad = new Uint16Array(n);
        const toBits = type === 'float16' ? float16Bits : bfloat16Bits;
        for (let i = 0; i < n; i++) grad[i] = toBits(Math.cos(i * t) * mp.scale);
        half.grad = grad;
        ALGORITHMS.adam.hyper({ lr: 0.01 }, graph.flags, t, false, hyper);
        hyper[graph.hyperNames.indexOf('inv_scale')] = Math.fround(1 / mp.scale);
        const g =
          type === 'float16'
            ? runner.fromHost('float16', grad, [n])
            : runner.fromHost('float32', Float32Array.from(grad, (b) => fromBfloat16Bits(b)), [n]);
        const out = await runner.run({ param: master, grad: g, exp_avg: m, exp_avg_sq: v, hyper: runner.fromHost('float64', hyper, [hyper.length]) });
        master = out.param_out!;
        m = out.exp_avg_out!;
        v = out.exp_avg_sq_out!;
        const lowOut = await runner.read(out.param_low!);
        low = type === 'float16' ? (lowOut as Uint16Array).slice() : Uint16Array.from(lowOut as Float32Array, (x) => bfloat16Bits(x));
        mp.step();
      }
      expect(Array.from((await runner.read(master)) as Float32Array)).toEqual(Array.from(mp.masters[0]!.data));
      expect(Array.from(low)).toEqual(Array.from(half.data));
      await runner.release();
    },
  );
});
