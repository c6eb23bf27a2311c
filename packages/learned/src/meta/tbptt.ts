import { checkInteger, checkOneOf, checkPositive } from '@opt/core';
import { InvalidOptionError, Rng, StateDictError } from '@opt/tensor';
import type { EstimateContext, MetaGradientEstimator } from '../learnable.js';
import {
  LSTM_HIDDEN,
  type LSTMLayout,
  type LSTMMode,
  logAndSign,
  lstmInputs,
  lstmLayerBackward,
  lstmLayerForward,
  lstmLayout,
  lstmOutput,
} from '../optimizers/lstm.js';

/**
 * An inner problem over a flat float64 parameter vector, as truncated BPTT
 * needs it: a start point and an exact loss-and-gradient.
 */
export interface TbpttProblem {
  /** A readable identifier (family, sizes, seed). */
  readonly name: string;
  /** Number of scalar parameters. */
  readonly size: number;
  /**
   * Write the starting point drawn from `seed` into `theta` (length {@link TbpttProblem.size}).
   * Different seeds give different starts of the same problem (tuning versus scoring runs).
   */
  init(theta: Float64Array, seed: number): void;
  /** The loss at `theta`; the gradient is written into `grad`. */
  lossAndGrad(theta: Float64Array, grad: Float64Array): number;
}

/** A seeded distribution of {@link TbpttProblem}s. */
export interface TbpttProblemFamily {
  /** The family's name. */
  readonly name: string;
  /** The problem of `seed` (deterministic). */
  sample(seed: number): TbpttProblem;
}

/** A 32-bit seed mixed from integers (Murmur3's finaliser over each part), for per-(meta-step, index, particle) streams. */
export function tbpttSeed(a: number, b: number, c: number, d: number): number {
  let h = 0x2545f491;
  h = mix(h, a);
  h = mix(h, b);
  h = mix(h, c);
  h = mix(h, d);
  return h >>> 0;
}

function mix(h: number, v: number): number {
  let x = (h ^ Math.imul((v | 0) + 0x7f4a7c15, 0x9e3779b1)) | 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x;
}

/** Options of {@link L2LQuadraticFamily}. */
export interface L2LQuadraticFamilyOptions {
  /** Problems per task (averaged). Default 128, as in the paper's code. */
  batch?: number;
  /** Dimension of each problem. Default 10. */
  dimension?: number;
  /** Standard deviation of the N(0, s²) start. Default 0.01, as in the paper's code. */
  startScale?: number;
}

/**
 * The quadratic family of Andrychowicz et al. 2016: a task is a batch of B
 * independent problems `f_b(θ_b) = ‖W_b θ_b − y_b‖²` with `W_b` (d×d) and `y_b`
 * drawn N(0, 1), and the loss is their mean:
 *
 * ```
 * f(θ) = (1/B) Σ_b ‖W_b θ_b − y_b‖²,    ∇_{θ_b} f = (2/B) W_bᵀ(W_b θ_b − y_b)
 * ```
 *
 * @example
 * ```ts
 * const family = new L2LQuadraticFamily({ batch: 16 });
 * const problem = family.sample(3);
 * const theta = new Float64Array(problem.size);
 * problem.init(theta, 0);
 * problem.lossAndGrad(theta, new Float64Array(problem.size));
 * ```
 */
export class L2LQuadraticFamily implements TbpttProblemFamily {
  readonly name = 'l2l-quadratic';
  private readonly batch: number;
  private readonly dimension: number;
  private readonly startScale: number;

  constructor(options: L2LQuadraticFamilyOptions = {}) {
    const where = 'L2LQuadraticFamily';
    this.batch = checkInteger(where, 'batch', options.batch ?? 128, 1);
    this.dimension = checkInteger(where, 'dimension', options.dimension ?? 10, 1);
    this.startScale = checkPositive(where, 'startScale', options.startScale ?? 0.01);
  }

