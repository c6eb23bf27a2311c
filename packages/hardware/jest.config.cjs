const path = require('node:path');

const config = require('../../jest.preset.cjs')(__dirname);
config.moduleNameMapper = {
  '^@opt/hardware/node$': path.join(__dirname, 'src/node/index.ts'),
  ...config.moduleNameMapper,
};
module.exports = config;
