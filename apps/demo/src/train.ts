/**
 * The default demo (`--suite mlp`): a ReLU MLP classifier trained on a real data set with several optimizers and
 * learning-rate schedules from the same initial weights, then a table of final train loss, test accuracy, wall time
 * and steps per second, the loss curves as SVG (and PNG when a renderer is installed) and the raw numbers as JSON.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Adagrad, Adam, AdamW, InvalidOptionError, LBFGS, Lion, NAdam, NonFiniteError, type Optimizer, type Parameter, RMSprop, SGD } from '@opt/core';
import { WarmupCosineLR } from '@opt/schedulers';
import {
  type Batch,
  BatchIterator,
  ClassificationObjective,
  type Dataset,
  batchOf,
  mlp,
  scaleFeatures,
  standardize,
  trainTestSplit,
} from '@opt/tasks';
import { loadDigits, loadFashionMnist, loadIris, loadWine } from '@opt/tasks/node';
import { DEFAULT_MLP_OPTIMIZERS, type DatasetName, type DemoArgs, type DTypeName } from './args.js';
import { ProgressBar, lineChart } from '@opt/app-kit';
import { findRenderer, renderPng } from './render.js';
import { formatTable } from './table.js';

/** Per-data-set defaults, chosen so the whole default demo finishes in well under a minute on two cores. */
interface DatasetDefaults {
  hidden: number[];
  epochs: number;
  batchSize: number;
  /** Full-batch gradient evaluations given to L-BFGS per mini-batch epoch of the others. */
  lbfgsEvalsPerEpoch: number;
}

const DEFAULTS: Record<DatasetName, DatasetDefaults> = {
  digits: { hidden: [64], epochs: 30, batchSize: 32, lbfgsEvalsPerEpoch: 5 },
  fashion: { hidden: [64], epochs: 6, batchSize: 64, lbfgsEvalsPerEpoch: 3 },
  iris: { hidden: [16], epochs: 100, batchSize: 16, lbfgsEvalsPerEpoch: 1 },
  wine: { hidden: [16], epochs: 100, batchSize: 16, lbfgsEvalsPerEpoch: 1 },
};

/** The standardized train and test parts of a data set, and how they were made. */
export interface PreparedData {
  train: Dataset;
  test: Dataset;
  description: string;
}

/**
 * Load and prepare a data set: a stratified, seeded 80/20 (digits) or 70/30 (iris, wine) split or Fashion-MNIST's
 * own train/test subsets, then features standardized with the training statistics (pixels scaled to [0, 1] first).
 */
export function prepareData(name: DatasetName, seed: number): PreparedData {
  let train: Dataset;
  let test: Dataset;
  let how: string;
  if (name === 'fashion') {
    train = scaleFeatures(loadFashionMnist({ split: 'train' }), 1 / 255);
    test = scaleFeatures(loadFashionMnist({ split: 'test' }), 1 / 255);
    how = 'Fashion-MNIST subset, given train/test split';
  } else {
    const full = name === 'digits' ? loadDigits() : name === 'iris' ? loadIris() : loadWine();
    const testFraction = name === 'digits' ? 0.2 : 0.3;
    ({ train, test } = trainTestSplit(full, { testFraction, seed, stratify: true }));
    how = `stratified ${Math.round((1 - testFraction) * 100)}/${Math.round(testFraction * 100)} split (seed ${seed})`;
  }
  const s = standardize(train, test);
  return {
    train: s.train,
    test: s.test!,
    description: `${name}: ${train.n} train / ${test.n} test examples, ${train.d} features, ${train.numClasses} classes; ${how}; standardized`,
  };
}

/** What an optimizer recipe needs to build itself. */
interface RecipeContext {
  stepsPerEpoch: number;
  totalSteps: number;
}

/** A trainer: an optimizer (and maybe a scheduler stepped after every update) over the model's parameters. */
interface Built {
  optimizer: Optimizer<object>;
  /** Called after every optimizer step. */
  afterStep?: () => void;
}

/** An optimizer set-up the demo can run. */
interface Recipe {
  id: string;
  /** Short label (progress bar, legend). */
  label: string;
  /** Hyper-parameters in words (table). */
  settings: string;
  /** Trained on the whole training set per step (with a closure) instead of mini-batches. */
  fullBatch: boolean;
  make(params: Parameter[], ctx: RecipeContext): Built;
}

