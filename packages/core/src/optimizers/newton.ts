import { ClosureRequiredError, type FloatArray, InvalidOptionError, type Parameter, ParamGroupError, ShapeMismatchError } from '@opt/tensor';
import { ConjugateGradient, choleskyFactor, choleskySolve } from '../linalg.js';
import {
  type Closure,
  Optimizer,
  type OptimizerSettings,
  type ParamGroup,
  type ParamGroupInput,
  type ParamsArg,
} from '../optimizer.js';
import { checkBoolean, checkInRange, checkInteger, checkNonNegative, checkOneOf, checkPositive } from '../validation.js';

/** Hyper-parameters of {@link Newton}. */
export interface NewtonOptions {
  /** Step scale: p ← p + lr·d (1 = the full Newton step, and the first trial of the backtracking search). Default 1. */
  lr: number;
  /** Initial damping λ ≥ 0 added to the Hessian's diagonal: the step solves (H + λI)·d = −g. Default 0. */
  damping: number;
  /**
   * Factor by which λ grows, within one step, when H + λI is not positive definite, when the
   * backtracking search finds no sufficient decrease, or (adaptive damping) when the loss rises. Default 10.
   */
  dampingIncrease: number;
  /** Factor by which λ shrinks after a successful step under `adaptiveDamping`. Default 0.1. */
  dampingDecrease: number;
  /** λ used when λ = 0 must grow; a λ shrunk below it becomes 0 (the undamped Newton step again). Default 1e-8. */
  minDamping: number;
  /** The step is given up (parameters left unchanged) once λ would exceed this. Default 1e10. */
  maxDamping: number;
  /**
   * Levenberg-style damping: every step evaluates the loss at the new point (one
   * extra closure call); a decrease is accepted and λ shrinks, an increase is
   * rejected (parameters restored) and the step is retried with a larger λ. Default false.
   */
  adaptiveDamping: boolean;
  /** `'none'`: move by lr·d. `'backtracking'`: Armijo backtracking from t = lr. Default `'none'`. */
  lineSearch: 'none' | 'backtracking';
  /** Armijo constant c: accept t when f(x + t·d) ≤ f(x) + c·t·gᵀd. Default 1e-4. */
  sufficientDecrease: number;
  /** Factor by which the backtracking search shrinks t. Default 0.5. */
  backtrackFactor: number;
  /** Largest number of trial points of one backtracking search. Default 30. */
  maxBacktracks: number;
  /** Conjugate-gradient iterations per solve on the Hessian-vector-product path (`null`: 2n). Default null. */
  cgMaxIterations: number | null;
  /** Conjugate-gradient relative residual target ‖r‖ ≤ cgTolerance·‖g‖. Default 1e-10. */
  cgTolerance: number;
}

/** How {@link Newton} gets second-order information; give exactly one. */
export interface NewtonCurvature {
  /**
   * The dense Hessian at the parameters' current values, over the concatenated
   * flattened parameters (n×n row-major). Write it into `out` (and return
   * nothing or `out`) or return a fresh `Float64Array` of n² elements. Called
   * once per step, after the closure.
   */
  hessian?: (params: readonly Parameter[], out: Float64Array) => Float64Array | void;
  /**
   * The Hessian-vector product `out ← H·v` at the parameters' current values
   * (read them from the parameters: the optimizer restores them to the step's
   * starting point before every solve). Solves use conjugate gradient.
   */
  hvp?: (v: Float64Array, out: Float64Array) => void;
}

/** State of {@link Newton}, kept on the first parameter: the current damping and the accepted step count. */
export interface NewtonState {
  [key: string]: number;
  /** Steps that moved the parameters. */
  step: number;
  /** The current damping λ (changes under `adaptiveDamping` or when H is indefinite). */
  damping: number;
}

const DEFAULTS: NewtonOptions = {
  lr: 1,
  damping: 0,
  dampingIncrease: 10,
  dampingDecrease: 0.1,
  minDamping: 1e-8,
  maxDamping: 1e10,
  adaptiveDamping: false,
  lineSearch: 'none',
  sufficientDecrease: 1e-4,
  backtrackFactor: 0.5,
  maxBacktracks: 30,
  cgMaxIterations: null,
  cgTolerance: 1e-10,
};

