/**
 * One error hierarchy for the whole library. Every error a user can trigger with
 * bad input is an {@link OptError}; its subclasses say what kind of input was wrong,
 * and the message names the offending option or parameter and what was expected.
 *
 * @packageDocumentation
 */

/** Base class of every error thrown by an `@opt` package. */
export class OptError extends Error {
  /** A stable machine-readable code, e.g. `"INVALID_OPTION"`. */
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** An option (hyper-parameter) whose value is outside its allowed range. */
export class InvalidOptionError extends OptError {
  /** The option's name as the user wrote it, e.g. `"betas[0]"`. */
  readonly option: string;
  /** The offending value. */
  readonly value: unknown;
  /** The allowed range, in words, e.g. `"in [0, 1)"`. */
  readonly expected: string;

  constructor(option: string, value: unknown, expected: string, context?: string) {
    const where = context ? `${context}: ` : '';
    super('INVALID_OPTION', `${where}invalid ${option}: ${formatValue(value)} (expected ${expected})`);
    this.option = option;
    this.value = value;
    this.expected = expected;
  }
}

/** Two buffers that must have the same shape or length do not. */
export class ShapeMismatchError extends OptError {
  constructor(message: string) {
    super('SHAPE_MISMATCH', message);
  }
}

/** Two buffers that must have the same dtype do not. */
export class DTypeMismatchError extends OptError {
  constructor(message: string) {
    super('DTYPE_MISMATCH', message);
  }
}

/** A parameter-group layout that cannot work: a parameter listed twice, an empty group. */
export class ParamGroupError extends OptError {
  constructor(message: string) {
    super('PARAM_GROUP', message);
  }
}

/** A state dict that does not fit the optimizer it is loaded into. */
export class StateDictError extends OptError {
  constructor(message: string) {
    super('STATE_DICT', message);
  }
}

/** `step()` was called without a closure on an optimizer that must re-evaluate the objective. */
export class ClosureRequiredError extends OptError {
  constructor(optimizer: string, why: string) {
    super('CLOSURE_REQUIRED', `${optimizer}.step() requires a closure that re-evaluates the loss and gradients: ${why}`);
  }
}

/** A gradient (or another input) holds NaN or an infinity. */
export class NonFiniteError extends OptError {
  /** Name (or position) of the parameter whose gradient is not finite. */
  readonly parameter: string;
  /** Flat index of the first non-finite element. */
  readonly index: number;

  constructor(parameter: string, index: number, value: number, what = 'gradient') {
    super(
      'NON_FINITE',
      `non-finite ${what} in parameter ${parameter} at element ${index} (${value}); ` +
        'parameters and optimizer state were left untouched',
    );
    this.parameter = parameter;
    this.index = index;
  }
}

function formatValue(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}
