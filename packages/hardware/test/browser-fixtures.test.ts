/**
 * Issue #9's parity in the browser: the PyTorch 1.13 fixtures' float32 cases (Adam, AdamW, SGD, RMSprop, Adagrad)
 * replayed through `DeviceOptimizer` with onnxruntime-web on WebGPU in headless Chromium (SwiftShader), with the
 * float32 step graphs; the same tolerance as the CPU provider's float32 replay (fixtures-cpu.test.ts). The page
 * returns raw trajectories and state dicts; they are scored here with core's harness functions, and compared with
 * the same replay on onnxruntime-node's CPU provider.
 */
import { runModuleInPage } from '@opt/browser-harness';
import { OrtNodeBackend } from '../src/node/index';
import { type BrowserSession, helperUrl, openBrowserSession } from './helpers/browser-page';
import type { BrowserFixtureReplay } from './helpers/browser-fixtures-page';
import { type RawDeviceReplay, replayDeviceCase } from './helpers/fixture-device-replay';
import { type CaseScore, float32Cases, scoreReplay } from './helpers/fixture-scoring';
import { report } from './helpers/replay';
import { chromiumPath, describeChromium } from './helpers/webgpu-env';

describeChromium('PyTorch fixtures through DeviceOptimizer on WebGPU in headless Chromium (SwiftShader)', () => {
  let session: BrowserSession;
  let replays: BrowserFixtureReplay[] = [];
  const scores: CaseScore[] = [];

  beforeAll(async () => {
    const cases = float32Cases();
    // The CPU-provider reference runs in Node while the page works (SwiftShader is the slow part).
    const backend = new OrtNodeBackend();
    const reference = (async () => {
      const out = new Map<string, RawDeviceReplay>();
      for (const named of cases) out.set(named.case.id, await replayDeviceCase(named.case, named.optimizer, backend, 'cpu'));
      return out;
    })();
    session = await openBrowserSession(chromiumPath());
    replays = await runModuleInPage<BrowserFixtureReplay[]>(session.page, helperUrl('browser-fixtures-page.js'), 'run', { device: 'webgpu' });
    const cpu = await reference;
    const byId = new Map(cases.map((n) => [n.case.id, n]));
    for (const { raw } of replays) {
      const named = byId.get(raw.id);
      if (named === undefined) throw new Error(`the page replayed an unknown case ${raw.id}`);
      const s = scoreReplay(named, raw, cpu.get(raw.id));
      scores.push(s);
      report(`optim/${s.optimizer}.json`, 'webgpu-chromium-swiftshader', { ...s, dtype: 'float32', trajectory: [] });
    }
  }, 180_000);

  afterAll(async () => {
    await session?.close();
  });

  it('replays all 17 float32 cases of the five fixture files, every one on the webgpu device, without page errors', () => {
    expect(scores).toHaveLength(17);
    expect(new Set(scores.map((s) => s.optimizer))).toEqual(new Set(['adam', 'adamw', 'sgd', 'rmsprop', 'adagrad']));
    expect(scores.filter((s) => s.device !== 'webgpu')).toEqual([]);
    expect(session.page.errors).toEqual([]);
  });

  it('every case matches PyTorch within 1e-5 (params after every step, final state with PyTorch keys)', () => {
    const failing = scores.filter((s) => s.keyMismatches.length > 0 || !(s.paramError <= 1e-5) || !(s.stateError <= 1e-5));
    expect(failing).toEqual([]);
  });

  it('every case stays within 1e-5 of onnxruntime-node\'s CPU provider running the same float32 graphs', () => {
    expect(scores.filter((s) => !(s.vsReference! <= 1e-5))).toEqual([]);
  });
});
