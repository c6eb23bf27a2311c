/**
 * DeepSpeed's 1-bit compressed all-reduce with worker and server error feedback, and the optimizers built on it:
 * 1-bit Adam (Tang et al. 2021) and 0/1 Adam (Lu et al. 2022).
 *
 * @packageDocumentation
 */
import {
  type Closure,
  Optimizer,
  type OptimizerSettings,
  type ParamGroup,
  type ParamsArg,
  checkBetas,
  checkBoolean,
  checkInteger,
  checkNonNegative,
  checkPositive,
} from '@opt/core';
import { type FloatArray, InvalidOptionError, OptError, type Parameter, adamUpdate, zerosLike } from '@opt/tensor';
import type { Collective, CollectiveOptions } from '../collective.js';
import { PayloadRejectedError } from '../errors.js';
import { ByteReader, packSigns, signAt } from './bits.js';

/**
 * The padded length DeepSpeed compresses a tensor of `numel` elements at: a multiple of `8K`, so that each rank's
 * server chunk (`padded / K` elements) is a whole number of bytes of sign bits.
 */
export function oneBitPaddedLength(numel: number, worldSize: number): number {
  const unit = 8 * worldSize;
  return Math.ceil(numel / unit) * unit;
}

function scaleOf(x: ArrayLike<number>, from: number, n: number): number {
  let s = 0;
  for (let i = from; i < from + n; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s) / Math.sqrt(n);
}

/**
 * DeepSpeed's `compressed_allreduce`: the average over ranks of `buffer`, sent as 1 bit per element twice, with
 * error feedback on both sides. With N the padded length, C = N/K the chunk of each rank ("server" of that chunk):
 *
 * ```
 * worker:  x = buffer + e_w;   s_w = ‖x‖₂/√N;   e_w ← x − s_w·sign(x);   send (s_w, sign(x))     (N/8 + 4 bytes)
 * server k (chunk k):  y = Σ_r (s_r/K)·sign(x_r)[chunk k] + e_s;   s_k = ‖y‖₂/√C;   e_s ← y − s_k·sign(y)
 *                      send (s_k, sign(y))                                                        (C/8 + 4 bytes)
 * result:  buffer[chunk k] = s_k·sign(y_k)  on every rank
 * ```
 *
 * `sign(0) = +1` (DeepSpeed's `sign().add(1).bool()`). Both exchanges are all-gathers (every rank decodes only its
 * chunk in the first), and the sums run in rank order, so every rank holds the same bytes.
 *
 * @param buffer the local values (length n ≤ N); replaced by the compressed average.
 * @param workerError the worker residual, length N = {@link oneBitPaddedLength}(n, K).
 * @param serverError this rank's server residual, length N/K.
 */
