const path = require('node:path');

const config = require('../../jest.preset.cjs')(__dirname);
const tasks = path.join(__dirname, '../../packages/tasks');
// The preset maps `@opt/<pkg>` to sources; the privacy suite (through dp-digits) also imports the Node-only entry `@opt/tasks/node`, whose
// ESM-only data-dir module (import.meta.url) is replaced by the CommonJS twin the tasks package's tests use.
config.moduleNameMapper = {
  '^@opt/tasks/node$': path.join(tasks, 'src/node/index.ts'),
  '^(\\.{1,2}/)*(node/)?data-dir(\\.js)?$': path.join(tasks, 'test/helpers/data-dir.cjs'),
  ...config.moduleNameMapper,
};
module.exports = config;