  /** The task of `seed`. */
  sample(seed: number): TbpttProblem {
    const B = this.batch;
    const d = this.dimension;
    const rng = new Rng(seed);
    const w = rng.fillNormal(new Float64Array(B * d * d));
    const y = rng.fillNormal(new Float64Array(B * d));
    const residual = new Float64Array(d);
    const startScale = this.startScale;
    return {
      name: `${this.name}/B${B}/d${d}/seed${seed}`,
      size: B * d,
      init(theta: Float64Array, initSeed: number): void {
        new Rng(initSeed).fillNormal(theta, 0, startScale);
      },
      lossAndGrad(theta: Float64Array, grad: Float64Array): number {
        let loss = 0;
        const scale = 2 / B;
        for (let b = 0; b < B; b++) {
          const wo = b * d * d;
          const to = b * d;
          for (let r = 0; r < d; r++) {
            let s = -y[to + r]!;
            for (let c = 0; c < d; c++) s += w[wo + r * d + c]! * theta[to + c]!;
            residual[r] = s;
            loss += s * s;
          }
          for (let c = 0; c < d; c++) {
            let s = 0;
            for (let r = 0; r < d; r++) s += w[wo + r * d + c]! * residual[r]!;
            grad[to + c] = scale * s;
          }
        }
        return loss / B;
      },
    };
  }
}

/** Options of {@link TeacherStudentMLPFamily}. */
export interface TeacherStudentMLPFamilyOptions {
  /** Input features. Default 8. */
  inputs?: number;
  /** Student hidden width. Default 20 (the paper's MNIST network width). */
  hidden?: number;
  /** Student hidden activation. Default `'sigmoid'` (the paper's). */
  activation?: 'sigmoid' | 'tanh' | 'relu';
  /** Training examples (full batch). Default 64. */
  examples?: number;
}

/**
 * Tiny teacher-student regression: inputs x ~ N(0, I), targets from a random
 * one-hidden-layer tanh teacher (16 units) plus noise 0.05, and a student
 * `ŷ = w₂·act(W₁x + b₁) + b₂` trained on the full-batch mean squared error.
 * Parameters (flat): `W₁` `[hidden × inputs]`, `b₁`, `w₂` `[hidden]`, `b₂`; the
 * start is PyTorch's default `U(±1/√fan_in)`.
 */
export class TeacherStudentMLPFamily implements TbpttProblemFamily {
  readonly name = 'teacher-student-mlp';
  private readonly inputs: number;
  private readonly hidden: number;
  private readonly activation: 'sigmoid' | 'tanh' | 'relu';
  private readonly examples: number;

  constructor(options: TeacherStudentMLPFamilyOptions = {}) {
    const where = 'TeacherStudentMLPFamily';
    this.inputs = checkInteger(where, 'inputs', options.inputs ?? 8, 1);
    this.hidden = checkInteger(where, 'hidden', options.hidden ?? 20, 1);
    this.activation = checkOneOf(where, 'activation', options.activation ?? 'sigmoid', ['sigmoid', 'tanh', 'relu'] as const);
    this.examples = checkInteger(where, 'examples', options.examples ?? 64, 1);
  }

  /** The task of `seed`. */
  sample(seed: number): TbpttProblem {
    const d = this.inputs;
    const h = this.hidden;
    const n = this.examples;
    const act = this.activation;
    const rng = new Rng(seed);
    const x = rng.fillNormal(new Float64Array(n * d));
    const teacherHidden = 16;
    const tw1 = rng.fillNormal(new Float64Array(teacherHidden * d), 0, 1 / Math.sqrt(d));
    const tw2 = rng.fillNormal(new Float64Array(teacherHidden), 0, 1 / Math.sqrt(teacherHidden));
    const y = new Float64Array(n);
    for (let e = 0; e < n; e++) {
      let out = 0;
      for (let u = 0; u < teacherHidden; u++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += tw1[u * d + k]! * x[e * d + k]!;
        out += tw2[u]! * Math.tanh(s);
      }
      y[e] = out + 0.05 * rng.normal();
    }
    const size = h * d + h + h + 1;
    const offB1 = h * d;
    const offW2 = offB1 + h;
    const offB2 = offW2 + h;
    const a = new Float64Array(h);
    const da = new Float64Array(h);
    return {
      name: `${this.name}/d${d}/h${h}/${act}/seed${seed}`,
      size,
      init(theta: Float64Array, initSeed: number): void {
        const r = new Rng(initSeed);
        const b1 = 1 / Math.sqrt(d);
        const b2 = 1 / Math.sqrt(h);
        r.fillUniform(theta.subarray(0, offW2), -b1, b1);
        r.fillUniform(theta.subarray(offW2, size), -b2, b2);
      },
      lossAndGrad(theta: Float64Array, grad: Float64Array): number {
        grad.fill(0);
        let loss = 0;
        for (let e = 0; e < n; e++) {
          let out = theta[offB2]!;
          for (let u = 0; u < h; u++) {
            let s = theta[offB1 + u]!;
            for (let k = 0; k < d; k++) s += theta[u * d + k]! * x[e * d + k]!;
            let v: number;
            let dv: number;
            if (act === 'sigmoid') {
              v = 1 / (1 + Math.exp(-s));
              dv = v * (1 - v);
            } else if (act === 'tanh') {
              v = Math.tanh(s);
              dv = 1 - v * v;
            } else {
              v = s > 0 ? s : 0;
              dv = s > 0 ? 1 : 0;
            }
            a[u] = v;
            da[u] = dv;
            out += theta[offW2 + u]! * v;
          }
          const r = out - y[e]!;
          loss += r * r;
          const dOut = (2 * r) / n;
          grad[offB2] += dOut;
          for (let u = 0; u < h; u++) {
            grad[offW2 + u] += dOut * a[u]!;
            const ds = dOut * theta[offW2 + u]! * da[u]!;
            grad[offB1 + u] += ds;
            for (let k = 0; k < d; k++) grad[u * d + k] += ds * x[e * d + k]!;
          }
        }
        return loss / n;
      },
    };
  }
}