export async function oneBitAllReduce(
  buffer: FloatArray,
  workerError: FloatArray,
  serverError: FloatArray,
  collective: Collective,
  options: CollectiveOptions = {},
): Promise<void> {
  const K = collective.worldSize;
  const rank = collective.rank;
  const n = buffer.length;
  const N = workerError.length;
  const C = serverError.length;
  if (N !== oneBitPaddedLength(n, K) || C * K !== N) {
    throw new InvalidOptionError('workerError', `${N} and ${C} elements`, `${oneBitPaddedLength(n, K)} and ${oneBitPaddedLength(n, K) / K} elements (oneBitPaddedLength)`, 'oneBitAllReduce');
  }
  // Worker side: x = buffer + e_w (the padding is zero), kept in workerError until the residual is formed.
  const x = workerError;
  for (let i = 0; i < n; i++) x[i] = buffer[i]! + x[i]!;
  const sw = Math.fround(scaleOf(x, 0, N));
  const part = new Uint8Array(4 + N / 8);
  new DataView(part.buffer).setFloat32(0, sw, true);
  packSigns(x, N, part, 4);
  for (let i = 0; i < N; i++) x[i] = x[i]! - (x[i]! >= 0 ? sw : -sw);
  const parts = await collective.allGather(part, options);
  // Server side: this rank's chunk.
  const y = serverError;
  const base = rank * C;
  for (let r = 0; r < K; r++) {
    const p = parts[r]!;
    if (p.length !== part.length) throw new PayloadRejectedError('size', `oneBitAllReduce: rank ${r} sent ${p.length} bytes, expected ${part.length}`);
    const s = new ByteReader(p).f32() / K;
    for (let j = 0; j < C; j++) y[j] = y[j]! + s * signAt(p, 4, base + j);
  }
  const ss = Math.fround(scaleOf(y, 0, C));
  const serverPart = new Uint8Array(4 + C / 8);
  new DataView(serverPart.buffer).setFloat32(0, ss, true);
  packSigns(y, C, serverPart, 4);
  for (let j = 0; j < C; j++) y[j] = y[j]! - (y[j]! >= 0 ? ss : -ss);
  const chunks = await collective.allGather(serverPart, options);
  for (let k = 0; k < K; k++) {
    const p = chunks[k]!;
    if (p.length !== serverPart.length) throw new PayloadRejectedError('size', `oneBitAllReduce: rank ${k} sent a ${p.length}-byte chunk, expected ${serverPart.length}`);
    const s = new ByteReader(p).f32();
    const from = k * C;
    const to = Math.min(n, from + C);
    for (let i = from; i < to; i++) buffer[i] = s * signAt(p, 4, i - from);
  }
}

function emptyLike(p: Parameter, n: number): FloatArray {
  return p.dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
}

/** Hyper-parameters of {@link OneBitAdam}. */
export interface OneBitAdamOptions {
  /** Learning rate. Default 1e-3. */
  lr: number;
  /** Decay rates of the moment estimates. Default [0.9, 0.999]. */
  betas: [number, number];
  /** Added to the denominator. Default 1e-8. */
  eps: number;
  /** L2 penalty added to the gradient, as `torch.optim.Adam`. Default 0. */
  weightDecay: number;
  /** Steps of full-precision Adam (warm-up) before the variance freezes and momentum is sent as 1 bit. Default 100000 (DeepSpeed's). */
  freezeStep: number;
  /**
   * Adam's bias corrections (true: the warm-up IS `torch.optim.Adam`; after it the second-moment correction stays at
   * its value at the freeze). false: DeepSpeed's update `m/(√v + eps)` without corrections. Default true.
   */
  biasCorrection: boolean;
}

/** Per-parameter state of {@link OneBitAdam}. */
export interface OneBitAdamState {
  [key: string]: number | FloatArray;
  step: number;
  exp_avg: FloatArray;
  exp_avg_sq: FloatArray;
  /** Worker residual of the compressed all-reduce (padded length). */
  worker_error: FloatArray;
  /** Server residual of this rank's chunk. */
  server_error: FloatArray;
}

const ONEBIT_DEFAULTS: OneBitAdamOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, freezeStep: 100000, biasCorrection: true };

/** The step of a distributed optimizer needs its collective: `step()` works only on one rank. */
function asyncRequired(name: string): OptError {
  return new OptError('ASYNC_STEP_REQUIRED', `${name}.step() communicates with the other ranks: use await ${name.charAt(0).toLowerCase()}${name.slice(1)}.stepAsync()`);
}

