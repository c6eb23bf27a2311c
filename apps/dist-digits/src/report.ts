/** Tables and charts of data-parallel digits runs. */
import { lineChart } from '@opt/app-kit';
import { type CodecName, type CodecSettings, type RankResult, describeCodec } from './experiment.js';

/** One run as the tables show it: rank 0's result and the run's settings. */
export interface RunSummary {
  codec: CodecName;
  settings: CodecSettings;
  workers: number;
  result: RankResult;
}

function mib(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / (1024 * 1024)).toFixed(2)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}

/**
 * A markdown table per codec: bytes each rank sent for gradients, the compression ratio against the uncompressed
 * all-reduce over the same steps, final test accuracy, and the gap to the uncompressed run (when there is one).
 */
export function codecTable(runs: readonly RunSummary[]): string {
  const base = runs.find((r) => r.codec === 'none')?.result.testAccuracy.at(-1);
  const lines = [
    '| codec | workers | steps | bytes sent per rank | compression | final test accuracy | vs uncompressed | time |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of runs) {
    const acc = r.result.testAccuracy.at(-1)!;
    const ratio = r.result.uncompressedBytes / Math.max(1, r.result.bytesSent);
    lines.push(
      `| ${describeCodec(r.codec, r.settings)} | ${r.workers} | ${r.result.steps} | ${mib(r.result.bytesSent)} | ${ratio.toFixed(1)}× | ` +
        `${(100 * acc).toFixed(1)} % | ${base === undefined || r.codec === 'none' ? '-' : `${(100 * (acc - base)).toFixed(1)} points`} | ${r.result.seconds.toFixed(1)} s |`,
    );
  }
  return lines.join('\n');
}

/** An SVG chart of test accuracy per epoch, one line per run. */
export function accuracyChart(runs: readonly RunSummary[], title: string): string {
  return lineChart({
    title,
    xLabel: 'epoch',
    yLabel: 'test accuracy',
    series: runs.map((r) => ({
      name: `${describeCodec(r.codec, r.settings)}, ${r.workers} ranks`,
      x: r.result.testAccuracy.map((_, i) => i + 1),
      y: r.result.testAccuracy,
    })),
  });
}
