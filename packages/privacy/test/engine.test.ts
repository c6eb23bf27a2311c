import { SGD } from '@opt/core';
import { ClassificationObjective, batchOf, createDataset, mlp } from '@opt/tasks';
import { InvalidOptionError, Rng } from '@opt/tensor';
import { PrivacyBudgetExceededError, PrivacyEngine, RDPAccountant, getNoiseMultiplier } from '../src/index';

function setup(seed = 0) {
  const rng = new Rng(seed + 1);
  const features: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < 60; i++) {
    labels.push(i % 2);
    features.push(rng.normal() + (i % 2), rng.normal());
  }
  const data = createDataset({ name: 'toy', features, labels, d: 2, numClasses: 2 });
  const objective = new ClassificationObjective(mlp({ sizes: [2, 4, 2], seed }), data);
  return { data, objective };
}

describe('PrivacyEngine', () => {
  test('the accountant is charged one (sigma, q) step per logical step', () => {
    const { data, objective } = setup();
    const engine = new PrivacyEngine({ onWarning: () => {} });
    const { optimizer, sampler } = engine.makePrivate({
      optimizer: new SGD(objective.parameters, { lr: 0.1 }),
      dataSize: data.n, batchSize: 6, noiseMultiplier: 1.2, maxGradNorm: 1, delta: 1e-5, noise: 'seeded', seed: 3,
    });
    for (const b of sampler) {
      optimizer.accumulate(objective, batchOf(data, b.indices, 'float64'), b);
      if (b.lastPhysical) optimizer.step();
    }
    const reference = new RDPAccountant();
    reference.step({ noiseMultiplier: 1.2, sampleRate: 0.1 }, sampler.steps);
    expect(engine.getEpsilon(1e-5)).toBeCloseTo(reference.getEpsilon(1e-5), 12);
  });

  test('targetEpsilon with epochs calibrates sigma and the planned run spends at most the target', () => {
    const { data, objective } = setup();
    const engine = new PrivacyEngine({ onWarning: () => {} });
    const run = engine.makePrivate({
      optimizer: new SGD(objective.parameters, { lr: 0.1 }),
      dataSize: data.n, sampleRate: 0.1, targetEpsilon: 3, epochs: 2, maxGradNorm: 1, delta: 1e-5, noise: 'seeded',
    });
    expect(run.plannedSteps).toBe(20);
    expect(run.noiseMultiplier).toBeCloseTo(getNoiseMultiplier({ targetEpsilon: 3, delta: 1e-5, sampleRate: 0.1, steps: 20 }), 12);
    for (let epoch = 0; epoch < 2; epoch++) {
      for (const b of run.sampler) {
        run.optimizer.accumulate(objective, batchOf(data, b.indices, 'float64'), b);
        if (b.lastPhysical) run.optimizer.step();
      }
    }
    expect(engine.getEpsilon()).toBeLessThanOrEqual(3);
    expect(engine.getEpsilon()).toBeGreaterThan(2.9);
  });

  test('a step that would exceed the budget throws before touching parameters or state', () => {
    const { data, objective } = setup();
    const engine = new PrivacyEngine({ onWarning: () => {} });
    const { optimizer, sampler } = engine.makePrivate({
      optimizer: new SGD(objective.parameters, { lr: 0.1, momentum: 0.9 }),
      dataSize: data.n, sampleRate: 0.2, noiseMultiplier: 0.8, targetEpsilon: 2, maxGradNorm: 1, delta: 1e-5, noise: 'seeded',
    });
    const allowed = optimizer.dpSteps + engine.stepsRemaining(optimizer);
    let caught: unknown = null;
    let params: Float64Array[] = [];
    let state = '';
    let epsilon = 0;
    for (let s = 0; s < allowed + 5 && caught === null; s++) {
      for (const b of sampler.nextLogicalBatch()) {
        optimizer.accumulate(objective, batchOf(data, b.indices, 'float64'), b);
        if (!b.lastPhysical) continue;
        params = objective.parameters.map((p) => p.data.slice() as Float64Array);
        state = JSON.stringify(optimizer.inner.stateDict());
        epsilon = engine.getEpsilon();
        try {
          optimizer.step();
        } catch (e) {
          caught = e;
        }
      }
    }
    expect(caught).toBeInstanceOf(PrivacyBudgetExceededError);
    expect(optimizer.dpSteps).toBe(allowed);
    expect((caught as PrivacyBudgetExceededError).epsilon).toBeGreaterThan(2);
    objective.parameters.forEach((p, k) => expect(Array.from(p.data)).toEqual(Array.from(params[k]!)));
    expect(JSON.stringify(optimizer.inner.stateDict())).toBe(state);
    expect(engine.getEpsilon()).toBe(epsilon);
    expect(epsilon).toBeLessThanOrEqual(2);
  });

  test('bad inputs are typed errors and delta >= 1/N is a warning', () => {
    const { data, objective } = setup();
    const warnings: string[] = [];
    const engine = new PrivacyEngine({ onWarning: (m) => warnings.push(m) });
    const base = { dataSize: data.n, sampleRate: 0.1, noiseMultiplier: 1, maxGradNorm: 1, delta: 1e-5, noise: 'seeded' as const };
    const opt = () => new SGD(objective.parameters, { lr: 0.1 });
    expect(() => engine.makePrivate({ ...base, optimizer: opt(), sampleRate: 0 })).toThrow(InvalidOptionError);
    expect(() => engine.makePrivate({ ...base, optimizer: opt(), sampleRate: 1.5 })).toThrow(/sampleRate/);
    expect(() => engine.makePrivate({ ...base, optimizer: opt(), noiseMultiplier: 0 })).toThrow(/noiseMultiplier/);
    expect(() => engine.makePrivate({ ...base, optimizer: opt(), maxGradNorm: -1 })).toThrow(/maxGradNorm/);
    expect(() => engine.makePrivate({ ...base, optimizer: opt(), sampling: 'fixed-size' })).toThrow(/sampling/);
    warnings.length = 0;
    engine.makePrivate({ ...base, optimizer: opt(), delta: 0.05 });
    expect(warnings.some((w) => w.includes('1/N'))).toBe(true);
  });
});
