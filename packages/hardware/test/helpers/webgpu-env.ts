/**
 * Test-side view of the WebGPU environments prepared by test/global-setup.cjs, and the child-process runner of
 * the Node WebGPU scenarios (see test/helpers/webgpu-register.cjs for why they run in a child).
 *
 * Policy: a missing environment FAILS the tests, unless `OPT_ALLOW_NO_WEBGPU=1` is set outside CI, in which case
 * they are skipped with the reason printed. Under `CI=true` a missing environment always fails.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { vulkanEnvironment } from '../../src/node/vulkan';

interface EnvStatus {
  lavapipe: { ok: boolean; dir?: string; reason?: string };
  chromium: { ok: boolean; path?: string; reason?: string };
}

function status(): EnvStatus {
  const raw = process.env['OPT_WEBGPU_ENV'];
  if (raw === undefined) {
    const reason = 'the jest global setup (test/global-setup.cjs) did not run';
    return { lavapipe: { ok: false, reason }, chromium: { ok: false, reason } };
  }
  return JSON.parse(raw) as EnvStatus;
}

/** Whether a missing environment may skip instead of fail. */
function skipAllowed(): boolean {
  return process.env['OPT_ALLOW_NO_WEBGPU'] === '1' && process.env['CI'] !== 'true';
}

/**
 * `describe` for a block that needs an environment: runs it when ready; otherwise skips it with the reason printed
 * (only under `OPT_ALLOW_NO_WEBGPU=1` outside CI) or defines one failing test that carries the reason.
 */
function describeWith(kind: 'lavapipe' | 'chromium', title: string, body: () => void): void {
  const s = status()[kind];
  if (s.ok) {
    describe(title, body);
    return;
  }
  const reason = s.reason ?? 'unknown';
  if (skipAllowed()) {
    console.warn(`SKIPPED "${title}": no ${kind} WebGPU environment (${reason}); OPT_ALLOW_NO_WEBGPU=1`);
    describe.skip(title, body);
    return;
  }
  describe(title, () => {
    it(`needs the ${kind} WebGPU environment`, () => {
      throw new Error(`no ${kind} WebGPU environment: ${reason} (set OPT_ALLOW_NO_WEBGPU=1 to skip outside CI)`);
    });
  });
}

/** A `describe` whose tests need onnxruntime-node's WebGPU EP on lavapipe. */
export function describeLavapipe(title: string, body: () => void): void {
  describeWith('lavapipe', title, body);
}

/** A `describe` whose tests need headless Chromium. */
export function describeChromium(title: string, body: () => void): void {
  describeWith('chromium', title, body);
}

/** The Chromium executable the global setup found. */
export function chromiumPath(): string | undefined {
  return status().chromium.path;
}

/** The outcome of {@link runWebGpuScenario}. */
export interface ScenarioOutcome<T> {
  result: T;
  /** Everything the child printed (onnxruntime/Dawn warnings included). */
  log: string;
}

const MARKER = '@@webgpu-result@@';

/**
 * Run `export function run(args)` of a TypeScript scenario module in a child `node` process whose environment has
 * the lavapipe {@link vulkanEnvironment}, and return its JSON result.
 *
 * @param scenario - path of the module (absolute, or relative to test/helpers).
 * @param args - its argument (JSON).
 * @param timeoutMs - kill the child after this long.
 */
export function runWebGpuScenario<T>(scenario: string, args: unknown = {}, timeoutMs = 120_000): Promise<ScenarioOutcome<T>> {
  const dir = status().lavapipe.dir;
  const env = { ...process.env, ...vulkanEnvironment(dir === undefined ? {} : { lavapipeDir: dir }) };
  const file = scenario.startsWith('/') ? scenario : join(__dirname, scenario);
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [join(__dirname, 'webgpu-child.cjs'), file, JSON.stringify(args)], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const at = out.lastIndexOf(MARKER);
      if (at < 0) {
        fail(new Error(`WebGPU scenario ${scenario} died (code ${code}, signal ${signal}) without a result:\n${out.slice(-4000)}`));
        return;
      }
      const payload = JSON.parse(out.slice(at + MARKER.length).split('\n')[0]!) as { ok: boolean; result?: T; error?: { message: string; stack?: string } };
      const log = out.slice(0, at);
      if (!payload.ok) fail(new Error(`WebGPU scenario ${scenario} failed: ${payload.error?.stack ?? payload.error?.message}\n${log.slice(-2000)}`));
      else ok({ result: payload.result as T, log });
    });
  });
}
