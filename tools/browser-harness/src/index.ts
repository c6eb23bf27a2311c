/**
 * Browser test tooling: drives Debian's Chromium headless through playwright-core, serves files to it from a
 * cross-origin-isolated static server on 127.0.0.1, and runs ES modules in the page, returning their JSON results.
 *
 * Headless Chromium with `--enable-unsafe-webgpu` exposes a SwiftShader fallback adapter, so WebGPU code runs on a
 * machine without a GPU. The browser itself comes from `scripts/ensure-chromium.sh` (Debian's `chromium`
 * package): playwright-core is used only as the driver and never downloads a browser.
 *
 * @example
 * ```ts
 * const server = await serveStatic({ mounts: { '/ort/': ortDistDir, '/repo/': repoDir }, transpileTypeScript: true,
 *   importMap: { 'onnxruntime-web': '/ort/ort.mjs' } });
 * const browser = await launchChromium({ webgpu: true });
 * const page = await openPage(browser, server);
 * const result = await runModuleInPage(page, '/repo/test/page-scenario.js', 'run', { n: 1024 });
 * await browser.close();
 * await server.close();
 * ```
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, extname, join, normalize, resolve, sep } from 'node:path';
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';

export type { Browser, Page } from 'playwright-core';

/** The executables searched, in order, when no path is given (Debian's package first). */
export const CHROMIUM_CANDIDATES: readonly string[] = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium'];

/**
 * The Chromium executable to drive: `OPT_CHROMIUM_PATH` when set (and executable), else the first of
 * {@link CHROMIUM_CANDIDATES} that exists.
 *
 * @returns the path, or `null` when no browser is installed (run `scripts/ensure-chromium.sh`).
 */
export function findChromium(): string | null {
  const fromEnv = process.env['OPT_CHROMIUM_PATH'];
  if (fromEnv !== undefined && fromEnv !== '') return existsSync(fromEnv) ? fromEnv : null;
  for (const candidate of CHROMIUM_CANDIDATES) if (existsSync(candidate)) return candidate;
  return null;
}

/** Options of {@link launchChromium}. */
export interface LaunchChromiumOptions {
  /** Enable WebGPU (`--enable-unsafe-webgpu`; SwiftShader when there is no GPU). Default `true`. */
  webgpu?: boolean;
  /** The browser executable; default {@link findChromium}. */
  executablePath?: string;
  /** Extra command-line flags, appended to {@link chromiumFlags}. */
  extraArgs?: readonly string[];
  /** Launch timeout in milliseconds (default 60 000). */
  timeoutMs?: number;
}

/**
 * The command-line flags of a headless, quiet, sandbox-less Chromium: `--headless=new` (the full browser, which
 * has WebGPU), no background networking, component updates, sync or first-run work (the tests run offline), and
 * `--enable-unsafe-webgpu` when `webgpu` is set (Linux keeps WebGPU behind it; with no GPU, Dawn falls back to
 * SwiftShader). `--no-sandbox` because CI runs as root, where Chromium refuses its sandbox.
 *
 * @param webgpu - add the WebGPU flag.
 */
export function chromiumFlags(webgpu: boolean): string[] {
  const flags = [
    '--headless=new',
    '--no-sandbox',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ];
  if (webgpu) flags.push('--enable-unsafe-webgpu');
  return flags;
}

/**
 * Launch the installed Chromium headless with {@link chromiumFlags}.
 *
 * @throws Error naming `scripts/ensure-chromium.sh` when no browser is installed.
 */
export async function launchChromium(options: LaunchChromiumOptions = {}): Promise<Browser> {
  const executablePath = options.executablePath ?? findChromium();
  if (executablePath === null) {
    throw new Error('no Chromium found: run tools/browser-harness/scripts/ensure-chromium.sh (apt-get install chromium) or set OPT_CHROMIUM_PATH');
  }
  return chromium.launch({
    executablePath,
    // playwright adds its own --headless; ours (`new`) is the one that keeps WebGPU.
    headless: false,
    args: [...chromiumFlags(options.webgpu ?? true), ...(options.extraArgs ?? [])],
    timeout: options.timeoutMs ?? 60_000,
  });
}

