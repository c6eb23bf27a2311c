/**
 * One round with a Node client and a client running in headless Chromium over WebSocket. The page runs this
 * package's TypeScript sources (served transpiled by tools/browser-harness) and the published CommonJS builds of the
 * @nats-io clients, wrapped into one ES module by a few lines below (the repository has no bundler).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { type HarnessPage, findChromium, launchChromium, openPage, runModuleInPage, serveStatic } from '@opt/browser-harness';
import { FederatedClient, FederatedServer, type ParticipationResult } from '../src/index';
import { findNatsServer } from '../src/node/nats-server';

const ROOT = join(__dirname, '..', '..', '..');
const ENTRIES = ['@nats-io/nats-core', '@nats-io/jetstream', '@nats-io/kv'];

const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });

/** The CommonJS module graph of the @nats-io entries as one ES module that publishes them on `globalThis.__nats`. */
function bundleNats(): string {
  const ids = new Map<string, number>();
  const defs: string[] = [];
  const deps: Array<Record<string, number>> = [];
  const visit = (file: string): number => {
    const known = ids.get(file);
    if (known !== undefined) return known;
    const id = ids.size;
    ids.set(file, id);
    const src = readFileSync(file, 'utf8');
    const map: Record<string, number> = {};
    deps[id] = map;
    defs[id] = `function (require, module, exports) {\n${src}\n}`;
    for (const [, spec] of src.matchAll(/require\("([^"]+)"\)/g)) map[spec!] = visit(require.resolve(spec!, { paths: [dirname(file)] }));
    return id;
  };
  const entries = ENTRIES.map((e) => visit(require.resolve(e)));
  return `const defs = [${defs.join(',\n')}];
const deps = ${JSON.stringify(deps)};
const cache = [];
function load(id) {
  if (cache[id]) return cache[id].exports;
  const module = { exports: {} };
  cache[id] = module;
  defs[id]((spec) => {
    const d = deps[id][spec];
    if (d === undefined) throw new Error('cannot require ' + spec);
    return load(d);
  }, module, module.exports);
  return module.exports;
}
globalThis.__nats = { ${ENTRIES.map((e, k) => `${JSON.stringify(e)}: load(${entries[k]})`).join(', ')} };
`;
}

/** An ES module re-exporting one entry's named exports from `globalThis.__nats`. */
function shim(entry: string): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const names = Object.keys(require(entry) as object).filter((n) => n !== 'default' && n !== '__esModule' && /^[A-Za-z_$][\w$]*$/.test(n));
  return `import './nats-bundle.js';\nconst m = globalThis.__nats[${JSON.stringify(entry)}];\n${names.map((n) => `export const ${n} = m.${n};`).join('\n')}\n`;
}

const SCENARIO = `import { wsconnect } from '@nats-io/nats-core';
import { FederatedClient } from '/repo/packages/distributed/src/federated/client.js';
export async function run({ ws, job, update }) {
  const nc = await wsconnect({ servers: ws });
  const client = await FederatedClient.create({ connection: nc, job, clientId: 'browser', train: () => ({ update: Float32Array.from(update), numExamples: 3 }) });
  const result = await client.runOnce(30000);
  await nc.close();
  return result;
}
`;

async function startWsServer(dir: string): Promise<{ child: ChildProcess; url: string; ws: string }> {
  const [port, wsPort] = [await freePort(), await freePort()];
  const config = join(dir, 'nats.conf');
  writeFileSync(config, `listen: "127.0.0.1:${port}"\nwebsocket {\n  listen: "127.0.0.1:${wsPort}"\n  no_tls: true\n}\njetstream {\n  store_dir: ${JSON.stringify(join(dir, 'js'))}\n}\n`);
  const child = spawn(findNatsServer()!, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`nats-server not ready:\n${log}`)), 10000);
    child.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('Server is ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return { child, url: `nats://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${wsPort}` };
}

const maybe = findChromium() !== null && findNatsServer() !== null ? test : test.skip;

maybe('a browser client (WebSocket, headless Chromium) and a Node client contribute to one round', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'opt-fl-browser-'));
  writeFileSync(join(dir, 'nats-bundle.js'), bundleNats());
  for (const e of ENTRIES) writeFileSync(join(dir, `${e.split('/')[1]}.js`), shim(e));
  writeFileSync(join(dir, 'scenario.js'), SCENARIO);
  const nats = await startWsServer(dir);
  const web = await serveStatic({
    mounts: { '/shim/': dir, '/repo/': ROOT },
    transpileTypeScript: true,
    importMap: {
      '@nats-io/nats-core': '/shim/nats-core.js',
      '@nats-io/jetstream': '/shim/jetstream.js',
      '@nats-io/kv': '/shim/kv.js',
      '@opt/tensor': '/repo/packages/tensor/src/index.js',
    },
  });
  const browser = await launchChromium();
  const serverConn = await connect({ servers: nats.url });
  const nodeConn = await connect({ servers: nats.url });
  let page: HarnessPage | null = null;
  try {
    const job = 'browser';
    const model = new Float32Array(4);
    const server = await FederatedServer.create({ connection: serverConn, job, model, minClients: 2, roundTimeoutMs: 30000 });
    const node = await FederatedClient.create({ connection: nodeConn, job, clientId: 'node', train: () => ({ update: new Float32Array([1, 1, 1, 1]), numExamples: 1 }) });
    page = await openPage(browser, web);
    const inBrowser = runModuleInPage<ParticipationResult>(page, '/shim/scenario.js', 'run', { ws: nats.ws, job, update: [5, -3, 1, 0] });
    expect(await server.waitForClients(2, 20000)).toEqual(['browser', 'node']);
    const [report, fromNode, fromBrowser] = await Promise.all([server.runRound(), node.runOnce(30000), inBrowser]);
    expect(report.accepted.slice().sort()).toEqual(['browser', 'node']);
    expect(fromNode?.included).toBe(true);
    expect(fromBrowser.included).toBe(true);
    expect(Array.from(model)).toEqual([4, -2, 1, 0.25]); // (1·[1,1,1,1] + 3·[5,−3,1,0]) / 4
    expect(page.errors).toEqual([]);
  } finally {
    if (page !== null) await page.page.close();
    await browser.close();
    await web.close();
    await Promise.all([serverConn.close(), nodeConn.close()]);
    nats.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}, 90000);