/** A family that draws each task from one of several families (task seed picks the family). */
export class MixtureFamily implements TbpttProblemFamily {
  readonly name: string;
  /**
   * @param families - the families to mix, chosen uniformly per seed.
   */
  constructor(private readonly families: readonly TbpttProblemFamily[]) {
    if (families.length === 0) throw new InvalidOptionError('families', families, 'a non-empty list', 'MixtureFamily');
    this.name = `mix(${families.map((f) => f.name).join(',')})`;
  }

  /** The task of `seed`, from family `seed mod count`. */
  sample(seed: number): TbpttProblem {
    const k = Math.abs(Math.trunc(seed)) % this.families.length;
    return this.families[k]!.sample(seed);
  }
}

/** Meta-objective of one truncation: the mean loss (the paper's `w_t = 1` sum, divided by T) or the mean log-loss. */
export type TbpttMetaLoss = 'mean' | 'log';

/** Options of {@link TruncatedBPTT}. */
export interface TruncatedBPTTOptions {
  /** The inner problems. */
  family: TbpttProblemFamily;
  /** LSTM output mode. Default `'pure'`. */
  mode?: LSTMMode;
  /** LSTM hidden width. Default 20. */
  hidden?: number;
  /** Pure-mode output scale. Default 0.01. */
  scale?: number;
  /** Adam learning rate of the correction mode. Default 1e-3. */
  lr?: number;
  /** Adam betas of the correction mode. Default [0.9, 0.999]. */
  betas?: [number, number];
  /** Adam eps of the correction mode. Default 1e-8. */
  eps?: number;
  /** LogAndSign k. Default 5. */
  k?: number;
  /** Steps per truncation (the BPTT window). Default 20. */
  unroll?: number;
  /** Steps of an inner run before its problem is replaced. Default 100. */
  horizon?: number;
  /** Independent inner runs averaged per estimate. Default 1. */
  particles?: number;
  /** Meta-objective. Default `'log'`. */
  metaLoss?: TbpttMetaLoss;
  /** An inner run whose loss exceeds this multiple of its initial loss (or is not finite) is abandoned. Default 1e3. */
  divergenceFactor?: number;
}

/** One persistent inner run. */
interface Particle {
  problemSeed: number;
  problem: TbpttProblem | null;
  step: number;
  initialLoss: number;
  theta: Float64Array;
  grad: Float64Array;
  loss: number;
  h1: Float64Array;
  c1: Float64Array;
  h2: Float64Array;
  c2: Float64Array;
  m: Float64Array;
  v: Float64Array;
}

/** Per-truncation buffers, sized for the largest problem seen. */
interface Tape {
  n: number;
  grads: Float64Array; // (T+1) × n
  losses: Float64Array; // T+1
  x: Float64Array; // T × n × I
  gates1: Float64Array; // T × n × 4H
  gates2: Float64Array;
  h1: Float64Array; // (T+1) × n × H
  c1: Float64Array;
  h2: Float64Array;
  c2: Float64Array;
  adjoint: Float64Array; // n
  dh1: Float64Array; // n × H
  dc1: Float64Array;
  dh2: Float64Array;
  dc2: Float64Array;
  dIn: Float64Array; // H
  dhTmp: Float64Array; // H
  dz: Float64Array; // 4H
}

