/**
 * Serving the NATS clients to browser pages, without a bundler: the published CommonJS builds of the `@nats-io`
 * entries a browser-side `FederatedClient` needs (`nats-core` with `wsconnect`, `jetstream`, `kv`), wrapped into
 * one ES module, plus one small ES module per entry that re-exports its names, so a page's import map can point the
 * bare specifiers (`'@nats-io/nats-core'`) at them. Pair with `startNatsServer({ websocket: true })`.
 *
 * @packageDocumentation
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The `@nats-io` entries a browser page imports (the browser-safe part of `@opt/distributed` needs no others). */
export const NATS_BROWSER_ENTRIES: readonly string[] = ['@nats-io/nats-core', '@nats-io/jetstream', '@nats-io/kv'];

/** The file name of the bundle that {@link writeNatsBrowserModules} writes, next to the per-entry modules. */
export const NATS_BUNDLE_FILE = 'nats-bundle.js';

/**
 * This module's own file. The module runs as an ES module from `dist/` (where only `import.meta.url` names it) and as
 * CommonJS under jest (where `import.meta` does not even parse), so it asks V8's structured stack trace instead,
 * which gives the file in both.
 */
function ownFile(): string {
  const saved = Error.prepareStackTrace;
  try {
    Error.prepareStackTrace = (_error, frames) => frames;
    const frames = new Error().stack as unknown as NodeJS.CallSite[];
    const name = frames[0]!.getFileName()!;
    return name.startsWith('file:') ? fileURLToPath(name) : name;
  } finally {
    Error.prepareStackTrace = saved;
  }
}

let packageRequire: NodeJS.Require | null = null;

/**
 * A `require` resolving from this package's own folder (`src/node/` and `dist/node/` both sit two levels below it), so
 * the `@nats-io` builds are found through `@opt/distributed`'s dependencies, whoever calls.
 */
function requireFromPackage(): NodeJS.Require {
  packageRequire ??= createRequire(join(resolve(dirname(ownFile()), '..', '..'), 'package.json'));
  return packageRequire;
}

/**
 * The CommonJS module graph of {@link NATS_BROWSER_ENTRIES} (their `require` calls followed to files, across packages)
 * as one ES module: every file becomes a function `(require, module, exports)` and a small loader runs them on
 * demand; evaluating the module publishes the entries' exports on `globalThis.__nats[<entry>]`.
 *
 * @returns the module's source text.
 */
export function natsBrowserBundle(): string {
  const req = requireFromPackage();
  const ids = new Map<string, number>();
  const defs: string[] = [];
  const deps: Array<Record<string, number>> = [];
  const visit = (file: string): number => {
    const known = ids.get(file);
    if (known !== undefined) return known;
    const id = ids.size;
    ids.set(file, id);
    const src = readFileSync(file, 'utf8');
    const map: Record<string, number> = {};
    deps[id] = map;
    defs[id] = `function (require, module, exports) {\n${src}\n}`;
    for (const [, spec] of src.matchAll(/require\("([^"]+)"\)/g)) map[spec!] = visit(req.resolve(spec!, { paths: [dirname(file)] }));
    return id;
  };
  const entries = NATS_BROWSER_ENTRIES.map((e) => visit(req.resolve(e)));
  return `const defs = [${defs.join(',\n')}];
const deps = ${JSON.stringify(deps)};
const cache = [];
function load(id) {
  if (cache[id]) return cache[id].exports;
  const module = { exports: {} };
  cache[id] = module;
  defs[id]((spec) => {
    const d = deps[id][spec];
    if (d === undefined) throw new Error('cannot require ' + spec);
    return load(d);
  }, module, module.exports);
  return module.exports;
}
globalThis.__nats = { ${NATS_BROWSER_ENTRIES.map((e, k) => `${JSON.stringify(e)}: load(${entries[k]})`).join(', ')} };
`;
}

/**
 * An ES module that imports the bundle (`./nats-bundle.js`, beside it) and re-exports one entry's named exports.
 *
 * @param entry - one of {@link NATS_BROWSER_ENTRIES}.
 */
export function natsBrowserShim(entry: string): string {
  const names = Object.keys(requireFromPackage()(entry) as object).filter((n) => n !== 'default' && n !== '__esModule' && /^[A-Za-z_$][\w$]*$/.test(n));
  return `import './${NATS_BUNDLE_FILE}';\nconst m = globalThis.__nats[${JSON.stringify(entry)}];\n${names.map((n) => `export const ${n} = m.${n};`).join('\n')}\n`;
}

/**
 * Write the bundle ({@link natsBrowserBundle}) and one module per entry ({@link natsBrowserShim}; `nats-core.js`,
 * `jetstream.js`, `kv.js`) into `dir`, and return the import-map entries for a page that serves `dir` under
 * `urlPrefix`.
 *
 * @param dir - the folder to write into (created when missing).
 * @param urlPrefix - where the page's server serves `dir`, e.g. `'/nats/'`.
 * @returns `{ '@nats-io/nats-core': '/nats/nats-core.js', … }`.
 *
 * @example
 * ```ts
 * const importMap = writeNatsBrowserModules(tmp, '/nats/');
 * const web = await serveStatic({ mounts: { '/nats/': tmp }, importMap });
 * // a page module: import { wsconnect } from '@nats-io/nats-core';
 * ```
 */
export function writeNatsBrowserModules(dir: string, urlPrefix: string): Record<string, string> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, NATS_BUNDLE_FILE), natsBrowserBundle());
  const prefix = urlPrefix.endsWith('/') ? urlPrefix : `${urlPrefix}/`;
  const importMap: Record<string, string> = {};
  for (const entry of NATS_BROWSER_ENTRIES) {
    const file = `${entry.split('/')[1]}.js`;
    writeFileSync(join(dir, file), natsBrowserShim(entry));
    importMap[entry] = prefix + file;
  }
  return importMap;
}
