import { Adam, SGD } from '@opt/core';
import { SinusoidFamily, checkGradient } from '../src/index';

describe('SinusoidFamily', () => {
  const family = new SinusoidFamily();

  test('defaults follow Finn et al. (2017): A ~ U[0.1, 5], φ ~ U[0, π], x ~ U[−5, 5], y = A·sin(x − φ)', () => {
    let sumA = 0;
    let sumPhase = 0;
    const tasks = 300;
    for (let seed = 0; seed < tasks; seed++) {
      const task = family.sample(seed);
      expect(task.amplitude).toBeGreaterThanOrEqual(0.1);
      expect(task.amplitude).toBeLessThanOrEqual(5);
      expect(task.phase).toBeGreaterThanOrEqual(0);
      expect(task.phase).toBeLessThanOrEqual(Math.PI);
      sumA += task.amplitude;
      sumPhase += task.phase;
    }
    // Uniform means 2.55 and π/2; standard errors ≈ 0.08 and 0.05 over 300 tasks.
    expect(Math.abs(sumA / tasks - 2.55)).toBeLessThan(0.3);
    expect(Math.abs(sumPhase / tasks - Math.PI / 2)).toBeLessThan(0.2);
    const task = family.sample(1);
    const s = task.support(50);
    for (let i = 0; i < 50; i++) {
      expect(Math.abs(s.x[i]!)).toBeLessThanOrEqual(5);
      expect(s.y[i]).toBeCloseTo(task.amplitude * Math.sin(s.x[i]! - task.phase), 14);
    }
  });

  test('the default model is an MLP 1-40-40-1 with ReLU, as in MAML', () => {
    const task = family.sample(0);
    expect(task.params.shapes).toEqual([[40, 1], [40], [40, 40], [40], [1, 40], [1]]);
    expect(task.params.names).toEqual(['0.weight', '0.bias', '2.weight', '2.bias', '4.weight', '4.bias']);
    expect(task.model.layers[1]!.constructor.name).toBe('ReLU');
  });

  test('sampling is reproducible; support(k) is a prefix of support(k + 1); query points are a separate stream', () => {
    const a = family.sample(7);
    const b = family.sample(7);
    expect([a.amplitude, a.phase, a.name]).toEqual([b.amplitude, b.phase, b.name]);
    expect(Array.from(a.support(5).x)).toEqual(Array.from(b.support(5).x));
    expect(Array.from(a.support(5).x)).toEqual(Array.from(a.support(8).x.subarray(0, 5)));
    expect(Array.from(a.query(5).x)).not.toEqual(Array.from(a.support(5).x));
    a.objective.parameters.forEach((p, k) => expect(Array.from(p.data)).toEqual(Array.from(b.objective.parameters[k]!.data)));
    expect(family.sample(8).amplitude).not.toBe(a.amplitude);
  });

  test("the task objective is the MSE over support(shots), with gradients matching finite differences", () => {
    const small = new SinusoidFamily({ hidden: [6, 5], activation: 'tanh' });
    const task = small.sample(2);
    const support = task.support(10);
    const pred = task.model.forward(support.x, 10);
    let mse = 0;
    for (let i = 0; i < 10; i++) mse += (pred[i]! - support.y[i]!) ** 2 / 10;
    expect(task.objective.loss()).toBeCloseTo(mse, 14);
    expect(checkGradient(task.objective)).toBeLessThan(1e-7);
    expect(checkGradient(task.objective, { batch: task.query(7) })).toBeLessThan(1e-7);
  });

  test('objectiveFor(model) trains a shared (meta) model in place: a MAML-style inner step lowers the support loss', () => {
    const meta = family.createModel(0);
    const task = family.sample(4);
    const inner = task.objectiveFor(meta, task.support(10));
    expect(inner.parameters[0]).toBe(meta.parameters[0]);
    const before = inner.loss();
    const opt = new SGD(inner.parameters, { lr: 0.01 });
    opt.step(() => inner.lossAndGrad());
    expect(inner.loss()).toBeLessThan(before);
    expect(Number.isFinite(inner.loss(task.query(10)))).toBe(true);
  });

  test('fitting a task with Adam drives the support loss down; evaluate reports support and query MSE; reset restores', () => {
    const task = family.sample(5);
    const start = task.evaluate();
    const opt = new Adam(task.objective.parameters, { lr: 1e-2 });
    for (let step = 0; step < 300; step++) opt.step(() => task.objective.lossAndGrad());
    const end = task.evaluate();
    expect(end.trainLoss).toBeLessThan(0.05 * start.trainLoss);
    expect(Number.isFinite(end.testLoss)).toBe(true);
    task.reset();
    expect(task.evaluate().trainLoss).toBe(start.trainLoss);
  });

  test('float32 tasks give float32 points and models', () => {
    const task = new SinusoidFamily({ dtype: 'float32' }).sample(1);
    const s = task.support(4);
    expect(s.x).toBeInstanceOf(Float32Array);
    expect(task.objective.parameters[0]!.data).toBeInstanceOf(Float32Array);
    for (let i = 0; i < 4; i++) expect(s.y[i]).toBe(Math.fround(task.target(s.x[i]!)));
  });

  test('invalid ranges and sizes are rejected with the option named', () => {
    expect(() => new SinusoidFamily({ amplitude: [5, 0.1] })).toThrow(/amplitude/);
    expect(() => new SinusoidFamily({ hidden: [0] })).toThrow(/hidden\[0\]/);
    expect(() => new SinusoidFamily({ shots: 0 })).toThrow(/shots/);
    expect(() => family.sample(0).support(0)).toThrow(/k/);
  });
});
