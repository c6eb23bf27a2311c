import { type Optimizer, type OptimizerStateDict, checkInteger, checkPositive } from '@opt/core';
import { type FloatArray, InvalidOptionError, StateDictError } from '@opt/tensor';
import type { EstimateContext, LearnedOptimizerFactory, MetaGradientEstimator } from '../learnable.js';
import {
  type InnerProblem,
  type InnerProblemSampler,
  type ResolvedLossOptions,
  type UnrollLossOptions,
  resolveLossOptions,
  runSteps,
} from './inner.js';
import { type HorizonSpec, checkHorizon, metaRng, sampleHorizon } from './seeds.js';

/** Options of {@link PES}. */
export interface PESOptions extends UnrollLossOptions {
  /** The learned optimizer family. */
  factory: LearnedOptimizerFactory;
  /** Where each particle's inner problems come from. */
  sampler: InnerProblemSampler;
  /** Length of each inner run (episode): fixed or a range sampled log-uniformly per episode. */
  horizon: HorizonSpec;
  /** Inner steps per truncation (per {@link PES.estimate} call of a particle). Default 20. */
  truncation?: number;
  /** Perturbation scale σ (default 0.01). */
  sigma?: number;
  /**
   * Start each particle's first episode at a random step in `[0, horizon)`
   * (learned_optimization's `random_initial_iteration_offset`), so particles
   * reset at different meta-steps instead of all together. Default true.
   */
  randomInitialOffset?: boolean;
  /** The `totalSteps` hint given to the optimizer: the episode's horizon (default) or nothing. */
  passHorizon?: boolean;
}

/** One persistent particle: an inner problem unrolled twice (θ ± σε), with its accumulated perturbation. */
interface Particle {
  episode: number;
  problem: InnerProblem;
  /** Steps taken in this episode. */
  t: number;
  /** Step at which this episode ends. */
  end: number;
  horizon: number;
  l0: number;
  xi: Float64Array;
  plus: FloatArray[];
  minus: FloatArray[];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any learned optimizer
  optPlus: Optimizer<any, any>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any learned optimizer
  optMinus: Optimizer<any, any>;
}

/** The JSON form of one particle in a {@link PESState}: its episode position, accumulator, both members' parameters and optimizer states. */
export interface PESParticleState {
  episode: number;
  t: number;
  end: number;
  horizon: number;
  l0: number | null;
  xi: number[];
  plus: number[][];
  minus: number[][];
  optPlus: OptimizerStateDict;
  optMinus: OptimizerStateDict;
}

/** What {@link PES.stateDict} returns: every particle's inner state. */
export interface PESState {
  format: 'pes';
  seed: number | null;
  particles: Record<string, PESParticleState>;
}

/**
 * Persistent evolution strategies (Vicol, Metz, Sohl-Dickstein 2021): particles
 * train their inner problem in truncations of W steps; each truncation
 * perturbs θ by ±σε with a fresh ε, and the perturbations are ACCUMULATED
 * over the episode so the estimate accounts for the effect of earlier
 * truncations' parameters on the current state:
 *
 * ```
 * ξ ← ξ + ε,     ĝ = (L_W(θ + σε) − L_W(θ − σε)) / (2σ) · ξ
 * ```
 *
 * where `L_W` is the mean meta-loss term (log loss relative to the episode's
 * first loss, clipped) over the truncation's steps, each member continuing
 * from its own inner state. ξ is reset when the episode ends, and the
 * particle draws a new problem and horizon. Unlike truncated ES, the
 * estimate is unbiased for the gradient of the smoothed full-episode loss.
 *
 * Each call `estimate(θ, g, { index })` advances particle `index` by one
 * truncation, so a meta-trainer with `estimatesPerStep = N` keeps N particles.
 * Particles draw their problems from `(seed, index, episode)` and their ε from
 * `(seed, metaStep, index)`. {@link PES.stateDict} holds every particle's
 * parameters, optimizer states and accumulator, so a checkpointed run resumes
 * bit-identically. A non-finite loss gives the penalty and ends the episode.
 *
 * @example
 * ```ts
 * const pes = new PES({ factory, sampler, horizon: [100, 1000], truncation: 20, sigma: 0.01 });
 * const trainer = new MetaTrainer({ factory, estimator: pes, estimatesPerStep: 8, metaSteps: 200 });
 * ```
 */
export class PES implements MetaGradientEstimator {
  readonly name = 'pes';
  /** Steps per truncation. */
  readonly truncation: number;
  /** Perturbation scale σ. */
  readonly sigma: number;
  private readonly factory: LearnedOptimizerFactory;
  private readonly sampler: InnerProblemSampler;
  private readonly horizon: HorizonSpec;
  private readonly randomInitialOffset: boolean;
  private readonly passHorizon: boolean;
  private readonly loss_: ResolvedLossOptions;
  private readonly particles = new Map<number, Particle>();
  private seed: number | null = null;
  private readonly workPlus: Float64Array;
  private readonly workMinus: Float64Array;
  private readonly eps: Float64Array;

  constructor(options: PESOptions) {
    const where = 'PES';
    this.factory = options.factory;
    this.sampler = options.sampler;
    this.horizon = checkHorizon(where, 'horizon', options.horizon);
    this.truncation = checkInteger(where, 'truncation', options.truncation ?? 20, 1);
    this.sigma = checkPositive(where, 'sigma', options.sigma ?? 0.01);
    this.randomInitialOffset = options.randomInitialOffset ?? true;
    this.passHorizon = options.passHorizon ?? true;
    this.loss_ = resolveLossOptions(where, options);
    const n = this.factory.metaParamCount;
    this.workPlus = new Float64Array(n);
    this.workMinus = new Float64Array(n);
    this.eps = new Float64Array(n);
  }

