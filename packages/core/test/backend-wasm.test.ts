/**
 * The WebAssembly backend of Adam, AdamW, SGD, Lion, Adagrad and RMSprop:
 * PyTorch fixture replays, bit-for-bit agreement with the JS backend in
 * float64, state dicts, missing gradients, user-replaced arrays, arena growth.
 */
import { type FloatArray, Parameter, Rng, wasmAvailable } from '@opt/tensor';
import {
  Adagrad,
  Adam,
  AdamW,
  Lion,
  RMSprop,
  SGD,
} from '../src/index';
import { type Factory, describeWasmAgainstJs, maxScaledError } from './helpers/backend-compare';
import { describeFixtureReplay } from './helpers/fixtures';

const OPTIMIZERS: Record<string, Factory> = {
  Adam: (p, o) => new Adam(p as never, o),
  AdamW: (p, o) => new AdamW(p as never, o),
  SGD: (p, o) => new SGD(p as never, o),
  Lion: (p, o) => new Lion(p as never, o),
  Adagrad: (p, o) => new Adagrad(p as never, o),
  RMSprop: (p, o) => new RMSprop(p as never, o),
};

test('WebAssembly SIMD is available in this test environment', () => {
  expect(wasmAvailable()).toBe(true);
});

describe('PyTorch fixture replays on the wasm backend', () => {
  describeFixtureReplay('optim/adam.json', (groups, options) => new Adam(groups, { ...options, backend: 'wasm' }));
  describeFixtureReplay('optim/adamw.json', (groups, options) => new AdamW(groups, { ...options, backend: 'wasm' }));
  describeFixtureReplay('optim/sgd.json', (groups, options) => new SGD(groups, { ...options, backend: 'wasm' }));
  describeFixtureReplay('optim/adagrad.json', (groups, options) => new Adagrad(groups, { ...options, backend: 'wasm' }));
  describeFixtureReplay('optim/rmsprop.json', (groups, options) => new RMSprop(groups, { ...options, backend: 'wasm' }));
});

/** Options that exercise every branch of each kernel, per optimizer. */
const CONFIGS: Record<string, Array<Record<string, unknown>>> = {
  Adam: [{ lr: 1e-2 }, { lr: 1e-2, amsgrad: true, weightDecay: 0.1 }, { lr: 1e-2, maximize: true }],
  AdamW: [{ lr: 1e-2 }, { lr: 1e-2, amsgrad: true, weightDecay: 0.1, maximize: true }],
  SGD: [
    { lr: 0.05 },
    { lr: 0.05, momentum: 0.9, dampening: 0.2, weightDecay: 0.01 },
    { lr: 0.05, momentum: 0.9, nesterov: true, maximize: true },
  ],
  Lion: [{ lr: 1e-3 }, { lr: 1e-3, weightDecay: 0.5, maximize: true }],
  Adagrad: [{ lr: 0.05 }, { lr: 0.05, lrDecay: 0.1, weightDecay: 0.01, initialAccumulatorValue: 0.3 }],
  RMSprop: [{ lr: 0.01 }, { lr: 0.01, centered: true, momentum: 0.9, weightDecay: 0.01 }, { lr: 0.01, momentum: 0.5 }],
};

/** Sizes chosen to hit SIMD bodies, tails and tiny tensors. */
const SHAPES = [[3, 5], [1], [7], [4, 4], [2]];

describeWasmAgainstJs({ optimizers: OPTIMIZERS, configs: CONFIGS, shapes: SHAPES, split: 3, float32: { exact: new Set(), tolerance: 1e-5 } });

