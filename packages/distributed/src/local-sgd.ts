/**
 * Local SGD and post-local SGD: ranks step on their own data and average the MODELS every `period` steps.
 *
 * @packageDocumentation
 */
import type { Optimizer } from '@opt/core';
import { type FlatBuffer, InvalidOptionError, flattenParameters } from '@opt/tensor';
import type { Collective, CollectiveOptions } from './collective.js';
import { checkParameterShapes, optimizerParameters } from './ddp.js';

/** Options of {@link LocalSGD.create}. */
export interface LocalSGDOptions {
  /** Average the parameters every `period` local steps (H ≥ 1). */
  period: number;
  /**
   * Steps of fully synchronous training first (gradients averaged every step, as data-parallel SGD) before local
   * steps start: post-local SGD (Lin et al. 2020; PyTorch's `start_localSGD_iter`). Default 0.
   */
  startStep?: number;
  /** Rank whose initial parameters every rank adopts (default 0); `null` skips the broadcast. */
  broadcastFrom?: number | null;
  /** Options passed to every collective call. */
  collectiveOptions?: CollectiveOptions;
}

/**
 * Local SGD: every rank runs its optimizer on its own data; after local step t (counting from 1) with
 * `t > startStep` and `(t − startStep) mod period = 0`, the parameters are replaced by their average over ranks,
 * `x ← (Σ_k x_k) / K` in rank order. During the first `startStep` steps the GRADIENTS are averaged before every
 * step instead (post-local SGD's synchronous warm-up). Optimizer state (momentum, Adam moments) stays local,
 * as in PyTorch's `PeriodicModelAverager`.
 *
 * @example
 * ```ts
 * const local = await LocalSGD.create(new SGD([w], { lr: 0.1, momentum: 0.9 }), collective, { period: 4 });
 * w.grad!.set(localGradient);
 * await local.step(); // a local step; every 4th also averages the models
 * ```
 */
export class LocalSGD<O extends object = object> {
  /** The wrapped optimizer. */
  readonly optimizer: Optimizer<O>;
  /** The collective models are averaged over. */
  readonly collective: Collective;
  /** The flat storage of the parameters and gradients. */
  readonly flat: FlatBuffer;
  /** The averaging period H. */
  readonly period: number;
  /** Synchronous steps before local steps start. */
  readonly startStep: number;
  private readonly options: CollectiveOptions;
  private steps = 0;

  protected constructor(optimizer: Optimizer<O>, collective: Collective, flat: FlatBuffer, period: number, startStep: number, options: CollectiveOptions) {
    this.optimizer = optimizer;
    this.collective = collective;
    this.flat = flat;
    this.period = period;
    this.startStep = startStep;
    this.options = options;
  }

  /** Wrap `optimizer`: flatten its parameters, check shapes across ranks, broadcast the initial values. */
  static async create<O extends object>(optimizer: Optimizer<O>, collective: Collective, options: LocalSGDOptions): Promise<LocalSGD<O>> {
    const where = 'LocalSGD';
    const { period } = options;
    if (!Number.isInteger(period) || period < 1) throw new InvalidOptionError('period', period, 'an integer >= 1', where);
    const startStep = options.startStep ?? 0;
    if (!Number.isInteger(startStep) || startStep < 0) throw new InvalidOptionError('startStep', startStep, 'an integer >= 0', where);
    const from = options.broadcastFrom === undefined ? 0 : options.broadcastFrom;
    if (from !== null && (!Number.isInteger(from) || from < 0 || from >= collective.worldSize)) {
      throw new InvalidOptionError('broadcastFrom', from, `null or an integer in [0, ${collective.worldSize})`, where);
    }
    const copts = options.collectiveOptions ?? {};
    const params = optimizerParameters(optimizer as unknown as Optimizer<object>);
    await checkParameterShapes(params, collective, copts);
    for (const p of params) p.ensureGrad();
    const flat = flattenParameters(params);
    if (from !== null) await collective.broadcast(flat.data, from, copts);
    return new LocalSGD(optimizer, collective, flat, period, startStep, copts);
  }

  /** Local steps taken so far. */
  get stepCount(): number {
    return this.steps;
  }

  /**
   * One step: during the first `startStep` steps, average the gradients then step; afterwards step locally and
   * average the parameters every `period` steps. Gradients must be in `p.grad` (the flat buffer's views).
   */
  async step(): Promise<void> {
    if (this.steps < this.startStep) {
      await this.collective.allReduce(this.flat.grad, 'mean', this.options);
      this.optimizer.step();
      this.steps++;
      return;
    }
    this.optimizer.step();
    this.steps++;
    if ((this.steps - this.startStep) % this.period === 0) await this.average();
  }

  /** Replace the parameters by their average over ranks now (rank-order sum, then / K). */
  async average(): Promise<void> {
    await this.collective.allReduce(this.flat.data, 'mean', this.options);
  }
}

/**
 * Post-local SGD: {@link LocalSGD} with a synchronous warm-up of `startStep` steps (required here).
 *
 * @example
 * ```ts
 * const opt = await PostLocalSGD.create(new SGD([w], { lr: 0.1 }), collective, { period: 8, startStep: 100 });
 * ```
 */
export class PostLocalSGD {
  /** Create the wrapper; `startStep` must be given (≥ 1). */
  static async create<O extends object>(optimizer: Optimizer<O>, collective: Collective, options: LocalSGDOptions & { startStep: number }): Promise<LocalSGD<O>> {
    if (!Number.isInteger(options.startStep) || options.startStep < 1) {
      throw new InvalidOptionError('startStep', options.startStep, 'an integer >= 1', 'PostLocalSGD');
    }
    return LocalSGD.create(optimizer, collective, options);
  }
}
