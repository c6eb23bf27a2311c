import { Adam } from '@opt/core';
import { Rng, ShapeMismatchError } from '@opt/tensor';
import {
  ClassificationObjective,
  Conv2d,
  Dense,
  Flatten,
  GELU,
  MSEObjective,
  ReLU,
  Sequential,
  Sigmoid,
  Tanh,
  UnsupportedOperationError,
  erf,
  erfc,
  mlp,
  mse,
  normalCdf,
  softmaxCrossEntropy,
} from '../src/index';
import { layerGradientError, numericGrad, randn, relErr } from './helpers/nn';

describe('erf', () => {
  // Reference values from mpmath at 40 digits.
  const table: Array<[number, number, number]> = [
    [1e-10, 1.1283791670955126e-10, 0.999999999887162],
    [0.001, 0.0011283787909692365, 0.9988716212090307],
    [0.1, 0.1124629160182849, 0.887537083981715],
    [0.3, 0.3286267594591274, 0.6713732405408726],
    [0.46875, 0.49261347321793797, 0.507386526782062],
    [0.47, 0.4937450508860821, 0.5062549491139179],
    [0.5, 0.5204998778130465, 0.4795001221869535],
    [0.8, 0.7421009647076605, 0.2578990352923395],
    [1, 0.8427007929497149, 0.15729920705028513],
    [1.5, 0.9661051464753108, 0.033894853524689274],
    [2, 0.9953222650189527, 0.004677734981047266],
    [2.5, 0.999593047982555, 0.0004069520174449589],
    [3, 0.9999779095030014, 0.00002209049699858544],
    [3.9, 0.9999999652077514, 3.4792248597231765e-8],
    [4, 0.9999999845827421, 1.541725790028002e-8],
    [4.1, 0.9999999932999724, 6.700027654084918e-9],
    [5, 0.9999999999984626, 1.537459794428035e-12],
    [6, 1, 2.1519736712498913e-17],
    [8, 1, 1.1224297172982926e-29],
    [10, 1, 2.088487583762545e-45],
    [15, 1, 7.212994172451207e-100],
    [20, 1, 5.395865611607901e-176],
    [26, 1, 5.663192408856143e-296],
  ];

  test.each(table)('erf and erfc at x = %p match high-precision values to 1e-15 relative', (x, e, ec) => {
    expect(Math.abs(erf(x) - e) / e).toBeLessThan(1e-15);
    expect(Math.abs(erfc(x) - ec) / ec).toBeLessThan(1e-15);
  });

  test('erf is odd, erfc(−x) = 2 − erfc(x), and the limits are exact', () => {
    for (const [x] of table) {
      expect(erf(-x)).toBe(-erf(x));
      expect(erfc(-x)).toBeCloseTo(2 - erfc(x), 15);
    }
    expect(erf(0)).toBe(0);
    expect(erf(Infinity)).toBe(1);
    expect(erf(-Infinity)).toBe(-1);
    expect(erfc(Infinity)).toBe(0);
    expect(erfc(40)).toBe(0);
    expect(Number.isNaN(erf(NaN))).toBe(true);
  });

  test('the normal CDF keeps relative accuracy in the lower tail, where 1 + erf(x/√2) cancels to 0', () => {
    // Φ(−10) = erfc(10/√2)/2 = 7.619853024160525e-24 (mpmath).
    expect(Math.abs(normalCdf(-10) - 7.619853024160525e-24) / 7.619853024160525e-24).toBeLessThan(1e-14);
    expect(normalCdf(0)).toBe(0.5);
  });
});

