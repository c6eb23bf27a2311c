import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { V3_CONFIG, V10_CONFIG, recipeFor } from '../src/config';
import { parseSplits } from '../src/splits';
import { SEEDS, SyntheticClassificationFamily } from '../src/families';

const inputs = (name: string): number => Number(/\/(\d+)-/.exec(name)![1]);

describe('SyntheticClassificationFamily', () => {
  test('a family without wide tasks draws the tasks it always drew: those of the published v3 evaluation', () => {
    const published = JSON.parse(readFileSync(join(__dirname, '../../../packages/learned/evaluation/mlp-hybrid-v3.json'), 'utf8')) as {
      tasks: { split: string; name: string }[];
    };
    const names = published.tasks.filter((t) => t.split === 'in-distribution').map((t) => t.name);
    expect(names.length).toBeGreaterThanOrEqual(40);
    const family = new SyntheticClassificationFamily(V3_CONFIG.family);
    expect(names.map((_, i) => family.sample(SEEDS.test + i).name)).toEqual(names);
  });

  test('wide tasks make up about their share of the family, with inputs, classes and examples in their ranges', () => {
    const wide = V10_CONFIG.family.wide!;
    const family = new SyntheticClassificationFamily(V10_CONFIG.family);
    const base = new SyntheticClassificationFamily(V3_CONFIG.family);
    let drawn = 0;
    const n = 200;
    for (let seed = 0; seed < n; seed++) {
      const task = family.sample(seed);
      if (task.trainSet.n + task.testSet.n === wide.examples) {
        drawn++;
        expect(inputs(task.name)).toBeGreaterThanOrEqual(wide.inputDims[0]);
        expect(inputs(task.name)).toBeLessThanOrEqual(wide.inputDims[1]);
        expect(task.trainSet.numClasses).toBeGreaterThanOrEqual(wide.classes[0]);
        expect(task.trainSet.numClasses).toBeLessThanOrEqual(wide.classes[1]);
      } else {
        // The other seeds draw exactly the base family's task.
        expect(task.name).toBe(base.sample(seed).name);
      }
    }
    expect(drawn / n).toBeGreaterThan(wide.share - 0.1);
    expect(drawn / n).toBeLessThan(wide.share + 0.1);
  });
});

describe('recipeFor', () => {
  test('a known version gets its own recipe, an experiment name gets v3, --recipe picks one explicitly', () => {
    expect(recipeFor('mlp-hybrid-v10')).toBe(V10_CONFIG);
    expect(recipeFor('my-experiment')).toBe(V3_CONFIG);
    expect(recipeFor('my-experiment', 'v10')).toBe(V10_CONFIG);
  });

  test('an mlp-hybrid version without a recipe is refused instead of silently trained as v3', () => {
    expect(() => recipeFor('mlp-hybrid-v99')).toThrow(/unknown recipe 'mlp-hybrid-v99'/);
    expect(() => recipeFor('my-experiment', 'v99')).toThrow(/unknown recipe 'v99'/);
  });
});

describe('evaluate --splits', () => {
  test('takes a subset in the evaluation order and all four by default', () => {
    expect(parseSplits(undefined)).toEqual(['in-distribution', 'ood-size', 'ood-activation', 'ood-datasets']);
    expect(parseSplits('ood-datasets,in-distribution')).toEqual(['in-distribution', 'ood-datasets']);
  });

  test('refuses a split it does not know, naming the known ones', () => {
    expect(() => parseSplits('ood-datasets,wine')).toThrow(/unknown split\(s\) wine \(known: in-distribution/);
  });
});
