import { type FloatArray, type Parameter, adamUpdate, zerosLike } from '@opt/tensor';
import {
  Optimizer,
  type OptimizerSettings,
  type ParamGroup,
  type ParamsArg,
  checkBetas,
  checkBoolean,
  checkFinite,
  checkInRange,
  checkNonNegative,
  checkOneOf,
  checkPositive,
} from '@opt/core';

/**
 * How the learning rate follows its hypergradient h_t = ∂f(θ_{t−1})/∂α:
 * - `'additive'`: α_t = α_{t−1} − β·h_t (the rule of the paper's main text);
 * - `'multiplicative'`: α_t = α_{t−1}·(1 − β·h_t / (‖∇f(θ_{t−1})‖·‖∇_α u_{t−1}‖)), the
 *   paper's multiplicative variant: the step is relative, driven by the cosine
 *   between the new gradient and the previous update direction, so β is
 *   dimensionless and α never changes sign when β < 1.
 */
export type HypergradientRule = 'additive' | 'multiplicative';

/**
 * Accumulate `acc[0] += Σ ĝ_i u_i`, `acc[1] += Σ ĝ_i²`, `acc[2] += Σ u_i²` with
 * `ĝ = g + weightDecay·p`: the dot product and squared norms the hypergradient
 * of the learning rate needs, when the previous update direction `u` is stored.
 */
export function hypergradientProducts(g: FloatArray, p: FloatArray, weightDecay: number, u: FloatArray, acc: Float64Array): void {
  let dot = 0;
  let gg = 0;
  let uu = 0;
  for (let i = 0; i < g.length; i++) {
    const gi = g[i]! + weightDecay * p[i]!;
    const ui = u[i]!;
    dot += gi * ui;
    gg += gi * gi;
    uu += ui * ui;
  }
  acc[0] = acc[0]! + dot;
  acc[1] = acc[1]! + gg;
  acc[2] = acc[2]! + uu;
}

/**
 * As {@link hypergradientProducts} for Adam, whose previous direction is
 * recomputed from the moments before they are updated:
 * `u_i = (m_i / (1 − β1^{t−1})) / (√v_i / √(1 − β2^{t−1}) + eps)`.
 */
export function adamHypergradientProducts(
  g: FloatArray,
  p: FloatArray,
  weightDecay: number,
  m: FloatArray,
  v: FloatArray,
  invBc1Prev: number,
  sqrtBc2Prev: number,
  eps: number,
  acc: Float64Array,
): void {
  let dot = 0;
  let gg = 0;
  let uu = 0;
  for (let i = 0; i < g.length; i++) {
    const gi = g[i]! + weightDecay * p[i]!;
    const ui = (m[i]! * invBc1Prev) / (Math.sqrt(v[i]!) / sqrtBc2Prev + eps);
    dot += gi * ui;
    gg += gi * gi;
    uu += ui * ui;
  }
  acc[0] = acc[0]! + dot;
  acc[1] = acc[1]! + gg;
  acc[2] = acc[2]! + uu;
}

/**
 * SGD step that also records its direction (`prev ← d`), in place:
 * `ĝ = g + weightDecay·p`; with momentum `buf ← first ? ĝ : μ·buf + ĝ`,
 * `d = nesterov ? ĝ + μ·buf : buf`; without, `d = ĝ`; then `p ← p − lr·d`.
 */
export function sgdHypergradientUpdate(
  p: FloatArray,
  g: FloatArray,
  buf: FloatArray | null,
  prev: FloatArray,
  lr: number,
  momentum: number,
  weightDecay: number,
  nesterov: boolean,
  first: boolean,
): void {
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const gi = g[i]! + weightDecay * p[i]!;
    let d = gi;
    if (buf !== null) {
      buf[i] = first ? gi : momentum * buf[i]! + gi;
      d = nesterov ? gi + momentum * buf[i]! : buf[i]!;
    }
    prev[i] = d;
    p[i] = p[i]! - lr * prev[i]!;
  }
}

/** Apply one hypergradient step to a learning rate, given the products of {@link hypergradientProducts}. */
export function hypergradientLr(lr: number, hypergradLr: number, rule: HypergradientRule, acc: Float64Array): number {
  // ∂f(θ_{t−1})/∂α = −ĝ_t·u_{t−1}, since θ_{t−1} = θ_{t−2} − α·u_{t−1}.
  const h = -acc[0]!;
  if (rule === 'additive') return lr - hypergradLr * h;
  const norms = Math.sqrt(acc[1]!) * Math.sqrt(acc[2]!);
  return norms > 0 ? lr * (1 - (hypergradLr * h) / norms) : lr;
}

