import type { Closure } from '@opt/core';
import {
  LSTMLearnedOptimizer,
  MLPLearnedOptimizer,
  type MLPHybridConfig,
  TOKEN_FEATURES,
  TransformerLearnedOptimizer,
  tanhTimeFeatures,
} from '@opt/learned';
import { type FloatArray, InvalidOptionError, type Parameter, zerosLike } from '@opt/tensor';
import type { DeviceKind, FallbackDiagnostic } from '../backends/errors.js';
import type { Backend, DeviceTensor, Runner } from '../backends/runner.js';
import { LSTM_STEP_HYPER, type LstmCellOp, MLP_STEP_HYPER, exportControllerNetwork, exportLstmStep, exportMlpStep } from './networks.js';

/** The `@opt/learned` optimizers a {@link LearnedOptimizerRunner} can run. */
export type RunnableLearnedOptimizer = MLPLearnedOptimizer | LSTMLearnedOptimizer | TransformerLearnedOptimizer;

/** Options of {@link LearnedOptimizerRunner.create}. */
export interface LearnedOptimizerRunnerOptions {
  /** The onnxruntime backend (`OrtNodeBackend` from `@opt/hardware/node`, or `OrtWebBackend`). */
  backend: Backend;
  /** Devices to try in order (default `['cpu']`); failures are recorded in {@link LearnedOptimizerRunner.diagnostics}. */
  devices?: readonly DeviceKind[];
  /**
   * How the LSTM cell is written: `'onnx-lstm'` (ONNX's `LSTM` operator) or `'matmul'` (`MatMul`/`Sigmoid`/`Tanh`,
   * which keeps it on providers without an LSTM kernel). Default `'onnx-lstm'`, except `'matmul'` for
   * onnxruntime-web when the first device is `'webgpu'`: there the operator runs on the CPU inside a WebGPU graph,
   * and onnxruntime-web 1.30 returns a wrong second-layer cell state and parameter update from that mixed graph
   * (measured in headless Chromium; the operator alone, and the same graph on wasm, are right).
   */
  lstmCell?: LstmCellOp;
}

/** The kind of network a runner executes. */
export type LearnedNetworkKind = 'mlp' | 'lstm' | 'transformer';

interface Slot {
  /** Device-resident state, by state key. */
  tensors: Map<string, DeviceTensor>;
  /** Float32 staging of the parameter and gradient (reused every step). */
  param32: Float32Array;
  grad32: Float32Array;
  /** mean(m²), mean(v) of the current moments (transformer tokens). */
  stats: Float64Array;
  /** The host state entry is behind the device. */
  dirty: boolean;
}

const MLP_KEYS = ['exp_avg', 'exp_avg_sq', 'exp_avg_fast', 'exp_avg_slow'] as const;
const LSTM_KEYS = ['h1', 'c1', 'h2', 'c2'] as const;
const TOKEN_TIME_SCALES = [10, 100, 1000] as const;

function toF32(src: FloatArray, dst: Float32Array): Float32Array {
  if (src instanceof Float32Array) return src;
  for (let i = 0; i < src.length; i++) dst[i] = src[i]!;
  return dst;
}

function safeLog(x: number): number {
  return Math.log(x + 1e-12) / 10;
}

/**
 * Runs an `@opt/learned` optimizer's network through ONNX Runtime, on any provider a `Backend` offers
 * (CPU, WebGPU in Node or the browser, wasm), as the ONNX twin of the TypeScript optimizer it is created from:
 *
 * - `MLPLearnedOptimizer`: its whole step as one graph per tensor ({@link exportMlpStep}): the per-tensor feature
 *   normalisation is computed IN the graph (reductions over the tensor), the MLP runs batched over every element;
 * - `LSTMLearnedOptimizer`: the two-layer coordinatewise LSTM batched over coordinates ({@link exportLstmStep},
 *   ONNX's `LSTM` operator with the i, o, f, c gate order, or the cell written as matrix products);
 * - `TransformerLearnedOptimizer`: the attention controller ({@link exportControllerNetwork}) over one token per
 *   tensor (the tokens' statistics come from the host and from the previous step's `moment_stats` outputs), then
 *   the MLP step graph with each tensor's modulated step size.
 *
 * The optimizer state (moments, LSTM hidden and cell states) stays on the device between steps (fed back as the
 * previous step's outputs); each step uploads the parameter and gradient and reads back only the new parameter.
 * {@link LearnedOptimizerRunner.syncState} copies the device state into the optimizer's `state` map, so
 * `optimizer.stateDict()` after a sync is the same checkpoint the TypeScript optimizer would write. Everything
 * runs in float32. The runner takes over the optimizer: step it through the runner only (the transformer's loss
 * memory lives in the runner). It does not apply the optimizer's non-finite-gradient policy.
 *
 * @example
 * ```ts
 * const opt = new MLPLearnedOptimizer(params, { weights: 'mlp-hybrid-v1' });
 * const runner = await LearnedOptimizerRunner.create(opt, { backend: new OrtNodeBackend(ort), devices: ['webgpu', 'cpu'] });
 * await runner.step(); // the same update as opt.step(), computed by ONNX Runtime
 * await runner.syncState();
 * ```
 */
