import { InvalidOptionError, OptError, ShapeMismatchError, type DType } from '@opt/tensor';
import type { Batch } from '../objective.js';

/**
 * A labelled classification data set held in memory: `n` examples of `d` float64 features each, stored row-major,
 * and one class index per example.
 *
 * The features are float64 whatever dtype a model trains in: {@link batchOf} converts rows into the model's dtype
 * when it gathers a mini-batch, so one data set serves float32 and float64 models alike.
 */
export interface Dataset {
  /** A short name, e.g. `"digits"` or `"digits/train"`. */
  readonly name: string;
  /** Row-major `[n, d]` feature matrix: feature `j` of example `i` is `features[i * d + j]`. */
  readonly features: Float64Array;
  /** Class index of each example, in `[0, numClasses)`. */
  readonly labels: Int32Array;
  /** Number of examples. */
  readonly n: number;
  /** Number of features per example. */
  readonly d: number;
  /** Number of classes (labels lie in `[0, numClasses)`). */
  readonly numClasses: number;
  /** Human-readable name of each class, `classNames.length === numClasses`. */
  readonly classNames: readonly string[];
}

/**
 * Input that cannot be parsed as the expected data format: a wrong magic number, a row with the wrong number of
 * columns, a non-numeric cell, a label outside the class range. The message says where (source name, line or byte
 * offset) and what was expected.
 */
export class DataFormatError extends OptError {
  /** The data source being parsed, e.g. `"digits.csv"` or `"fashion-mnist images"`. */
  readonly source: string;

  constructor(source: string, message: string) {
    super('DATA_FORMAT', `${source}: ${message}`);
    this.source = source;
  }
}

/** Everything {@link createDataset} needs; `numClasses` and `classNames` default from the labels. */
export interface DatasetInit {
  /** Name of the data set. */
  name: string;
  /** Row-major `[n, d]` features (copied into a Float64Array when given as another array type). */
  features: ArrayLike<number>;
  /** One class index per row (non-negative integers). */
  labels: ArrayLike<number>;
  /** Number of features per row. */
  d: number;
  /** Number of classes; default `max(label) + 1`, or `classNames.length` when class names are given. */
  numClasses?: number;
  /** Class names; default `"0"`, `"1"`, …. */
  classNames?: readonly string[];
}

/**
 * Build a {@link Dataset} from plain arrays, checking that the shapes agree and that every label is an integer in
 * `[0, numClasses)` and every feature is finite.
 *
 * @throws ShapeMismatchError when `features.length` is not `labels.length · d`.
 * @throws DataFormatError on a non-integer or out-of-range label or a non-finite feature.
 * @throws InvalidOptionError on a `d` that is not a positive integer or class names that disagree with `numClasses`.
 *
 * @example
 * ```ts
 * const xor = createDataset({ name: 'xor', d: 2, features: [0, 0, 0, 1, 1, 0, 1, 1], labels: [0, 1, 1, 0] });
 * console.log(xor.n, xor.numClasses, xor.classNames); // 4 2 ['0', '1']
 * ```
 */
export function createDataset(init: DatasetInit): Dataset {
  const { name, d } = init;
  if (!Number.isInteger(d) || d < 1) throw new InvalidOptionError('d', d, 'a positive integer', `createDataset(${name})`);
  const n = init.labels.length;
  if (init.features.length !== n * d) {
    throw new ShapeMismatchError(
      `createDataset(${name}): features has ${init.features.length} values, expected labels.length * d = ${n} * ${d} = ${n * d}`,
    );
  }
  const features = init.features instanceof Float64Array ? init.features : Float64Array.from(init.features);
  const labels = init.labels instanceof Int32Array ? init.labels : new Int32Array(n);
  let maxLabel = -1;
  for (let i = 0; i < n; i++) {
    const y = init.labels[i]!;
    if (!Number.isInteger(y) || y < 0 || y > 0x7fffffff) {
      throw new DataFormatError(name, `label of row ${i} is ${y}, expected a non-negative integer`);
    }
    labels[i] = y;
    if (y > maxLabel) maxLabel = y;
  }
  for (let k = 0; k < features.length; k++) {
    if (!Number.isFinite(features[k]!)) {
      throw new DataFormatError(name, `feature ${k % d} of row ${Math.floor(k / d)} is ${features[k]}, expected a finite number`);
    }
  }
  const numClasses = init.numClasses ?? init.classNames?.length ?? maxLabel + 1;
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new InvalidOptionError('numClasses', numClasses, 'a positive integer', `createDataset(${name})`);
  }
  if (maxLabel >= numClasses) {
    throw new DataFormatError(name, `label ${maxLabel} is out of range for ${numClasses} classes`);
  }
  const classNames = init.classNames ?? Array.from({ length: numClasses }, (_, c) => String(c));
  if (classNames.length !== numClasses) {
    throw new InvalidOptionError('classNames', classNames, `${numClasses} names (one per class)`, `createDataset(${name})`);
  }
  return Object.freeze({ name, features, labels, n, d, numClasses, classNames: Object.freeze([...classNames]) });
}

