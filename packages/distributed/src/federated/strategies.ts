/**
 * Server-side aggregation strategies (FedAvg, server optimizers FedAdam / FedYogi / FedAdagrad after Reddi et al.
 * 2021) and the client-side FedProx proximal term.
 *
 * @packageDocumentation
 */
import { Adagrad, Adam, type Closure, type Optimizer, type OptimizerStateDict, Yogi } from '@opt/core';
import { type FloatArray, InvalidOptionError, Parameter, ShapeMismatchError, StateDictError } from '@opt/tensor';
import { InvalidConfigurationError } from './errors.js';
import { type Aggregator, WeightedMean } from './robust.js';

/** One client's contribution to a round. */
export interface ClientResult {
  /** The client's id (for reports). */
  clientId: string;
  /** Its update Δ = w_client − w_global, flat, in the model's parameter order. */
  update: FloatArray;
  /** Examples it trained on: FedAvg's weight. Unverifiable, so robust aggregators ignore it. */
  numExamples: number;
}

/** A strategy's serialisable state: the rounds applied and, for server optimizers, the optimizer's state dict. */
export interface StrategyStateDict {
  format: '@opt/federated-strategy';
  /** The strategy's name, e.g. `"FedAdam"`. */
  strategy: string;
  /** Rounds applied so far. */
  rounds: number;
  /** The server optimizer's state (null for FedAvg, or before the first round). */
  optimizer: OptimizerStateDict | null;
}

/** How the server turns a round's client results into new global weights. */
export interface FederatedStrategy {
  /** The strategy's name, e.g. `"FedAvg"`. */
  readonly name: string;
  /** The rule that combines the updates. */
  readonly aggregator: Aggregator;
  /** Rounds applied so far. */
  readonly rounds: number;
  /**
   * Update `weights` (the global model, flat) in place from the clients' results; returns the aggregated update
   * (before the server step) in float64.
   */
  apply(weights: FloatArray, results: readonly ClientResult[]): Float64Array;
  /** The state to persist between rounds (resume after a server restart). */
  stateDict(): StrategyStateDict;
  /** Restore what {@link FederatedStrategy.stateDict} returned. */
  loadStateDict(state: StrategyStateDict): void;
}

function aggregateResults(name: string, aggregator: Aggregator, weights: FloatArray, results: readonly ClientResult[]): Float64Array {
  if (results.length === 0) throw new InvalidConfigurationError(name, 'at least one client result', 'the round has none');
  for (const r of results) {
    if (r.update.length !== weights.length) {
      throw new ShapeMismatchError(`${name}: client ${r.clientId} sent ${r.update.length} values for a model of ${weights.length}`);
    }
  }
  return aggregator.aggregate(
    results.map((r) => r.update),
    aggregator.usesWeights ? results.map((r) => r.numExamples) : undefined,
  );
}

function checkStrategyState(name: string, state: StrategyStateDict): void {
  if (state?.format !== '@opt/federated-strategy') throw new StateDictError(`${name}: not a federated strategy state dict`);
  if (state.strategy !== name) throw new StateDictError(`${name}: the state dict was written by ${state.strategy}`);
  if (!Number.isInteger(state.rounds) || state.rounds < 0) throw new StateDictError(`${name}: invalid rounds ${String(state.rounds)}`);
}

/** Options of {@link FedAvg}. */
export interface FedAvgOptions {
  /** The combining rule (default {@link WeightedMean}, weighted by `numExamples`; a robust rule ignores the counts). */
  aggregator?: Aggregator;
  /** Server learning rate η: w ← w + η·aggregate (default 1, plain FedAvg). */
  serverLr?: number;
}