export class LearnedOptimizerRunner {
  /** The network kind. */
  readonly kind: LearnedNetworkKind;
  /** The optimizer it runs. */
  readonly optimizer: RunnableLearnedOptimizer;
  /** The exported ONNX models, by name (`'mlp_step'`, `'lstm_step'`, `'controller'`). */
  readonly models: Readonly<Record<string, Uint8Array>>;
  private readonly step_: Runner;
  private readonly controller: Runner | null;
  private readonly slots = new Map<Parameter, Slot>();
  private readonly hyper: Float32Array;
  private readonly time: Float32Array;
  private readonly time64: Float64Array;
  private globalStep = 0;
  private loss0: number | null = null;
  private lossPrev: number | null = null;
  private trend = 0;

  private constructor(
    kind: LearnedNetworkKind,
    optimizer: RunnableLearnedOptimizer,
    models: Record<string, Uint8Array>,
    step: Runner,
    controller: Runner | null,
  ) {
    this.kind = kind;
    this.optimizer = optimizer;
    this.models = models;
    this.step_ = step;
    this.controller = controller;
    const T = kind === 'lstm' ? 0 : this.mlpConfig().timeScales.length;
    this.hyper = new Float32Array(kind === 'lstm' ? LSTM_STEP_HYPER.length : MLP_STEP_HYPER.length);
    this.time = new Float32Array(T);
    this.time64 = new Float64Array(T);
    if (optimizer instanceof TransformerLearnedOptimizer) {
      const extra = optimizer.stateDict().extra as { global_step: number; loss0: number | null; loss_prev: number | null; trend: number };
      this.globalStep = extra.global_step;
      this.loss0 = extra.loss0;
      this.lossPrev = extra.loss_prev;
      this.trend = extra.trend;
    }
  }

  /**
   * Export the optimizer's network(s) and open them on the first working device.
   *
   * @throws InvalidOptionError for an optimizer this runner does not know.
   * @throws ExecutionProviderUnavailableError when no device of the list works.
   */
  static async create(optimizer: RunnableLearnedOptimizer, options: LearnedOptimizerRunnerOptions): Promise<LearnedOptimizerRunner> {
    const devices = options.devices ?? ['cpu'];
    // State is fed back as the previous step's outputs, so they stay on the device (WebGPU IO binding).
    const open = (model: Uint8Array): Promise<Runner> => options.backend.create(model, { devices, keepOutputsOnDevice: true });
    if (optimizer instanceof MLPLearnedOptimizer) {
      const model = exportMlpStep(optimizer.metaParams, optimizer.config);
      return new LearnedOptimizerRunner('mlp', optimizer, { mlp_step: model }, await open(model), null);
    }
    if (optimizer instanceof TransformerLearnedOptimizer) {
      const mlp = exportMlpStep(optimizer.mlpParams, optimizer.mlpConfig);
      const ctrl = exportControllerNetwork(optimizer.metaParams, optimizer.controller);
      const stepRunner = await open(mlp);
      const ctrlRunner = await options.backend.create(ctrl, { devices: [stepRunner.device], keepOutputsOnDevice: false });
      return new LearnedOptimizerRunner('transformer', optimizer, { mlp_step: mlp, controller: ctrl }, stepRunner, ctrlRunner);
    }
    if (optimizer instanceof LSTMLearnedOptimizer) {
      const mode = optimizer.defaults.mode;
      const webOnGpu = options.backend.name === 'onnxruntime-web' && devices[0] === 'webgpu';
      const model = exportLstmStep(optimizer.metaParams, optimizer.layout, mode, options.lstmCell ?? (webOnGpu ? 'matmul' : 'onnx-lstm'));
      return new LearnedOptimizerRunner('lstm', optimizer, { lstm_step: model }, await open(model), null);
    }
    throw new InvalidOptionError('optimizer', String(optimizer), 'an MLPLearnedOptimizer, LSTMLearnedOptimizer or TransformerLearnedOptimizer', 'LearnedOptimizerRunner');
  }