/**
 * Damped Newton's method for small problems: with g = ∇f and H = ∇²f at the
 * current point x (all parameters concatenated),
 *
 * ```
 * solve (H + λI)·d = −g        dense H: Cholesky, λ raised (×dampingIncrease) until H + λI is positive definite
 *                              Hessian-vector products: conjugate gradient, λ raised on negative curvature
 * x ← x + t·d                  t = lr, or Armijo backtracking: largest t = lr·backtrackFactor^k with
 *                              f(x + t·d) ≤ f(x) + sufficientDecrease·t·gᵀd
 * ```
 *
 * With `adaptiveDamping` (Levenberg's rule) a step that does not lower the loss
 * is rejected and retried with λ·dampingIncrease, and an accepted one shrinks λ
 * by dampingDecrease. λ persists across steps and in the state dict.
 *
 * `step(closure)` needs a closure that computes the loss and writes every
 * parameter's gradient; it returns the loss at the starting point. One parameter
 * group only (the method is global over the concatenated parameters); all
 * linear algebra is in float64. {@link Newton.lastStepAccepted} tells whether
 * the parameters moved, {@link Newton.lastClosureEvals} how often the closure ran.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { Newton } from '@opt/core';
 * // f(x) = ½xᵀAx − bᵀx: one Newton step lands on A⁻¹b
 * const A = [4, 1, 1, 3], b = [1, 2];
 * const x = new Parameter(new Float64Array(2), [2], 'x');
 * const opt = new Newton([x], { hessian: (_p, out) => out.set(A) });
 * opt.step(() => {
 *   const [u, v] = x.data;
 *   x.grad = new Float64Array([4 * u + v - 1, u + 3 * v - 2]);
 *   return 0.5 * (4 * u * u + 2 * u * v + 3 * v * v) - u - 2 * v;
 * }); // x = [1/11, 7/11]
 * ```
 */
export class Newton extends Optimizer<NewtonOptions, NewtonState> {
  /** Closure calls made by the most recent `step()`. */
  lastClosureEvals = 0;
  /** Whether the most recent `step()` moved the parameters. */
  lastStepAccepted = false;
  private readonly params: Parameter[];
  private readonly n: number;
  private readonly hessianFn: NewtonCurvature['hessian'];
  private readonly hvpFn: NewtonCurvature['hvp'];
  private readonly x0: Float64Array;
  private readonly grad: Float64Array;
  private readonly rhs: Float64Array;
  private readonly direction: Float64Array;
  private readonly hessianBuffer: Float64Array | null;
  private readonly factor: Float64Array | null;
  private readonly cg: ConjugateGradient | null;
  private activeClosure: Closure | null = null;
  private startLoss = 0;

  constructor(
    params: ParamsArg<NewtonOptions>,
    options: Partial<NewtonOptions> & NewtonCurvature & OptimizerSettings = {},
  ) {
    const { hessian, hvp, ...rest } = options;
    super('Newton', params, DEFAULTS, rest);
    if ((hessian === undefined) === (hvp === undefined)) {
      throw new InvalidOptionError('hessian/hvp', undefined, 'exactly one of a dense hessian function or a Hessian-vector product hvp', 'Newton');
    }
    if (hessian !== undefined && typeof hessian !== 'function') throw new InvalidOptionError('hessian', hessian, 'a function', 'Newton');
    if (hvp !== undefined && typeof hvp !== 'function') throw new InvalidOptionError('hvp', hvp, 'a function', 'Newton');
    this.hessianFn = hessian;
    this.hvpFn = hvp;
    this.params = this.paramGroups[0]!.params;
    this.n = this.params.reduce((total, p) => total + p.size, 0);
    const n = this.n;
    this.x0 = new Float64Array(n);
    this.grad = new Float64Array(n);
    this.rhs = new Float64Array(n);
    this.direction = new Float64Array(n);
    this.hessianBuffer = hessian ? new Float64Array(n * n) : null;
    this.factor = hessian ? new Float64Array(n * n) : null;
    this.cg = hvp ? new ConjugateGradient(n) : null;
  }

