import { FOMAML, FunctionalMLP, MAML, MetaSGD, type MetaTask, SinusoidTaskSampler, sinusoidTestTasks } from '../src/index';

/** MSE of predicting 0 on every query point: E[y²], ≈ 4.25 for the default sinusoid family. */
function zeroPredictorMse(tasks: readonly MetaTask[]): number {
  let total = 0;
  for (const t of tasks) {
    let s = 0;
    for (let i = 0; i < t.query.size; i++) s += t.query.y[i]! ** 2;
    total += s / t.query.size;
  }
  return total / tasks.length;
}

describe('MAML family smoke meta-training on sinusoids (1-40-40-1 ReLU, 10 shots)', () => {
  const tasks = sinusoidTestTasks(100, { shots: 10, queryShots: 50, seed: 3 });
  const zero = zeroPredictorMse(tasks);

  test.each([
    ['MAML', (m: FunctionalMLP) => new MAML(m, { innerLr: 0.01, metaLr: 3e-3, seed: 0 })],
    ['FOMAML', (m: FunctionalMLP) => new FOMAML(m, { innerLr: 0.01, metaLr: 3e-3, seed: 0 })],
    ['MetaSGD', (m: FunctionalMLP) => new MetaSGD(m, { metaLr: 3e-3, seed: 0 })],
  ] as const)('%s meta-test MSE after one step falls well below predicting zero and below the untrained net', (_name, make) => {
    const model = new FunctionalMLP({ sizes: [1, 40, 40, 1], activation: 'relu' });
    const learner = make(model);
    const sampler = new SinusoidTaskSampler({ shots: 10, queryShots: 10, seed: 1 });
    const before = learner.evaluate(tasks, { steps: [1] }).mean[0]!;
    let early = 0;
    let late = 0;
    for (let i = 0; i < 400; i++) {
      const loss = learner.metaStep(sampler.batch(10));
      if (i < 50) early += loss / 50;
      if (i >= 350) late += loss / 50;
    }
    const after = learner.evaluate(tasks, { steps: [1] }).mean[0]!;
    expect(late).toBeLessThan(early);
    expect(after).toBeLessThan(before);
    expect(after).toBeLessThan(0.6 * zero);
  });
});
