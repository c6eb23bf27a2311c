/**
 * `@opt/app-kit`: what the example apps share (not published): the SVG line
 * chart and the stderr progress bar, kept in one place so every app draws and
 * reports progress the same way.
 *
 * @packageDocumentation
 */
export * from './plot.js';
export * from './progress.js';
