// Stops the nats-server of global-setup.cjs and removes its temporary folder.
const { rmSync } = require('node:fs');

module.exports = async function globalTeardown() {
  const s = globalThis.__OPT_NATS_SERVER__;
  if (!s) return;
  globalThis.__OPT_NATS_SERVER__ = undefined;
  const t0 = Date.now();
  if (s.child.exitCode === null && s.child.signalCode === null) {
    const exited = new Promise((resolve) => s.child.once('exit', resolve));
    s.child.kill('SIGTERM');
    const timer = setTimeout(() => s.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
  if (process.env.OPT_DEBUG_TEARDOWN) console.error('teardown', Date.now() - t0, s.child.exitCode, s.child.signalCode);
  rmSync(s.dir, { recursive: true, force: true });
};