/**
 * 1-bit Adam (Tang et al., ICML 2021; DeepSpeed's `OnebitAdam`) over a `Collective`. With t the step:
 *
 * ```
 * warm-up (t ≤ freezeStep):  g ← allReduce(g)/K;  Adam:  m ← β1 m + (1−β1)g,  v ← β2 v + (1−β2)g²,
 *                            p ← p − lr/(1−β1^t) · m / (√v/√(1−β2^t) + eps)
 * compression (t > freezeStep):  v frozen;  m ← β1 m + (1−β1)g  (local g);
 *                            m ← oneBitAllReduce(m)  (1 bit per element, worker and server error feedback)
 *                            p ← p − lr/(1−β1^t) · m / (√v/√(1−β2^freezeStep) + eps)
 * ```
 *
 * (`weightDecay` adds `wd·p` to g, as Adam; `biasCorrection: false` drops both corrections, DeepSpeed's form.)
 * During the warm-up it is exactly `Adam` on the averaged gradient. The residuals `worker_error` and `server_error`
 * are optimizer state: `stateDict()` / `loadStateDict()` resume bit-identically. On one rank nothing is compressed
 * (as DeepSpeed's `size > 1` test). Every rank must step together: use {@link OneBitAdam.stepAsync} (plain `step()`
 * works only when `worldSize` is 1).
 *
 * @example
 * ```ts
 * const opt = new OneBitAdam([w], collective, { lr: 1e-3, freezeStep: 400 });
 * w.grad = localGradient;
 * await opt.stepAsync(); // averages (warm-up) or compresses (after) across ranks, then updates
 * ```
 */
export class OneBitAdam extends Optimizer<OneBitAdamOptions, OneBitAdamState> {
  /** The ranks the gradients and momenta are averaged over. */
  readonly collective: Collective;
  /** Options of every collective call. */
  collectiveOptions: CollectiveOptions;

  constructor(params: ParamsArg<OneBitAdamOptions>, collective: Collective, options: Partial<OneBitAdamOptions> & OptimizerSettings & { collectiveOptions?: CollectiveOptions } = {}) {
    const { collectiveOptions, ...rest } = options;
    super('OneBitAdam', params, ONEBIT_DEFAULTS, rest);
    this.collective = collective;
    this.collectiveOptions = collectiveOptions ?? {};
  }

  protected validateGroup(o: Readonly<OneBitAdamOptions>): void {
    const where = 'OneBitAdam';
    checkNonNegative(where, 'lr', o.lr);
    checkBetas(where, o.betas);
    checkPositive(where, 'eps', o.eps);
    checkNonNegative(where, 'weightDecay', o.weightDecay);
    checkInteger(where, 'freezeStep', o.freezeStep, 0);
    checkBoolean(where, 'biasCorrection', o.biasCorrection);
  }

  protected initState(p: Parameter): OneBitAdamState {
    const N = oneBitPaddedLength(p.size, this.collective.worldSize);
    return {
      step: 0,
      exp_avg: zerosLike(p.data),
      exp_avg_sq: zerosLike(p.data),
      worker_error: emptyLike(p, N),
      server_error: emptyLike(p, N / this.collective.worldSize),
    };
  }

  /** One step on one rank (no communication). */
  override step(closure?: Closure): number | undefined {
    if (this.collective.worldSize > 1) throw asyncRequired('OneBitAdam');
    return super.step(closure);
  }

