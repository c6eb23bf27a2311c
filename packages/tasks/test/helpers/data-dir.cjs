// Jest runs the sources as CommonJS, where `import.meta` does not exist: this
// stands in for src/node/data-dir.ts with the same answer.
const path = require('node:path');
module.exports = { defaultDataDir: () => path.join(__dirname, '..', '..', 'data') + path.sep };