describe('layer gradients against central finite differences (float64)', () => {
  test('Dense: weight, bias and input gradients', () => {
    const layer = new Dense(5, 3, { seed: 1 });
    expect(layerGradientError(layer, randn(4 * 5, 2), 4)).toBeLessThan(1e-8);
  });

  test('Dense without bias and with xavier initialisation', () => {
    const layer = new Dense(4, 6, { seed: 3, bias: false, init: 'xavier' });
    expect(layer.parameters).toHaveLength(1);
    expect(layerGradientError(layer, randn(3 * 4, 4), 3)).toBeLessThan(1e-8);
  });

  test.each([
    ['ReLU', () => new ReLU()],
    ['Tanh', () => new Tanh()],
    ['Sigmoid', () => new Sigmoid()],
    ['GELU', () => new GELU()],
  ])('%s: input gradient', (_name, make) => {
    expect(layerGradientError(make(), randn(5 * 7, 5, 2), 5)).toBeLessThan(1e-8);
  });

  test('GELU matches x·Φ(x) at known points', () => {
    const y = new GELU().forward(new Float64Array([-3, -1, 0, 0.5, 1, 3]), 1);
    // x·(1 + erf(x/√2))/2 from mpmath.
    const expected = [-0.0040496940948902835, -0.15865525393145705, 0, 0.34573123063700656, 0.8413447460685429, 2.99595030590511];
    expected.forEach((e, k) => expect(Math.abs(y[k]! - e)).toBeLessThan(1e-15 * Math.max(1, Math.abs(e))));
  });

  test('Conv2d with stride and padding: weight, bias and input gradients', () => {
    const layer = new Conv2d(2, 3, 3, { stride: 2, padding: 1, seed: 5 });
    expect(layerGradientError(layer, randn(2 * 2 * 5 * 5, 6), 2)).toBeLessThan(1e-8);
  });

  test('Conv2d with a rectangular kernel on a non-square input', () => {
    const layer = new Conv2d(1, 2, [2, 3], { inputSize: [4, 6], seed: 7 });
    expect(layerGradientError(layer, randn(3 * 24, 8), 3)).toBeLessThan(1e-8);
  });

  test('a whole MLP (every activation) and a Conv2d model', () => {
    for (const activation of ['relu', 'tanh', 'gelu', 'sigmoid'] as const) {
      const net = mlp({ sizes: [4, 8, 6, 3], activation, seed: 11 });
      expect(layerGradientError(net, randn(6 * 4, 12), 6)).toBeLessThan(1e-7);
    }
    const cnn = new Sequential([
      new Conv2d(1, 2, 3, { padding: 1, seed: 1 }),
      new Tanh(),
      new Conv2d(2, 2, 2, { stride: 2, seed: 2 }),
      new Flatten(),
      new Dense(2 * 3 * 3, 4, { seed: 3 }),
    ]);
    expect(layerGradientError(cnn, randn(2 * 36, 13), 2)).toBeLessThan(1e-7);
  });
});

describe('losses', () => {
  test('softmaxCrossEntropy: value, and its logits gradient against finite differences', () => {
    const B = 4;
    const C = 5;
    const logits = randn(B * C, 20, 3);
    const labels = new Int32Array([0, 3, 4, 1]);
    const g = new Float64Array(B * C);
    const loss = softmaxCrossEntropy(logits, labels, B, C, g);
    let expected = 0;
    for (let r = 0; r < B; r++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += Math.exp(logits[r * C + c]!);
      expected += Math.log(s) - logits[r * C + labels[r]!]!;
    }
    expect(loss).toBeCloseTo(expected / B, 13);
    expect(relErr(g, numericGrad(logits, () => softmaxCrossEntropy(logits, labels, B, C)))).toBeLessThan(1e-8);
  });

  test('softmaxCrossEntropy is stable for huge logits', () => {
    const logits = new Float64Array([1000, 0, -1000, 1e4, 1e4 - 2, 0]);
    const g = new Float64Array(6);
    const loss = softmaxCrossEntropy(logits, new Int32Array([1, 1]), 2, 3, g);
    expect(loss).toBeCloseTo((1000 + (2 + Math.log1p(Math.exp(-2)))) / 2, 10);
    expect(Array.from(g).every(Number.isFinite)).toBe(true);
  });

  test('softmaxCrossEntropy rejects an out-of-range label', () => {
    expect(() => softmaxCrossEntropy(new Float64Array(4), new Int32Array([0, 2]), 2, 2)).toThrow(/labels\[1\]/);
  });

  test('mse: mean over all elements and gradient 2(pred − target)/N', () => {
    const pred = randn(6, 30);
    const target = randn(6, 31);
    const g = new Float64Array(6);
    const loss = mse(pred, target, g);
    let s = 0;
    for (let k = 0; k < 6; k++) s += (pred[k]! - target[k]!) ** 2;
    expect(loss).toBeCloseTo(s / 6, 14);
    expect(relErr(g, numericGrad(pred, () => mse(pred, target)))).toBeLessThan(1e-8);
  });
});

