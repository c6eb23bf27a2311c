/**
 * The WebAssembly backend of Adadelta, Adamax, NAdam, RAdam, Rprop, LAMB, LARS
 * and Adafactor, and the clip-by-norm kernels: PyTorch fixture replays on the
 * wasm backend, agreement with the JS backend (bit for bit in float64; in
 * float32 bit for bit where the kernel computes in float64 as the JS reference
 * does, else within 1e-6 relative), state dicts, missing gradients, the
 * non-finite policy.
 */
import { type FloatArray, Parameter, Rng, WasmArena, sumOfSquares } from '@opt/tensor';
import {
  Adadelta,
  Adafactor,
  Adamax,
  LAMB,
  LARS,
  NAdam,
  RAdam,
  Rprop,
  clipGradNorm,
} from '../src/index';
import { type Factory, describeWasmAgainstJs } from './helpers/backend-compare';
import { describeFixtureReplay } from './helpers/fixtures';

const OPTIMIZERS: Record<string, Factory> = {
  Adadelta: (p, o) => new Adadelta(p as never, o),
  Adamax: (p, o) => new Adamax(p as never, o),
  NAdam: (p, o) => new NAdam(p as never, o),
  RAdam: (p, o) => new RAdam(p as never, o),
  Rprop: (p, o) => new Rprop(p as never, o),
  LAMB: (p, o) => new LAMB(p as never, o),
  LARS: (p, o) => new LARS(p as never, o),
  Adafactor: (p, o) => new Adafactor(p as never, o),
};

/**
 * Optimizers whose float32 kernels are bit-identical to the JS reference:
 * Adafactor computes in float64 and rounds where the reference stores; Rprop's
 * single multiply, compare and add round the same in float32 as in float64
 * followed by a float32 store.
 */
const F32_EXACT = new Set(['Adafactor', 'Rprop']);

describe('PyTorch fixture replays on the wasm backend', () => {
  describeFixtureReplay('optim/adadelta.json', (groups, options) => new Adadelta(groups, { ...options, backend: 'wasm' }));
  describeFixtureReplay('optim/adamax.json', (groups, options) => new Adamax(groups, { ...options, backend: 'wasm' }));
  describeFixtureReplay('optim/nadam.json', (groups, options) => new NAdam(groups, { ...options, compat: 'torch-1.13', backend: 'wasm' }));
  describeFixtureReplay('optim/radam.json', (groups, options) => new RAdam(groups, { ...options, backend: 'wasm' }));
  describeFixtureReplay('optim/rprop.json', (groups, options) => new Rprop(groups, { ...options, backend: 'wasm' }));
});

/** Options that exercise every branch of each kernel, per optimizer. */
const CONFIGS: Record<string, Array<Record<string, unknown>>> = {
  Adadelta: [{ lr: 1 }, { lr: 0.5, rho: 0.8, weightDecay: 0.01, maximize: true }],
  Adamax: [{ lr: 0.01 }, { lr: 0.01, weightDecay: 0.1, maximize: true }],
  NAdam: [{ lr: 0.01 }, { lr: 0.01, weightDecay: 0.01, momentumDecay: 0.01, compat: 'torch-1.13', maximize: true }],
  // betas[1] = 0.9: ρ∞ = 19, so the first steps are unrectified and the later ones rectified.
  RAdam: [{ lr: 0.01 }, { lr: 0.01, betas: [0.9, 0.9], weightDecay: 0.01, maximize: true }],
  Rprop: [{ lr: 0.01 }, { lr: 0.01, etas: [0.3, 1.5], stepSizes: [1e-3, 0.02], maximize: true }],
  LAMB: [{ lr: 0.01 }, { lr: 0.01, weightDecay: 0.1, clampValue: 0.5, maximize: true }],
  LARS: [
    { lr: 0.1 },
    { lr: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: true },
    { lr: 0.1, momentum: 0.9, excludeFromAdaptation: true, maximize: true },
  ],
  Adafactor: [{ lr: 0.01 }, { lr: 0.01, beta1: 0.9, weightDecay: 0.1, maximize: true }, { lr: 0.05, d: 1, eps: [1e-3, 1e-3] }],
};

/** Sizes that hit SIMD bodies, tails, tiny tensors, odd column counts and a 3-D (batched) Adafactor factorization. */
const SHAPES = [[3, 5], [1], [7], [4, 4], [2], [2, 3, 3], [9]];

describeWasmAgainstJs({ optimizers: OPTIMIZERS, configs: CONFIGS, shapes: SHAPES, split: 4, float32: { exact: F32_EXACT, tolerance: 1e-6 } });

