/**
 * `meta-train trainTransformer`: the per-tensor attention controller over the
 * hybrid MLP optimizer. Distils the controller's head to neutral on tokens
 * recorded while the MLP optimizer trains (so it starts as exactly the MLP
 * optimizer), meta-trains it with antithetic ES on the synthetic classification
 * family, evaluates it on held-out tasks against per-task-tuned Adam, and writes
 * the `transformer-ctrl-v1` weight record.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Adam, type Optimizer } from '@opt/core';
import {
  AntitheticES,
  type InnerProblem,
  type LearnedOptimizerFactory,
  TOKEN_FEATURES,
  TOKEN_FEATURE_NAMES,
  TransformerLearnedOptimizer,
  UnrollObjective,
  controllerLayout,
  distillControllerHead,
  encodeWeights,
  familySampler,
  getWeightsRecord,
  resolveControllerConfig,
  taskProblem,
  transformerLearnedOptimizerFactory,
} from '@opt/learned';
import { OOD_ACTIVATION_FAMILY, SEEDS, SyntheticClassificationFamily, TRAIN_FAMILY } from './families.js';
import { LR_GRID, gitCommit, num, parseFlags, repoRoot, summarise, writeAtomic, writeWeightRecord } from './lstm.js';

/** Final full-training-set loss after `steps` updates (NaN if the run diverged). */
function finalLoss(problem: InnerProblem, opt: Optimizer<object>, steps: number, onStep?: (t: number) => void): number {
  const closureLoss = { value: 0 };
  const closure = (): number => closureLoss.value;
  for (let t = 0; t < steps; t++) {
    onStep?.(t);
    closureLoss.value = problem.lossAndGrad();
    if (!Number.isFinite(closureLoss.value)) return NaN;
    opt.step(closure);
  }
  const loss = problem.trainLoss();
  return Number.isFinite(loss) ? loss : NaN;
}

function adamLoss(task: ReturnType<SyntheticClassificationFamily['sample']>, dataSeed: number, lr: number, steps: number, cosine: boolean): number {
  const problem = taskProblem(task, dataSeed, 32);
  problem.reset();
  const opt = new Adam(problem.parameters, { lr });
  const onStep = cosine
    ? (t: number) => {
        opt.paramGroups[0]!.lr = lr * 0.5 * (1 + Math.cos((Math.PI * t) / steps));
      }
    : undefined;
  return finalLoss(problem, opt as unknown as Optimizer<object>, steps, onStep);
}

/**
 * Run the command. Flags: `--meta-steps` (default 400), `--minutes` (default 9), `--pairs` (8), `--sigma` (0.02),
 * `--lr` (meta-Adam, 3e-3), `--clip` (10), `--horizon` (100), `--seed` (0), `--eval-tasks` (40),
 * `--checkpoint` (default `.meta-train/transformer.json`), `--name` (transformer-ctrl-v1), `--meta-loss log|normalized`,
 * `--full` (meta-train every controller value, not only the output head), `--no-write`.
 */
