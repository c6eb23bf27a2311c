// Per-step cost of the learned optimizers against Adam on the MLP tasks: the
// 64-32-10 ReLU classifier on the digits data set (2,410 parameters, the size of
// learned_optimization's ImageMLP_FashionMnist8_Relu32) at batch sizes 32 and 128.
//
// Build first:  npx tsc -p packages/tasks/tsconfig.build.json && npx tsc -p packages/learned/tsconfig.build.json
// Run:          node packages/learned/scripts/step-cost.mjs [--dtype float32|float64] [--steps 400] [--json]
//
// A "full step" is the forward/backward pass on one mini-batch plus the optimizer
// step (what training pays); "optimizer only" times the step alone on a fixed
// gradient. Each measurement is the median of 5 repetitions after a warm-up,
// and the optimizers are interleaved so machine load affects all alike.
import { Adam } from '@opt/core';
import { ClassificationObjective, batchOf, mlp, standardize, trainTestSplit } from '@opt/tasks';
import { loadDigits } from '@opt/tasks/node';
import {
  HybridOptimizer,
  HypergradientAdam,
  LearnedLRAdam,
  MLPLearnedOptimizer,
  mlpLearnedOptimizerFactory,
} from '../dist/index.js';

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const dtype = arg('dtype', 'float32');
const steps = Number(arg('steps', '400'));
const asJson = args.includes('--json');

const digits = loadDigits();
const { train } = standardize(trainTestSplit(digits, { testFraction: 0.2, seed: 0 }).train);

function trainedLikeMeta(count) {
  // Non-zero everywhere, so no branch is cheaper than in a trained optimizer.
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = 0.2 * Math.sin(7.3 * i + 1);
  return out;
}

const factory = mlpLearnedOptimizerFactory({ lr: 1e-3 });
const makers = {
  Adam: (ps) => new Adam(ps, { lr: 1e-3 }),
  'MLPLearnedOptimizer (8-8)': (ps) => new MLPLearnedOptimizer(ps, { weights: trainedLikeMeta(factory.metaParamCount), lr: 1e-3 }),
  'MLPLearnedOptimizer (32-32)': (ps) =>
    new MLPLearnedOptimizer(ps, {
      weights: trainedLikeMeta(mlpLearnedOptimizerFactory({ hidden: [32, 32] }).metaParamCount),
      config: { hidden: [32, 32] },
      lr: 1e-3,
    }),
  LearnedLRAdam: (ps) => new LearnedLRAdam(ps, { weights: 'untrained', lr: 1e-3 }),
  HypergradientAdam: (ps) => new HypergradientAdam(ps, { lr: 1e-3 }),
  'Hybrid(MLP, Adam)': (ps) =>
    new HybridOptimizer(new MLPLearnedOptimizer(ps, { weights: trainedLikeMeta(factory.metaParamCount), lr: 1e-3 }), new Adam(ps, { lr: 1e-3 }), {
      weight: 0.5,
    }),
};

function setup(batchSize) {
  const model = mlp({ sizes: [64, 32, 10], activation: 'relu', dtype, seed: 0 });
  const objective = new ClassificationObjective(model, train, { dtype });
  const batches = [];
  for (let b = 0; b < 8; b++) {
    const idx = Int32Array.from({ length: batchSize }, (_, i) => (b * batchSize + i) % train.n);
    batches.push(batchOf(train, idx, dtype));
  }
  return { objective, batches };
}

function time(fn) {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const results = [];
for (const batchSize of [32, 128]) {
  const envs = Object.fromEntries(
    Object.entries(makers).map(([name, make]) => {
      const { objective, batches } = setup(batchSize);
      return [name, { objective, batches, opt: make(objective.parameters) }];
    }),
  );
  const full = Object.fromEntries(Object.keys(makers).map((n) => [n, []]));
  const only = Object.fromEntries(Object.keys(makers).map((n) => [n, []]));
  for (let rep = 0; rep < 6; rep++) {
    for (const [name, { objective, batches, opt }] of Object.entries(envs)) {
      const ms = time(() => {
        for (let s = 0; s < steps; s++) {
          objective.lossAndGrad(batches[s % batches.length]);
          opt.step();
        }
      });
      const msOnly = time(() => {
        for (let s = 0; s < steps; s++) opt.step();
      });
      if (rep > 0) {
        full[name].push(ms / steps);
        only[name].push(msOnly / steps);
      }
    }
  }
  const adamFull = median(full.Adam);
  const adamOnly = median(only.Adam);
  for (const name of Object.keys(makers)) {
    results.push({
      batchSize,
      dtype,
      optimizer: name,
      params: envs[name].objective.parameters.reduce((n, p) => n + p.size, 0),
      fullStepMs: median(full[name]),
      optimizerMs: median(only[name]),
      fullStepRatio: median(full[name]) / adamFull,
      optimizerRatio: median(only[name]) / adamOnly,
    });
  }
}

if (asJson) {
  console.log(JSON.stringify(results, null, 2));
} else {
  console.log(`64-32-10 ReLU MLP on digits, ${dtype}, ${steps} steps per measurement (median of 5)`);
  console.log('| batch | optimizer | full step (ms) | × Adam | optimizer step (ms) | × Adam |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    console.log(
      `| ${r.batchSize} | ${r.optimizer} | ${r.fullStepMs.toFixed(3)} | ${r.fullStepRatio.toFixed(2)} | ${r.optimizerMs.toFixed(4)} | ${r.optimizerRatio.toFixed(1)} |`,
    );
  }
}
