import { type FloatArray, Rng } from '@opt/tensor';
import {
  type Batch,
  ClassificationObjective,
  Conv2d,
  Dense,
  Flatten,
  type Layer,
  MSEObjective,
  type ModelObjective,
  ReLU,
  Sequential,
  UnsupportedOperationError,
  flattenGrads,
  mlp,
} from '../src/index';
import { randn, relErr } from './helpers/nn';

function labels(n: number, classes: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  return Int32Array.from({ length: n }, () => rng.int(classes));
}

/** Example i of a batch as a one-example batch. */
function single(batch: Batch, i: number, d: number, k = 1): Batch {
  return { x: batch.x.slice(i * d, (i + 1) * d), y: batch.y.slice(i * k, (i + 1) * k), size: 1 };
}

function perExampleBuffers(objective: ModelObjective, size: number): FloatArray[] {
  return objective.parameters.map((p) => new Float64Array(size * p.size));
}

/**
 * Scaling convention under test: row i of `perExampleGrads` is the gradient of
 * example i's own loss ℓᵢ, i.e. exactly `lossAndGrad` on the one-example batch
 * {xᵢ, yᵢ} (a mean over one example), and B times row i of the batch gradient's
 * contribution; so the rows' MEAN (not sum) equals the batch gradient.
 */
function checkAgainstLoop(objective: ModelObjective, batch: Batch, d: number, k = 1): void {
  const B = batch.size;
  const out = perExampleBuffers(objective, B);
  objective.perExampleGrads(batch, out);
  for (let i = 0; i < B; i++) {
    objective.lossAndGrad(single(batch, i, d, k));
    objective.parameters.forEach((p, j) => {
      const row = out[j]!.subarray(i * p.size, (i + 1) * p.size);
      expect(relErr(row, p.grad!)).toBeLessThan(1e-12);
    });
  }
  objective.lossAndGrad(batch);
  objective.parameters.forEach((p, j) => {
    const mean = new Float64Array(p.size);
    for (let i = 0; i < B; i++) for (let e = 0; e < p.size; e++) mean[e] += out[j]![i * p.size + e]! / B;
    expect(relErr(mean, p.grad!)).toBeLessThan(1e-12);
  });
}

describe('per-example gradients', () => {
  const d = 5;
  const B = 7;
  const C = 4;
  const batch: Batch = { x: randn(B * d, 1), y: labels(B, C, 2), size: B };

  test.each(['relu', 'tanh', 'gelu', 'sigmoid'] as const)(
    'MLP (%s): each row equals lossAndGrad on that single example, and the rows average to the batch gradient',
    (activation) => {
      const model = mlp({ sizes: [d, 6, 5, C], activation, seed: 3 });
      const objective = new ClassificationObjective(model, { x: batch.x, y: batch.y, numClasses: C });
      checkAgainstLoop(objective, batch, d);
    },
  );

  test('a Conv2d model: rows equal the single-example loop', () => {
    const model = new Sequential([
      new Conv2d(1, 2, 3, { padding: 1, seed: 1 }),
      new ReLU(),
      new Flatten(),
      new Dense(2 * 4 * 4, 3, { seed: 2 }),
    ]);
    const images: Batch = { x: randn(5 * 16, 4), y: labels(5, 3, 5), size: 5 };
    const objective = new ClassificationObjective(model, { x: images.x, y: images.y, numClasses: 3 });
    checkAgainstLoop(objective, images, 16);
  });

  test('MSEObjective with two outputs: rows equal the single-example loop', () => {
    const model = mlp({ sizes: [3, 8, 2], activation: 'tanh', seed: 4 });
    const data: Batch = { x: randn(6 * 3, 6), y: randn(6 * 2, 7), size: 6 };
    const objective = new MSEObjective(model, { x: data.x, y: data.y, inputs: 3 });
    checkAgainstLoop(objective, data, 3, 2);
  });

  test('perExampleGrads leaves every parameter gradient untouched', () => {
    const model = mlp({ sizes: [d, 4, C], seed: 8 });
    const objective = new ClassificationObjective(model, { x: batch.x, y: batch.y, numClasses: C });
    objective.lossAndGrad();
    const before = flattenGrads(objective.parameters, new Float64Array(model.parameters.reduce((s, p) => s + p.size, 0)));
    objective.perExampleGrads(batch, perExampleBuffers(objective, B));
    expect(Array.from(flattenGrads(objective.parameters))).toEqual(Array.from(before));
  });

  test('a reused batch buffer longer than the batch: only the first size rows count', () => {
    const model = mlp({ sizes: [d, 4, C], seed: 9 });
    const objective = new ClassificationObjective(model, { x: batch.x, y: batch.y, numClasses: C });
    const short: Batch = { x: batch.x.slice(0, 3 * d), y: batch.y.slice(0, 3), size: 3 };
    const long: Batch = { x: batch.x, y: batch.y, size: 3 };
    expect(objective.loss(long)).toBe(objective.loss(short));
    const a = perExampleBuffers(objective, 3);
    const b = perExampleBuffers(objective, 3);
    objective.perExampleGrads(long, a);
    objective.perExampleGrads(short, b);
    a.forEach((arr, k) => expect(Array.from(arr)).toEqual(Array.from(b[k]!)));
  });

  test('float32 models: per-example rows average to the batch gradient to float32 precision', () => {
    const model = mlp({ sizes: [d, 6, C], activation: 'gelu', dtype: 'float32', seed: 10 });
    const objective = new ClassificationObjective(model, { x: batch.x, y: batch.y, numClasses: C });
    const out = objective.parameters.map((p) => new Float32Array(B * p.size));
    objective.perExampleGrads({ ...batch, x: Float32Array.from(batch.x) }, out);
    objective.lossAndGrad();
    objective.parameters.forEach((p, j) => {
      const mean = new Float64Array(p.size);
      for (let i = 0; i < B; i++) for (let e = 0; e < p.size; e++) mean[e] += out[j]![i * p.size + e]! / B;
      expect(relErr(mean, p.grad!)).toBeLessThan(1e-5);
    });
  });

  test('out arrays of the wrong count or length are rejected', () => {
    const objective = new ClassificationObjective(mlp({ sizes: [d, 3, C], seed: 1 }), { x: batch.x, y: batch.y, numClasses: C });
    expect(() => objective.perExampleGrads(batch, [])).toThrow(/one per parameter/);
    const out = perExampleBuffers(objective, B);
    out[1] = new Float64Array(3);
    expect(() => objective.perExampleGrads(batch, out)).toThrow(/out\[1\]/);
  });
});

