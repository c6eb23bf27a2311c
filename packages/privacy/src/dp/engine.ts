import { type Optimizer, checkInRange, checkInteger, checkOneOf, checkPositive } from '@opt/core';
import { InvalidOptionError } from '@opt/tensor';
import { RDPAccountant } from '../accountants/index.js';
import { getNoiseMultiplier } from '../calibration.js';
import { PrivacyBudgetExceededError } from '../errors.js';
import type { NoiseMode } from '../noise/gaussian.js';
import { FixedSizeBatchIterator, PoissonBatchIterator, type SamplingScheme } from '../sampling/samplers.js';
import { type AdaptiveClippingOptions, type DPAccountant, DPOptimizer } from './optimizer.js';
import type { GradSampleMode } from './per-example.js';

/** Options of {@link PrivacyEngine}. */
export interface PrivacyEngineOptions {
  /** Builds the accountant (and the probes of the budget check). Default: `new RDPAccountant()`. */
  accountant?: () => DPAccountant;
  /** Receives warnings (δ ≥ 1/N, non-private noise). Default `console.warn`. */
  onWarning?: (message: string) => void;
}

/** Options of {@link PrivacyEngine.makePrivate}. */
export interface MakePrivateOptions<O extends object> {
  /** The optimizer to privatise (any `@opt/core` optimizer over the model's parameters). */
  optimizer: Optimizer<O>;
  /** N, the number of training examples. */
  dataSize: number;
  /** Expected batch size qN (Poisson) or the fixed batch size B; give this or `sampleRate`. */
  batchSize?: number;
  /** q ∈ (0, 1]; give this or `batchSize`. */
  sampleRate?: number;
  /** σ > 0; or give `targetEpsilon` with `epochs` or `steps` to calibrate it. */
  noiseMultiplier?: number;
  /** ε to reach after the planned training; also the budget the engine enforces. */
  targetEpsilon?: number;
  /** Planned epochs (each `floor(1/q)` logical steps, Opacus' convention). */
  epochs?: number;
  /** Planned logical steps (instead of `epochs`). */
  steps?: number;
  /** C > 0, or one bound per parameter (per-layer clipping). */
  maxGradNorm: number | readonly number[];
  /** δ ∈ (0, 1); a δ ≥ 1/N triggers a warning (it would allow releasing an example outright). */
  delta: number;
  /** The sampler to build. Default `'poisson'`. */
  sampling?: SamplingScheme;
  /** Cap on physical batch rows (virtual steps). */
  maxPhysicalBatchSize?: number;
  /** Noise mode of the optimizer AND the sampler. Default `'private'`. `'seeded'` is NOT private. */
  noise?: NoiseMode;
  /** Seed of the `'seeded'` mode (the sampler uses seed + 1). */
  seed?: number;
  /** Per-example gradient algorithm. Default `'auto'`. */
  method?: GradSampleMode;
  /** Adaptive clipping options (flat clipping only). */
  adaptiveClipping?: boolean | AdaptiveClippingOptions;
}

/** What {@link PrivacyEngine.makePrivate} returns. */
export interface PrivateTraining<O extends object> {
  /** The DP optimizer (wraps the given one; its accountant is the engine's). */
  optimizer: DPOptimizer<O>;
  /** The sampler matching the accounting; iterate it once per epoch. */
  sampler: PoissonBatchIterator | FixedSizeBatchIterator;
  /** σ used (given or calibrated). */
  noiseMultiplier: number;
  /** q. */
  sampleRate: number;
  /** Planned logical steps, when epochs or steps were given. */
  plannedSteps: number | undefined;
}

/**
 * Tracks the privacy spent while training and refuses to overspend. The
 * counterpart of Opacus' `PrivacyEngine`:
 *
 * - `makePrivate(...)` wraps an optimizer in a {@link DPOptimizer} (σ given, or
 *   calibrated from `targetEpsilon` and the planned epochs/steps with
 *   `getNoiseMultiplier`), builds the matching sampler, and attaches the
 *   engine's accountant, which every logical step charges with (σ, q);
 * - `getEpsilon(delta)` reports the ε spent so far;
 * - with a `targetEpsilon`, a step that WOULD take ε above it throws a
 *   `PrivacyBudgetExceededError` before anything changes (parameters, the
 *   inner optimizer's state, the accountant and the accumulated batch are
 *   intact; save them with `stateDict()`).
 *
 * Bad input is a typed error: q ∉ (0, 1], σ ≤ 0, C ≤ 0 (`InvalidOptionError`);
 * δ ≥ 1/N only warns (through `onWarning`), as Opacus does.
 *
 * @example
 * ```ts
 * import { SGD } from '@opt/core';
 * import { ClassificationObjective, batchOf, createDataset, mlp } from '@opt/tasks';
 * const data = createDataset({ name: 'toy', features: [0, 0, 0, 1, 1, 0, 1, 1], labels: [0, 1, 1, 0], d: 2, numClasses: 2 });
 * const objective = new ClassificationObjective(mlp({ sizes: [2, 4, 2], seed: 0 }), data);
 * const engine = new PrivacyEngine({ onWarning: () => {} });
 * const { optimizer, sampler } = engine.makePrivate({
 *   optimizer: new SGD(objective.parameters, { lr: 0.1 }),
 *   dataSize: data.n, sampleRate: 0.5, noiseMultiplier: 1.0, maxGradNorm: 1.0, delta: 1e-5,
 * });
 * for (const b of sampler) {
 *   optimizer.accumulate(objective, batchOf(data, b.indices, 'float64'), b);
 *   if (b.lastPhysical) optimizer.step();
 * }
 * console.log(engine.getEpsilon(1e-5) > 0); // true
 * ```
 */
