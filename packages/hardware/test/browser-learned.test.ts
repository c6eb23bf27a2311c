/**
 * LearnedOptimizerRunner in headless Chromium: the `@opt/learned` networks exported to ONNX run on onnxruntime-web
 * (WebGPU on SwiftShader, and wasm) and match their TypeScript twins (test/helpers/learned-twin.ts, the same twin
 * run as on onnxruntime-node) within 1e-5 over 10 steps of shipped weights.
 */
import { runModuleInPage } from '@opt/browser-harness';
import { type BrowserSession, helperUrl, openBrowserSession } from './helpers/browser-page';
import type { BrowserTwinCase } from './helpers/browser-learned-page';
import type { LearnedTwinResult } from './helpers/learned-twin';
import { chromiumPath, describeChromium } from './helpers/webgpu-env';

function expectTwin(r: LearnedTwinResult, device: string): void {
  expect(r.device).toBe(device);
  expect(r.stepsAgree).toBe(true);
  // Not vacuous: parameters move by ~1e-2 per step.
  expect(r.meanUpdate).toBeGreaterThan(1e-3);
  expect(r.maxParamError).toBeLessThanOrEqual(1e-5);
  // Recurrent LSTM states carry float32 rounding through the steps: relative 1e-4 (as on onnxruntime-node).
  expect(r.maxStateRelError).toBeLessThanOrEqual(1e-4);
}

describeChromium('LearnedOptimizerRunner on onnxruntime-web in headless Chromium', () => {
  let session: BrowserSession;

  beforeAll(async () => {
    session = await openBrowserSession(chromiumPath());
  }, 120_000);

  afterAll(async () => {
    await session?.close();
  });

  const twins = (cases: BrowserTwinCase[], steps: number, sizes?: number[]): Promise<LearnedTwinResult[]> =>
    runModuleInPage<LearnedTwinResult[]>(session.page, helperUrl('browser-learned-page.js'), 'run', { cases, steps, ...(sizes === undefined ? {} : { sizes }) });

  it.each(['webgpu', 'wasm'] as const)('the mlp-hybrid-v1 network on %s gives the TypeScript optimizer\'s updates and state', async (device) => {
    const [r] = await twins([{ case: 'mlp', device }], 10);
    expectTwin(r!, device);
    expect(session.page.errors).toEqual([]);
  }, 120_000);

  it.each(['webgpu', 'wasm'] as const)('the LSTM (Adam correction) and transformer networks on %s match their twins', async (device) => {
    // On webgpu the runner writes the LSTM cell as MatMul/Sigmoid/Tanh by default (see LearnedOptimizerRunnerOptions).
    const rs = await twins([{ case: 'lstm-adam', device }, { case: 'transformer', device }], 5, [129, 32, 9]);
    for (const r of rs) expectTwin(r, device);
  }, 120_000);

  it('keeps the WebGPU pipelines valid: no WebGPU validation error reaches the console', () => {
    // A Concat of eight inputs once exceeded WebGPU's default of 8 storage buffers per stage and failed silently.
    expect(session.page.console.filter((line) => line.includes('WebGPU validation error'))).toEqual([]);
  });
});
