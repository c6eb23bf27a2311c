import { type FloatArray, type Parameter, Rng } from '@opt/tensor';
import type { Layer } from '../../src/nn/layer';

/** Normal random float64 values. */
export function randn(n: number, seed: number, std = 1): Float64Array {
  return new Rng(seed).fillNormal(new Float64Array(n), 0, std);
}

/** The largest |a − b| over max(1e-12, ‖b‖∞): the normwise relative error. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 1e-12;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

/**
 * Central finite differences of `f` with respect to every element of `data`
 * (step `h`), restoring each element afterwards.
 */
export function numericGrad(data: FloatArray, f: () => number, h = 1e-6): Float64Array {
  const out = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    data[i] = x + h;
    const up = f();
    data[i] = x - h;
    const down = f();
    data[i] = x;
    out[i] = (up - down) / (2 * h);
  }
  return out;
}

/**
 * Check a layer's backward pass against central differences of the scalar
 * `L(x, θ) = Σ r ⊙ layer(x)` (r fixed random weights, so ∂L/∂y = r): the input
 * gradient and every parameter gradient. Returns the worst relative error.
 */
export function layerGradientError(layer: Layer, x: Float64Array, batchSize: number, seed = 99): number {
  const y0 = layer.forward(x, batchSize);
  const r = randn(y0.length, seed);
  const scalar = (): number => {
    const y = layer.forward(x, batchSize);
    let s = 0;
    for (let k = 0; k < y.length; k++) s += r[k]! * y[k]!;
    return s;
  };
  layer.zeroGrad();
  for (const p of layer.parameters) p.ensureGrad().fill(0);
  layer.forward(x, batchSize);
  const gx = Float64Array.from(layer.backward(r));
  const analytic = layer.parameters.map((p: Parameter) => Float64Array.from(p.grad!));
  let worst = relErr(gx, numericGrad(x, scalar));
  layer.parameters.forEach((p, k) => {
    worst = Math.max(worst, relErr(analytic[k]!, numericGrad(p.data, scalar)));
  });
  return worst;
}
