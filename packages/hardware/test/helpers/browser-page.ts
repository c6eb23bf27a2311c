/**
 * Node side of the Chromium tests and scripts: one static server exposing onnxruntime-web's dist and the
 * repository (TypeScript sources transpiled on request, `@opt/*` bare imports mapped to their sources) and one
 * headless Chromium with WebGPU (SwiftShader without a GPU).
 */
import { join } from 'node:path';
import { type HarnessPage, launchChromium, openPage, serveStatic } from '@opt/browser-harness';

const repo = join(__dirname, '..', '..', '..', '..');

/** The import map of the pages: onnxruntime-web and the browser-safe `@opt` packages the scenarios use. */
export const PAGE_IMPORT_MAP: Readonly<Record<string, string>> = {
  'onnxruntime-web': '/ort/ort.mjs',
  '@opt/tensor': '/repo/packages/tensor/src/index.js',
  '@opt/core': '/repo/packages/core/src/index.js',
  '@opt/tasks': '/repo/packages/tasks/src/index.js',
  '@opt/learned': '/repo/packages/learned/src/index.js',
};

/** A served page in a launched browser; `close()` stops both. */
export interface BrowserSession {
  page: HarnessPage;
  close(): Promise<void>;
}

/**
 * Serve the repository and open one page in headless Chromium.
 *
 * @param executablePath - the browser (default: the harness's search).
 */
export async function openBrowserSession(executablePath?: string): Promise<BrowserSession> {
  const server = await serveStatic({
    mounts: { '/ort/': join(__dirname, '..', '..', 'node_modules', 'onnxruntime-web', 'dist'), '/repo/': repo },
    transpileTypeScript: true,
    importMap: PAGE_IMPORT_MAP,
  });
  try {
    const browser = await launchChromium({ webgpu: true, ...(executablePath === undefined ? {} : { executablePath }) });
    try {
      const page = await openPage(browser, server);
      return {
        page,
        close: async () => {
          await browser.close();
          await server.close();
        },
      };
    } catch (e) {
      await browser.close();
      throw e;
    }
  } catch (e) {
    await server.close();
    throw e;
  }
}

/** URL of a test helper module on the page's server. */
export function helperUrl(file: string): string {
  return `/repo/packages/hardware/test/helpers/${file}`;
}