/**
 * First-order truncated backpropagation through time for the
 * {@link LSTMLearnedOptimizer}, as in the paper's code (`second_derivatives=False`):
 * the optimizee's gradients are inputs treated as constants (∂g/∂θ ignored), so
 * with `θ_{t+1} = θ_t + Δθ_t(φ)` and the truncation's meta-loss
 * `L = (1/T) Σ_{s=1..T} ℓ(f(θ_s))` (ℓ = identity or log):
 *
 * ```
 * ∂L/∂Δθ_t = a_{t+1},   a_s = Σ_{r=s..T} ℓ'(f_r) g_r / T      (suffix sums of future gradients)
 * ∂L/∂φ    = Σ_t backprop through the LSTM of (∂L/∂Δθ_t · ∂Δθ_t/∂y_t), over the T steps of the window
 * ```
 *
 * Each particle is a persistent inner run: an estimate advances it by one window
 * of `unroll` steps (state carried across windows, gradient truncated at the
 * window start) and starts a new problem after `horizon` steps. A run that
 * diverges contributes no gradient and is restarted; its window counts as
 * meta-loss 20 (the `clip_nan_loss_to_value` of learned_optimization).
 *
 * @example
 * ```ts
 * const estimator = new TruncatedBPTT({ family: new L2LQuadraticFamily({ batch: 8 }) });
 * const factory = lstmLearnedOptimizerFactory();
 * const meta = factory.initialMetaParams();
 * const grad = new Float64Array(meta.length);
 * const loss = estimator.estimate(meta, grad, { metaStep: 0, index: 0, seed: 1 });
 * ```
 */
export class TruncatedBPTT implements MetaGradientEstimator {
  readonly name = 'tbptt';
  /** The LSTM meta-parameter layout this estimator differentiates. */
  readonly layout: LSTMLayout;
  private readonly family: TbpttProblemFamily;
  private readonly mode: LSTMMode;
  private readonly scale: number;
  private readonly lr: number;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly k: number;
  private readonly unroll: number;
  private readonly horizon: number;
  private readonly metaLoss: TbpttMetaLoss;
  private readonly divergenceFactor: number;
  private readonly particles: Particle[];
  private tape: Tape | null = null;
  private readonly gradScratch: Float64Array;

  constructor(options: TruncatedBPTTOptions) {
    const where = 'TruncatedBPTT';
    this.family = options.family;
    this.mode = checkOneOf(where, 'mode', options.mode ?? 'pure', ['pure', 'adam-correction'] as const);
    this.layout = lstmLayout(lstmInputs(this.mode), options.hidden ?? LSTM_HIDDEN);
    this.scale = checkPositive(where, 'scale', options.scale ?? 0.01);
    this.lr = checkPositive(where, 'lr', options.lr ?? 1e-3);
    const betas = options.betas ?? [0.9, 0.999];
    this.beta1 = betas[0];
    this.beta2 = betas[1];
    this.eps = checkPositive(where, 'eps', options.eps ?? 1e-8);
    this.k = checkPositive(where, 'k', options.k ?? 5);
    this.unroll = checkInteger(where, 'unroll', options.unroll ?? 20, 1);
    this.horizon = checkInteger(where, 'horizon', options.horizon ?? 100, 1);
    const particles = checkInteger(where, 'particles', options.particles ?? 1, 1);
    this.metaLoss = checkOneOf(where, 'metaLoss', options.metaLoss ?? 'log', ['mean', 'log'] as const);
    this.divergenceFactor = checkPositive(where, 'divergenceFactor', options.divergenceFactor ?? 1e3);
    this.particles = Array.from({ length: particles }, () => emptyParticle());
    this.gradScratch = new Float64Array(this.layout.count);
  }

