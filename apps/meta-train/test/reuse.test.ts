import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decodeWeights, getWeightsRecord } from '@opt/learned';
import { V3_CONFIG, V7_CONFIG, V9_CONFIG, V11_CONFIG, V12_CONFIG, makeFactory } from '../src/config';
import { finalMetaParams, loadBaselines, warmStartParams, withFanInExponent } from '../src/reuse';

const REPO_ROOT = resolve(__dirname, '../../..');

describe('fine-tune warm starts', () => {
  test('v7 starts from the shipped v3 weights with the depth exponent appended at its starting value', () => {
    const count = makeFactory(V7_CONFIG).metaParamCount;
    const start = warmStartParams(V7_CONFIG, count, REPO_ROOT);
    const v3 = decodeWeights(getWeightsRecord('mlp-hybrid-v3')!);
    expect(start.length).toBe(v3.length + 1);
    expect(Array.from(start.subarray(0, v3.length))).toEqual(Array.from(v3));
    expect(start[count - 1]).toBe(-1.5);
  });

  test('v9 starts from the unshipped v8 record kept with its run, unchanged', () => {
    const count = makeFactory(V9_CONFIG).metaParamCount;
    const start = warmStartParams(V9_CONFIG, count, REPO_ROOT);
    const v8 = decodeWeights(JSON.parse(readFileSync(join(REPO_ROOT, 'apps/meta-train/runs/mlp-hybrid-v8/weights.json'), 'utf8')));
    expect(Array.from(start)).toEqual(Array.from(v8));
  });

  test('v11 is the shipped v9 weights with the fan-in exponent appended after γ, and the shipped v11 record is exactly that', () => {
    const count = makeFactory(V11_CONFIG).metaParamCount;
    const start = warmStartParams(V11_CONFIG, count, REPO_ROOT);
    const v9 = decodeWeights(getWeightsRecord('mlp-hybrid-v9')!);
    expect(Array.from(start)).toEqual([...Array.from(v9), -1]);
    // 0 meta-steps: what train wrote is the warm start itself (float32 values, stored as float32 again).
    expect(Array.from(decodeWeights(getWeightsRecord('mlp-hybrid-v11')!))).toEqual(Array.from(start));
  });

  test('v12 starts from the shipped v11 weights as they are (η already carried, nothing appended)', () => {
    const count = makeFactory(V12_CONFIG).metaParamCount;
    const start = warmStartParams(V12_CONFIG, count, REPO_ROOT);
    expect(Array.from(start)).toEqual(Array.from(decodeWeights(getWeightsRecord('mlp-hybrid-v11')!)));
  });

  test('a swept fan-in exponent replaces the trained η in the record and leaves every other meta-parameter alone', () => {
    const trained = Float64Array.from([0.5, -1.7, -1.057]);
    const out = finalMetaParams({ ...V12_CONFIG, sweptFanInExponent: -2 }, trained);
    expect(Array.from(out)).toEqual([0.5, -1.7, -2]);
    expect(trained[2]).toBe(-1.057);
    expect(finalMetaParams(V9_CONFIG, trained)).toBe(trained);
    expect(() => finalMetaParams({ ...V9_CONFIG, sweptFanInExponent: -2 }, trained)).toThrow(/fanInExponent/);
  });

  test('evaluate --fan-in-exponent appends η to a record without one and replaces the η a record carries', () => {
    expect(Array.from(withFanInExponent([0.5, -1.7], false, -1))).toEqual([0.5, -1.7, -1]);
    expect(Array.from(withFanInExponent([0.5, -1.7, -1.057], true, -2))).toEqual([0.5, -1.7, -2]);
  });

  test("the shipped v12 record carries its recipe's swept η and v11's architecture", () => {
    const v12 = decodeWeights(getWeightsRecord('mlp-hybrid-v12')!);
    expect(v12.length).toBe(makeFactory(V12_CONFIG).metaParamCount);
    expect(v12[v12.length - 1]).toBe(V12_CONFIG.sweptFanInExponent);
  });

  test('a warm start whose network does not line up with the recipe is refused', () => {
    const config = { ...V3_CONFIG, hidden: [16, 16] as [number, number], warmStart: { weights: 'mlp-hybrid-v3' } };
    expect(() => warmStartParams(config, makeFactory(config).metaParamCount, REPO_ROOT)).toThrow(/meta-parameters/);
  });
});

describe('--baselines-from', () => {
  const prior = {
    K: 120,
    grid: [1e-3, 1e-2],
    globalLr: 0.01,
    tasksPerSplit: 2,
    scoreSeeds: [1, 2, 3],
    taskSeeds: 'validation',
    tasks: ['in-distribution', 'in-distribution', 'ood-size', 'ood-size'].map((split, i) => ({
      split,
      name: `task-${i}`,
      losses: { adam: [[i]] },
      testLosses: { adam: [i] },
      tunedLr: { adam: [1e-2] },
    })),
  };
  const file = join(mkdtempSync(join(tmpdir(), 'reuse-')), 'prior.json');
  writeFileSync(file, JSON.stringify(prior));
  const expected = { K: 120, validation: true, tasks: 2, scoreSeeds: [1, 2, 3], grid: [1e-3, 1e-2] };

  test('indexes the earlier tasks by split and position, and keeps its adam-global lr', () => {
    const reuse = loadBaselines(file, expected);
    expect(reuse.globalLr).toBe(0.01);
    expect(reuse.tasks.map((t) => `${t.split}#${t.index}:${t.result.name}`)).toEqual([
      'in-distribution#0:task-0',
      'in-distribution#1:task-1',
      'ood-size#0:task-2',
      'ood-size#1:task-3',
    ]);
  });

  test.each([
    ['another K', { K: 100 }, /K 120 vs 100/],
    ['test tasks instead of validation ones', { validation: false }, /validation tasks, this run scores test tasks/],
    ['another lr grid', { grid: [1e-3] }, /another lr grid/],
    ['other score seeds', { scoreSeeds: [1] }, /other score seeds/],
    ['more tasks than it has', { tasks: 3 }, /2 tasks per split, this run needs 3/],
  ])('refuses an evaluation with %s', (_what, change, message) => {
    expect(() => loadBaselines(file, { ...expected, ...change })).toThrow(message);
  });
});
