import { Adam } from '@opt/core';
import { type MLPFeatureSpec, MLPLearnedOptimizer, availableWeights, getWeightsRecord, taskProblem } from '@opt/learned';
import { RECIPES, RECOMMENDED_WEIGHTS, recipeFor } from '../src/config';
import { SEEDS, SyntheticClassificationFamily } from '../src/families';

const shippedMlp = availableWeights().filter((name) => name.startsWith('mlp-hybrid-'));

describe('shipped mlp-hybrid weights', () => {
  test('every shipped mlp-hybrid record has a training recipe, and the recommended one is shipped', () => {
    expect(shippedMlp).toContain('mlp-hybrid-v1');
    expect(shippedMlp).toContain(RECOMMENDED_WEIGHTS);
    for (const name of shippedMlp) expect(Object.keys(RECIPES)).toContain(name);
  });

  test.each(shippedMlp)('%s carries the architecture, base lr, family and horizon of the recipe that trained it, and a full evaluation summary', (name) => {
    const record = getWeightsRecord(name)!;
    const recipe = recipeFor(name);
    const spec = record.featureSpec as MLPFeatureSpec;
    expect(spec.lr).toBe(recipe.lr);
    expect(spec.hidden).toEqual(recipe.hidden);
    expect(spec.timeScales).toEqual(recipe.timeScales);
    expect(spec.maxLogMagnitude).toBe(recipe.maxLogMagnitude);
    expect(spec.tensorFeatures ?? false).toBe(recipe.tensorFeatures);
    expect(spec.maxDirection ?? null).toBe(recipe.maxDirection);
    expect(spec.depthExponent ?? false).toBe(recipe.depthExponent);
    expect(spec.gateDirection ?? false).toBe(recipe.gateDirection ?? false);
    expect(spec.fanInExponent ?? false).toBe(recipe.fanInExponent ?? false);
    expect(record.horizon).toBe(recipe.K);
    expect((record.trainedOn as { family: unknown }).family).toEqual(recipe.family);
    expect(record.command).toContain(name === 'mlp-hybrid-v1' ? 'train' : `--name ${name}`);
    expect(record.evalSummary).not.toBeNull();
    // The protocol: at least 40 held-out tasks per split (a short check must not overwrite the summary).
    expect((record.evalSummary as { tasksPerSplit: number }).tasksPerSplit).toBeGreaterThanOrEqual(40);
  });

  test('the recommended weights train unseen tasks of their family further than their untrained self, Adam(lr0)', () => {
    const recipe = recipeFor(RECOMMENDED_WEIGHTS);
    const family = new SyntheticClassificationFamily(recipe.family);
    let wins = 0;
    const tasks = 8;
    for (let i = 0; i < tasks; i++) {
      // Meta-validation seeds (never meta-trained on, never in the published test split).
      const task = family.sample(SEEDS.validation + 2000 + i);
      const final = (learned: boolean): number => {
        const problem = taskProblem(task, 1);
        problem.reset();
        const opt = learned
          ? new MLPLearnedOptimizer(problem.parameters, { weights: RECOMMENDED_WEIGHTS })
          : new Adam(problem.parameters, { lr: recipe.lr });
        for (let t = 0; t < recipe.K; t++) {
          problem.lossAndGrad();
          opt.step();
        }
        return problem.trainLoss();
      };
      if (final(true) < final(false)) wins++;
    }
    expect(wins).toBeGreaterThanOrEqual(6);
  });
});
