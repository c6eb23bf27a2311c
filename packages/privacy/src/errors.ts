import { OptError } from '@opt/tensor';

/**
 * Errors specific to differential privacy. They extend `OptError` from `@opt/tensor`, so
 * `catch (e) { if (e instanceof OptError) ... }` still catches everything the library throws; bad
 * option values use `InvalidOptionError` and malformed accountant state uses `StateDictError`, both from
 * `@opt/tensor`.
 *
 * @packageDocumentation
 */

/**
 * Training would spend more privacy than the budget allows: the epsilon after the next step would exceed
 * the target. Thrown before the step is taken, so parameters and the accountant are unchanged.
 */
export class PrivacyBudgetExceededError extends OptError {
  /** The epsilon the accountant would report after the refused step. */
  readonly epsilon: number;
  /** The budget that would be exceeded. */
  readonly targetEpsilon: number;
  /** The delta at which epsilon is measured. */
  readonly delta: number;

  constructor(epsilon: number, targetEpsilon: number, delta: number, detail = '') {
    super(
      'PRIVACY_BUDGET_EXCEEDED',
      `privacy budget exceeded: epsilon would reach ${epsilon} > target ${targetEpsilon} at delta ${delta}` +
        (detail ? ` (${detail})` : ''),
    );
    this.epsilon = epsilon;
    this.targetEpsilon = targetEpsilon;
    this.delta = delta;
  }
}

/**
 * No noise multiplier reaches the requested (epsilon, delta) target: even the largest noise multiplier
 * tried still spends more than the target (or the accountant cannot certify the target at all, e.g. a
 * PRV target below its `epsError`).
 */
export class NoiseCalibrationError extends OptError {
  /** The requested epsilon. */
  readonly targetEpsilon: number;
  /** The epsilon reached with the largest noise multiplier tried. */
  readonly bestEpsilon: number;
  /** The largest noise multiplier tried. */
  readonly maxNoiseMultiplier: number;

  constructor(targetEpsilon: number, bestEpsilon: number, maxNoiseMultiplier: number, detail: string) {
    super(
      'NOISE_CALIBRATION',
      `no noise multiplier reaches target epsilon ${targetEpsilon}: ${detail} ` +
        `(epsilon ${bestEpsilon} at noise multiplier ${maxNoiseMultiplier})`,
    );
    this.targetEpsilon = targetEpsilon;
    this.bestEpsilon = bestEpsilon;
    this.maxNoiseMultiplier = maxNoiseMultiplier;
  }
}

/**
 * An accountant cannot produce a trustworthy number for its history: a numerical routine failed to
 * converge, or the PRV grid would need more memory than the configured cap. The message says which, and
 * what would fix it (another accountant, a larger cap, a larger `epsError`).
 */
export class AccountantComputationError extends OptError {
  constructor(message: string) {
    super('ACCOUNTANT_COMPUTATION', message);
  }
}
