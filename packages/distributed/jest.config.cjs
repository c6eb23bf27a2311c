const path = require('node:path');

const config = require('../../jest.preset.cjs')(__dirname);
// The package's own global setup runs the preset's (the tensor wasm module) first, then starts a private
// nats-server for the NatsCollective tests (see test/global-setup.cjs).
config.globalSetup = path.join(__dirname, 'test/global-setup.cjs');
config.globalTeardown = path.join(__dirname, 'test/global-teardown.cjs');
config.moduleNameMapper = {
  '^@opt/distributed/node$': path.join(__dirname, 'src/node/index.ts'),
  ...config.moduleNameMapper,
};
module.exports = config;
