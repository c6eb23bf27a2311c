/** Root jest config: one run over every package's `test/` folder. */
module.exports = {
  projects: ['<rootDir>/packages/*/jest.config.cjs', '<rootDir>/apps/*/jest.config.cjs'],
  reporters: ['default', '<rootDir>/tools/jest-summary-reporter.cjs'],
};
