import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { BenchCase } from './cases.js';
import type { Samples, TimingPolicy } from './measure.js';

/** Samples per case id and thread count, from one run of `python/torch_bench.py`. */
export interface TorchRun {
  version: string;
  defaultThreads: number;
  /** Thread counts timed, in order (1 first). */
  threads: number[];
  results: Map<string, Map<number, Samples | { error: string }>>;
}

interface TorchReply {
  error?: string;
  torch?: string;
  defaultThreads?: number;
  results?: Array<{ id: string; threads: number; stepsPerSample?: number; samplesNs?: number[]; error?: string }>;
}

/** The Python interpreter: `$OPT_BENCH_PYTHON`, else Debian's `/usr/bin/python3`, else `python3` on the PATH. */
export function pythonCommand(): string {
  const fromEnv = process.env['OPT_BENCH_PYTHON'];
  if (fromEnv) return fromEnv;
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

/**
 * Time `torch.optim` over every case (optimizers torch lacks come back as
 * per-case errors) with 1 thread, PyTorch's default, and one per core. Throws
 * when Python or torch is missing, with the reason.
 */
export function runTorch(benchDir: string, cases: readonly BenchCase[], policy: TimingPolicy, cores: number): TorchRun {
  const script = path.join(benchDir, 'python', 'torch_bench.py');
  const request = {
    cases: cases.map((c) => ({ id: c.id, optimizer: c.spec.key, dtype: c.dtype, elements: c.elements, tensors: c.tensors })),
    threads: [1, 0, cores],
    warmupMs: policy.warmupMs,
    targetMs: policy.targetMs,
    minSamples: policy.minSamples,
    maxSamples: policy.maxSamples,
  };
  const python = pythonCommand();
  const r = spawnSync(python, [script], {
    input: JSON.stringify(request),
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    timeout: 900_000,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  if (r.error) throw new Error(`${python} could not run: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${python} ${path.basename(script)} exited with ${r.status}`);
  const reply = JSON.parse(r.stdout) as TorchReply;
  if (reply.error) throw new Error(reply.error);
  const results = new Map<string, Map<number, Samples | { error: string }>>();
  const threads: number[] = [];
  for (const e of reply.results ?? []) {
    if (!threads.includes(e.threads)) threads.push(e.threads);
    let byThreads = results.get(e.id);
    if (!byThreads) results.set(e.id, (byThreads = new Map()));
    if (e.error !== undefined || !e.samplesNs || !e.stepsPerSample) byThreads.set(e.threads, { error: e.error ?? 'no samples' });
    else byThreads.set(e.threads, { stepsPerSample: e.stepsPerSample, samplesNs: e.samplesNs });
  }
  return { version: reply.torch ?? '?', defaultThreads: reply.defaultThreads ?? 1, threads, results };
}
