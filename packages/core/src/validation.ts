import { InvalidOptionError } from '@opt/tensor';

/**
 * Option checks shared by every optimizer. Each throws an
 * {@link InvalidOptionError} naming the option, its value and the allowed range,
 * prefixed with the optimizer's name (`"Adam: invalid betas[0]: 1.2 (expected a number in [0, 1))"`).
 */

function isNumber(value: unknown): value is number {
  return typeof value === 'number' && !Number.isNaN(value);
}

/** A finite number ≥ 0 (a learning rate, a weight decay, a decay rate). */
export function checkNonNegative(where: string, option: string, value: unknown): number {
  if (!isNumber(value) || !Number.isFinite(value) || value < 0) {
    throw new InvalidOptionError(option, value, 'a finite number >= 0', where);
  }
  return value;
}

/** A finite number > 0 (eps, a step size bound, a trust coefficient). */
export function checkPositive(where: string, option: string, value: unknown): number {
  if (!isNumber(value) || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(option, value, 'a finite number > 0', where);
  }
  return value;
}

/** Any finite number. */
export function checkFinite(where: string, option: string, value: unknown): number {
  if (!isNumber(value) || !Number.isFinite(value)) {
    throw new InvalidOptionError(option, value, 'a finite number', where);
  }
  return value;
}

/**
 * A number in the interval `[lo, hi]`, `[lo, hi)`, `(lo, hi]` or `(lo, hi)`,
 * as chosen by `bounds` (e.g. `'[)'`).
 */
export function checkInRange(
  where: string,
  option: string,
  value: unknown,
  lo: number,
  hi: number,
  bounds: '[]' | '[)' | '(]' | '()' = '[]',
): number {
  // Plain comparisons (no closures): transforms re-check scheduled values every step.
  const ok =
    isNumber(value) &&
    (bounds[0] === '[' ? value >= lo : value > lo) &&
    (bounds[1] === ']' ? value <= hi : value < hi);
  if (!ok) {
    throw new InvalidOptionError(option, value, `a number in ${bounds[0]}${lo}, ${hi}${bounds[1]}`, where);
  }
  return value as number;
}

/** The `betas` pair: two numbers, each in [0, 1). */
export function checkBetas(where: string, value: unknown, option = 'betas'): readonly [number, number] {
  if (!Array.isArray(value) || value.length !== 2) {
    throw new InvalidOptionError(option, value, 'a pair [beta1, beta2]', where);
  }
  checkInRange(where, `${option}[0]`, value[0], 0, 1, '[)');
  checkInRange(where, `${option}[1]`, value[1], 0, 1, '[)');
  return value as unknown as readonly [number, number];
}

/** A boolean flag. */
export function checkBoolean(where: string, option: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new InvalidOptionError(option, value, 'true or false', where);
  return value;
}

/** An integer ≥ `min`. */
export function checkInteger(where: string, option: string, value: unknown, min = 0): number {
  if (!isNumber(value) || !Number.isInteger(value) || value < min) {
    throw new InvalidOptionError(option, value, `an integer >= ${min}`, where);
  }
  return value;
}

/** One of a fixed set of strings (or values). */
export function checkOneOf<T>(where: string, option: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    throw new InvalidOptionError(option, value, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, where);
  }
  return value as T;
}
