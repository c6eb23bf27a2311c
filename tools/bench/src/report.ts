import type { BenchResults, Cell, CellOk, Column, ManyVsOne, Row, RowRatios, TargetCheck } from './results.js';

function okCell(cell: Cell | undefined): CellOk | undefined {
  return cell?.ok ? cell : undefined;
}

/** The fastest measured cell among `ids` (by median), with its column id. */
function fastest(row: Row, ids: readonly string[]): { id: string; cell: CellOk } | undefined {
  let best: { id: string; cell: CellOk } | undefined;
  for (const id of ids) {
    const c = okCell(row.cells[id]);
    if (c && (!best || c.stats.medianMs < best.cell.stats.medianMs)) best = { id, cell: c };
  }
  return best;
}

function bandwidthFraction(row: Row, cell: CellOk | undefined): number | undefined {
  if (!cell || row.limitElementsPerSecond === undefined) return undefined;
  return cell.stats.elementsPerSecond / row.limitElementsPerSecond;
}

/**
 * Ratios per row, every one from cells of the same run: ours (the fastest of our
 * paths that ran) over the C kernel in elements/s, each one's fraction of the
 * triad bandwidth at the row's working set, and speed-ups (time ratios) against
 * the fastest tfjs backend, PyTorch with 1 thread and PyTorch's fastest column.
 */
export function computeRatios(rows: readonly Row[], columns: readonly Column[]): RowRatios[] {
  const ours = columns.filter((c) => c.ours).map((c) => c.id);
  const tfjs = columns.filter((c) => c.id.startsWith('tfjs-')).map((c) => c.id);
  const torch = columns.filter((c) => c.id.startsWith('torch')).map((c) => c.id);
  return rows.map((row) => {
    const o = fastest(row, ours);
    const c = okCell(row.cells['c']);
    const js = okCell(row.cells['js']);
    const tf = fastest(row, tfjs);
    const t1 = okCell(row.cells['torch1']);
    const tb = fastest(row, torch);
    const speedup = (other: CellOk | undefined): number | undefined => (o && other ? other.stats.medianMs / o.cell.stats.medianMs : undefined);
    return {
      id: row.id,
      oursPath: o?.id,
      oursOverC: o && c ? o.cell.stats.elementsPerSecond / c.stats.elementsPerSecond : undefined,
      jsOverC: js && c ? js.stats.elementsPerSecond / c.stats.elementsPerSecond : undefined,
      oursBandwidthFraction: bandwidthFraction(row, o?.cell),
      cBandwidthFraction: bandwidthFraction(row, c),
      fastestTfjs: tf?.id,
      speedupVsFastestTfjs: speedup(tf?.cell),
      speedupVsTorch1: speedup(t1),
      fastestTorch: tb?.id,
      speedupVsFastestTorch: speedup(tb?.cell),
    };
  });
}

/** time(1000 tensors × 1000) / time(one 1e6 tensor), per optimizer and column. */
export function computeManyVsOne(rows: readonly Row[], columns: readonly Column[]): ManyVsOne[] {
  const out: ManyVsOne[] = [];
  for (const many of rows.filter((r) => r.kind === 'many')) {
    const one = rows.find((r) => r.kind === 'size' && r.optimizer === many.optimizer && r.dtype === many.dtype && r.totalElements === many.totalElements);
    if (!one) continue;
    const ratios: Record<string, number> = {};
    for (const col of columns) {
      const a = okCell(many.cells[col.id]);
      const b = okCell(one.cells[col.id]);
      if (a && b) ratios[col.id] = a.stats.medianMs / b.stats.medianMs;
    }
    out.push({ optimizer: many.optimizer, many: many.size, one: one.size, ratios });
  }
  return out;
}

/** Heap growth below this over the whole check counts as noise (a 16-byte allocation per step over 10^4 steps is 160 KB). */
export const HEAP_NOISE_BYTES = 64 * 1024;

