/**
 * The learned-optimizer twin run (test/helpers/learned-twin.ts) on onnxruntime-node: inside jest (CPU) and in the
 * WebGPU child process (lavapipe).
 */
import * as ort from 'onnxruntime-node';
import type { OrtModule } from '../../src/backends/runner';
import { OrtNodeBackend } from '../../src/node/ort-node';
import { type LearnedTwinArgs, type LearnedTwinResult, runTwin } from './learned-twin';

export type { LearnedCase, LearnedTwinArgs, LearnedTwinResult } from './learned-twin';

/** Run the twin comparison on onnxruntime-node. */
export function run(args: LearnedTwinArgs): Promise<LearnedTwinResult> {
  return runTwin(new OrtNodeBackend({ ort: ort as unknown as OrtModule }), args);
}
