import {
  type Closure,
  type Optimizer,
  type OptimizerSettings,
  OptimizerWrapper,
  type ParamGroup,
  checkInRange,
  checkInteger,
  checkOneOf,
  checkPositive,
} from '@opt/core';
import type { Batch, ModelObjective } from '@opt/tasks';
import { type FloatArray, InvalidOptionError, type Parameter, type RngState, StateDictError, zerosLike } from '@opt/tensor';
import { type NoiseMode, type RandomSource, createRandomSource } from '../noise/gaussian.js';
import type { DPBatch, SamplingScheme } from '../sampling/samplers.js';
import { SamplingMismatchError } from './errors.js';
import { type GradSampleMode, PerExampleClipper, clipAndSumRows } from './per-example.js';

/**
 * What a DP optimizer needs from a privacy accountant (the shape of the
 * accountants of this package, e.g. `RDPAccountant`): compose one DP-SGD step,
 * report ε, and save/restore itself.
 */
export interface DPAccountant {
  /** Compose `count` (default 1) steps of the subsampled Gaussian mechanism. */
  step(params: { noiseMultiplier: number; sampleRate: number }, count?: number): void;
  /** The ε of everything composed so far at this δ. */
  getEpsilon(delta: number): number;
  /** The accountant's state as JSON data. */
  stateDict(): unknown;
  /** Restore a state from `stateDict()`. */
  loadStateDict(state: never): void;
}

/**
 * Adaptive clipping (Andrew, Thakkar, McMahan & Ramaswamy 2021, "Differentially
 * Private Learning with Adaptive Clipping", arXiv:1905.03871): the bound C
 * follows the γ-quantile of the per-example norms through a private count.
 * After every logical step,
 *
 * ```
 * b̄ = (Σᵢ (1[‖gᵢ‖ ≤ C] − ½) + N(0, σ_b²)) / m + ½        m = expected batch size
 * C ← clamp(C · exp(−η (b̄ − γ)), minClipbound, maxClipbound)
 * ```
 *
 * The −½ shift makes the count's sensitivity ½, so the count spends the
 * privacy of a Gaussian with multiplier 2σ_b; the gradient noise is raised to
 * σ_Δ = (σ⁻² − (2σ_b)⁻²)^(−1/2) so that the pair costs exactly what a step with
 * noise multiplier σ costs (the paper's Theorem 1), and the accountant is
 * charged σ.
 */
export interface AdaptiveClippingOptions {
  /** γ, the fraction of examples that should stay unclipped. Default 0.5. */
  targetUnclippedQuantile?: number;
  /** η, the geometric learning rate of C. Default 0.2 (the paper's). */
  clipboundLearningRate?: number;
  /** σ_b, the std of the count noise. Default m/20 (the paper's recommendation). Must exceed σ/2. */
  countNoiseStd?: number;
  /** Lower bound of C. Default 0 (none). */
  minClipbound?: number;
  /** Upper bound of C. Default Infinity. */
  maxClipbound?: number;
}

/** Options of {@link DPOptimizer}. */
export interface DPOptimizerOptions extends OptimizerSettings {
  /** σ > 0: the noise std is σ·C. */
  noiseMultiplier: number;
  /** C > 0 (flat clipping), or one Cₖ > 0 per parameter in optimizer order (per-layer; noise uses √ΣCₖ²). */
  maxGradNorm: number | readonly number[];
  /** The expected logical batch size qN that DP-SGD divides by (Opacus' `expected_batch_size`). */
  expectedBatchSize: number;
  /** q; default: taken from the batches' `sampleRate`. Charged to the accountant. */
  sampleRate?: number;
  /** The sampling that feeds this optimizer; batches of the other scheme are refused. Default `'poisson'`. */
  sampling?: SamplingScheme;
  /** Noise source mode. Default `'private'` (Web Crypto). `'seeded'` is NOT private (tests). */
  noise?: NoiseMode;
  /** Seed of the `'seeded'` mode. Default 0. */
  seed?: number;
  /** An explicit random source (overrides `noise`/`seed`). */
  random?: RandomSource;
  /** Per-example gradient algorithm for model objectives. Default `'auto'` (ghost clipping where possible). */
  method?: GradSampleMode;
  /** Adaptive clipping (flat clipping only); `true` for the defaults. */
  adaptiveClipping?: boolean | AdaptiveClippingOptions;
  /** Charged one step (σ, q) after every logical step and saved in the state dict. */
  accountant?: DPAccountant;
  /**
   * Called at the start of every `step()`, before anything changes; throwing
   * there aborts the step with parameters and state intact (the privacy
   * engine's budget check).
   */
  beforeStep?: (optimizer: DPOptimizer) => void;
}

