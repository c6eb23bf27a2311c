import { AntitheticES, MetaTrainer, UnrollObjective, familySampler, mlpLearnedOptimizerFactory } from '@opt/learned';
import { RandomQuadraticFamily } from '@opt/tasks';
import { Rng } from '@opt/tensor';
import { num, parseArgs } from './args.js';

/** Result of {@link smoke}. */
export interface SmokeResult {
  /** Mean meta-loss of the first and last 10 meta-steps (training tasks). */
  firstMetaLoss: number;
  lastMetaLoss: number;
  /** Mean meta-loss on held-out tasks of the untrained (= Adam) and the trained optimizer. */
  untrainedHeldOut: number;
  trainedHeldOut: number;
  metaSteps: number;
}

/**
 * A smoke meta-training (what CI runs, well under a minute): the hybrid MLP optimizer (hidden 4-4) meta-trained by
 * antithetic ES for `metaSteps` steps on 30-step runs over random quadratics (dimension 5-10, condition number 1-100),
 * then compared with its untrained self (exactly Adam(1e-2)) on 16 held-out quadratics.
 */
export function smoke(metaSteps = 60, seed = 0): SmokeResult {
  const factory = mlpLearnedOptimizerFactory({ lr: 1e-2, hidden: [4, 4], nonFinite: 'ignore' });
  const family = new RandomQuadraticFamily({ dimension: [5, 10], conditionNumber: [1, 100], startScale: 1 });
  const train = new UnrollObjective({ factory, sampler: familySampler(family, [0, 100_000]), horizon: 30 });
  const trainer = new MetaTrainer({
    factory,
    estimator: new AntitheticES({ objective: train, sigma: 0.05 }),
    metaOptimizer: { lr: 2e-2 },
    estimatesPerStep: 4,
    metaSteps,
    seed,
  });
  trainer.train();
  const held = new UnrollObjective({ factory, sampler: familySampler(family, [1_000_000, 1_000_016]), horizon: 30 });
  const heldOut = (theta: Float64Array): number => {
    let s = 0;
    for (let i = 0; i < 16; i++) {
      const sample = held.draw(new Rng(seed * 1000 + i));
      s += held.loss(theta, sample) / 16;
    }
    return s;
  };
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const losses = trainer.history.map((r) => r.metaLoss);
  return {
    firstMetaLoss: mean(losses.slice(0, 10)),
    lastMetaLoss: mean(losses.slice(-10)),
    untrainedHeldOut: heldOut(factory.initialMetaParams()),
    trainedHeldOut: heldOut(trainer.metaParams),
    metaSteps,
  };
}

/** `meta-train smoke [--meta-steps N] [--seed N]`: run {@link smoke} and print its result as JSON. */
export function run(argv: string[]): void {
  const args = parseArgs(argv);
  const result = smoke(num(args, 'meta-steps', 60), num(args, 'seed', 0));
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}
