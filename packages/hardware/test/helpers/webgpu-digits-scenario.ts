/**
 * The issue's done-when: the digits MLP trained by `DeviceOptimizer` (Adam step graphs) on a device reaches the
 * accuracy of the same training with `@opt/core`'s Adam on the host. Same split, initialisation and batch order on
 * both (test/helpers/digits-shared.ts, which the Chromium page runs too); the forward/backward pass runs in
 * JavaScript, so parameters are synced back after every step.
 * Used by the WebGPU test (a small subset, few epochs) and by scripts/webgpu-digits.mjs (the full run).
 */
import * as ort from 'onnxruntime-node';
import { loadDigits } from '@opt/tasks/node';
import type { DeviceKind } from '../../src/backends/errors';
import type { OrtModule } from '../../src/backends/runner';
import { OrtNodeBackend } from '../../src/node/ort-node';
import { type DigitsSettings, deviceAdam, hostAdam, maxParamDiff, prepareDigits, trainDigits } from './digits-shared';

/** Arguments of {@link run}. */
export interface DigitsArgs extends DigitsSettings {
  /** Device of the DeviceOptimizer run. */
  device: DeviceKind;
  /** Skip the host run (the scripts run it once, not per device). */
  deviceOnly?: boolean;
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
  /** The final device parameters (for cross-run comparisons in the scripts). */
  deviceParams: number[][];
}

/** Train on the host and on `args.device`; return both test accuracies. */
export async function run(args: DigitsArgs): Promise<DigitsResult> {
  const { train, test } = prepareDigits(loadDigits(), args);
  const lr = args.lr ?? 1e-2;
  const dev = await trainDigits(train, test, args, deviceAdam(lr, new OrtNodeBackend({ ort: ort as unknown as OrtModule }), args.device));
  const host = args.deviceOnly === true ? null : await trainDigits(train, test, args, hostAdam(lr));
  return {
    device: dev.device,
    trainExamples: dev.trainExamples,
    testExamples: dev.testExamples,
    epochs: dev.epochs,
    steps: dev.steps,
    hostAccuracy: host?.accuracy ?? Number.NaN,
    deviceAccuracy: dev.accuracy,
    maxParamDiff: host === null ? Number.NaN : maxParamDiff(host, dev),
    hostSeconds: host?.seconds ?? Number.NaN,
    deviceSeconds: dev.seconds,
    deviceParams: dev.params,
  };
}
