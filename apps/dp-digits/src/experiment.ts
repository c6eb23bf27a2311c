/**
 * Private training of the digits MLP at several privacy budgets, and the non-private baseline: the code the
 * `dp-digits` app runs, exported so that the demo can run the same experiment (`runPrivateDigits`).
 */
import { SGD } from '@opt/core';
import { PrivacyEngine } from '@opt/privacy';
import { type Dataset, ClassificationObjective, batchOf, mlp, standardize, trainTestSplit } from '@opt/tasks';
import { loadDigits } from '@opt/tasks/node';
import { lineChart } from '@opt/app-kit';

/** Settings of {@link runPrivateDigits}. */
export interface PrivateDigitsOptions {
  /** Target ε values. Default `[1, 3, 8]`. */
  epsilons?: number[];
  /** δ. Default 1e-5. */
  delta?: number;
  /** Epochs of every run. Default 30 (quick: 8). */
  epochs?: number;
  /** Expected batch size. Default 64. */
  batchSize?: number;
  /** Clipping bound C. Default 1. */
  maxGradNorm?: number;
  /** Hidden layer widths. Default `[64]`. */
  hidden?: number[];
  /** Learning rate of the private runs' SGD (momentum 0.9). Default 0.05, the non-private run's. */
  lr?: number;
  /** Seed of the split, the initialisation and (in seeded mode) the noise. Default 0. */
  seed?: number;
  /** Use the seeded, NOT private noise (reproducible runs, tests). Default false: Web Crypto noise. */
  seededNoise?: boolean;
  /** Called after each epoch of each run with a label and the epoch. */
  onEpoch?: (label: string, epoch: number, epochs: number) => void;
}

/** The outcome of one run. */
export interface PrivateDigitsRun {
  /** `'non-private'` or `'ε = 3'`. */
  label: string;
  /** The target ε (Infinity for the non-private run). */
  targetEpsilon: number;
  /** σ calibrated by the RDP accountant (0 for the non-private run). */
  noiseMultiplier: number;
  /** ε actually spent, as the accountant reports it (Infinity for the non-private run). */
  epsilonSpent: number;
  /** Logical steps taken. */
  steps: number;
  /** Test accuracy after every epoch. */
  testAccuracy: number[];
  /** Final test accuracy. */
  accuracy: number;
}

/** Everything {@link runPrivateDigits} measured. */
export interface PrivateDigitsResult {
  /** The data description. */
  description: string;
  /** δ. */
  delta: number;
  /** The non-private run first, then one run per ε. */
  runs: PrivateDigitsRun[];
}

function prepare(seed: number): { train: Dataset; test: Dataset; description: string } {
  const { train, test } = trainTestSplit(loadDigits(), { testFraction: 0.2, seed, stratify: true });
  const s = standardize(train, test);
  return {
    train: s.train,
    test: s.test!,
    description: `digits: ${train.n} train / ${test.n} test, ${train.d} features, stratified 80/20 split (seed ${seed}), standardized`,
  };
}

/**
 * Train the digits MLP non-privately and with DP-SGD at each target ε (δ fixed), with the same model
 * initialisation, learning rate and number of epochs; σ for each ε comes from the RDP accountant through
 * `PrivacyEngine.makePrivate({ targetEpsilon, epochs })`, and the engine's accountant reports the ε spent.
 * Non-private training uses the same Poisson sampler (rate q) and plain mini-batch SGD with momentum.
 */
export function runPrivateDigits(options: PrivateDigitsOptions = {}): PrivateDigitsResult {
  const epsilons = options.epsilons ?? [1, 3, 8];
  const delta = options.delta ?? 1e-5;
  const epochs = options.epochs ?? 30;
  const batchSize = options.batchSize ?? 64;
  const clip = options.maxGradNorm ?? 1;
  const seed = options.seed ?? 0;
  const { train, test, description } = prepare(seed);
  const sizes = [train.d, ...(options.hidden ?? [64]), train.numClasses];
  const testBatch = batchOf(test, Int32Array.from({ length: test.n }, (_, i) => i), 'float64');
  const runs: PrivateDigitsRun[] = [];
  for (const target of [Infinity, ...epsilons]) {
    const label = target === Infinity ? 'non-private' : `ε = ${target}`;
    const objective = new ClassificationObjective(mlp({ sizes, seed }), train);
    const inner = new SGD(objective.parameters, { lr: target === Infinity ? 0.05 : (options.lr ?? 0.05), momentum: 0.9 });
    const engine = new PrivacyEngine({ onWarning: () => {} });
    const made = engine.makePrivate({
      optimizer: inner,
      dataSize: train.n,
      batchSize,
      ...(target === Infinity ? { noiseMultiplier: 1 } : { targetEpsilon: target, epochs }),
      maxGradNorm: clip,
      delta,
      noise: options.seededNoise === true ? 'seeded' : 'private',
      seed: seed + 7,
    });
    const accuracy: number[] = [];
    let steps = 0;
    for (let epoch = 0; epoch < epochs; epoch++) {
      for (const b of made.sampler) {
        const batch = batchOf(train, b.indices, 'float64');
        if (target === Infinity) {
          // Same sampler, no clipping or noise: plain mini-batch SGD (an empty batch is skipped).
          if (b.size > 0) {
            objective.lossAndGrad(batch);
            inner.step();
          }
        } else {
          made.optimizer.accumulate(objective, batch, b);
          if (b.lastPhysical) made.optimizer.step();
        }
        if (b.lastPhysical) steps++;
      }
      accuracy.push(objective.accuracy(testBatch));
      options.onEpoch?.(label, epoch + 1, epochs);
    }
    runs.push({
      label,
      targetEpsilon: target,
      noiseMultiplier: target === Infinity ? 0 : made.noiseMultiplier,
      epsilonSpent: target === Infinity ? Infinity : engine.getEpsilon(delta),
      steps,
      testAccuracy: accuracy,
      accuracy: accuracy[accuracy.length - 1]!,
    });
  }
  return { description, delta, runs };
}

/** The results as a markdown table: accuracy against ε with the accountant's numbers. */
export function privateDigitsTable(result: PrivateDigitsResult): string {
  const base = result.runs[0]!.accuracy;
  const lines = [
    `| run | target ε | noise multiplier σ | ε spent (RDP, δ = ${result.delta}) | steps | test accuracy | gap to non-private |`,
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of result.runs) {
    const priv = Number.isFinite(r.targetEpsilon);
    lines.push(
      `| ${r.label} | ${priv ? r.targetEpsilon : '∞'} | ${priv ? r.noiseMultiplier.toFixed(4) : '0'} | ${priv ? r.epsilonSpent.toFixed(4) : '∞'} | ` +
        `${r.steps} | ${(100 * r.accuracy).toFixed(1)} % | ${priv ? `${(100 * (base - r.accuracy)).toFixed(1)} points` : '-'} |`,
    );
  }
  return lines.join('\n');
}

/** An SVG chart of test accuracy per epoch, one line per run. */
export function privateDigitsChart(result: PrivateDigitsResult): string {
  return lineChart({
    title: `Digits MLP: DP-SGD test accuracy (δ = ${result.delta})`,
    xLabel: 'epoch',
    yLabel: 'test accuracy',
    series: result.runs.map((r) => ({ name: r.label, x: r.testAccuracy.map((_, i) => i + 1), y: r.testAccuracy })),
  });
}
