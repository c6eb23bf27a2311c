/**
 * Shared jest settings for every package. Tests import sibling packages by
 * name; the mapper points those imports at the TypeScript sources so the suite
 * never depends on a stale build, and ts-jest only transpiles (tsc type-checks
 * separately in the `typecheck` task).
 */
const path = require('node:path');

module.exports = function preset(packageDir) {
  return {
    displayName: path.basename(packageDir),
    rootDir: packageDir,
    testEnvironment: 'node',
    testMatch: ['<rootDir>/test/**/*.test.ts'],
    moduleFileExtensions: ['ts', 'js', 'json'],
    transform: {
      '^.+\\.ts$': [
        require.resolve('ts-jest'),
        {
          tsconfig: {
            isolatedModules: true,
            module: 'commonjs',
            moduleResolution: 'node',
            target: 'ES2022',
            esModuleInterop: true,
            sourceMap: true,
          },
        },
      ],
    },
    // Every package's sources reach @opt/tensor, which imports its git-ignored wasm
    // module: build it once when it is missing (a fresh clone running jest alone).
    globalSetup: path.join(__dirname, 'packages/tensor/scripts/jest-global-setup.cjs'),
    moduleNameMapper: {
      // The apps' shared helpers live in tools/, not packages/ (they are not published).
      '^@opt/app-kit$': path.join(__dirname, 'tools/app-kit/src/index.ts'),
      // The demo's privacy suite runs the dp-digits app's experiment module.
      '^@opt/dp-digits$': path.join(__dirname, 'apps/dp-digits/src/experiment.ts'),
      '^@opt/browser-harness$': path.join(__dirname, 'tools/browser-harness/src/index.ts'),
      '^@opt/([a-z-]+)$': path.join(__dirname, 'packages/$1/src/index.ts'),
      // The Node-only entries (`@opt/tasks/node`, `@opt/distributed/node`, ...).
      '^@opt/([a-z-]+)/node$': path.join(__dirname, 'packages/$1/src/node/index.ts'),
      // @opt/tasks' data-dir module is ESM-only (import.meta.url): its CommonJS twin stands in under jest.
      '^(\\.{1,2}/)*(node/)?data-dir(\\.js)?$': path.join(__dirname, 'packages/tasks/test/helpers/data-dir.cjs'),
      '^(\\.{1,2}/.*)\\.js$': '$1',
    },
  };
};
