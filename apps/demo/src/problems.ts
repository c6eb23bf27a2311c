/**
 * The classic test problems of the demo, each with an analytic gradient and a
 * known minimum value `fStar`, so "steps to tolerance" means f(x) − f* ≤ tol.
 */

export interface Problem {
  readonly name: string;
  readonly description: string;
  readonly dim: number;
  /** Starting point (a fresh copy each call). */
  init(): Float64Array;
  /** f(x); writes ∇f(x) into `grad` when given. */
  evaluate(x: Float64Array, grad?: Float64Array): number;
  /** The minimum value. */
  readonly fStar: number;
  /** Least-squares form r(x) with Jacobian, where the problem has one (for Levenberg–Marquardt). */
  readonly residuals?: { count: number; r(x: Float64Array, out: Float64Array): void; jacobian(x: Float64Array, out: Float64Array): void };
  /** Dense Hessian (row-major), for Newton's method. */
  hessian?(x: Float64Array, out: Float64Array): void;
}

/** Rosenbrock's banana, f(x, y) = (1 − x)² + 100 (y − x²)², from the classic start (−1.2, 1). */
export const rosenbrock: Problem = {
  name: 'rosenbrock',
  description: "Rosenbrock's valley from (-1.2, 1); f* = 0 at (1, 1)",
  dim: 2,
  fStar: 0,
  init: () => new Float64Array([-1.2, 1]),
  evaluate(x, grad) {
    const [a, b] = [x[0]!, x[1]!];
    const t = b - a * a;
    if (grad) {
      grad[0] = -2 * (1 - a) - 400 * a * t;
      grad[1] = 200 * t;
    }
    return (1 - a) ** 2 + 100 * t * t;
  },
  residuals: {
    count: 2,
    // f = r0² + r1² with r0 = 1 − x, r1 = 10 (y − x²)
    r(x, out) {
      out[0] = 1 - x[0]!;
      out[1] = 10 * (x[1]! - x[0]! * x[0]!);
    },
    jacobian(x, out) {
      out[0] = -1;
      out[1] = 0;
      out[2] = -20 * x[0]!;
      out[3] = 10;
    },
  },
  hessian(x, out) {
    const [a, b] = [x[0]!, x[1]!];
    out[0] = 2 - 400 * (b - 3 * a * a);
    out[1] = -400 * a;
    out[2] = -400 * a;
    out[3] = 200;
  },
};

/** Beale's function, f* = 0 at (3, 0.5), from (1, 1). */
export const beale: Problem = {
  name: 'beale',
  description: "Beale's function from (1, 1); f* = 0 at (3, 0.5)",
  dim: 2,
  fStar: 0,
  init: () => new Float64Array([1, 1]),
  evaluate(x, grad) {
    const [a, b] = [x[0]!, x[1]!];
    const t1 = 1.5 - a + a * b;
    const t2 = 2.25 - a + a * b * b;
    const t3 = 2.625 - a + a * b * b * b;
    if (grad) {
      grad[0] = 2 * t1 * (b - 1) + 2 * t2 * (b * b - 1) + 2 * t3 * (b * b * b - 1);
      grad[1] = 2 * t1 * a + 2 * t2 * 2 * a * b + 2 * t3 * 3 * a * b * b;
    }
    return t1 * t1 + t2 * t2 + t3 * t3;
  },
  hessian(x, out) {
    const [a, b] = [x[0]!, x[1]!];
    const t1 = 1.5 - a + a * b;
    const t2 = 2.25 - a + a * b * b;
    const t3 = 2.625 - a + a * b * b * b;
    const [d1a, d2a, d3a] = [b - 1, b * b - 1, b * b * b - 1];
    const [d1b, d2b, d3b] = [a, 2 * a * b, 3 * a * b * b];
    out[0] = 2 * (d1a * d1a + d2a * d2a + d3a * d3a);
    out[1] = out[2] = 2 * (d1a * d1b + t1 + d2a * d2b + t2 * 2 * b + d3a * d3b + t3 * 3 * b * b);
    out[3] = 2 * (d1b * d1b + d2b * d2b + t2 * 2 * a + d3b * d3b + t3 * 6 * a * b);
  },
};

