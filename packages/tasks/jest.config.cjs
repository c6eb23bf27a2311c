const path = require('node:path');
const base = require('../../jest.preset.cjs')(__dirname);

module.exports = {
  ...base,
  moduleNameMapper: {
    // ESM-only module (import.meta.url): replaced by its CommonJS twin under jest.
    '^(\\.{1,2}/)*(node/)?data-dir(\\.js)?$': path.join(__dirname, 'test/helpers/data-dir.cjs'),
    ...base.moduleNameMapper,
  },
};
