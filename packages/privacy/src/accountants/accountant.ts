import { InvalidOptionError, StateDictError } from '@opt/tensor';
import { checkDelta, checkRange } from './rdp-analysis.js';

/**
 * The accountant contract shared by the RDP, PRV and GDP accountants (Opacus' `IAccountant`, in
 * camelCase), and the history bookkeeping they share.
 *
 * @packageDocumentation
 */

/** The name of an accounting method: Rényi DP, privacy random variables, or Gaussian DP (CLT). */
export type AccountantMechanism = 'rdp' | 'prv' | 'gdp';

/** One step of DP-SGD as the accountant sees it: a Poisson-subsampled Gaussian mechanism. */
export interface MechanismStep {
  /** Noise multiplier σ = noise standard deviation / L2 clipping bound; > 0. */
  noiseMultiplier: number;
  /** Poisson sampling rate q = expected batch size / dataset size; in (0, 1]. */
  sampleRate: number;
}

/** A run of identical steps in an accountant's history. */
export interface AccountantHistoryEntry extends MechanismStep {
  /** Number of consecutive steps with these parameters (a positive integer). */
  steps: number;
}

/**
 * A JSON-safe snapshot of an accountant: its mechanism name and its history. `JSON.stringify` and
 * `JSON.parse` round-trip it exactly (every field is a finite number or a string).
 */
export interface AccountantStateDict {
  /** The accountant's mechanism; loading into an accountant of another mechanism is refused. */
  mechanism: AccountantMechanism;
  /** The merged history, oldest first. */
  history: AccountantHistoryEntry[];
}

/**
 * What every privacy accountant offers (the API of Opacus' accountants, in camelCase).
 *
 * @example
 * ```ts
 * import { RDPAccountant, type PrivacyAccountant } from '@opt/privacy';
 * const accountant: PrivacyAccountant = new RDPAccountant();
 * accountant.step({ noiseMultiplier: 1.1, sampleRate: 256 / 60000 }, 14063);
 * console.log(accountant.getEpsilon(1e-5).toFixed(4)); // 2.5967
 * ```
 */
export interface PrivacyAccountant {
  /** `'rdp'`, `'prv'` or `'gdp'`. */
  readonly mechanism: AccountantMechanism;
  /**
   * The steps taken so far, oldest first; consecutive steps with identical (σ, q) are merged into one
   * entry, as Opacus does. Returned entries are copies.
   */
  readonly history: readonly AccountantHistoryEntry[];
  /**
   * Records `count` steps with noise multiplier σ and sampling rate q.
   *
   * @param params - the step's noise multiplier and sampling rate
   * @param count - how many identical steps (a non-negative integer, default 1)
   */
  step(params: MechanismStep, count?: number): void;
  /**
   * The ε spent so far at this δ (an upper bound for RDP and PRV; an approximation for GDP).
   *
   * @param delta - target δ in (0, 1)
   */
  getEpsilon(delta: number): number;
  /** A JSON-safe snapshot of the history. */
  stateDict(): AccountantStateDict;
  /**
   * Replaces the history with a snapshot's. Throws `StateDictError` when the snapshot is malformed or
   * comes from another mechanism; the accountant is unchanged then.
   *
   * @param stateDict - a value returned by `stateDict()` (possibly after a JSON round trip)
   */
  loadStateDict(stateDict: unknown): void;
}

/**
 * Checks one step's parameters: σ a finite number > 0, q in (0, 1].
 *
 * @internal
 */
export function checkMechanismStep(params: unknown, where: string): MechanismStep {
  if (typeof params !== 'object' || params === null) {
    throw new InvalidOptionError('params', params, 'an object { noiseMultiplier, sampleRate }', where);
  }
  const p = params as Record<string, unknown>;
  const sigma = p.noiseMultiplier;
  if (typeof sigma !== 'number' || !Number.isFinite(sigma) || sigma <= 0) {
    throw new InvalidOptionError('noiseMultiplier', sigma, 'a finite number > 0', where);
  }
  const q = checkRange('sampleRate', p.sampleRate, 0, 1, false, true, where);
  return { noiseMultiplier: sigma, sampleRate: q };
}

/** @internal A step count: a non-negative safe integer. */
export function checkStepCount(count: unknown, where: string, option = 'count'): number {
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) {
    throw new InvalidOptionError(option, count, 'a non-negative integer', where);
  }
  return count;
}

/**
 * The history bookkeeping every accountant shares: validation, Opacus' merging of consecutive identical
 * steps, and the validated JSON state dict.
 */
export abstract class BaseAccountant implements PrivacyAccountant {
  /** The accountant's mechanism name. */
  abstract readonly mechanism: AccountantMechanism;

