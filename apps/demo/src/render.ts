/**
 * SVG → PNG through whichever command-line renderer is installed (librsvg's `rsvg-convert`, or ImageMagick's
 * `magick` / `convert`). Nothing is bundled: without a renderer the PNG is skipped and the caller says so.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** A renderer found on PATH. */
export interface Renderer {
  /** `rsvg-convert`, `magick` or `convert`. */
  name: string;
  /** Absolute path of the executable. */
  path: string;
}

/** Renderers in order of preference: librsvg renders SVG text best; ImageMagick 7 (`magick`), then 6 (`convert`). */
const CANDIDATES = ['rsvg-convert', 'magick', 'convert'];

/** The first renderer found among the directories of `pathEnv` (default: the PATH environment variable), or `null`. */
export function findRenderer(pathEnv: string | undefined = process.env['PATH']): Renderer | null {
  const dirs = (pathEnv ?? '').split(delimiter).filter((d) => d !== '');
  const exts = process.platform === 'win32' ? ['.exe', '.cmd', ''] : [''];
  for (const name of CANDIDATES) {
    for (const dir of dirs) {
      for (const ext of exts) {
        const path = join(dir, name + ext);
        try {
          accessSync(path, constants.X_OK);
          return { name, path };
        } catch {
          // not in this directory
        }
      }
    }
  }
  return null;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Render `svgPath` to `pngPath` with `renderer`. Returns `null` on success, or the reason it failed (the renderer
 * exited with an error, or wrote no valid PNG: a program named `convert` is not always ImageMagick). A failed
 * attempt leaves no partial PNG behind.
 */
export function renderPng(renderer: Renderer, svgPath: string, pngPath: string): string | null {
  const args =
    renderer.name === 'rsvg-convert' ? ['--format', 'png', '--background-color', 'white', '--output', pngPath, svgPath] : [svgPath, pngPath];
  try {
    execFileSync(renderer.path, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
  } catch (e) {
    rmSync(pngPath, { force: true });
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
    return `${renderer.name} failed${stderr ? `: ${stderr.split('\n')[0]}` : ''}`;
  }
  if (!existsSync(pngPath)) return `${renderer.name} wrote no file`;
  const head = readFileSync(pngPath).subarray(0, 8);
  if (!PNG_SIGNATURE.every((b, i) => head[i] === b)) {
    rmSync(pngPath, { force: true });
    return `${renderer.name} did not produce a PNG`;
  }
  return null;
}
