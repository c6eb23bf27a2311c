/**
 * Twin run of a learned optimizer: one copy steps in TypeScript (`@opt/learned`), the other through
 * `LearnedOptimizerRunner` on a given backend and device; returns the largest differences. Browser-safe (the
 * backend is an argument): jest (CPU), the WebGPU child process (lavapipe) and the Chromium page
 * (onnxruntime-web) share this one definition. Relative imports carry `.js` for the page's static server.
 */
import {
  LSTMLearnedOptimizer,
  MLPLearnedOptimizer,
  TransformerLearnedOptimizer,
  mlpLearnedOptimizerFactory,
  mlpMetaParamCount,
  resolveMLPConfig,
} from '@opt/learned';
import { Parameter, Rng } from '@opt/tensor';
import type { DeviceKind } from '../../src/backends/errors.js';
import type { Backend } from '../../src/backends/runner.js';
import { LearnedOptimizerRunner, type RunnableLearnedOptimizer } from '../../src/learned/runner.js';
import type { LstmCellOp } from '../../src/learned/networks.js';

/** Which optimizer the twin run uses. */
export type LearnedCase = 'mlp' | 'mlp-v3' | 'mlp-tensor' | 'mlp-depth' | 'mlp-gate' | 'mlp-fanin' | 'lstm-pure' | 'lstm-adam' | 'transformer';

/** Arguments of {@link run}. */
export interface LearnedTwinArgs {
  case: LearnedCase;
  device: DeviceKind;
  steps?: number;
  lstmCell?: LstmCellOp;
  sizes?: number[];
}

/** What {@link run} measures. */
export interface LearnedTwinResult {
  device: string;
  /** max |p_onnx − p_ts| over all steps and elements. */
  maxParamError: number;
  /** max over elements of |Δp_onnx − Δp_ts| / max |Δp_ts| of the same step (the update's relative error). */
  maxUpdateRelError: number;
  /** max |s_onnx − s_ts| / max(|s_ts|, tiny) per state buffer, after syncState(). */
  maxStateRelError: number;
  /** Step counters agree. */
  stepsAgree: boolean;
  /** Mean absolute update of the last step (shows the test is not vacuous). */
  meanUpdate: number;
}

function make(kind: LearnedCase, params: Parameter[]): RunnableLearnedOptimizer {
  switch (kind) {
    case 'mlp':
      return new MLPLearnedOptimizer(params, { weights: 'mlp-hybrid-v1', lr: 1e-2 });
    case 'mlp-v3':
      return new MLPLearnedOptimizer(params, { weights: 'mlp-hybrid-v3' });
    case 'mlp-depth': {
      // A learned depth exponent γ = −0.7: the runner must apply the optimizer's lrScale() to the graph's step sizes.
      const factory = mlpLearnedOptimizerFactory({ depthExponent: true, lr: 1e-2 });
      const rng = new Rng(6);
      const meta = Float64Array.from({ length: factory.metaParamCount }, () => rng.normal(0, 0.3));
      meta[meta.length - 1] = -0.7;
      return factory.create(params, meta);
    }
    case 'mlp-gate': {
      // The direction gated by the tensor's Adam-step RMS, on top of a depth exponent: every meta-parameter non-zero.
      const factory = mlpLearnedOptimizerFactory({ depthExponent: true, gateDirection: true, lr: 1e-2 });
      const rng = new Rng(7);
      const meta = Float64Array.from({ length: factory.metaParamCount }, () => rng.normal(0, 0.3));
      meta[meta.length - 1] = -0.5;
      return factory.create(params, meta);
    }
    case 'mlp-fanin': {
      // Depth and fan-in exponents on weight matrices of fan-in 64 (scaled by (64/32)^η) and 16 (not): the runner
      // must apply each parameter's own lrScale(p).
      const factory = mlpLearnedOptimizerFactory({ depthExponent: true, gateDirection: true, fanInExponent: true, lr: 1e-2 });
      const rng = new Rng(8);
      const meta = Float64Array.from({ length: factory.metaParamCount }, () => rng.normal(0, 0.3));
      meta[meta.length - 2] = -0.5;
      meta[meta.length - 1] = -1.2;
      return factory.create(params, meta);
    }
    case 'mlp-tensor': {
      // The tensor signal-to-noise features and a direction bound that binds: every meta-parameter non-zero.
      const config = { tensorFeatures: true, maxDirection: 0.05, timeScales: [3, 10, 30, 100] };
      const count = mlpMetaParamCount(resolveMLPConfig(config));
      const rng = new Rng(5);
      const meta = Float64Array.from({ length: count }, () => rng.normal(0, 0.3));
      return new MLPLearnedOptimizer(params, { weights: meta, config, lr: 1e-2 });
    }
    case 'lstm-pure':
      return new LSTMLearnedOptimizer(params, { weights: 'lstm-l2l-v1' });
    case 'lstm-adam': {
      // A trained-looking correction: the pure weights' LSTM are not for 3 inputs, so draw a non-zero head.
      const opt = new LSTMLearnedOptimizer(params, { mode: 'adam-correction', lr: 1e-2 });
      const rng = new Rng(3);
      const L = opt.layout;
      for (let i = L.wo; i <= L.bo; i++) opt.metaParams[i] = rng.normal(0, 0.3);
      return opt;
    }
    case 'transformer':
      return new TransformerLearnedOptimizer(params, { weights: 'transformer-ctrl-v1', lr: 1e-2 });
  }
}

