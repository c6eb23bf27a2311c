import { Parameter, Rng } from '@opt/tensor';
import {
  L2LQuadraticFamily,
  LSTMLearnedOptimizer,
  TbpttTrainer,
  TeacherStudentMLPFamily,
  TruncatedBPTT,
  type TbpttProblem,
  type TbpttProblemFamily,
  initLSTMMetaParams,
  lstmLayout,
} from '../src/index';

/** f(θ) = c·θ: the gradient does not depend on θ, so the first-order meta-gradient is the exact one. */
class LinearFamily implements TbpttProblemFamily {
  readonly name = 'linear';
  sample(seed: number): TbpttProblem {
    const c = new Rng(seed).fillNormal(new Float64Array(3), 0, 0.3);
    return {
      name: `linear/${seed}`,
      size: 3,
      init: (theta) => theta.fill(0.5),
      lossAndGrad: (theta, grad) => {
        let l = 0;
        for (let i = 0; i < 3; i++) {
          l += c[i]! * theta[i]!;
          grad[i] = c[i]!;
        }
        return l;
      },
    };
  }
}

function windowLoss(mode: 'pure' | 'adam-correction', meta: Float64Array): number {
  const est = new TruncatedBPTT({ family: new LinearFamily(), mode, hidden: 3, unroll: 6, metaLoss: 'mean', scale: 0.1, lr: 0.05 });
  return est.estimate(meta, new Float64Array(meta.length), { metaStep: 0, index: 0, seed: 4 });
}

describe('TruncatedBPTT', () => {
  it.each(['pure', 'adam-correction'] as const)('the first-order meta-gradient matches finite differences where it is exact (%s)', (mode) => {
    const layout = lstmLayout(mode === 'pure' ? 2 : 3, 3);
    const meta = initLSTMMetaParams(layout, false, 2);
    new Rng(9).addNormal(meta, 0.3);
    const est = new TruncatedBPTT({ family: new LinearFamily(), mode, hidden: 3, unroll: 6, metaLoss: 'mean', scale: 0.1, lr: 0.05 });
    const grad = new Float64Array(layout.count);
    est.estimate(meta, grad, { metaStep: 0, index: 0, seed: 4 });
    const eps = 1e-6;
    let worst = 0;
    let scale = 0;
    for (let j = 0; j < layout.count; j++) {
      const keep = meta[j]!;
      meta[j] = keep + eps;
      const up = windowLoss(mode, meta);
      meta[j] = keep - eps;
      const down = windowLoss(mode, meta);
      meta[j] = keep;
      worst = Math.max(worst, Math.abs((up - down) / (2 * eps) - grad[j]!));
      scale = Math.max(scale, Math.abs(grad[j]!));
    }
    expect(scale).toBeGreaterThan(1e-4);
    expect(worst / scale).toBeLessThan(1e-6);
  });

  it('a resumed meta-training run continues bit-identically', () => {
    const make = (): TbpttTrainer =>
      new TbpttTrainer({
        estimator: new TruncatedBPTT({ family: new L2LQuadraticFamily({ batch: 2, dimension: 3 }), hidden: 4, unroll: 5, horizon: 10, particles: 2 }),
        metaParams: initLSTMMetaParams(lstmLayout(2, 4), false, 1),
        seed: 3,
      });
    const straight = make();
    for (let i = 0; i < 7; i++) straight.step();
    const first = make();
    for (let i = 0; i < 3; i++) first.step();
    const saved = JSON.parse(JSON.stringify(first.stateDict()));
    const resumed = make();
    resumed.loadStateDict(saved);
    for (let i = 0; i < 4; i++) resumed.step();
    expect(Array.from(resumed.metaParams)).toEqual(Array.from(straight.metaParams));
  });

  it('the teacher-student MLP gradient matches finite differences', () => {
    const problem = new TeacherStudentMLPFamily({ inputs: 3, hidden: 4, examples: 5, activation: 'tanh' }).sample(2);
    const theta = new Float64Array(problem.size);
    problem.init(theta, 1);
    const grad = new Float64Array(problem.size);
    problem.lossAndGrad(theta, grad);
    const scratch = new Float64Array(problem.size);
    let worst = 0;
    for (let i = 0; i < problem.size; i++) {
      const keep = theta[i]!;
      theta[i] = keep + 1e-6;
      const up = problem.lossAndGrad(theta, scratch);
      theta[i] = keep - 1e-6;
      const down = problem.lossAndGrad(theta, scratch);
      theta[i] = keep;
      worst = Math.max(worst, Math.abs((up - down) / 2e-6 - grad[i]!));
    }
    expect(worst).toBeLessThan(1e-7);
  });

  it('smoke meta-training on L2L quadratics lowers the held-out loss of the LSTM optimizer', () => {
    const family = new L2LQuadraticFamily({ batch: 4, dimension: 10 });
    const hidden = 8;
    const meta = initLSTMMetaParams(lstmLayout(2, hidden), false, 0);
    const heldOut = (): number => {
      let total = 0;
      for (let task = 0; task < 4; task++) {
        const problem = family.sample(1_000_000 + task);
        const theta = new Float64Array(problem.size);
        problem.init(theta, 7);
        const p = new Parameter(theta, [problem.size]);
        const opt = new LSTMLearnedOptimizer([p], { metaParams: meta, hidden });
        const g = p.ensureGrad();
        let logLoss = 0;
        for (let t = 0; t < 100; t++) {
          problem.lossAndGrad(theta, g as Float64Array);
          opt.step();
          logLoss += Math.log(problem.lossAndGrad(theta, new Float64Array(problem.size))) / 100;
        }
        total += logLoss / 4;
      }
      return total;
    };
    const before = heldOut();
    const trainer = new TbpttTrainer({
      estimator: new TruncatedBPTT({ family, hidden, unroll: 20, horizon: 100, particles: 2 }),
      metaParams: meta,
      lr: 3e-3,
      seed: 1,
    });
    for (let i = 0; i < 150; i++) trainer.step();
    const after = heldOut();
    expect(after).toBeLessThan(before - 0.5);
  });
});
