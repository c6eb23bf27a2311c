import {
  ClosureRequiredError,
  DTypeMismatchError,
  type FloatArray,
  type Parameter,
  ParamGroupError,
  StateDictError,
  allocate,
  isFloatArray,
  zerosLike,
} from '@opt/tensor';
import {
  type Closure,
  Optimizer,
  type OptimizerSettings,
  type ParamGroup,
  type ParamGroupInput,
  type ParamsArg,
} from '../optimizer.js';
import type { StateValue } from '../state-dict.js';
import { checkInteger, checkNonNegative, checkOneOf } from '../validation.js';
import { type DirectionalObjective, StrongWolfeLineSearch, torchDot } from './line-search.js';

export { type DirectionalObjective, StrongWolfeLineSearch, cubicInterpolate } from './line-search.js';

/** Hyper-parameters of {@link LBFGS} (PyTorch's names in camelCase). */
export interface LBFGSOptions {
  /** Learning rate: the initial step length of every iteration after the first. Default 1. */
  lr: number;
  /** Largest number of iterations per `step()`. Default 20. */
  maxIter: number;
  /** Largest number of closure calls per `step()` (checked between iterations). Default `floor(maxIter·5/4)`. */
  maxEval: number | null;
  /** Stop when max|∇f| ≤ toleranceGrad. Default 1e-7. */
  toleranceGrad: number;
  /** Stop when the step, the loss change or the directional derivative is below this. Default 1e-9. */
  toleranceChange: number;
  /** Number of curvature pairs (y, s) kept. Default 100. */
  historySize: number;
  /** `null` for fixed steps of length `lr`, or `'strong_wolfe'` for the strong-Wolfe line search. Default null. */
  lineSearchFn: 'strong_wolfe' | null;
}

/**
 * State of {@link LBFGS}, kept (as PyTorch keeps it) on the first parameter only.
 * Buffers are flat over all parameters, in the parameter's dtype.
 */
export interface LBFGSState {
  [key: string]: StateValue;
  /** Closure calls over all steps. */
  func_evals: number;
  /** Iterations over all steps. */
  n_iter: number;
  /** The last search direction. */
  d: FloatArray | null;
  /** The last step length. */
  t: number | null;
  /** Gradient differences y, oldest first. */
  old_dirs: FloatArray[];
  /** Steps s = t·d, oldest first. */
  old_stps: FloatArray[];
  /** 1/(yᵀs) per stored pair. */
  ro: number[];
  /** Scale γ = yᵀs/yᵀy of the initial inverse-Hessian approximation. */
  H_diag: number | null;
  /** The gradient at the start of the last iteration. */
  prev_flat_grad: FloatArray | null;
  /** The loss at the start of the last iteration. */
  prev_loss: number | null;
}

const DEFAULTS: LBFGSOptions = {
  lr: 1,
  maxIter: 20,
  maxEval: null,
  toleranceGrad: 1e-7,
  toleranceChange: 1e-9,
  historySize: 100,
  lineSearchFn: null,
};

/**
 * Limited-memory BFGS, as `torch.optim.LBFGS` in PyTorch 1.13: one `step(closure)`
 * runs up to `maxIter` quasi-Newton iterations, calling the closure (which must
 * recompute the loss and write every parameter's gradient) as often as it needs.
 *
 * With g the flat gradient over all parameters, each iteration:
 *
 * ```
 * first iteration ever:  d = −g,  t = min(1, 1/‖g‖₁)·lr
 * later:                 y = g − g_prev, s = t·d; keep (y, s) if yᵀs > 1e-10 (at most historySize pairs),
 *                        γ = yᵀs / yᵀy;  d = −H·g by the two-loop recursion with H₀ = γ·I;  t = lr
 * stop if gᵀd > −toleranceChange, else move: p ← p + t·d  (t from the strong-Wolfe search
 * if lineSearchFn is 'strong_wolfe'), re-evaluate, and stop when n = maxIter, evals ≥ maxEval,
 * max|g| ≤ toleranceGrad, max|t·d| ≤ toleranceChange or |Δloss| < toleranceChange.
 * ```
 *
 * `step()` returns the loss of its first closure call. State (direction, history,
 * counters) persists across `step()` calls and through `stateDict()`. Only one
 * parameter group is supported (as in PyTorch); parameters may be any number of
 * tensors of one dtype, handled as one flat vector. The non-finite policy applies
 * to the gradient of the first closure call. Dot products and the first step's
 * ‖g‖₁ are summed in PyTorch's CPU order, so float64 runs reproduce PyTorch's
 * iterates bit for bit given the same losses and gradients.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { LBFGS } from '@opt/core';
 * const x = new Parameter(new Float64Array([-1.2, 1]), [2], 'x');
 * const opt = new LBFGS([x], { lineSearchFn: 'strong_wolfe' });
 * const closure = () => {
 *   const [a, b] = x.data;
 *   x.grad = new Float64Array([-400 * a * (b - a * a) - 2 * (1 - a), 200 * (b - a * a)]);
 *   return 100 * (b - a * a) ** 2 + (1 - a) ** 2;
 * };
 * for (let i = 0; i < 10; i++) opt.step(closure);
 * ```
 */