  /** Number of particles alive (created by estimate calls or restored). */
  get particleCount(): number {
    return this.particles.size;
  }

  private newParticle(index: number, episode: number, seed: number): Particle {
    const rng = metaRng(seed, 0x7e5, index, episode);
    const problem = this.sampler(rng);
    const horizon = sampleHorizon(rng, this.horizon);
    const offset = episode === 0 && this.randomInitialOffset ? Math.floor(rng.uniform() * horizon) : 0;
    problem.reset();
    const opts = this.passHorizon ? { totalSteps: horizon } : {};
    const particle: Particle = {
      episode,
      problem,
      t: 0,
      end: horizon - offset,
      horizon,
      l0: NaN,
      xi: new Float64Array(this.factory.metaParamCount),
      plus: problem.parameters.map((p) => p.data.slice()),
      minus: problem.parameters.map((p) => p.data.slice()),
      optPlus: this.factory.create(problem.parameters, this.workPlus, opts),
      optMinus: this.factory.create(problem.parameters, this.workMinus, opts),
    };
    return particle;
  }

  /** Run one member of a particle for `steps` from its saved state, saving it back. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any learned optimizer
  private runMember(particle: Particle, saved: FloatArray[], optimizer: Optimizer<any, any>, steps: number, last: boolean): number {
    const { problem } = particle;
    problem.reset(particle.t);
    problem.parameters.forEach((p, k) => p.data.set(saved[k]!));
    const scale = { l0: particle.l0 };
    const sum = runSteps(problem, optimizer, steps, scale, this.loss_, last);
    if (Number.isNaN(particle.l0)) particle.l0 = scale.l0;
    problem.parameters.forEach((p, k) => saved[k]!.set(p.data));
    return Number.isNaN(sum) ? this.loss_.nanPenalty : sum / (steps + (last ? 1 : 0));
  }

  estimate(metaParams: Float64Array, grad: Float64Array, context: EstimateContext): number {
    const n = this.factory.metaParamCount;
    if (metaParams.length !== n || grad.length !== n) {
      throw new InvalidOptionError('metaParams', metaParams.length, `buffers of ${n} elements`, 'PES.estimate');
    }
    if (this.seed === null) this.seed = context.seed;
    else if (this.seed !== context.seed) {
      throw new InvalidOptionError('seed', context.seed, `the seed the particles were created with (${this.seed})`, 'PES.estimate');
    }
    let particle = this.particles.get(context.index);
    if (particle === undefined) {
      particle = this.newParticle(context.index, 0, context.seed);
      this.particles.set(context.index, particle);
    }
    const rng = metaRng(context.seed, context.metaStep, context.index);
    const eps = rng.fillNormal(this.eps);
    const s = this.sigma;
    for (let j = 0; j < n; j++) {
      this.workPlus[j] = metaParams[j]! + s * eps[j]!;
      this.workMinus[j] = metaParams[j]! - s * eps[j]!;
      particle.xi[j] = particle.xi[j]! + eps[j]!;
    }
    const steps = Math.min(this.truncation, particle.end - particle.t);
    const last = particle.t + steps >= particle.end;
    // The l0 both members normalise by is the episode's first loss; the plus member sets it.
    const plus = this.runMember(particle, particle.plus, particle.optPlus, steps, last);
    const minus = this.runMember(particle, particle.minus, particle.optMinus, steps, last);
    const c = (plus - minus) / (2 * s);
    for (let j = 0; j < n; j++) grad[j] = c * particle.xi[j]!;
    particle.t += steps;
    const failed = plus === this.loss_.nanPenalty || minus === this.loss_.nanPenalty;
    if (last || failed) this.particles.set(context.index, this.newParticle(context.index, particle.episode + 1, context.seed));
    return 0.5 * (plus + minus);
  }

  stateDict(): PESState {
    const particles: Record<string, PESParticleState> = {};
    for (const [index, p] of [...this.particles.entries()].sort((a, b) => a[0] - b[0])) {
      particles[String(index)] = {
        episode: p.episode,
        t: p.t,
        end: p.end,
        horizon: p.horizon,
        l0: Number.isNaN(p.l0) ? null : p.l0,
        xi: Array.from(p.xi),
        plus: p.plus.map((a) => Array.from(a)),
        minus: p.minus.map((a) => Array.from(a)),
        optPlus: p.optPlus.stateDict(),
        optMinus: p.optMinus.stateDict(),
      };
    }
    return { format: 'pes', seed: this.seed, particles };
  }

  loadStateDict(state: unknown): void {
    const s = state as Partial<PESState> | null;
    if (s === null || typeof s !== 'object' || s.format !== 'pes' || typeof s.particles !== 'object' || s.particles === null) {
      throw new StateDictError('PES.loadStateDict: expected the object PES.stateDict() returned');
    }
    this.particles.clear();
    this.seed = s.seed ?? null;
    for (const [key, json] of Object.entries(s.particles)) {
      if (this.seed === null) throw new StateDictError('PES.loadStateDict: particles without a seed');
      const index = Number(key);
      const p = this.newParticle(index, json.episode, this.seed);
      if (json.xi.length !== p.xi.length || json.plus.length !== p.plus.length) {
        throw new StateDictError(`PES.loadStateDict: particle ${key} does not match this factory and sampler`);
      }
      p.t = json.t;
      p.end = json.end;
      p.horizon = json.horizon;
      p.l0 = json.l0 ?? NaN;
      p.xi.set(json.xi);
      json.plus.forEach((a, k) => p.plus[k]!.set(a));
      json.minus.forEach((a, k) => p.minus[k]!.set(a));
      p.optPlus.loadStateDict(json.optPlus);
      p.optMinus.loadStateDict(json.optMinus);
      this.particles.set(index, p);
    }
  }
}
