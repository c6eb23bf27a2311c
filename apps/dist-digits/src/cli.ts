/**
 * The `dist-digits` command: data-parallel training of the digits MLP on K processes over a private NATS server,
 * with a chosen gradient codec (or several, one run each), a progress bar, a table and an SVG plot.
 *
 * Options: `--workers K` (2), `--codec NAME[,NAME…]|all` (`topk-ef`), `--epochs N` (20), `--batch B` (64, global),
 * `--lr X`, `--hidden 64[,32]`, `--topk-ratio R` (0.01), `--power-rank R` (1), `--seed N`, `--out DIR`
 * (`out/dist-digits`), `--nats URL` (use a running server), `--in-process` (ranks as connections in this process),
 * `--quick` (3 epochs).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ProgressBar } from '@opt/app-kit';
import { CODEC_NAMES, type CodecName, type CodecSettings, prepareDigits } from './experiment.js';
import { runDataParallel } from './launch.js';
import { type RunSummary, accuracyChart, codecTable } from './report.js';

function value(argv: readonly string[], name: string): string | undefined {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : undefined;
}

function numberOption(argv: readonly string[], name: string): number | undefined {
  const v = value(argv, name);
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!Number.isFinite(x)) throw new RangeError(`${name} expects a number, got ${v}`);
  return x;
}

/** Parse `--codec`: a comma-separated list of {@link CODEC_NAMES}, or `all`. */
export function parseCodecs(text: string): CodecName[] {
  if (text === 'all') return [...CODEC_NAMES];
  const names = text.split(',').map((s) => s.trim());
  for (const n of names) if (!(CODEC_NAMES as readonly string[]).includes(n)) throw new RangeError(`unknown codec ${n}: expected one of ${CODEC_NAMES.join(', ')} or all`);
  return names as CodecName[];
}

/**
 * Run the command with `argv` (without `node main.js`); returns the text it printed. The plot and a markdown
 * copy of the table go to `--out`.
 */
export async function runCli(argv: readonly string[]): Promise<string> {
  const quick = argv.includes('--quick');
  const workers = numberOption(argv, '--workers') ?? 2;
  const codecs = parseCodecs(value(argv, '--codec') ?? 'topk-ef');
  const epochs = numberOption(argv, '--epochs') ?? (quick ? 3 : 20);
  const batchSize = numberOption(argv, '--batch') ?? 64;
  const lr = numberOption(argv, '--lr');
  const seed = numberOption(argv, '--seed') ?? 0;
  const hidden = value(argv, '--hidden')?.split(',').map(Number) ?? [64];
  const settings: CodecSettings = { topkRatio: numberOption(argv, '--topk-ratio') ?? 0.01, powerRank: numberOption(argv, '--power-rank') ?? 1, seed };
  const out = value(argv, '--out') ?? join('out', 'dist-digits');
  const inProcess = argv.includes('--in-process');
  const natsUrl = value(argv, '--nats');
  // The rank program sits next to this file once built (dist/worker.js).
  const workerFile = join(dirname(process.argv[1] ?? '.'), 'worker.js');
  const runs: RunSummary[] = [];
  const started = Date.now();
  for (const codec of codecs) {
    let bar: ProgressBar | null = null;
    let shown = 0;
    const results = await runDataParallel({
      workers,
      codec,
      codecSettings: settings,
      epochs,
      batchSize,
      seed,
      hidden,
      ...(lr === undefined ? {} : { lr }),
      inProcess,
      workerFile,
      ...(natsUrl === undefined ? {} : { natsUrl }),
      onStep: (step, total) => {
        bar ??= new ProgressBar(codec, total);
        bar.tick(step - shown);
        shown = step;
        if (step === total) bar.finish();
      },
    });
    const hashes = new Set(results.map((r) => r.paramsHash));
    if (hashes.size !== 1) throw new Error(`ranks ended with different parameters (${[...hashes].join(', ')})`);
    runs.push({ codec, settings, workers, result: results[0]! });
  }
  const table = codecTable(runs);
  mkdirSync(out, { recursive: true });
  const svg = join(out, 'accuracy.svg');
  writeFileSync(svg, accuracyChart(runs, `Digits MLP, data-parallel over NATS (${workers} ranks)`));
  const description = prepareDigits(seed).description;
  writeFileSync(join(out, 'results.md'), `${description}\n\n${table}\n`);
  return (
    `${description}; ${workers} ranks (${inProcess ? 'connections in one process' : 'processes'}) over NATS; global batch ${batchSize}, ${epochs} epochs\n\n` +
    `${table}\n\nplot: ${svg}  (${((Date.now() - started) / 1000).toFixed(1)} s)\n`
  );
}
