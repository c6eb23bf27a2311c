import type { SplitName } from './eval-task.js';

/** The evaluation's splits, in the order it runs and reports them. */
export const SPLITS: readonly SplitName[] = ['in-distribution', 'ood-size', 'ood-activation', 'ood-datasets'];

/** `--splits a,b`: a subset of the splits, in the evaluation's order (default: all four). */
export function parseSplits(value: string | undefined): SplitName[] {
  if (value === undefined) return [...SPLITS];
  const asked = value.split(',').map((s) => s.trim());
  const unknown = asked.filter((s) => !(SPLITS as readonly string[]).includes(s));
  if (unknown.length > 0) throw new Error(`--splits: unknown split(s) ${unknown.join(', ')} (known: ${SPLITS.join(', ')})`);
  return SPLITS.filter((s) => asked.includes(s));
}
