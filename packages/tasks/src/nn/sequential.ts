import { type DType, type FloatArray, InvalidOptionError, type Parameter, Rng, dtypeOf } from '@opt/tensor';
import { checkInteger, checkOneOf } from '@opt/core';
import { GELU, ReLU, Sigmoid, Tanh } from './activations.js';
import { Dense, type DenseOptions } from './dense.js';
import type { InitScheme } from './init.js';
import { type Layer, UnsupportedOperationError, emptyLike, requireForward, zeroGrads } from './layer.js';

/**
 * A chain of layers applied in order, PyTorch's `nn.Sequential`: forward runs
 * `layers[0]` to the last, backward runs them in reverse, passing each layer's
 * input gradient to the layer before. Parameters are named by position as
 * PyTorch names them (`0.weight`, `0.bias`, `2.weight`, …; parameter-free layers
 * keep their index). A Sequential is itself a {@link Layer}, so it nests.
 *
 * @example
 * ```ts
 * import { Adam } from '@opt/core';
 * import { Dense, ReLU, Sequential, softmaxCrossEntropy } from '@opt/tasks';
 * const net = new Sequential([new Dense(4, 16, { seed: 1 }), new ReLU(), new Dense(16, 3, { seed: 2 })]);
 * const opt = new Adam(net.namedParameters(), { lr: 1e-2 });
 * const x = new Float64Array(8 * 4), labels = new Int32Array(8), g = new Float64Array(8 * 3);
 * net.zeroGrad();
 * const loss = softmaxCrossEntropy(net.forward(x, 8), labels, 8, 3, g);
 * net.backward(g);
 * opt.step();
 * ```
 */
export class Sequential implements Layer {
  /** The layers, in forward order. */
  readonly layers: readonly Layer[];
  /** Every layer's parameters, concatenated in layer order. */
  readonly parameters: readonly Parameter[];
  /** True when every layer supports closed-form per-example gradient norms. */
  readonly exactNorms: boolean;
  /** Index into {@link Sequential.parameters} of each layer's first parameter. */
  private readonly offsets: Int32Array;
  private input: FloatArray | null = null;

  /** @param layers - the layers, in forward order (at least one). */
  constructor(layers: readonly Layer[]) {
    if (!Array.isArray(layers) || layers.length === 0) {
      throw new InvalidOptionError('layers', layers, 'a non-empty array of layers', 'Sequential');
    }
    this.layers = Object.freeze([...layers]);
    const params: Parameter[] = [];
    this.offsets = new Int32Array(layers.length);
    layers.forEach((layer, i) => {
      this.offsets[i] = params.length;
      params.push(...layer.parameters);
    });
    if (new Set(params).size !== params.length) {
      throw new InvalidOptionError('layers', 'a shared parameter', 'layers that do not share parameters', 'Sequential');
    }
    this.parameters = Object.freeze(params);
    this.exactNorms = layers.every((l) => l.exactNorms);
  }

  namedParameters(prefix = ''): Array<[string, Parameter]> {
    const named: Array<[string, Parameter]> = [];
    this.layers.forEach((layer, i) => named.push(...layer.namedParameters(`${prefix}${i}.`)));
    return named;
  }

  forward(x: FloatArray, batchSize: number): FloatArray {
    checkInteger('Sequential', 'batchSize', batchSize, 1);
    let h = x;
    const layers = this.layers;
    for (let i = 0; i < layers.length; i++) h = layers[i]!.forward(h, batchSize);
    this.input = x;
    return h;
  }

  backward(gradY: FloatArray, needInputGrad = true): FloatArray {
    const x = requireForward('Sequential', this.input);
    let g = gradY;
    const layers = this.layers;
    for (let i = layers.length - 1; i >= 0; i--) g = layers[i]!.backward(g, i > 0 || needInputGrad);
    return needInputGrad ? g : emptyLike(dtypeOf(x));
  }

  backwardPerExample(gradY: FloatArray, out: readonly FloatArray[], offset = 0, needInputGrad = false): FloatArray {
    const x = requireForward('Sequential', this.input);
    if (out.length < offset + this.parameters.length) {
      throw new InvalidOptionError('out', `${out.length} arrays`, `one array per parameter (${this.parameters.length})`, 'Sequential');
    }
    let g = gradY;
    const layers = this.layers;
    for (let i = layers.length - 1; i >= 0; i--) {
      g = layers[i]!.backwardPerExample(g, out, offset + this.offsets[i]!, i > 0 || needInputGrad);
    }
    return needInputGrad ? g : emptyLike(dtypeOf(x));
  }