export class LBFGS extends Optimizer<LBFGSOptions, LBFGSState> {
  /** Closure calls made by the most recent `step()`. */
  lastClosureEvals = 0;
  private readonly params: Parameter[];
  private readonly numel: number;
  private readonly flatGrad: FloatArray;
  private readonly xInit: FloatArray;
  private yScratch: FloatArray | null = null;
  private sScratch: FloatArray | null = null;
  private al = new Float64Array(0);
  private lineSearch: StrongWolfeLineSearch | null = null;
  private activeClosure: Closure | null = null;
  /** The direction of the line search in progress (read by the directional objective). */
  private searchDirection: FloatArray | null = null;
  private firstLoss = 0;
  private readonly directional: DirectionalObjective;

  constructor(params: ParamsArg<LBFGSOptions>, options: Partial<LBFGSOptions> & OptimizerSettings = {}) {
    const maxIter = options.maxIter ?? DEFAULTS.maxIter;
    // PyTorch resolves max_eval at construction, so the group (and the state dict) holds the number.
    const maxEval = options.maxEval ?? (typeof maxIter === 'number' ? Math.floor((maxIter * 5) / 4) : null);
    super('LBFGS', params, DEFAULTS, { ...options, maxEval });
    this.params = this.paramGroups[0]!.params;
    const dtype = this.params[0]!.dtype;
    let numel = 0;
    for (const [i, p] of this.params.entries()) {
      if (p.dtype !== dtype) {
        throw new DTypeMismatchError(`LBFGS: parameter ${this.paramName(p) ?? `#${i}`} is ${p.dtype} but the first parameter is ${dtype}`);
      }
      numel += p.size;
    }
    this.numel = numel;
    this.flatGrad = zerosLike(this.params[0]!.data, numel);
    this.xInit = zerosLike(this.params[0]!.data, numel);
    this.directional = { evaluateAt: (t, gradOut) => this.directionalEvaluate(t, gradOut) };
  }

  protected validateGroup(o: Readonly<LBFGSOptions>): void {
    checkNonNegative('LBFGS', 'lr', o.lr);
    checkInteger('LBFGS', 'maxIter', o.maxIter, 1);
    if (o.maxEval !== null) checkInteger('LBFGS', 'maxEval', o.maxEval, 1);
    checkNonNegative('LBFGS', 'toleranceGrad', o.toleranceGrad);
    checkNonNegative('LBFGS', 'toleranceChange', o.toleranceChange);
    checkInteger('LBFGS', 'historySize', o.historySize, 1);
    checkOneOf('LBFGS', 'lineSearchFn', o.lineSearchFn, [null, 'strong_wolfe'] as const);
  }

  /** LBFGS has exactly one parameter group (PyTorch rejects per-parameter options). */
  override addParamGroup(group: ParamGroupInput<LBFGSOptions>): void {
    if (this.paramGroups.length > 0) {
      throw new ParamGroupError("LBFGS doesn't support per-parameter options (parameter groups)");
    }
    super.addParamGroup(group);
  }

  protected initState(): LBFGSState {
    return {
      func_evals: 0,
      n_iter: 0,
      d: null,
      t: null,
      old_dirs: [],
      old_stps: [],
      ro: [],
      H_diag: null,
      prev_flat_grad: null,
      prev_loss: null,
    };
  }

  /**
   * Run one L-BFGS step: up to `maxIter` iterations, calling `closure` as often
   * as needed. Returns the loss of the first closure call.
   *
   * @throws {@link ClosureRequiredError} without a closure.
   * @throws {@link NonFiniteError} when the first gradient is not finite (policy `'throw'`).
   */
  override step(closure?: Closure): number {
    if (typeof closure !== 'function') {
      throw new ClosureRequiredError('LBFGS', 'it re-evaluates the objective several times per step');
    }
    this.lastClosureEvals = 0;
    const loss = this.evaluate(closure, this.flatGrad);
    if (!this.checkGradients()) return loss;
    const group = this.paramGroups[0]!;
    const state = this.stateFor(this.params[0]!, group);
    state.func_evals += 1;
    if (maxAbsOf(this.flatGrad) <= group.toleranceGrad) return loss;
    this.activeClosure = closure;
    this.firstLoss = loss;
    try {
      this.updateGroup(group);
    } finally {
      this.activeClosure = null;
    }
    return loss;
  }

  /**
   * The iterations of the current `step()` (its first closure call already made,
   * its gradient in the flat buffer), as `lbfgs.py::LBFGS.step`.
   */
  protected updateGroup(group: ParamGroup<LBFGSOptions>): void {
    const closure = this.activeClosure;
    if (closure === null) throw new ClosureRequiredError('LBFGS', 'its iterations run inside step(closure)');
    const { lr, maxIter, toleranceGrad, toleranceChange, historySize, lineSearchFn } = group;
    const maxEval = group.maxEval ?? Math.floor((maxIter * 5) / 4);
    const state = this.stateFor(this.params[0]!, group);
    const g = this.flatGrad;
    const n = this.numel;
    const oldDirs = state.old_dirs;
    const oldStps = state.old_stps;
    const ro = state.ro;
    let d = state.d;
    let t = state.t ?? lr;
    let hDiag = state.H_diag ?? 1;
    let prevFlatGrad = state.prev_flat_grad;
    let prevLoss = state.prev_loss;
    let loss = this.firstLoss;
    let currentEvals = 1;
    let optCond = false;
    let nIter = 0;

    while (nIter < maxIter) {
      nIter++;
      state.n_iter++;

      if (d === null) d = zerosLike(g);
      if (state.n_iter === 1 || prevFlatGrad === null) {
        for (let i = 0; i < n; i++) d[i] = -g[i]!;
        oldDirs.length = 0;
        oldStps.length = 0;
        ro.length = 0;
        hDiag = 1;
      } else {
        const y = (this.yScratch ??= zerosLike(g));
        const s = (this.sScratch ??= zerosLike(g));
        for (let i = 0; i < n; i++) {
          y[i] = g[i]! - prevFlatGrad[i]!;
          s[i] = d[i]! * t;
        }
        const ys = torchDot(y, s);
        if (ys > 1e-10) {
          // The dropped pair's buffers become the next scratch buffers: no allocation once full.
          let recycledY: FloatArray | undefined;
          let recycledS: FloatArray | undefined;
          if (oldDirs.length === historySize) {
            recycledY = oldDirs.shift();
            recycledS = oldStps.shift();
            ro.shift();
          }
          oldDirs.push(y);
          oldStps.push(s);
          ro.push(1 / ys);
          this.yScratch = recycledY ?? zerosLike(g);
          this.sScratch = recycledS ?? zerosLike(g);
          hDiag = ys / torchDot(y, y);
        }
        this.twoLoop(d, g, oldDirs, oldStps, ro, hDiag);
      }

      if (prevFlatGrad === null) prevFlatGrad = zerosLike(g);
      prevFlatGrad.set(g);
      prevLoss = loss;

      t = state.n_iter === 1 ? Math.min(1, 1 / torchSumAbs(g)) * lr : lr;
      const gtd = torchDot(g, d);
      if (gtd > -toleranceChange) break;

      let lsEvals = 0;
      if (lineSearchFn === 'strong_wolfe') {
        this.readParams(this.xInit);
        const ls = (this.lineSearch ??= new StrongWolfeLineSearch(g));
        this.searchDirection = d;
        ls.search(this.directional, t, d, loss, g, gtd);
        loss = ls.loss;
        t = ls.t;
        lsEvals = ls.evals;
        this.addToParams(t, d);
        optCond = maxAbsOf(g) <= toleranceGrad;
      } else {
        this.addToParams(t, d);
        // PyTorch skips the evaluation after the last allowed iteration (pointless in stochastic settings).
        if (nIter !== maxIter) {
          loss = this.evaluate(closure, g);
          optCond = maxAbsOf(g) <= toleranceGrad;
          lsEvals = 1;
        }
      }
      currentEvals += lsEvals;
      state.func_evals += lsEvals;

      if (nIter === maxIter) break;
      if (currentEvals >= maxEval) break;
      if (optCond) break;
      if (maxAbsScaled(d, t) <= toleranceChange) break;
      if (Math.abs(loss - prevLoss) < toleranceChange) break;
    }

    state.d = d;
    state.t = t;
    state.H_diag = hDiag;
    state.prev_flat_grad = prevFlatGrad;
    state.prev_loss = prevLoss;
  }

  /**
   * d ← −H·g by the two-loop recursion over the stored pairs, with H₀ = γ·I.
   * `al` is scratch (PyTorch keeps it in the state too, but rewrites it before reading it).
   */
  private twoLoop(d: FloatArray, g: FloatArray, oldDirs: FloatArray[], oldStps: FloatArray[], ro: number[], hDiag: number): void {
    const n = this.numel;
    const num = oldDirs.length;
    if (this.al.length < num) this.al = new Float64Array(num);
    const al = this.al;
    for (let i = 0; i < n; i++) d[i] = -g[i]!;
    for (let k = num - 1; k >= 0; k--) {
      const a = torchDot(oldStps[k]!, d) * ro[k]!;
      al[k] = a;
      const y = oldDirs[k]!;
      for (let i = 0; i < n; i++) d[i] = d[i]! - a * y[i]!;
    }
    for (let i = 0; i < n; i++) d[i] = d[i]! * hDiag;
    for (let k = 0; k < num; k++) {
      const be = torchDot(oldDirs[k]!, d) * ro[k]!;
      const coef = al[k]! - be;
      const s = oldStps[k]!;
      for (let i = 0; i < n; i++) d[i] = d[i]! + coef * s[i]!;
    }
  }

  /** Call the closure and gather the flat gradient (a missing gradient counts as zeros). */
  private evaluate(closure: Closure, gradOut: FloatArray): number {
    const loss = Number(closure());
    this.lastClosureEvals++;
    let offset = 0;
    for (let pIndex = 0; pIndex < this.params.length; pIndex++) {
      const p = this.params[pIndex]!;
      const grad = p.grad;
      if (grad === null) gradOut.fill(0, offset, offset + p.size);
      else gradOut.set(grad, offset);
      offset += p.size;
    }
    return loss;
  }

  /** Loss and gradient at x + t·d, parameters restored to x (`_directional_evaluate`). */
  private directionalEvaluate(t: number, gradOut: FloatArray): number {
    const closure = this.activeClosure;
    const d = this.searchDirection;
    if (closure === null || d === null) throw new ClosureRequiredError('LBFGS', 'the line search runs inside step(closure)');
    this.addToParams(t, d);
    const loss = this.evaluate(closure, gradOut);
    this.writeParams(this.xInit);
    return loss;
  }

  /** p ← p + t·d over the flat view of the parameters. */
  private addToParams(t: number, d: FloatArray): void {
    let offset = 0;
    for (let pIndex = 0; pIndex < this.params.length; pIndex++) {
      const p = this.params[pIndex]!;
      const data = p.data;
      for (let i = 0; i < data.length; i++) data[i] = data[i]! + t * d[offset + i]!;
      offset += data.length;
    }
  }

  private readParams(out: FloatArray): void {
    let offset = 0;
    for (let pIndex = 0; pIndex < this.params.length; pIndex++) {
      const p = this.params[pIndex]!;
      out.set(p.data, offset);
      offset += p.size;
    }
  }

  private writeParams(src: FloatArray): void {
    let offset = 0;
    for (let pIndex = 0; pIndex < this.params.length; pIndex++) {
      const p = this.params[pIndex]!;
      p.data.set(src.subarray(offset, offset + p.size));
      offset += p.size;
    }
  }

  /**
   * Decode the saved state: the generic decoding, then LBFGS's invariants (flat
   * buffers of the total parameter length, histories of equal length, scalars
   * that may be written as 0-dim tensors). All-or-nothing like every load.
   */
  protected override decodeParamState(saved: unknown, p: Parameter, group: ParamGroup<LBFGSOptions>, where: string): LBFGSState {
    if (p !== this.params[0]) {
      throw new StateDictError(`${where}: LBFGS keeps its state on the first parameter only, but state was saved for another one`);
    }
    // PyTorch also saves `al`, the two-loop scratch it rewrites before reading: accept and drop it.
    let entry = saved;
    if (typeof saved === 'object' && saved !== null && !Array.isArray(saved) && 'al' in saved) {
      const { al: _scratch, ...rest } = saved as Record<string, unknown>;
      entry = rest;
    }
    const raw = super.decodeParamState(entry, p, group, where) as Record<string, StateValue>;
    const n = this.numel;
    const count = (key: string): number => {
      const v = scalarOf(raw[key], `${where}.${key}`);
      if (v === null || !Number.isInteger(v) || v < 0) throw new StateDictError(`${where}.${key}: expected an integer >= 0`);
      return v;
    };
    const flat = (value: StateValue | undefined, key: string): FloatArray | null => {
      if (value === null || value === undefined) return null;
      // A history entry may arrive as a plain list of numbers (PyTorch state exported with `.tolist()`).
      if (Array.isArray(value) && value.every((v) => typeof v === 'number')) value = allocate(p.dtype, value as number[]);
      if (!isFloatArray(value) || value.length !== n) {
        throw new StateDictError(`${where}.${key}: expected a tensor of ${n} elements (all parameters flattened)`);
      }
      return value;
    };
    const list = (key: string): StateValue[] => {
      const v = raw[key];
      if (!Array.isArray(v)) throw new StateDictError(`${where}.${key}: expected a list`);
      return v;
    };
    const oldDirs = list('old_dirs').map((v, i) => flat(v, `old_dirs[${i}]`) ?? missing(`${where}.old_dirs[${i}]`));
    const oldStps = list('old_stps').map((v, i) => flat(v, `old_stps[${i}]`) ?? missing(`${where}.old_stps[${i}]`));
    const ro = list('ro').map((v, i) => scalarOf(v, `${where}.ro[${i}]`) ?? missing(`${where}.ro[${i}]`));
    if (oldDirs.length !== oldStps.length || oldDirs.length !== ro.length) {
      throw new StateDictError(
        `${where}: old_dirs, old_stps and ro must have equal lengths, got ${oldDirs.length}, ${oldStps.length}, ${ro.length}`,
      );
    }
    const state: LBFGSState = {
      func_evals: count('func_evals'),
      n_iter: count('n_iter'),
      d: flat(raw.d, 'd'),
      t: scalarOf(raw.t, `${where}.t`),
      old_dirs: oldDirs,
      old_stps: oldStps,
      ro,
      H_diag: scalarOf(raw.H_diag, `${where}.H_diag`),
      prev_flat_grad: flat(raw.prev_flat_grad, 'prev_flat_grad'),
      prev_loss: scalarOf(raw.prev_loss, `${where}.prev_loss`),
    };
    if (state.n_iter > 0 && (state.d === null || state.t === null || state.H_diag === null || state.prev_flat_grad === null)) {
      throw new StateDictError(`${where}: n_iter is ${state.n_iter} but d, t, H_diag or prev_flat_grad is missing`);
    }
    return state;
  }
}

function missing(where: string): never {
  throw new StateDictError(`${where}: expected a value, got null`);
}

/** A scalar saved as a number or as a 0-dim / 1-element tensor (PyTorch keeps H_diag, t and ro as tensors). */
function scalarOf(value: StateValue | undefined, where: string): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return value;
  if (isFloatArray(value) && value.length === 1) return value[0]!;
  throw new StateDictError(`${where}: expected a number`);
}