export class PrivacyEngine {
  /** The accountant charged by every optimizer this engine made. */
  readonly accountant: DPAccountant;
  /** The budget, if one was set through `makePrivate({ targetEpsilon })`. */
  targetEpsilon: number | undefined;
  /** δ of the budget (the last `makePrivate`'s). */
  delta: number | undefined;
  private readonly makeAccountant: () => DPAccountant;
  private readonly onWarning: (message: string) => void;
  private cache: { key: string; optimizer: DPOptimizer; baseSteps: number; remaining: number } | null = null;

  /** @param options - accountant factory and warning callback. */
  constructor(options: PrivacyEngineOptions = {}) {
    this.makeAccountant = options.accountant ?? (() => new RDPAccountant());
    this.accountant = this.makeAccountant();
    this.onWarning = options.onWarning ?? defaultWarning;
  }

  /**
   * Privatise an optimizer: validate the inputs, calibrate σ if asked, build
   * the {@link DPOptimizer} and its sampler. See {@link MakePrivateOptions}.
   */
  makePrivate<O extends object>(options: MakePrivateOptions<O>): PrivateTraining<O> {
    const where = 'PrivacyEngine.makePrivate';
    const n = checkInteger(where, 'dataSize', options.dataSize, 1);
    const delta = checkInRange(where, 'delta', options.delta, 0, 1, '()');
    const sampling = checkOneOf<SamplingScheme>(where, 'sampling', options.sampling ?? 'poisson', ['poisson', 'fixed-size']);
    let q: number;
    if (options.sampleRate !== undefined) {
      if (options.batchSize !== undefined) {
        throw new InvalidOptionError('batchSize', options.batchSize, 'unset when sampleRate is given (give one of the two)', where);
      }
      q = checkInRange(where, 'sampleRate', options.sampleRate, 0, 1, '(]');
    } else if (options.batchSize !== undefined) {
      q = checkInRange(where, 'batchSize', options.batchSize, 0, n, '(]') / n;
    } else {
      throw new InvalidOptionError('sampleRate', undefined, 'a rate in (0, 1] (or batchSize in (0, dataSize])', where);
    }
    if (typeof options.maxGradNorm === 'number') checkPositive(where, 'maxGradNorm', options.maxGradNorm);
    if (delta >= 1 / n) {
      this.onWarning(
        `${where}: delta = ${delta} is >= 1/N = ${1 / n}; a mechanism that publishes one example outright satisfies such a delta. Use delta << 1/N.`,
      );
    }
    const noise = options.noise ?? 'private';
    if (noise === 'seeded') this.onWarning(`${where}: noise 'seeded' is reproducible and NOT private; use it for tests only.`);
    const seed = options.seed ?? 0;
    const sampler =
      sampling === 'poisson'
        ? new PoissonBatchIterator({ dataSize: n, sampleRate: q, noise, seed: seed + 1, ...opt('maxPhysicalBatchSize', options.maxPhysicalBatchSize) })
        : new FixedSizeBatchIterator({
            dataSize: n,
            batchSize: Math.round(q * n),
            noise,
            seed: seed + 1,
            ...opt('maxPhysicalBatchSize', options.maxPhysicalBatchSize),
          });
    if (sampling === 'fixed-size' && !supportsFixedSize(this.accountant)) {
      throw new InvalidOptionError(
        'sampling',
        'fixed-size',
        "an accountant that supports sampling without replacement (set accountant to one with supportsSampling including 'fixed-size'); the Poisson accountants do not cover it",
        where,
      );
    }
    let plannedSteps: number | undefined;
    if (options.steps !== undefined) plannedSteps = checkInteger(where, 'steps', options.steps, 1);
    else if (options.epochs !== undefined) plannedSteps = checkInteger(where, 'epochs', options.epochs, 1) * sampler.steps;
    let sigma: number;
    if (options.noiseMultiplier !== undefined) {
      sigma = checkPositive(where, 'noiseMultiplier', options.noiseMultiplier);
    } else {
      if (options.targetEpsilon === undefined || plannedSteps === undefined) {
        throw new InvalidOptionError('noiseMultiplier', undefined, 'a number > 0, or targetEpsilon with epochs or steps to calibrate it', where);
      }
      sigma = getNoiseMultiplier({
        targetEpsilon: checkPositive(where, 'targetEpsilon', options.targetEpsilon),
        delta,
        sampleRate: q,
        steps: plannedSteps,
        accountant: this.accountantKind(),
      });
    }
    if (options.targetEpsilon !== undefined) this.targetEpsilon = checkPositive(where, 'targetEpsilon', options.targetEpsilon);
    this.delta = delta;
    this.cache = null;
    const optimizer = new DPOptimizer(options.optimizer, {
      noiseMultiplier: sigma,
      maxGradNorm: options.maxGradNorm,
      expectedBatchSize: q * n,
      sampleRate: q,
      sampling,
      noise,
      seed,
      accountant: this.accountant,
      beforeStep: (dp) => this.checkBudget(dp),
      ...opt('method', options.method),
      ...opt('adaptiveClipping', options.adaptiveClipping),
    });
    return { optimizer, sampler, noiseMultiplier: sigma, sampleRate: q, plannedSteps };
  }

