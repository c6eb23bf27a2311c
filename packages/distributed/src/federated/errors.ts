/**
 * Typed errors of the federated layer (strategies, robust aggregation, secure aggregation, rounds).
 *
 * @packageDocumentation
 */
import { OptError } from '@opt/tensor';

/**
 * A federated component was configured for a situation it cannot handle: too few clients for the number of
 * Byzantine clients it must tolerate (Krum and Multi-Krum need n ≥ 2f + 3, Bulyan n ≥ 4f + 3, the median
 * n ≥ 2f + 1, the trimmed mean ⌊βn⌋ ≥ f and 2⌊βn⌋ < n), or too few secure-aggregation survivors for the threshold.
 */
export class InvalidConfigurationError extends OptError {
  /** The component, e.g. `"Krum"`. */
  readonly component: string;
  /** The requirement that failed, in words, e.g. `"n >= 2f + 3"`. */
  readonly requirement: string;

  constructor(component: string, requirement: string, detail: string) {
    super('INVALID_CONFIGURATION', `${component}: requires ${requirement}; ${detail}`);
    this.component = component;
    this.requirement = requirement;
  }
}

/** A secure-aggregation message failed a protocol check (wrong round, unknown sender, bad ciphertext, too few shares). */
export class SecAggProtocolError extends OptError {
  /** The protocol phase, e.g. `"unmask"`. */
  readonly phase: string;

  constructor(phase: string, message: string) {
    super('SECAGG_PROTOCOL', `secure aggregation (${phase}): ${message}`);
    this.phase = phase;
  }
}

/** A federated round could not be completed: fewer than `minClients` accepted updates arrived before the deadline. */
export class RoundFailedError extends OptError {
  /** The round number. */
  readonly round: number;
  /** Accepted updates when the round closed. */
  readonly accepted: number;
  /** Accepted updates needed. */
  readonly required: number;

  constructor(round: number, accepted: number, required: number, detail = '') {
    super('ROUND_FAILED', `round ${round}: ${accepted} accepted update${accepted === 1 ? '' : 's'}, ${required} required${detail ? ` (${detail})` : ''}`);
    this.round = round;
    this.accepted = accepted;
    this.required = required;
  }
}
