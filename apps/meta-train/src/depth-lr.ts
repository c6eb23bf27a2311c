import { type MLPFeatureSpec, decodeWeights, getWeightsRecord, resolveMLPConfig } from '@opt/learned';
import { num, parseArgs } from './args.js';
import { RECOMMENDED_WEIGHTS, describeFamily, recipeFor } from './config.js';
import { trainTask } from './eval-task.js';
import { SEEDS, SyntheticClassificationFamily } from './families.js';

/** Adam learning rates the per-horizon best is taken over. */
const ADAM_GRID = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1];

/** Geometric mean with losses floored at 1e-12 (a solved task reaches exactly 0) and non-finite ones counted as 10. */
function geoMean(xs: number[]): number {
  return Math.exp(xs.reduce((a, x) => a + Math.log(Number.isFinite(x) ? Math.max(x, 1e-12) : 10), 0) / xs.length);
}

/**
 * `meta-train depth-lr`: does a shipped `mlp-hybrid` record's update transfer to the deeper out-of-distribution nets
 * once its base lr is scaled down? On `--tasks` (8) meta-validation tasks of the recipe's ood-size family it trains
 * with the weights at each `--lrs` (default: the record's lr, /3, /10) and with Adam at the best of {@link ADAM_GRID}
 * PER HORIZON (an oracle), and prints the geometric-mean full-batch training loss at K, 2K and 4K.
 *
 * Options: `--weights NAME` (the recommended record), `--tasks N` (8), `--lrs a,b,c`, and `--depths a,b` /
 * `--widths a,b` to replace the ood-size family's depths / widths (to see how the best lr moves with depth).
 */
export function run(argv: string[]): void {
  const args = parseArgs(argv);
  const name = args.get('weights') ?? RECOMMENDED_WEIGHTS;
  const record = getWeightsRecord(name);
  if (record === undefined) throw new Error(`unknown weights '${name}'`);
  const recipe = recipeFor(name);
  const lr0 = (record.featureSpec as MLPFeatureSpec).lr;
  const lrs = (args.get('lrs') ?? `${lr0},${lr0 / 3},${lr0 / 10}`).split(',').map(Number);
  const tasks = num(args, 'tasks', 8);
  const H = [recipe.K, 2 * recipe.K, 4 * recipe.K];
  const list = (key: string): number[] | undefined => args.get(key)?.split(',').map(Number);
  const familyOptions = { ...recipe.oodSizeFamily, depths: list('depths') ?? recipe.oodSizeFamily.depths, widths: list('widths') ?? recipe.oodSizeFamily.widths };
  const family = new SyntheticClassificationFamily(familyOptions);
  const rows = new Map<string, number[][]>();
  const add = (label: string, losses: number[]): void => {
    if (!rows.has(label)) rows.set(label, []);
    rows.get(label)!.push(losses);
  };
  const meta = decodeWeights(record);
  const { features: _features, lr: _lr, ...spec } = record.featureSpec as MLPFeatureSpec;
  const config = resolveMLPConfig(spec);
  for (let i = 0; i < tasks; i++) {
    const task = family.sample(SEEDS.validation + 1000 + i);
    for (const lr of lrs) add(`${name} lr ${lr}`, trainTask(task, 'learned', lr, H[2]!, H, 1, meta, config).train);
    const grid = ADAM_GRID.map((lr) => trainTask(task, 'adam', lr, H[2]!, H, 1, null, config).train);
    add('Adam, best lr per horizon', H.map((_, h) => Math.min(...grid.map((g) => (Number.isFinite(g[h]!) ? g[h]! : Infinity)))));
    process.stderr.write('.');
  }
  process.stderr.write('\n');
  const lines = [
    `Geometric-mean training loss on ${tasks} meta-validation tasks of ${describeFamily(familyOptions)}`,
    '',
    `| optimizer | H = ${H.join(' | H = ')} |`,
    `|---|${H.map(() => '---').join('|')}|`,
    ...[...rows].map(([label, rs]) => `| ${label} | ${H.map((_, h) => geoMean(rs.map((r) => r[h]!)).toExponential(2)).join(' | ')} |`),
    '',
  ];
  process.stdout.write(lines.join('\n'));
}
