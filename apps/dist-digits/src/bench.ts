/**
 * The numbers of issue #8 for data-parallel digits (a script, never a test): `node dist/bench.js`.
 *
 * 1. For each codec, on 2 processes over NATS with the same budget (epochs, global batch): bytes each rank sent
 *    for gradients, the compression ratio against the uncompressed all-reduce, and the final test accuracy (mean
 *    over seeds) against the uncompressed run.
 * 2. Data-parallel scaling of the uncompressed run over 1, 2 and 4 processes: wall time, samples per second,
 *    speed-up and efficiency, for the app's MLP and a wider one (more compute per byte).
 *
 * Options: `--epochs N` (20), `--seeds N` (3), `--codecs LIST|all` (all), `--scaling-epochs N` (10),
 * `--scaling-hidden '64;512,512'` (hidden widths of the scaled models, `;` between models), `--out DIR`
 * (`out/dist-digits-bench`). Prints markdown and writes `results.md` and `accuracy.svg` there.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { startNatsServer } from '@opt/distributed/node';
import { parseCodecs } from './cli.js';
import { type CodecName, type CodecSettings, type RankResult, describeCodec, prepareDigits } from './experiment.js';
import { runDataParallel } from './launch.js';
import { type RunSummary, accuracyChart } from './report.js';

function value(argv: readonly string[], name: string): string | undefined {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : undefined;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const epochs = Number(value(argv, '--epochs') ?? 20);
  const seeds = Number(value(argv, '--seeds') ?? 3);
  const codecs = parseCodecs(value(argv, '--codecs') ?? 'all');
  const scalingEpochs = Number(value(argv, '--scaling-epochs') ?? 10);
  const scalingModels = (value(argv, '--scaling-hidden') ?? '64;512,512').split(';').map((h) => h.split(',').map(Number));
  const out = value(argv, '--out') ?? join('out', 'dist-digits-bench');
  const workerFile = join(dirname(process.argv[1] ?? '.'), 'worker.js');
  const server = await startNatsServer();
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, nats-server on 127.0.0.1`;
  try {
    const settings: CodecSettings = { topkRatio: 0.01, powerRank: 1 };
    const rows: string[] = [
      `| codec | bytes sent per rank | compression | final test accuracy (mean of ${seeds} seeds) | vs uncompressed | time per run |`,
      '| --- | --- | --- | --- | --- | --- |',
    ];
    const curves: RunSummary[] = [];
    let base: number | undefined;
    for (const codec of codecs) {
      const results: RankResult[] = [];
      for (let seed = 0; seed < seeds; seed++) {
        const r = await runDataParallel({ workers: 2, codec, codecSettings: { ...settings, seed }, epochs, seed, natsUrl: server.url, workerFile });
        if (r[0]!.paramsHash !== r[1]!.paramsHash) throw new Error(`${codec}: the replicas diverged`);
        results.push(r[0]!);
        log(`${codec} seed ${seed}: ${(100 * r[0]!.testAccuracy.at(-1)!).toFixed(1)} %, ${r[0]!.bytesSent} bytes, ${r[0]!.seconds.toFixed(1)} s`);
      }
      const acc = mean(results.map((r) => r.testAccuracy.at(-1)!));
      if (codec === 'none') base = acc;
      const bytesSent = mean(results.map((r) => r.bytesSent));
      const ratio = results[0]!.uncompressedBytes / bytesSent;
      rows.push(
        `| ${describeCodec(codec as CodecName, settings)} | ${(bytesSent / 1024).toFixed(1)} KiB | ${ratio.toFixed(1)}× | ${(100 * acc).toFixed(1)} % | ` +
          `${base === undefined || codec === 'none' ? '-' : `${(100 * (acc - base)).toFixed(1)} points`} | ${mean(results.map((r) => r.seconds)).toFixed(1)} s |`,
      );
      curves.push({ codec, settings, workers: 2, result: results[0]! });
    }
    const scaling: string[] = [
      `| model | processes | wall time (${scalingEpochs} epochs) | samples / s | speed-up | efficiency | final test accuracy |`,
      '| --- | --- | --- | --- | --- | --- | --- |',
    ];
    const n = prepareDigits(0).train.n;
    for (const hidden of scalingModels) {
      let t1 = 0;
      for (const workers of [1, 2, 4]) {
        const r = (await runDataParallel({ workers, codec: 'none', epochs: scalingEpochs, hidden, natsUrl: server.url, workerFile }))[0]!;
        const seconds = r.seconds;
        if (workers === 1) t1 = seconds;
        const samples = Math.floor(n / 64) * 64 * scalingEpochs;
        scaling.push(
          `| 64-${hidden.join('-')}-10 (${r.parameters} parameters) | ${workers} | ${seconds.toFixed(2)} s | ${(samples / seconds).toFixed(0)} | ${(t1 / seconds).toFixed(2)}× | ` +
            `${((100 * t1) / seconds / workers).toFixed(0)} % | ${(100 * r.testAccuracy.at(-1)!).toFixed(1)} % |`,
        );
        log(`scaling ${hidden.join('-')} × ${workers}: ${seconds.toFixed(2)} s`);
      }
    }
    const text =
      `Machine: ${machine}.\n${prepareDigits(0).description}; MLP 64-64-10 (4810 float32 parameters), SGD lr 0.05 momentum 0.9 ` +
      `(sign codecs lr 0.005; DGC and Signum carry the momentum), global batch 64, ${epochs} epochs, 2 processes over NATS.\n\n` +
      `${rows.join('\n')}\n\nData-parallel scaling (uncompressed all-reduce, global batch 64 split over the processes, same steps):\n\n${scaling.join('\n')}\n`;
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'results.md'), text);
    writeFileSync(join(out, 'accuracy.svg'), accuracyChart(curves, 'Digits MLP: test accuracy per codec (2 processes over NATS, seed 0)'));
    process.stdout.write(text);
  } finally {
    await server.stop();
  }
}

void main();