  /**
   * One step on every rank: average the gradients (warm-up) or the compressed momenta (after `freezeStep`), then
   * update. Returns the closure's loss. Every rank must call it with its own gradients.
   */
  async stepAsync(closure?: Closure): Promise<number | undefined> {
    const loss = closure ? closure() : undefined;
    if (!this.checkGradients()) return loss;
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        if (p.grad === null) continue;
        const s = this.stateFor(p, group);
        if (s.step + 1 <= group.freezeStep) {
          await this.collective.allReduce(p.grad as Float32Array, 'mean', this.collectiveOptions);
          this.warmup(p, p.grad, s, group);
        } else {
          this.momentum(p, p.grad, s, group);
          if (this.collective.worldSize > 1) await oneBitAllReduce(s.exp_avg, s.worker_error, s.server_error, this.collective, this.collectiveOptions);
          this.apply(p, s, group);
        }
      }
    }
    return loss;
  }

  protected updateGroup(group: ParamGroup<OneBitAdamOptions>): void {
    for (const p of group.params) {
      if (p.grad === null) continue;
      const s = this.stateFor(p, group);
      if (s.step + 1 <= group.freezeStep) this.warmup(p, p.grad, s, group);
      else {
        this.momentum(p, p.grad, s, group);
        this.apply(p, s, group);
      }
    }
  }

  private warmup(p: Parameter, g: FloatArray, s: OneBitAdamState, group: ParamGroup<OneBitAdamOptions>): void {
    const t = ++s.step;
    const [beta1, beta2] = group.betas;
    const stepSize = group.biasCorrection ? group.lr / (1 - beta1 ** t) : group.lr;
    const sqrtBc2 = group.biasCorrection ? Math.sqrt(1 - beta2 ** t) : 1;
    adamUpdate(p.data, g, s.exp_avg, s.exp_avg_sq, null, stepSize, sqrtBc2, beta1, beta2, group.eps, group.weightDecay, 1, false);
  }

  private momentum(p: Parameter, g: FloatArray, s: OneBitAdamState, group: ParamGroup<OneBitAdamOptions>): void {
    s.step++;
    const beta1 = group.betas[0];
    const c1 = 1 - beta1;
    const wd = group.weightDecay;
    const m = s.exp_avg;
    const x = p.data;
    for (let i = 0; i < m.length; i++) m[i] = beta1 * m[i]! + c1 * (g[i]! + wd * x[i]!);
  }

  private apply(p: Parameter, s: OneBitAdamState, group: ParamGroup<OneBitAdamOptions>): void {
    const t = s.step;
    const [beta1, beta2] = group.betas;
    const stepSize = group.biasCorrection ? group.lr / (1 - beta1 ** t) : group.lr;
    const invBc2 = group.biasCorrection ? 1 / Math.sqrt(1 - beta2 ** group.freezeStep) : 1;
    const eps = group.eps;
    const m = s.exp_avg;
    const v = s.exp_avg_sq;
    const x = p.data;
    for (let i = 0; i < x.length; i++) x[i] = x[i]! - (stepSize * m[i]!) / (Math.sqrt(v[i]!) * invBc2 + eps);
  }
}

/** Hyper-parameters of {@link ZeroOneAdam} (DeepSpeed's names, camelCased). */
export interface ZeroOneAdamOptions {
  /** Learning rate. Default 1e-3. */
  lr: number;
  /** Decay rates of the moment estimates. Default [0.9, 0.999]. */
  betas: [number, number];
  /** Added to `√v`. Default 1e-8. */
  eps: number;
  /** Decoupled weight decay, added to the update as DeepSpeed: `p ← p − lr·(m/(√v+eps) + wd·p)`. Default 0. */
  weightDecay: number;
  /** Step after which the variance is frozen and local steps start. Default 100000. */
  varFreezeStep: number;
  /** Variance updates before their interval doubles. Default 16. */
  varUpdateScaler: number;
  /** Steps before the local-step interval doubles. Default 32678 (DeepSpeed's default). */
  localStepScaler: number;
  /** Largest local-step interval. Default 16. */
  localStepClipper: number;
}

/** Per-parameter state of {@link ZeroOneAdam} (DeepSpeed's keys). */
export interface ZeroOneAdamState {
  [key: string]: number | FloatArray;
  step: number;
  exp_avg: FloatArray;
  exp_avg_sq: FloatArray;
  /** u: the negated sum of local updates since the last synchronisation. */
  momentum_accumulator: FloatArray;
  worker_error: FloatArray;
  server_error: FloatArray;
  var_interval: number;
  var_counter: number;
  local_step_interval: number;
  local_step_counter: number;
  /** Sum of the learning rates since the last synchronisation. */
  lrs: number;
}

const ZEROONE_DEFAULTS: ZeroOneAdamOptions = {
  lr: 1e-3,
  betas: [0.9, 0.999],
  eps: 1e-8,
  weightDecay: 0,
  varFreezeStep: 100000,
  varUpdateScaler: 16,
  localStepScaler: 32678,
  localStepClipper: 16,
};

