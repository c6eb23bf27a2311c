import { fileURLToPath } from 'node:url';

/**
 * The folder holding the data files shipped with the package (`data/`, beside `dist/`).
 * Resolved from this module's URL, so it works wherever the package is installed.
 */
export function defaultDataDir(): string {
  return fileURLToPath(new URL('../../data/', import.meta.url));
}