/** Options of {@link serveStatic}. */
export interface StaticServerOptions {
  /**
   * URL prefixes and the directories they serve, e.g. `{ '/ort/': '.../onnxruntime-web/dist' }`. A prefix must
   * start and end with `/`.
   */
  mounts: Readonly<Record<string, string>>;
  /** An import map written into the served `/` page, so modules can import bare names (`'@opt/core'`). */
  importMap?: Readonly<Record<string, string>>;
  /**
   * Serve TypeScript sources as JavaScript: a request for `x.js` that does not exist while `x.ts` does is answered
   * with `x.ts` transpiled to an ES module (no type-check), so a page runs the repository's sources as jest does.
   * Transpiled output is cached in memory and on disk (see `transpileCacheDir`), so only changed files are
   * transpiled again. Needs the `typescript` package (loaded on the first cache miss). Default `false`.
   */
  transpileTypeScript?: boolean;
  /**
   * Folder of the on-disk transpile cache (entries keyed by source path, modification time and a SHA-256 of the
   * content, the compiler options and the TypeScript version), or `null` for none. Default: the
   * `OPT_BROWSER_HARNESS_CACHE` environment variable when set (`off` disables it), else
   * {@link defaultTranspileCacheDir}. An in-memory cache per process (path + modification time + size) is
   * always used.
   */
  transpileCacheDir?: string | null;
  /** Interface to listen on; default `127.0.0.1` (never a public interface). */
  host?: string;
  /** Port; default 0 (any free port). */
  port?: number;
}

/** A running {@link serveStatic} server. */
export interface StaticServer {
  /** `http://127.0.0.1:<port>`. */
  readonly origin: string;
  /** The absolute URL of a server path (`'/ort/ort.mjs'`). */
  url(path: string): string;
  /** Stop listening and close open connections. */
  close(): Promise<void>;
  /** How this server's TypeScript requests were answered (live counters). */
  readonly transpileStats: TranspileStats;
}

