// Jest global setup of @opt/distributed: the preset's setup (the tensor wasm module), then a private nats-server
// for the NatsCollective tests: scripts/ensure-nats-server.sh finds or installs the binary, and the server runs on a
// free 127.0.0.1 port with a temporary config (JetStream store in a temporary folder, max_payload 8 MB). The URL is
// exported as OPT_NATS_URL (jest starts its test workers after this, so they inherit it); global-teardown.cjs stops
// the server and removes the folder.
const { execFileSync, spawn } = require('node:child_process');
const { mkdtempSync, writeFileSync } = require('node:fs');
const net = require('node:net');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const presetSetup = require('../../tensor/scripts/jest-global-setup.cjs');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function waitReady(child, timeoutMs) {
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`nats-server did not start within ${timeoutMs} ms:\n${log}`)), timeoutMs);
    child.stderr.on('data', (d) => {
      log += d;
      if (log.includes('Server is ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited with code ${code}:\n${log}`));
    });
  });
}

module.exports = async function globalSetup() {
  await presetSetup();
  const script = join(__dirname, '..', 'scripts', 'ensure-nats-server.sh');
  const out = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n');
  const binary = out[out.length - 1];
  const dir = mkdtempSync(join(tmpdir(), 'opt-nats-'));
  const port = await freePort();
  const config = join(dir, 'nats.conf');
  writeFileSync(
    config,
    `listen: "127.0.0.1:${port}"\nmax_payload: 8388608\njetstream {\n  store_dir: ${JSON.stringify(join(dir, 'js'))}\n  max_memory_store: 268435456\n  max_file_store: 1073741824\n}\n`,
  );
  const child = spawn(binary, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  await waitReady(child, 15000);
  child.stderr.resume();
  process.env.OPT_NATS_URL = `nats://127.0.0.1:${port}`;
  process.env.OPT_NATS_SERVER_BIN = binary;
  globalThis.__OPT_NATS_SERVER__ = { child, dir };
};
