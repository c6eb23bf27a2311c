import { InvalidOptionError } from '@opt/tensor';
import { ALGORITHMS, type StepAlgorithm, type StepFlags } from './algorithms.js';
import { type FloatType, StepBuilder } from './step-builder.js';

/** Element types a gradient may be uploaded in. */
export type GradType = 'float32' | 'float64' | 'float16';

/** Low-precision parameter copies a mixed-precision graph can emit. */
export type LowPrecisionType = 'float16' | 'bfloat16';

/** What a step graph is built for: the algorithm, the types and the static option flags. */
export interface StepGraphOptions {
  /** The update rule. */
  algorithm: StepAlgorithm;
  /** Storage type of the parameter and its state (the float32 master weights in mixed precision). */
  dtype: FloatType;
  /**
   * Type the arithmetic runs in (default `dtype`). `'float64'` over float32
   * storage reproduces `@opt/core`'s JS kernels bit for bit (they compute in
   * JS doubles and round on store); WebGPU has no float64, so use `'float32'` there.
   */
  compute?: FloatType;
  /** Type of the uploaded gradient (default `dtype`); float16 gradients are widened in the graph. */
  gradType?: GradType;
  /**
   * Also output the updated parameter rounded to this type as `param_low`:
   * float16 as float16 values, bfloat16 as the float32 values bfloat16 can
   * hold (onnxruntime's JavaScript API has no bfloat16 tensors; the host takes their top 16 bits).
   */
  lowPrecision?: LowPrecisionType;
  /** Multiply the gradient by the runtime scalar `inv_scale` first (dynamic loss scaling). */
  lossScale?: boolean;
  /** Static option flags (missing ones are false). */
  flags?: Partial<StepFlags>;
}

/** A built step graph and the names of its inputs and outputs. */
export interface StepGraph {
  /** Identifies the (algorithm, types, flags) combination: one session per key. */
  readonly key: string;
  readonly algorithm: StepAlgorithm;
  readonly dtype: FloatType;
  readonly compute: FloatType;
  readonly gradType: GradType;
  readonly lowPrecision: LowPrecisionType | null;
  readonly lossScale: boolean;
  readonly flags: Readonly<StepFlags>;
  /** The ONNX model (opset 17, IR 8). */
  readonly model: Uint8Array;
  /** Tensor state keys; each is also the name of its input, and `<key>_out` of its output. */
  readonly stateKeys: readonly string[];
  /** The runtime scalars, in the order of the `hyper` input (`inv_scale` last when `lossScale`). */
  readonly hyperNames: readonly string[];
}

/** Resolve every flag to a boolean. */
export function fullFlags(flags: Partial<StepFlags> = {}): StepFlags {
  return {
    maximize: flags.maximize === true,
    weightDecay: flags.weightDecay === true,
    amsgrad: flags.amsgrad === true,
    momentum: flags.momentum === true,
    nesterov: flags.nesterov === true,
    centered: flags.centered === true,
  };
}

/** The session key of a graph configuration. */
export function stepGraphKey(options: StepGraphOptions): string {
  const f = fullFlags(options.flags);
  const bits = (Object.keys(f) as Array<keyof StepFlags>).filter((k) => f[k]).join('+');
  return [
    options.algorithm,
    options.dtype,
    options.compute ?? options.dtype,
    options.gradType ?? options.dtype,
    options.lowPrecision ?? '-',
    options.lossScale === true ? 'scaled' : '-',
    bits === '' ? 'plain' : bits,
  ].join('|');
}

/**
 * Build the ONNX step graph of one update rule.
 *
 * Inputs: `param` and `grad` (`[n]`), one `[n]` input per state key, and
 * `hyper` (`[k]`, the compute type), the runtime scalars that the host
 * computes in float64 as `@opt/core` does (`ALGORITHMS[a].hyper`). Outputs:
 * `param_out`, `<key>_out` per state key and `param_low` with `lowPrecision`.
 * One graph serves every parameter size (`n` is symbolic) and every step:
 * schedulers change only `hyper`.
 *
 * @example
 * ```ts
 * const graph = buildStepGraph({ algorithm: 'adam', dtype: 'float32', flags: { amsgrad: true } });
 * graph.stateKeys; // ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq']
 * ```
 */
export function buildStepGraph(options: StepGraphOptions): StepGraph {
  const def = ALGORITHMS[options.algorithm];
  if (def === undefined) {
    throw new InvalidOptionError('algorithm', options.algorithm, Object.keys(ALGORITHMS).join(', '), 'buildStepGraph');
  }
  const dtype = options.dtype;
  const compute = options.compute ?? dtype;
  const gradType = options.gradType ?? dtype;
  if (dtype === 'float64' && compute === 'float32') {
    throw new InvalidOptionError('compute', compute, "'float64' for float64 parameters", 'buildStepGraph');
  }
  const flags = fullFlags(options.flags);
  const s = new StepBuilder(`${options.algorithm}_step`, dtype, compute);
  const p = s.vectorInput('param', dtype);
  let g = s.vectorInput('grad', gradType);
  const stateKeys = def.stateKeys(flags);
  const state: Record<string, string> = {};
  for (const key of stateKeys) state[key] = s.vectorInput(key, dtype);
  const hyperNames = [...def.hyperNames(flags), ...(options.lossScale === true ? ['inv_scale'] : [])];
  s.g.input('hyper', compute, [hyperNames.length]);
  const h: Record<string, string> = {};
  hyperNames.forEach((name, i) => {
    const index = s.g.initializer(`hyper_index_${name}`, 'int64', [], [i]);
    h[name] = s.g.op('Gather', ['hyper', index], { axis: 0 }, `h_${name}`);
  });
  if (options.lossScale === true) g = s.mul(g, h.inv_scale!);
  def.build(s, flags, p, g, state, h);
  const lowPrecision = options.lowPrecision ?? null;
  if (lowPrecision !== null) {
    // `param_out` exists in the storage type; derive the low-precision copy from it.
    const stored = s.cast('param_out', dtype, lowPrecision);
    if (lowPrecision === 'float16') s.extraOutput(stored, 'param_low', 'float16');
    else s.extraOutput(s.cast(stored, 'bfloat16', 'float32'), 'param_low', 'float32');
  }
  return {
    key: stepGraphKey(options),
    algorithm: options.algorithm,
    dtype,
    compute,
    gradType,
    lowPrecision,
    lossScale: options.lossScale === true,
    flags,
    model: s.finish(),
    stateKeys,
    hyperNames,
  };
}
