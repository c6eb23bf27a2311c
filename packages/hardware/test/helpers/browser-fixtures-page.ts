/**
 * Runs IN the page (headless Chromium, served by @opt/browser-harness): every float32 case of the requested fixture
 * files replayed through `DeviceOptimizer` with `OrtWebBackend` (onnxruntime-web) on `'webgpu'` (SwiftShader) or
 * `'wasm'`. The page fetches the fixture JSON from the repository mount of the server (the files are too large to
 * pass comfortably as arguments) and returns the raw trajectories; test/browser-fixtures.test.ts scores them in Node
 * with core's harness functions.
 */
import * as ort from 'onnxruntime-web';
import type { OptimizerCase } from '../../../core/test/helpers/fixtures.js';
import type { DeviceKind } from '../../src/backends/errors.js';
import type { OrtModule } from '../../src/backends/runner.js';
import { OrtWebBackend } from '../../src/backends/ort-web.js';
import { FIXTURE_OPTIMIZERS, type FixtureOptimizer, type RawDeviceReplay, replayDeviceCase } from './fixture-device-replay.js';

/** Arguments of {@link run}. */
export interface BrowserFixturesArgs {
  device: DeviceKind;
  /** Fixture files to replay (default all five). */
  optimizers?: FixtureOptimizer[];
  /** onnxruntime-web's wasm threads (default 1: the machine is shared). */
  numThreads?: number;
}

/** One replay, with the fixture file it comes from. */
export interface BrowserFixtureReplay {
  optimizer: FixtureOptimizer;
  raw: RawDeviceReplay;
}

/** Replay every float32 case of the requested fixture files in the page. */
export async function run(args: BrowserFixturesArgs): Promise<BrowserFixtureReplay[]> {
  ort.env.wasm.numThreads = args.numThreads ?? 1;
  const backend = new OrtWebBackend(ort as unknown as OrtModule);
  const out: BrowserFixtureReplay[] = [];
  for (const optimizer of args.optimizers ?? FIXTURE_OPTIMIZERS) {
    const response = await fetch(`/repo/packages/core/test/fixtures/optim/${optimizer}.json`);
    if (!response.ok) throw new Error(`fixture ${optimizer}.json: HTTP ${response.status}`);
    const file = (await response.json()) as { cases: OptimizerCase[] };
    for (const c of file.cases) {
      if (c.dtype !== 'float32') continue;
      out.push({ optimizer, raw: await replayDeviceCase(c, optimizer, backend, args.device) });
    }
  }
  return out;
}
