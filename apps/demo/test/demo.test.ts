import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidOptionError } from '@opt/core';
import { DEFAULT_MLP_OPTIMIZERS, parseArgs } from '../src/args';
import { escapeXml, formatTick, lineChart, logTicks, niceTicks } from '@opt/app-kit';
import { findRenderer, renderPng } from '../src/render';
import { runPrivacy } from '../src/privacy';

/** A minimal XML well-formedness check: every tag closes in order, attributes are quoted, no stray '&' or '<'. */
function checkWellFormed(xml: string): void {
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = tag.exec(xml)) !== null) {
    const between = xml.slice(last, m.index);
    expect(between).not.toMatch(/[<>]/);
    expect(between.replace(/&(lt|gt|amp|apos|quot);/g, '')).not.toContain('&');
    last = tag.lastIndex;
    const [, closing, name, , selfClosing] = m;
    if (closing) expect(stack.pop()).toBe(name);
    else if (!selfClosing) stack.push(name!);
  }
  expect(xml.slice(last).trim()).toBe('');
  expect(stack).toEqual([]);
}

function seriesPaths(svg: string): Array<{ name: string; d: string }> {
  return [...svg.matchAll(/<path class="series" data-name="([^"]*)" d="([^"]*)"/g)].map((m) => ({ name: m[1]!, d: m[2]! }));
}

/** The y pixel coordinates of a path's points. */
function ys(d: string): number[] {
  return [...d.matchAll(/[ML][\d.]+,([\d.]+)/g)].map((m) => Number(m[1]));
}