  /** ε spent so far at `delta` (default: the budget's δ). */
  getEpsilon(delta: number | undefined = this.delta): number {
    if (delta === undefined) throw new InvalidOptionError('delta', undefined, 'a number in (0, 1) (none was set by makePrivate)', 'PrivacyEngine.getEpsilon');
    return this.accountant.getEpsilon(delta);
  }

  /**
   * How many more logical steps at the optimizer's current (σ, q) fit in the
   * budget (Infinity without a target). Computed by exponential search and
   * bisection on copies of the accountant, then cached until σ or q changes.
   */
  stepsRemaining(optimizer: DPOptimizer): number {
    const target = this.targetEpsilon;
    const delta = this.delta;
    if (target === undefined || delta === undefined) return Infinity;
    const q = optimizer.sampleRate!;
    const sigma = optimizer.noiseMultiplier;
    const key = `${sigma}|${q}|${target}|${delta}`;
    const cache = this.cache;
    // The accountant is charged once per DP step, so the count since the search is what has been spent of it.
    if (cache !== null && cache.key === key && cache.optimizer === optimizer && optimizer.dpSteps >= cache.baseSteps) {
      return cache.remaining - (optimizer.dpSteps - cache.baseSteps);
    }
    const fits = (k: number): boolean => {
      if (k === 0) return true;
      const probe = this.makeAccountant();
      probe.loadStateDict(this.accountant.stateDict() as never);
      probe.step({ noiseMultiplier: sigma, sampleRate: q }, k);
      return probe.getEpsilon(delta) <= target;
    };
    let lo = 0;
    let hi = 1;
    while (fits(hi)) {
      lo = hi;
      hi *= 2;
      if (hi > 2 ** 40) {
        lo = Infinity;
        break;
      }
    }
    if (lo !== Infinity) {
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (fits(mid)) lo = mid;
        else hi = mid;
      }
    }
    this.cache = { key, optimizer, baseSteps: optimizer.dpSteps, remaining: lo };
    return lo;
  }

  private checkBudget(dp: DPOptimizer): void {
    if (this.stepsRemaining(dp) >= 1) return;
    const probe = this.makeAccountant();
    probe.loadStateDict(this.accountant.stateDict() as never);
    probe.step({ noiseMultiplier: dp.noiseMultiplier, sampleRate: dp.sampleRate! }, 1);
    throw new PrivacyBudgetExceededError(
      probe.getEpsilon(this.delta!),
      this.targetEpsilon!,
      this.delta!,
      `step ${dp.dpSteps + 1} at noise multiplier ${dp.noiseMultiplier}, sample rate ${dp.sampleRate}; ` +
        `spent so far ${this.accountant.getEpsilon(this.delta!)}; parameters and optimizer state are unchanged`,
    );
  }

  private accountantKind(): 'rdp' | 'prv' | 'gdp' {
    const name = (this.accountant as { constructor: { name: string } }).constructor.name.toLowerCase();
    if (name.startsWith('prv')) return 'prv';
    if (name.startsWith('gdp')) return 'gdp';
    return 'rdp';
  }

  /** Forget the cached budget computation (after loading an accountant state by hand). */
  invalidate(): void {
    this.cache = null;
  }
}

/** `console.warn`, reached through `globalThis` because the browser-safe build has no DOM or Node typings. */
function defaultWarning(message: string): void {
  (globalThis as unknown as { console: { warn(m: string): void } }).console.warn(message);
}

function supportsFixedSize(accountant: DPAccountant): boolean {
  const s = (accountant as { supportsSampling?: readonly string[] }).supportsSampling;
  return Array.isArray(s) && s.includes('fixed-size');
}

/** `{ [key]: value }` when value is defined, else `{}` (exactOptionalPropertyTypes-safe spreading). */
function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