  /** The device the step graph runs on (after any fallback). */
  get device(): DeviceKind {
    return this.step_.device;
  }

  /** Devices that failed before {@link LearnedOptimizerRunner.device} was chosen. */
  get diagnostics(): readonly FallbackDiagnostic[] {
    return this.step_.diagnostics;
  }

  private mlpConfig(): MLPHybridConfig {
    const o = this.optimizer;
    return o instanceof TransformerLearnedOptimizer ? o.mlpConfig : (o as MLPLearnedOptimizer).config;
  }

  private stateKeys(): readonly string[] {
    if (this.kind !== 'lstm') return MLP_KEYS;
    return (this.optimizer as LSTMLearnedOptimizer).defaults.mode === 'adam-correction' ? [...LSTM_KEYS, 'exp_avg', 'exp_avg_sq'] : LSTM_KEYS;
  }

  /** The host state entry of `p`, created as the optimizer's `initState` would. */
  private hostState(p: Parameter): Record<string, number | FloatArray | null> {
    const map = this.optimizer.state as Map<Parameter, Record<string, number | FloatArray | null>>;
    let s = map.get(p);
    if (s === undefined) {
      if (this.kind === 'lstm') {
        const o = this.optimizer as LSTMLearnedOptimizer;
        const n = p.size * o.layout.hidden;
        const adam = o.defaults.mode === 'adam-correction';
        s = {
          step: 0,
          h1: new Float64Array(n),
          c1: new Float64Array(n),
          h2: new Float64Array(n),
          c2: new Float64Array(n),
          exp_avg: adam ? zerosLike(p.data) : null,
          exp_avg_sq: adam ? zerosLike(p.data) : null,
        };
      } else {
        s = { step: 0, exp_avg: zerosLike(p.data), exp_avg_sq: zerosLike(p.data), exp_avg_fast: zerosLike(p.data), exp_avg_slow: zerosLike(p.data) };
      }
      map.set(p, s);
    }
    return s;
  }

  private slot(p: Parameter): Slot {
    let slot = this.slots.get(p);
    if (slot !== undefined) return slot;
    const host = this.hostState(p);
    const tensors = new Map<string, DeviceTensor>();
    const n = p.size;
    for (const key of this.stateKeys()) {
      const values = host[key] as FloatArray;
      const data = Float32Array.from(values);
      const dims = this.kind === 'lstm' && key.length === 2 ? [n, (this.optimizer as LSTMLearnedOptimizer).layout.hidden] : [n];
      tensors.set(key, this.step_.fromHost('float32', data, dims));
    }
    const stats = new Float64Array(2);
    if (this.kind === 'transformer') {
      const m = host['exp_avg'] as FloatArray;
      const v = host['exp_avg_sq'] as FloatArray;
      for (let i = 0; i < n; i++) {
        stats[0] += m[i]! * m[i]!;
        stats[1] += v[i]!;
      }
      stats[0] /= n;
      stats[1] /= n;
    }
    slot = { tensors, param32: new Float32Array(n), grad32: new Float32Array(n), stats, dirty: false };
    this.slots.set(p, slot);
    return slot;
  }

