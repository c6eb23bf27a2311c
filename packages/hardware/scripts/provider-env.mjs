/**
 * Shared set-up of the provider scripts (webgpu-digits.mjs, bench-providers.mjs): loads the repository's
 * TypeScript sources and test helpers in this process (test/helpers/webgpu-register.cjs: no build needed), prepares
 * the two WebGPU environments with the project's own idempotent scripts (Mesa lavapipe for onnxruntime-node,
 * Debian's Chromium for SwiftShader), runs Node scenarios in a child with the Vulkan environment, and opens the
 * Chromium page.
 */
import { spawnSync } from 'node:child_process';
import { cpus, totalmem, loadavg } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = dirname(fileURLToPath(import.meta.url));
export const pkg = join(here, '..');
export const repo = join(pkg, '..', '..');
export const require = createRequire(import.meta.url);
require('../test/helpers/webgpu-register.cjs');

/** Command-line `--name value` (or the fallback). */
export function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

function runScript(script) {
  const r = spawnSync('bash', [script], { encoding: 'utf8', timeout: 600_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim(), stdout: r.stdout ?? '' };
}

/** Run ensure-lavapipe.sh and ensure-chromium.sh; hand their outcome to the test helpers (OPT_WEBGPU_ENV). */
export function ensureEnvironments() {
  const lavapipe = runScript(join(pkg, 'scripts', 'ensure-lavapipe.sh'));
  const chromium = runScript(join(repo, 'tools', 'browser-harness', 'scripts', 'ensure-chromium.sh'));
  for (const r of [lavapipe, chromium]) if (r.out !== '') console.error(r.out);
  const chromiumPath = chromium.ok ? (/^CHROMIUM=(.*)$/m.exec(chromium.stdout) ?? [])[1] : undefined;
  const env = {
    lavapipe: lavapipe.ok ? { ok: true, dir: join(pkg, '.cache', 'lavapipe') } : { ok: false, reason: lavapipe.out },
    chromium: chromium.ok ? { ok: true, path: chromiumPath } : { ok: false, reason: chromium.out },
  };
  process.env.OPT_WEBGPU_ENV = JSON.stringify(env);
  return env;
}

/** Run `export function run(args)` of a test helper in a child node with the lavapipe Vulkan environment. */
export async function runLavapipe(scenario, args, timeoutMs = 1_200_000) {
  const { runWebGpuScenario } = require('../test/helpers/webgpu-env.ts');
  return (await runWebGpuScenario(scenario, args, timeoutMs)).result;
}

/** Open headless Chromium on the repository's static server; call `fn(runPage)`, then close everything. */
export async function withChromium(fn) {
  const { openBrowserSession, helperUrl } = require('../test/helpers/browser-page.ts');
  const { runModuleInPage } = require('@opt/browser-harness');
  const env = JSON.parse(process.env.OPT_WEBGPU_ENV ?? '{}');
  const session = await openBrowserSession(env.chromium?.path);
  try {
    return await fn((file, args) => runModuleInPage(session.page, helperUrl(file), 'run', args), session.page);
  } finally {
    await session.close();
  }
}

/** One line naming the machine (CPU, cores, memory, load, Node, Chromium, Mesa). */
export function machine() {
  const cpu = cpus();
  const chromium = spawnSync('bash', ['-c', 'chromium --version 2>/dev/null | head -1'], { encoding: 'utf8' }).stdout.trim();
  let mesa = '';
  try {
    mesa = require('node:fs').readFileSync(join(pkg, '.cache', 'lavapipe', 'mesa-version'), 'utf8').trim();
  } catch {
    mesa = 'unknown';
  }
  return (
    `${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} logical cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, no GPU; ` +
    `Node ${process.version}; ${chromium || 'Chromium ?'}; Mesa lavapipe ${mesa}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`
  );
}

/** A Markdown table. */
export function table(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
