/**
 * The privacy demo (`--suite privacy`): the dp-digits experiment (digits MLP, DP-SGD at ε ∈ {1, 3, 8}, δ = 1e-5,
 * against non-private training), with a progress bar per run, the accuracy-against-ε table and an SVG plot.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProgressBar } from '@opt/app-kit';
import { type PrivateDigitsResult, privateDigitsChart, privateDigitsTable, runPrivateDigits } from '@opt/dp-digits';

/** What the privacy suite reads from the command line. */
export interface PrivacyDemoArgs {
  epochs: number | null;
  seed: number;
  out: string;
  seededNoise: boolean;
}

/** Run the privacy demo: train, print the table, write `privacy.svg` and `privacy.md` into `args.out`. */
export function runPrivacy(args: PrivacyDemoArgs): PrivateDigitsResult {
  const epochs = args.epochs ?? 30;
  let bar: ProgressBar | null = null;
  const started = Date.now();
  const result = runPrivateDigits({
    epochs,
    seed: args.seed,
    seededNoise: args.seededNoise,
    onEpoch: (label, epoch, total) => {
      if (epoch === 1) bar = new ProgressBar(label, total);
      bar?.tick();
      if (epoch === total) bar?.finish();
    },
  });
  const table = privateDigitsTable(result);
  mkdirSync(args.out, { recursive: true });
  const svg = join(args.out, 'privacy.svg');
  writeFileSync(svg, privateDigitsChart(result));
  writeFileSync(join(args.out, 'privacy.md'), `${result.description}\n\n${table}\n`);
  const noise = args.seededNoise ? 'seeded (NOT private: --seeded-noise)' : 'Web Crypto (private)';
  process.stdout.write(
    `\nDP-SGD on ${result.description}\nnoise: ${noise}; σ calibrated by the RDP accountant for ${epochs} epochs\n\n` +
      `${table}\n\nplot: ${svg}  (${((Date.now() - started) / 1000).toFixed(1)} s)\n`,
  );
  return result;
}