/**
 * f(x) = ½ (x − x*)ᵀ diag(λ) (x − x*) with eigenvalues log-spaced over [1/κ, 1]:
 * the condition number κ is what makes first-order methods slow.
 */
export function illConditionedQuadratic(dim = 20, condition = 1e3): Problem {
  const lambda = new Float64Array(dim);
  const target = new Float64Array(dim);
  for (let i = 0; i < dim; i++) {
    lambda[i] = condition ** (-i / (dim - 1));
    target[i] = ((i % 5) - 2) / 2;
  }
  return {
    name: 'quadratic',
    description: `quadratic in ${dim} dimensions, condition number ${condition.toExponential(0)}; f* = 0`,
    dim,
    fStar: 0,
    init: () => new Float64Array(dim).fill(3),
    evaluate(x, grad) {
      let f = 0;
      for (let i = 0; i < dim; i++) {
        const d = x[i]! - target[i]!;
        f += 0.5 * lambda[i]! * d * d;
        if (grad) grad[i] = lambda[i]! * d;
      }
      return f;
    },
    hessian(_x, out) {
      out.fill(0);
      for (let i = 0; i < dim; i++) out[i * dim + i] = lambda[i]!;
    },
  };
}

/**
 * L2-regularised logistic regression on generated, linearly inseparable data:
 * f(w, b) = mean log(1 + exp(−y (w·x + b))) + (λ/2)‖w‖². f* is computed by the
 * caller with Newton's method (see main.ts), since it has no closed form.
 */
export function logisticRegression(samples: number[][], labels: number[], l2 = 1e-2): Problem {
  const n = samples.length;
  const d = samples[0]!.length;
  const dim = d + 1;
  const margin = (x: Float64Array, i: number): number => {
    const row = samples[i]!;
    let z = x[d]!;
    for (let j = 0; j < d; j++) z += x[j]! * row[j]!;
    return labels[i]! * z;
  };
  return {
    name: 'logistic',
    description: `logistic regression, ${n} generated samples, ${d} features, L2 ${l2}`,
    dim,
    fStar: NaN,
    init: () => new Float64Array(dim),
    evaluate(x, grad) {
      let f = 0;
      if (grad) grad.fill(0);
      for (let i = 0; i < n; i++) {
        const m = margin(x, i);
        // log(1 + e^−m) without overflow for large |m|
        f += m > 0 ? Math.log1p(Math.exp(-m)) : -m + Math.log1p(Math.exp(m));
        if (grad) {
          const s = -labels[i]! / (1 + Math.exp(m)); // ∂/∂z of the loss
          const row = samples[i]!;
          for (let j = 0; j < d; j++) grad[j] = grad[j]! + (s * row[j]!) / n;
          grad[d] = grad[d]! + s / n;
        }
      }
      let reg = 0;
      for (let j = 0; j < d; j++) {
        reg += x[j]! * x[j]!;
        if (grad) grad[j] = grad[j]! + l2 * x[j]!;
      }
      return f / n + 0.5 * l2 * reg;
    },
    hessian(x, out) {
      out.fill(0);
      for (let i = 0; i < n; i++) {
        const m = margin(x, i);
        const p = 1 / (1 + Math.exp(-m));
        const w = (p * (1 - p)) / n;
        const row = samples[i]!;
        for (let a = 0; a < dim; a++) {
          const xa = a < d ? row[a]! : 1;
          for (let b = 0; b < dim; b++) out[a * dim + b] = out[a * dim + b]! + w * xa * (b < d ? row[b]! : 1);
        }
      }
      for (let j = 0; j < d; j++) out[j * dim + j] = out[j * dim + j]! + l2;
    },
  };
}