/**
 * 0/1 Adam (Lu et al., 2022; DeepSpeed's `ZeroOneAdam`): 1-bit Adam with an adaptive variance-freezing policy and
 * local steps. With t the step (DeepSpeed's update, no bias correction):
 *
 * ```
 * t ≤ varFreezeStep:
 *   t mod var_interval = 0:  g ← allReduce(g)/K (full precision);  v ← β2 v + (1−β2)g²;  m ← β1 m + (1−β1)g
 *                            (after varUpdateScaler such steps var_interval doubles)
 *   otherwise:               g ← oneBitAllReduce(g);  m ← β1 m + (1−β1)g            (v untouched)
 *   p ← p − lr·(m/(√v+eps) + wd·p)
 * t > varFreezeStep (errors reset once):  local steps, no gradient communication
 *   m ← β1 m + (1−β1)g;  δ = lr·(m/(√v+eps) + wd·p);  p ← p − δ;  u ← u − δ;  lrs ← lrs + lr
 *   every local_step_interval steps:  p ← p − u;  u ← oneBitAllReduce(u ⊙ (√v+eps));
 *        m ← −u/lrs;  p ← p + u/(√v+eps);  u ← 0;  lrs ← 0
 *   (after localStepScaler steps the interval doubles, up to localStepClipper)
 * ```
 *
 * DeepSpeed's first call is a buffer-allocation step that updates nothing; here every call is a real step. State,
 * including both error buffers and the policy counters, round-trips through `stateDict()` bit-identically.
 *
 * @example
 * ```ts
 * const opt = new ZeroOneAdam([w], collective, { lr: 1e-3, varFreezeStep: 200, localStepClipper: 4 });
 * await opt.stepAsync();
 * ```
 */
export class ZeroOneAdam extends Optimizer<ZeroOneAdamOptions, ZeroOneAdamState> {
  /** The ranks gradients and momenta are averaged over. */
  readonly collective: Collective;
  /** Options of every collective call. */
  collectiveOptions: CollectiveOptions;

  constructor(params: ParamsArg<ZeroOneAdamOptions>, collective: Collective, options: Partial<ZeroOneAdamOptions> & OptimizerSettings & { collectiveOptions?: CollectiveOptions } = {}) {
    const { collectiveOptions, ...rest } = options;
    super('ZeroOneAdam', params, ZEROONE_DEFAULTS, rest);
    this.collective = collective;
    this.collectiveOptions = collectiveOptions ?? {};
  }

  protected validateGroup(o: Readonly<ZeroOneAdamOptions>): void {
    const where = 'ZeroOneAdam';
    checkNonNegative(where, 'lr', o.lr);
    checkBetas(where, o.betas);
    checkPositive(where, 'eps', o.eps);
    checkNonNegative(where, 'weightDecay', o.weightDecay);
    checkInteger(where, 'varFreezeStep', o.varFreezeStep, 0);
    checkInteger(where, 'varUpdateScaler', o.varUpdateScaler, 1);
    checkInteger(where, 'localStepScaler', o.localStepScaler, 1);
    checkInteger(where, 'localStepClipper', o.localStepClipper, 1);
  }

  protected initState(p: Parameter): ZeroOneAdamState {
    const N = oneBitPaddedLength(p.size, this.collective.worldSize);
    return {
      step: 0,
      exp_avg: zerosLike(p.data),
      exp_avg_sq: zerosLike(p.data),
      momentum_accumulator: zerosLike(p.data),
      worker_error: emptyLike(p, N),
      server_error: emptyLike(p, N / this.collective.worldSize),
      var_interval: 1,
      var_counter: 0,
      local_step_interval: 1,
      local_step_counter: 0,
      lrs: 0,
    };
  }

  /** One step on one rank (no communication). */
  override step(closure?: Closure): number | undefined {
    if (this.collective.worldSize > 1) throw asyncRequired('ZeroOneAdam');
    return super.step(closure);
  }