/** Per-parameter state of {@link DPOptimizer}: the clipped gradients accumulated over the current logical batch. */
export interface DPOptimizerState {
  [key: string]: FloatArray;
  summed_grad: FloatArray;
}

interface AdaptiveState {
  quantile: number;
  lr: number;
  countStd: number;
  min: number;
  max: number;
  unclipped: number;
}

/**
 * DP-SGD around ANY `@opt/core` optimizer (Abadi et al. 2016, with Opacus'
 * conventions): each logical step is
 *
 * ```
 * ḡᵢ = gᵢ · min(1, C / (‖gᵢ‖₂ + 1e-6))                 per-example clipping (flat, or per tensor with Cₖ)
 * G  = (Σᵢ ḡᵢ + N(0, σ²C²·I)) / (m · k)                 m = expected batch size qN, k = logical batches accumulated
 * θ ← inner.step(G)                                     (SGD, Adam, … : post-processing)
 * ```
 *
 * Dividing by the EXPECTED batch size, not the realised one, is deliberate: the
 * realised Poisson batch size is private data. Per-layer clipping uses
 * C = √(Σₖ Cₖ²) for the noise (Opacus `DPPerLayerOptimizer`).
 *
 * Usage: for every physical batch from a sampler (`PoissonBatchIterator`,
 * `FixedSizeBatchIterator`), call {@link DPOptimizer.accumulate} (clipped sum
 * from a model objective: ghost clipping where possible) or
 * {@link DPOptimizer.accumulatePerExample} (per-example gradients computed
 * elsewhere), then `step()` after the last physical batch of each logical
 * batch. Several physical batches of one logical batch are virtual steps: they
 * accumulate, noise is added once. An empty Poisson batch still needs
 * `accumulate` (size 0) and `step()`: a noise-only update.
 *
 * State: per parameter `summed_grad` (the accumulator); the state dict's
 * `extra` also holds σ, C (adaptive value included), the step count, the
 * accountant's state and, in `'seeded'` mode, the generator state, so a seeded
 * run resumes bit-for-bit. `'seeded'` mode is NOT private (`isPrivate` false).
 *
 * @example
 * ```ts
 * import { SGD } from '@opt/core';
 * import { ClassificationObjective, batchOf, createDataset, mlp } from '@opt/tasks';
 * const data = createDataset({ name: 'toy', features: [0, 0, 0, 1, 1, 0, 1, 1], labels: [0, 1, 1, 0], d: 2, numClasses: 2 });
 * const objective = new ClassificationObjective(mlp({ sizes: [2, 8, 2], seed: 0 }), data);
 * const sampler = new PoissonBatchIterator({ dataSize: data.n, sampleRate: 0.5, noise: 'seeded', seed: 1 });
 * const dp = new DPOptimizer(new SGD(objective.parameters, { lr: 0.1 }), {
 *   noiseMultiplier: 1.0, maxGradNorm: 1.0, expectedBatchSize: 2, noise: 'seeded', seed: 2,
 * });
 * for (const b of sampler) {
 *   dp.accumulate(objective, batchOf(data, b.indices, 'float64'), b);
 *   if (b.lastPhysical) dp.step();
 * }
 * console.log(dp.dpSteps, dp.isPrivate); // 2 false
 * ```
 */