/** Issue 5's targets for Adam float32, evaluated on this run's cells. */
export function evaluateTargets(r: BenchResults): TargetCheck[] {
  const out: TargetCheck[] = [];
  const adam = (n: number, kind: Row['kind'] = 'size'): { row: Row; ratio: RowRatios } | undefined => {
    const row = r.rows.find((x) => x.optimizer === 'Adam' && x.dtype === 'float32' && x.kind === kind && (kind !== 'size' || x.totalElements === n));
    const ratio = row && r.ratios.find((x) => x.id === row.id);
    return row && ratio ? { row, ratio } : undefined;
  };
  const bigSizes = [1e5, 1e6, 1e7];
  for (const n of bigSizes) {
    const a = adam(n);
    if (!a) continue;
    // A 1-thread target: the threaded column does not count, even when it is the fastest.
    const onePath = a.ratio.oursPath === 'threads' ? (okCell(a.row.cells['wasm']) ? 'wasm' : 'js') : a.ratio.oursPath;
    const o = onePath ? okCell(a.row.cells[onePath]) : undefined;
    out.push({
      target: `Adam f32 ${fmtN(n)}: ours ≥ 500 M elements/s, 1 thread`,
      measured: o ? `${(o.stats.elementsPerSecond / 1e6).toFixed(0)} M/s (${onePath})` : 'n/a',
      met: o ? o.stats.elementsPerSecond >= 5e8 : undefined,
    });
    out.push({
      target: `Adam f32 ${fmtN(n)}: ours ≥ 0.6× the C kernel`,
      measured: a.ratio.oursOverC !== undefined ? `${a.ratio.oursOverC.toFixed(2)}×` : 'n/a',
      met: a.ratio.oursOverC !== undefined ? a.ratio.oursOverC >= 0.6 : undefined,
    });
  }
  const a7 = adam(1e7);
  if (a7) {
    const t = okCell(a7.row.cells['threads']);
    const c = okCell(a7.row.cells['c']);
    out.push({
      target: 'Adam f32 1e7: threaded path ≥ 0.8× the 1-thread C kernel',
      measured: t && c ? `${(t.stats.elementsPerSecond / c.stats.elementsPerSecond).toFixed(2)}×` : 'n/a (no threaded path)',
      met: t && c ? t.stats.elementsPerSecond / c.stats.elementsPerSecond >= 0.8 : undefined,
    });
  }
  for (const n of r.rows.filter((x) => x.optimizer === 'Adam' && x.dtype === 'float32' && x.kind === 'size').map((x) => x.totalElements)) {
    const a = adam(n)!;
    if (n >= 1e5) {
      const s = a.ratio.speedupVsFastestTfjs;
      out.push({
        target: `Adam f32 ${fmtN(n)}: ≥ 8× faster than the fastest tfjs backend`,
        measured: s !== undefined ? `${s.toFixed(1)}× (vs ${a.ratio.fastestTfjs})` : 'n/a',
        met: s !== undefined ? s >= 8 : undefined,
      });
    }
    const s = a.ratio.speedupVsFastestTorch;
    const need = n >= 1e7 ? 5 : 1;
    out.push({
      target: `Adam f32 ${fmtN(n)}: faster than PyTorch${need > 1 ? ` (≥ ${need}×)` : ''}`,
      measured: s !== undefined ? `${s.toFixed(2)}× (vs ${a.ratio.fastestTorch})` : 'n/a',
      met: s !== undefined ? s > need || (need === 1 && s > 1) : undefined,
    });
  }
  const many = r.manyVsOne.find((m) => m.optimizer === 'Adam');
  const manyRow = adam(0, 'many');
  if (many && manyRow?.ratio.oursPath) {
    const v = many.ratios[manyRow.ratio.oursPath];
    out.push({
      target: 'Adam f32 1000×1000: ≤ 1.2× the time of one 1e6 tensor',
      measured: v !== undefined ? `${v.toFixed(2)}× (${manyRow.ratio.oursPath})` : 'n/a',
      met: v !== undefined ? v <= 1.2 : undefined,
    });
  }
  const one = adam(1, 'overhead');
  if (one?.ratio.oursPath) {
    const o = okCell(one.row.cells[one.ratio.oursPath])!;
    out.push({
      target: 'Adam f32, 1-element parameter: a step under 5 us',
      measured: `${(o.stats.medianMs * 1e3).toFixed(2)} us (${one.ratio.oursPath})`,
      met: o.stats.medianMs * 1e3 < 5,
    });
  }
  for (const h of r.heap.filter((x) => x.optimizer === 'Adam')) {
    out.push({
      // The issue's criterion, as the no-allocation test checks it: no growth of the heap beyond noise once garbage
      // is collected. Short-lived garbage ("allocated") is reported too; it depends on JIT timing.
      target: `No growth in heap use per step (Adam, ${h.path}, ${h.ok ? h.check.steps : '?'} steps)`,
      measured: h.ok
        ? `${fmtBytes(h.check.allocatedBytes)} allocated, ${fmtBytes(h.check.heapGrowthBytes)} retained, ${fmtBytes(h.check.arrayBuffersGrowthBytes)} arrayBuffers`
        : h.note,
      met: h.ok
        ? h.check.heapGrowthBytes < HEAP_NOISE_BYTES && h.check.arrayBuffersGrowthBytes < HEAP_NOISE_BYTES
        : undefined,
    });
  }
  return out;
}