const RECIPES: readonly Recipe[] = [
  {
    id: 'sgd',
    label: 'SGD+momentum',
    settings: 'lr 0.05, momentum 0.9',
    fullBatch: false,
    make: (p) => ({ optimizer: new SGD(p, { lr: 0.05, momentum: 0.9 }) }),
  },
  {
    id: 'nesterov',
    label: 'SGD+Nesterov',
    settings: 'lr 0.05, momentum 0.9, nesterov',
    fullBatch: false,
    make: (p) => ({ optimizer: new SGD(p, { lr: 0.05, momentum: 0.9, nesterov: true }) }),
  },
  {
    id: 'adam',
    label: 'Adam',
    settings: 'lr 1e-3',
    fullBatch: false,
    make: (p) => ({ optimizer: new Adam(p, { lr: 1e-3 }) }),
  },
  {
    id: 'adamw-cosine',
    label: 'AdamW+cosine',
    settings: 'lr 3e-3, wd 0.01, 1-epoch warm-up, cosine to 0',
    fullBatch: false,
    make: (p, ctx) => {
      const optimizer = new AdamW(p, { lr: 3e-3, weightDecay: 0.01 });
      const warmupSteps = Math.min(ctx.stepsPerEpoch, Math.floor(ctx.totalSteps / 4));
      const scheduler = new WarmupCosineLR(optimizer, { warmupSteps, totalSteps: Math.max(ctx.totalSteps, warmupSteps + 1) });
      return { optimizer, afterStep: () => scheduler.step() };
    },
  },
  {
    id: 'lion',
    label: 'Lion',
    settings: 'lr 3e-4, betas (0.9, 0.99)',
    fullBatch: false,
    make: (p) => ({ optimizer: new Lion(p, { lr: 3e-4 }) }),
  },
  {
    id: 'rmsprop',
    label: 'RMSprop',
    settings: 'lr 1e-3, alpha 0.99',
    fullBatch: false,
    make: (p) => ({ optimizer: new RMSprop(p, { lr: 1e-3 }) }),
  },
  {
    id: 'nadam',
    label: 'NAdam',
    settings: 'lr 2e-3',
    fullBatch: false,
    make: (p) => ({ optimizer: new NAdam(p, { lr: 2e-3 }) }),
  },
  {
    id: 'adagrad',
    label: 'Adagrad',
    settings: 'lr 0.05',
    fullBatch: false,
    make: (p) => ({ optimizer: new Adagrad(p, { lr: 0.05 }) }),
  },
  {
    id: 'lbfgs',
    label: 'L-BFGS',
    settings: 'full batch, strong Wolfe, history 20',
    fullBatch: true,
    // maxIter is small so that step() returns often enough to draw a curve; L-BFGS keeps its history across calls.
    make: (p) => ({ optimizer: new LBFGS(p, { lr: 1, maxIter: 5, historySize: 20, lineSearchFn: 'strong_wolfe' }) }),
  },
];

/** The ids `--optimizers` accepts in the MLP suite. */
export const RECIPE_IDS: readonly string[] = RECIPES.map((r) => r.id);

/** One training run's outcome. */
export interface RunResult {
  id: string;
  label: string;
  settings: string;
  /** Optimizer updates (L-BFGS: iterations). */
  steps: number;
  /** Full passes of gradient computation over the training set (L-BFGS: full-batch evaluations). */
  epochs: number;
  /** x of the curves: epochs of gradient computation; y: train loss / test accuracy at that point. */
  curve: { epoch: number[]; trainLoss: number[]; testAccuracy: number[] };
  finalTrainLoss: number;
  finalTrainAccuracy: number;
  finalTestAccuracy: number;
  /** Seconds spent in training (gradients and updates), excluding the evaluations for the curves. */
  trainSeconds: number;
  diverged: boolean;
}

function now(): number {
  return performance.now() / 1000;
}

