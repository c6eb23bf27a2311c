import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { decodeWeights, divergences, resolveMLPConfig, geometricMeanRatio, median, validateWeightsRecord, winRate, type MLPFeatureSpec } from '@opt/learned';
import { WorkerPool, defaultWorkerEntry } from '@opt/learned/node';
import { num, parseArgs } from './args.js';
import { SEEDS } from './families.js';
import { type TrainConfig, describeFamily, recipeFor } from './config.js';
import { otherActivation } from './families.js';
import type { EvalJob, EvalTaskResult, SplitName } from './eval-task.js';
import { evaluateTask } from './eval-task.js';
import { loadBaselines, withFanInExponent } from './reuse.js';
import { SPLITS, parseSplits } from './splits.js';
import { ProgressBar } from '@opt/app-kit';
import { JOBS_MODULE, REPO_ROOT, relativeToRepo, writeWeights } from './train.js';

/** Adam / SGD-momentum learning-rate grid: half decades from 1e-4 to 1. */
export const LR_GRID = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1];
const BASELINES = ['adam-cosine', 'adam', 'sgdm', 'adam-global'] as const;

/** Aggregated metrics of one split, horizon and baseline. */
export interface SplitSummary {
  split: SplitName;
  horizon: number;
  baseline: string;
  tasks: number;
  winRate: number;
  winLow: number;
  winHigh: number;
  geoMeanRatio: number;
  medianRatio: number;
  learnedDivergences: number;
  baselineDivergences: number;
  medianLearnedLoss: number;
  medianBaselineLoss: number;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * `meta-train evaluate`: the held-out evaluation of a shipped `mlp-hybrid` record (issue protocol). Splits: unseen
 * seeds of the weights' training family, 2-4× wider/deeper nets, the other activation (tanh), unseen data sets (wine,
 * iris, Fashion-MNIST 8×8) at the training sizes; `--tasks` (40) per split, 3 batch-order seeds each, horizons K, 2K,
 * 4K. Baselines tuned per task on a separate tuning seed over {@link LR_GRID}: Adam, Adam + cosine decay,
 * SGD-momentum 0.9; plus Adam with one lr tuned over 16 meta-validation tasks. Writes
 * `packages/learned/evaluation/<name>.md` and `<name>.json`, and the headline numbers into the shipped record (only
 * there: a run written to another `--out`, such as a short check, leaves the record alone).
 *
 * `--validation` scores meta-validation tasks instead of the test tasks: what choosing between runs or checkpoints
 * may look at (it writes `<name>.validation.md/json` and leaves the record alone).
 *
 * `--baselines-from FILE` takes the per-task-tuned baselines, and adam-global's lr, from an earlier evaluation's JSON
 * of the same tasks (same split kind, K, grid and seeds) instead of tuning and running them again: they are
 * deterministic, and they are 95% of the cost, so comparing candidates takes minutes instead of half an hour.
 *
 * Options: `--weights FILE` (packages/learned/weights/mlp-hybrid-v1.json), `--tasks N` (40), `--workers N` (2),
 * `--out DIR` (packages/learned/evaluation), `--recipe NAME` (the families; default: the record name's recipe),
 * `--validation`, `--baselines-from FILE`, `--splits a,b` (only these splits; the record is then left alone),
 * `--fan-in-exponent η` (score the record with `fanInExponent` and this η, appended or replacing the record's own:
 * the sweeps that chose v11's and v12's η).
 */
export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  const tasks = num(args, 'tasks', 40);
  const workers = num(args, 'workers', 2);
  const weightsFile = resolve(args.get('weights') ?? join(REPO_ROOT, 'packages/learned/weights/mlp-hybrid-v1.json'));
  const defaultOut = join(REPO_ROOT, 'packages/learned/evaluation');
  const outDir = resolve(args.get('out') ?? defaultOut);
  const validation = args.get('validation') === 'true';
  const splits = parseSplits(args.get('splits'));
  // Validation tasks sit above the 16 used to tune adam-global; test tasks are SEEDS.test + i.
  const taskSeed0 = validation ? SEEDS.validation + 1000 : SEEDS.test;
  const record = validateWeightsRecord(JSON.parse(readFileSync(weightsFile, 'utf8')), weightsFile);
  const spec = record.featureSpec as MLPFeatureSpec;
  let metaParams = Array.from(decodeWeights(record));
  const K = record.horizon;
  const { features: _features, lr: _lr, ...architecture } = spec;
  // Records written before an option existed lack it: resolving fills the default they were trained with.
  const config = resolveMLPConfig(architecture);
  // `--fan-in-exponent η`: score the record with this fan-in exponent, the record's own η replaced or one appended.
  const fanInArg = args.get('fan-in-exponent');
  const fanInExponent = fanInArg === undefined ? null : Number(fanInArg);
  if (fanInExponent !== null) {
    if (!Number.isFinite(fanInExponent)) throw new Error(`--fan-in-exponent: expected a number, got '${fanInArg}'`);
    metaParams = Array.from(withFanInExponent(metaParams, config.fanInExponent, fanInExponent));
    config.fanInExponent = true;
  }
  const name = fanInExponent === null ? record.name : `${record.name}+fan-in${fanInExponent}`;
  const recipe = recipeFor(record.name, args.get('recipe'));
  const families = { family: recipe.family, oodSizeFamily: recipe.oodSizeFamily };
  const base = { K, metaParams, lr: spec.lr, config, ...families, grid: LR_GRID, tuneSeed: 777, scoreSeeds: [1, 2, 3] };
  const reuseFile = args.get('baselines-from');
  const reuse = reuseFile === undefined ? null : loadBaselines(resolve(reuseFile), { K, validation, tasks, scoreSeeds: base.scoreSeeds, grid: LR_GRID });
  const baselinesFrom = reuseFile === undefined ? null : relativeToRepo(reuseFile);
  const pool = workers > 0 ? new WorkerPool({ workers, entry: defaultWorkerEntry(), module: JOBS_MODULE, options: { kind: 'evaluate' } }) : null;
  const runAll = async (jobs: EvalJob[], label: string): Promise<EvalTaskResult[]> => {
    const bar = new ProgressBar(label, jobs.length);
    const out: EvalTaskResult[] = [];
    // Batches of 2 × workers keep the bar moving; results stay in job order.
    const chunk = Math.max(1, 2 * Math.max(1, workers));
    for (let i = 0; i < jobs.length; i += chunk) {
      const part = jobs.slice(i, i + chunk);
      const results = pool === null ? part.map(evaluateTask) : await pool.run<EvalJob, EvalTaskResult>(part);
      out.push(...results);
      bar.tick(part.length);
    }
    bar.finish();
    return out;
  };
  const started = Date.now();
  try {
    // 1. One Adam lr for all tasks, tuned on meta-validation tasks (unseen by meta-training and by the test splits).
    let globalLr: number;
    if (reuse !== null) globalLr = reuse.globalLr;
    else {
      const tuning = await runAll(
        Array.from({ length: 16 }, (_, i) => ({ ...base, split: 'in-distribution' as const, familyIndex: 0, taskSeed: SEEDS.validation + i, globalLr: 0, tuneOnly: true })),
        'validation',
      );
      const score = LR_GRID.map((_, g) => mean(tuning.map((r) => Math.log(Number.isFinite(r.adamGrid[0]![g]!) ? r.adamGrid[0]![g]! : 1e3))));
      globalLr = LR_GRID[score.indexOf(Math.min(...score))]!;
    }
    // 2. The test splits.
    const jobs: EvalJob[] = [];
    for (const split of splits) {
      for (let i = 0; i < tasks; i++) {
        const baselines = reuse?.tasks.find((t) => t.split === split && t.index === i)?.result;
        jobs.push({ ...base, split, familyIndex: split === 'ood-datasets' ? i % 3 : 0, taskSeed: taskSeed0 + i, globalLr, ...(baselines === undefined ? {} : { baselines }) });
      }
    }
    const results = await runAll(jobs, 'evaluate');
    const horizons = [K, 2 * K, 4 * K];
    const summaries: SplitSummary[] = [];
    for (const split of splits) {
      const rs = results.filter((r) => r.split === split);
      horizons.forEach((h, hi) => {
        const learned = rs.map((r) => r.losses['learned']![hi]!);
        for (const baseline of BASELINES) {
          const other = rs.map((r) => r.losses[baseline]![hi]!);
          const w = winRate(learned, other, { seed: hi });
          const ratios = rs.map((_, t) => mean(learned[t]!) / mean(other[t]!)).filter(Number.isFinite);
          summaries.push({
            split,
            horizon: h,
            baseline,
            tasks: rs.length,
            winRate: w.value,
            winLow: w.low,
            winHigh: w.high,
            geoMeanRatio: geometricMeanRatio(learned, other),
            medianRatio: median(ratios),
            learnedDivergences: divergences(learned, rs.map((r) => r.initialLoss)),
            baselineDivergences: divergences(other, rs.map((r) => r.initialLoss)),
            medianLearnedLoss: median(learned.map(mean)),
            medianBaselineLoss: median(other.map(mean)),
          });
        }
      });
    }
    const cost = {
      learnedMsPerStep: median(results.map((r) => r.msPerStep.learned)),
      adamMsPerStep: median(results.map((r) => r.msPerStep.adam)),
      ratio: median(results.map((r) => r.msPerStep.learned / r.msPerStep.adam)),
      ratioInDistribution: median(results.filter((r) => r.split === 'in-distribution').map((r) => r.msPerStep.learned / r.msPerStep.adam)),
    };
    const minutes = (Date.now() - started) / 60000;
    const json = { weights: name, ...(baselinesFrom === null ? {} : { baselinesFrom }), splits, gitCommit: record.gitCommit, K, grid: LR_GRID, globalLr, tasksPerSplit: tasks, scoreSeeds: base.scoreSeeds, minutes, cost, summaries, tasks: results.map(({ adamGrid: _g, ...r }) => r) };
    mkdirSync(outDir, { recursive: true });
    const stem = validation ? `${name}.validation` : name;
    writeFileSync(join(outDir, `${stem}.json`), JSON.stringify({ ...json, taskSeeds: validation ? 'validation' : 'test' }, null, 1) + '\n');
    const md = renderMarkdown(record.name, K, globalLr, tasks, summaries, cost, minutes, workers, validation, recipe, baselinesFrom, splits, fanInExponent);
    writeFileSync(join(outDir, `${stem}.md`), md);
    process.stdout.write(md);
    const shipped =
      resolve(join(REPO_ROOT, 'packages/learned/weights', `${record.name}.json`)) === weightsFile && outDir === resolve(defaultOut) && splits.length === SPLITS.length && fanInExponent === null;
    if (shipped && !validation) {
      // The shipped record carries its own headline numbers (in distribution and out, vs tuned Adam + cosine).
      const pick = (split: SplitName, hi: number): SplitSummary => summaries.find((s) => s.split === split && s.horizon === horizons[hi] && s.baseline === 'adam-cosine')!;
      const headline = (split: SplitName) =>
        horizons.map((h, hi) => ({ horizon: h, winRate: pick(split, hi).winRate, ci: [pick(split, hi).winLow, pick(split, hi).winHigh], geoMeanRatio: pick(split, hi).geoMeanRatio, divergences: pick(split, hi).learnedDivergences }));
      writeWeights({
        ...record,
        evalSummary: {
          baseline: 'per-task-tuned Adam + cosine decay',
          tasksPerSplit: tasks,
          stepCostVsAdam: cost.ratio,
          ...Object.fromEntries(SPLITS.map((s) => [s, headline(s)])),
        },
      });
    }
  } finally {
    await pool?.close();
  }
}