/** Counters of {@link StaticServer.transpileStats}. */
export interface TranspileStats {
  /** Answered from the in-memory cache of this process. */
  memoryHits: number;
  /** Answered from the on-disk cache. */
  diskHits: number;
  /** Transpiled by TypeScript (cache misses). */
  transpiled: number;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The headers every response carries. COOP `same-origin` plus COEP `require-corp` make the page cross-origin
 * isolated, which `SharedArrayBuffer` (onnxruntime-web's threaded wasm) requires; `no-store` keeps a rebuilt file
 * from being served stale.
 */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

type TypeScriptModule = typeof import('typescript');

let typescript: Promise<TypeScriptModule> | null = null;

/** TypeScript, loaded on the first cache miss only (loading it costs about half a second). */
function loadTypeScript(): Promise<TypeScriptModule> {
  typescript ??= import('typescript').then((m) => (m as { default?: TypeScriptModule }).default ?? m);
  return typescript;
}

/** What the transpiler emits; part of every disk-cache key, so a change here invalidates old entries. */
const TRANSPILE_SETTINGS = 'module=ESNext;target=ES2022;inlineSourceMap;isolatedModules;v1';

/** The in-memory transpile cache of this process: absolute path → (mtime, size, JavaScript). */
const memoryCache = new Map<string, { mtimeMs: number; size: number; code: string }>();

/** Empty the in-memory transpile cache of this process (the on-disk cache is left alone). */
export function clearTranspileMemoryCache(): void {
  memoryCache.clear();
}

/**
 * The default on-disk transpile cache: `node_modules/.cache/opt-browser-harness` under the current directory
 * (git-ignored with `node_modules`), or `null` when the current directory has no `node_modules`.
 */
export function defaultTranspileCacheDir(): string | null {
  const modules = join(process.cwd(), 'node_modules');
  return existsSync(modules) ? join(modules, '.cache', 'opt-browser-harness') : null;
}

function resolveCacheDir(option: string | null | undefined): string | null {
  if (option !== undefined) return option === null ? null : resolve(option);
  const fromEnv = process.env['OPT_BROWSER_HARNESS_CACHE'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv === 'off' ? null : resolve(fromEnv);
  return defaultTranspileCacheDir();
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * TypeScript → JavaScript for the page, cached twice: in memory (keyed by path, mtime and size, so an unchanged
 * file is not even read) and on disk (one file per source, named by a hash of its path, holding the hash of its
 * content, mtime and the settings), so a new process (each jest test file) skips the transpile and the TypeScript
 * load. A disk problem only costs the transpile: the cache is an accelerator, never a source of errors.
 */
class Transpiler {
  constructor(
    private readonly dir: string | null,
    private readonly stats: TranspileStats,
  ) {}

  async javascriptOf(file: string): Promise<string> {
    const stat = await fsp.stat(file);
    const cached = memoryCache.get(file);
    if (cached !== undefined && cached.mtimeMs === stat.mtimeMs && cached.size === stat.size) {
      this.stats.memoryHits++;
      return cached.code;
    }
    const source = await fsp.readFile(file, 'utf8');
    const key = sha256(`${file}\n${stat.mtimeMs}\n${sha256(source)}\n${TRANSPILE_SETTINGS}`);
    const entry = this.dir === null ? null : join(this.dir, `${sha256(file).slice(0, 24)}-${basename(file)}.json`);
    let code = entry === null ? null : await readEntry(entry, key);
    if (code !== null) this.stats.diskHits++;
    else {
      const ts = await loadTypeScript();
      code = ts.transpileModule(source, {
        fileName: file,
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, inlineSourceMap: true, isolatedModules: true },
      }).outputText;
      this.stats.transpiled++;
      if (entry !== null) await writeEntry(this.dir!, entry, key, code);
    }
    memoryCache.set(file, { mtimeMs: stat.mtimeMs, size: stat.size, code });
    return code;
  }
}

async function readEntry(entry: string, key: string): Promise<string | null> {
  try {
    const parsed = JSON.parse(await fsp.readFile(entry, 'utf8')) as { key?: unknown; code?: unknown };
    return parsed.key === key && typeof parsed.code === 'string' ? parsed.code : null;
  } catch {
    return null;
  }
}

async function writeEntry(dir: string, entry: string, key: string, code: string): Promise<void> {
  try {
    await fsp.mkdir(dir, { recursive: true });
    // Write aside, then rename: concurrent test processes never read a half-written entry.
    const temporary = `${entry}.${process.pid}.${Date.now()}.tmp`;
    await fsp.writeFile(temporary, JSON.stringify({ key, code }));
    await fsp.rename(temporary, entry);
  } catch {
    // A read-only or full disk only means the next process transpiles again.
  }
}

function indexPage(importMap: Readonly<Record<string, string>> | undefined): string {
  const map = importMap === undefined ? '' : `<script type="importmap">${JSON.stringify({ imports: importMap })}</script>`;
  return `<!doctype html><html><head><meta charset="utf-8"><title>@opt browser harness</title>${map}</head><body></body></html>`;
}

/**
 * Start a static file server for browser tests. `/` answers a blank HTML page (with the import map, if any); other
 * paths are looked up under the longest matching mount. Every response carries {@link ISOLATION_HEADERS}.
 *
 * @returns the running server; close it when done.
 */
export async function serveStatic(options: StaticServerOptions): Promise<StaticServer> {
  const mounts = Object.entries(options.mounts)
    .map(([prefix, dir]) => {
      if (!prefix.startsWith('/') || !prefix.endsWith('/')) throw new Error(`mount prefix must start and end with '/': ${prefix}`);
      return [prefix, resolve(dir)] as const;
    })
    .sort((a, b) => b[0].length - a[0].length);
  const stats: TranspileStats = { memoryHits: 0, diskHits: 0, transpiled: 0 };
  const transpiler = options.transpileTypeScript === true ? new Transpiler(resolveCacheDir(options.transpileCacheDir), stats) : null;

  const locate = (pathname: string): string | null => {
    for (const [prefix, dir] of mounts) {
      if (!pathname.startsWith(prefix)) continue;
      const file = normalize(join(dir, decodeURIComponent(pathname.slice(prefix.length))));
      // Refuse `..` escapes out of the mounted directory.
      return file === dir || file.startsWith(dir + sep) ? file : null;
    }
    return null;
  };

  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer): void => {
    res.writeHead(status, { ...ISOLATION_HEADERS, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (pathname === '/' || pathname === '/index.html') {
      send(res, 200, CONTENT_TYPES['.html']!, indexPage(options.importMap));
      return;
    }
    if (pathname === '/favicon.ico') {
      send(res, 204, 'text/plain', '');
      return;
    }
    const file = locate(pathname);
    if (file === null) {
      send(res, 404, 'text/plain', `not found: ${pathname}`);
      return;
    }
    if (existsSync(file)) {
      const stat = await fsp.stat(file);
      if (stat.isFile()) {
        send(res, 200, CONTENT_TYPES[extname(file)] ?? 'application/octet-stream', await fsp.readFile(file));
        return;
      }
    }
    const tsFile = file.endsWith('.js') ? `${file.slice(0, -3)}.ts` : file.endsWith('.ts') ? file : null;
    if (transpiler !== null && tsFile !== null && existsSync(tsFile)) {
      send(res, 200, CONTENT_TYPES['.js']!, await transpiler.javascriptOf(tsFile));
      return;
    }
    send(res, 404, 'text/plain', `not found: ${pathname}`);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, 'text/plain', String(error));
      else res.destroy();
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, host, () => ok());
  });
  const origin = `http://${host}:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    transpileStats: stats,
    url: (path: string) => new URL(path, origin).href,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

/** A page opened by {@link openPage}, with the console lines and uncaught errors it has logged. */
export interface HarnessPage {
  /** The playwright page. */
  readonly page: Page;
  /** Console messages, as `'<type>: <text>'`. */
  readonly console: string[];
  /** Uncaught page errors. */
  readonly errors: string[];
}

/**
 * Open a new page on the server's `/` (an empty, cross-origin-isolated document carrying the import map) and
 * record its console output and errors.
 */
export async function openPage(browser: Browser, server: StaticServer): Promise<HarnessPage> {
  const page = await browser.newPage();
  const consoleLines: string[] = [];
  const errors: string[] = [];
  page.on('console', (m: ConsoleMessage) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e: Error) => errors.push(e.message));
  await page.goto(server.url('/'));
  return { page, console: consoleLines, errors };
}

/**
 * Import an ES module in the page and call one of its exports with `args`; the (awaited) return value comes back
 * through playwright's structured serialisation, so return JSON-like data (numbers, strings, arrays, plain
 * objects; typed arrays as plain arrays).
 *
 * @param target - the page (or a {@link HarnessPage}).
 * @param moduleUrl - the module's URL on the page's server, e.g. `'/repo/packages/x/test/helpers/scenario.js'`.
 * @param exportName - the exported function to call (default `'run'`).
 * @param args - its single argument (JSON-serialisable).
 * @throws the page's error (message and stack) when the import or the call fails.
 */
export async function runModuleInPage<T = unknown>(
  target: Page | HarnessPage,
  moduleUrl: string,
  exportName = 'run',
  args: unknown = {},
): Promise<T> {
  const page = 'page' in target ? target.page : target;
  // A source string, not a function: transpiled to CommonJS (jest), a function's `import()` would become
  // `require()`, which the page does not have.
  const script = `(async () => {
    const mod = await import(${JSON.stringify(moduleUrl)});
    const fn = mod[${JSON.stringify(exportName)}];
    if (typeof fn !== 'function') throw new Error(${JSON.stringify(`${moduleUrl} has no exported function ${exportName}`)});
    return await fn(${JSON.stringify(args ?? null)});
  })()`;
  return (await page.evaluate(script)) as T;
}

/** What the page's WebGPU reports ({@link webgpuAdapterInfo}). */
export interface WebGpuAdapterReport {
  /** `navigator.gpu` exists. */
  available: boolean;
  /** An adapter was granted. */
  adapter: boolean;
  /** `adapter.info.isFallbackAdapter` (true for SwiftShader). */
  isFallbackAdapter?: boolean;
  /** `adapter.info` vendor / architecture / description. */
  vendor?: string;
  architecture?: string;
  description?: string;
}

/** Ask the page for a WebGPU adapter and describe it (SwiftShader shows as a fallback adapter). */
export async function webgpuAdapterInfo(target: Page | HarnessPage): Promise<WebGpuAdapterReport> {
  const page = 'page' in target ? target.page : target;
  return page.evaluate(async () => {
    const gpu = (globalThis as unknown as { navigator: { gpu?: { requestAdapter(): Promise<unknown> } } }).navigator.gpu;
    if (gpu === undefined) return { available: false, adapter: false };
    const adapter = (await gpu.requestAdapter()) as {
      info?: { vendor?: string; architecture?: string; description?: string; isFallbackAdapter?: boolean };
    } | null;
    if (adapter === null) return { available: true, adapter: false };
    const info = adapter.info ?? {};
    return {
      available: true,
      adapter: true,
      isFallbackAdapter: info.isFallbackAdapter === true,
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      description: info.description ?? '',
    };
  });
}

/**
 * Run `fn` with a launched browser and a served page, closing both afterwards whatever happens.
 *
 * @param server - options of the static server.
 * @param launch - options of the browser.
 * @param fn - the work; receives the page and the server.
 */
export async function withBrowserPage<T>(
  server: StaticServerOptions,
  launch: LaunchChromiumOptions,
  fn: (page: HarnessPage, server: StaticServer) => Promise<T>,
): Promise<T> {
  const srv = await serveStatic(server);
  let browser: Browser | null = null;
  try {
    browser = await launchChromium(launch);
    const page = await openPage(browser, srv);
    return await fn(page, srv);
  } finally {
    if (browser !== null) await browser.close();
    await srv.close();
  }
}
