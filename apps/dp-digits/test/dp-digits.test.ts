import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { privateDigitsChart, privateDigitsTable, runPrivateDigits } from '../src/experiment';

describe('private digits example (quick mode)', () => {
  test('trains at each epsilon, spends at most the target and prints accuracy against epsilon', () => {
    const result = runPrivateDigits({ epochs: 3, epsilons: [1, 8], seededNoise: true });
    expect(result.runs.map((r) => r.label)).toEqual(['non-private', 'ε = 1', 'ε = 8']);
    for (const r of result.runs.slice(1)) {
      expect(r.epsilonSpent).toBeLessThanOrEqual(r.targetEpsilon);
      expect(r.epsilonSpent).toBeGreaterThan(0.9 * r.targetEpsilon);
      expect(r.noiseMultiplier).toBeGreaterThan(0);
    }
    expect(result.runs[1]!.noiseMultiplier).toBeGreaterThan(result.runs[2]!.noiseMultiplier);
    // Chance is 10 %; even three epochs of DP-SGD at epsilon 8 learn the digits.
    expect(result.runs[2]!.accuracy).toBeGreaterThan(0.5);
    const table = privateDigitsTable(result);
    expect(table).toContain('| ε = 8 | 8 |');
    expect(privateDigitsChart(result)).toContain('<svg');
  });

  test('the command line quick mode writes the table and the SVG plot', () => {
    const out = mkdtempSync(join(tmpdir(), 'dp-digits-'));
    const argv = process.argv;
    const write = process.stdout.write;
    const logs: string[] = [];
    try {
      process.argv = ['node', 'main.js', '--quick', '--epochs', '1', '--out', out];
      process.stdout.write = ((chunk: string) => logs.push(String(chunk)) > 0) as unknown as typeof process.stdout.write;
      jest.isolateModules(() => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        require('../src/main');
      });
    } finally {
      process.argv = argv;
      process.stdout.write = write;
    }
    expect(logs.join('')).toContain('ε spent');
    expect(readFileSync(join(out, 'accuracy.svg'), 'utf8')).toContain('<svg');
    expect(readFileSync(join(out, 'results.md'), 'utf8')).toContain('non-private');
    rmSync(out, { recursive: true, force: true });
  });
});
