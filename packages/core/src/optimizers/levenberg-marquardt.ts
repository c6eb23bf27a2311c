import { type FloatArray, InvalidOptionError, NonFiniteError, type Parameter, ParamGroupError, firstNonFinite } from '@opt/tensor';
import { choleskyFactor, choleskySolve, gramMatrix, matTVec } from '../linalg.js';
import { Optimizer, type OptimizerSettings, type ParamGroup, type ParamGroupInput, type ParamsArg } from '../optimizer.js';
import { checkInRange, checkInteger, checkNonNegative, checkOneOf, checkPositive } from '../validation.js';

/** Hyper-parameters of {@link LevenbergMarquardt}. */
export interface LevenbergMarquardtOptions {
  /** Number m of residuals (length of the vector `residuals` writes). Required. */
  residualCount: number;
  /** Initial damping λ ≥ 0 (0: the first solve is a pure Gauss–Newton step). Default 1e-3. */
  lambda: number;
  /** Factor by which λ grows after a rejected trial (the trial is retried within the same step). Default 10. */
  lambdaUp: number;
  /** Factor by which λ shrinks after an accepted step. Default 0.1. */
  lambdaDown: number;
  /** Floor of λ after a shrink, and λ used when λ = 0 must grow. Default 1e-12. */
  minLambda: number;
  /** The step is given up (parameters unchanged) once λ would exceed this. Default 1e12. */
  maxLambda: number;
  /**
   * The damping matrix D in (JᵀJ + λD)·δ = −Jᵀr: `'marquardt'` uses diag(JᵀJ) (scale
   * invariant; a zero column gets 1), `'identity'` uses I (Levenberg). Default `'marquardt'`.
   */
  scaling: 'marquardt' | 'identity';
  /** Iteration limit of {@link LevenbergMarquardt.minimize}. Default 100. */
  maxIter: number;
  /** {@link LevenbergMarquardt.minimize} stops when max|Jᵀr| ≤ gradTolerance. Default 1e-10. */
  gradTolerance: number;
  /** {@link LevenbergMarquardt.minimize} stops when an accepted step has ‖δ‖ ≤ stepTolerance·(‖x‖ + stepTolerance). Default 1e-12. */
  stepTolerance: number;
}

/** The least-squares problem of {@link LevenbergMarquardt}: residuals r(x) ∈ ℝᵐ and their Jacobian. */
export interface LeastSquaresProblem {
  /** Write r(x) (m values) into `out`, x being the parameters' current values. */
  residuals: (params: readonly Parameter[], out: Float64Array) => void;
  /** Write ∂r/∂x (m×n row-major, columns over the concatenated flattened parameters) into `out`. */
  jacobian: (params: readonly Parameter[], out: Float64Array) => void;
}

/** State of {@link LevenbergMarquardt}, kept on the first parameter. */
export interface LevenbergMarquardtState {
  [key: string]: number;
  /** Accepted steps. */
  step: number;
  /** The current damping λ. */
  lambda: number;
}

/** Result of {@link LevenbergMarquardt.minimize}. */
export interface LeastSquaresResult {
  /** ½‖r‖² at the final parameters. */
  cost: number;
  /** Iterations (calls of `step()`) made. */
  iterations: number;
  /** Why it stopped. */
  reason: 'gradient-tolerance' | 'step-tolerance' | 'no-progress' | 'max-iterations';
}

const DEFAULTS: LevenbergMarquardtOptions = {
  residualCount: 0,
  lambda: 1e-3,
  lambdaUp: 10,
  lambdaDown: 0.1,
  minLambda: 1e-12,
  maxLambda: 1e12,
  scaling: 'marquardt',
  maxIter: 100,
  gradTolerance: 1e-10,
  stepTolerance: 1e-12,
};

