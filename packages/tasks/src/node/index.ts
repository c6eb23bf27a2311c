/**
 * `@opt/tasks/node`: Node-only helpers that read the data sets shipped in the package's `data/` folder (see
 * `data/LICENSES.md` for their origin and licences). Nothing is downloaded: the files are part of the package.
 *
 * @packageDocumentation
 */
export * from './loaders.js';