  backwardSquaredNorms(gradY: FloatArray, out: Float64Array, needInputGrad = false): FloatArray {
    const x = requireForward('Sequential', this.input);
    this.assertExactNorms();
    let g = gradY;
    const layers = this.layers;
    for (let i = layers.length - 1; i >= 0; i--) g = layers[i]!.backwardSquaredNorms(g, out, i > 0 || needInputGrad);
    return needInputGrad ? g : emptyLike(dtypeOf(x));
  }

  /** Throw an {@link UnsupportedOperationError} unless every layer has closed-form per-example norms. */
  assertExactNorms(): void {
    if (this.exactNorms) return;
    const names = this.layers.filter((l) => !l.exactNorms).map((l) => l.constructor.name);
    throw new UnsupportedOperationError(
      `Sequential: per-example gradient norms without materialising the gradients need Dense-only models (with element-wise ` +
        `activations); unsupported layer(s): ${names.join(', ')}. Use perExampleGrads instead.`,
    );
  }

  zeroGrad(): void {
    zeroGrads(this.parameters);
  }
}

/** Activation of the hidden layers of {@link mlp}. */
export type Activation = 'relu' | 'tanh' | 'gelu' | 'sigmoid';

/** Options of {@link mlp}. */
export interface MLPOptions {
  /** Layer widths `[in, hidden₁, …, out]` (at least two entries). */
  sizes: readonly number[];
  /** Hidden activation. Default `'relu'`. */
  activation?: Activation;
  /** Parameter dtype. Default `'float64'`. */
  dtype?: DType;
  /** Seed of the initialisation (one generator, layers drawn in order). Default 0. */
  seed?: number;
  /** A generator to draw from instead of `seed`. */
  rng?: Rng;
  /** Initialisation of every Dense layer. Default `'kaiming-uniform'` (PyTorch's). */
  init?: InitScheme;
  /** Learn biases. Default true. */
  bias?: boolean;
}

/** A fresh activation layer by name. */
export function activationLayer(activation: Activation): Layer {
  switch (checkOneOf<Activation>('mlp', 'activation', activation, ['relu', 'tanh', 'gelu', 'sigmoid'])) {
    case 'relu':
      return new ReLU();
    case 'tanh':
      return new Tanh();
    case 'gelu':
      return new GELU();
    case 'sigmoid':
      return new Sigmoid();
  }
}

/**
 * A multi-layer perceptron: `Dense(sizes[0], sizes[1])`, activation, …,
 * `Dense(sizes[L−1], sizes[L])` (no activation after the last layer), as
 * `nn.Sequential(nn.Linear, nn.ReLU, …, nn.Linear)`, so parameters are named
 * `0.weight`, `0.bias`, `2.weight`, …. All layers draw from one seeded generator, in order.
 *
 * @example
 * ```ts
 * import { mlp } from '@opt/tasks';
 * const net = mlp({ sizes: [784, 128, 10], activation: 'gelu', dtype: 'float32', seed: 42 });
 * net.namedParameters().map(([name]) => name); // ['0.weight', '0.bias', '2.weight', '2.bias']
 * ```
 */
export function mlp(options: MLPOptions): Sequential {
  const { sizes } = options;
  if (!Array.isArray(sizes) || sizes.length < 2) {
    throw new InvalidOptionError('sizes', sizes, 'an array [in, ..., out] of at least two layer widths', 'mlp');
  }
  sizes.forEach((s, i) => checkInteger('mlp', `sizes[${i}]`, s, 1));
  const activation = checkOneOf<Activation>('mlp', 'activation', options.activation ?? 'relu', ['relu', 'tanh', 'gelu', 'sigmoid']);
  const rng = options.rng ?? new Rng(options.seed ?? 0);
  const layers: Layer[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    const dense: DenseOptions = { dtype: options.dtype ?? 'float64', rng, prefix: `${layers.length}.` };
    if (options.init !== undefined) dense.init = options.init;
    if (options.bias !== undefined) dense.bias = options.bias;
    layers.push(new Dense(sizes[i]!, sizes[i + 1]!, dense));
    if (i + 2 < sizes.length) layers.push(activationLayer(activation));
  }
  return new Sequential(layers);
}
