const path = require('node:path');

const config = require('../../jest.preset.cjs')(__dirname);
config.moduleNameMapper = {
  '^@opt/hardware/node$': path.join(__dirname, 'src/node/index.ts'),
  ...config.moduleNameMapper,
};
// onnxruntime-node hands back typed arrays of Node's main realm; see the file.
config.testEnvironment = path.join(__dirname, 'test/ort-environment.cjs');
config.globalSetup = path.join(__dirname, 'test/global-setup.cjs');
module.exports = config;
