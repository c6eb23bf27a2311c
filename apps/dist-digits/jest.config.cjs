const path = require('node:path');

const config = require('../../jest.preset.cjs')(__dirname);
const tasks = path.join(__dirname, '../../packages/tasks');
const distributed = path.join(__dirname, '../../packages/distributed');
// As in apps/dp-digits: the Node-only entries map to sources, the ESM-only data-dir module to its CommonJS twin.
config.moduleNameMapper = {
  '^@opt/tasks/node$': path.join(tasks, 'src/node/index.ts'),
  '^@opt/distributed/node$': path.join(distributed, 'src/node/index.ts'),
  '^(\\.{1,2}/)*(node/)?data-dir(\\.js)?$': path.join(tasks, 'test/helpers/data-dir.cjs'),
  ...config.moduleNameMapper,
};
module.exports = config;