/**
 * Levenberg–Marquardt for nonlinear least squares, minimising ½‖r(x)‖² over
 * the concatenated parameters x (n values) given the residuals r (m values) and
 * their Jacobian J (m×n). One `step()` is one LM iteration:
 *
 * ```
 * solve (JᵀJ + λD)·δ = −Jᵀr  by Cholesky      D = diag(JᵀJ) ('marquardt') or I ('identity')
 * if ½‖r(x + δ)‖² < ½‖r(x)‖²:  x ← x + δ,  λ ← max(λ·lambdaDown, minLambda)      (accept)
 * else:                        λ ← max(λ·lambdaUp, minLambda), solve again       (reject, until λ > maxLambda)
 * ```
 *
 * `step()` takes no closure (the problem's functions are given at construction)
 * and returns ½‖r‖² at the point the iteration started from; {@link LevenbergMarquardt.cost}
 * holds it at the current point. {@link LevenbergMarquardt.minimize} iterates to
 * convergence. λ persists in the state dict. One parameter group only; the
 * linear algebra is float64. The non-finite policy applies to r and J at the
 * starting point (a non-finite trial residual just rejects the trial).
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { LevenbergMarquardt } from '@opt/core';
 * // fit y = a·exp(−b·t)
 * const t = [0, 1, 2, 3], y = t.map((ti) => 2 * Math.exp(-0.5 * ti));
 * const ab = new Parameter(new Float64Array([1, 1]), [2], 'ab');
 * const lm = new LevenbergMarquardt([ab], {
 *   residualCount: t.length,
 *   residuals: ([p], out) => t.forEach((ti, i) => (out[i] = p!.data[0]! * Math.exp(-p!.data[1]! * ti) - y[i]!)),
 *   jacobian: ([p], out) => t.forEach((ti, i) => {
 *     const e = Math.exp(-p!.data[1]! * ti);
 *     out[2 * i] = e;
 *     out[2 * i + 1] = -p!.data[0]! * ti * e;
 *   }),
 * });
 * lm.minimize(); // ab ≈ [2, 0.5]
 * ```
 */
export class LevenbergMarquardt extends Optimizer<LevenbergMarquardtOptions, LevenbergMarquardtState> {
  /** ½‖r‖² at the current parameters (after the last step). */
  cost = NaN;
  /** Whether the most recent `step()` moved the parameters. */
  lastStepAccepted = false;
  /** max|Jᵀr| at the start of the most recent `step()`. */
  lastGradNorm = NaN;
  /** ‖δ‖ of the most recent accepted step (0 if rejected). */
  lastStepNorm = 0;
  private readonly params: Parameter[];
  private readonly problem: LeastSquaresProblem;
  private readonly n: number;
  private readonly m: number;
  private readonly x0: Float64Array;
  private readonly r: Float64Array;
  private readonly rTrial: Float64Array;
  private readonly jac: Float64Array;
  private readonly jtj: Float64Array;
  private readonly factor: Float64Array;
  private readonly rhs: Float64Array;
  private readonly delta: Float64Array;
  private readonly scale: Float64Array;

  constructor(
    params: ParamsArg<LevenbergMarquardtOptions>,
    options: Partial<LevenbergMarquardtOptions> & LeastSquaresProblem & OptimizerSettings,
  ) {
    const { residuals, jacobian, ...rest } = options;
    super('LevenbergMarquardt', params, DEFAULTS, rest);
    if (typeof residuals !== 'function') throw new InvalidOptionError('residuals', residuals, 'a function (params, out) => void', 'LevenbergMarquardt');
    if (typeof jacobian !== 'function') throw new InvalidOptionError('jacobian', jacobian, 'a function (params, out) => void', 'LevenbergMarquardt');
    this.problem = { residuals, jacobian };
    this.params = this.paramGroups[0]!.params;
    const n = this.params.reduce((total, p) => total + p.size, 0);
    const m = this.paramGroups[0]!.residualCount;
    this.n = n;
    this.m = m;
    this.x0 = new Float64Array(n);
    this.r = new Float64Array(m);
    this.rTrial = new Float64Array(m);
    this.jac = new Float64Array(m * n);
    this.jtj = new Float64Array(n * n);
    this.factor = new Float64Array(n * n);
    this.rhs = new Float64Array(n);
    this.delta = new Float64Array(n);
    this.scale = new Float64Array(n);
  }