  /**
   * Advance every particle by one window and write the mean first-order
   * meta-gradient into `grad`.
   *
   * @returns the mean meta-loss of the windows.
   */
  estimate(metaParams: Float64Array, grad: Float64Array, context: EstimateContext): number {
    if (metaParams.length !== this.layout.count || grad.length !== this.layout.count) {
      throw new InvalidOptionError('metaParams', metaParams.length, `${this.layout.count} meta-parameters (and as many gradient slots)`, 'TruncatedBPTT.estimate');
    }
    grad.fill(0);
    let total = 0;
    for (let p = 0; p < this.particles.length; p++) {
      const particle = this.particles[p]!;
      if (particle.problem === null || particle.step >= this.horizon) {
        this.restart(particle, tbpttSeed(context.seed, context.metaStep, context.index, p));
      }
      const scratch = this.gradScratch;
      scratch.fill(0);
      const loss = this.window(particle, metaParams, scratch);
      total += loss;
      for (let j = 0; j < grad.length; j++) grad[j] += scratch[j]! / this.particles.length;
    }
    return total / this.particles.length;
  }

  /** Inner-run positions, problems and recurrent states, for a bit-identical resume. */
  stateDict(): unknown {
    return {
      particles: this.particles.map((q) => ({
        problemSeed: q.problemSeed,
        started: q.problem !== null,
        step: q.step,
        initialLoss: q.initialLoss,
        loss: q.loss,
        theta: Array.from(q.theta),
        grad: Array.from(q.grad),
        h1: Array.from(q.h1),
        c1: Array.from(q.c1),
        h2: Array.from(q.h2),
        c2: Array.from(q.c2),
        m: Array.from(q.m),
        v: Array.from(q.v),
      })),
    };
  }

  /** Restore what {@link TruncatedBPTT.stateDict} returned. */
  loadStateDict(state: unknown): void {
    const where = 'TruncatedBPTT.loadStateDict';
    const list = (state as { particles?: unknown } | null)?.particles;
    if (!Array.isArray(list) || list.length !== this.particles.length) {
      throw new StateDictError(`${where}: expected ${this.particles.length} particles`);
    }
    const restored = list.map((raw: unknown, i: number) => {
      const s = raw as Record<string, unknown>;
      if (typeof s !== 'object' || s === null || typeof s.problemSeed !== 'number' || typeof s.step !== 'number') {
        throw new StateDictError(`${where}: particle ${i} is malformed`);
      }
      const q = emptyParticle();
      q.problemSeed = s.problemSeed;
      q.step = s.step;
      q.initialLoss = Number(s.initialLoss);
      q.loss = Number(s.loss);
      if (s.started === true) {
        q.problem = this.family.sample(q.problemSeed);
        const n = q.problem.size;
        const H = this.layout.hidden;
        q.theta = arrayOf(s.theta, n, `${where}: particle ${i}.theta`);
        q.grad = arrayOf(s.grad, n, `${where}: particle ${i}.grad`);
        q.h1 = arrayOf(s.h1, n * H, `${where}: particle ${i}.h1`);
        q.c1 = arrayOf(s.c1, n * H, `${where}: particle ${i}.c1`);
        q.h2 = arrayOf(s.h2, n * H, `${where}: particle ${i}.h2`);
        q.c2 = arrayOf(s.c2, n * H, `${where}: particle ${i}.c2`);
        q.m = arrayOf(s.m, n, `${where}: particle ${i}.m`);
        q.v = arrayOf(s.v, n, `${where}: particle ${i}.v`);
      }
      return q;
    });
    for (let i = 0; i < restored.length; i++) this.particles[i] = restored[i]!;
  }

  private restart(q: Particle, seed: number): void {
    const problem = this.family.sample(seed);
    const n = problem.size;
    const H = this.layout.hidden;
    q.problemSeed = seed;
    q.problem = problem;
    q.step = 0;
    q.theta = new Float64Array(n);
    q.grad = new Float64Array(n);
    problem.init(q.theta, tbpttSeed(seed, 1, 0, 0));
    q.loss = problem.lossAndGrad(q.theta, q.grad);
    q.initialLoss = q.loss;
    q.h1 = new Float64Array(n * H);
    q.c1 = new Float64Array(n * H);
    q.h2 = new Float64Array(n * H);
    q.c2 = new Float64Array(n * H);
    q.m = new Float64Array(n);
    q.v = new Float64Array(n);
  }

