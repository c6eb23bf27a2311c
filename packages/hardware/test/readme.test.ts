import { join } from 'node:path';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { extractExamples, runExample } = require('../../../tools/readme-examples.cjs');

describe('README examples', () => {
  const examples: Array<{ line: number; code: string }> = extractExamples(join(__dirname, '..', 'README.md'));

  test('the README has at least one runnable example', () => {
    expect(examples.length).toBeGreaterThan(0);
  });

  test.each(examples.map((e) => [e.line, e.code] as const))('the example at README line %i runs', async (_line, code) => {
    const logs: string[] = await runExample(code, require);
    expect(logs.length).toBeGreaterThan(0);
  });
});
