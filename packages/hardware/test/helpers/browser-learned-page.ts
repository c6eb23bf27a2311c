/**
 * Runs IN the page (headless Chromium): the learned-optimizer twin runs (test/helpers/learned-twin.ts) through
 * `LearnedOptimizerRunner` with `OrtWebBackend` (onnxruntime-web) on `'webgpu'` (SwiftShader) and `'wasm'`.
 */
import * as ort from 'onnxruntime-web';
import type { DeviceKind } from '../../src/backends/errors.js';
import type { OrtModule } from '../../src/backends/runner.js';
import { OrtWebBackend } from '../../src/backends/ort-web.js';
import { type LearnedCase, type LearnedTwinResult, runTwin } from './learned-twin.js';
import type { LstmCellOp } from '../../src/learned/networks.js';

/** One twin run of {@link run}. */
export interface BrowserTwinCase {
  case: LearnedCase;
  device: DeviceKind;
  lstmCell?: LstmCellOp;
}

/** Run each case in turn (one page, one onnxruntime-web instance) and return the results in order. */
export async function run(args: { cases: BrowserTwinCase[]; steps?: number; sizes?: number[] }): Promise<LearnedTwinResult[]> {
  ort.env.wasm.numThreads = 1;
  const backend = new OrtWebBackend(ort as unknown as OrtModule);
  const out: LearnedTwinResult[] = [];
  for (const c of args.cases) {
    out.push(
      await runTwin(backend, {
        case: c.case,
        device: c.device,
        ...(args.steps === undefined ? {} : { steps: args.steps }),
        ...(args.sizes === undefined ? {} : { sizes: args.sizes }),
        ...(c.lstmCell === undefined ? {} : { lstmCell: c.lstmCell }),
      }),
    );
  }
  return out;
}