function maxAbsOf(x: FloatArray): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i]!);
    // NaN wins, as torch's max: a NaN gradient never passes the tolerance test.
    if (a > m || a !== a) m = a;
  }
  return m;
}

function maxAbsScaled(d: FloatArray, t: number): number {
  let m = 0;
  for (let i = 0; i < d.length; i++) {
    const a = Math.abs(d[i]! * t);
    if (a > m || a !== a) m = a;
  }
  return m;
}

/**
 * ‖x‖₁ summed in the order of PyTorch 1.13's CPU `sum` (ATen's cascade sum, for
 * a contiguous tensor and the portable 32-byte vectors): lanes of W = 4 (float64)
 * or 8 (float32) elements, each lane reduced by a 4-way interleaved cascade, then
 * the scalar tail, then the lanes in order. The first iteration's step length
 * t = min(1, 1/‖g‖₁)·lr depends on it, and every later iterate inherits its last ulp.
 */
function torchSumAbs(x: FloatArray): number {
  const f32 = x instanceof Float32Array;
  const width = f32 ? 8 : 4;
  const n = x.length;
  if (n < width) return rowSumAbs(x, 0, 1, n, f32);
  const vectors = Math.floor(n / width);
  let total = 0;
  for (let k = vectors * width; k < n; k++) total = round(total + Math.abs(x[k]!), f32);
  for (let lane = 0; lane < width; lane++) total = round(total + rowSumAbs(x, lane, width, vectors, f32), f32);
  return total;
}