/**
 * Gather the rows `indices` of `ds` into a mini-batch: `x` is row-major `[indices.length, d]` in `dtype`, `y` the
 * rows' class indices (Int32Array), `size = indices.length`.
 *
 * When `out` is given its buffers are reused if they already have the right length and dtype (so a training loop
 * that gathers equally sized batches allocates nothing after the first), otherwise fresh buffers are attached to it;
 * either way `out` itself is returned. float32 batches round the float64 features on store.
 *
 * @param ds - the data set.
 * @param indices - row indices into `ds`, each an integer in `[0, n)`.
 * @param dtype - dtype of `x` (match the model's parameters).
 * @param out - a batch whose buffers to fill (e.g. the previous batch).
 * @throws InvalidOptionError on an index outside `[0, n)`.
 */
export function batchOf(ds: Dataset, indices: ArrayLike<number>, dtype: DType, out?: Batch): Batch {
  const size = indices.length;
  const d = ds.d;
  const batch: Batch = out ?? { x: dtype === 'float64' ? new Float64Array(0) : new Float32Array(0), y: new Int32Array(0), size: 0 };
  const wantF64 = dtype === 'float64';
  if (batch.x.length !== size * d || batch.x instanceof Float64Array !== wantF64) {
    batch.x = wantF64 ? new Float64Array(size * d) : new Float32Array(size * d);
  }
  if (!(batch.y instanceof Int32Array) || batch.y.length !== size) batch.y = new Int32Array(size);
  const x = batch.x;
  const y = batch.y;
  const features = ds.features;
  const n = ds.n;
  for (let r = 0; r < size; r++) {
    const i = indices[r]!;
    if (!(i >= 0 && i < n) || !Number.isInteger(i)) {
      throw new InvalidOptionError(`indices[${r}]`, i, `an integer in [0, ${n})`, `batchOf(${ds.name})`);
    }
    x.set(features.subarray(i * d, i * d + d), r * d);
    y[r] = ds.labels[i]!;
  }
  batch.size = size;
  return batch;
}

/** Number of examples of each class: `counts[c]` = how many labels equal `c`. */
export function classCounts(ds: Dataset): Int32Array {
  const counts = new Int32Array(ds.numClasses);
  for (let i = 0; i < ds.n; i++) counts[ds.labels[i]!]!++;
  return counts;
}

/** Smallest and largest value of each feature column, as `{ min, max }` arrays of length `d`. */
export function featureRange(ds: Dataset): { min: Float64Array; max: Float64Array } {
  const min = new Float64Array(ds.d).fill(Infinity);
  const max = new Float64Array(ds.d).fill(-Infinity);
  for (let i = 0; i < ds.n; i++) {
    const row = i * ds.d;
    for (let j = 0; j < ds.d; j++) {
      const v = ds.features[row + j]!;
      if (v < min[j]!) min[j] = v;
      if (v > max[j]!) max[j] = v;
    }
  }
  return { min, max };
}

/** The ten Fashion-MNIST class names, in label order. */
export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
]);

/** The ten digit class names `"0"` … `"9"`. */
export const DIGIT_CLASSES: readonly string[] = Object.freeze(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);

