/**
 * The transpile cache of @opt/browser-harness's `serveStatic`, which the browser tests here use: TypeScript sources
 * are transpiled once per content, then answered from memory (same process) or from disk (a new process, modelled
 * by clearing the memory cache), and a changed file is transpiled again. No browser needed.
 */
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type StaticServer, clearTranspileMemoryCache, serveStatic } from '@opt/browser-harness';

describe('serveStatic transpile cache', () => {
  let root: string;
  let cacheDir: string;
  const servers: StaticServer[] = [];

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'harness-src-'));
    cacheDir = mkdtempSync(join(tmpdir(), 'harness-cache-'));
    clearTranspileMemoryCache();
  });

  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
    rmSync(root, { recursive: true, force: true });
    rmSync(cacheDir, { recursive: true, force: true });
  });

  async function serve(dir: string | null = cacheDir): Promise<StaticServer> {
    const server = await serveStatic({ mounts: { '/src/': root }, transpileTypeScript: true, transpileCacheDir: dir });
    servers.push(server);
    return server;
  }

  async function get(server: StaticServer, path: string): Promise<string> {
    const response = await fetch(server.url(path));
    expect(response.status).toBe(200);
    return response.text();
  }

  it('transpiles a source once, then answers from memory, and from disk in a fresh process', async () => {
    writeFileSync(join(root, 'mod.ts'), 'export const answer: number = 42;\n');
    const first = await serve();
    const code = await get(first, '/src/mod.js');
    expect(code).toContain('export const answer = 42;');
    expect(await get(first, '/src/mod.js')).toBe(code);
    expect(first.transpileStats).toEqual({ memoryHits: 1, diskHits: 0, transpiled: 1 });
    expect(readdirSync(cacheDir)).toHaveLength(1);

    clearTranspileMemoryCache(); // what a new jest test file (a new module registry) starts with
    const second = await serve();
    expect(await get(second, '/src/mod.js')).toBe(code);
    expect(second.transpileStats).toEqual({ memoryHits: 0, diskHits: 1, transpiled: 0 });
  });

  it('a changed source is transpiled again and replaces its disk entry', async () => {
    const file = join(root, 'mod.ts');
    writeFileSync(file, 'export const answer: number = 42;\n');
    const server = await serve();
    await get(server, '/src/mod.js');
    writeFileSync(file, 'export const answer: number = 43;\n');
    // A distinct mtime even on coarse file systems.
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    expect(await get(server, '/src/mod.js')).toContain('export const answer = 43;');
    clearTranspileMemoryCache();
    const again = await serve();
    expect(await get(again, '/src/mod.js')).toContain('export const answer = 43;');
    expect(server.transpileStats.transpiled).toBe(2);
    expect(again.transpileStats).toEqual({ memoryHits: 0, diskHits: 1, transpiled: 0 });
    expect(readdirSync(cacheDir)).toHaveLength(1);
  });

  it('transpileCacheDir: null keeps only the in-memory cache', async () => {
    writeFileSync(join(root, 'mod.ts'), 'export const answer: number = 42;\n');
    const server = await serve(null);
    await get(server, '/src/mod.js');
    clearTranspileMemoryCache();
    await get(server, '/src/mod.js');
    expect(server.transpileStats).toEqual({ memoryHits: 0, diskHits: 0, transpiled: 2 });
    expect(readdirSync(cacheDir)).toHaveLength(0);
  });
});