const f = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const pct = (x: number): string => `${Math.round(100 * x)}%`;

function renderMarkdown(
  name: string,
  K: number,
  globalLr: number,
  tasks: number,
  summaries: SplitSummary[],
  cost: { learnedMsPerStep: number; adamMsPerStep: number; ratio: number; ratioInDistribution: number },
  minutes: number,
  workers: number,
  validation: boolean,
  recipe: TrainConfig,
  baselinesFrom: string | null,
  splits: readonly SplitName[],
  fanInExponent: number | null,
): string {
  const only = (splits.length === SPLITS.length ? '' : ` --splits ${splits.join(',')}`) + (fanInExponent === null ? '' : ` --fan-in-exponent ${fanInExponent}`);
  const lines = [
    `# ${validation ? 'Validation run' : 'Evaluation'} of \`${name}\`${fanInExponent === null ? '' : ` with a fan-in exponent η = ${fanInExponent}`}`,
    '',
    `Generated by \`node apps/meta-train/dist/main.js evaluate --weights packages/learned/weights/${name}.json --tasks ${tasks} --workers ${workers}${only}${validation ? ' --validation' : ''}${baselinesFrom === null ? '' : ` --baselines-from ${baselinesFrom}`}\` (${f(minutes, 1)} min${baselinesFrom === null ? '' : '; the tuned baselines and their runs are those of that file'}). Meta-training horizon K = ${K}.`,
    validation
      ? `${tasks} META-VALIDATION tasks per split (seeds never used in meta-training or testing; for choosing between runs), 3 batch-order seeds each; the task's`
      : `${tasks} held-out tasks per split (task seeds never used in meta-training or validation), 3 batch-order seeds each; the task's`,
    'initialisation is fixed by its seed. Metric: full-batch training loss after H steps. Baselines are tuned PER TASK on a',
    `separate batch-order seed over the lr grid 1e-4 … 1 (half decades): Adam, Adam + cosine decay to 0 over H, SGD + momentum 0.9;`,
    `"adam-global" is Adam with the single lr tuned on 16 meta-validation tasks (${globalLr}). The learned optimizer runs with its`,
    'shipped weights and base lr, untuned. Win = lower loss on the same seed; win-rate = mean over tasks, 95% bootstrap CI over',
    'tasks. Ratio = learned / baseline final loss (seed-averaged per task): geometric mean and median over tasks (< 1: learned better).',
    'Divergence = non-finite loss or a loss above the initial loss.',
    '',
    `Splits: in-distribution = ${describeFamily(recipe.family)}; ood-size = ${describeFamily(recipe.oodSizeFamily)};`,
    `ood-activation = the training sizes with ${otherActivation(recipe.family).activations.join('/')}; ood-datasets = wine, iris, Fashion-MNIST 8×8 at the training sizes.`,
    '',
    '| split | H | baseline | win-rate [95% CI] | geo-mean ratio | median ratio | median loss learned / baseline | divergences learned / baseline |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const s of summaries) {
    lines.push(
      `| ${s.split} | ${s.horizon} | ${s.baseline} | ${pct(s.winRate)} [${pct(s.winLow)}, ${pct(s.winHigh)}] | ${f(s.geoMeanRatio, 3)} | ${f(s.medianRatio, 3)} | ${s.medianLearnedLoss.toPrecision(3)} / ${s.medianBaselineLoss.toPrecision(3)} | ${s.learnedDivergences} / ${s.baselineDivergences} |`,
    );
  }
  lines.push(
    '',
    `Per-step cost (optimizer step + forward/backward of the task, median over tasks, single thread): learned ${f(cost.learnedMsPerStep, 3)} ms,`,
    `Adam ${f(cost.adamMsPerStep, 3)} ms: ${f(cost.ratio)}× Adam over all splits (${f(cost.ratioInDistribution)}× in distribution).`,
    '',
  );
  return lines.join('\n');
}
