/**
 * The issue's done-when in the browser: `DeviceOptimizer` with onnxruntime-web trains the digits MLP in headless
 * Chromium, on WebGPU (SwiftShader) and on wasm, to the accuracy of `@opt/core`'s Adam run on the host (Node) with
 * the same data, initialisation and batch order (test/helpers/digits-shared.ts). The standardized subset reaches the
 * page as JSON through `runModuleInPage`; the page returns its final parameters.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDigitsCsv } from '@opt/tasks';
import { runModuleInPage } from '@opt/browser-harness';
import { type BrowserSession, helperUrl, openBrowserSession } from './helpers/browser-page';
import { type DigitsRun, type DigitsSettings, datasetToJson, hostAdam, maxParamDiff, prepareDigits, trainDigits } from './helpers/digits-shared';
import { chromiumPath, describeChromium } from './helpers/webgpu-env';

// The settings of the Node WebGPU digits test (webgpu-node.test.ts), so the numbers compare.
const SETTINGS: DigitsSettings = { epochs: 3, trainSubset: 600, batchSize: 64, lr: 1e-2, seed: 0 };

// What `loadDigits()` of `@opt/tasks/node` does; that entry resolves its data folder with `import.meta.url`, which
// this package's jest (CommonJS) cannot load.
function loadDigits() {
  return parseDigitsCsv(readFileSync(join(__dirname, '..', '..', 'tasks', 'data', 'digits.csv'), 'utf8'), 'digits');
}

describeChromium('DeviceOptimizer trains the digits MLP in headless Chromium', () => {
  let session: BrowserSession;
  let host: DigitsRun;
  const data = (() => {
    const { train, test } = prepareDigits(loadDigits(), SETTINGS);
    return { train, test, json: { train: datasetToJson(train), test: datasetToJson(test) } };
  })();

  beforeAll(async () => {
    host = await trainDigits(data.train, data.test, SETTINGS, hostAdam(SETTINGS.lr!));
    session = await openBrowserSession(chromiumPath());
  }, 120_000);

  afterAll(async () => {
    await session?.close();
  });

  it.each(['webgpu', 'wasm'] as const)('on %s it reaches the host @opt/core accuracy with parameters within 1e-5', async (device) => {
    const r = await runModuleInPage<DigitsRun>(session.page, helperUrl('browser-digits-page.js'), 'run', {
      data: data.json,
      settings: SETTINGS,
      device,
    });
    expect(r.device).toBe(device);
    expect(r.steps).toBe(host.steps);
    expect(host.accuracy).toBeGreaterThan(0.85);
    // Same updates up to float32 rounding of the graph's arithmetic (the host computes Adam in float64): the test
    // accuracy may differ by at most one of the 359 test examples, the parameters agree to 1e-5 after 30 steps.
    expect(Math.abs(r.accuracy - host.accuracy)).toBeLessThanOrEqual(1 / r.testExamples + 1e-12);
    expect(maxParamDiff(r, host)).toBeLessThan(1e-5);
    expect(session.page.errors).toEqual([]);
  }, 120_000);
});