describe('SVG line chart', () => {
  const series = [
    { name: 'Adam', x: [0, 1, 2, 3], y: [2.3, 0.5, 0.1, 0.02] },
    { name: 'SGD <momentum> & co', x: [0, 1, 2, 3], y: [2.3, 1.2, 0.7, 0.4] },
    { name: 'L-BFGS', x: [0, 5, 10], y: [2.3, 0.05, 0.001] },
  ];

  test('is a well-formed SVG document with one path per series, in order, names escaped', () => {
    const svg = lineChart({ series, title: 'loss', xLabel: 'epoch', yLabel: 'train loss' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    checkWellFormed(svg);
    const paths = seriesPaths(svg);
    expect(paths.map((p) => p.name)).toEqual(['Adam', 'SGD &lt;momentum&gt; &amp; co', 'L-BFGS']);
    expect(paths.map((p) => (p.d.match(/[ML]/g) ?? []).length)).toEqual([4, 4, 3]);
    expect(svg).toContain('<g class="legend">');
    expect(svg.match(/<text [^>]*dominant-baseline="middle">(Adam|L-BFGS)</g)).toHaveLength(2);
  });

  test('a larger y is drawn higher (a smaller pixel y) on both axis kinds', () => {
    for (const logY of [false, true]) {
      const [adam] = seriesPaths(lineChart({ series, logY }));
      const pixels = ys(adam!.d);
      for (let i = 1; i < pixels.length; i++) expect(pixels[i]!).toBeGreaterThan(pixels[i - 1]!);
    }
  });

  test('on a log axis, equal ratios are equal distances and the ticks are powers of ten', () => {
    const svg = lineChart({ series: [{ name: 'geo', x: [0, 1, 2, 3], y: [1, 0.1, 0.01, 0.001] }], logY: true, yLabel: 'loss' });
    const pixels = ys(seriesPaths(svg)[0]!.d);
    const gaps = pixels.slice(1).map((p, i) => p - pixels[i]!);
    for (const g of gaps) expect(g).toBeCloseTo(gaps[0]!, 1);
    for (const label of ['0.001', '0.01', '0.1', '1']) expect(svg).toContain(`dominant-baseline="middle">${label}<`);
    expect(svg).toContain('(log scale)');
  });

  test('on a log axis, zero, negative and non-finite values break the line instead of breaking the scale', () => {
    const svg = lineChart({ series: [{ name: 'gaps', x: [0, 1, 2, 3, 4, 5], y: [1, 0.1, 0, 0.01, -1, NaN] }], logY: true });
    checkWellFormed(svg);
    const d = seriesPaths(svg)[0]!.d;
    expect(d.match(/M/g)).toHaveLength(2); // restarted after the zero
    expect(d.match(/L/g)).toHaveLength(1);
    expect(d).not.toMatch(/NaN|Infinity/);
    expect(() => lineChart({ series: [{ name: 'none', x: [0, 1], y: [0, -2] }], logY: true })).toThrow(/log axis needs positive values/);
  });

  test('rejects an empty chart and mismatched series lengths', () => {
    expect(() => lineChart({ series: [] })).toThrow(/no series/);
    expect(() => lineChart({ series: [{ name: 'bad', x: [0, 1], y: [1] }] })).toThrow(/2 x and 1 y values/);
  });

  test('a constant series still gets a non-degenerate axis', () => {
    const svg = lineChart({ series: [{ name: 'flat', x: [0, 1, 2], y: [0.5, 0.5, 0.5] }] });
    expect(ys(seriesPaths(svg)[0]!.d).every((y) => Number.isFinite(y))).toBe(true);
  });

  test('tick helpers: nice linear steps, log decades, compact labels, XML escaping', () => {
    expect(niceTicks(0, 9.3).ticks).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(0.013, 0.048)).toMatchObject({ min: 0.01, max: 0.05 });
    expect(logTicks(0.003, 2.5).ticks).toEqual([0.001, 0.01, 0.1, 1, 10]);
    expect(logTicks(0.2, 0.9).ticks).toEqual([0.1, 0.2, 0.5, 1]);
    expect(formatTick(0.25)).toBe('0.25');
    expect(formatTick(1e-4)).toBe('1e-4');
    expect(formatTick(2e6)).toBe('2×1e6');
    expect(escapeXml(`a<b>&"c'`)).toBe('a&lt;b&gt;&amp;&quot;c&apos;');
  });
});

describe('command-line arguments', () => {
  test('defaults: the MLP suite on digits, seed 0, out/demo, log-scale plot', () => {
    const a = parseArgs([]);
    expect(a).toMatchObject({ help: false, suite: 'mlp', dataset: 'digits', seed: 0, out: 'out/demo', logY: true, dtype: 'float32' });
    expect(a.optimizers).toBeNull();
    expect(a.epochs).toBeNull();
    expect(DEFAULT_MLP_OPTIMIZERS).toEqual(['sgd', 'adam', 'adamw-cosine', 'lion', 'lbfgs']);
  });

  test('parses every option, in both --flag value and --flag=value forms, ignoring a lone --', () => {
    const a = parseArgs(['--', '--dataset', 'fashion', '--optimizers=adam,lion', '--epochs', '3', '--seed=-7', '--out', '/tmp/x']);
    expect(a).toMatchObject({ dataset: 'fashion', optimizers: ['adam', 'lion'], epochs: 3, seed: -7, out: '/tmp/x' });
    const b = parseArgs(['--hidden', '128,32', '--batch-size', '16', '--dtype', 'float64', '--linear-y', '--help']);
    expect(b).toMatchObject({ hidden: [128, 32], batchSize: 16, dtype: 'float64', logY: false, help: true });
    const c = parseArgs(['--suite', 'classic', '--problems', 'rosenbrock,beale', '--tol', '1e-8']);
    expect(c).toMatchObject({ suite: 'classic', problems: ['rosenbrock', 'beale'], tol: 1e-8 });
  });

  test.each([
    [['--epochs', '0'], /invalid --epochs: "0" \(expected a positive integer\)/],
    [['--epochs', '2.5'], /--epochs/],
    [['--dataset', 'mnist'], /invalid --dataset: "mnist" \(expected one of digits, fashion, iris, wine\)/],
    [['--suite', 'other'], /--suite/],
    [['--seed'], /--seed: undefined \(expected a value after the flag\)/],
    [['--seed', '--epochs', '3'], /--seed/],
    [['--optimizers', ','], /--optimizers/],
    [['--hidden', '64,x'], /--hidden/],
    [['--dtype', 'int8'], /--dtype/],
    [['--tol', '-1'], /--tol/],
    [['--frobnicate'], /invalid flag: "--frobnicate" \(expected a known option/],
  ])('rejects %j with an InvalidOptionError naming the flag', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(InvalidOptionError);
    expect(() => parseArgs(argv)).toThrow(message);
  });
});

describe('PNG rendering', () => {
  test('finds no renderer on an empty PATH', () => {
    expect(findRenderer('')).toBeNull();
  });

  test('finds an executable named like a renderer, and reports (not throws) when it fails', () => {
    const dir = mkdtempSync(join(tmpdir(), 'demo-render-'));
    try {
      const fake = join(dir, 'rsvg-convert');
      writeFileSync(fake, '#!/bin/sh\necho "cannot render" >&2\nexit 3\n', { mode: 0o755 });
      const r = findRenderer(dir);
      expect(r).toEqual({ name: 'rsvg-convert', path: fake });
      const reason = renderPng(r!, join(dir, 'in.svg'), join(dir, 'out.png'));
      expect(reason).toBe('rsvg-convert failed: cannot render');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('privacy suite', () => {
  test('--suite privacy parses with its options and an unknown suite names the three choices', () => {
    const args = parseArgs(['--suite', 'privacy', '--epochs', '2', '--seeded-noise']);
    expect(args.suite).toBe('privacy');
    expect(args.epochs).toBe(2);
    expect(args.seededNoise).toBe(true);
    expect(() => parseArgs(['--suite', 'dp'])).toThrow(/'mlp', 'classic' or 'privacy'/);
  });

  test('runs DP-SGD at each epsilon, prints the accountant table and writes the plot', () => {
    const out = mkdtempSync(join(tmpdir(), 'demo-privacy-'));
    const write = process.stdout.write;
    const logs: string[] = [];
    try {
      process.stdout.write = ((chunk: string) => logs.push(String(chunk)) > 0) as unknown as typeof process.stdout.write;
      const result = runPrivacy({ epochs: 1, seed: 0, out, seededNoise: true });
      expect(result.runs.map((r) => r.label)).toEqual(['non-private', 'ε = 1', 'ε = 3', 'ε = 8']);
      for (const r of result.runs.slice(1)) expect(r.epsilonSpent).toBeLessThanOrEqual(r.targetEpsilon);
    } finally {
      process.stdout.write = write;
    }
    expect(logs.join('')).toContain('NOT private');
    expect(logs.join('')).toContain('| ε = 8 | 8 |');
    expect(readFileSync(join(out, 'privacy.svg'), 'utf8')).toContain('<svg');
    rmSync(out, { recursive: true, force: true });
  });
});
