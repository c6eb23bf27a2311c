/** Runs IN the page (headless Chromium): the provider benchmark's cells on onnxruntime-web (wasm, WebGPU). */
import * as ort from 'onnxruntime-web';
import type { OrtModule } from '../../src/backends/runner.js';
import { OrtWebBackend } from '../../src/backends/ort-web.js';
import { type BenchCase, type BenchPolicy, type BenchResult, measureAll } from './bench-cases.js';

/** Measure `cases` with onnxruntime-web; `numThreads` sets its wasm threads (default 1). */
export function run(args: { cases: BenchCase[]; policy?: BenchPolicy; numThreads?: number }): Promise<BenchResult[]> {
  ort.env.wasm.numThreads = args.numThreads ?? 1;
  return measureAll(args.cases, new OrtWebBackend(ort as unknown as OrtModule), args.policy ?? {});
}