  protected validateGroup(o: Readonly<LevenbergMarquardtOptions>): void {
    checkInteger('LevenbergMarquardt', 'residualCount', o.residualCount, 1);
    checkNonNegative('LevenbergMarquardt', 'lambda', o.lambda);
    checkInRange('LevenbergMarquardt', 'lambdaUp', o.lambdaUp, 1, Infinity, '()');
    checkInRange('LevenbergMarquardt', 'lambdaDown', o.lambdaDown, 0, 1, '(]');
    checkPositive('LevenbergMarquardt', 'minLambda', o.minLambda);
    checkPositive('LevenbergMarquardt', 'maxLambda', o.maxLambda);
    if (o.maxLambda < o.minLambda) {
      throw new InvalidOptionError('maxLambda', o.maxLambda, `a number >= minLambda (${o.minLambda})`, 'LevenbergMarquardt');
    }
    checkOneOf('LevenbergMarquardt', 'scaling', o.scaling, ['marquardt', 'identity'] as const);
    checkInteger('LevenbergMarquardt', 'maxIter', o.maxIter, 1);
    checkNonNegative('LevenbergMarquardt', 'gradTolerance', o.gradTolerance);
    checkNonNegative('LevenbergMarquardt', 'stepTolerance', o.stepTolerance);
  }

  /** The method is global over the concatenated parameters: one group only. */
  override addParamGroup(group: ParamGroupInput<LevenbergMarquardtOptions>): void {
    if (this.paramGroups.length > 0) {
      throw new ParamGroupError("LevenbergMarquardt doesn't support per-parameter options (parameter groups)");
    }
    super.addParamGroup(group);
  }

  protected initState(_p: Parameter, group: ParamGroup<LevenbergMarquardtOptions>): LevenbergMarquardtState {
    return { step: 0, lambda: group.lambda };
  }

  /**
   * One LM iteration (accept, or reject and retry with a larger λ until
   * λ > maxLambda). Returns ½‖r‖² at the starting point. Takes no closure.
   *
   * @throws {@link NonFiniteError} when r or J at the starting point is not finite (policy `'throw'`).
   */
  override step(): number {
    this.lastStepAccepted = false;
    this.lastStepSkipped = false;
    this.lastStepNorm = 0;
    readParams(this.params, this.x0);
    this.problem.residuals(this.params, this.r);
    const cost0 = halfSquaredNorm(this.r);
    this.cost = cost0;
    if (!this.checkFinite(this.r, 'residual')) return cost0;
    this.problem.jacobian(this.params, this.jac);
    if (!this.checkFinite(this.jac, 'jacobian entry')) return cost0;
    this.updateGroup(this.paramGroups[0]!);
    return cost0;
  }

  /** The damped Gauss–Newton solve and the accept/reject loop, r and J at x already computed. */
  protected updateGroup(group: ParamGroup<LevenbergMarquardtOptions>): void {
    const { lambdaUp, lambdaDown, minLambda, maxLambda, scaling } = group;
    const { n, m, x0, r, rTrial, jac, jtj, factor, rhs, delta, scale } = this;
    const state = this.stateFor(this.params[0]!, group);
    gramMatrix(jac, m, n, jtj);
    matTVec(jac, m, n, r, rhs);
    let gradNorm = 0;
    for (let i = 0; i < n; i++) {
      gradNorm = Math.max(gradNorm, Math.abs(rhs[i]!));
      rhs[i] = -rhs[i]!;
      const d = jtj[i * n + i]!;
      scale[i] = scaling === 'identity' || !(d > 0) ? 1 : d;
    }
    this.lastGradNorm = gradNorm;
    const cost0 = this.cost;
    let lambda = state.lambda;
    for (;;) {
      if (choleskyFactor(jtj, n, factor, lambda, scale)) {
        choleskySolve(factor, n, rhs, delta);
        writeParams(this.params, x0, delta);
        this.problem.residuals(this.params, rTrial);
        const cost = halfSquaredNorm(rTrial);
        if (cost < cost0) {
          this.cost = cost;
          this.lastStepAccepted = true;
          let norm = 0;
          for (let i = 0; i < n; i++) norm += delta[i]! * delta[i]!;
          this.lastStepNorm = Math.sqrt(norm);
          state.step++;
          lambda = Math.max(lambda * lambdaDown, minLambda);
          break;
        }
        restoreParams(this.params, x0);
      }
      const grown = Math.max(lambda * lambdaUp, minLambda);
      if (grown > maxLambda) break;
      lambda = grown;
    }
    state.lambda = lambda;
  }

