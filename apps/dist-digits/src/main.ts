/**
 * Data-parallel digits over NATS: `node dist/main.js --workers 2 --codec topk-ef` (see `cli.ts` for the options).
 * Trains the digits MLP on K processes with the chosen gradient codec, prints the table and writes the plot.
 */
import { OptError } from '@opt/tensor';
import { runCli } from './cli.js';

runCli(process.argv.slice(2)).then(
  (text) => process.stdout.write(text),
  (e: unknown) => {
    if (e instanceof OptError || e instanceof RangeError) {
      process.stderr.write(`${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw e;
  },
);
