/**
 * Step-cost benchmark of DP-SGD on the digits MLPs: a non-private SGD step against a DP-SGD step with ghost
 * clipping and one with materialised per-example gradients, same model, same Poisson batches (variable sizes,
 * occasionally small), noise from Web Crypto included. Prints a markdown table of median step times and ratios.
 *
 * Run: `pnpm bench:dp [-- --repeats N] [--quick]`; writes `tools/bench/DP-SGD-RESULTS.md` (full runs only).
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { SGD } from '@opt/core';
import { DPOptimizer, PoissonBatchIterator } from '@opt/privacy';
import { type Batch, ClassificationObjective, batchOf, mlp, standardize } from '@opt/tasks';
import { loadDigits } from '@opt/tasks/node';

/** One row of the benchmark table. */
export interface BenchRow {
  model: string;
  params: number;
  batch: number;
  /** Median milliseconds of a non-private step (forward, backward, SGD update). */
  plainMs: number;
  /** Median milliseconds of a DP-SGD step with ghost clipping. */
  ghostMs: number;
  /** Median milliseconds of a DP-SGD step with materialised per-example gradients. */
  materializedMs: number;
}

/** Options of {@link runBench}. */
export interface BenchOptions {
  /** Timed steps per configuration (the median is reported). Default 100. */
  repeats?: number;
  /** Hidden-layer configurations. Default: the demo's `[64]` and a wide `[512, 256]`. */
  hidden?: number[][];
  /** Expected batch sizes. Default `[64, 256]`. */
  batchSizes?: number[];
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Time the three step kinds on every (model, batch size); the three share one sequence of Poisson batches. */
export function runBench(options: BenchOptions = {}): BenchRow[] {
  const repeats = options.repeats ?? 100;
  const data = standardize(loadDigits()).train;
  const rows: BenchRow[] = [];
  for (const hidden of options.hidden ?? [[64], [512, 256]]) {
    for (const batchSize of options.batchSizes ?? [64, 256]) {
      const sizes = [data.d, ...hidden, data.numClasses];
      const sampler = new PoissonBatchIterator({ dataSize: data.n, expectedBatchSize: batchSize, noise: 'seeded', seed: 1 });
      const batches: Batch[] = [];
      const warm = Math.max(10, repeats >> 3);
      while (batches.length < repeats + warm) {
        const [b] = sampler.nextLogicalBatch();
        if (b!.size > 0) batches.push(batchOf(data, b!.indices, 'float64'));
      }
      const time = (kind: 'plain' | 'ghost' | 'materialized'): number => {
        const objective = new ClassificationObjective(mlp({ sizes, seed: 0 }), data);
        const inner = new SGD(objective.parameters, { lr: 0.01 });
        const dp =
          kind === 'plain'
            ? null
            : new DPOptimizer(inner, { noiseMultiplier: 1.1, maxGradNorm: 1, expectedBatchSize: batchSize, method: kind });
        const times: number[] = [];
        for (let s = 0; s < batches.length; s++) {
          const batch = batches[s]!;
          const t0 = performance.now();
          if (dp === null) {
            objective.lossAndGrad(batch);
            inner.step();
          } else {
            dp.accumulate(objective, batch);
            dp.step();
          }
          const t1 = performance.now();
          if (s >= warm) times.push(t1 - t0);
        }
        return median(times);
      };
      const objective = new ClassificationObjective(mlp({ sizes, seed: 0 }), data);
      rows.push({
        model: `MLP ${sizes.join('-')}`,
        params: objective.parameters.reduce((n, p) => n + p.size, 0),
        batch: batchSize,
        plainMs: time('plain'),
        ghostMs: time('ghost'),
        materializedMs: time('materialized'),
      });
    }
  }
  return rows;
}

/** The rows as a markdown table with the DP/non-private ratios. */
export function benchTable(rows: readonly BenchRow[]): string {
  const lines = [
    '| model (params) | expected batch | non-private step | DP ghost clipping | ratio | DP materialised | ratio |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.model} (${r.params}) | ${r.batch} | ${r.plainMs.toFixed(3)} ms | ${r.ghostMs.toFixed(3)} ms | ${(r.ghostMs / r.plainMs).toFixed(2)}x | ` +
        `${r.materializedMs.toFixed(3)} ms | ${(r.materializedMs / r.plainMs).toFixed(2)}x |`,
    );
  }
  return lines.join('\n');
}

function main(): void {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const at = argv.indexOf('--repeats');
  const repeats = at >= 0 ? Number(argv[at + 1]) : quick ? 20 : 100;
  const rows = runBench({ repeats, ...(quick ? { hidden: [[64]], batchSizes: [64] } : {}) });
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}`;
  const report =
    `DP-SGD step cost on digits (${machine}; median of ${repeats} steps, Poisson batches, sigma 1.1, C 1, Web Crypto noise)\n\n` +
    `${benchTable(rows)}\n`;
  process.stdout.write(report);
  if (!quick) {
    const file = join(dirname(fileURLToPath(import.meta.url)), '..', 'DP-SGD-RESULTS.md');
    writeFileSync(file, `# DP-SGD step cost (\`pnpm bench:dp\`)\n\n${report}`);
    process.stdout.write(`written: ${file}\n`);
  }
}

if (process.argv[1] !== undefined && /dp-sgd\.(js|ts)$/.test(process.argv[1])) main();
