// Jest global setup of the packages whose tests import @opt/tensor's sources:
// the wasm loader imports src/wasm/module.generated.ts, which is git-ignored and
// written by the build (scripts/build-wasm.mjs). `turbo run build` makes it
// before the root test command runs jest; this covers a bare `npx jest` after a
// clean clone, or after the AssemblyScript sources changed, by rebuilding it
// when it is missing or its recorded source digest differs from the sources'.
const { createHash } = require('node:crypto');
const { existsSync, readFileSync, readdirSync } = require('node:fs');
const { execFileSync } = require('node:child_process');
const { join } = require('node:path');

function sourcesDigest(packageDir) {
  const hash = createHash('sha256');
  const assemblyDir = join(packageDir, 'assembly');
  for (const name of readdirSync(assemblyDir).sort()) hash.update(name).update(readFileSync(join(assemblyDir, name)));
  hash.update(readFileSync(join(packageDir, 'scripts', 'build-wasm.mjs')));
  return hash.digest('hex');
}

module.exports = function buildWasmIfStale() {
  const packageDir = join(__dirname, '..');
  const generated = join(packageDir, 'src', 'wasm', 'module.generated.ts');
  if (existsSync(generated)) {
    const recorded = /^\/\/ sources ([0-9a-f]{64})$/m.exec(readFileSync(generated, 'utf8'));
    if (recorded !== null && recorded[1] === sourcesDigest(packageDir)) return;
  }
  execFileSync(process.execPath, [join(__dirname, 'build-wasm.mjs')], { stdio: 'inherit' });
};
