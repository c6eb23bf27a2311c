/**
 * The issue's done-when: the digits MLP trained by `DeviceOptimizer` (Adam step graphs) on a device reaches the
 * accuracy of the same training with `@opt/core`'s Adam on the host. Same split, initialisation and batch order on
 * both; the forward/backward pass runs in JavaScript, so parameters are synced back after every step.
 * Used by the WebGPU test (a small subset, few epochs) and by scripts/webgpu-digits.sh (the full run).
 */
import * as ort from 'onnxruntime-node';
import { Adam } from '@opt/core';
import { BatchIterator, ClassificationObjective, batchOf, mlp, standardize, subset, trainTestSplit } from '@opt/tasks';
import { loadDigits } from '@opt/tasks/node';
import type { DeviceKind } from '../../src/backends/errors';
import type { OrtModule } from '../../src/backends/runner';
import { DeviceOptimizer } from '../../src/device/device-optimizer';
import { OrtNodeBackend } from '../../src/node/ort-node';

/** Arguments of {@link run}. */
export interface DigitsArgs {
  /** Device of the DeviceOptimizer run. */
  device: DeviceKind;
  epochs?: number;
  /** Use only the first `trainSubset` training examples (all when absent). */
  trainSubset?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
}

/** Accuracies and timings of both runs. */
export interface DigitsResult {
  device: string;
  trainExamples: number;
  testExamples: number;
  epochs: number;
  steps: number;
  hostAccuracy: number;
  deviceAccuracy: number;
  /** max |p_device − p_host| over every parameter at the end. */
  maxParamDiff: number;
  hostSeconds: number;
  deviceSeconds: number;
}

/** Train on the host and on `args.device`; return both test accuracies. */
export async function run(args: DigitsArgs): Promise<DigitsResult> {
  const seed = args.seed ?? 0;
  const epochs = args.epochs ?? 30;
  const batchSize = args.batchSize ?? 64;
  const split = trainTestSplit(loadDigits(), { testFraction: 0.2, seed, stratify: true });
  const s = standardize(split.train, split.test);
  let train = s.train;
  if (args.trainSubset !== undefined && args.trainSubset < train.n) {
    train = subset(train, Int32Array.from({ length: args.trainSubset }, (_, i) => i));
  }
  const test = s.test!;
  const testBatch = batchOf(test, Int32Array.from({ length: test.n }, (_, i) => i), 'float32');
  const sizes = [train.d, 64, train.numClasses];
  const make = (): ClassificationObjective => new ClassificationObjective(mlp({ sizes, seed, dtype: 'float32' }), train, { dtype: 'float32' });
  const lr = args.lr ?? 1e-2;

  const host = make();
  const hostOpt = new Adam(host.parameters, { lr });
  let steps = 0;
  let t0 = Date.now();
  for (let e = 0; e < epochs; e++) {
    for (const b of new BatchIterator(train, { batchSize, seed: seed + e, dtype: 'float32' })) {
      host.lossAndGrad(b);
      hostOpt.step();
      steps++;
    }
  }
  const hostSeconds = (Date.now() - t0) / 1000;

  const dev = make();
  const devOpt = await DeviceOptimizer.create(Adam, dev.parameters, { lr }, {
    backend: new OrtNodeBackend({ ort: ort as unknown as OrtModule }),
    devices: [args.device],
    compute: 'float32',
    syncParams: true,
  });
  t0 = Date.now();
  for (let e = 0; e < epochs; e++) {
    for (const b of new BatchIterator(train, { batchSize, seed: seed + e, dtype: 'float32' })) {
      dev.lossAndGrad(b);
      await devOpt.step();
    }
  }
  const deviceSeconds = (Date.now() - t0) / 1000;
  let maxParamDiff = 0;
  host.parameters.forEach((p, k) => {
    const q = dev.parameters[k]!;
    for (let i = 0; i < p.size; i++) maxParamDiff = Math.max(maxParamDiff, Math.abs(p.data[i]! - q.data[i]!));
  });
  const device = devOpt.device;
  await devOpt.release();
  return {
    device,
    trainExamples: train.n,
    testExamples: test.n,
    epochs,
    steps,
    hostAccuracy: host.accuracy(testBatch),
    deviceAccuracy: dev.accuracy(testBatch),
    maxParamDiff,
    hostSeconds,
    deviceSeconds,
  };
}