  private tapeFor(n: number): Tape {
    const T = this.unroll;
    const H = this.layout.hidden;
    const I = this.layout.inputs;
    if (this.tape !== null && this.tape.n >= n) return this.tape;
    this.tape = {
      n,
      grads: new Float64Array((T + 1) * n),
      losses: new Float64Array(T + 1),
      x: new Float64Array(T * n * I),
      gates1: new Float64Array(T * n * 4 * H),
      gates2: new Float64Array(T * n * 4 * H),
      h1: new Float64Array((T + 1) * n * H),
      c1: new Float64Array((T + 1) * n * H),
      h2: new Float64Array((T + 1) * n * H),
      c2: new Float64Array((T + 1) * n * H),
      adjoint: new Float64Array(n),
      dh1: new Float64Array(n * H),
      dc1: new Float64Array(n * H),
      dh2: new Float64Array(n * H),
      dc2: new Float64Array(n * H),
      dIn: new Float64Array(H),
      dhTmp: new Float64Array(H),
      dz: new Float64Array(4 * H),
    };
    return this.tape;
  }

  /** One window: forward T steps recording the tape, then the first-order backward. Returns the window's meta-loss. */
  private window(q: Particle, meta: Float64Array, grad: Float64Array): number {
    const problem = q.problem!;
    const L = this.layout;
    const H = L.hidden;
    const I = L.inputs;
    const G = 4 * H;
    const n = problem.size;
    const T = this.unroll;
    const tape = this.tapeFor(n);
    const nH = n * H;
    const expK = Math.exp(this.k);
    const adam = this.mode === 'adam-correction';
    tape.h1.set(q.h1);
    tape.c1.set(q.c1);
    tape.h2.set(q.h2);
    tape.c2.set(q.c2);
    tape.grads.set(q.grad);
    tape.losses[0] = q.loss;
    const limit = this.divergenceFactor * Math.max(q.initialLoss, 1e-30);
    const outScale = adam ? this.lr : this.scale;
    let steps = 0;
    let diverged = false;
    for (let t = 0; t < T; t++) {
      const gOff = t * n;
      const step = q.step + t + 1;
      const stepSize = this.lr / (1 - this.beta1 ** step);
      const sqrtBc2 = Math.sqrt(1 - this.beta2 ** step);
      for (let i = 0; i < n; i++) {
        const gi = tape.grads[gOff + i]!;
        const xOff = (t * n + i) * I;
        logAndSign(gi, this.k, expK, tape.x, xOff);
        let adamStep = 0;
        if (adam) {
          q.m[i] = this.beta1 * q.m[i]! + (1 - this.beta1) * gi;
          q.v[i] = this.beta2 * q.v[i]! + (1 - this.beta2) * (gi * gi);
          adamStep = (stepSize * q.m[i]!) / (Math.sqrt(q.v[i]!) / sqrtBc2 + this.eps);
          tape.x[xOff + 2] = adamStep / this.lr;
        }
        const prev = t * nH + i * H;
        const next = prev + nH;
        const gateOff = (t * n + i) * G;
        lstmLayerForward(meta, L.w1, L.b1, I, H, tape.x, xOff, tape.h1, prev, tape.c1, prev, tape.gates1, gateOff, tape.h1, next, tape.c1, next);
        lstmLayerForward(meta, L.w2, L.b2, H, H, tape.h1, next, tape.h2, prev, tape.c2, prev, tape.gates2, gateOff, tape.h2, next, tape.c2, next);
        const y = lstmOutput(meta, L, tape.h2, next);
        q.theta[i] = adam ? q.theta[i]! - (adamStep - outScale * y) : q.theta[i]! + outScale * y;
      }
      const gNext = tape.grads.subarray((t + 1) * n, (t + 2) * n);
      const loss = problem.lossAndGrad(q.theta, gNext);
      tape.losses[t + 1] = loss;
      steps = t + 1;
      if (!Number.isFinite(loss) || loss > limit || !allFinite(gNext)) {
        diverged = true;
        break;
      }
    }
    q.step += steps;
    if (diverged) {
      // Abandon the run: the next estimate starts a new problem.
      q.step = this.horizon;
      return 20;
    }
    // Carry the state into the next window (the gradient is truncated here).
    q.h1.set(tape.h1.subarray(T * nH, (T + 1) * nH));
    q.c1.set(tape.c1.subarray(T * nH, (T + 1) * nH));
    q.h2.set(tape.h2.subarray(T * nH, (T + 1) * nH));
    q.c2.set(tape.c2.subarray(T * nH, (T + 1) * nH));
    q.grad.set(tape.grads.subarray(T * n, (T + 1) * n));
    q.loss = tape.losses[T]!;

    let metaLoss = 0;
    const logLoss = this.metaLoss === 'log';
    for (let s = 1; s <= T; s++) {
      const f = tape.losses[s]!;
      metaLoss += (logLoss ? Math.log(f + 1e-30) : f) / T;
    }
    const a = tape.adjoint;
    a.fill(0, 0, n);
    tape.dh1.fill(0, 0, nH);
    tape.dc1.fill(0, 0, nH);
    tape.dh2.fill(0, 0, nH);
    tape.dc2.fill(0, 0, nH);
    const dIn = tape.dIn;
    const dhTmp = tape.dhTmp;
    const dz = tape.dz;
    for (let t = T - 1; t >= 0; t--) {
      const f = tape.losses[t + 1]!;
      const w = (logLoss ? 1 / (f + 1e-30) : 1) / T;
      const gOff = (t + 1) * n;
      for (let i = 0; i < n; i++) a[i] += w * tape.grads[gOff + i]!;
      for (let i = 0; i < n; i++) {
        const dy = a[i]! * outScale;
        const prev = t * nH + i * H;
        const next = prev + nH;
        const cOff = i * H;
        const gateOff = (t * n + i) * G;
        const xOff = (t * n + i) * I;
        // Output layer.
        grad[L.bo] += dy;
        for (let j = 0; j < H; j++) {
          grad[L.wo + j] += dy * tape.h2[next + j]!;
          tape.dh2[cOff + j] += dy * meta[L.wo + j]!;
        }
        lstmLayerBackward(
          meta, L.w2, L.b2, H, H, tape.h1, next, tape.h2, prev, tape.c2, prev, tape.gates2, gateOff, tape.c2, next,
          tape.dh2, cOff, tape.dc2, cOff, grad, dIn, 0, dhTmp, 0, dz,
        );
        for (let j = 0; j < H; j++) {
          tape.dh2[cOff + j] = dhTmp[j]!;
          tape.dh1[cOff + j] += dIn[j]!;
        }
        lstmLayerBackward(
          meta, L.w1, L.b1, I, H, tape.x, xOff, tape.h1, prev, tape.c1, prev, tape.gates1, gateOff, tape.c1, next,
          tape.dh1, cOff, tape.dc1, cOff, grad, null, 0, dhTmp, 0, dz,
        );
        for (let j = 0; j < H; j++) tape.dh1[cOff + j] = dhTmp[j]!;
      }
    }
    return metaLoss;
  }
}

