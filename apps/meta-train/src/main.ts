/**
 * `meta-train`: the scripts that meta-train and evaluate the learned optimizers shipped in `@opt/learned`.
 * Usage: `node apps/meta-train/dist/main.js <command> [--options]`; `--help` lists the commands.
 */
import * as commands from './commands.js';

const HELP = `meta-train <command> [options]

commands:
  train      meta-train the hybrid MLP optimizer (ES, worker threads, checkpoints); --name picks the recipe (config.ts: mlp-hybrid-v1, v3, v4, v6)
  evaluate   the held-out evaluation vs tuned Adam / Adam+cosine / SGD-momentum; writes packages/learned/evaluation/<name>.md + .json
  smoke      a < 1 minute meta-training on quadratics (what CI runs)
  depthLr    a shipped record on the deeper OOD nets at smaller base lrs, against Adam at its best lr per horizon
  (other commands: ${Object.keys(commands).filter((c) => !['train', 'evaluate', 'smoke', 'depthLr'].includes(c)).join(', ') || 'none'})

Each command's options are documented at the top of its run() in apps/meta-train/src/<command>.ts.
`;

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(HELP);
    return;
  }
  const table = commands as Record<string, (args: string[]) => Promise<void> | void>;
  const command = table[name];
  if (command === undefined) {
    process.stderr.write(`unknown command '${name}'\n\n${HELP}`);
    process.exitCode = 2;
    return;
  }
  await command(rest);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
