import type { TimingPolicy } from './measure.js';

/** Every column the suite can fill. `torch` expands to one column per thread count. */
export const PEERS = ['js', 'wasm', 'threads', 'c', 'torch', 'tfjs-wasm', 'tfjs-cpu'] as const;
export type Peer = (typeof PEERS)[number];

/** Parsed command line. */
export interface BenchArgs {
  quick: boolean;
  full: boolean;
  only: string[];
  sizes: number[];
  peers: Peer[];
  outDir: string | undefined;
  heapSteps: number;
  policy: TimingPolicy;
  help: boolean;
}

export const USAGE = `Usage: pnpm bench [-- options]   (or: node tools/bench/dist/main.js [options])

Times optimizer steps (Adam, AdamW, SGD-momentum, Lion, Adagrad, RMSprop) on our JS and
wasm paths and on peers (tfjs wasm/cpu, PyTorch, a fused C kernel, a STREAM triad), and
writes RESULTS.md and results.json.

Options:
  --quick             smaller run: N = 1e4, 1e5, 1e6 and shorter timings
  --full              also time tfjs's cpu backend at 1e7 for every optimizer (slow)
  --only adam,lion    only these optimizers (adam, adamw, sgd_momentum, lion, adagrad, rmsprop)
  --sizes 1e4,1e6     single-tensor sizes (default 1e4,1e5,1e6,1e7)
  --peers js,c,torch  only these columns (${PEERS.join(', ')})
  --out DIR           where RESULTS.md and results.json go (default: the tools/bench folder)
  --heap-steps N      steps of the heap-growth check (default 10000)
  -h, --help          this text`;

/** Parse `argv` (without node and the script). Throws on an unknown option or a bad value. */
export function parseArgs(argv: readonly string[]): BenchArgs {
  const args: BenchArgs = {
    quick: false,
    full: false,
    only: [],
    sizes: [],
    peers: [...PEERS],
    outDir: undefined,
    heapSteps: 10_000,
    policy: { warmupMs: 150, targetMs: 500, minSamples: 7, maxSamples: 400, slowStepMs: 1000, minSlowSamples: 3 },
    help: false,
  };
  const list = (v: string | undefined, name: string): string[] => {
    if (v === undefined || v.startsWith('--')) throw new Error(`${name} needs a value`);
    return v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case '--quick':
        args.quick = true;
        break;
      case '--full':
        args.full = true;
        break;
      case '--only':
        args.only.push(...list(value(), '--only'));
        break;
      case '--sizes':
        args.sizes = list(value(), '--sizes').map((s) => {
          const n = Number(s);
          if (!Number.isInteger(n) || n < 1) throw new Error(`--sizes: ${s} is not a positive integer`);
          return n;
        });
        break;
      case '--peers': {
        const peers = list(value(), '--peers');
        for (const p of peers) if (!(PEERS as readonly string[]).includes(p)) throw new Error(`--peers: unknown column ${p} (one of ${PEERS.join(', ')})`);
        args.peers = peers as Peer[];
        break;
      }
      case '--out':
        args.outDir = value();
        if (!args.outDir) throw new Error('--out needs a folder');
        break;
      case '--heap-steps': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 1) throw new Error('--heap-steps needs a positive integer');
        args.heapSteps = n;
        break;
      }
      case '-h':
      case '--help':
        args.help = true;
        break;
      default:
        throw new Error(`unknown option ${a}\n\n${USAGE}`);
    }
  }
  if (args.sizes.length === 0) args.sizes = args.quick ? [1e4, 1e5, 1e6] : [1e4, 1e5, 1e6, 1e7];
  if (args.quick) args.policy = { warmupMs: 50, targetMs: 120, minSamples: 5, maxSamples: 100, slowStepMs: 500, minSlowSamples: 3 };
  return args;
}