function allFinite(a: Float64Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}

function emptyParticle(): Particle {
  const none = new Float64Array(0);
  return { problemSeed: 0, problem: null, step: 0, initialLoss: 0, loss: 0, theta: none, grad: none, h1: none, c1: none, h2: none, c2: none, m: none, v: none };
}

function arrayOf(raw: unknown, length: number, where: string): Float64Array {
  if (!Array.isArray(raw) || raw.length !== length || !raw.every((x) => typeof x === 'number')) {
    throw new StateDictError(`${where}: expected ${length} numbers`);
  }
  return Float64Array.from(raw as number[]);
}

/** Options of {@link TbpttTrainer}. */
export interface TbpttTrainerOptions {
  /** The estimator. */
  estimator: TruncatedBPTT;
  /** The meta-parameters to train, in place. */
  metaParams: Float64Array;
  /** Meta-Adam learning rate. Default 1e-3 (the paper's). */
  lr?: number;
  /** Meta-Adam betas. Default [0.9, 0.999]. */
  betas?: [number, number];
  /** Clip the meta-gradient to this global L2 norm. Default 1. */
  clipNorm?: number;
  /** Base seed of the estimates. Default 0. */
  seed?: number;
}

/** One meta-step's record. */
export interface TbpttStepRecord {
  /** Meta-step index (0-based). */
  metaStep: number;
  /** Mean meta-loss of the window. */
  metaLoss: number;
  /** Meta-gradient norm before clipping. */
  gradNorm: number;
}

