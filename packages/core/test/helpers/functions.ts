/**
 * Test objectives with analytic derivatives: the n-dimensional Rosenbrock
 * function (value, gradient, dense Hessian, Hessian-vector product, and its
 * least-squares residual form) and quadratics ½xᵀAx − bᵀx. Everything works on
 * flat arrays; `closureFor` adapts an objective to an optimizer closure over
 * parameters.
 */
import type { FloatArray, Parameter } from '@opt/tensor';

/**
 * f(x) = Σ_{i=0}^{n−2} b·(x[i+1] − x[i]²)² + (a − x[i])²  (PyTorch fixture convention, FORMAT.md §5).
 */
export function rosenbrock(x: ArrayLike<number>, a = 1, b = 100): number {
  let f = 0;
  for (let i = 0; i < x.length - 1; i++) {
    const xi = x[i]!;
    const u = x[i + 1]! - xi * xi;
    f += b * u * u + (a - xi) * (a - xi);
  }
  return f;
}

/** ∇f of {@link rosenbrock}, written into `out`. */
export function rosenbrockGrad(x: ArrayLike<number>, out: { [i: number]: number; length: number }, a = 1, b = 100): void {
  const n = x.length;
  for (let i = 0; i < n; i++) out[i] = 0;
  for (let i = 0; i < n - 1; i++) {
    const xi = x[i]!;
    const u = x[i + 1]! - xi * xi;
    out[i] = out[i]! - 4 * b * xi * u - 2 * (a - xi);
    out[i + 1] = out[i + 1]! + 2 * b * u;
  }
}

/** ∇²f of {@link rosenbrock}: dense n×n row-major (tridiagonal). */
export function rosenbrockHessian(x: ArrayLike<number>, out: Float64Array = new Float64Array(x.length * x.length), b = 100): Float64Array {
  const n = x.length;
  out.fill(0);
  for (let i = 0; i < n - 1; i++) {
    const xi = x[i]!;
    const xj = x[i + 1]!;
    out[i * n + i] = out[i * n + i]! + 12 * b * xi * xi - 4 * b * xj + 2;
    out[i * n + i + 1] = out[i * n + i + 1]! - 4 * b * xi;
    out[(i + 1) * n + i] = out[(i + 1) * n + i]! - 4 * b * xi;
    out[(i + 1) * n + i + 1] = out[(i + 1) * n + i + 1]! + 2 * b;
  }
  return out;
}

/** ∇²f(x)·v of {@link rosenbrock}, without forming the Hessian. */
export function rosenbrockHvp(x: ArrayLike<number>, v: ArrayLike<number>, out: Float64Array, b = 100): void {
  const n = x.length;
  out.fill(0);
  for (let i = 0; i < n - 1; i++) {
    const xi = x[i]!;
    const xj = x[i + 1]!;
    const hii = 12 * b * xi * xi - 4 * b * xj + 2;
    const hij = -4 * b * xi;
    out[i] = out[i]! + hii * v[i]! + hij * v[i + 1]!;
    out[i + 1] = out[i + 1]! + hij * v[i]! + 2 * b * v[i + 1]!;
  }
}

/**
 * Rosenbrock as least squares, f = Σ r_k² with r = (√b·(x[i+1] − x[i]²), a − x[i]) per i:
 * 2(n−1) residuals. (½‖r‖² is then f/2; its minimiser is the same.)
 */
export function rosenbrockResiduals(x: ArrayLike<number>, out: Float64Array, a = 1, b = 100): void {
  const sb = Math.sqrt(b);
  for (let i = 0; i < x.length - 1; i++) {
    out[2 * i] = sb * (x[i + 1]! - x[i]! * x[i]!);
    out[2 * i + 1] = a - x[i]!;
  }
}

/** Jacobian of {@link rosenbrockResiduals}: 2(n−1)×n row-major. */
export function rosenbrockJacobian(x: ArrayLike<number>, out: Float64Array, b = 100): void {
  const n = x.length;
  const sb = Math.sqrt(b);
  out.fill(0);
  for (let i = 0; i < n - 1; i++) {
    out[2 * i * n + i] = -2 * sb * x[i]!;
    out[2 * i * n + i + 1] = sb;
    out[(2 * i + 1) * n + i] = -1;
  }
}

/** A quadratic ½xᵀAx − bᵀx with A symmetric (n×n row-major). */
export interface Quadratic {
  n: number;
  A: Float64Array;
  b: Float64Array;
}

/** ½xᵀAx − bᵀx. */
export function quadraticValue(q: Quadratic, x: ArrayLike<number>): number {
  let f = 0;
  for (let i = 0; i < q.n; i++) {
    let ax = 0;
    for (let j = 0; j < q.n; j++) ax += q.A[i * q.n + j]! * x[j]!;
    f += 0.5 * x[i]! * ax - q.b[i]! * x[i]!;
  }
  return f;
}

/** Ax − b, written into `out`. */
export function quadraticGrad(q: Quadratic, x: ArrayLike<number>, out: { [i: number]: number; length: number }): void {
  for (let i = 0; i < q.n; i++) {
    let ax = 0;
    for (let j = 0; j < q.n; j++) ax += q.A[i * q.n + j]! * x[j]!;
    out[i] = ax - q.b[i]!;
  }
}

/**
 * A reproducible symmetric positive definite quadratic: A = MᵀM + n·I with M
 * from a small linear congruential generator, b likewise.
 */
export function randomQuadratic(n: number, seed = 1): Quadratic {
  const rand = lcg(seed);
  const m = new Float64Array(n * n);
  for (let i = 0; i < m.length; i++) m[i] = rand() * 2 - 1;
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = i === j ? n : 0;
      for (let k = 0; k < n; k++) s += m[k * n + i]! * m[k * n + j]!;
      A[i * n + j] = s;
    }
  }
  const b = new Float64Array(n);
  for (let i = 0; i < n; i++) b[i] = rand() * 4 - 2;
  return { n, A, b };
}

/** A deterministic uniform [0, 1) generator (Park–Miller minimal standard). */
export function lcg(seed: number): () => number {
  let state = seed % 2147483647;
  if (state <= 0) state += 2147483646;
  return () => {
    state = (state * 16807) % 2147483647;
    return (state - 1) / 2147483646;
  };
}

/** The parameters' values concatenated into one Float64Array. */
export function flatValues(params: readonly Parameter[]): Float64Array {
  const total = params.reduce((n, p) => n + p.size, 0);
  const out = new Float64Array(total);
  let offset = 0;
  for (const p of params) {
    out.set(p.data, offset);
    offset += p.size;
  }
  return out;
}

/**
 * An optimizer closure for an objective over the concatenated parameters:
 * evaluates `value(x)`, writes `grad(x)` into the parameters' gradients.
 */
export function closureFor(
  params: readonly Parameter[],
  value: (x: Float64Array) => number,
  grad: (x: Float64Array, out: Float64Array) => void,
): () => number {
  const total = params.reduce((n, p) => n + p.size, 0);
  const g = new Float64Array(total);
  return () => {
    const x = flatValues(params);
    grad(x, g);
    let offset = 0;
    for (const p of params) {
      const pg: FloatArray = p.grad ?? (p.grad = p.dtype === 'float64' ? new Float64Array(p.size) : new Float32Array(p.size));
      pg.set(g.subarray(offset, offset + p.size));
      offset += p.size;
    }
    return value(x);
  };
}