/** Hyper-parameters of {@link HypergradientSGD}. */
export interface HypergradientSGDOptions {
  /** Initial learning rate α_0, adapted at every step (read it back from `paramGroups[i].lr`). Default 1e-2. */
  lr: number;
  /** Momentum factor μ (0: plain SGD-HD). Default 0. */
  momentum: number;
  /** Nesterov momentum (the paper's SGDN-HD). Default false. */
  nesterov: boolean;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay: number;
  /** β, the hypergradient learning rate. Default 1e-3 (the paper's value for SGD). */
  hypergradLr: number;
  /** Additive or multiplicative rule; see {@link HypergradientRule}. Default `'additive'`. */
  rule: HypergradientRule;
}

/** Per-parameter state of {@link HypergradientSGD}. */
export interface HypergradientSGDState {
  [key: string]: number | FloatArray | null;
  step: number;
  momentum_buffer: FloatArray | null;
  /** The previous update direction u_{t−1} (named as the reference implementation names it). */
  grad_prev: FloatArray;
}

const SGD_DEFAULTS: HypergradientSGDOptions = { lr: 1e-2, momentum: 0, nesterov: false, weightDecay: 0, hypergradLr: 1e-3, rule: 'additive' };

/**
 * SGD-HD and SGDN-HD (Baydin et al., 2018, "Online Learning Rate Adaptation
 * with Hypergradient Descent"): SGD whose learning rate is itself trained, online,
 * by gradient descent on the same loss. With u_t the update direction,
 * θ_t = θ_{t−1} − α_t·u_t, and the chain rule gives
 * h_t = ∂f(θ_{t−1})/∂α = −∇f(θ_{t−1})·u_{t−1}, one dot product per step:
 *
 * ```
 * ĝ_t = ∇f(θ_{t−1}) + weightDecay·θ_{t−1}
 * α_t = α_{t−1} + β·ĝ_t·u_{t−1}                          (additive)
 * α_t = α_{t−1}·(1 + β·cos(ĝ_t, u_{t−1}))                (multiplicative)
 * u_t = ĝ_t  |  buf ← μ·buf + ĝ_t, u_t = buf  |  u_t = ĝ_t + μ·buf (Nesterov)
 * θ_t = θ_{t−1} − α_t·u_t
 * ```
 *
 * The dot product runs over every parameter of a group (the paper's α is one
 * scalar for the whole vector), so each group adapts its own α; the adapted value
 * is written back into `paramGroups[i].lr`, which the state dict saves. No clamp
 * is applied: the additive rule can drive α below zero, as in the paper.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { HypergradientSGD } from '@opt/learned';
 * const x = new Parameter(new Float64Array([1, 1]), [2], 'x');
 * const opt = new HypergradientSGD([x], { lr: 0.01, hypergradLr: 1e-3 });
 * for (let i = 0; i < 50; i++) {
 *   x.grad = new Float64Array([x.data[0]!, 4 * x.data[1]!]);
 *   opt.step();
 * }
 * opt.paramGroups[0]!.lr; // adapted
 * ```
 */
export class HypergradientSGD extends Optimizer<HypergradientSGDOptions, HypergradientSGDState> {
  private readonly acc = new Float64Array(3);

  constructor(params: ParamsArg<HypergradientSGDOptions>, options: Partial<HypergradientSGDOptions> & OptimizerSettings = {}) {
    super('HypergradientSGD', params, SGD_DEFAULTS, options);
  }

  protected validateGroup(o: Readonly<HypergradientSGDOptions>): void {
    const where = 'HypergradientSGD';
    checkFinite(where, 'lr', o.lr);
    checkInRange(where, 'momentum', o.momentum, 0, 1, '[)');
    checkBoolean(where, 'nesterov', o.nesterov);
    if (o.nesterov) checkPositive(where, 'momentum (nesterov needs a momentum)', o.momentum);
    checkNonNegative(where, 'weightDecay', o.weightDecay);
    checkNonNegative(where, 'hypergradLr', o.hypergradLr);
    checkOneOf(where, 'rule', o.rule, ['additive', 'multiplicative'] as const);
  }

  protected initState(p: Parameter): HypergradientSGDState {
    return { step: 0, momentum_buffer: null, grad_prev: zerosLike(p.data) };
  }

  protected updateGroup(group: ParamGroup<HypergradientSGDOptions>): void {
    const { momentum, nesterov, weightDecay, hypergradLr, rule } = group;
    const acc = this.acc;
    acc.fill(0);
    for (let k = 0; k < group.params.length; k++) {
      const p = group.params[k]!;
      if (p.grad === null) continue;
      const s = this.stateFor(p, group);
      if (s.step > 0) hypergradientProducts(p.grad, p.data, weightDecay, s.grad_prev, acc);
    }
    const lr = hypergradientLr(group.lr, hypergradLr, rule, acc);
    group.lr = lr;
    for (let k = 0; k < group.params.length; k++) {
      const p = group.params[k]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      s.step++;
      const first = momentum !== 0 && s.momentum_buffer === null;
      if (first) s.momentum_buffer = zerosLike(p.data);
      sgdHypergradientUpdate(p.data, g, momentum !== 0 ? s.momentum_buffer : null, s.grad_prev, lr, momentum, weightDecay, nesterov, first);
    }
  }
}

