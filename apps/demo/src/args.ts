/**
 * Command-line parsing of the demo, kept free of side effects (no printing, no exit) so it can be tested:
 * `parseArgs` returns what to run or throws an `InvalidOptionError` naming the offending flag.
 */
import { InvalidOptionError } from '@opt/core';

/**
 * The demos: `mlp` trains a classifier on a real data set (default); `classic` is the test-function benchmark;
 * `privacy` trains the digits MLP with DP-SGD at several privacy budgets.
 */
export type Suite = 'mlp' | 'classic' | 'privacy';
/** The data sets the MLP demo can train on. */
export type DatasetName = 'digits' | 'fashion' | 'iris' | 'wine';
/** Element type of the model's parameters. */
export type DTypeName = 'float32' | 'float64';

/** Ids of the MLP demo's optimizer recipes, in their default order. */
export const DEFAULT_MLP_OPTIMIZERS = ['sgd', 'adam', 'adamw-cosine', 'lion', 'lbfgs'] as const;

/** Everything a run of the demo needs; `null` means "the per-data-set default". */
export interface DemoArgs {
  help: boolean;
  suite: Suite;
  dataset: DatasetName;
  /** Optimizer ids (MLP suite) or names (classic suite); `null`: the default set. */
  optimizers: string[] | null;
  epochs: number | null;
  batchSize: number | null;
  /** Hidden layer widths; `null`: the data set's default. */
  hidden: number[] | null;
  seed: number;
  dtype: DTypeName;
  out: string;
  /** Log-scale y axis in the loss plot (default true). */
  logY: boolean;
  /** Classic suite: problem subset (`null`: all). */
  problems: string[] | null;
  /** Classic suite: tolerance on f − f*. */
  tol: number;
  /** Privacy suite: seeded, not private, noise. */
  seededNoise: boolean;
}

/** The usage text printed by `--help`. */
export const HELP = `Usage: pnpm demo [-- options]

Default (--suite mlp): trains a small ReLU MLP classifier on a real data set with several
optimizers and schedules, shows a progress bar per run, prints a table (final train loss,
test accuracy, wall time, steps/s) and writes the loss curves to <out>/loss.svg (and
<out>/loss.png when rsvg-convert or ImageMagick is installed) plus <out>/results.json.
Runs are deterministic given --seed (wall times aside).

Options:
  --suite mlp|classic|privacy   which demo (default: mlp)
  --dataset NAME        digits (default, 1797 8x8 digits), fashion (Fashion-MNIST subset,
                        4000 train / 1000 test), iris, wine
  --optimizers a,b      subset, in order (default: ${DEFAULT_MLP_OPTIMIZERS.join(',')});
                        also: nesterov, rmsprop, nadam, adagrad
  --epochs N            passes over the training set per mini-batch run (default: per data set);
                        L-BFGS (full batch) gets a proportional budget of full-gradient evaluations
  --batch-size N        mini-batch size (default: per data set)
  --hidden a,b          hidden layer widths (default: per data set, e.g. 64 for digits)
  --dtype float32|float64   parameter dtype (default: float32)
  --seed N              seed of the split, the initial weights and the batch order (default: 0)
  --out DIR             output folder (default: out/demo)
  --linear-y            linear instead of logarithmic loss axis in the plot

Classic suite (--suite classic): every optimizer on Rosenbrock, Beale, an ill-conditioned
quadratic and logistic regression, learning rates picked from a grid.
  --problems a,b        subset of: rosenbrock, beale, quadratic, logistic (default: all)
  --optimizers a,b      subset of optimizer names (default: all), e.g. Adam,LBFGS
  --tol x               tolerance on f(x) - f* (default: 1e-6)

Privacy suite (--suite privacy): the digits MLP trained with DP-SGD (@opt/privacy) at
epsilon 1, 3 and 8 (delta 1e-5) and non-privately; prints accuracy against epsilon with the
RDP accountant's numbers and writes <out>/privacy.svg and <out>/privacy.md.
  --epochs N            epochs per run (default: 30)
  --seed N              seed of the split and the initial weights (default: 0)
  --seeded-noise        reproducible, NOT private noise (a smoke test)

  --help                this text
`;