describe('per-example gradient norms', () => {
  const d = 6;
  const B = 9;
  const C = 3;
  const batch: Batch = { x: randn(B * d, 11, 2), y: labels(B, C, 12), size: B };

  function materialisedNorms(objective: ModelObjective, b: Batch): Float64Array {
    const out = perExampleBuffers(objective, b.size);
    objective.perExampleGrads(b, out);
    const norms = new Float64Array(b.size);
    objective.parameters.forEach((p, j) => {
      for (let i = 0; i < b.size; i++) {
        for (let e = 0; e < p.size; e++) norms[i] += out[j]![i * p.size + e]! ** 2;
      }
    });
    return norms.map(Math.sqrt);
  }

  test.each([
    ['with biases', true],
    ['without biases', false],
  ])('Dense-only MLP %s: the closed form ‖δ‖²‖a‖² (+‖δ‖²) equals the norms of the materialised gradients', (_name, bias) => {
    const model = mlp({ sizes: [d, 8, 7, C], activation: 'gelu', seed: 13, bias });
    const objective = new ClassificationObjective(model, { x: batch.x, y: batch.y, numClasses: C });
    const norms = new Float64Array(B);
    objective.perExampleGradNorms(batch, norms);
    expect(relErr(norms, materialisedNorms(objective, batch))).toBeLessThan(1e-12);
    expect(norms.every((v) => v > 0)).toBe(true);
  });

  test('MSE objective: norms equal the materialised ones', () => {
    const model = mlp({ sizes: [2, 5, 1], activation: 'relu', seed: 14 });
    const data: Batch = { x: randn(8 * 2, 15), y: randn(8, 16), size: 8 };
    const objective = new MSEObjective(model, { x: data.x, y: data.y, inputs: 2 });
    const norms = new Float64Array(8);
    objective.perExampleGradNorms(data, norms);
    expect(relErr(norms, materialisedNorms(objective, data))).toBeLessThan(1e-12);
  });

  test('a model with a Conv2d throws UnsupportedOperationError before computing anything', () => {
    const model: Layer = new Sequential([new Conv2d(1, 1, 2, { seed: 1 }), new Flatten(), new Dense(4, 2, { seed: 2 })]);
    const objective = new ClassificationObjective(model, { x: randn(2 * 9, 17), y: [0, 1], numClasses: 2 });
    expect(() => objective.perExampleGradNorms(objective.data, new Float64Array(2))).toThrow(UnsupportedOperationError);
  });
});
