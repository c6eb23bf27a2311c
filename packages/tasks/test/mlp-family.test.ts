import { Adam } from '@opt/core';
import { InvalidOptionError, Rng } from '@opt/tensor';
import { type Batch, type Dataset, MLPClassificationFamily, checkGradient, createDataset } from '../src/index';

/** Four Gaussian blobs in 3-D (a 4-class problem), 50 points per class. */
function blobs(seed: number, n = 200): Dataset {
  const rng = new Rng(seed);
  const centers = [
    [2, 0, 0],
    [0, 2, 0],
    [0, 0, 2],
    [-2, -2, -2],
  ];
  const features: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % 4;
    labels.push(c);
    for (const m of centers[c]!) features.push(10 + 3 * (m + rng.normal(0, 0.7)));
  }
  return createDataset({ name: 'blobs', d: 3, features, labels });
}

describe('MLPClassificationFamily', () => {
  const data = blobs(1);
  const family = new MLPClassificationFamily(data, { widths: [8, 16], depths: [0, 1, 2], activations: ['relu', 'tanh', 'gelu'], batchSizes: [16, 32] });

  test('the same seed gives the same task: architecture, split, batch size and initial parameters', () => {
    const a = family.sample(5);
    const b = family.sample(5);
    expect(a.name).toBe(b.name);
    expect(a.architecture).toEqual(b.architecture);
    expect(Array.from(a.train.x)).toEqual(Array.from(b.train.x));
    expect(Array.from(a.test.y)).toEqual(Array.from(b.test.y));
    a.objective.parameters.forEach((p, k) => expect(Array.from(p.data)).toEqual(Array.from(b.objective.parameters[k]!.data)));
  });

  test('seeds spread over every choice of depth, width, activation and batch size', () => {
    const seen = { depth: new Set<number>(), width: new Set<number>(), activation: new Set<string>(), batchSize: new Set<number>() };
    for (let seed = 0; seed < 40; seed++) {
      const arch = family.sample(seed).architecture;
      seen.depth.add(arch.depth);
      seen.width.add(arch.width);
      seen.activation.add(arch.activation);
      seen.batchSize.add(arch.batchSize);
    }
    expect([...seen.depth].sort()).toEqual([0, 1, 2]);
    expect([...seen.width].sort((x, y) => x - y)).toEqual([8, 16]);
    expect([...seen.activation].sort()).toEqual(['gelu', 'relu', 'tanh']);
    expect([...seen.batchSize].sort((x, y) => x - y)).toEqual([16, 32]);
  });

  test('the model maps d features to numClasses logits through depth hidden layers of the drawn width', () => {
    const task = family.sample(3);
    const { sizes, depth, width } = task.architecture;
    expect(sizes).toEqual([3, ...Array(depth).fill(width), 4]);
    let count = 0;
    for (let l = 0; l + 1 < sizes.length; l++) count += sizes[l]! * sizes[l + 1]! + sizes[l + 1]!;
    expect(task.params.count).toBe(count);
    expect(task.name).toBe(`mlp-classification/blobs/${sizes.join('-')}-${task.architecture.activation}/bs${task.batchSize}/seed3`);
  });

  test('a stratified 80/20 split, standardized with the training statistics', () => {
    const task = family.sample(2);
    expect(task.train.size).toBe(160);
    expect(task.test.size).toBe(40);
    for (let j = 0; j < 3; j++) {
      let mean = 0;
      for (let i = 0; i < task.train.size; i++) mean += task.train.x[i * 3 + j]! / task.train.size;
      expect(Math.abs(mean)).toBeLessThan(1e-12);
    }
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < task.test.size; i++) counts[task.test.y[i]!]!++;
    expect(counts).toEqual([10, 10, 10, 10]);
  });

  test('batches(batchSize, seed) is one shuffled epoch visiting every training example once', () => {
    const task = family.sample(4);
    const seen: number[] = [];
    const sizes: number[] = [];
    for (const batch of task.batches(48, 1)) {
      sizes.push(batch.size);
      for (let i = 0; i < batch.size; i++) seen.push(batch.x[i * 3]!);
    }
    expect(sizes).toEqual([48, 48, 48, 16]);
    const all = Array.from({ length: task.train.size }, (_, i) => task.train.x[i * 3]!);
    expect(seen.slice().sort((x, y) => x - y)).toEqual(all.sort((x, y) => x - y));
    const again: number[] = [];
    for (const batch of task.batches(48, 1)) for (let i = 0; i < batch.size; i++) again.push(batch.x[i * 3]!);
    expect(again).toEqual(seen);
  });

  test('stream(seed) yields full batches of the drawn size across epochs', () => {
    const task = family.sample(6);
    const it = task.stream(3);
    const perEpoch = Math.floor(task.train.size / task.batchSize);
    for (let k = 0; k < 3 * perEpoch + 1; k++) {
      const next = it.next();
      expect(next.done).toBe(false);
      expect((next.value as Batch).size).toBe(task.batchSize);
    }
  });

  test('training the sampled task with Adam reaches high test accuracy, and reset restores the start', () => {
    const task = family.sample(11);
    const start = task.evaluate();
    expect(start.trainAccuracy).toBeDefined();
    const initial = task.objective.parameters.map((p) => Array.from(p.data));
    const opt = new Adam(task.objective.parameters, { lr: 1e-2 });
    for (let epoch = 0; epoch < 15; epoch++) {
      for (const batch of task.batches(task.batchSize, epoch)) opt.step(() => task.objective.lossAndGrad(batch));
    }
    const end = task.evaluate();
    expect(end.trainLoss).toBeLessThan(start.trainLoss);
    expect(end.testLoss).toBeLessThan(start.testLoss);
    expect(end.testAccuracy).toBeGreaterThan(0.9);
    task.reset();
    task.objective.parameters.forEach((p, k) => expect(Array.from(p.data)).toEqual(initial[k]));
  });

  test("the task objective's gradient matches finite differences", () => {
    const task = new MLPClassificationFamily(data, { widths: [5], depths: [1], activations: ['tanh'], batchSizes: [8] }).sample(1);
    expect(checkGradient(task.objective, { batch: task.test })).toBeLessThan(1e-7);
  });

  test('splitSeed shares one split across tasks; float32 tasks give float32 batches', () => {
    const shared = new MLPClassificationFamily(data, { splitSeed: 9, dtype: 'float32', widths: [4], depths: [1], batchSizes: [10] });
    const a = shared.sample(1);
    const b = shared.sample(2);
    expect(Array.from(a.test.x)).toEqual(Array.from(b.test.x));
    expect(a.train.x).toBeInstanceOf(Float32Array);
    expect(a.batches(10, 0).next().value!.x).toBeInstanceOf(Float32Array);
    expect(a.objective.parameters[0]!.data).toBeInstanceOf(Float32Array);
  });

  test('invalid choices are rejected with the option named', () => {
    expect(() => new MLPClassificationFamily(data, { widths: [] })).toThrow(InvalidOptionError);
    expect(() => new MLPClassificationFamily(data, { depths: [-1] })).toThrow(/depths\[0\]/);
    expect(() => new MLPClassificationFamily(data, { activations: ['elu' as never] })).toThrow(/activations\[0\]/);
    expect(() => new MLPClassificationFamily(data, { testFraction: 1 })).toThrow(/testFraction/);
  });
});