describe('Dense initialisation and naming', () => {
  test("the default 'kaiming-uniform' draws weight and bias from U(−1/√in, 1/√in), as nn.Linear", () => {
    const layer = new Dense(64, 32, { seed: 0 });
    const bound = 1 / Math.sqrt(64);
    for (const p of layer.parameters) {
      let max = 0;
      for (const v of p.data) max = Math.max(max, Math.abs(v));
      expect(max).toBeLessThanOrEqual(bound);
      expect(max).toBeGreaterThan(0.9 * bound);
    }
    expect(layer.weight.shape).toEqual([32, 64]);
    expect(layer.bias!.shape).toEqual([32]);
  });

  test("'zeros' initialises everything to zero and xavier zeroes the bias", () => {
    const z = new Dense(3, 2, { init: 'zeros' });
    expect([...z.weight.data, ...z.bias!.data].every((v) => v === 0)).toBe(true);
    const x = new Dense(3, 2, { init: 'xavier', seed: 1 });
    expect([...x.bias!.data].every((v) => v === 0)).toBe(true);
    expect(Math.max(...x.weight.data.map(Math.abs))).toBeLessThanOrEqual(Math.sqrt(6 / 5));
  });

  test('parameters are named as PyTorch names them (prefix + weight; Sequential index.)', () => {
    const net = mlp({ sizes: [3, 4, 4, 2], seed: 0 });
    expect(net.namedParameters().map(([n]) => n)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias', '4.weight', '4.bias']);
    expect(net.parameters.map((p) => p.name)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias', '4.weight', '4.bias']);
    expect(new Dense(2, 2, { prefix: 'fc1.' }).weight.name).toBe('fc1.weight');
    const nested = new Sequential([new Sequential([new Dense(2, 2), new ReLU()]), new Dense(2, 1)]);
    expect(nested.namedParameters().map(([n]) => n)).toEqual(['0.0.weight', '0.0.bias', '1.weight', '1.bias']);
  });

  test('the same seed gives the same model; another seed a different one', () => {
    const a = mlp({ sizes: [5, 7, 3], seed: 42 });
    const b = mlp({ sizes: [5, 7, 3], seed: 42 });
    const c = mlp({ sizes: [5, 7, 3], seed: 43 });
    a.parameters.forEach((p, k) => expect(Array.from(p.data)).toEqual(Array.from(b.parameters[k]!.data)));
    expect(Array.from(a.parameters[0]!.data)).not.toEqual(Array.from(c.parameters[0]!.data));
  });

  test('invalid sizes and options are rejected with the option named', () => {
    expect(() => new Dense(0, 3)).toThrow(/inFeatures/);
    expect(() => mlp({ sizes: [3] })).toThrow(/sizes/);
    expect(() => mlp({ sizes: [3, 2], activation: 'swish' as never })).toThrow(/activation/);
    expect(() => new Dense(3, 2).forward(new Float64Array(5), 2)).toThrow(ShapeMismatchError);
    expect(() => new Dense(3, 2).backward(new Float64Array(2))).toThrow(UnsupportedOperationError);
  });
});

describe('buffers', () => {
  test('forward and backward reuse their buffers for a batch size seen before', () => {
    const net = mlp({ sizes: [3, 5, 2], seed: 0 });
    const x4 = randn(12, 1);
    const x2 = randn(6, 2);
    const y4 = net.forward(x4, 4);
    const g4 = net.backward(new Float64Array(8));
    const y2 = net.forward(x2, 2);
    expect(y2).not.toBe(y4);
    expect(net.forward(x4, 4)).toBe(y4);
    expect(net.backward(new Float64Array(8))).toBe(g4);
  });

  test('Flatten is a view: forward returns its input, backward its output gradient', () => {
    const x = randn(2 * 12, 3);
    const f = new Flatten();
    expect(f.forward(x, 2)).toBe(x);
    expect(f.backward(x)).toBe(x);
  });
});

describe('training', () => {
  /** Three Gaussian blobs in 2-D, 40 points each. */
  function blobs(seed: number): { x: Float64Array; y: Int32Array } {
    const rng = new Rng(seed);
    const centers = [
      [0, 2],
      [-2, -1],
      [2, -1],
    ];
    const n = 120;
    const x = new Float64Array(n * 2);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const c = i % 3;
      y[i] = c;
      x[2 * i] = centers[c]![0]! + rng.normal(0, 0.6);
      x[2 * i + 1] = centers[c]![1]! + rng.normal(0, 0.6);
    }
    return { x, y };
  }

  test('an MLP reaches >95% train accuracy on a 3-class problem with Adam in 300 steps', () => {
    const data = blobs(1);
    const model = mlp({ sizes: [2, 16, 16, 3], activation: 'relu', seed: 0 });
    const objective = new ClassificationObjective(model, { ...data, numClasses: 3 });
    const opt = new Adam(model.namedParameters(), { lr: 1e-2 });
    const first = objective.loss();
    for (let step = 0; step < 300; step++) opt.step(() => objective.lossAndGrad());
    expect(objective.loss()).toBeLessThan(first / 4);
    expect(objective.accuracy()).toBeGreaterThan(0.95);
  });

  test('a float32 model trains: parameters, buffers and gradients stay float32', () => {
    const data = blobs(2);
    const model = mlp({ sizes: [2, 16, 3], activation: 'gelu', dtype: 'float32', seed: 1 });
    const objective = new ClassificationObjective(model, { ...data, numClasses: 3 });
    expect(objective.data.x).toBeInstanceOf(Float32Array);
    const opt = new Adam(objective.parameters, { lr: 2e-2 });
    for (let step = 0; step < 200; step++) opt.step(() => objective.lossAndGrad());
    for (const p of model.parameters) {
      expect(p.data).toBeInstanceOf(Float32Array);
      expect(p.grad).toBeInstanceOf(Float32Array);
    }
    expect(model.forward(objective.data.x, objective.data.size)).toBeInstanceOf(Float32Array);
    expect(objective.accuracy()).toBeGreaterThan(0.95);
  });

  test('training is reproducible: the same seeds give bitwise identical parameters', () => {
    const run = (): number[] => {
      const data = blobs(3);
      const model = mlp({ sizes: [2, 8, 3], activation: 'tanh', seed: 5 });
      const objective = new ClassificationObjective(model, { ...data, numClasses: 3 });
      const opt = new Adam(objective.parameters, { lr: 1e-2 });
      for (let step = 0; step < 20; step++) opt.step(() => objective.lossAndGrad());
      return model.parameters.flatMap((p) => Array.from(p.data));
    };
    expect(run()).toEqual(run());
  });

  test('MSEObjective gradients match finite differences of its loss', () => {
    const model = mlp({ sizes: [2, 6, 2], activation: 'tanh', seed: 8 });
    const objective = new MSEObjective(model, { x: randn(10, 1), y: randn(10, 2), inputs: 2 });
    objective.lossAndGrad();
    for (const p of objective.parameters) {
      expect(relErr(Float64Array.from(p.grad!), numericGrad(p.data, () => objective.loss()))).toBeLessThan(1e-8);
    }
  });
});
