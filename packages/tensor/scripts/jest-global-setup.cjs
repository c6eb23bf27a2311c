// Jest global setup of the packages whose tests import @opt/tensor's sources:
// the wasm loader imports src/wasm/module.generated.ts, which is git-ignored and
// written by the build (scripts/build-wasm.mjs). `turbo run build` makes it
// before the root test command runs jest; this covers a bare `npx jest` after a
// clean clone by building it when it is missing.
const { existsSync } = require('node:fs');
const { execFileSync } = require('node:child_process');
const { join } = require('node:path');

module.exports = function buildWasmIfMissing() {
  const generated = join(__dirname, '..', 'src', 'wasm', 'module.generated.ts');
  if (existsSync(generated)) return;
  execFileSync(process.execPath, [join(__dirname, 'build-wasm.mjs')], { stdio: 'inherit' });
};