  /**
   * Iterate `step()` until max|Jᵀr| ≤ gradTolerance, an accepted step is below
   * stepTolerance, a step cannot lower the cost (λ reached maxLambda), or
   * maxIter iterations.
   */
  minimize(): LeastSquaresResult {
    const { maxIter, gradTolerance, stepTolerance } = this.paramGroups[0]!;
    for (let k = 1; k <= maxIter; k++) {
      this.step();
      if (this.lastStepSkipped) return { cost: this.cost, iterations: k, reason: 'no-progress' };
      if (this.lastGradNorm <= gradTolerance) return { cost: this.cost, iterations: k, reason: 'gradient-tolerance' };
      if (!this.lastStepAccepted) return { cost: this.cost, iterations: k, reason: 'no-progress' };
      let xNorm = 0;
      for (let pIndex = 0; pIndex < this.params.length; pIndex++) {
        const p = this.params[pIndex]!;
        for (let i = 0; i < p.size; i++) xNorm += p.data[i]! * p.data[i]!;
      }
      if (this.lastStepNorm <= stepTolerance * (Math.sqrt(xNorm) + stepTolerance)) {
        return { cost: this.cost, iterations: k, reason: 'step-tolerance' };
      }
    }
    return { cost: this.cost, iterations: maxIter, reason: 'max-iterations' };
  }

  /** Apply the non-finite policy to r or J; false when the step must be skipped. */
  private checkFinite(values: Float64Array, what: string): boolean {
    if (this.nonFinite === 'ignore') return true;
    const index = firstNonFinite(values);
    if (index < 0) return true;
    const value = values[index]!;
    const where = what === 'residual' ? 'residuals' : 'jacobian';
    if (this.nonFinite === 'throw') throw new NonFiniteError(where, index, value, what);
    this.skippedSteps++;
    this.lastStepSkipped = true;
    this.onNonFinite?.({ parameter: where, index, value });
    return false;
  }
}

function halfSquaredNorm(r: Float64Array): number {
  let s = 0;
  for (let i = 0; i < r.length; i++) s += r[i]! * r[i]!;
  // NaN/Infinity stay NaN/Infinity, so `cost < cost0` rejects a non-finite trial.
  return 0.5 * s;
}

function readParams(params: readonly Parameter[], out: Float64Array): void {
  let offset = 0;
  for (let pIndex = 0; pIndex < params.length; pIndex++) {
    const p = params[pIndex]!;
    out.set(p.data, offset);
    offset += p.size;
  }
}

function writeParams(params: readonly Parameter[], x0: Float64Array, delta: Float64Array): void {
  let offset = 0;
  for (let pIndex = 0; pIndex < params.length; pIndex++) {
    const p = params[pIndex]!;
    const data: FloatArray = p.data;
    for (let i = 0; i < data.length; i++) data[i] = x0[offset + i]! + delta[offset + i]!;
    offset += data.length;
  }
}

function restoreParams(params: readonly Parameter[], x0: Float64Array): void {
  let offset = 0;
  for (let pIndex = 0; pIndex < params.length; pIndex++) {
    const p = params[pIndex]!;
    const data: FloatArray = p.data;
    for (let i = 0; i < data.length; i++) data[i] = x0[offset + i]!;
    offset += data.length;
  }
}
