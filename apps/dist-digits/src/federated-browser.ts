/**
 * Browser clients of the federated digits run: headless Chromium (through `@opt/browser-harness`) opens one page per
 * client, each page imports `browser-client` and takes part in the rounds over nats-server's WebSocket listener.
 *
 * Nothing is bundled: a static server on 127.0.0.1 serves the packages' modules and the app's page module (the
 * TypeScript sources transpiled on request when the app runs from `src/`, as under jest; the built `dist/` modules
 * when it runs from `dist/`), and the `@nats-io` CommonJS builds wrapped into ES modules by `@opt/distributed/node`.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Browser, type HarnessPage, type StaticServer, launchChromium, openPage, runModuleInPage, serveStatic } from '@opt/browser-harness';
import { writeNatsBrowserModules } from '@opt/distributed/node';
import type { Dataset } from '@opt/tasks';
import type { BrowserClientArgs, BrowserClientResult } from './browser-client.js';
import { type DigitsClientSettings, shardToJson } from './federated-client.js';

/** The packages a browser client imports, by name (their browser-safe main entries). */
const PAGE_PACKAGES = ['tensor', 'core', 'tasks', 'distributed'] as const;

/** Settings of {@link startBrowserClients}. */
export interface BrowserClientsOptions {
  /** nats-server's WebSocket URL (`startNatsServer({ websocket: true }).wsUrl`). */
  wsUrl: string;
  /** The federated job. */
  job: string;
  /** The folder holding `browser-client.ts` (`apps/dist-digits/src`) or the built `browser-client.js` (`…/dist`). */
  pageDir: string;
  /** One shard per browser client. */
  shards: readonly Dataset[];
  /** Client ids, one per shard (default `browser0`, `browser1`, …). */
  clientIds?: readonly string[];
  /** The run's settings; `clientIndex` of client `j` is `firstIndex + j`. */
  settings: Omit<DigitsClientSettings, 'clientIndex'>;
  /** Index of the first browser client among all clients (the number of Node clients). */
  firstIndex: number;
  /** A page stops when no task samples it for this long (ms; default 120 000). */
  idleTimeoutMs?: number;
}

/** Running browser clients. */
export interface BrowserClients {
  /** Their client ids. */
  readonly clientIds: readonly string[];
  /** The pages' console lines and uncaught errors, per client. */
  readonly pages: readonly HarnessPage[];
  /** Resolves with every page's result once all have left (the server finished the job), rejects on a page's error. */
  readonly done: Promise<BrowserClientResult[]>;
  /** Close the pages, the browser and the static server, and remove the temporary folder. Idempotent. */
  close(): Promise<void>;
}

/**
 * Launch headless Chromium and start one browser client per shard; they register with the job's server as the Node
 * clients do. Resolves once the pages are open and running (registration follows within a second or two: wait for it
 * with `FederatedServer.waitForClients`).
 *
 * @throws Error when no Chromium is installed (see `tools/browser-harness/scripts/ensure-chromium.sh`).
 */
export async function startBrowserClients(options: BrowserClientsOptions): Promise<BrowserClients> {
  const pageDir = resolve(options.pageDir);
  const fromSources = existsSync(join(pageDir, 'browser-client.ts'));
  const packagesDir = resolve(pageDir, '..', '..', '..', 'packages');
  const natsDir = mkdtempSync(join(tmpdir(), 'opt-fl-browser-'));
  const clientIds = options.clientIds ?? options.shards.map((_, j) => `browser${j}`);
  let web: StaticServer | null = null;
  let browser: Browser | null = null;
  let closed: Promise<void> | null = null;
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      if (browser !== null) await browser.close().catch(() => undefined);
      if (web !== null) await web.close();
      rmSync(natsDir, { recursive: true, force: true });
    })());
  try {
    const importMap: Record<string, string> = writeNatsBrowserModules(natsDir, '/nats/');
    for (const p of PAGE_PACKAGES) importMap[`@opt/${p}`] = `/packages/${p}/${fromSources ? 'src' : 'dist'}/index.js`;
    web = await serveStatic({ mounts: { '/nats/': natsDir, '/packages/': packagesDir, '/app/': pageDir }, transpileTypeScript: fromSources, importMap });
    browser = await launchChromium({ webgpu: false });
    const pages: HarnessPage[] = [];
    const results: Array<Promise<BrowserClientResult>> = [];
    for (let j = 0; j < options.shards.length; j++) {
      const page = await openPage(browser, web);
      pages.push(page);
      const args: BrowserClientArgs = {
        ws: options.wsUrl,
        job: options.job,
        clientId: clientIds[j]!,
        settings: { ...options.settings, clientIndex: options.firstIndex + j },
        shard: shardToJson(options.shards[j]!),
        idleTimeoutMs: options.idleTimeoutMs ?? 120000,
      };
      results.push(runModuleInPage<BrowserClientResult>(page, '/app/browser-client.js', 'run', args));
    }
    const done = Promise.all(results);
    // The caller awaits `done` later; until then a page's failure must not be an unhandled rejection.
    done.catch(() => undefined);
    return { clientIds, pages, done, close };
  } catch (e) {
    await close();
    throw e;
  }
}
