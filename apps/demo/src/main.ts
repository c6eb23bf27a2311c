/**
 * The @opt demo. Default: train a small MLP classifier on a real data set with several optimizers and schedules
 * (see train.ts). `--suite classic`: every optimizer on the classic test functions (see classic.ts).
 * `--suite privacy`: DP-SGD on the digits at several privacy budgets (see privacy.ts).
 */
import { OptError } from '@opt/core';
import { HELP, parseArgs } from './args.js';
import { runClassic } from './classic.js';
import { runPrivacy } from './privacy.js';
import { runMlp } from './train.js';

function main(): void {
  try {
    const args = parseArgs(process.argv.slice(2));
    if (args.help) process.stdout.write(HELP);
    else if (args.suite === 'classic') runClassic(args);
    else if (args.suite === 'privacy') runPrivacy(args);
    else runMlp(args);
  } catch (e) {
    // A usage mistake gets a one-line message; anything else is a bug worth its stack trace.
    if (!(e instanceof OptError)) throw e;
    process.stderr.write(`${e.message}\nRun with --help for the options.\n`);
    process.exitCode = 2;
  }
}

main();
