/**
 * Private digits: trains the digits MLP with DP-SGD at ε ∈ {1, 3, 8} (δ = 1e-5) and non-privately, prints
 * accuracy against ε with the accountant's numbers, and writes an SVG plot into `out/dp-digits/`.
 *
 * Options: `--quick` (fewer epochs, seeded noise: a smoke test, NOT private), `--out DIR`, `--epochs N`, `--seed N`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProgressBar } from '@opt/app-kit';
import { OptError } from '@opt/core';
import { privateDigitsChart, privateDigitsTable, runPrivateDigits } from './experiment.js';

function value(argv: string[], name: string): string | undefined {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : undefined;
}

function main(): void {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const out = value(argv, '--out') ?? join('out', 'dp-digits');
  const epochs = Number(value(argv, '--epochs') ?? (quick ? 6 : 30));
  const seed = Number(value(argv, '--seed') ?? 0);
  const started = Date.now();
  let bar: ProgressBar | null = null;
  const result = runPrivateDigits({
    epochs,
    seed,
    seededNoise: quick,
    onEpoch: (label, epoch, total) => {
      if (epoch === 1) bar = new ProgressBar(label, total);
      bar?.tick();
      if (epoch === total) bar?.finish();
    },
  });
  const table = privateDigitsTable(result);
  mkdirSync(out, { recursive: true });
  const svg = join(out, 'accuracy.svg');
  writeFileSync(svg, privateDigitsChart(result));
  writeFileSync(join(out, 'results.md'), `${result.description}\n\n${table}\n`);
  process.stdout.write(
    `${result.description}\n${quick ? "noise: seeded (NOT private; --quick)" : 'noise: Web Crypto'}; ` +
      `sigma from the RDP accountant (dp_accounting orders, improved conversion) for ${epochs} epochs\n\n${table}\n\n` +
      `plot: ${svg}  (${((Date.now() - started) / 1000).toFixed(1)} s)\n`,
  );
}

try {
  main();
} catch (e) {
  if (!(e instanceof OptError)) throw e;
  process.stderr.write(`${e.message}\n`);
  process.exitCode = 2;
}
