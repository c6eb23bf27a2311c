import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidOptionError } from '@opt/tensor';
import { FASHION_MNIST_CLASSES, parseDigitsCsv, parseIdx, parseSklearnCsv, type Dataset } from '../data/dataset.js';
import { defaultDataDir } from './data-dir.js';

/** Where to read a data file from. */
export interface LoadOptions {
  /** Folder holding the data files; default {@link dataDir} (the package's own `data/`). */
  dir?: string;
}

/** Options of {@link loadFashionMnist}. */
export interface FashionMnistOptions extends LoadOptions {
  /** `'train'`: 4000 images (400 per class); `'test'`: 1000 images (100 per class). Default `'train'`. */
  split?: 'train' | 'test';
}

/** The folder of the data files shipped with `@opt/tasks` (its `data/`, beside `dist/`), with a trailing separator. */
export function dataDir(): string {
  return defaultDataDir();
}

function readText(file: string, options?: LoadOptions): string {
  return readFileSync(join(options?.dir ?? dataDir(), file), 'utf8');
}

/**
 * The 1797 8×8 handwritten digits (UCI, as bundled by scikit-learn): 64 integer features 0–16 (pixel intensities,
 * row-major), 10 classes `"0"`–`"9"`, about 180 examples each.
 *
 * @example
 * ```ts
 * import { loadDigits } from '@opt/tasks/node';
 * const digits = loadDigits();
 * console.log(digits.n, digits.d, digits.numClasses); // 1797 64 10
 * ```
 */
export function loadDigits(options?: LoadOptions): Dataset {
  return parseDigitsCsv(readText('digits.csv', options), 'digits');
}

/** Fisher's iris: 150 examples, 4 features (sepal and petal length and width, cm), 3 classes of 50. */
export function loadIris(options?: LoadOptions): Dataset {
  return parseSklearnCsv(readText('iris.csv', options), 'iris');
}

/** UCI wine recognition: 178 examples, 13 chemical features on very different scales, 3 classes (59/71/48). */
export function loadWine(options?: LoadOptions): Dataset {
  return parseSklearnCsv(readText('wine.csv', options), 'wine');
}

/**
 * A class-balanced subset of Fashion-MNIST (the first 400 training / 100 test images of each class, in file order):
 * 784 features (28×28 pixels, 0–255), 10 classes named in {@link FASHION_MNIST_CLASSES}.
 *
 * @throws InvalidOptionError on a `split` other than `'train'` or `'test'`.
 */
export function loadFashionMnist(options: FashionMnistOptions = {}): Dataset {
  const split = options.split ?? 'train';
  if (split !== 'train' && split !== 'test') {
    throw new InvalidOptionError('split', split, "'train' or 'test'", 'loadFashionMnist');
  }
  const dir = options.dir ?? dataDir();
  const images = readFileSync(join(dir, `fashion-mnist-${split}-images.idx3-ubyte`));
  const labels = readFileSync(join(dir, `fashion-mnist-${split}-labels.idx1-ubyte`));
  return parseIdx(images, labels, `fashion-mnist/${split}`, FASHION_MNIST_CLASSES);
}