/** Split CSV text into non-empty lines (tolerating `\r\n` and a trailing newline), keeping 1-based line numbers. */
function csvLines(text: string): Array<{ line: number; cells: string[] }> {
  const rows: Array<{ line: number; cells: string[] }> = [];
  const lines = text.split(/\r?\n/);
  for (let k = 0; k < lines.length; k++) {
    const raw = lines[k]!.trim();
    if (raw === '') continue;
    rows.push({ line: k + 1, cells: raw.split(',').map((c) => c.trim()) });
  }
  return rows;
}

/** A numeric CSV cell; `Number('')` is 0, so empty cells are rejected explicitly. */
function numberCell(source: string, cell: string, line: number, column: number): number {
  const v = cell === '' ? NaN : Number(cell);
  if (!Number.isFinite(v)) {
    throw new DataFormatError(source, `line ${line}, column ${column + 1}: ${JSON.stringify(cell)} is not a finite number`);
  }
  return v;
}

function labelCell(source: string, cell: string, line: number, column: number, numClasses: number): number {
  const v = numberCell(source, cell, line, column);
  if (!Number.isInteger(v) || v < 0 || v >= numClasses) {
    throw new DataFormatError(source, `line ${line}: label ${cell} is not an integer in [0, ${numClasses})`);
  }
  return v;
}

/**
 * Parse the scikit-learn / UCI 8×8 digits CSV: one example per line, 65 comma-separated integers, the 64 pixel
 * intensities (0–16, row-major over the 8×8 image) then the digit label 0–9. No header line.
 *
 * @param text - the whole file as text (works in browsers: no file access here).
 * @param name - the data set's name, default `"digits"`.
 * @throws DataFormatError on a row without 65 columns, a non-numeric cell or a label outside 0–9.
 */
export function parseDigitsCsv(text: string, name = 'digits'): Dataset {
  const rows = csvLines(text);
  if (rows.length === 0) throw new DataFormatError(name, 'no data rows');
  const d = 64;
  const features = new Float64Array(rows.length * d);
  const labels = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const { line, cells } = rows[i]!;
    if (cells.length !== d + 1) {
      throw new DataFormatError(name, `line ${line} has ${cells.length} columns, expected ${d + 1} (64 pixels then the label)`);
    }
    for (let j = 0; j < d; j++) features[i * d + j] = numberCell(name, cells[j]!, line, j);
    labels[i] = labelCell(name, cells[d]!, line, d, 10);
  }
  return createDataset({ name, features, labels, d, classNames: DIGIT_CLASSES });
}

/**
 * Parse a scikit-learn bundled CSV (`iris.csv`, `wine_data.csv`): the first line is `n, d, className0, className1,
 * …`, then `n` lines of `d` numeric features followed by the integer class index.
 *
 * @param text - the whole file as text.
 * @param name - the data set's name, e.g. `"iris"`.
 * @throws DataFormatError on a malformed header, a row count different from `n`, a row without `d + 1` columns, a
 *   non-numeric cell or a label outside the named classes.
 */
export function parseSklearnCsv(text: string, name: string): Dataset {
  const rows = csvLines(text);
  if (rows.length === 0) throw new DataFormatError(name, 'empty file: expected a header line "n, d, class names..."');
  const header = rows[0]!;
  const n = Number(header.cells[0]);
  const d = Number(header.cells[1]);
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(d) || d < 1 || header.cells.length < 3) {
    throw new DataFormatError(
      name,
      `line ${header.line}: header ${JSON.stringify(header.cells.join(','))} is not "n, d, class names..." with positive integers n and d`,
    );
  }
  const classNames = header.cells.slice(2);
  const body = rows.slice(1);
  if (body.length !== n) throw new DataFormatError(name, `the header announces ${n} rows, found ${body.length}`);
  const features = new Float64Array(n * d);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const { line, cells } = body[i]!;
    if (cells.length !== d + 1) {
      throw new DataFormatError(name, `line ${line} has ${cells.length} columns, expected ${d + 1} (${d} features then the label)`);
    }
    for (let j = 0; j < d; j++) features[i * d + j] = numberCell(name, cells[j]!, line, j);
    labels[i] = labelCell(name, cells[d]!, line, d, classNames.length);
  }
  return createDataset({ name, features, labels, d, classNames });
}

