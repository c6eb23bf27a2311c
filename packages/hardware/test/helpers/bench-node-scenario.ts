/** The provider benchmark's cells on onnxruntime-node (run in the script's process, or in the lavapipe child). */
import * as ort from 'onnxruntime-node';
import type { OrtModule } from '../../src/backends/runner';
import { OrtNodeBackend } from '../../src/node/ort-node';
import { type BenchCase, type BenchPolicy, type BenchResult, measureAll } from './bench-cases';

/** Measure `cases` with onnxruntime-node (cells of kind `core-*` need no backend). */
export function run(args: { cases: BenchCase[]; policy?: BenchPolicy }): Promise<BenchResult[]> {
  return measureAll(args.cases, new OrtNodeBackend({ ort: ort as unknown as OrtModule }), args.policy ?? {});
}
