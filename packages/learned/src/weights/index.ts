import { InvalidOptionError, StateDictError } from '@opt/tensor';
import { type WeightsRecord, decodeWeights, validateWeightsRecord } from './format.js';
import * as shipped from './shipped.js';

export * from './format.js';

/** The name that always resolves: the factory's `initialMetaParams()` (for the hybrid designs, plain Adam). */
export const UNTRAINED_WEIGHTS = 'untrained';

/** What weights can be given as: a registered name, a record, or the raw meta-parameter vector. */
export type WeightsSource = string | WeightsRecord | Float64Array;

/**
 * A weights name that is neither `'untrained'` nor registered. `available`
 * lists the names that are, so a caller (or its error message) can offer them.
 */
export class UnknownWeightsError extends InvalidOptionError {
  /** The names that would have been accepted, `'untrained'` first. */
  readonly available: readonly string[];

  constructor(name: string, available: readonly string[], context?: string) {
    super('weights', name, `one of the available weights: ${available.map((a) => JSON.stringify(a)).join(', ')}`, context);
    this.available = available;
  }
}

const registry = new Map<string, WeightsRecord>();
for (const value of Object.values(shipped as Record<string, unknown>)) {
  const record = validateWeightsRecord(value, 'shipped weights');
  registry.set(record.name, record);
}

/**
 * Add (or replace) a record in the registry, so optimizers accept its name.
 * Shipped records are registered when the package loads.
 *
 * @throws StateDictError when the record is malformed; InvalidOptionError for the reserved name `'untrained'`.
 */
export function registerWeights(record: WeightsRecord): void {
  const r = validateWeightsRecord(record, 'registerWeights');
  if (r.name === UNTRAINED_WEIGHTS) throw new InvalidOptionError('name', r.name, 'a name other than "untrained" (reserved)', 'registerWeights');
  registry.set(r.name, r);
}

/** Names accepted by {@link loadWeights}: `'untrained'` first, then the registered records (sorted). */
export function availableWeights(): string[] {
  return [UNTRAINED_WEIGHTS, ...[...registry.keys()].sort()];
}

/** The registered record called `name`, or `undefined`. */
export function getWeightsRecord(name: string): WeightsRecord | undefined {
  return registry.get(name);
}

/** The part of a `LearnedOptimizerFactory` that {@link loadWeights} checks weights against. */
export interface WeightsTarget {
  /** Architecture the weights must be for. */
  readonly arch: string;
  /** Length the meta-parameter vector must have. */
  readonly metaParamCount: number;
  /** Meta-parameters for `'untrained'`. */
  initialMetaParams(): Float64Array;
}

/** What {@link loadWeights} resolved. */
export interface LoadedWeights {
  /** The weights' name (`'untrained'`, a record's name, or `'custom'` for a raw vector). */
  name: string;
  /** The record, when the weights came from one. */
  record: WeightsRecord | undefined;
  /** The meta-parameters: a fresh vector, except a raw vector given in, which is returned as is (held by reference). */
  metaParams: Float64Array;
}

/**
 * Resolve weights given by name, record or vector, and check them against the
 * architecture that will run them.
 *
 * - `'untrained'`: `target.initialMetaParams()`;
 * - another name: the registered record (else {@link UnknownWeightsError}, listing the available ones);
 * - a record: validated and decoded;
 * - a `Float64Array`: used as is (by reference; the contract of learned optimizer factories).
 *
 * @param source - name, record or vector.
 * @param target - the architecture (a `LearnedOptimizerFactory` fits).
 * @param where - prefix of error messages.
 * @throws UnknownWeightsError for an unknown name; StateDictError for a record of another
 *   architecture or a vector of the wrong length.
 */
export function loadWeights(source: WeightsSource, target: WeightsTarget, where = 'loadWeights'): LoadedWeights {
  if (source instanceof Float64Array) {
    if (source.length !== target.metaParamCount) {
      throw new StateDictError(`${where}: ${target.arch} needs ${target.metaParamCount} meta-parameters, got ${source.length}`);
    }
    return { name: 'custom', record: undefined, metaParams: source };
  }
  let record: WeightsRecord;
  if (typeof source === 'string') {
    if (source === UNTRAINED_WEIGHTS) {
      return { name: UNTRAINED_WEIGHTS, record: undefined, metaParams: target.initialMetaParams() };
    }
    const found = registry.get(source);
    if (found === undefined) throw new UnknownWeightsError(source, availableWeights(), where);
    record = found;
  } else {
    record = validateWeightsRecord(source, where);
  }
  if (record.arch !== target.arch) {
    throw new StateDictError(`${where}: weights "${record.name}" are for architecture ${record.arch}, not ${target.arch}`);
  }
  if (record.metaParamCount !== target.metaParamCount) {
    throw new StateDictError(
      `${where}: weights "${record.name}" hold ${record.metaParamCount} meta-parameters, ${target.arch} with this configuration needs ${target.metaParamCount}`,
    );
  }
  return { name: record.name, record, metaParams: decodeWeights(record, where) };
}