  protected validateGroup(o: Readonly<NewtonOptions>): void {
    checkNonNegative('Newton', 'lr', o.lr);
    checkNonNegative('Newton', 'damping', o.damping);
    checkInRange('Newton', 'dampingIncrease', o.dampingIncrease, 1, Infinity, '()');
    checkInRange('Newton', 'dampingDecrease', o.dampingDecrease, 0, 1, '(]');
    checkPositive('Newton', 'minDamping', o.minDamping);
    checkPositive('Newton', 'maxDamping', o.maxDamping);
    if (o.maxDamping < o.minDamping) throw new InvalidOptionError('maxDamping', o.maxDamping, `a number >= minDamping (${o.minDamping})`, 'Newton');
    checkBoolean('Newton', 'adaptiveDamping', o.adaptiveDamping);
    checkOneOf('Newton', 'lineSearch', o.lineSearch, ['none', 'backtracking'] as const);
    checkInRange('Newton', 'sufficientDecrease', o.sufficientDecrease, 0, 1, '()');
    checkInRange('Newton', 'backtrackFactor', o.backtrackFactor, 0, 1, '()');
    checkInteger('Newton', 'maxBacktracks', o.maxBacktracks, 1);
    if (o.cgMaxIterations !== null) checkInteger('Newton', 'cgMaxIterations', o.cgMaxIterations, 1);
    checkPositive('Newton', 'cgTolerance', o.cgTolerance);
  }

  /** Newton works on all parameters at once: one group only. */
  override addParamGroup(group: ParamGroupInput<NewtonOptions>): void {
    if (this.paramGroups.length > 0) throw new ParamGroupError("Newton doesn't support per-parameter options (parameter groups)");
    super.addParamGroup(group);
  }

  protected initState(_p: Parameter, group: ParamGroup<NewtonOptions>): NewtonState {
    return { step: 0, damping: group.damping };
  }

  /**
   * One damped Newton step. Returns the loss at the starting point.
   *
   * @throws {@link ClosureRequiredError} without a closure.
   * @throws {@link NonFiniteError} when the gradient is not finite (policy `'throw'`).
   */
  override step(closure?: Closure): number {
    if (typeof closure !== 'function') {
      throw new ClosureRequiredError('Newton', 'it needs the loss and gradient at the current point (and at trial points)');
    }
    this.lastClosureEvals = 0;
    this.lastStepAccepted = false;
    const loss = this.evaluate(closure);
    if (!this.checkGradients()) return loss;
    this.activeClosure = closure;
    this.startLoss = loss;
    try {
      this.updateGroup(this.paramGroups[0]!);
    } finally {
      this.activeClosure = null;
    }
    return loss;
  }

  /** The solve, the move and the damping update of the current `step()` (its closure already evaluated). */
  protected updateGroup(group: ParamGroup<NewtonOptions>): void {
    const closure = this.activeClosure;
    if (closure === null) throw new ClosureRequiredError('Newton', 'its update runs inside step(closure)');
    const { lr, dampingIncrease, dampingDecrease, minDamping, maxDamping, adaptiveDamping, lineSearch } = group;
    const state = this.stateFor(this.params[0]!, group);
    const { n, x0, grad, rhs, direction } = this;
    const f0 = this.startLoss;
    readParams(this.params, x0);
    for (let i = 0; i < n; i++) rhs[i] = -grad[i]!;
    const hessian = this.hessianFn ? this.computeHessian() : null;

    // Adaptive damping carries λ from step to step; otherwise every step starts from the option.
    let lambda = adaptiveDamping ? state.damping : group.damping;
    let accepted = false;
    for (;;) {
      if (this.solve(hessian, lambda, group)) {
        let gtd = 0;
        for (let i = 0; i < n; i++) gtd += grad[i]! * direction[i]!;
        if (lineSearch === 'backtracking') {
          accepted = this.backtrack(closure, f0, gtd, group);
        } else if (adaptiveDamping) {
          writeParams(this.params, x0, lr, direction);
          const f = Number(closure());
          this.lastClosureEvals++;
          accepted = f < f0;
        } else {
          writeParams(this.params, x0, lr, direction);
          accepted = true;
        }
        if (accepted) break;
        writeParams(this.params, x0, 0, direction);
      }
      const grown = Math.max(lambda * dampingIncrease, minDamping);
      if (grown > maxDamping) break;
      lambda = grown;
    }
    if (accepted) {
      state.step++;
      if (adaptiveDamping) {
        lambda *= dampingDecrease;
        if (lambda < minDamping) lambda = 0;
      }
    }
    state.damping = lambda;
    this.lastStepAccepted = accepted;
  }