/** IDX magic numbers: 0x08 = unsigned byte elements, then the number of dimensions. */
const IDX_UBYTE_3D = 0x00000803;
const IDX_UBYTE_1D = 0x00000801;

/**
 * Parse an image/label pair in the IDX format of MNIST and Fashion-MNIST. The image file is a big-endian header
 * `0x00000803, count, rows, cols` followed by `count·rows·cols` unsigned bytes; the label file is
 * `0x00000801, count` followed by `count` bytes. Each image becomes one row of `rows·cols` features holding the raw
 * pixel values 0–255 (use {@link scaleFeatures} to bring them to [0, 1]).
 *
 * @param imagesBytes - the whole (uncompressed) `*-images-idx3-ubyte` file.
 * @param labelsBytes - the whole `*-labels-idx1-ubyte` file.
 * @param name - the data set's name, e.g. `"fashion-mnist/train"`.
 * @param classNames - one name per class, e.g. {@link FASHION_MNIST_CLASSES}.
 * @throws DataFormatError on a wrong magic number, a truncated file, differing counts or a label outside the classes.
 */
export function parseIdx(imagesBytes: Uint8Array, labelsBytes: Uint8Array, name: string, classNames: readonly string[]): Dataset {
  if (imagesBytes.length < 16) throw new DataFormatError(`${name} images`, `${imagesBytes.length} bytes is shorter than the 16-byte IDX3 header`);
  if (labelsBytes.length < 8) throw new DataFormatError(`${name} labels`, `${labelsBytes.length} bytes is shorter than the 8-byte IDX1 header`);
  const iv = new DataView(imagesBytes.buffer, imagesBytes.byteOffset, imagesBytes.byteLength);
  const lv = new DataView(labelsBytes.buffer, labelsBytes.byteOffset, labelsBytes.byteLength);
  const imageMagic = iv.getUint32(0, false);
  if (imageMagic !== IDX_UBYTE_3D) {
    throw new DataFormatError(`${name} images`, `magic number 0x${hex8(imageMagic)}, expected 0x${hex8(IDX_UBYTE_3D)} (3-D unsigned bytes)`);
  }
  const labelMagic = lv.getUint32(0, false);
  if (labelMagic !== IDX_UBYTE_1D) {
    throw new DataFormatError(`${name} labels`, `magic number 0x${hex8(labelMagic)}, expected 0x${hex8(IDX_UBYTE_1D)} (1-D unsigned bytes)`);
  }
  const n = iv.getUint32(4, false);
  const rows = iv.getUint32(8, false);
  const cols = iv.getUint32(12, false);
  const d = rows * cols;
  if (d === 0) throw new DataFormatError(`${name} images`, `image size ${rows}x${cols} has no pixels`);
  if (imagesBytes.length !== 16 + n * d) {
    throw new DataFormatError(`${name} images`, `${imagesBytes.length} bytes, expected 16 + ${n}·${rows}·${cols} = ${16 + n * d}`);
  }
  const nLabels = lv.getUint32(4, false);
  if (nLabels !== n) throw new DataFormatError(`${name} labels`, `${nLabels} labels for ${n} images`);
  if (labelsBytes.length !== 8 + n) throw new DataFormatError(`${name} labels`, `${labelsBytes.length} bytes, expected 8 + ${n} = ${8 + n}`);
  const features = new Float64Array(n * d);
  for (let k = 0; k < n * d; k++) features[k] = imagesBytes[16 + k]!;
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const y = labelsBytes[8 + i]!;
    if (y >= classNames.length) {
      throw new DataFormatError(`${name} labels`, `label ${y} of image ${i} is outside the ${classNames.length} classes`);
    }
    labels[i] = y;
  }
  return createDataset({ name, features, labels, d, classNames });
}

function hex8(v: number): string {
  return v.toString(16).padStart(8, '0');
}
