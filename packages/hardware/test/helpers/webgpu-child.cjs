// Entry of the child process that runs one WebGPU scenario: `node webgpu-child.cjs <scenario.ts> <json-args>`.
// The scenario module exports `run(args)` (sync or async) returning JSON-serialisable data; the result is written
// to stdout after a marker line so logs from onnxruntime/Dawn before it do not corrupt it.
'use strict';
require('./webgpu-register.cjs');

const MARKER = '@@webgpu-result@@';

async function main() {
  const [scenario, argsJson] = process.argv.slice(2);
  const mod = require(scenario);
  const result = await mod.run(argsJson === undefined ? {} : JSON.parse(argsJson));
  process.stdout.write(`\n${MARKER}${JSON.stringify({ ok: true, result })}\n`);
}

main().then(
  () => process.exit(0),
  (error) => {
    const err = error instanceof Error ? { name: error.name, message: error.message, stack: error.stack } : { message: String(error) };
    process.stdout.write(`\n${MARKER}${JSON.stringify({ ok: false, error: err })}\n`);
    process.exit(1);
  },
);