  private computeHessian(): Float64Array {
    const buffer = this.hessianBuffer!;
    const out = this.hessianFn!(this.params, buffer);
    const h = out instanceof Float64Array ? out : buffer;
    if (h.length !== this.n * this.n) {
      throw new ShapeMismatchError(`Newton: the hessian function returned ${h.length} elements, expected ${this.n}×${this.n} = ${this.n * this.n}`);
    }
    return h;
  }

  /** d ← −(H + λI)⁻¹g; false when H + λI is not positive definite (Cholesky failed / CG met negative curvature). */
  private solve(hessian: Float64Array | null, lambda: number, group: ParamGroup<NewtonOptions>): boolean {
    const { n, rhs, direction } = this;
    if (hessian !== null) {
      const factor = this.factor!;
      if (!choleskyFactor(hessian, n, factor, lambda)) return false;
      choleskySolve(factor, n, rhs, direction);
      return true;
    }
    const cg = this.cg!;
    direction.fill(0);
    const status = cg.solve(this.hvpFn!, rhs, direction, group.cgMaxIterations ?? 2 * n, group.cgTolerance, lambda);
    // An inexact solve that ran out of iterations is still a descent direction (truncated Newton).
    return status !== 'negative-curvature';
  }

  /** Armijo backtracking from t = lr; leaves the parameters at the accepted point. */
  private backtrack(closure: Closure, f0: number, gtd: number, group: ParamGroup<NewtonOptions>): boolean {
    const { lr, sufficientDecrease, backtrackFactor, maxBacktracks } = group;
    if (!(gtd < 0)) return false;
    let t = lr;
    for (let k = 0; k < maxBacktracks; k++) {
      writeParams(this.params, this.x0, t, this.direction);
      const f = Number(closure());
      this.lastClosureEvals++;
      if (f <= f0 + sufficientDecrease * t * gtd) return true;
      t *= backtrackFactor;
    }
    return false;
  }

  /** Call the closure and gather the flat gradient into float64 (missing gradients count as zeros). */
  private evaluate(closure: Closure): number {
    const loss = Number(closure());
    this.lastClosureEvals++;
    let offset = 0;
    for (let pIndex = 0; pIndex < this.params.length; pIndex++) {
      const p = this.params[pIndex]!;
      const g = p.grad;
      if (g === null) this.grad.fill(0, offset, offset + p.size);
      else this.grad.set(g, offset);
      offset += p.size;
    }
    return loss;
  }
}

/** The parameters' values, concatenated into `out`. */
function readParams(params: readonly Parameter[], out: Float64Array): void {
  let offset = 0;
  for (let pIndex = 0; pIndex < params.length; pIndex++) {
    const p = params[pIndex]!;
    out.set(p.data, offset);
    offset += p.size;
  }
}

/** p ← x0 + t·d over the concatenated parameters (t = 0 restores x0 exactly). */
function writeParams(params: readonly Parameter[], x0: Float64Array, t: number, d: Float64Array): void {
  let offset = 0;
  for (let pIndex = 0; pIndex < params.length; pIndex++) {
    const p = params[pIndex]!;
    const data: FloatArray = p.data;
    for (let i = 0; i < data.length; i++) data[i] = t === 0 ? x0[offset + i]! : x0[offset + i]! + t * d[offset + i]!;
    offset += data.length;
  }
}