  /**
   * One optimizer step through ONNX Runtime: the closure (if any) is called first, as `Optimizer.step` does;
   * parameters without a gradient are skipped.
   *
   * @returns the closure's loss.
   */
  async step(closure?: Closure): Promise<number | undefined> {
    const loss = closure ? closure() : undefined;
    if (this.kind === 'transformer') {
      this.globalStep++;
      this.observeLoss(loss);
      await this.transformerStep();
      return loss;
    }
    for (const group of this.optimizer.paramGroups) {
      for (const p of group.params) {
        if (p.grad === null) continue;
        if (this.kind === 'mlp') await this.mlpParamStep(p, group as unknown as MlpGroup, (this.optimizer as MLPLearnedOptimizer).lrScale(p), 0);
        else await this.lstmParamStep(p, group as unknown as LstmGroup);
      }
    }
    return loss;
  }

  private observeLoss(loss: number | undefined): void {
    if (loss === undefined || !Number.isFinite(loss) || loss <= 0) return;
    if (this.loss0 === null) this.loss0 = loss;
    if (this.lossPrev !== null) this.trend = 0.9 * this.trend + 0.1 * (Math.log(loss) - Math.log(this.lossPrev));
    this.lossPrev = loss;
  }

  private async transformerStep(): Promise<void> {
    const o = this.optimizer as TransformerLearnedOptimizer;
    const params = o.paramGroups.flatMap((g) => g.params);
    const T = params.length;
    const F = TOKEN_FEATURES;
    const tokens = new Float32Array(T * F);
    const tokenTime = new Float64Array(TOKEN_TIME_SCALES.length);
    tanhTimeFeatures(this.globalStep, TOKEN_TIME_SCALES, tokenTime);
    const lossRatio = this.loss0 !== null && this.lossPrev !== null ? Math.log(this.lossPrev / this.loss0) : 0;
    const lossFeature = Math.max(-10, Math.min(10, lossRatio)) / 10;
    const trendFeature = Math.max(-1, Math.min(1, 10 * this.trend));
    for (let k = 0; k < T; k++) {
      const p = params[k]!;
      const g = p.grad;
      const data = p.data;
      const n = data.length;
      let sg = 0;
      let sp = 0;
      for (let i = 0; i < n; i++) {
        const gi = g === null ? 0 : g[i]!;
        sg += gi * gi;
        sp += data[i]! * data[i]!;
      }
      const stats = this.slots.get(p)?.stats ?? (o.state.has(p) ? this.slot(p).stats : null);
      const rmsM = stats === null ? 0 : Math.sqrt(stats[0]!);
      const rootV = stats === null ? 0 : Math.sqrt(stats[1]!);
      const t = k * F;
      tokens[t] = safeLog(Math.sqrt(sg / n));
      tokens[t + 1] = safeLog(rmsM);
      tokens[t + 2] = safeLog(rootV);
      tokens[t + 3] = safeLog(Math.sqrt(sp / n));
      tokens[t + 4] = Math.log(n) / 10;
      tokens[t + 5] = Math.min(rmsM / (rootV + 1e-12), 3);
      tokens[t + 6] = lossFeature;
      tokens[t + 7] = trendFeature;
      tokens[t + 8] = tokenTime[0]!;
      tokens[t + 9] = tokenTime[1]!;
      tokens[t + 10] = tokenTime[2]!;
    }
    const ctrl = this.controller!;
    const input = ctrl.fromHost('float32', tokens, [T, F]);
    const out = await ctrl.run({ tokens: input });
    const modulation = (await ctrl.read(out['modulation']!)) as Float32Array;
    out['modulation']!.dispose();
    const index = new Map<Parameter, number>();
    params.forEach((p, k) => index.set(p, k));
    for (const group of o.paramGroups) {
      for (const p of group.params) {
        if (p.grad === null) continue;
        const k = index.get(p)!;
        await this.mlpParamStep(p, group as unknown as MlpGroup, Math.exp(modulation[2 * k]!), modulation[2 * k + 1]!);
      }
    }
  }