/** Hyper-parameters of {@link HypergradientAdam}. */
export interface HypergradientAdamOptions {
  /** Initial learning rate α_0, adapted at every step. Default 1e-3. */
  lr: number;
  /** Adam's decays [β1, β2]. Default [0.9, 0.999]. */
  betas: [number, number];
  /** Added to √v̂. Default 1e-8. */
  eps: number;
  /** L2 penalty added to the gradient. Default 0. */
  weightDecay: number;
  /** β, the hypergradient learning rate. Default 1e-7 (the paper's value for Adam). */
  hypergradLr: number;
  /** Additive or multiplicative rule; see {@link HypergradientRule}. Default `'additive'`. */
  rule: HypergradientRule;
}

/** Per-parameter state of {@link HypergradientAdam} (Adam's). */
export interface HypergradientAdamState {
  [key: string]: number | FloatArray;
  step: number;
  exp_avg: FloatArray;
  exp_avg_sq: FloatArray;
}

const ADAM_DEFAULTS: HypergradientAdamOptions = {
  lr: 1e-3,
  betas: [0.9, 0.999],
  eps: 1e-8,
  weightDecay: 0,
  hypergradLr: 1e-7,
  rule: 'additive',
};

/**
 * Adam-HD (Baydin et al., 2018): Adam whose learning rate follows its
 * hypergradient online. The previous update direction is Adam's normalised step,
 * recomputed from the moments before they absorb the new gradient:
 *
 * ```
 * u_{t−1} = m̂_{t−1} / (√v̂_{t−1} + eps)
 * α_t = α_{t−1} + β·ĝ_t·u_{t−1}                  (additive; multiplicative as in HypergradientSGD)
 * then Adam's step with α_t
 * ```
 *
 * eps is added to the bias-corrected root, as in `@opt/core`'s Adam (and
 * PyTorch's), so u is exactly the direction the previous step took; the
 * reference implementation adds it before bias correction. The dot product runs
 * over the whole group and the adapted α is written into `paramGroups[i].lr`.
 * With `hypergradLr: 0` this is Adam, bit for bit.
 *
 * @example
 * ```ts
 * import { Parameter } from '@opt/tensor';
 * import { HypergradientAdam } from '@opt/learned';
 * const x = new Parameter(new Float64Array([1, 1]), [2], 'x');
 * const opt = new HypergradientAdam([x], { lr: 1e-3, hypergradLr: 1e-4 });
 * x.grad = new Float64Array([1, 4]);
 * opt.step();
 * ```
 */
export class HypergradientAdam extends Optimizer<HypergradientAdamOptions, HypergradientAdamState> {
  private readonly acc = new Float64Array(3);

  constructor(params: ParamsArg<HypergradientAdamOptions>, options: Partial<HypergradientAdamOptions> & OptimizerSettings = {}) {
    super('HypergradientAdam', params, ADAM_DEFAULTS, options);
  }

  protected validateGroup(o: Readonly<HypergradientAdamOptions>): void {
    const where = 'HypergradientAdam';
    checkFinite(where, 'lr', o.lr);
    checkBetas(where, o.betas);
    checkPositive(where, 'eps', o.eps);
    checkNonNegative(where, 'weightDecay', o.weightDecay);
    checkNonNegative(where, 'hypergradLr', o.hypergradLr);
    checkOneOf(where, 'rule', o.rule, ['additive', 'multiplicative'] as const);
  }

  protected initState(p: Parameter): HypergradientAdamState {
    return { step: 0, exp_avg: zerosLike(p.data), exp_avg_sq: zerosLike(p.data) };
  }

  protected updateGroup(group: ParamGroup<HypergradientAdamOptions>): void {
    const { betas, eps, weightDecay, hypergradLr, rule } = group;
    const beta1 = betas[0];
    const beta2 = betas[1];
    const acc = this.acc;
    acc.fill(0);
    for (let k = 0; k < group.params.length; k++) {
      const p = group.params[k]!;
      if (p.grad === null) continue;
      const s = this.stateFor(p, group);
      const tp = s.step;
      if (tp > 0) {
        const invBc1 = 1 / (1 - beta1 ** tp);
        const sqrtBc2 = Math.sqrt(1 - beta2 ** tp);
        adamHypergradientProducts(p.grad, p.data, weightDecay, s.exp_avg, s.exp_avg_sq, invBc1, sqrtBc2, eps, acc);
      }
    }
    const lr = hypergradientLr(group.lr, hypergradLr, rule, acc);
    group.lr = lr;
    for (let k = 0; k < group.params.length; k++) {
      const p = group.params[k]!;
      const g = p.grad;
      if (g === null) continue;
      const s = this.stateFor(p, group);
      const t = ++s.step;
      adamUpdate(p.data, g, s.exp_avg, s.exp_avg_sq, null, lr / (1 - beta1 ** t), Math.sqrt(1 - beta2 ** t), beta1, beta2, eps, weightDecay, 1, false);
    }
  }
}
