// Lets a plain `node` child process run the repository's TypeScript sources, the way jest's mapper and ts-jest do
// for the test files: `@opt/<pkg>` resolves to packages/<pkg>/src/index.ts (tools/ for the private packages),
// relative `./x.js` imports to `./x.ts`, and `.ts` files are transpiled (no type-check) to CommonJS on require.
//
// Why a child at all: the WebGPU tests need VK_ICD_FILENAMES and LD_LIBRARY_PATH in the environment BEFORE
// onnxruntime-node loads libonnxruntime and Dawn dlopens libvulkan/lavapipe. The dynamic linker reads
// LD_LIBRARY_PATH once, at process start, so setting it inside a running jest process (which runs a lone test file
// in band) has no effect; a child spawned with the environment always gets it. A Dawn or driver abort then kills
// only the child, and the test reports it instead of losing the jest worker.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const ts = require('typescript');

const repo = path.resolve(__dirname, '../../../..');
const tools = new Set(['app-kit', 'browser-harness']);

function mapRequest(request) {
  const m = /^@opt\/([a-z-]+)(\/node)?$/.exec(request);
  if (m === null) return null;
  const base = tools.has(m[1]) ? path.join(repo, 'tools', m[1]) : path.join(repo, 'packages', m[1]);
  return path.join(base, 'src', m[2] ? 'node/index.ts' : 'index.ts');
}

const originalResolve = Module._resolveFilename;
Module._resolveFilename = function resolveTs(request, parent, ...rest) {
  const mapped = mapRequest(request);
  if (mapped !== null) return mapped;
  if (parent && parent.filename && parent.filename.endsWith('.ts') && request.startsWith('.') && request.endsWith('.js')) {
    const candidate = path.resolve(path.dirname(parent.filename), request.slice(0, -3) + '.ts');
    if (fs.existsSync(candidate)) return candidate;
  }
  return originalResolve.call(this, request, parent, ...rest);
};

const compilerOptions = {
  module: ts.ModuleKind.CommonJS,
  target: ts.ScriptTarget.ES2022,
  esModuleInterop: true,
  isolatedModules: true,
  inlineSourceMap: true,
};

require.extensions['.ts'] = function compileTs(module, filename) {
  // `import.meta.url` has no CommonJS meaning (and makes Node load the file as ESM): use the file's own URL.
  const source = fs.readFileSync(filename, 'utf8').replace(/import\.meta\.url/g, "require('node:url').pathToFileURL(__filename).href");
  const { outputText } = ts.transpileModule(source, { compilerOptions, fileName: filename });
  module._compile(outputText, filename);
};
