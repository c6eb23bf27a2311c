import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BenchCase } from './cases.js';
import type { Samples, TimingPolicy } from './measure.js';

/** The compiled C timer (fused kernels and the triad). */
export interface NativeBench {
  binary: string;
  compiler: string;
  flags: string[];
  cleanup: () => void;
}

/** Flags of the ceiling build: `-fno-math-errno` lets gcc vectorise `sqrt` (it changes no result here). */
export const C_FLAGS = ['-O3', '-march=native', '-fno-math-errno', '-std=c11'];

/**
 * Compile `c/optim_bench.c` into a temporary folder with gcc. Throws with the
 * reason (no gcc, compile error) so the caller can print it as a note.
 */
export function compileNative(benchDir: string): NativeBench {
  const version = spawnSync('gcc', ['--version'], { encoding: 'utf8' });
  if (version.error || version.status !== 0) throw new Error(`gcc not found (${version.error?.message ?? version.stderr})`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'opt-bench-'));
  const binary = path.join(dir, 'optim_bench');
  const source = path.join(benchDir, 'c', 'optim_bench.c');
  const r = spawnSync('gcc', [...C_FLAGS, '-o', binary, source, '-lm'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`gcc failed: ${r.error?.message ?? r.stderr.trim()}`);
  }
  return {
    binary,
    compiler: version.stdout.split('\n')[0]!.trim(),
    flags: C_FLAGS,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function runBinary(nb: NativeBench, kernel: string, dtype: string, elements: number, tensors: number, policy: TimingPolicy): Samples {
  const args = [kernel, dtype, elements, tensors, policy.warmupMs, policy.targetMs, policy.minSamples, policy.maxSamples].map(String);
  const r = spawnSync(nb.binary, args, { encoding: 'utf8', maxBuffer: 16 << 20, timeout: 300_000 });
  if (r.error || r.status !== 0) throw new Error(`${kernel} failed: ${r.error?.message ?? r.stderr.trim()}`);
  const parsed = JSON.parse(r.stdout) as { stepsPerSample: number; samplesNs: number[] };
  return { stepsPerSample: parsed.stepsPerSample, samplesNs: parsed.samplesNs };
}

/** Time the fused C kernel of a case (single thread). */
export function timeNative(nb: NativeBench, c: BenchCase, policy: TimingPolicy): Samples {
  return runBinary(nb, c.spec.key, c.dtype, c.elements, c.tensors, policy);
}

/**
 * Time the STREAM triad `a[i] = b[i] + s·c[i]` over float64 arrays whose three
 * arrays together hold `workingSetBytes` (at least 3 × 1024 elements).
 * Returns samples of one triad pass and the bytes it moves (24 per element).
 */
export function timeTriad(nb: NativeBench, workingSetBytes: number, policy: TimingPolicy): { samples: Samples; bytes: number } {
  const length = Math.max(1024, Math.ceil(workingSetBytes / 24));
  return { samples: runBinary(nb, 'triad', 'float64', length, 1, policy), bytes: length * 24 };
}

/**
 * Time the memory-only kernel with the access pattern of an optimizer that
 * reads `reads` arrays and writes `writes` of them in place (`stream_r3w2`,
 * `stream_r4w3`) over `elements` elements: that pattern's bandwidth limit.
 */
export function timeStreamPattern(nb: NativeBench, reads: number, writes: number, dtype: string, elements: number, policy: TimingPolicy): Samples {
  return runBinary(nb, `stream_r${reads}w${writes}`, dtype, elements, 1, policy);
}
