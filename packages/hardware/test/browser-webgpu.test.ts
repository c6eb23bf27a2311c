/**
 * onnxruntime-web in headless Chromium (Debian's package, driven by @opt/browser-harness): WebGPU on SwiftShader
 * against wasm for the Adam step graph, GPU-buffer IO binding over 10 steps and getData().
 */
import { join } from 'node:path';
import { launchChromium, openPage, runModuleInPage, serveStatic, webgpuAdapterInfo } from '@opt/browser-harness';
import { chromiumPath, describeChromium } from './helpers/webgpu-env';

const repo = join(__dirname, '..', '..', '..');

describeChromium('onnxruntime-web in headless Chromium', () => {
  it('runs the Adam step on WebGPU (SwiftShader) with outputs kept in GPU buffers, bit-identical to wasm', async () => {
    const server = await serveStatic({
      mounts: { '/ort/': join(__dirname, '..', 'node_modules', 'onnxruntime-web', 'dist'), '/repo/': repo },
      transpileTypeScript: true,
      importMap: { 'onnxruntime-web': '/ort/ort.mjs', '@opt/tensor': '/repo/packages/tensor/src/index.js' },
    });
    const path = chromiumPath();
    const browser = await launchChromium({ webgpu: true, ...(path === undefined ? {} : { executablePath: path }) });
    try {
      const page = await openPage(browser, server);
      const adapter = await webgpuAdapterInfo(page);
      expect(adapter.adapter).toBe(true);
      expect(await page.page.evaluate('crossOriginIsolated')).toBe(true);
      const r = await runModuleInPage<{ maxDiff: number[]; gpuResident: boolean; moved: number }>(
        page,
        '/repo/packages/hardware/test/helpers/webgpu-page-adam.js',
        'run',
        { n: 65536, steps: 10 },
      );
      expect(r.gpuResident).toBe(true);
      expect(r.moved).toBeGreaterThan(1e-3);
      // param, exp_avg, exp_avg_sq after 10 steps: identical on both providers.
      expect(r.maxDiff).toEqual([0, 0, 0]);
      expect(page.errors).toEqual([]);
    } finally {
      await browser.close();
      await server.close();
    }
  }, 120_000);
});
