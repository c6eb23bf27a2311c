/**
 * The digits scenario shared by Node (test/helpers/webgpu-digits-scenario.ts, the scripts) and headless Chromium
 * (test/helpers/browser-digits-page.ts): the same split, standardisation, subset, initialisation, batch order and
 * learning rate everywhere, so the accuracies and parameters of every run compare directly. Browser-safe: it takes
 * the loaded data set as an argument (only Node can read digits.csv) and imports no Node module; relative imports
 * carry `.js` because the page's static server resolves them to the transpiled `.ts` sources.
 */
import { Adam } from '@opt/core';
import {
  BatchIterator,
  ClassificationObjective,
  type Dataset,
  batchOf,
  createDataset,
  mlp,
  standardize,
  subset,
  trainTestSplit,
} from '@opt/tasks';
import type { DeviceKind } from '../../src/backends/errors.js';
import type { Backend } from '../../src/backends/runner.js';
import { DeviceOptimizer } from '../../src/device/device-optimizer.js';

/** Training settings (defaults: the full-length run). */
export interface DigitsSettings {
  /** Epochs (default 30). */
  epochs?: number;
  /** Use only the first `trainSubset` standardized training examples (all when absent). */
  trainSubset?: number;
  /** Mini-batch size (default 64). */
  batchSize?: number;
  /** Adam learning rate (default 1e-2). */
  lr?: number;
  /** Seed of the split, the initialisation and the batch order (default 0). */
  seed?: number;
}

/** A data set as plain JSON (what a page receives through `runModuleInPage`). */
export interface DatasetJson {
  name: string;
  d: number;
  numClasses: number;
  features: number[];
  labels: number[];
}

/** The prepared train/test pair as JSON. */
export interface DigitsDataJson {
  train: DatasetJson;
  test: DatasetJson;
}

/** One training run's outcome. */
export interface DigitsRun {
  /** `'@opt/core'` for the host run, else the device the DeviceOptimizer ran on. */
  device: string;
  trainExamples: number;
  testExamples: number;
  epochs: number;
  steps: number;
  accuracy: number;
  /** Final parameters, one plain array per tensor (JSON-safe). */
  params: number[][];
  seconds: number;
}

/** What trains the parameters: a step function and a clean-up. */
export interface DigitsStepper {
  device: string;
  step(): void | Promise<void>;
  release(): Promise<void>;
}

function resolved(settings: DigitsSettings): Required<Omit<DigitsSettings, 'trainSubset'>> & { trainSubset?: number } {
  return {
    epochs: settings.epochs ?? 30,
    batchSize: settings.batchSize ?? 64,
    lr: settings.lr ?? 1e-2,
    seed: settings.seed ?? 0,
    ...(settings.trainSubset === undefined ? {} : { trainSubset: settings.trainSubset }),
  };
}

/** Split (80/20, stratified), standardize on the training statistics, then keep the first `trainSubset` examples. */
export function prepareDigits(all: Dataset, settings: DigitsSettings = {}): { train: Dataset; test: Dataset } {
  const s = resolved(settings);
  const split = trainTestSplit(all, { testFraction: 0.2, seed: s.seed, stratify: true });
  const st = standardize(split.train, split.test);
  let train = st.train;
  if (s.trainSubset !== undefined && s.trainSubset < train.n) train = subset(train, Int32Array.from({ length: s.trainSubset }, (_, i) => i));
  return { train, test: st.test! };
}

/** JSON form of a data set (float64 features survive the round trip exactly). */
export function datasetToJson(ds: Dataset): DatasetJson {
  return { name: ds.name, d: ds.d, numClasses: ds.numClasses, features: Array.from(ds.features), labels: Array.from(ds.labels) };
}

/** The data set back from {@link datasetToJson}. */
export function datasetFromJson(json: DatasetJson): Dataset {
  return createDataset({ name: json.name, d: json.d, numClasses: json.numClasses, features: json.features, labels: json.labels });
}

/** A stepper running `@opt/core`'s Adam on the host. */
export function hostAdam(lr: number): (objective: ClassificationObjective) => Promise<DigitsStepper> {
  return (objective) => {
    const opt = new Adam(objective.parameters, { lr });
    return Promise.resolve({ device: '@opt/core', step: () => void opt.step(), release: () => Promise.resolve() });
  };
}

/**
 * A stepper running Adam's float32 step graph through `DeviceOptimizer` on `device`, parameters synced to the host
 * after every step (the forward/backward pass runs in JavaScript).
 */
export function deviceAdam(lr: number, backend: Backend, device: DeviceKind): (objective: ClassificationObjective) => Promise<DigitsStepper> {
  return async (objective) => {
    const opt = await DeviceOptimizer.create(Adam, objective.parameters, { lr }, { backend, devices: [device], compute: 'float32', syncParams: true });
    return { device: opt.device, step: () => opt.step(), release: () => opt.release() };
  };
}

/** Train the digits MLP (d → 64 → classes, float32) with `makeStepper` and report the test accuracy and parameters. */
export async function trainDigits(
  train: Dataset,
  test: Dataset,
  settings: DigitsSettings,
  makeStepper: (objective: ClassificationObjective) => Promise<DigitsStepper>,
): Promise<DigitsRun> {
  const s = resolved(settings);
  const objective = new ClassificationObjective(mlp({ sizes: [train.d, 64, train.numClasses], seed: s.seed, dtype: 'float32' }), train, {
    dtype: 'float32',
  });
  const stepper = await makeStepper(objective);
  let steps = 0;
  const t0 = performance.now();
  for (let e = 0; e < s.epochs; e++) {
    for (const b of new BatchIterator(train, { batchSize: s.batchSize, seed: s.seed + e, dtype: 'float32' })) {
      objective.lossAndGrad(b);
      await stepper.step();
      steps++;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  await stepper.release();
  const testBatch = batchOf(test, Int32Array.from({ length: test.n }, (_, i) => i), 'float32');
  return {
    device: stepper.device,
    trainExamples: train.n,
    testExamples: test.n,
    epochs: s.epochs,
    steps,
    accuracy: objective.accuracy(testBatch),
    params: objective.parameters.map((p) => Array.from(p.data)),
    seconds,
  };
}

/** max |a − b| over every parameter of two runs. */
export function maxParamDiff(a: DigitsRun, b: DigitsRun): number {
  let worst = 0;
  a.params.forEach((p, k) => {
    const q = b.params[k]!;
    for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i]! - q[i]!));
  });
  return worst;
}