function fmtN(n: number): string {
  const e = Math.log10(n);
  return Number.isInteger(e) && n >= 1e4 ? `1e${e}` : String(n);
}

function fmtBytes(b: number): string {
  const a = Math.abs(b);
  const s = b < 0 ? '−' : '+';
  if (a >= 1 << 20) return `${s}${(a / (1 << 20)).toFixed(1)} MiB`;
  if (a >= 1024) return `${s}${(a / 1024).toFixed(1)} KiB`;
  return `${s}${a} B`;
}

/** Milliseconds, with 3 significant digits. */
function fmtMs(ms: number): string {
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  if (ms >= 0.01) return ms.toFixed(3);
  return ms.toPrecision(2);
}

function fmtRate(eps: number): string {
  const m = eps / 1e6;
  if (m >= 100) return m.toFixed(0);
  if (m >= 1) return m.toFixed(1);
  return m.toPrecision(2);
}

function fmtX(x: number | undefined, digits = 2): string {
  return x === undefined ? '–' : `${x.toFixed(digits)}×`;
}

function fmtPct(x: number | undefined): string {
  return x === undefined ? '–' : `${(x * 100).toFixed(0)}%`;
}

function cellMs(cell: Cell | undefined): string {
  if (!cell) return '–';
  if (!cell.ok) return cell.note;
  const s = cell.stats;
  return `${fmtMs(s.medianMs)} (${fmtMs(s.p10Ms)}–${fmtMs(s.p90Ms)})`;
}

function cellRate(cell: Cell | undefined): string {
  if (!cell) return '–';
  if (!cell.ok) return cell.note.startsWith('n/a') || cell.note.startsWith('skipped') ? 'n/a' : 'failed';
  return fmtRate(cell.stats.elementsPerSecond);
}

/** A markdown table; the first `left` columns are left-aligned, the others right-aligned. */
function table(header: readonly string[], body: readonly (readonly string[])[], left = 3): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const lines = [`| ${header.map(esc).join(' | ')} |`, `| ${header.map((_, i) => (i < left ? '---' : '---:')).join(' | ')} |`];
  for (const r of body) lines.push(`| ${r.map(esc).join(' | ')} |`);
  return lines.join('\n');
}

function rowHead(r: Row): string[] {
  return [r.optimizer, r.dtype === 'float32' ? 'f32' : 'f64', r.size];
}

