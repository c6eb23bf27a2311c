// Jest global setup of @opt/hardware: the preset's (build @opt/tensor's wasm module when stale), then the WebGPU
// environments of the webgpu*/browser* tests:
//   - scripts/ensure-lavapipe.sh: Mesa 25 lavapipe unpacked into .cache/lavapipe (Vulkan for onnxruntime-node);
//   - tools/browser-harness/scripts/ensure-chromium.sh: Debian's chromium (SwiftShader WebGPU in headless Chromium).
// Both are idempotent and print what they did. Their outcome is handed to the tests in OPT_WEBGPU_ENV (JSON), which
// the test helper (test/helpers/webgpu-env.ts) turns into "run", "skip" (only with OPT_ALLOW_NO_WEBGPU=1, never
// under CI=true) or "fail". Workers inherit process.env, and an in-band run reads the same process.env.
'use strict';
const { spawnSync } = require('node:child_process');
const { join } = require('node:path');

const buildWasmIfStale = require('../../tensor/scripts/jest-global-setup.cjs');

function runScript(label, script) {
  const result = spawnSync('bash', [script], { encoding: 'utf8', timeout: 600_000 });
  const out = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
  if (out !== '') process.stdout.write(`\n${out}\n`);
  if (result.status === 0) return { ok: true, output: result.stdout };
  const reason = result.error !== undefined ? String(result.error) : (result.stderr ?? '').trim() || `exit ${result.status}`;
  return { ok: false, reason: `${label}: ${reason}` };
}

module.exports = async function globalSetup(globalConfig, projectConfig) {
  await buildWasmIfStale(globalConfig, projectConfig);
  // Once per jest run (a parent that already prepared hands its result down through the environment).
  if (process.env.OPT_WEBGPU_ENV !== undefined) return;
  const lavapipe = runScript('lavapipe', join(__dirname, '..', 'scripts', 'ensure-lavapipe.sh'));
  const chromium = runScript('chromium', join(__dirname, '..', '..', '..', 'tools', 'browser-harness', 'scripts', 'ensure-chromium.sh'));
  const chromiumPath = chromium.ok ? (/^CHROMIUM=(.*)$/m.exec(chromium.output) ?? [])[1] : undefined;
  process.env.OPT_WEBGPU_ENV = JSON.stringify({
    lavapipe: lavapipe.ok ? { ok: true, dir: join(__dirname, '..', '.cache', 'lavapipe') } : { ok: false, reason: lavapipe.reason },
    chromium: chromium.ok ? { ok: true, path: chromiumPath } : { ok: false, reason: chromium.reason },
  });
};