/**
 * Meta-training loop for {@link TruncatedBPTT}: Adam on the meta-parameters
 * with global-norm clipping of the meta-gradient,
 *
 * ```
 * ĝ = g · min(1, clip/‖g‖);   m ← β₁m + (1−β₁)ĝ;   v ← β₂v + (1−β₂)ĝ²;   φ ← φ − lr·m̂/(√v̂ + 1e−8)
 * ```
 *
 * Its whole state (meta-parameters, Adam moments, step, estimator state) is
 * JSON data, and a resumed run continues bit-identically.
 *
 * @example
 * ```ts
 * const factory = lstmLearnedOptimizerFactory();
 * const meta = factory.initialMetaParams();
 * const trainer = new TbpttTrainer({ estimator: new TruncatedBPTT({ family: new L2LQuadraticFamily({ batch: 4 }) }), metaParams: meta });
 * for (let i = 0; i < 10; i++) trainer.step();
 * ```
 */
export class TbpttTrainer {
  /** The meta-parameters (trained in place). */
  readonly metaParams: Float64Array;
  /** The estimator. */
  readonly estimator: TruncatedBPTT;
  /** Meta-steps done. */
  metaStep = 0;
  private readonly lr: number;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly clipNorm: number;
  private readonly seed: number;
  private m: Float64Array;
  private v: Float64Array;
  private readonly grad: Float64Array;

  constructor(options: TbpttTrainerOptions) {
    const where = 'TbpttTrainer';
    this.estimator = options.estimator;
    this.metaParams = options.metaParams;
    if (this.metaParams.length !== this.estimator.layout.count) {
      throw new InvalidOptionError('metaParams', this.metaParams.length, `${this.estimator.layout.count} values`, where);
    }
    this.lr = checkPositive(where, 'lr', options.lr ?? 1e-3);
    const betas = options.betas ?? [0.9, 0.999];
    this.beta1 = betas[0];
    this.beta2 = betas[1];
    this.clipNorm = checkPositive(where, 'clipNorm', options.clipNorm ?? 1);
    this.seed = options.seed ?? 0;
    this.m = new Float64Array(this.metaParams.length);
    this.v = new Float64Array(this.metaParams.length);
    this.grad = new Float64Array(this.metaParams.length);
  }

  /** One meta-step: estimate, clip, Adam update. */
  step(): TbpttStepRecord {
    const g = this.grad;
    const metaStep = this.metaStep;
    const metaLoss = this.estimator.estimate(this.metaParams, g, { metaStep, index: 0, seed: this.seed });
    let sq = 0;
    for (let j = 0; j < g.length; j++) sq += g[j]! * g[j]!;
    const norm = Math.sqrt(sq);
    const factor = norm > this.clipNorm ? this.clipNorm / norm : 1;
    const t = ++this.metaStep;
    const bc1 = 1 - this.beta1 ** t;
    const bc2 = 1 - this.beta2 ** t;
    const phi = this.metaParams;
    for (let j = 0; j < g.length; j++) {
      const gj = g[j]! * factor;
      this.m[j] = this.beta1 * this.m[j]! + (1 - this.beta1) * gj;
      this.v[j] = this.beta2 * this.v[j]! + (1 - this.beta2) * gj * gj;
      phi[j] = phi[j]! - (this.lr * (this.m[j]! / bc1)) / (Math.sqrt(this.v[j]! / bc2) + 1e-8);
    }
    return { metaStep, metaLoss, gradNorm: norm };
  }

  /** The trainer's full state as JSON data. */
  stateDict(): { metaStep: number; metaParams: number[]; m: number[]; v: number[]; estimator: unknown } {
    return {
      metaStep: this.metaStep,
      metaParams: Array.from(this.metaParams),
      m: Array.from(this.m),
      v: Array.from(this.v),
      estimator: this.estimator.stateDict(),
    };
  }

  /** Restore what {@link TbpttTrainer.stateDict} returned (meta-parameters are written in place). */
  loadStateDict(state: unknown): void {
    const where = 'TbpttTrainer.loadStateDict';
    const s = state as Record<string, unknown> | null;
    if (typeof s !== 'object' || s === null || typeof s.metaStep !== 'number') throw new StateDictError(`${where}: malformed state`);
    const n = this.metaParams.length;
    const meta = arrayOf(s.metaParams, n, `${where}: metaParams`);
    const m = arrayOf(s.m, n, `${where}: m`);
    const v = arrayOf(s.v, n, `${where}: v`);
    this.estimator.loadStateDict(s.estimator);
    this.metaParams.set(meta);
    this.m = m;
    this.v = v;
    this.metaStep = s.metaStep;
  }
}