function trainOne(recipe: Recipe, data: PreparedData, args: DemoArgs, d: DatasetDefaults, dtype: DTypeName): RunResult {
  const epochs = args.epochs ?? d.epochs;
  const batchSize = args.batchSize ?? d.batchSize;
  const sizes = [data.train.d, ...(args.hidden ?? d.hidden), data.train.numClasses];
  // Every optimizer starts from the same weights (same seed) and sees batches in the same order.
  const model = mlp({ sizes, activation: 'relu', dtype, seed: args.seed });
  const objective = new ClassificationObjective(model, data.train, { dtype });
  const testBatch: Batch = batchOf(data.test, Int32Array.from({ length: data.test.n }, (_, i) => i), dtype);
  const curve = { epoch: [] as number[], trainLoss: [] as number[], testAccuracy: [] as number[] };
  const record = (epoch: number) => {
    curve.epoch.push(epoch);
    curve.trainLoss.push(objective.loss());
    curve.testAccuracy.push(objective.accuracy(testBatch));
  };
  record(0);
  let trainSeconds = 0;
  let steps = 0;
  let diverged = false;
  let epochsDone = 0;

  if (recipe.fullBatch) {
    const budget = epochs * d.lbfgsEvalsPerEpoch;
    const { optimizer } = recipe.make(objective.parameters, { stepsPerEpoch: 1, totalSteps: budget });
    let evals = 0;
    const closure = () => {
      evals++;
      return objective.lossAndGrad();
    };
    const bar = new ProgressBar(recipe.label, budget);
    try {
      while (evals < budget) {
        const evalsBefore = evals;
        const itersBefore = lbfgsIterations(optimizer);
        const t0 = now();
        optimizer.step(closure);
        trainSeconds += now() - t0;
        bar.tick(evals - evalsBefore);
        record(evals);
        if (!Number.isFinite(curve.trainLoss[curve.trainLoss.length - 1]!)) {
          diverged = true;
          break;
        }
        // A step without a new iteration means a tolerance was met at the start: L-BFGS has converged.
        if (lbfgsIterations(optimizer) === itersBefore) break;
      }
    } catch (e) {
      if (!(e instanceof NonFiniteError)) throw e;
      diverged = true;
    }
    steps = lbfgsIterations(optimizer);
    epochsDone = evals;
    bar.finish();
  } else {
    // One seeded iterator over all epochs: the same batch sequence for every optimizer.
    const all = new BatchIterator(data.train, { batchSize, shuffle: true, seed: args.seed + 1, epochs, dtype });
    const ctx: RecipeContext = { stepsPerEpoch: all.batchesPerEpoch, totalSteps: all.totalSteps };
    const { optimizer, afterStep } = recipe.make(objective.parameters, ctx);
    const bar = new ProgressBar(recipe.label, epochs);
    try {
      for (let epoch = 1; epoch <= epochs && !diverged; epoch++) {
        const t0 = now();
        for (let b = 0; b < all.batchesPerEpoch; b++) {
          const batch = all.next().value as Batch;
          objective.lossAndGrad(batch);
          optimizer.step();
          afterStep?.();
          steps++;
        }
        trainSeconds += now() - t0;
        record(epoch);
        epochsDone = epoch;
        bar.tick();
        if (!Number.isFinite(curve.trainLoss[curve.trainLoss.length - 1]!)) diverged = true;
      }
    } catch (e) {
      if (!(e instanceof NonFiniteError)) throw e;
      diverged = true;
    }
    bar.finish();
  }
  const last = curve.trainLoss.length - 1;
  return {
    id: recipe.id,
    label: recipe.label,
    settings: recipe.settings,
    steps,
    epochs: epochsDone,
    curve,
    finalTrainLoss: curve.trainLoss[last]!,
    finalTrainAccuracy: objective.accuracy(),
    finalTestAccuracy: curve.testAccuracy[last]!,
    trainSeconds,
    diverged,
  };
}

function lbfgsIterations(optimizer: Optimizer<object>): number {
  const first = optimizer.paramGroups[0]!.params[0]!;
  const state = optimizer.state.get(first) as { n_iter?: number } | undefined;
  return state?.n_iter ?? 0;
}