const DATASETS: readonly DatasetName[] = ['digits', 'fashion', 'iris', 'wine'];

function positiveInteger(flag: string, text: string): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < 1) throw new InvalidOptionError(flag, text, 'a positive integer', 'demo');
  return v;
}

function list(flag: string, text: string): string[] {
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new InvalidOptionError(flag, text, 'a comma-separated, non-empty list', 'demo');
  return items;
}

/**
 * Parse the demo's command line (without the `node main.js` part). `--flag value` and `--flag=value` both work;
 * a lone `--` (as pnpm passes it) is ignored.
 *
 * @throws InvalidOptionError on an unknown flag, a missing value or a value out of range.
 */
export function parseArgs(argv: readonly string[]): DemoArgs {
  const out: DemoArgs = {
    help: false,
    suite: 'mlp',
    dataset: 'digits',
    optimizers: null,
    epochs: null,
    batchSize: null,
    hidden: null,
    seed: 0,
    dtype: 'float32',
    out: 'out/demo',
    logY: true,
    problems: null,
    tol: 1e-6,
    seededNoise: false,
  };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i]!;
    let inline: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      inline = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[i + 1];
      if (v === undefined || (v.startsWith('--') && v.length > 2)) throw new InvalidOptionError(arg, undefined, 'a value after the flag', 'demo');
      i++;
      return v;
    };
    switch (arg) {
      case '--':
        break;
      case '--help':
      case '-h':
        out.help = true;
        break;
      case '--suite': {
        const v = value();
        if (v !== 'mlp' && v !== 'classic' && v !== 'privacy') {
          throw new InvalidOptionError('--suite', v, "'mlp', 'classic' or 'privacy'", 'demo');
        }
        out.suite = v;
        break;
      }
      case '--dataset': {
        const v = value();
        if (!(DATASETS as readonly string[]).includes(v)) throw new InvalidOptionError('--dataset', v, `one of ${DATASETS.join(', ')}`, 'demo');
        out.dataset = v as DatasetName;
        break;
      }
      case '--optimizers':
        out.optimizers = list('--optimizers', value());
        break;
      case '--epochs':
        out.epochs = positiveInteger('--epochs', value());
        break;
      case '--batch-size':
        out.batchSize = positiveInteger('--batch-size', value());
        break;
      case '--hidden':
        out.hidden = list('--hidden', value()).map((w) => positiveInteger('--hidden', w));
        break;
      case '--seed': {
        const v = value();
        const n = Number(v);
        if (!Number.isSafeInteger(n)) throw new InvalidOptionError('--seed', v, 'an integer', 'demo');
        out.seed = n;
        break;
      }
      case '--dtype': {
        const v = value();
        if (v !== 'float32' && v !== 'float64') throw new InvalidOptionError('--dtype', v, "'float32' or 'float64'", 'demo');
        out.dtype = v;
        break;
      }
      case '--out':
        out.out = value();
        if (out.out === '') throw new InvalidOptionError('--out', '', 'a folder path', 'demo');
        break;
      case '--seeded-noise':
        out.seededNoise = true;
        break;
      case '--linear-y':
        out.logY = false;
        break;
      case '--problems':
        out.problems = list('--problems', value());
        break;
      case '--tol': {
        const v = value();
        const n = Number(v);
        if (!(n > 0) || !Number.isFinite(n)) throw new InvalidOptionError('--tol', v, 'a positive number', 'demo');
        out.tol = n;
        break;
      }
      default:
        throw new InvalidOptionError('flag', arg, 'a known option (see --help)', 'demo');
    }
  }
  return out;
}