export class DPOptimizer<O extends object = object> extends OptimizerWrapper<O, DPOptimizerState> {
  /** σ, the noise multiplier charged to the accountant (may be changed between steps). */
  noiseMultiplier: number;
  /** C (flat; adapted when adaptive clipping is on) or the per-parameter bounds Cₖ. */
  maxGradNorm: number | number[];
  /** m, the expected logical batch size. */
  expectedBatchSize: number;
  /** q, if known (else the batches'). */
  sampleRate: number | undefined;
  /** The sampling scheme this optimizer accepts. */
  readonly sampling: SamplingScheme;
  /** The gradient-sample algorithm requested for model objectives. */
  readonly method: GradSampleMode;
  /** The noise source. */
  readonly random: RandomSource;
  /** The accountant charged at every step, if any. */
  accountant: DPAccountant | undefined;
  /** Logical DP steps taken. */
  dpSteps = 0;
  /** The budget hook; see {@link DPOptimizerOptions.beforeStep}. */
  beforeStep: ((optimizer: DPOptimizer) => void) | undefined;
  private readonly adaptive: AdaptiveState | null;
  private physicalPending = 0;
  private logicalPending = 0;
  private midLogical = false;
  private pendingSampleRate: number | undefined;
  private realisedSinceStep = 0;
  private readonly clippers = new Map<ModelObjective, PerExampleClipper>();
  private scratch = { sq: new Float64Array(0), factors: new Float64Array(0), norms: new Float64Array(0) };