/**
 * FedAvg (McMahan et al. 2017): the new global model is the example-weighted mean of the clients' models,
 *
 * ```
 * w ← w + η · Σᵢ nᵢ·Δᵢ / Σᵢ nᵢ,     Δᵢ = wᵢ − w,   η = serverLr (1 in the paper)
 * ```
 *
 * `numExamples` is whatever the clients claim. With a robust `aggregator` (Krum, median, …) the counts are
 * ignored, as in Flower, because a Byzantine client could claim any count.
 *
 * @example
 * ```ts
 * const fedavg = new FedAvg();
 * const w = new Float64Array([0, 0]);
 * fedavg.apply(w, [
 *   { clientId: 'a', update: new Float64Array([1, 1]), numExamples: 1 },
 *   { clientId: 'b', update: new Float64Array([3, -1]), numExamples: 3 },
 * ]); // w is now [2.5, -0.5]
 * ```
 */
export class FedAvg implements FederatedStrategy {
  readonly name: string = 'FedAvg';
  readonly aggregator: Aggregator;
  /** η. */
  readonly serverLr: number;
  rounds = 0;

  constructor(options: FedAvgOptions = {}) {
    this.aggregator = options.aggregator ?? new WeightedMean();
    const lr = options.serverLr ?? 1;
    if (!(lr > 0) || !Number.isFinite(lr)) throw new InvalidOptionError('serverLr', lr, 'a finite number > 0', 'FedAvg');
    this.serverLr = lr;
  }

  apply(weights: FloatArray, results: readonly ClientResult[]): Float64Array {
    const agg = aggregateResults(this.name, this.aggregator, weights, results);
    for (let j = 0; j < weights.length; j++) weights[j] = weights[j]! + this.serverLr * agg[j]!;
    this.rounds++;
    return agg;
  }

  stateDict(): StrategyStateDict {
    return { format: '@opt/federated-strategy', strategy: this.name, rounds: this.rounds, optimizer: null };
  }

  loadStateDict(state: StrategyStateDict): void {
    checkStrategyState(this.name, state);
    this.rounds = state.rounds;
  }
}

/** Options of {@link FedOpt}. */
export interface FedOptOptions {
  /** Builds the server optimizer over the one flat parameter that holds the global model. */
  optimizer: (params: Parameter[]) => Optimizer<object>;
  /** The rule that replaces the mean of the updates (default {@link WeightedMean}). */
  aggregator?: Aggregator;
  /** The strategy's name in reports and state dicts (default `"FedOpt"`). */
  name?: string;
}

/**
 * FedOpt (Reddi et al. 2021, "Adaptive Federated Optimization", Algorithm 1): the server treats the negated
 * aggregate of the client updates as a gradient and steps any `@opt/core` optimizer with it,
 *
 * ```
 * g ← w − mean(wᵢ) = −aggregate(Δᵢ)        (the pseudo-gradient)
 * w ← ServerOpt.step(w, g)
 * ```
 *
 * SGD with lr 1 is FedAvg; SGD with momentum is FedAvgM; {@link FedAdam}, {@link FedYogi} and
 * {@link FedAdagrad} are the paper's adaptive choices. The optimizer's state is part of {@link FedOpt.stateDict}.
 *
 * @example
 * ```ts
 * import { SGD } from '@opt/core';
 * const fedAvgM = new FedOpt({ name: 'FedAvgM', optimizer: (p) => new SGD(p, { lr: 1, momentum: 0.9 }) });
 * ```
 */
export class FedOpt implements FederatedStrategy {
  readonly name: string;
  readonly aggregator: Aggregator;
  rounds = 0;
  private readonly makeOptimizer: (params: Parameter[]) => Optimizer<object>;
  private param: Parameter | null = null;
  private opt: Optimizer<object> | null = null;
  private pending: OptimizerStateDict | null = null;

  constructor(options: FedOptOptions) {
    this.name = options.name ?? 'FedOpt';
    this.aggregator = options.aggregator ?? new WeightedMean();
    this.makeOptimizer = options.optimizer;
  }

  /** The server optimizer (created at the first round, when the model's size and dtype are known). */
  get optimizer(): Optimizer<object> | null {
    return this.opt;
  }

