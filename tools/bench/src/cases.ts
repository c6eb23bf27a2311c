import type { DType } from '@opt/tensor';

/** The optimizers the suite times, keyed as the C and Python timers name them. */
export type OptimizerKey = 'adam' | 'adamw' | 'sgd_momentum' | 'lion' | 'adagrad' | 'rmsprop';

/** How an optimizer is set up in every column, and what it must move through memory. */
export interface OptimizerSpec {
  key: OptimizerKey;
  /** Display name. */
  label: string;
  /** Hyper-parameters passed to the @opt/core class (camelCase, PyTorch's meaning). */
  options: Record<string, unknown>;
  /**
   * Arrays of the parameter's dtype read and written per element by one fused
   * pass (STREAM's convention: reads + writes, no write-allocate traffic).
   */
  reads: number;
  writes: number;
}

/** The six optimizers and their settings (PyTorch defaults, SGD with momentum 0.9). */
export const OPTIMIZERS: readonly OptimizerSpec[] = [
  // Adam: reads p, g, m, v; writes p, m, v.
  { key: 'adam', label: 'Adam', options: { lr: 1e-3 }, reads: 4, writes: 3 },
  { key: 'adamw', label: 'AdamW', options: { lr: 1e-3, weightDecay: 1e-2 }, reads: 4, writes: 3 },
  // SGD with momentum: reads p, g, buf; writes p, buf.
  { key: 'sgd_momentum', label: 'SGD-momentum', options: { lr: 1e-2, momentum: 0.9 }, reads: 3, writes: 2 },
  // Lion: reads p, g, m; writes p, m.
  { key: 'lion', label: 'Lion', options: { lr: 1e-4 }, reads: 3, writes: 2 },
  // Adagrad: reads p, g, sum; writes p, sum.
  { key: 'adagrad', label: 'Adagrad', options: { lr: 1e-2 }, reads: 3, writes: 2 },
  // RMSprop (not centered, no momentum): reads p, g, square_avg; writes p, square_avg.
  { key: 'rmsprop', label: 'RMSprop', options: { lr: 1e-2, alpha: 0.99 }, reads: 3, writes: 2 },
];

/** Bytes one step must move per element. */
export function bytesPerElement(spec: OptimizerSpec, dtype: DType): number {
  return (spec.reads + spec.writes) * (dtype === 'float64' ? 8 : 4);
}

/** One row of the results: an optimizer over `tensors` tensors of `elements` elements each. */
export interface BenchCase {
  /** Stable identifier, e.g. `adam/float32/1x1e6`. */
  id: string;
  spec: OptimizerSpec;
  dtype: DType;
  elements: number;
  tensors: number;
  /** Row kind: a single tensor of size N, the many-tensor case, or the per-call overhead case. */
  kind: 'size' | 'many' | 'overhead';
}

/** Total elements updated by one step of `c`. */
export function totalElements(c: BenchCase): number {
  return c.elements * c.tensors;
}

/** Human-readable size: `1e6`, `1000×1000`, `1`. */
export function sizeLabel(c: BenchCase): string {
  if (c.tensors > 1) return `${c.tensors}×${fmtCount(c.elements)}`;
  return fmtCount(c.elements);
}

function fmtCount(n: number): string {
  const e = Math.log10(n);
  return n >= 1e4 && Number.isInteger(e) ? `1e${e}` : String(n);
}

/** The rows of a run: sizes per optimizer (float32; Adam also float64), 1000×1000, and a 1-element parameter. */
export function buildCases(sizes: readonly number[], only: readonly string[], manyTensors: number, manyElements: number): BenchCase[] {
  // `sgd` is accepted for SGD-momentum, the only SGD configuration timed.
  const matches = (o: string, s: OptimizerSpec): boolean =>
    normalize(o) === normalize(s.key) || normalize(o) === normalize(s.label) || (normalize(o) === 'sgd' && s.key === 'sgd_momentum');
  const specs = OPTIMIZERS.filter((s) => only.length === 0 || only.some((o) => matches(o, s)));
  const cases: BenchCase[] = [];
  const add = (spec: OptimizerSpec, dtype: DType, elements: number, tensors: number, kind: BenchCase['kind']): void => {
    cases.push({ id: `${spec.key}/${dtype}/${tensors}x${elements}`, spec, dtype, elements, tensors, kind });
  };
  for (const spec of specs) {
    for (const n of sizes) add(spec, 'float32', n, 1, 'size');
    if (spec.key === 'adam') for (const n of sizes) add(spec, 'float64', n, 1, 'size');
    add(spec, 'float32', manyElements, manyTensors, 'many');
    add(spec, 'float32', 1, 1, 'overhead');
  }
  return cases;
}

function normalize(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** A deterministic value stream in [-scale, scale] (a 32-bit LCG, cheap and reproducible). */
export function fillPattern(out: Float32Array | Float64Array, seed: number, scale: number): void {
  let x = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = scale * (((x >>> 8) / 16777216) * 2 - 1);
  }
}