  /** One step on every rank (see the class documentation). Returns the closure's loss. */
  async stepAsync(closure?: Closure): Promise<number | undefined> {
    const loss = closure ? closure() : undefined;
    if (!this.checkGradients()) return loss;
    const c = this.collective;
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        if (p.grad === null) continue;
        // The update is a generator that yields each exchange it needs; this driver performs them.
        const plan = this.plan(p, group, c.worldSize > 1);
        for (let e = plan.next(); !e.done; e = plan.next()) {
          const x = e.value;
          if (x.workerError === null) await c.allReduce(x.buffer as Float32Array, 'mean', this.collectiveOptions);
          else await oneBitAllReduce(x.buffer, x.workerError, x.serverError!, c, this.collectiveOptions);
        }
      }
    }
    return loss;
  }

  protected updateGroup(group: ParamGroup<ZeroOneAdamOptions>): void {
    // One rank: nothing to exchange, so the plan runs to completion without yielding.
    for (const p of group.params) if (p.grad !== null) this.plan(p, group, false).next();
  }

  /**
   * The update of one parameter; yields the exchanges it needs when `communicate` (a mean all-reduce of a buffer
   * when `workerError` is null, else a 1-bit all-reduce with those residuals) and continues once they are done.
   */
  private *plan(
    p: Parameter,
    group: ParamGroup<ZeroOneAdamOptions>,
    communicate: boolean,
  ): Generator<{ buffer: FloatArray; workerError: FloatArray | null; serverError: FloatArray | null }, void, undefined> {
    const multi = communicate;
    const s = this.stateFor(p, group);
    const g = p.grad!;
    const t = ++s.step;
    const [beta1, beta2] = group.betas;
    const { lr, eps, weightDecay: wd } = group;
    const m = s.exp_avg;
    const v = s.exp_avg_sq;
    const x = p.data;
    const n = x.length;
    if (t <= group.varFreezeStep) {
      const varStep = t % s.var_interval === 0;
      if (varStep) {
        if (multi) yield { buffer: g, workerError: null, serverError: null };
        for (let i = 0; i < n; i++) {
          v[i] = beta2 * v[i]! + (1 - beta2) * g[i]! * g[i]!;
          m[i] = beta1 * m[i]! + (1 - beta1) * g[i]!;
        }
      } else {
        if (multi) yield { buffer: g, workerError: s.worker_error, serverError: s.server_error };
        for (let i = 0; i < n; i++) m[i] = beta1 * m[i]! + (1 - beta1) * g[i]!;
      }
      for (let i = 0; i < n; i++) x[i] = x[i]! - lr * (m[i]! / (Math.sqrt(v[i]!) + eps) + wd * x[i]!);
      if (varStep && ++s.var_counter === group.varUpdateScaler) {
        s.var_counter = 0;
        s.var_interval *= 2;
      }
      return;
    }
    if (t === group.varFreezeStep + 1) {
      // The residuals now measure accumulated momentum, not gradients: start them afresh (as DeepSpeed).
      s.worker_error.fill(0);
      s.server_error.fill(0);
    }
    const u = s.momentum_accumulator;
    s.lrs += lr;
    for (let i = 0; i < n; i++) {
      m[i] = beta1 * m[i]! + (1 - beta1) * g[i]!;
      const d = lr * (m[i]! / (Math.sqrt(v[i]!) + eps) + wd * x[i]!);
      x[i] = x[i]! - d;
      u[i] = u[i]! - d;
    }
    if (t % s.local_step_interval === 0) {
      for (let i = 0; i < n; i++) {
        x[i] = x[i]! - u[i]!;
        u[i] = u[i]! * (Math.sqrt(v[i]!) + eps);
      }
      if (multi) yield { buffer: u, workerError: s.worker_error, serverError: s.server_error };
      const inv = 1 / s.lrs;
      for (let i = 0; i < n; i++) {
        m[i] = -u[i]! * inv;
        x[i] = x[i]! + u[i]! / (Math.sqrt(v[i]!) + eps);
      }
      u.fill(0);
      s.lrs = 0;
    }
    if (++s.local_step_counter === group.localStepScaler) {
      s.local_step_counter = 0;
      s.local_step_interval = Math.min(group.localStepClipper, s.local_step_interval * 2);
    }
  }
}