  private bind(weights: FloatArray): Parameter {
    if (this.param !== null) {
      if (this.param.data.length !== weights.length || this.param.data.constructor !== weights.constructor) {
        throw new ShapeMismatchError(`${this.name}: the model changed from ${this.param.data.length} to ${weights.length} values (or its dtype changed)`);
      }
      return this.param;
    }
    const data = weights instanceof Float32Array ? new Float32Array(weights.length) : new Float64Array(weights.length);
    this.param = new Parameter(data, [weights.length], 'global');
    this.opt = this.makeOptimizer([this.param]);
    if (this.pending !== null) {
      this.opt.loadStateDict(this.pending);
      this.pending = null;
    }
    return this.param;
  }

  apply(weights: FloatArray, results: readonly ClientResult[]): Float64Array {
    const agg = aggregateResults(this.name, this.aggregator, weights, results);
    const p = this.bind(weights);
    p.data.set(weights);
    const g = p.data instanceof Float32Array ? new Float32Array(agg.length) : new Float64Array(agg.length);
    for (let j = 0; j < agg.length; j++) g[j] = -agg[j]!;
    p.grad = g;
    this.opt!.step();
    p.grad = null;
    weights.set(p.data);
    this.rounds++;
    return agg;
  }

  stateDict(): StrategyStateDict {
    return { format: '@opt/federated-strategy', strategy: this.name, rounds: this.rounds, optimizer: this.opt?.stateDict() ?? this.pending };
  }

  loadStateDict(state: StrategyStateDict): void {
    checkStrategyState(this.name, state);
    this.rounds = state.rounds;
    if (state.optimizer === null) return;
    if (this.opt !== null) this.opt.loadStateDict(state.optimizer);
    else this.pending = state.optimizer;
  }
}

/** Options shared by {@link FedAdam}, {@link FedYogi} and {@link FedAdagrad}. */
export interface AdaptiveServerOptions {
  /** Server learning rate η (default 0.1, Flower's default). */
  serverLr?: number;
  /** β1, β2 (default [0.9, 0.99], the paper's). Unused by FedAdagrad. */
  betas?: [number, number];
  /** τ, the adaptivity (the optimizer's eps; default 1e-3, the paper's recommended value). */
  tau?: number;
  /** The rule that replaces the mean of the updates (default {@link WeightedMean}). */
  aggregator?: Aggregator;
}

/**
 * FedAdam (Reddi et al. 2021): {@link FedOpt} with `@opt/core`'s `Adam` (lr η, betas, eps τ; PyTorch's bias
 * corrections) on the pseudo-gradient g = −aggregate(Δᵢ):
 *
 * ```
 * m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²,   w ← w − η/(1 − β1^t) · m / (√v/√(1 − β2^t) + τ)
 * ```
 *
 * @example
 * ```ts
 * const fedAdam = new FedAdam({ serverLr: 0.05 });
 * ```
 */
export class FedAdam extends FedOpt {
  constructor(options: AdaptiveServerOptions = {}) {
    super({
      name: 'FedAdam',
      aggregator: options.aggregator,
      optimizer: (p) => new Adam(p, { lr: options.serverLr ?? 0.1, betas: options.betas ?? [0.9, 0.99], eps: options.tau ?? 1e-3 }),
    });
  }
}

/**
 * FedYogi (Reddi et al. 2021): {@link FedOpt} with {@link Yogi} (lr η, betas, eps τ) on the pseudo-gradient:
 * `v ← v − (1 − β2)·sign(v − g²)·g²`, so v grows additively and an outlier round cannot inflate it at once.
 *
 * @example
 * ```ts
 * const fedYogi = new FedYogi({ serverLr: 0.05, tau: 1e-3 });
 * ```
 */
export class FedYogi extends FedOpt {
  constructor(options: AdaptiveServerOptions = {}) {
    super({
      name: 'FedYogi',
      aggregator: options.aggregator,
      optimizer: (p) => new Yogi(p, { lr: options.serverLr ?? 0.1, betas: options.betas ?? [0.9, 0.99], eps: options.tau ?? 1e-3 }),
    });
  }
}

/**
 * FedAdagrad (Reddi et al. 2021, without server momentum): {@link FedOpt} with `@opt/core`'s `Adagrad`
 * (lr η, eps τ): `v ← v + g²`, `w ← w − η·g/(√v + τ)`.
 *
 * @example
 * ```ts
 * const fedAdagrad = new FedAdagrad({ serverLr: 0.1 });
 * ```
 */