describe('wasm storage and user-held arrays', () => {
  test('parameters are re-bound to arena views; user arrays for data and grad are copied in', () => {
    const data = new Float32Array([1, 2, 3]);
    const p = new Parameter(data, [3], 'w');
    const opt = new Adam([p], { lr: 0.1, backend: 'wasm' });
    const userGrad = new Float32Array([1, 1, 1]);
    p.grad = userGrad;
    opt.step();
    expect(p.data).not.toBe(data); // the user's array is no longer the storage
    expect(Array.from(data)).toEqual([1, 2, 3]);
    expect(p.grad).not.toBe(userGrad); // copied into the arena and re-bound
    const view = p.grad!;
    // Writing into the bound grad view needs no copy on the next step.
    view.fill(-1);
    opt.step();
    expect(p.grad).toBe(view);
    // Assigning a new data array copies it into the arena on the next step.
    const replaced = new Float32Array([10, 20, 30]);
    p.data = replaced;
    p.grad = new Float32Array([0, 0, 0]);
    opt.step();
    expect(p.data).not.toBe(replaced);
    expect(p.data[0]).toBeCloseTo(10, 0);
    expect(opt.state.get(p)!.step).toBe(3);
  });

  test('one group of 200 small tensors of mixed dtypes steps like the JS backend', () => {
    const rng = new Rng(9);
    const make = () =>
      Array.from({ length: 200 }, (_, i) =>
        Parameter.from(Array.from({ length: 1 + (i % 7) }, () => rng.uniform(-1, 1)), { dtype: i % 3 === 0 ? 'float32' : 'float64' }),
      );
    const a = make();
    const b = a.map((p) => new Parameter(p.data.slice(), p.shape));
    const js = new AdamW(a, { lr: 0.01 });
    const wasm = new AdamW(b, { lr: 0.01, backend: 'wasm' });
    for (let k = 0; k < 5; k++) {
      a.forEach((p, i) => {
        const g = p.data.slice();
        for (let j = 0; j < g.length; j++) g[j] = Math.sin(k + i + j);
        p.grad = g;
        b[i]!.grad = g.slice();
      });
      js.step();
      wasm.step();
    }
    a.forEach((p, i) => {
      if (p.dtype === 'float64') expect(Array.from(b[i]!.data)).toEqual(Array.from(p.data));
      else expect(maxScaledError(Array.from(b[i]!.data), Array.from(p.data))).toBeLessThanOrEqual(1e-5);
    });
  });

  test('switching amsgrad on re-lays the group out and keeps the moments', () => {
    const p = Parameter.from([0.5, -0.5, 0.25], { dtype: 'float64' });
    const q = new Parameter(p.data.slice(), p.shape);
    const wasm = new Adam([p], { lr: 0.01, backend: 'wasm' });
    const js = new Adam([q], { lr: 0.01 });
    for (let k = 0; k < 6; k++) {
      if (k === 3) {
        wasm.paramGroups[0]!.amsgrad = true;
        js.paramGroups[0]!.amsgrad = true;
        // The JS path expects the buffer to exist when amsgrad is switched on mid-run.
        js.state.get(q)!.max_exp_avg_sq = new Float64Array(3);
      }
      p.grad = Float64Array.from([k, -k, 1]);
      q.grad = Float64Array.from([k, -k, 1]);
      wasm.step();
      js.step();
    }
    expect(Array.from(p.data)).toEqual(Array.from(q.data));
    expect(Array.from(wasm.state.get(p)!.max_exp_avg_sq as FloatArray)).toEqual(Array.from(js.state.get(q)!.max_exp_avg_sq as FloatArray));
  });

  test('arena growth while stepping: adding a large group re-binds the existing parameters and state', () => {
    const small = Parameter.from([1, 2, 3, 4, 5], { dtype: 'float64' });
    const twin = new Parameter(small.data.slice(), small.shape);
    const wasm = new SGD([small], { lr: 0.1, momentum: 0.9, backend: 'wasm' });
    const js = new SGD([twin], { lr: 0.1, momentum: 0.9 });
    const grad = () => Float64Array.from([1, -1, 0.5, -0.5, 0.25]);
    small.grad = grad();
    twin.grad = grad();
    wasm.step();
    js.step();
    const buffer = small.data.buffer;
    // 4 MiB of parameters: more than the arena's initial 1 MiB, so its memory grows.
    const big = Parameter.zeros([1 << 19], 'float64');
    wasm.addParamGroup({ params: [big] });
    big.grad = new Float64Array(big.size).fill(1);
    small.grad = grad();
    twin.grad = grad();
    wasm.step();
    js.step();
    expect(small.data.buffer).not.toBe(buffer); // re-bound to the grown memory
    expect(small.data.length).toBe(5);
    expect(Array.from(small.data)).toEqual(Array.from(twin.data));
    expect(Array.from(wasm.state.get(small)!.momentum_buffer!)).toEqual(Array.from(js.state.get(twin)!.momentum_buffer!));
    expect(big.data[0]).toBeCloseTo(-0.1, 12);
  });

  test("the backend setting is validated: an unknown name is an InvalidOptionError naming 'backend'", () => {
    expect(() => new Adam([Parameter.zeros([1])], { backend: 'gpu' as never })).toThrow(/Adam: invalid backend/);
    expect(new Lion([Parameter.zeros([1])], { backend: 'auto' }).backend).toBe('wasm');
    expect(new RMSprop([Parameter.zeros([1])]).backend).toBe('js');
  });
});