export async function run(args: readonly string[]): Promise<void> {
  const flags = parseFlags(args);
  const root = repoRoot();
  const metaSteps = num(flags, 'meta-steps', 400);
  const minutes = num(flags, 'minutes', 9);
  const pairs = num(flags, 'pairs', 8);
  const sigma = num(flags, 'sigma', 0.02);
  const metaLr = num(flags, 'lr', 3e-3);
  const clip = num(flags, 'clip', 10);
  const horizon = num(flags, 'horizon', 100);
  const seed = num(flags, 'seed', 0);
  const evalTasks = num(flags, 'eval-tasks', 40);
  const name = flags.get('name') ?? 'transformer-ctrl-v1';
  const checkpoint = resolve(root, flags.get('checkpoint') ?? '.meta-train/transformer.json');
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };

  const mlpWeights = getWeightsRecord('mlp-hybrid-v1') !== undefined ? 'mlp-hybrid-v1' : 'untrained';
  const mlpSpec = getWeightsRecord('mlp-hybrid-v1')?.featureSpec as { lr?: number } | undefined;
  const lr = num(flags, 'inner-lr', mlpSpec?.lr ?? 1e-2);
  const controller = resolveControllerConfig({});
  const factory = transformerLearnedOptimizerFactory({ lr, mlpWeights, controller, seed, nonFinite: 'ignore' });
  const family = new SyntheticClassificationFamily(TRAIN_FAMILY);
  log(`controller ${controllerLayout(controller).count} meta-params over MLP weights '${mlpWeights}', lr ${lr}`);

  // Distillation: record tokens while the neutral controller (= the MLP optimizer) trains a few tasks,
  // and fit the head to neutral targets on them.
  const metaParams = factory.initialMetaParams();
  const tokenSets: Float64Array[] = [];
  for (let i = 0; i < 8; i++) {
    const problem = taskProblem(family.sample(SEEDS.train[0] + 900_000 + i), i, 32);
    problem.reset();
    const opt = factory.create(problem.parameters, metaParams) as TransformerLearnedOptimizer;
    let loss = 0;
    for (let t = 0; t < horizon; t++) {
      loss = problem.lossAndGrad();
      opt.step(() => loss);
      if (t % 10 === 9) tokenSets.push(opt.lastTokens.slice());
    }
  }
  distillControllerHead(metaParams, controller, tokenSets, tokenSets.map((s) => new Float64Array((s.length / TOKEN_FEATURES) * 2)));
  log(`distilled the head to neutral on ${tokenSets.length} token sets`);

  // ES variance grows with the dimension: by default only the output head (34 values) is meta-trained,
  // on top of the random hidden layers kept from initialisation (`--full` trains every value).
  const layout = controllerLayout(controller);
  const start = flags.get('full') === 'true' ? 0 : layout.wout;
  const trained = metaParams.slice(start);
  const subFactory: LearnedOptimizerFactory = {
    arch: factory.arch,
    metaParamCount: trained.length,
    initialMetaParams: () => trained.slice(),
    // The fixed part is copied per created optimizer: ES creates one optimizer per unroll and keeps its
    // perturbed vector unchanged during the unroll, so reading the copy is reading the reference.
    create: (params, sub, options) => {
      const full = metaParams.slice();
      full.set(sub, start);
      return factory.create(params, full, options);
    },
  };
  const metaLossKind = flags.get('meta-loss') === 'normalized' ? 'normalized' : 'log';
  const objective = new UnrollObjective({ factory: subFactory, sampler: familySampler(family, SEEDS.train, 32), horizon, metaLoss: metaLossKind });
  const es = new AntitheticES({ objective, pairs, sigma });
  const grad = new Float64Array(trained.length);
  const m = new Float64Array(trained.length);
  const v = new Float64Array(trained.length);
  let step = 0;
  let history: { metaStep: number; metaLoss: number; gradNorm: number }[] = [];
  if (existsSync(checkpoint) && flags.get('fresh') !== 'true') {
    const saved = JSON.parse(readFileSync(checkpoint, 'utf8')) as { step: number; metaParams: number[]; m: number[]; v: number[]; history: typeof history };
    step = saved.step;
    metaParams.set(saved.metaParams);
    trained.set(metaParams.subarray(start));
    m.set(saved.m);
    v.set(saved.v);
    history = saved.history;
    log(`resumed at meta-step ${step}`);
  }
  const save = (): void =>
    writeAtomic(checkpoint, JSON.stringify({ step, metaParams: Array.from(metaParams), m: Array.from(m), v: Array.from(v), history }));
  const started = Date.now();
  while (step < metaSteps && Date.now() - started < minutes * 60_000) {
    const metaLoss = es.estimate(trained, grad, { metaStep: step, index: 0, seed });
    let sq = 0;
    for (let j = 0; j < grad.length; j++) sq += grad[j]! * grad[j]!;
    const norm = Math.sqrt(sq);
    const f = norm > clip ? clip / norm : 1;
    step++;
    for (let j = 0; j < grad.length; j++) {
      const g = grad[j]! * f;
      m[j] = 0.9 * m[j]! + 0.1 * g;
      v[j] = 0.999 * v[j]! + 0.001 * g * g;
      trained[j] = trained[j]! - (metaLr * (m[j]! / (1 - 0.9 ** step))) / (Math.sqrt(v[j]! / (1 - 0.999 ** step)) + 1e-8);
    }
    metaParams.set(trained, start);
    history.push({ metaStep: step, metaLoss, gradNorm: norm });
    if (step % 10 === 0) {
      const recent = history.slice(-10);
      log(`meta-step ${step}/${metaSteps} mean meta-loss (last 10) ${(recent.reduce((s, r) => s + r.metaLoss, 0) / recent.length).toFixed(4)} |g| ${norm.toExponential(2)} ${((Date.now() - started) / 1000).toFixed(0)}s`);
      save();
    }
  }
  save();
  metaParams.set(Float32Array.from(metaParams));

  const evaluate = (fam: SyntheticClassificationFamily, label: string, meta: Float64Array): Record<string, unknown> => {
    const learned: number[] = [];
    const adam: number[] = [];
    const adamCos: number[] = [];
    const base: number[] = [];
    const initial: number[] = [];
    for (let i = 0; i < evalTasks; i++) {
      const task = fam.sample(SEEDS.test + i);
      const tuneSeed = 1000 + i;
      const evalSeed = 2000 + i;
      const problem = taskProblem(task, evalSeed, 32);
      problem.reset();
      initial.push(problem.trainLoss());
      learned.push(finalLoss(problem, factory.create(problem.parameters, meta) as unknown as Optimizer<object>, horizon));
      problem.reset();
      base.push(finalLoss(problem, factory.create(problem.parameters, factory.initialMetaParams()) as unknown as Optimizer<object>, horizon));
      const pick = (cos: boolean): number => {
        let best = Infinity;
        let bestLr = LR_GRID[0]!;
        for (const candidate of LR_GRID) {
          const l = adamLoss(task, tuneSeed, candidate, horizon, cos);
          if (l < best) {
            best = l;
            bestLr = candidate;
          }
        }
        return adamLoss(task, evalSeed, bestLr, horizon, cos);
      };
      adam.push(pick(false));
      adamCos.push(pick(true));
    }
    // Classification losses on these separable sets fall towards 0; below 1e-6 differences are not
    // meaningful (and would dominate the geometric mean), so losses are floored there.
    const floor = (xs: number[]): number[] => xs.map((x) => (Number.isFinite(x) ? Math.max(x, 1e-6) : x));
    learned.splice(0, learned.length, ...floor(learned));
    adam.splice(0, adam.length, ...floor(adam));
    adamCos.splice(0, adamCos.length, ...floor(adamCos));
    base.splice(0, base.length, ...floor(base));
    const vsAdam = summarise(learned, adam, initial, 1);
    const vsCos = summarise(learned, adamCos, initial, 2);
    const vsBase = summarise(learned, base, initial, 3);
    log(
      `${label} @${horizon}: vs tuned Adam win ${(100 * vsAdam.winRate).toFixed(0)}% [${(100 * vsAdam.winRateCI[0]).toFixed(0)}, ${(100 * vsAdam.winRateCI[1]).toFixed(0)}] geo ${vsAdam.geoMeanRatio.toFixed(3)}; ` +
        `vs Adam+cos win ${(100 * vsCos.winRate).toFixed(0)}% geo ${vsCos.geoMeanRatio.toFixed(3)}; vs untrained controller win ${(100 * vsBase.winRate).toFixed(0)}% geo ${vsBase.geoMeanRatio.toFixed(3)}; divergences ${vsAdam.divergences}`,
    );
    return { tasks: evalTasks, horizon, vsAdam, vsAdamCosine: vsCos, vsUntrainedController: vsBase };
  };
  const inDist = evaluate(family, 'blobs-mlp relu (in distribution)', metaParams);
  const ood = evaluate(new SyntheticClassificationFamily(OOD_ACTIVATION_FAMILY), 'blobs-mlp tanh (OOD)', metaParams);
  // Per-step cost: controller + MLP optimizer versus Adam, full step on one training task.
  const costTask = family.sample(SEEDS.test);
  const time = (make: (p: InnerProblem) => Optimizer<object>): number => {
    const problem = taskProblem(costTask, 5, 32);
    problem.reset();
    const opt = make(problem);
    const t0 = performance.now();
    finalLoss(problem, opt, 100);
    return (performance.now() - t0) / 100;
  };
  const ctrlMs = time((p) => factory.create(p.parameters, metaParams) as unknown as Optimizer<object>);
  const adamMs = time((p) => new Adam(p.parameters, { lr }) as unknown as Optimizer<object>);
  log(`full step ${ctrlMs.toFixed(3)} ms vs Adam ${adamMs.toFixed(3)} ms (${(ctrlMs / adamMs).toFixed(2)}x)`);
  const evalSummary = {
    inDistribution: inDist,
    oodActivation: ood,
    stepMs: { learned: ctrlMs, adam: adamMs, ratio: ctrlMs / adamMs },
    metaLossCurveEvery5: history.filter((_, i) => i % 5 === 0).map((r) => [r.metaStep, Number(r.metaLoss.toFixed(5))]),
  };
  if (flags.get('no-write') === 'true') return;
  const record = encodeWeights(
    metaParams,
    {
      name,
      version: 1,
      arch: factory.arch,
      featureSpec: { controller, mlpWeights, lr, tokenFeatures: [...TOKEN_FEATURE_NAMES] },
      trainedOn: { family: family.name, seeds: SEEDS.train, batchSize: 32 },
      horizon,
      metaSteps: step,
      estimator: `distil-neutral + es(${start === 0 ? 'all' : 'output head'}, ${metaLossKind} meta-loss, antithetic, ${pairs} pairs, sigma ${sigma}, meta-Adam ${metaLr}, clip ${clip})`,
      seed,
      command: `meta-train trainTransformer ${args.join(' ')}`.trim(),
      gitCommit: gitCommit(),
      createdAt: new Date().toISOString(),
      evalSummary,
    },
    'float32',
  );
  writeWeightRecord(root, name, record);
  log(`wrote packages/learned/weights/${name}.json and src/weights/${name}.ts`);
}