const partials = new Float64Array(4);
const levels = new Float64Array(16);

/** ATen's `row_sum`: a 4-way interleaved `multi_row_sum`, then the tail, then the four partial sums in order. */
function rowSumAbs(x: FloatArray, base: number, stride: number, size: number, f32: boolean): number {
  const sizeIlp = Math.floor(size / 4);
  multiRowSumAbs(x, base, stride * 4, stride, sizeIlp, f32);
  let p0 = partials[0]!;
  for (let i = sizeIlp * 4; i < size; i++) p0 = round(p0 + Math.abs(x[base + i * stride]!), f32);
  for (let k = 1; k < 4; k++) p0 = round(p0 + partials[k]!, f32);
  return p0;
}

/** ATen's `multi_row_sum` for 4 interleaved rows: a 4-level cascade flushed every 2^levelPower rows. */
function multiRowSumAbs(x: FloatArray, base: number, rowStride: number, colStride: number, size: number, f32: boolean): void {
  const ceilLog2 = size <= 2 ? 1 : 32 - Math.clz32(size - 1);
  const levelPower = Math.max(4, Math.floor(ceilLog2 / 4));
  const levelStep = 1 << levelPower;
  const levelMask = levelStep - 1;
  levels.fill(0);
  let i = 0;
  while (i + levelStep <= size) {
    for (let j = 0; j < levelStep; j++, i++) {
      for (let k = 0; k < 4; k++) levels[k] = round(levels[k]! + Math.abs(x[base + i * rowStride + k * colStride]!), f32);
    }
    for (let j = 1; j < 4; j++) {
      for (let k = 0; k < 4; k++) {
        levels[j * 4 + k] = round(levels[j * 4 + k]! + levels[(j - 1) * 4 + k]!, f32);
        levels[(j - 1) * 4 + k] = 0;
      }
      if ((i & (levelMask << (j * levelPower))) !== 0) break;
    }
  }
  for (; i < size; i++) {
    for (let k = 0; k < 4; k++) levels[k] = round(levels[k]! + Math.abs(x[base + i * rowStride + k * colStride]!), f32);
  }
  for (let j = 1; j < 4; j++) {
    for (let k = 0; k < 4; k++) levels[k] = round(levels[k]! + levels[j * 4 + k]!, f32);
  }
  for (let k = 0; k < 4; k++) partials[k] = levels[k]!;
}

function round(x: number, f32: boolean): number {
  return f32 ? Math.fround(x) : x;
}