/** The RESULTS.md text. */
export function renderMarkdown(r: BenchResults): string {
  const m = r.machine;
  const cols = r.columns;
  const out: string[] = [];
  const gib = (m.memoryBytes / 2 ** 30).toFixed(1);
  out.push('# @opt optimizer-step benchmark');
  out.push('');
  out.push(`Generated by \`${r.command}\` (${r.mode} run, ${r.durationSeconds.toFixed(0)} s) on ${m.date}.`);
  out.push('');
  out.push('## Machine');
  out.push('');
  out.push(`- CPU: ${m.cpuModel}; ${m.cores} logical cores${m.physicalCores !== undefined ? ` (${m.physicalCores} cores per socket in /proc/cpuinfo)` : ''}; flags ${m.cpuFlags.join(', ') || 'unknown'}`);
  out.push(`- Memory: ${gib} GiB`);
  out.push(`- Node ${m.node} (V8 ${m.v8}), ${m.platform}`);
  out.push(`- Load average at start: ${m.loadAverage.join(', ')} (other work on the machine inflates the spreads)`);
  for (const [k, v] of Object.entries(r.tools)) if (k !== 'node') out.push(`- ${k}: ${v}`);
  out.push('');
  out.push('## Method');
  out.push('');
  out.push(
    `One step = one \`step()\` call with fixed gradients. Per cell: warm-up (≥ 2 steps and ≥ ${r.policy.warmupMs} ms), then samples of k consecutive ` +
      `steps (k doubled until a sample takes ≥ 50 us), as many samples as fill ${r.policy.targetMs} ms (between ${r.policy.minSamples} and ` +
      `${r.policy.maxSamples}; ${r.policy.minSlowSamples} for steps over ${r.policy.slowStepMs} ms). Times are per step: median and p10–p90 over the samples. ` +
      'The C and PyTorch timers apply the same policy in their own process. Every column is measured in this one run.',
  );
  out.push('');
  out.push('Columns:');
  out.push('');
  for (const c of cols) out.push(`- **${c.label}**: ${c.description}`);
  out.push('');

  out.push('## Headline: Adam float32');
  out.push('');
  const adamRows = r.rows.filter((x) => x.optimizer === 'Adam' && x.dtype === 'float32');
  out.push(headline(adamRows, r));
  out.push('');

  out.push('## Milliseconds per step: median (p10–p90)');
  out.push('');
  out.push(table(['optimizer', 'dtype', 'N', ...cols.map((c) => c.label)], r.rows.map((row) => [...rowHead(row), ...cols.map((c) => cellMs(row.cells[c.id]))])));
  out.push('');
  out.push('## Throughput: million elements per second (median)');
  out.push('');
  out.push(
    'Bandwidth columns: the STREAM triad at the row\'s working set (GB/s, STREAM\'s byte count), and the bandwidth limit of the row: ' +
      'million elements/s of a C memory-only kernel with the optimizer\'s access pattern (stream_r4w3: reads 4 arrays, writes 3 of them in place, ' +
      'one add each; stream_r3w2: 3 and 2) at the same N and dtype, or of the fused C kernel where that was faster (both are timed moments apart ' +
      'on a shared machine; results.json keeps both), and the GB/s it moves (bytes/elem × elements/s). ' +
      'The triad writes a separate array, so it also pays write-allocate traffic and is not the limit of an in-place update.',
  );
  out.push('');
  out.push(
    table(
      ['optimizer', 'dtype', 'N', ...cols.map((c) => c.label), 'bytes/elem', 'triad GB/s', 'limit GB/s', 'bandwidth limit'],
      r.rows.map((row) => [
        ...rowHead(row),
        ...cols.map((c) => cellRate(row.cells[c.id])),
        String(row.bytesPerElement),
        row.triadBytesPerSecond !== undefined ? (row.triadBytesPerSecond / 1e9).toFixed(1) : '–',
        row.limitElementsPerSecond !== undefined ? ((row.limitElementsPerSecond * row.bytesPerElement) / 1e9).toFixed(1) : '–',
        row.limitElementsPerSecond !== undefined ? fmtRate(row.limitElementsPerSecond) : '–',
      ]),
    ),
  );
  out.push('');
  out.push('## Ratios (same run)');
  out.push('');
  out.push(
    '"ours" is the fastest of our paths that ran in that row. ours/C and JS/C compare elements/s (1 = the C kernel\'s speed); ' +
      'the "of BW" columns are the fraction of the row\'s bandwidth limit (the memory-only kernel with the same access pattern; ' +
      'in cache it is compute-bound too, so there the fraction says little); the speed-ups are the peer\'s time over ours (> 1: ours is faster).',
  );
  out.push('');
  out.push(
    table(
      ['optimizer', 'dtype', 'N', 'ours', 'ours/C', 'JS/C', 'ours of BW', 'C of BW', '× fastest tfjs', '× PyTorch 1T', '× fastest PyTorch'],
      r.rows.map((row) => {
        const q = r.ratios.find((x) => x.id === row.id)!;
        return [
          ...rowHead(row),
          q.oursPath ?? '–',
          fmtX(q.oursOverC),
          fmtX(q.jsOverC),
          fmtPct(q.oursBandwidthFraction),
          fmtPct(q.cBandwidthFraction),
          q.speedupVsFastestTfjs !== undefined ? `${fmtX(q.speedupVsFastestTfjs, 1)} (${q.fastestTfjs})` : '–',
          fmtX(q.speedupVsTorch1),
          q.speedupVsFastestTorch !== undefined ? `${fmtX(q.speedupVsFastestTorch)} (${q.fastestTorch})` : '–',
        ];
      }),
    ),
  );
  out.push('');
  out.push('## 1000 tensors × 1000 elements vs one tensor of 1e6');
  out.push('');
  out.push('time(1000×1000) ÷ time(1e6) per column (1.0 = no per-tensor overhead).');
  out.push('');
  const mvCols = cols.filter((c) => r.manyVsOne.some((x) => x.ratios[c.id] !== undefined));
  out.push(table(['optimizer', 'many', 'one', ...mvCols.map((c) => c.label)], r.manyVsOne.map((x) => [x.optimizer, x.many, x.one, ...mvCols.map((c) => fmtX(x.ratios[c.id]))])));
  out.push('');
  out.push('## Triad (STREAM a = b + s·c, float64, 1 thread)');
  out.push('');
  out.push(table(['working set', 'GB/s'], r.triad.map((t) => [fmtBytes(t.workingSetBytes).slice(1), (t.bytesPerSecond / 1e9).toFixed(1)]), 1));
  out.push('');
  out.push('## Heap growth over repeated steps (not a test)');
  out.push('');
  out.push(
    'Steps a 1000-element float32 parameter (1000 warm-up steps first) and reads `process.memoryUsage()` before the steps (after a full GC), ' +
      'right after them with no GC in between ("allocated": a 16-byte object per step would show as 160 KB over 10^4 steps), and after a full GC ' +
      `("retained"). Noise threshold ${fmtBytes(HEAP_NOISE_BYTES).slice(1)} (JIT feedback and code objects).`,
  );
  out.push('');
  out.push(
    table(
      ['optimizer', 'path', 'steps', 'heapUsed allocated', 'heapUsed retained', 'arrayBuffers growth', 'GC'],
      r.heap.map((h) =>
        h.ok
          ? [
              h.optimizer,
              h.path,
              String(h.check.steps),
              fmtBytes(h.check.allocatedBytes),
              fmtBytes(h.check.heapGrowthBytes),
              fmtBytes(h.check.arrayBuffersGrowthBytes),
              h.check.gc ? 'yes' : 'no',
            ]
          : [h.optimizer, h.path, '–', h.note, '', '', ''],
      ),
      2,
    ),
  );
  out.push('');
  if (r.nonFiniteCost.length > 0) {
    out.push('## Cost of the default non-finite gradient check (Adam float32)');
    out.push('');
    out.push('The tables above use `nonFinite: "ignore"` (no scan, as in PyTorch and tfjs); the default `"throw"` scans every gradient once per step.');
    out.push('');
    out.push(table(['path', 'N', 'ignore ms', 'throw ms', 'throw/ignore'], r.nonFiniteCost.map((x) => [x.path, x.size, fmtMs(x.ignoreMs), fmtMs(x.throwMs), fmtX(x.ratio)]), 2));
    out.push('');
  }
  if (r.tfjsProfiles.length > 0) {
    out.push('## tfjs per-step allocations (tf.profile of one step)');
    out.push('');
    out.push('tfjs allocates new tensors for every intermediate and for the new moments each step; "transient" is the peak above the steady state.');
    out.push('');
    out.push(
      table(
        ['case', 'backend', 'how', 'kernels/step', 'transient bytes/step', 'tensors leaked over the timed steps'],
        r.tfjsProfiles.map((p) => [p.id, p.backend, p.how, String(p.profile.kernels), fmtBytes(p.profile.transientBytes).slice(1), String(p.leakedTensors)]),
      ),
    );
    out.push('');
  }
  out.push('## Targets (issue 5), evaluated on this run');
  out.push('');
  out.push(table(['target', 'measured', 'met'], r.targets.map((t) => [t.target, t.measured, t.met === undefined ? 'n/a' : t.met ? 'yes' : 'NO']), 3));
  out.push('');
  if (r.notes.length > 0) {
    out.push('## Notes');
    out.push('');
    for (const n of r.notes) out.push(`- ${n}`);
    out.push('');
  }
  return out.join('\n');
}

function headline(rows: readonly Row[], r: BenchResults): string {
  const cols = r.columns;
  return table(
    ['N', 'ours', 'ours ms', ...cols.filter((c) => !c.ours).map((c) => `${c.label} ms`), 'ours/C', '× tfjs', '× PyTorch'],
    rows.map((row) => {
      const q = r.ratios.find((x) => x.id === row.id)!;
      const o = q.oursPath ? okCell(row.cells[q.oursPath]) : undefined;
      return [
        row.size,
        q.oursPath ?? '–',
        o ? fmtMs(o.stats.medianMs) : '–',
        ...cols.filter((c) => !c.ours).map((c) => {
          const cell = row.cells[c.id];
          return cell?.ok ? fmtMs(cell.stats.medianMs) : cell ? 'n/a' : '–';
        }),
        fmtX(q.oursOverC),
        fmtX(q.speedupVsFastestTfjs, 1),
        fmtX(q.speedupVsFastestTorch),
      ];
    }),
    2,
  );
}
