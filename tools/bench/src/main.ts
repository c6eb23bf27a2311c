/**
 * `pnpm bench`: times one optimizer step of Adam, AdamW, SGD-momentum, Lion,
 * Adagrad and RMSprop on our paths and on peers in one run, and writes
 * `RESULTS.md` and `results.json`. Every peer is isolated: a failure becomes a
 * note in its cells and the rest of the run goes on. See `--help`.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchArgs, type Peer, USAGE, parseArgs } from './args.js';
import { type BenchCase, buildCases, bytesPerElement, totalElements } from './cases.js';
import { describeMachine } from './machine.js';
import { type Samples, summarize } from './measure.js';
import { type NativeBench, compileNative, timeNative, timeStreamPattern, timeTriad } from './native.js';
import { getThreadThreshold } from '@opt/tensor';
import { type OurPath, THREADS, heapCheck, heapCheckOf, probeWasm, startThreads, timeOurs } from './ours.js';
import { computeManyVsOne, computeRatios, evaluateTargets, renderMarkdown } from './report.js';
import type { BenchResults, Cell, Column, Row } from './results.js';
import { type TfBackend, loadTf, timeTf } from './tfjs.js';
import { pythonCommand, runTorch } from './torch.js';

const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0]! : String(e);
}

function ok(samples: Samples, c: BenchCase, extra?: Record<string, unknown>): Cell {
  return extra ? { ok: true, stats: summarize(samples, totalElements(c)), extra } : { ok: true, stats: summarize(samples, totalElements(c)) };
}

function na(note: string): Cell {
  return { ok: false, note };
}

function fmtMs(ms: number): string {
  return ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1e3).toFixed(2)} us`;
}

async function main(args: BenchArgs): Promise<void> {
  const started = Date.now();
  const machine = describeMachine();
  const cases = buildCases(args.sizes, args.only, 1000, 1000);
  if (cases.length === 0) throw new Error(`--only ${args.only.join(',')} matches no optimizer`);
  const want = (p: Peer): boolean => args.peers.includes(p);
  const notes: string[] = [];
  const tools: Record<string, string> = { node: process.version };
  const columns: Column[] = [];
  const rows: Row[] = cases.map((c) => ({
    id: c.id,
    optimizer: c.spec.label,
    dtype: c.dtype,
    kind: c.kind,
    size: c.tensors > 1 ? `${c.tensors}×${c.elements}` : String(c.elements),
    elements: c.elements,
    tensors: c.tensors,
    totalElements: totalElements(c),
    bytesPerElement: bytesPerElement(c.spec, c.dtype),
    cells: {},
  }));
  const rowOf = (c: BenchCase): Row => rows[cases.indexOf(c)]!;
  const keys = [...new Set(cases.map((c) => c.spec.key))];
  log(`@opt bench (${args.quick ? 'quick' : 'full'}): ${cases.length} rows on ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}`);

  // Our paths.
  const ourPaths: OurPath[] = [];
  const wasmMissing = new Set<string>();
  if (want('js')) {
    ourPaths.push('js');
    columns.push({ id: 'js', label: 'ours JS', description: '@opt/core classes on the JavaScript kernels (nonFinite: "ignore", the same work as the peers)', ours: true });
  }
  if (want('wasm')) {
    const probe = await probeWasm(keys, cases);
    columns.push({ id: 'wasm', label: 'ours wasm', description: `@opt/core with backend: "wasm": ${probe.note}`, ours: true });
    if (probe.available) ourPaths.push('wasm');
    for (const c of cases) {
      const why = probe.unavailable[c.spec.key];
      if (why !== undefined) rowOf(c).cells['wasm'] = na(why.startsWith('n/a (not built)') ? 'n/a (not built)' : 'n/a (wasm step failed; see Columns)');
    }
    tools['wasm'] = probe.note;
    for (const k of Object.keys(probe.unavailable)) wasmMissing.add(k);
  }
  if (want('threads')) {
    const why = await startThreads();
    columns.push({
      id: 'threads',
      label: 'ours threads',
      description: `@opt/core with backend: "wasm", threads: ${THREADS} (worker threads over shared wasm memory; calls of at least ${getThreadThreshold()} elements are split)`,
      ours: true,
    });
    if (why === null) ourPaths.push('threads');
    for (const c of cases) {
      if (why !== null) rowOf(c).cells['threads'] = na(why);
      else if (wasmMissing.has(c.spec.key)) rowOf(c).cells['threads'] = na('n/a (no wasm path)');
    }
    tools['threads'] = why ?? `${THREADS} threads (the calling thread and ${THREADS - 1} worker), split threshold ${getThreadThreshold()} elements`;
  }
  for (const p of ourPaths) {
    for (const c of cases) {
      if (rowOf(c).cells[p] !== undefined) continue;
      try {
        rowOf(c).cells[p] = ok(timeOurs(c, p, args.policy), c);
        log(`  ${p.padEnd(9)} ${c.id.padEnd(28)} ${fmtMs((rowOf(c).cells[p] as { stats: { medianMs: number } }).stats.medianMs)}`);
      } catch (e) {
        rowOf(c).cells[p] = na(`failed: ${message(e)}`);
        log(`  ${p} ${c.id} failed: ${message(e)}`);
      }
    }
  }

  // The fused C kernels and the triad.
  const triad: BenchResults['triad'] = [];
  if (want('c')) {
    columns.push({ id: 'c', label: 'C fused', description: 'fused C kernel, gcc -O3 -march=native, 1 thread, timed in C (the practical ceiling)', ours: false });
    let nb: NativeBench | undefined;
    try {
      nb = compileNative(BENCH_DIR);
      tools['gcc'] = `${nb.compiler} (${nb.flags.join(' ')})`;
    } catch (e) {
      notes.push(`C kernels skipped: ${message(e)}`);
      for (const r of rows) r.cells['c'] = na('n/a (no gcc)');
    }
    if (nb) {
      try {
        for (const c of cases) {
          try {
            rowOf(c).cells['c'] = ok(timeNative(nb, c, args.policy), c);
          } catch (e) {
            rowOf(c).cells['c'] = na(`failed: ${message(e)}`);
          }
        }
        const sets = [...new Set(rows.filter((r) => r.kind !== 'overhead').map((r) => r.totalElements * r.bytesPerElement))].sort((a, b) => a - b);
        // A working set far beyond any cache gives the machine's DRAM bandwidth.
        const dram = 768 << 20;
        if (!sets.includes(dram)) sets.push(dram);
        for (const ws of sets) {
          try {
            const t = timeTriad(nb, ws, args.policy);
            const s = summarize(t.samples, 1);
            triad.push({ workingSetBytes: ws, bytesPerSecond: t.bytes / (s.medianMs / 1e3) });
          } catch (e) {
            notes.push(`triad at ${ws} bytes failed: ${message(e)}`);
          }
        }
        for (const r of rows) {
          const t = triad.find((x) => x.workingSetBytes === r.totalElements * r.bytesPerElement);
          if (t && r.kind !== 'overhead') r.triadBytesPerSecond = t.bytesPerSecond;
        }
        const limits = new Map<string, number>();
        for (const c of cases) {
          if (c.kind === 'overhead') continue;
          const kernel = `stream_r${c.spec.reads}w${c.spec.writes}`;
          const key = `${kernel}/${c.dtype}/${totalElements(c)}`;
          if (!limits.has(key)) {
            try {
              const s = summarize(timeStreamPattern(nb, c.spec.reads, c.spec.writes, c.dtype, totalElements(c), args.policy), totalElements(c));
              limits.set(key, s.elementsPerSecond);
            } catch (e) {
              notes.push(`${key} failed: ${message(e)}`);
              limits.set(key, NaN);
            }
          }
          const v = limits.get(key)!;
          if (Number.isFinite(v)) {
            const fused = rowOf(c).cells['c'];
            rowOf(c).limitKernelElementsPerSecond = v;
            rowOf(c).limitElementsPerSecond = fused?.ok ? Math.max(v, fused.stats.elementsPerSecond) : v;
            rowOf(c).limitKernel = kernel;
          }
        }
        log(`  C kernels, ${limits.size} bandwidth kernels and ${triad.length} triads done`);
      } finally {
        nb.cleanup();
      }
    }
  }

  // PyTorch.
  if (want('torch')) {
    try {
      const run = runTorch(BENCH_DIR, cases, args.policy, machine.cores);
      tools['torch'] = `PyTorch ${run.version} via ${pythonCommand()} (default threads ${run.defaultThreads})`;
      if (run.threads.length > 1) {
        notes.push(
          'PyTorch with more than one thread spins OpenMP workers; when another process holds a core the multi-thread timings become bimodal ' +
            '(see their p10–p90). The 1-thread column is the stable comparison.',
        );
      }
      for (const t of run.threads) {
        const id = `torch${t}`;
        const dflt = t === run.defaultThreads ? ', PyTorch default' : '';
        columns.push({ id, label: `PyTorch ${t}T`, description: `torch.optim on CPU, torch.set_num_threads(${t})${dflt}, timing opt.step()`, ours: false });
        for (const c of cases) {
          const r = run.results.get(c.id)?.get(t);
          rowOf(c).cells[id] = r === undefined ? na('missing') : 'error' in r ? na(shortTorchError(r.error)) : ok(r, c, { threads: t });
        }
      }
    } catch (e) {
      notes.push(`PyTorch skipped: ${message(e)}`);
      columns.push({ id: 'torch1', label: 'PyTorch', description: 'torch.optim on CPU (skipped)', ours: false });
      for (const r of rows) r.cells['torch1'] = na('n/a (no torch)');
    }
    log('  PyTorch done');
  }

  // tfjs.
  const tfjsProfiles: BenchResults['tfjsProfiles'] = [];
  const tfBackends = (['wasm', 'cpu'] as TfBackend[]).filter((b) => want(`tfjs-${b}` as Peer));
  if (tfBackends.length > 0) {
    let session: Awaited<ReturnType<typeof loadTf>> | undefined;
    try {
      session = await loadTf();
      tools['tfjs'] = `@tensorflow/tfjs ${session.version}`;
    } catch (e) {
      notes.push(`tfjs skipped: ${message(e)}`);
    }
    for (const b of tfBackends) {
      const id = `tfjs-${b}`;
      const desc = session?.backends[b] ?? `tfjs ${b} backend`;
      columns.push({ id, label: `tfjs ${b}`, description: `${desc}; Optimizer.applyGradients with fixed gradient tensors`, ours: false });
      if (!session || !session.backends[b]) {
        const why = session?.failures[b] ?? 'tfjs did not load';
        notes.push(`tfjs ${b} backend unavailable: ${why}`);
        for (const r of rows) r.cells[id] = na('n/a');
        continue;
      }
      tools[id] = desc;
      for (const c of cases) {
        const row = rowOf(c);
        if (c.dtype === 'float64') {
          row.cells[id] = na('n/a (no float64 in tfjs)');
          continue;
        }
        const skip = b === 'cpu' && !args.full ? slowSkip(c, rows, id) : undefined;
        if (skip) {
          row.cells[id] = na(skip);
          continue;
        }
        try {
          const r = await timeTf(session, b, c, args.policy);
          row.cells[id] = ok(r.samples, c, { how: r.how, leakedTensors: r.leakedTensors, ...(r.profile ? { profile: r.profile } : {}) });
          if (r.profile) tfjsProfiles.push({ id: c.id, backend: b, profile: r.profile, how: r.how, leakedTensors: r.leakedTensors });
          log(`  ${id.padEnd(9)} ${c.id.padEnd(28)} ${fmtMs((row.cells[id] as { stats: { medianMs: number } }).stats.medianMs)}`);
        } catch (e) {
          row.cells[id] = na(`failed: ${message(e)}`);
          log(`  ${id} ${c.id} failed: ${message(e)}`);
        }
      }
    }
  }

  // Heap growth and the default non-finite check, on our paths.
  const heap: BenchResults['heap'] = [];
  const nonFiniteCost: BenchResults['nonFiniteCost'] = [];
  if (ourPaths.length > 0) {
    heap.push({ optimizer: 'no-op step (harness baseline)', path: '–', ok: true, check: heapCheckOf(() => undefined, args.heapSteps, 0) });
  }
  for (const p of ourPaths) {
    for (const key of keys) {
      const c = cases.find((x) => x.spec.key === key)!;
      if (p !== 'js' && wasmMissing.has(key)) continue;
      try {
        heap.push({ optimizer: c.spec.label, path: p, ok: true, check: heapCheck(c, p, args.heapSteps) });
      } catch (e) {
        heap.push({ optimizer: c.spec.label, path: p, ok: false, note: message(e) });
      }
    }
    for (const c of cases.filter((x) => x.spec.key === 'adam' && x.dtype === 'float32' && x.kind === 'size')) {
      if (!rowOf(c).cells[p]?.ok) continue;
      try {
        // Both policies timed back to back here, so machine load drifts less between them than between sections.
        const ignore = summarize(timeOurs(c, p, args.policy, 'ignore'), totalElements(c)).medianMs;
        const check = summarize(timeOurs(c, p, args.policy, 'throw'), totalElements(c)).medianMs;
        nonFiniteCost.push({ path: p, size: rowOf(c).size, ignoreMs: ignore, throwMs: check, ratio: check / ignore });
      } catch (e) {
        notes.push(`non-finite check cost on ${p} ${c.id} failed: ${message(e)}`);
      }
    }
  }
  log('  heap and non-finite checks done');

  const ratios = computeRatios(rows, columns);
  const manyVsOne = computeManyVsOne(rows, columns);
  const results: BenchResults = {
    mode: args.quick ? 'quick' : 'full',
    command: ['pnpm bench', ...process.argv.slice(2)].join(' '),
    machine,
    tools,
    policy: args.policy,
    columns,
    rows,
    triad,
    ratios,
    manyVsOne,
    heap,
    nonFiniteCost,
    tfjsProfiles,
    targets: [],
    notes,
    durationSeconds: (Date.now() - started) / 1e3,
  };
  results.targets = evaluateTargets(results);
  const outDir = args.outDir ? path.resolve(args.outDir) : BENCH_DIR;
  writeFileSync(path.join(outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  const md = renderMarkdown(results);
  writeFileSync(path.join(outDir, 'RESULTS.md'), md);
  process.stdout.write(md);
  log(`wrote ${path.join(outDir, 'RESULTS.md')} and results.json in ${results.durationSeconds.toFixed(0)} s`);
}

/**
 * tfjs's cpu backend takes seconds per step at 1e7; without `--full` only Adam
 * float32 is timed there, the others are skipped with the estimate from 1e6.
 */
function slowSkip(c: BenchCase, rows: readonly Row[], id: string): string | undefined {
  if (c.elements * c.tensors < 1e7 || (c.spec.key === 'adam' && c.dtype === 'float32')) return undefined;
  const at1e6 = rows.find((r) => r.optimizer === c.spec.label && r.dtype === c.dtype && r.kind === 'size' && r.totalElements === 1e6);
  const cell = at1e6?.cells[id];
  const est = cell?.ok ? ` (~${((cell.stats.medianMs * c.elements * c.tensors) / 1e6 / 1e3).toFixed(1)} s/step from 1e6)` : '';
  return `skipped${est}; --full runs it`;
}

function shortTorchError(error: string): string {
  return /has no lion/.test(error) ? 'n/a (no Lion in torch.optim 1.13)' : `failed: ${error}`;
}

let parsed: BenchArgs;
try {
  parsed = parseArgs(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`${message(e)}\n\n${USAGE}\n`);
  process.exit(2);
}
if (parsed.help) {
  process.stdout.write(`${USAGE}\n`);
} else {
  main(parsed).catch((e: unknown) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  });
}