  private async mlpParamStep(p: Parameter, group: MlpGroup, scale: number, gainOffset: number): Promise<void> {
    const config = this.mlpConfig();
    const slot = this.slot(p);
    const host = this.hostState(p);
    const t = (host['step'] as number) + 1;
    host['step'] = t;
    const [beta1, beta2] = group.betas;
    const [decayFast, decaySlow] = config.momentumDecays;
    const bc1 = 1 - beta1 ** t;
    const sqrtBc2 = Math.sqrt(1 - beta2 ** t);
    // Scalars in float64 as the TypeScript optimizer computes them, rounded once into the float32 input.
    const h = this.hyper;
    h[0] = group.weightDecay;
    h[1] = beta1;
    h[2] = 1 - beta1;
    h[3] = beta2;
    h[4] = 1 - beta2;
    h[5] = decayFast;
    h[6] = 1 - decayFast;
    h[7] = decaySlow;
    h[8] = 1 - decaySlow;
    h[9] = 1 / bc1;
    h[10] = 1 / sqrtBc2;
    h[11] = sqrtBc2;
    h[12] = group.eps;
    h[13] = (scale * group.lr) / bc1;
    h[14] = scale * group.lr * config.directionScale * (1 + gainOffset);
    tanhTimeFeatures(t, config.timeScales, this.time64);
    for (let k = 0; k < this.time.length; k++) this.time[k] = this.time64[k]!;
    const r = this.step_;
    const n = p.size;
    const feeds: Record<string, DeviceTensor> = {
      param: r.fromHost('float32', toF32(p.data, slot.param32), [n]),
      grad: r.fromHost('float32', toF32(p.grad!, slot.grad32), [n]),
      hyper: r.fromHost('float32', h, [h.length]),
      time: r.fromHost('float32', this.time, [1, this.time.length]),
    };
    for (const [key, tensor] of slot.tensors) feeds[key] = tensor;
    const out = await r.run(feeds);
    await this.finishStep(p, slot, out);
    const stats = (await r.read(out['moment_stats']!)) as Float32Array;
    slot.stats[0] = stats[0]!;
    slot.stats[1] = stats[1]!;
    out['moment_stats']!.dispose();
  }

  private async lstmParamStep(p: Parameter, group: LstmGroup): Promise<void> {
    const slot = this.slot(p);
    const host = this.hostState(p);
    const t = (host['step'] as number) + 1;
    host['step'] = t;
    const [beta1, beta2] = group.betas;
    const h = this.hyper;
    h[0] = group.k;
    h[1] = Math.exp(group.k);
    h[2] = group.scale;
    h[3] = group.lr;
    h[4] = beta1;
    h[5] = 1 - beta1;
    h[6] = beta2;
    h[7] = 1 - beta2;
    h[8] = group.lr / (1 - beta1 ** t);
    h[9] = Math.sqrt(1 - beta2 ** t);
    h[10] = group.eps;
    const r = this.step_;
    const n = p.size;
    const feeds: Record<string, DeviceTensor> = {
      param: r.fromHost('float32', toF32(p.data, slot.param32), [n]),
      grad: r.fromHost('float32', toF32(p.grad!, slot.grad32), [n]),
      hyper: r.fromHost('float32', h, [h.length]),
    };
    for (const [key, tensor] of slot.tensors) feeds[key] = tensor;
    await this.finishStep(p, slot, await r.run(feeds));
  }

  /** Keep the new state on the device (disposing the old), read the new parameter into `p.data`. */
  private async finishStep(p: Parameter, slot: Slot, out: Record<string, DeviceTensor>): Promise<void> {
    for (const key of slot.tensors.keys()) {
      slot.tensors.get(key)!.dispose();
      slot.tensors.set(key, out[`${key}_out`]!);
    }
    slot.dirty = true;
    const param = out['param_out']!;
    p.data.set((await this.step_.read(param)) as Float32Array);
    param.dispose();
  }

  /** Copy the device-resident state into the optimizer's `state` map (then `optimizer.stateDict()` is current). */
  async syncState(): Promise<void> {
    for (const [p, slot] of this.slots) {
      if (!slot.dirty) continue;
      const host = this.hostState(p);
      for (const [key, tensor] of slot.tensors) (host[key] as FloatArray).set((await this.step_.read(tensor)) as Float32Array);
      slot.dirty = false;
    }
  }

  /** Release the sessions and device tensors (call {@link LearnedOptimizerRunner.syncState} first to keep the state). */
  async release(): Promise<void> {
    for (const slot of this.slots.values()) for (const t of slot.tensors.values()) t.dispose();
    this.slots.clear();
    await this.step_.release();
    await this.controller?.release();
  }
}

interface MlpGroup {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
}

interface LstmGroup {
  lr: number;
  betas: [number, number];
  eps: number;
  k: number;
  scale: number;
}
