/**
 * One round with a Node client and a client running in headless Chromium over WebSocket. The page runs this
 * package's TypeScript sources (served transpiled by tools/browser-harness) and the published CommonJS builds of the
 * @nats-io clients, wrapped into one ES module by `writeNatsBrowserModules` of `@opt/distributed/node` (the
 * repository has no bundler).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { type HarnessPage, findChromium, launchChromium, openPage, runModuleInPage, serveStatic } from '@opt/browser-harness';
import { FederatedClient, FederatedServer, type ParticipationResult } from '../src/index';
import { NATS_BROWSER_ENTRIES, natsBrowserBundle, writeNatsBrowserModules } from '../src/node/browser-clients';
import { findNatsServer, startNatsServer } from '../src/node/nats-server';

const ROOT = join(__dirname, '..', '..', '..');

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

const maybe = findChromium() !== null && findNatsServer() !== null ? test : test.skip;

maybe('a browser client (WebSocket, headless Chromium) and a Node client contribute to one round', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'opt-fl-browser-'));
  const natsMap = writeNatsBrowserModules(dir, '/shim/');
  expect(natsMap).toEqual({ '@nats-io/nats-core': '/shim/nats-core.js', '@nats-io/jetstream': '/shim/jetstream.js', '@nats-io/kv': '/shim/kv.js' });
  writeFileSync(join(dir, 'scenario.js'), SCENARIO);
  const nats = await startNatsServer({ websocket: true });
  expect(nats.wsUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
  const web = await serveStatic({
    mounts: { '/shim/': dir, '/repo/': ROOT },
    transpileTypeScript: true,
    importMap: { ...natsMap, '@opt/tensor': '/repo/packages/tensor/src/index.js' },
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
    const inBrowser = runModuleInPage<ParticipationResult>(page, '/shim/scenario.js', 'run', { ws: nats.wsUrl, job, update: [5, -3, 1, 0] });
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
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}, 90000);

test('the NATS browser bundle wraps every entry and publishes them on globalThis.__nats', () => {
  const bundle = natsBrowserBundle();
  for (const entry of NATS_BROWSER_ENTRIES) expect(bundle).toContain(JSON.stringify(entry));
  expect(bundle).toContain('wsconnect');
  // Nothing Node-only is pulled in: the page has no `require` to satisfy it.
  expect(bundle).not.toMatch(/require\("(node:)?(net|tls|fs|child_process)"\)/);
});