export class FedAdagrad extends FedOpt {
  constructor(options: Omit<AdaptiveServerOptions, 'betas'> = {}) {
    super({
      name: 'FedAdagrad',
      aggregator: options.aggregator,
      optimizer: (p) => new Adagrad(p, { lr: options.serverLr ?? 0.1, eps: options.tau ?? 1e-3 }),
    });
  }
}

/**
 * Add FedProx's proximal gradient μ·(w − w_global) to every parameter's gradient, in place (the gradient of
 * μ/2·‖w − w_global‖²). Returns the proximal term's value μ/2·‖w − w_global‖².
 *
 * @param params - the client's parameters, with gradients.
 * @param anchors - the global weights, one array per parameter, same order and lengths.
 * @param mu - μ ≥ 0.
 */
export function addProximalGradient(params: readonly Parameter[], anchors: readonly FloatArray[], mu: number): number {
  let sq = 0;
  for (let k = 0; k < params.length; k++) {
    const p = params[k]!;
    const a = anchors[k]!;
    const w = p.data;
    const g = p.grad;
    if (a.length !== w.length) throw new ShapeMismatchError(`FedProx: anchor ${k} has ${a.length} values, parameter has ${w.length}`);
    for (let i = 0; i < w.length; i++) {
      const diff = w[i]! - a[i]!;
      sq += diff * diff;
      if (g !== null) g[i] = g[i]! + mu * diff;
    }
  }
  return 0.5 * mu * sq;
}

/**
 * FedProx (Li et al. 2020) on the client: wraps the client's local optimizer and adds the proximal term
 * μ/2·‖w − w_global‖² to the local objective, i.e. μ·(w − w_global) to every gradient before the inner step.
 * Call {@link FedProx.setGlobal} after loading the round's global model. The server side of FedProx is
 * {@link FedAvg}.
 *
 * @example
 * ```ts
 * import { SGD } from '@opt/core';
 * const local = new FedProx(new SGD(params, { lr: 0.1 }), { mu: 0.01 });
 * local.setGlobal();            // anchor: the global model just loaded into params
 * local.step(() => lossAndGrad()); // returns loss + μ/2‖w − w_global‖²
 * ```
 */
export class FedProx {
  /** The wrapped optimizer. */
  readonly inner: Optimizer<object>;
  /** μ. */
  readonly mu: number;
  private readonly params: Parameter[];
  private anchors: FloatArray[];

  constructor(inner: Optimizer<object>, options: { mu: number }) {
    if (!(options.mu >= 0) || !Number.isFinite(options.mu)) throw new InvalidOptionError('mu', options.mu, 'a finite number >= 0', 'FedProx');
    this.inner = inner;
    this.mu = options.mu;
    this.params = inner.paramGroups.flatMap((g) => g.params);
    this.anchors = this.params.map((p) => p.data.slice());
  }

  /** Take the parameters' current values as w_global (call once per round, after loading the global model). */
  setGlobal(): void {
    for (let k = 0; k < this.params.length; k++) this.anchors[k]!.set(this.params[k]!.data);
  }

  /** μ/2·‖w − w_global‖² at the current parameters. */
  proximalTerm(): number {
    let sq = 0;
    for (let k = 0; k < this.params.length; k++) {
      const w = this.params[k]!.data;
      const a = this.anchors[k]!;
      for (let i = 0; i < w.length; i++) sq += (w[i]! - a[i]!) ** 2;
    }
    return 0.5 * this.mu * sq;
  }

  /** Evaluate `closure` (if any), add the proximal gradient, step the inner optimizer; returns the proximal loss. */
  step(closure?: Closure): number | undefined {
    const loss = closure ? closure() : undefined;
    const prox = addProximalGradient(this.params, this.anchors, this.mu);
    this.inner.step();
    return loss === undefined ? undefined : loss + prox;
  }

  /** Pass-through to the inner optimizer's `zeroGrad`. */
  zeroGrad(): void {
    this.inner.zeroGrad();
  }
}