/** A fixed smooth loss with per-tensor scales, so the features and the controller's tokens differ by tensor. */
function gradients(params: Parameter[], step: number): number {
  let loss = 0;
  params.forEach((p, k) => {
    const scale = 10 ** (k - 1);
    const g = new Float32Array(p.size);
    for (let i = 0; i < p.size; i++) {
      const target = Math.sin(0.37 * i + k);
      const d = p.data[i]! - target;
      g[i] = scale * (d + 0.05 * Math.cos(0.11 * i * (step + 1)));
      loss += 0.5 * scale * d * d;
    }
    p.grad = g;
  });
  return loss;
}

/** Run the twin comparison on `backend`. */
export async function runTwin(backend: Backend, args: LearnedTwinArgs): Promise<LearnedTwinResult> {
  const sizes = args.sizes ?? (args.case === 'mlp-fanin' ? [320, 48, 32, 9] : [257, 64, 9]);
  const rng = new Rng(11);
  const init = sizes.map((n) => {
    const a = new Float32Array(n);
    rng.fillNormal(a, 0, 1);
    return a;
  });
  // Weight matrices [out, in] where the fan-in matters, vectors otherwise.
  const shapeOf = (n: number): number[] => (args.case === 'mlp-fanin' && n % 64 === 0 ? [n / 64, 64] : args.case === 'mlp-fanin' && n % 16 === 0 ? [n / 16, 16] : [n]);
  const tsParams = init.map((a, k) => new Parameter(Float32Array.from(a), shapeOf(a.length), `p${k}`));
  const oxParams = init.map((a, k) => new Parameter(Float32Array.from(a), shapeOf(a.length), `p${k}`));
  const tsOpt = make(args.case, tsParams);
  const oxOpt = make(args.case, oxParams);
  const runner = await LearnedOptimizerRunner.create(oxOpt, {
    backend,
    devices: [args.device],
    ...(args.lstmCell === undefined ? {} : { lstmCell: args.lstmCell }),
  });
  let maxParamError = 0;
  let maxUpdateRelError = 0;
  let meanUpdate = 0;
  const steps = args.steps ?? 10;
  for (let t = 0; t < steps; t++) {
    const before = tsParams.map((p) => Float64Array.from(p.data));
    tsOpt.step(() => gradients(tsParams, t));
    await runner.step(() => gradients(oxParams, t));
    let maxUpdate = 0;
    let sumUpdate = 0;
    let count = 0;
    tsParams.forEach((p, k) => {
      for (let i = 0; i < p.size; i++) {
        const u = Math.abs(p.data[i]! - before[k]![i]!);
        maxUpdate = Math.max(maxUpdate, u);
        sumUpdate += u;
        count++;
      }
    });
    meanUpdate = sumUpdate / count;
    tsParams.forEach((p, k) => {
      const q = oxParams[k]!;
      for (let i = 0; i < p.size; i++) {
        const e = Math.abs(p.data[i]! - q.data[i]!);
        maxParamError = Math.max(maxParamError, e);
        const du = Math.abs(p.data[i]! - before[k]![i]! - (q.data[i]! - before[k]![i]!));
        maxUpdateRelError = Math.max(maxUpdateRelError, du / maxUpdate);
      }
    });
  }
  await runner.syncState();
  let maxStateRelError = 0;
  let stepsAgree = true;
  tsParams.forEach((p, k) => {
    const a = tsOpt.state.get(p) as unknown as Record<string, unknown>;
    const b = oxOpt.state.get(oxParams[k]!) as unknown as Record<string, unknown>;
    if (a['step'] !== b['step']) stepsAgree = false;
    for (const key of Object.keys(a)) {
      const x = a[key];
      const y = b[key];
      if (!(x instanceof Float32Array || x instanceof Float64Array)) continue;
      const yy = y as Float32Array | Float64Array;
      let scale = 1e-30;
      let worst = 0;
      for (let i = 0; i < x.length; i++) {
        scale = Math.max(scale, Math.abs(x[i]!));
        worst = Math.max(worst, Math.abs(x[i]! - yy[i]!));
      }
      maxStateRelError = Math.max(maxStateRelError, worst / scale);
    }
  });
  const device = runner.device;
  await runner.release();
  return { device, maxParamError, maxUpdateRelError, maxStateRelError, stepsAgree, meanUpdate };
}