  /** The merged history (mutable copy owned by the accountant). */
  protected entries: AccountantHistoryEntry[] = [];

  /** Copies of the merged history entries, oldest first. */
  get history(): readonly AccountantHistoryEntry[] {
    return this.entries.map((e) => ({ noiseMultiplier: e.noiseMultiplier, sampleRate: e.sampleRate, steps: e.steps }));
  }

  /** Total number of steps recorded. */
  get totalSteps(): number {
    let n = 0;
    for (const e of this.entries) n += e.steps;
    return n;
  }

  /**
   * Records `count` steps (default 1) with noise multiplier σ and sampling rate q; merges them into the
   * last history entry when (σ, q) are identical to it.
   *
   * @param params - `{ noiseMultiplier, sampleRate }`: σ > 0 and q in (0, 1]
   * @param count - a non-negative integer; 0 records nothing
   */
  step(params: MechanismStep, count = 1): void {
    const where = `${this.constructor.name}.step`;
    const p = checkMechanismStep(params, where);
    const n = checkStepCount(count, where);
    if (n === 0) return;
    this.beforeStep(p);
    const last = this.entries[this.entries.length - 1];
    if (last && last.noiseMultiplier === p.noiseMultiplier && last.sampleRate === p.sampleRate) {
      last.steps += n;
    } else {
      this.entries.push({ noiseMultiplier: p.noiseMultiplier, sampleRate: p.sampleRate, steps: n });
    }
    this.historyChanged();
  }

  /** Hook for accountants that restrict the history (GDP refuses heterogeneous steps). */
  protected beforeStep(_params: MechanismStep): void {}

  /** Hook called whenever the history changes (cache invalidation). */
  protected historyChanged(): void {}

  /**
   * ε spent so far at this δ.
   *
   * @param delta - target δ in (0, 1)
   */
  abstract getEpsilon(delta: number): number;

  /** Forgets every step. */
  reset(): void {
    this.entries = [];
    this.historyChanged();
  }

  /** A JSON-safe snapshot `{ mechanism, history }`. */
  stateDict(): AccountantStateDict {
    return { mechanism: this.mechanism, history: this.history.slice() };
  }

  /**
   * Replaces the history with a snapshot's, after validating every field (a malformed snapshot throws
   * `StateDictError` and leaves the accountant unchanged).
   *
   * @param stateDict - a value returned by `stateDict()`, possibly after a JSON round trip
   */
  loadStateDict(stateDict: unknown): void {
    const name = this.constructor.name;
    if (typeof stateDict !== 'object' || stateDict === null || Array.isArray(stateDict)) {
      throw new StateDictError(`${name}.loadStateDict: expected an object { mechanism, history }`);
    }
    const d = stateDict as Record<string, unknown>;
    if (d.mechanism !== this.mechanism) {
      throw new StateDictError(
        `${name}.loadStateDict: state dict is for mechanism ${JSON.stringify(d.mechanism)}, not "${this.mechanism}"`,
      );
    }
    if (!Array.isArray(d.history)) {
      throw new StateDictError(`${name}.loadStateDict: history must be an array`);
    }
    const entries: AccountantHistoryEntry[] = [];
    d.history.forEach((raw: unknown, i: number) => {
      if (typeof raw !== 'object' || raw === null) {
        throw new StateDictError(`${name}.loadStateDict: history[${i}] must be an object`);
      }
      const e = raw as Record<string, unknown>;
      const sigma = e.noiseMultiplier;
      const q = e.sampleRate;
      const steps = e.steps;
      if (typeof sigma !== 'number' || !Number.isFinite(sigma) || sigma <= 0) {
        throw new StateDictError(`${name}.loadStateDict: history[${i}].noiseMultiplier must be a finite number > 0`);
      }
      if (typeof q !== 'number' || !(q > 0 && q <= 1)) {
        throw new StateDictError(`${name}.loadStateDict: history[${i}].sampleRate must be in (0, 1]`);
      }
      if (typeof steps !== 'number' || !Number.isSafeInteger(steps) || steps < 1) {
        throw new StateDictError(`${name}.loadStateDict: history[${i}].steps must be a positive integer`);
      }
      entries.push({ noiseMultiplier: sigma, sampleRate: q, steps });
    });
    this.validateLoadedHistory(entries);
    this.entries = entries;
    this.historyChanged();
  }

  /** Hook for accountants that restrict the history; throws `StateDictError`. */
  protected validateLoadedHistory(_entries: readonly AccountantHistoryEntry[]): void {}

  /** @internal Validates δ for `getEpsilon`. */
  protected checkDelta(delta: unknown): number {
    return checkDelta(delta, `${this.constructor.name}.getEpsilon`);
  }
}