/** Resolve `--optimizers` to recipes, in the order given. */
export function chooseRecipes(ids: readonly string[] | null): Recipe[] {
  const wanted = ids ?? DEFAULT_MLP_OPTIMIZERS;
  return wanted.map((id) => {
    const recipe = RECIPES.find((r) => r.id === id.toLowerCase());
    if (!recipe) throw new InvalidOptionError('--optimizers', id, `one of ${RECIPE_IDS.join(', ')}`, 'demo');
    return recipe;
  });
}

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
/** Four decimals, or three significant digits in exponent form for losses driven close to zero. */
const formatLoss = (v: number) => (v !== 0 && Math.abs(v) < 1e-3 ? v.toExponential(2) : v.toFixed(4));

/** Run the MLP demo: train, print the table, write the plots and results. */
export function runMlp(args: DemoArgs): void {
  const recipes = chooseRecipes(args.optimizers);
  const d = DEFAULTS[args.dataset];
  const data = prepareData(args.dataset, args.seed);
  const sizes = [data.train.d, ...(args.hidden ?? d.hidden), data.train.numClasses];
  process.stdout.write(`${data.description}\n`);
  process.stdout.write(
    `model: ReLU MLP ${sizes.join('-')} (${args.dtype}), seed ${args.seed}, ${args.epochs ?? d.epochs} epochs, ` +
      `batch size ${args.batchSize ?? d.batchSize}\n\n`,
  );

  const results = recipes.map((r) => trainOne(r, data, args, d, args.dtype));

  const rows = results.map((r) => [
    r.label,
    r.settings,
    String(r.epochs),
    String(r.steps),
    r.diverged ? 'diverged' : formatLoss(r.finalTrainLoss),
    pct(r.finalTrainAccuracy),
    pct(r.finalTestAccuracy),
    r.trainSeconds.toFixed(2),
    r.trainSeconds > 0 ? (r.steps / r.trainSeconds).toFixed(0) : 'n/a',
  ]);
  process.stdout.write(
    '\n' +
      formatTable(['optimizer', 'settings', 'epochs', 'steps', 'train loss', 'train acc', 'test acc', 'wall s', 'steps/s'], rows) +
      '\n\n',
  );
  const best = results.filter((r) => !r.diverged).sort((a, b) => b.finalTestAccuracy - a.finalTestAccuracy)[0];
  if (best) process.stdout.write(`Best test accuracy: ${pct(best.finalTestAccuracy)} (${best.label})\n`);
  process.stdout.write(
    '(epochs: passes of gradient computation over the training set; for L-BFGS, full-batch evaluations, and its steps are iterations)\n',
  );

  const outDir = resolve(args.out);
  mkdirSync(outDir, { recursive: true });
  const lossSvg = lineChart({
    series: results.map((r) => ({ name: r.label, x: r.curve.epoch, y: r.curve.trainLoss })),
    title: `Training loss, ${args.dataset} (MLP ${sizes.join('-')})`,
    xLabel: 'epochs of gradient computation',
    yLabel: 'train cross-entropy',
    logY: args.logY,
  });
  const accSvg = lineChart({
    series: results.map((r) => ({ name: r.label, x: r.curve.epoch, y: r.curve.testAccuracy.map((a) => 100 * a) })),
    title: `Test accuracy, ${args.dataset}`,
    xLabel: 'epochs of gradient computation',
    yLabel: 'test accuracy (%)',
  });
  const lossPath = join(outDir, 'loss.svg');
  writeFileSync(lossPath, lossSvg);
  writeFileSync(join(outDir, 'accuracy.svg'), accSvg);
  const report = {
    dataset: args.dataset,
    description: data.description,
    model: { sizes, activation: 'relu', dtype: args.dtype },
    seed: args.seed,
    runs: results,
  };
  writeFileSync(join(outDir, 'results.json'), JSON.stringify(report, null, 1) + '\n');
  process.stdout.write(`\nWrote ${lossPath}, ${join(outDir, 'accuracy.svg')}, ${join(outDir, 'results.json')}\n`);

  const renderer = findRenderer();
  if (!renderer) {
    process.stdout.write('PNG skipped: no renderer (install librsvg2-bin for rsvg-convert, or ImageMagick)\n');
    return;
  }
  for (const name of ['loss', 'accuracy']) {
    const png = join(outDir, `${name}.png`);
    const failure = renderPng(renderer, join(outDir, `${name}.svg`), png);
    process.stdout.write(failure ? `PNG skipped: ${failure}\n` : `Wrote ${png} (${renderer.name})\n`);
    if (failure) break;
  }
}