  /**
   * @param inner - the optimizer that applies the privatised gradient.
   * @param options - σ, C, the expected batch size, sampling, noise, adaptive clipping, accountant.
   */
  constructor(inner: Optimizer<O>, options: DPOptimizerOptions) {
    const where = 'DPOptimizer';
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionError('options', options, 'an object with noiseMultiplier, maxGradNorm and expectedBatchSize', where);
    }
    const sigma = checkPositive(where, 'noiseMultiplier', options.noiseMultiplier);
    const clip = checkClip(where, options.maxGradNorm);
    const m = checkPositive(where, 'expectedBatchSize', options.expectedBatchSize);
    const q = options.sampleRate === undefined ? undefined : checkInRange(where, 'sampleRate', options.sampleRate, 0, 1, '(]');
    const sampling = checkOneOf<SamplingScheme>(where, 'sampling', options.sampling ?? 'poisson', ['poisson', 'fixed-size']);
    const method = checkOneOf<GradSampleMode>(where, 'method', options.method ?? 'auto', ['auto', 'ghost', 'materialized']);
    const mode = checkOneOf<NoiseMode>(where, 'noise', options.noise ?? 'private', ['private', 'secure', 'seeded']);
    let adaptive: AdaptiveState | null = null;
    if (options.adaptiveClipping !== undefined && options.adaptiveClipping !== false) {
      if (typeof clip !== 'number') {
        throw new InvalidOptionError('adaptiveClipping', options.adaptiveClipping, 'off with per-layer maxGradNorm (flat clipping only)', where);
      }
      const a = options.adaptiveClipping === true ? {} : options.adaptiveClipping;
      const countStd = checkPositive(where, 'adaptiveClipping.countNoiseStd', a.countNoiseStd ?? m / 20);
      if (!(2 * countStd > sigma)) {
        throw new InvalidOptionError(
          'adaptiveClipping.countNoiseStd',
          countStd,
          `> noiseMultiplier / 2 = ${sigma / 2} (the gradient noise σ_Δ = (σ⁻² − (2σ_b)⁻²)^(−1/2) must be finite)`,
          where,
        );
      }
      adaptive = {
        quantile: checkInRange(where, 'adaptiveClipping.targetUnclippedQuantile', a.targetUnclippedQuantile ?? 0.5, 0, 1),
        lr: checkInRange(where, 'adaptiveClipping.clipboundLearningRate', a.clipboundLearningRate ?? 0.2, 0, Infinity),
        countStd,
        min: checkInRange(where, 'adaptiveClipping.minClipbound', a.minClipbound ?? 0, 0, Infinity),
        max: checkInRange(where, 'adaptiveClipping.maxClipbound', a.maxClipbound ?? Infinity, 0, Infinity, '(]'),
        unclipped: 0,
      };
    }
    super(where, inner, {
      nonFinite: options.nonFinite ?? inner?.nonFinite,
      onNonFinite: options.onNonFinite ?? inner?.onNonFinite,
    });
    this.noiseMultiplier = sigma;
    this.maxGradNorm = typeof clip === 'number' ? clip : [...clip];
    if (typeof clip !== 'number' && clip.length !== this.allParams().length) {
      throw new InvalidOptionError('maxGradNorm', `${clip.length} bounds`, `one bound per parameter (${this.allParams().length})`, where);
    }
    this.expectedBatchSize = m;
    this.sampleRate = q;
    this.sampling = sampling;
    this.method = method;
    this.random = options.random ?? createRandomSource(mode, options.seed ?? 0);
    this.accountant = options.accountant;
    this.beforeStep = options.beforeStep;
    this.adaptive = adaptive;
  }

  /** Whether the noise comes from a CSPRNG (false in `'seeded'` mode: NOT private). */
  get isPrivate(): boolean {
    return this.random.private;
  }

  /** The clip bound the noise is calibrated to: C, or √(Σ Cₖ²) for per-layer clipping. */
  get noiseClip(): number {
    const c = this.maxGradNorm;
    if (typeof c === 'number') return c;
    let s = 0;
    for (let k = 0; k < c.length; k++) s += c[k]! * c[k]!;
    return Math.sqrt(s);
  }

  /**
   * The std of the gradient noise per unit of C: σ, or σ_Δ = (σ⁻² − (2σ_b)⁻²)^(−1/2)
   * with adaptive clipping (part of the budget pays for the clipped count).
   */
  get gradientNoiseMultiplier(): number {
    const a = this.adaptive;
    const s = this.noiseMultiplier;
    if (a === null) return s;
    return 1 / Math.sqrt(1 / (s * s) - 1 / (4 * a.countStd * a.countStd));
  }

  protected initState(p: Parameter): DPOptimizerState {
    return { summed_grad: zerosLike(p.data) };
  }

  protected override onGroupAdded(group: ParamGroup<O>): void {
    for (let pIndex = 0; pIndex < group.params.length; pIndex++) this.stateFor(group.params[pIndex]!, group);
  }

  protected updateGroup(): void {
    // The update is the inner optimizer's; step() drives it directly.
  }

  private checkBatch(info: DPBatch | undefined): void {
    if (info === undefined) {
      this.physicalPending++;
      this.logicalPending++;
      this.midLogical = false;
      return;
    }
    if (info.sampling !== this.sampling) {
      throw new SamplingMismatchError(
        `DPOptimizer: got a '${info.sampling}' batch but the optimizer is set up (and accounted) for '${this.sampling}' sampling`,
      );
    }
    if (this.pendingSampleRate !== undefined && info.sampleRate !== this.pendingSampleRate) {
      throw new SamplingMismatchError(
        `DPOptimizer: a batch with sampleRate ${info.sampleRate} joined a logical step at rate ${this.pendingSampleRate}`,
      );
    }
    this.pendingSampleRate = info.sampleRate;
    this.physicalPending++;
    if (info.lastPhysical) this.logicalPending++;
    this.midLogical = !info.lastPhysical;
  }

  private clipValue(): number | readonly number[] {
    return this.maxGradNorm;
  }

  private addToSums(): void {
    const params = this.allParams();
    for (let k = 0; k < params.length; k++) {
      const p = params[k]!;
      const s = this.state.get(p)!.summed_grad;
      const g = p.grad!;
      for (let j = 0; j < s.length; j++) s[j] = s[j]! + g[j]!;
    }
  }

  /**
   * Clip the per-example gradients of one physical batch of a `@opt/tasks`
   * model objective and add their sum to the logical batch's accumulator
   * (ghost clipping where the model allows it; see `PerExampleClipper`). The
   * parameters' `grad` is used as scratch. The objective's parameters must be
   * this optimizer's, in the same order.
   *
   * @param objective - the model objective.
   * @param batch - the physical batch's rows (e.g. `batchOf(data, info.indices, dtype)`); may be empty.
   * @param info - the sampler's batch record: checked against this optimizer's sampling scheme.
   */
  accumulate(objective: ModelObjective, batch: Batch, info?: DPBatch): void {
    if (info !== undefined && info.size !== batch.size) {
      throw new SamplingMismatchError(`DPOptimizer.accumulate: the batch has ${batch.size} rows but the sampler drew ${info.size}`);
    }
    let clipper = this.clippers.get(objective);
    if (clipper === undefined) {
      const params = this.allParams();
      if (objective.parameters.length !== params.length || objective.parameters.some((p, k) => p !== params[k])) {
        throw new InvalidOptionError('objective', 'a model objective', "one whose parameters are this optimizer's, in order", 'DPOptimizer.accumulate');
      }
      clipper = new PerExampleClipper(objective, { method: this.method });
      this.clippers.set(objective, clipper);
    }
    this.checkBatch(info);
    const unclipped = clipper.clipAndSum(batch, this.clipValue());
    this.realisedSinceStep += batch.size;
    if (this.adaptive !== null) this.adaptive.unclipped += unclipped;
    this.addToSums();
  }

  /**
   * Clip and add per-example gradients computed elsewhere: `perExample[k]` is
   * a row-major `[batchSize, size]` array for the k-th parameter (in optimizer
   * order), row i = example i's own gradient (not divided by the batch size).
   *
   * @param perExample - one `[batchSize, size]` array per parameter.
   * @param batchSize - number of examples (0 for an empty batch).
   * @param info - the sampler's batch record.
   */
  accumulatePerExample(perExample: readonly FloatArray[], batchSize: number, info?: DPBatch): void {
    checkInteger('DPOptimizer.accumulatePerExample', 'batchSize', batchSize, 0);
    if (info !== undefined && info.size !== batchSize) {
      throw new SamplingMismatchError(`DPOptimizer.accumulatePerExample: got ${batchSize} examples but the sampler drew ${info.size}`);
    }
    const params = this.allParams();
    if (this.scratch.sq.length < batchSize) {
      const cap = Math.max(batchSize, 2 * this.scratch.sq.length);
      this.scratch = { sq: new Float64Array(cap), factors: new Float64Array(cap), norms: new Float64Array(cap) };
    }
    this.checkBatch(info);
    let unclipped = 0;
    if (batchSize === 0) {
      for (let k = 0; k < params.length; k++) params[k]!.ensureGrad().fill(0);
    } else {
      const s = this.scratch;
      unclipped = clipAndSumRows(perExample, batchSize, params, this.clipValue(), s.sq, s.factors, s.norms);
    }
    this.realisedSinceStep += batchSize;
    if (this.adaptive !== null) this.adaptive.unclipped += unclipped;
    this.addToSums();
  }

  /**
   * End the logical step: add N(0, σ²C²) noise to the accumulated clipped
   * sum, divide by the expected batch size × the number of logical batches
   * accumulated, hand the result to the inner optimizer as `grad`, charge the
   * accountant, and (adaptive clipping) update C. Throws a
   * `SamplingMismatchError` in the middle of a logical batch or when nothing
   * was accumulated, and lets the `beforeStep` hook abort first.
   */
  override step(closure?: Closure): number | undefined {
    const where = 'DPOptimizer.step';
    if (closure !== undefined) {
      throw new InvalidOptionError('closure', 'a function', 'no closure: DP gradients come from accumulate()/accumulatePerExample()', where);
    }
    if (this.logicalPending === 0 || this.midLogical) {
      throw new SamplingMismatchError(
        this.midLogical
          ? `${where}: the last accumulated physical batch is not the last of its logical batch; noise is added once per logical batch`
          : `${where}: no batch accumulated since the last step (an empty Poisson batch still needs accumulate() with its size-0 batch)`,
      );
    }
    const sampleRate = this.sampleRate ?? this.pendingSampleRate;
    if (this.accountant !== undefined && sampleRate === undefined) {
      throw new InvalidOptionError('sampleRate', undefined, 'known (set it, or pass the sampler batch records to accumulate) to charge the accountant', where);
    }
    this.beforeStep?.(this as unknown as DPOptimizer);
    const params = this.allParams();
    const std = this.gradientNoiseMultiplier * this.noiseClip;
    const inv = 1 / (this.expectedBatchSize * this.logicalPending);
    const random = this.random;
    for (let k = 0; k < params.length; k++) {
      const p = params[k]!;
      const s = this.state.get(p)!.summed_grad;
      random.addNoise(s, std);
      const g = p.ensureGrad();
      for (let j = 0; j < s.length; j++) {
        g[j] = s[j]! * inv;
        s[j] = 0;
      }
    }
    const inner = this.inner;
    inner.nonFinite = this.nonFinite;
    inner.onNonFinite = this.onNonFinite;
    inner.step();
    this.lastStepSkipped = inner.lastStepSkipped;
    if (this.lastStepSkipped) this.skippedSteps++;
    // The noise was drawn and released whether or not the inner step used it: it is charged either way.
    this.accountant?.step({ noiseMultiplier: this.noiseMultiplier, sampleRate: sampleRate! }, 1);
    const a = this.adaptive;
    if (a !== null) {
      const m = this.expectedBatchSize * this.logicalPending;
      // Σ(bᵢ − ½) over the realised batch = unclipped − realised/2; the realised size never leaves this expression un-noised.
      const realised = this.realisedSinceStep;
      const noisy = a.unclipped - realised / 2 + a.countStd * random.normal();
      const frac = noisy / m + 0.5;
      let c = (this.maxGradNorm as number) * Math.exp(-a.lr * (frac - a.quantile));
      if (c < a.min) c = a.min;
      if (c > a.max) c = a.max;
      if (!(c > 0)) c = Number.MIN_VALUE;
      this.maxGradNorm = c;
      a.unclipped = 0;
    }
    this.realisedSinceStep = 0;
    this.physicalPending = 0;
    this.logicalPending = 0;
    this.pendingSampleRate = undefined;
    this.dpSteps++;
    return undefined;
  }

  /** Clear the accumulator of a logical batch in progress (drops what was accumulated since the last step). */
  resetAccumulation(): void {
    for (const p of this.allParams()) this.state.get(p)!.summed_grad.fill(0);
    this.physicalPending = 0;
    this.logicalPending = 0;
    this.midLogical = false;
    this.pendingSampleRate = undefined;
    this.realisedSinceStep = 0;
    if (this.adaptive !== null) this.adaptive.unclipped = 0;
  }

  protected wrapperState(): Record<string, unknown> {
    const a = this.adaptive;
    return {
      noise_multiplier: this.noiseMultiplier,
      max_grad_norm: typeof this.maxGradNorm === 'number' ? this.maxGradNorm : [...this.maxGradNorm],
      expected_batch_size: this.expectedBatchSize,
      sample_rate: this.sampleRate ?? null,
      sampling: this.sampling,
      noise: this.random.mode,
      rng_state: this.random.getState(),
      dp_steps: this.dpSteps,
      physical_pending: this.physicalPending,
      logical_pending: this.logicalPending,
      mid_logical: this.midLogical,
      pending_sample_rate: this.pendingSampleRate ?? null,
      realised_pending: this.realisedSinceStep,
      adaptive_unclipped: a === null ? null : a.unclipped,
      accountant: this.accountant === undefined ? null : this.accountant.stateDict(),
    };
  }

  protected validateWrapperState(extra: Record<string, unknown>, where: string): void {
    try {
      checkPositive(where, 'extra.noise_multiplier', extra.noise_multiplier);
      checkClip(where, extra.max_grad_norm as number | number[]);
      checkPositive(where, 'extra.expected_batch_size', extra.expected_batch_size);
      checkInteger(where, 'extra.dp_steps', extra.dp_steps, 0);
      checkInteger(where, 'extra.physical_pending', extra.physical_pending, 0);
      checkInteger(where, 'extra.logical_pending', extra.logical_pending, 0);
      checkInteger(where, 'extra.realised_pending', extra.realised_pending, 0);
    } catch (e) {
      throw new StateDictError((e as Error).message);
    }
    if (Array.isArray(extra.max_grad_norm) !== Array.isArray(this.maxGradNorm)) {
      throw new StateDictError(`${where}: the state dict has ${Array.isArray(extra.max_grad_norm) ? 'per-layer' : 'flat'} clipping, this optimizer the other`);
    }
    if (extra.sampling !== this.sampling) {
      throw new StateDictError(`${where}: the state dict was saved with '${String(extra.sampling)}' sampling, this optimizer uses '${this.sampling}'`);
    }
    if (extra.noise !== this.random.mode) {
      throw new StateDictError(`${where}: the state dict was saved with noise mode '${String(extra.noise)}', this optimizer uses '${this.random.mode}'`);
    }
    if ((extra.adaptive_unclipped === null) !== (this.adaptive === null)) {
      throw new StateDictError(`${where}: adaptive clipping is ${this.adaptive === null ? 'off' : 'on'} here but ${this.adaptive === null ? 'on' : 'off'} in the state dict`);
    }
    if ((extra.accountant === null) !== (this.accountant === undefined)) {
      throw new StateDictError(`${where}: ${this.accountant === undefined ? 'no accountant is attached but the state dict has one' : 'an accountant is attached but the state dict has none'}`);
    }
    if (this.random.mode === 'seeded') {
      // Validate on a copy: the live generator changes only in loadWrapperState.
      try {
        createRandomSource('seeded').setState(extra.rng_state as RngState);
      } catch (e) {
        throw new StateDictError(`${where}: extra.rng_state: ${(e as Error).message}`);
      }
    }
  }

  protected loadWrapperState(extra: Record<string, unknown>): void {
    this.noiseMultiplier = extra.noise_multiplier as number;
    this.maxGradNorm = Array.isArray(extra.max_grad_norm) ? [...(extra.max_grad_norm as number[])] : (extra.max_grad_norm as number);
    this.expectedBatchSize = extra.expected_batch_size as number;
    this.sampleRate = (extra.sample_rate as number | null) ?? undefined;
    this.dpSteps = extra.dp_steps as number;
    this.physicalPending = extra.physical_pending as number;
    this.logicalPending = extra.logical_pending as number;
    this.midLogical = extra.mid_logical === true;
    this.pendingSampleRate = (extra.pending_sample_rate as number | null) ?? undefined;
    this.realisedSinceStep = extra.realised_pending as number;
    if (this.adaptive !== null) this.adaptive.unclipped = extra.adaptive_unclipped as number;
    if (this.random.mode === 'seeded') this.random.setState(extra.rng_state as RngState);
    if (this.accountant !== undefined) this.accountant.loadStateDict(extra.accountant as never);
  }
}

function checkClip(where: string, value: number | readonly number[]): number | readonly number[] {
  if (Array.isArray(value)) {
    if (value.length === 0) throw new InvalidOptionError('maxGradNorm', value, 'a number > 0 or a non-empty array of numbers > 0', where);
    value.forEach((c, k) => checkPositive(where, `maxGradNorm[${k}]`, c));
    return value;
  }
  return checkPositive(where, 'maxGradNorm', value);
}