describe('wasm-specific state handling', () => {
  test("LARS's lazily created momentum buffer lives in wasm memory and is null in the state dict until the first step", () => {
    const p = Parameter.from([0.5, -1, 2], { dtype: 'float64', name: 'w' });
    const opt = new LARS([p], { lr: 0.1, momentum: 0.9, backend: 'wasm' });
    p.grad = Float64Array.from([1, 1, 1]);
    expect(opt.stateDict().state['0'] ?? { momentum_buffer: null }).toEqual({ momentum_buffer: null });
    opt.step();
    const buf = opt.state.get(p)!.momentum_buffer as FloatArray;
    expect(buf.length).toBe(3);
    expect(buf.buffer).toBe(p.data.buffer);
  });

  test('Adafactor: switching beta1 on mid-run creates exp_avg as zeros, like the JS backend', () => {
    const make = () => [Parameter.from([0.5, -0.5, 0.25, 1, 2, -3], { shape: [2, 3], dtype: 'float64' }), Parameter.from([1, 2], { dtype: 'float64' })];
    const a = make();
    const b = make();
    const js = new Adafactor(a, { lr: 0.01 });
    const wasm = new Adafactor(b, { lr: 0.01, backend: 'wasm' });
    for (let k = 0; k < 6; k++) {
      if (k === 3) {
        js.paramGroups[0]!.beta1 = 0.9;
        wasm.paramGroups[0]!.beta1 = 0.9;
      }
      for (const ps of [a, b]) ps.forEach((p, i) => (p.grad = Float64Array.from(p.data, (x, j) => Math.sin(k + i + j) + 0.1 * x)));
      js.step();
      wasm.step();
    }
    expect(b.map((p) => Array.from(p.data))).toEqual(a.map((p) => Array.from(p.data)));
    expect(JSON.stringify(wasm.stateDict())).toBe(JSON.stringify(js.stateDict()));
  });

  test('NAdam with different mu_product per parameter (loaded state) steps per parameter, like the JS backend', () => {
    const make = () => [Parameter.from([0.5, -0.5, 0.25], { dtype: 'float64' }), Parameter.from([1, 2], { dtype: 'float64' })];
    const a = make();
    const b = make();
    const js = new NAdam(a, { lr: 0.01 });
    const wasm = new NAdam(b, { lr: 0.01, backend: 'wasm' });
    // Step only the first parameter once: the two then differ in step and mu_product.
    for (const [ps, opt] of [[a, js], [b, wasm]] as const) {
      ps[0]!.grad = Float64Array.from([1, -1, 0.5]);
      ps[1]!.grad = null;
      opt.step();
      for (let k = 0; k < 3; k++) {
        ps.forEach((p, i) => (p.grad = Float64Array.from(p.data, (_, j) => Math.cos(k + i + j))));
        opt.step();
      }
    }
    expect(b.map((p) => Array.from(p.data))).toEqual(a.map((p) => Array.from(p.data)));
    expect(JSON.stringify(wasm.stateDict())).toBe(JSON.stringify(js.stateDict()));
  });
});

describe('clip-by-norm and ordered norm kernels', () => {
  const arena = WasmArena.create();

  test.each(['float32', 'float64'] as const)('%s: sumsqOrdered equals the JS sumOfSquares bit for bit (bodies and tails)', (dtype) => {
    const rng = new Rng(1);
    for (const n of [0, 1, 3, 4, 5, 17, 1000]) {
      const region = arena.alloc(n * 8);
      const x = arena.view(dtype, region.byteOffset, n);
      for (let i = 0; i < n; i++) x[i] = rng.uniform(-3, 3);
      const k = arena.exports;
      const got = dtype === 'float64' ? k.sumsqOrderedF64(x.byteOffset, n) : k.sumsqOrderedF32(x.byteOffset, n);
      expect(got).toBe(sumOfSquares(x));
      arena.free(region);
    }
  });

  test.each(['float32', 'float64'] as const)('%s: clipNorm returns the norm and scales like clipGradNorm on one tensor', (dtype) => {
    const rng = new Rng(2);
    for (const [n, maxNorm] of [[13, 1], [13, 100], [64, 0.5]] as const) {
      const region = arena.alloc(n * 8);
      const x = arena.view(dtype, region.byteOffset, n);
      for (let i = 0; i < n; i++) x[i] = rng.uniform(-1, 1);
      const p = new Parameter(dtype === 'float64' ? new Float64Array(n) : new Float32Array(n), [n]);
      p.grad = x.slice();
      const expected = clipGradNorm(p, maxNorm);
      arena.scalars[0] = maxNorm;
      const k = arena.exports;
      const total = dtype === 'float64' ? k.clipNormF64(x.byteOffset, n, arena.scalarsPtr) : k.clipNormF32(x.byteOffset, n, arena.scalarsPtr);
      // One tensor: clipGradNorm's total is sqrt(sqrt(s)²), the kernel's sqrt(s): equal to rounding.
      expect(total).toBeCloseTo(expected, 12);
      const scale = Math.max(...Array.from(p.grad!, Math.abs));
      for (let i = 0; i < n; i++) expect(Math.abs(x[i]! - p.grad![i]!)).toBeLessThanOrEqual(scale * (dtype === 'float64' ? 1e-15 : 1e-7));
      arena.free(region);
    }
  });
});
