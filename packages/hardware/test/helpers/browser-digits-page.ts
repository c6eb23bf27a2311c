/**
 * Runs IN the page (headless Chromium, served by @opt/browser-harness): `DeviceOptimizer` with `OrtWebBackend`
 * (onnxruntime-web) trains the digits MLP on `'webgpu'` (SwiftShader) or `'wasm'`, with the settings of
 * test/helpers/digits-shared.ts. The data arrive as JSON (the page cannot read digits.csv); the final parameters go
 * back so the caller compares them with its own `@opt/core` run.
 */
import * as ort from 'onnxruntime-web';
import type { DeviceKind } from '../../src/backends/errors.js';
import type { OrtModule } from '../../src/backends/runner.js';
import { OrtWebBackend } from '../../src/backends/ort-web.js';
import { type DigitsDataJson, type DigitsRun, type DigitsSettings, datasetFromJson, deviceAdam, hostAdam, trainDigits } from './digits-shared.js';

/** Arguments of {@link run}. */
export interface BrowserDigitsArgs {
  data: DigitsDataJson;
  settings: DigitsSettings;
  /** `'webgpu'`, `'wasm'`, or `'host'` for `@opt/core` Adam in the page. */
  device: DeviceKind | 'host';
  /** onnxruntime-web's wasm threads (default 1: the machine is shared). */
  numThreads?: number;
}

/** Train once in the page. */
export async function run(args: BrowserDigitsArgs): Promise<DigitsRun> {
  ort.env.wasm.numThreads = args.numThreads ?? 1;
  const train = datasetFromJson(args.data.train);
  const test = datasetFromJson(args.data.test);
  const lr = args.settings.lr ?? 1e-2;
  const stepper =
    args.device === 'host' ? hostAdam(lr) : deviceAdam(lr, new OrtWebBackend(ort as unknown as OrtModule), args.device);
  return trainDigits(train, test, args.settings, stepper);
}
