import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidOptionError, ShapeMismatchError } from '@opt/tensor';
import {
  BatchIterator,
  DataFormatError,
  FASHION_MNIST_CLASSES,
  batchOf,
  batches,
  classCounts,
  createDataset,
  featureRange,
  parseDigitsCsv,
  parseIdx,
  parseSklearnCsv,
  scaleFeatures,
  standardize,
  subset,
  trainTestSplit,
  type Dataset,
} from '../src/index';
import { dataDir, loadDigits, loadFashionMnist, loadIris, loadWine } from '../src/node/index';

const digits = loadDigits();
const iris = loadIris();
const wine = loadWine();
const fashionTrain = loadFashionMnist({ split: 'train' });
const fashionTest = loadFashionMnist({ split: 'test' });

function minMax(a: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < a.length; i++) {
    lo = Math.min(lo, a[i]!);
    hi = Math.max(hi, a[i]!);
  }
  return [lo, hi];
}

describe('loading the shipped data files', () => {
  test('digits: 1797 rows of 64 integer pixels in [0, 16] and the known class counts', () => {
    expect([digits.n, digits.d, digits.numClasses]).toEqual([1797, 64, 10]);
    expect(digits.features.length).toBe(1797 * 64);
    expect(minMax(digits.features)).toEqual([0, 16]);
    expect(digits.features.every((v) => Number.isInteger(v))).toBe(true);
    expect(Array.from(classCounts(digits))).toEqual([178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
    expect(digits.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    // First row of the file: 0,0,5,13,9,1,0,0,... label 0.
    expect(Array.from(digits.features.subarray(0, 6))).toEqual([0, 0, 5, 13, 9, 1]);
    expect(digits.labels[0]).toBe(0);
  });

  test('iris: 150 rows, 4 features in centimetres, 50 per class with the species names', () => {
    expect([iris.n, iris.d, iris.numClasses]).toEqual([150, 4, 3]);
    expect(iris.classNames).toEqual(['setosa', 'versicolor', 'virginica']);
    expect(Array.from(classCounts(iris))).toEqual([50, 50, 50]);
    const { min, max } = featureRange(iris);
    expect(Array.from(min)).toEqual([4.3, 2.0, 1.0, 0.1]);
    expect(Array.from(max)).toEqual([7.9, 4.4, 6.9, 2.5]);
    expect(Array.from(iris.features.subarray(0, 4))).toEqual([5.1, 3.5, 1.4, 0.2]);
  });

  test('wine: 178 rows, 13 features on very different scales, classes 59/71/48', () => {
    expect([wine.n, wine.d, wine.numClasses]).toEqual([178, 13, 3]);
    expect(Array.from(classCounts(wine))).toEqual([59, 71, 48]);
    const { min, max } = featureRange(wine);
    expect(min[0]).toBeCloseTo(11.03, 10); // alcohol
    expect(max[0]).toBeCloseTo(14.83, 10);
    expect(min[12]).toBe(278); // proline
    expect(max[12]).toBe(1680);
  });

  test('Fashion-MNIST subsets: 4000/1000 images of 784 pixels in [0, 255], 400/100 per class', () => {
    expect([fashionTrain.n, fashionTrain.d, fashionTrain.numClasses]).toEqual([4000, 784, 10]);
    expect([fashionTest.n, fashionTest.d]).toEqual([1000, 784]);
    expect(Array.from(classCounts(fashionTrain))).toEqual(new Array(10).fill(400));
    expect(Array.from(classCounts(fashionTest))).toEqual(new Array(10).fill(100));
    expect(minMax(fashionTrain.features)).toEqual([0, 255]);
    expect(minMax(fashionTest.features)).toEqual([0, 255]);
    expect(fashionTrain.classNames).toEqual(FASHION_MNIST_CLASSES);
    expect(fashionTrain.classNames[9]).toBe('Ankle boot');
    // The original training set starts with an ankle boot (label 9), then a T-shirt (label 0).
    expect(fashionTrain.labels[0]).toBe(9);
    expect(fashionTrain.labels[1]).toBe(0);
  });

  test('dataDir points at the folder holding the shipped files', () => {
    expect(readFileSync(join(dataDir(), 'LICENSES.md'), 'utf8')).toContain('Fashion-MNIST');
  });

  test('loadFashionMnist rejects an unknown split', () => {
    expect(() => loadFashionMnist({ split: 'validation' as 'train' })).toThrow(InvalidOptionError);
  });
});

describe('malformed input raises DataFormatError', () => {
  const row = (label: string | number, width = 64) => [...new Array(width).fill(1), label].join(',');

  test('a digits row with the wrong number of columns names the line', () => {
    const text = `${row(3)}\n${row(3, 63)}\n`;
    expect(() => parseDigitsCsv(text)).toThrow(DataFormatError);
    expect(() => parseDigitsCsv(text)).toThrow(/line 2 has 64 columns, expected 65/);
  });

  test('a non-numeric or empty cell is rejected, not read as NaN or 0', () => {
    expect(() => parseDigitsCsv(row('x'))).toThrow(/"x" is not a finite number/);
    expect(() => parseDigitsCsv(row(''))).toThrow(DataFormatError);
  });

  test('a digit label outside 0-9 or not an integer is rejected', () => {
    expect(() => parseDigitsCsv(row(10))).toThrow(/label 10 is not an integer in \[0, 10\)/);
    expect(() => parseDigitsCsv(row(2.5))).toThrow(DataFormatError);
  });

  test('an empty digits file is rejected', () => {
    expect(() => parseDigitsCsv('\n\n')).toThrow(/no data rows/);
  });

  test('scikit-learn CSV: bad header, wrong row count, label outside the named classes', () => {
    expect(() => parseSklearnCsv('abc,2,a,b\n1,2,0\n', 'toy')).toThrow(/header/);
    expect(() => parseSklearnCsv('2,2,a,b\n1,2,0\n', 'toy')).toThrow(/announces 2 rows, found 1/);
    expect(() => parseSklearnCsv('1,2,a,b\n1,2,2\n', 'toy')).toThrow(/label 2 is not an integer in \[0, 2\)/);
    expect(() => parseSklearnCsv('1,2,a,b\n1,0\n', 'toy')).toThrow(/2 columns, expected 3/);
    expect(() => parseSklearnCsv('', 'toy')).toThrow(DataFormatError);
  });

  test('scikit-learn CSV tolerates CRLF line endings and a missing final newline', () => {
    const ds = parseSklearnCsv('2,2,a,b\r\n1,2,0\r\n3,4,1', 'toy');
    expect(Array.from(ds.features)).toEqual([1, 2, 3, 4]);
    expect(Array.from(ds.labels)).toEqual([0, 1]);
  });

  function idx(magic: number, dims: number[], body: number[]): Uint8Array {
    const bytes = new Uint8Array(4 + 4 * dims.length + body.length);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, magic, false);
    dims.forEach((v, i) => view.setUint32(4 + 4 * i, v, false));
    bytes.set(body, 4 + 4 * dims.length);
    return bytes;
  }

  test('IDX: a well-formed pair parses big-endian headers and raw pixels', () => {
    const ds = parseIdx(idx(0x803, [2, 1, 2], [0, 255, 7, 9]), idx(0x801, [2], [1, 0]), 'tiny', ['a', 'b']);
    expect([ds.n, ds.d]).toEqual([2, 2]);
    expect(Array.from(ds.features)).toEqual([0, 255, 7, 9]);
    expect(Array.from(ds.labels)).toEqual([1, 0]);
  });

  test('IDX: wrong magic numbers, truncation, count mismatch and bad labels are rejected', () => {
    const labels = idx(0x801, [2], [1, 0]);
    const images = idx(0x803, [2, 1, 2], [0, 255, 7, 9]);
    expect(() => parseIdx(idx(0x801, [2, 1, 2], [0, 1, 2, 3]), labels, 't', ['a', 'b'])).toThrow(/magic number 0x00000801/);
    expect(() => parseIdx(images, idx(0x803, [2], [1, 0]), 't', ['a', 'b'])).toThrow(/magic number/);
    expect(() => parseIdx(images.subarray(0, 19), labels, 't', ['a', 'b'])).toThrow(/bytes, expected 16 \+ 2/);
    expect(() => parseIdx(images.subarray(0, 10), labels, 't', ['a', 'b'])).toThrow(/16-byte IDX3 header/);
    expect(() => parseIdx(images, idx(0x801, [3], [1, 0, 1]), 't', ['a', 'b'])).toThrow(/3 labels for 2 images/);
    expect(() => parseIdx(images, idx(0x801, [2], [1, 5]), 't', ['a', 'b'])).toThrow(/label 5 of image 1/);
  });

  test('the Fashion-MNIST files fail cleanly when swapped', () => {
    const dir = dataDir();
    const images = readFileSync(join(dir, 'fashion-mnist-test-images.idx3-ubyte'));
    const labels = readFileSync(join(dir, 'fashion-mnist-test-labels.idx1-ubyte'));
    expect(() => parseIdx(labels, images, 'swapped', FASHION_MNIST_CLASSES)).toThrow(DataFormatError);
  });

  test('createDataset checks shapes and labels', () => {
    expect(() => createDataset({ name: 'x', d: 2, features: [1, 2, 3], labels: [0, 1] })).toThrow(ShapeMismatchError);
    expect(() => createDataset({ name: 'x', d: 1, features: [1, 2], labels: [0, -1] })).toThrow(DataFormatError);
    expect(() => createDataset({ name: 'x', d: 1, features: [1, NaN], labels: [0, 1] })).toThrow(/feature 0 of row 1/);
    expect(() => createDataset({ name: 'x', d: 1, features: [1, 2], labels: [0, 2], numClasses: 2 })).toThrow(/out of range/);
    expect(() => createDataset({ name: 'x', d: 1, features: [1], labels: [0], numClasses: 2, classNames: ['a'] })).toThrow(
      InvalidOptionError,
    );
  });
});

describe('batchOf', () => {
  test('gathers the requested rows in order, in the requested dtype', () => {
    const b = batchOf(iris, [149, 0], 'float64');
    expect(b.size).toBe(2);
    expect(b.x).toBeInstanceOf(Float64Array);
    expect(Array.from(b.x)).toEqual([...iris.features.subarray(149 * 4, 150 * 4), ...iris.features.subarray(0, 4)]);
    expect(Array.from(b.y)).toEqual([2, 0]);
    const f = batchOf(iris, [0], 'float32');
    expect(f.x).toBeInstanceOf(Float32Array);
    expect(f.x[0]).toBe(Math.fround(5.1));
  });

  test('reuses the buffers of out when the size and dtype fit, replaces them otherwise', () => {
    const out = batchOf(digits, [0, 1, 2], 'float32');
    const x = out.x;
    const y = out.y;
    expect(batchOf(digits, [5, 6, 7], 'float32', out)).toBe(out);
    expect(out.x).toBe(x);
    expect(out.y).toBe(y);
    expect(out.y[0]).toBe(digits.labels[5]);
    batchOf(digits, [5, 6], 'float32', out);
    expect(out.x).not.toBe(x);
    expect(out.size).toBe(2);
    expect(out.x.length).toBe(128);
    batchOf(digits, [5, 6], 'float64', out);
    expect(out.x).toBeInstanceOf(Float64Array);
  });

  test('rejects an index outside the data set', () => {
    expect(() => batchOf(iris, [150], 'float64')).toThrow(InvalidOptionError);
    expect(() => batchOf(iris, [0.5], 'float64')).toThrow(InvalidOptionError);
  });
});

describe('splitting and scaling', () => {
  test('trainTestSplit is deterministic for a seed and differs between seeds', () => {
    const a = trainTestSplit(digits, { testFraction: 0.25, seed: 3 });
    const b = trainTestSplit(digits, { testFraction: 0.25, seed: 3 });
    const c = trainTestSplit(digits, { testFraction: 0.25, seed: 4 });
    expect(Array.from(a.testIndices)).toEqual(Array.from(b.testIndices));
    expect(Array.from(a.testIndices)).not.toEqual(Array.from(c.testIndices));
    expect(Buffer.from(a.train.features.buffer).equals(Buffer.from(b.train.features.buffer))).toBe(true);
  });

  test('trainTestSplit partitions the rows: disjoint, complete, ascending, features and labels carried along', () => {
    const { train, test, trainIndices, testIndices } = trainTestSplit(wine, { testFraction: 0.3, seed: 1 });
    expect(train.n + test.n).toBe(wine.n);
    const all = [...trainIndices, ...testIndices].sort((p, q) => p - q);
    expect(all).toEqual(Array.from({ length: wine.n }, (_, i) => i));
    expect(Array.from(testIndices)).toEqual([...testIndices].sort((p, q) => p - q));
    const i = testIndices[4]!;
    expect(Array.from(test.features.subarray(4 * 13, 5 * 13))).toEqual(Array.from(wine.features.subarray(i * 13, i * 13 + 13)));
    expect(test.labels[4]).toBe(wine.labels[i]);
    expect(train.name).toBe('wine/train');
    expect(test.classNames).toEqual(wine.classNames);
  });

  test('stratified splits keep each class proportion up to rounding', () => {
    const { test } = trainTestSplit(digits, { testFraction: 0.2, seed: 0 });
    const full = classCounts(digits);
    const held = classCounts(test);
    for (let c = 0; c < 10; c++) expect(held[c]).toBe(Math.round(full[c]! * 0.2));
    const w = trainTestSplit(wine, { testFraction: 0.5, seed: 9 });
    expect(Array.from(classCounts(w.test))).toEqual([30, 36, 24]); // round(59/2), round(71/2), round(48/2)
  });

  test('unstratified splits take round(n * testFraction) rows', () => {
    const { test, train } = trainTestSplit(iris, { testFraction: 0.2, seed: 5, stratify: false });
    expect(test.n).toBe(30);
    expect(train.n).toBe(120);
  });

  test('trainTestSplit rejects fractions outside (0, 1) or leaving an empty part', () => {
    expect(() => trainTestSplit(iris, { testFraction: 0 })).toThrow(InvalidOptionError);
    expect(() => trainTestSplit(iris, { testFraction: 1 })).toThrow(InvalidOptionError);
    expect(() => trainTestSplit(iris, { testFraction: 0.001 })).toThrow(/both parts non-empty/);
  });

  test('standardize fits on train only: train columns get mean 0 and std 1, test uses the train statistics', () => {
    const { train, test } = trainTestSplit(wine, { testFraction: 0.25, seed: 2 });
    const before = train.features.slice();
    const s = standardize(train, test);
    for (let j = 0; j < wine.d; j++) {
      let m = 0;
      let v = 0;
      for (let i = 0; i < train.n; i++) m += s.train.features[i * wine.d + j]!;
      m /= train.n;
      for (let i = 0; i < train.n; i++) v += (s.train.features[i * wine.d + j]! - m) ** 2;
      expect(Math.abs(m)).toBeLessThan(1e-12);
      expect(Math.sqrt(v / train.n)).toBeCloseTo(1, 12);
    }
    const expected = (test.features[7 * wine.d + 12]! - s.mean[12]!) / s.std[12]!;
    expect(s.test!.features[7 * wine.d + 12]).toBe(expected);
    expect(s.train).not.toBe(train);
    expect(Array.from(train.features)).toEqual(Array.from(before)); // the inputs are not modified
  });

  test('standardize maps constant features (always-blank digit pixels) to 0, not NaN', () => {
    const s = standardize(digits);
    expect(s.std[0]).toBe(1); // pixel 0 is blank in every digit
    expect(s.mean[0]).toBe(0);
    expect(s.train.features.every((v) => Number.isFinite(v))).toBe(true);
    expect(s.test).toBeUndefined();
  });

  test('scaleFeatures multiplies every feature: pixels / 255 land in [0, 1]', () => {
    const scaled = scaleFeatures(fashionTest, 1 / 255);
    expect(minMax(scaled.features)).toEqual([0, 1]);
    expect(scaled.labels).toEqual(fashionTest.labels);
    expect(fashionTest.features[fashionTest.features.indexOf(255)]).toBe(255); // the input is not modified
    expect(() => scaleFeatures(iris, 0)).toThrow(InvalidOptionError);
  });

  test('subset copies the chosen rows in order, repeats allowed', () => {
    const s = subset(iris, [3, 3, 100]);
    expect(s.n).toBe(3);
    expect(Array.from(s.labels)).toEqual([0, 0, 2]);
    expect(Array.from(s.features.subarray(8, 12))).toEqual(Array.from(iris.features.subarray(400, 404)));
    expect(() => subset(iris, [-1])).toThrow(InvalidOptionError);
  });
});

describe('BatchIterator', () => {
  const toy: Dataset = createDataset({
    name: 'toy',
    d: 1,
    features: Array.from({ length: 10 }, (_, i) => i),
    labels: Array.from({ length: 10 }, (_, i) => i % 2),
  });

  function collect(it: BatchIterator): number[][][] {
    const epochs: number[][][] = [];
    for (const b of it) {
      (epochs[it.epoch] ??= []).push(Array.from(b.x));
    }
    return epochs;
  }

  test('every example appears exactly once per epoch, in a different order each epoch', () => {
    const epochs = collect(new BatchIterator(toy, { batchSize: 3, epochs: 3, seed: 11 }));
    expect(epochs).toHaveLength(3);
    for (const e of epochs) {
      expect(e.map((b) => b.length)).toEqual([3, 3, 3, 1]);
      expect(e.flat().sort((p, q) => p - q)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }
    expect(epochs[0]!.flat()).not.toEqual(epochs[1]!.flat());
  });

  test('covers a real data set: each digit row once per epoch, labels matching the rows', () => {
    const it = batches(digits, { batchSize: 100, epochs: 2, seed: 1, dtype: 'float64' });
    const seen = [new Int32Array(digits.n), new Int32Array(digits.n)];
    for (const b of it) {
      for (let r = 0; r < b.size; r++) {
        const i = it.indices[r]!;
        seen[it.epoch]![i]!++;
        expect(b.y[r]).toBe(digits.labels[i]);
        expect(b.x[r * 64 + 10]).toBe(digits.features[i * 64 + 10]);
      }
    }
    expect(seen.every((s) => s.every((v) => v === 1))).toBe(true);
    expect(it.step).toBe(2 * 18);
    expect(it.batchesPerEpoch).toBe(18);
  });

  test('the same seed reproduces the order, another seed changes it, reset replays it', () => {
    const a = collect(new BatchIterator(toy, { batchSize: 4, epochs: 2, seed: 5 }));
    const b = collect(new BatchIterator(toy, { batchSize: 4, epochs: 2, seed: 5 }));
    const c = collect(new BatchIterator(toy, { batchSize: 4, epochs: 2, seed: 6 }));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    const it = new BatchIterator(toy, { batchSize: 4, epochs: 2, seed: 5 });
    collect(it);
    it.reset();
    expect(collect(it)).toEqual(a);
  });

  test('without shuffling the order is the identity; dropLast skips the short batch', () => {
    const plain = collect(new BatchIterator(toy, { batchSize: 4, shuffle: false }));
    expect(plain).toEqual([[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]]);
    const dropped = new BatchIterator(toy, { batchSize: 4, epochs: 2, dropLast: true });
    expect(dropped.batchesPerEpoch).toBe(2);
    expect(collect(dropped).map((e) => e.length)).toEqual([2, 2]);
  });

  test('one Batch object per batch size is reused across steps', () => {
    const it = new BatchIterator(toy, { batchSize: 4, epochs: 2, seed: 1 });
    const objects = new Set<unknown>();
    const buffers = new Set<unknown>();
    for (const b of it) {
      objects.add(b);
      buffers.add(b.x);
    }
    expect(objects.size).toBe(2);
    expect(buffers.size).toBe(2);
  });

  test('float32 by default, batch size clamped to n, endless with epochs = Infinity', () => {
    const it = new BatchIterator(toy, { batchSize: 100, epochs: Infinity, seed: 2 });
    expect(it.batchSize).toBe(10);
    expect(it.totalSteps).toBe(Infinity);
    for (let k = 0; k < 25; k++) {
      const r = it.next();
      expect(r.done).toBe(false);
      expect(r.value!.x).toBeInstanceOf(Float32Array);
    }
    expect(it.epoch).toBe(24);
  });

  test('invalid options are rejected with the option named', () => {
    expect(() => new BatchIterator(toy, { batchSize: 0 })).toThrow(/invalid batchSize/);
    expect(() => new BatchIterator(toy, { batchSize: 2, epochs: -1 })).toThrow(/invalid epochs/);
    expect(() => new BatchIterator(toy, { batchSize: 2, dtype: 'int8' as 'float32' })).toThrow(/invalid dtype/);
  });
});
