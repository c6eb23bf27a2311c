/**
 * Runs the TypeScript examples of a README, so documentation cannot rot: every
 * ```ts block is transpiled to CommonJS and executed, with `@opt/*` imports
 * resolved to the packages' sources. A block preceded by
 * `<!-- not-runnable -->` is skipped (used for signatures, not programs).
 * Examples run as the body of an async function, so they may use top-level
 * `await` (thread pools, worker launches); `runExample` resolves to the lines
 * the example logged.
 */
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');

const ROOT = path.join(__dirname, '..');

function extractExamples(readmePath) {
  const text = fs.readFileSync(readmePath, 'utf8');
  const blocks = [];
  const re = /(<!--\s*not-runnable\s*-->\s*)?```ts\n([\s\S]*?)```/g;
  let m;
  while ((m = re.exec(text)) !== null) {
    if (m[1]) continue;
    const line = text.slice(0, m.index).split('\n').length;
    blocks.push({ line, code: m[2] });
  }
  return blocks;
}

const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;

async function runExample(code, requireFromTest) {
  const js = ts.transpileModule(code, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  }).outputText;
  const logs = [];
  const fakeConsole = { ...console, log: (...args) => logs.push(args.join(' ')) };
  const localRequire = (id) => {
    const m = /^@opt\/([a-z-]+)(\/node)?$/.exec(id);
    if (m) return requireFromTest(path.join(ROOT, 'packages', m[1], 'src', m[2] ? 'node' : '', 'index.ts'));
    return requireFromTest(id);
  };
  const module = { exports: {} };
  await new AsyncFunction('require', 'module', 'exports', 'console', js)(localRequire, module, module.exports, fakeConsole);
  return logs;
}

/**
 * The README-examples tests of one package: every runnable ```ts block of `readmePath` must run and print something.
 * Call it from the package's test file with that file's `require`, so that jest's module mapping applies.
 */
function describeReadmeExamples(readmePath, testRequire) {
  describe('README examples', () => {
    const examples = extractExamples(readmePath);

    test('the README has at least one runnable example', () => {
      expect(examples.length).toBeGreaterThan(0);
    });

    test.each(examples.map((e) => [e.line, e.code]))('the example at README line %i runs', async (_line, code) => {
      const logs = await runExample(code, testRequire);
      expect(logs.length).toBeGreaterThan(0);
    });
  });
}

module.exports = { extractExamples, runExample, describeReadmeExamples };
