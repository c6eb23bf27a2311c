import { join } from 'node:path';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { extractExamples, runExample } = require('../../../tools/readme-examples.cjs');

/** The shared runner maps `@opt/<pkg>` to sources; the Node-only entry `@opt/tasks/node` is mapped here. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const requireWithNodeEntry = (id: string): unknown => (id === '@opt/tasks/node' ? require('../src/node/index') : require(id));

describe('README examples', () => {
  const examples: Array<{ line: number; code: string }> = extractExamples(join(__dirname, '..', 'README.md'));

  test('the README has at least one runnable example', () => {
    expect(examples.length).toBeGreaterThan(0);
  });

  test.each(examples.map((e) => [e.line, e.code] as const))('the example at README line %i runs', (_line, code) => {
    const logs: string[] = runExample(code, requireWithNodeEntry);
    expect(logs.length).toBeGreaterThan(0);
  });
});
