import { InvalidOptionError } from '@opt/tensor';
import type { StepBuilder } from './step-builder.js';

/** The optimizers that have an ONNX step graph. */
export type StepAlgorithm = 'adam' | 'adamw' | 'sgd' | 'rmsprop' | 'adagrad' | 'lion' | 'lamb';

/** Every algorithm that has a step graph. */
export const STEP_ALGORITHMS: readonly StepAlgorithm[] = ['adam', 'adamw', 'sgd', 'rmsprop', 'adagrad', 'lion', 'lamb'];

/**
 * Options fixed in a graph's structure (a change selects another session):
 * which terms exist, not their values, which are runtime inputs.
 */
export interface StepFlags {
  /** Negate the gradient (PyTorch's `maximize`). */
  maximize: boolean;
  /** A weight-decay term exists (`weightDecay ≠ 0`). */
  weightDecay: boolean;
  /** Adam/AdamW: keep the running maximum of the second moment. */
  amsgrad: boolean;
  /** SGD/RMSprop: a momentum buffer exists (`momentum ≠ 0`). */
  momentum: boolean;
  /** SGD: Nesterov momentum. */
  nesterov: boolean;
  /** RMSprop: centered (subtract the squared mean gradient). */
  centered: boolean;
}

/** Hyper-parameters of any graph algorithm, as `@opt/core`'s option objects hold them. */
export interface StepHyperOptions {
  lr: number;
  betas?: readonly [number, number];
  eps?: number;
  weightDecay?: number;
  amsgrad?: boolean;
  maximize?: boolean;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  alpha?: number;
  centered?: boolean;
  lrDecay?: number;
  clampValue?: number;
}

/** The per-algorithm definition: state keys, runtime scalars and the graph body. */
export interface AlgorithmDefinition {
  /** The `@opt/core` class name (the `optimizer` field of its state dicts). */
  readonly coreName: string;
  /** Whether the state holds a `step` counter. */
  readonly stepCounter: boolean;
  /** The static flags of a group's options. */
  flags(o: StepHyperOptions): StepFlags;
  /** Tensor state keys (PyTorch's) present under these flags, in `initState` order. */
  stateKeys(f: StepFlags): string[];
  /** Names of the runtime scalars, in the order of the `hyper` input. */
  hyperNames(f: StepFlags): string[];
  /**
   * Compute the runtime scalars in float64 exactly as `@opt/core` computes them
   * on the host, writing them into `out` in {@link AlgorithmDefinition.hyperNames} order.
   *
   * @param t - the parameter's step count after incrementing (1 on the first step).
   * @param first - SGD: the momentum buffer does not exist yet.
   */
  hyper(o: StepHyperOptions, f: StepFlags, t: number, first: boolean, out: Float64Array): void;
  /** Write the update: `p`, `g` and state values are compute-type names; returns nothing (it stores outputs). */
  build(s: StepBuilder, f: StepFlags, p: string, g: string, state: Record<string, string>, h: Record<string, string>): void;
}

const num = (value: number | undefined, fallback: number): number => value ?? fallback;

function baseFlags(o: StepHyperOptions): StepFlags {
  return {
    maximize: o.maximize === true,
    weightDecay: num(o.weightDecay, 0) !== 0,
    amsgrad: o.amsgrad === true,
    momentum: num(o.momentum, 0) !== 0,
    nesterov: o.nesterov === true,
    centered: o.centered === true,
  };
}

function signed(s: StepBuilder, f: StepFlags, g: string): string {
  return f.maximize ? s.neg(g) : g;
}

/** `sign·g + wd·p` when a weight-decay term exists, else `sign·g`. */
function coupledGrad(s: StepBuilder, f: StepFlags, p: string, g: string, wd: string): string {
  const sg = signed(s, f, g);
  return f.weightDecay ? s.add(sg, s.mul(wd, p)) : sg;
}

function adamLike(decoupled: boolean): AlgorithmDefinition {
  return {
    coreName: decoupled ? 'AdamW' : 'Adam',
    stepCounter: true,
    flags: baseFlags,
    stateKeys: (f) => (f.amsgrad ? ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'] : ['exp_avg', 'exp_avg_sq']),
    hyperNames: () => ['step_size', 'inv_bc2', 'beta1', 'beta2', 'c1', 'c2', 'eps', 'l2', 'decay'],
    hyper(o, _f, t, _first, out) {
      const [beta1, beta2] = o.betas ?? [0.9, 0.999];
      const wd = num(o.weightDecay, 0);
      out[0] = o.lr / (1 - beta1 ** t);
      out[1] = 1 / Math.sqrt(1 - beta2 ** t);
      out[2] = beta1;
      out[3] = beta2;
      out[4] = 1 - beta1;
      out[5] = 1 - beta2;
      out[6] = num(o.eps, 1e-8);
      out[7] = decoupled ? 0 : wd;
      out[8] = decoupled ? 1 - o.lr * wd : 1;
    },
    build(s, f, p0, g, st, h) {
      // Adam's L2 term joins the gradient; AdamW's decay scales the stored parameter first.
      const p = decoupled && f.weightDecay ? s.round(s.mul(p0, h.decay!)) : p0;
      const gi = decoupled ? signed(s, f, g) : coupledGrad(s, f, p, g, h.l2!);
      const m = s.store(s.add(s.mul(h.beta1!, st.exp_avg!), s.mul(h.c1!, gi)), 'exp_avg_out');
      const v = s.store(s.add(s.mul(h.beta2!, st.exp_avg_sq!), s.mul(h.c2!, s.mul(gi, gi))), 'exp_avg_sq_out');
      const second = f.amsgrad ? s.store(s.g.op('Max', [st.max_exp_avg_sq!, v]), 'max_exp_avg_sq_out') : v;
      const denom = s.add(s.mul(s.sqrt(second), h.inv_bc2!), h.eps!);
      s.store(s.sub(p, s.div(s.mul(h.step_size!, m), denom)), 'param_out');
    },
  };
}

const SGD: AlgorithmDefinition = {
  coreName: 'SGD',
  stepCounter: false,
  flags: baseFlags,
  stateKeys: (f) => (f.momentum ? ['momentum_buffer'] : []),
  hyperNames: () => ['lr', 'weight_decay', 'buf_decay', 'buf_keep', 'momentum'],
  hyper(o, _f, _t, first, out) {
    const momentum = num(o.momentum, 0);
    out[0] = o.lr;
    out[1] = num(o.weightDecay, 0);
    // The first momentum step copies the gradient: 0·buf + 1·g reproduces that exactly on a zero buffer.
    out[2] = first ? 0 : momentum;
    out[3] = first ? 1 : 1 - num(o.dampening, 0);
    out[4] = momentum;
  },
  build(s, f, p, g, st, h) {
    const gi = coupledGrad(s, f, p, g, h.weight_decay!);
    let d = gi;
    if (f.momentum) {
      const buf = s.store(s.add(s.mul(h.buf_decay!, st.momentum_buffer!), s.mul(h.buf_keep!, gi)), 'momentum_buffer_out');
      d = f.nesterov ? s.add(gi, s.mul(h.momentum!, buf)) : buf;
    }
    s.store(s.sub(p, s.mul(h.lr!, d)), 'param_out');
  },
};

const RMSPROP: AlgorithmDefinition = {
  coreName: 'RMSprop',
  stepCounter: true,
  flags: baseFlags,
  stateKeys: (f) => ['square_avg', ...(f.momentum ? ['momentum_buffer'] : []), ...(f.centered ? ['grad_avg'] : [])],
  hyperNames: () => ['lr', 'alpha', 'c', 'eps', 'weight_decay', 'momentum'],
  hyper(o, _f, _t, _first, out) {
    const alpha = num(o.alpha, 0.99);
    out[0] = o.lr;
    out[1] = alpha;
    out[2] = 1 - alpha;
    out[3] = num(o.eps, 1e-8);
    out[4] = num(o.weightDecay, 0);
    out[5] = num(o.momentum, 0);
  },
  build(s, f, p, g, st, h) {
    const gi = coupledGrad(s, f, p, g, h.weight_decay!);
    const sq = s.store(s.add(s.mul(h.alpha!, st.square_avg!), s.mul(h.c!, s.mul(gi, gi))), 'square_avg_out');
    let avg: string;
    if (f.centered) {
      const ga = s.store(s.add(s.mul(h.alpha!, st.grad_avg!), s.mul(h.c!, gi)), 'grad_avg_out');
      avg = s.add(s.sqrt(s.sub(sq, s.mul(ga, ga))), h.eps!);
    } else {
      avg = s.add(s.sqrt(sq), h.eps!);
    }
    if (f.momentum) {
      const buf = s.store(s.add(s.mul(h.momentum!, st.momentum_buffer!), s.div(gi, avg)), 'momentum_buffer_out');
      s.store(s.sub(p, s.mul(h.lr!, buf)), 'param_out');
    } else {
      s.store(s.sub(p, s.div(s.mul(h.lr!, gi), avg)), 'param_out');
    }
  },
};

const ADAGRAD: AlgorithmDefinition = {
  coreName: 'Adagrad',
  stepCounter: true,
  flags: baseFlags,
  stateKeys: () => ['sum'],
  hyperNames: () => ['clr', 'eps', 'weight_decay'],
  hyper(o, _f, t, _first, out) {
    out[0] = o.lr / (1 + (t - 1) * num(o.lrDecay, 0));
    out[1] = num(o.eps, 1e-10);
    out[2] = num(o.weightDecay, 0);
  },
  build(s, f, p, g, st, h) {
    const gi = coupledGrad(s, f, p, g, h.weight_decay!);
    const sum = s.store(s.add(st.sum!, s.mul(gi, gi)), 'sum_out');
    s.store(s.sub(p, s.div(s.mul(h.clr!, gi), s.add(s.sqrt(sum), h.eps!))), 'param_out');
  },
};

const LION: AlgorithmDefinition = {
  coreName: 'Lion',
  stepCounter: false,
  flags: baseFlags,
  stateKeys: () => ['exp_avg'],
  hyperNames: () => ['lr', 'beta1', 'beta2', 'c1', 'c2', 'decay'],
  hyper(o, _f, _t, _first, out) {
    const [beta1, beta2] = o.betas ?? [0.9, 0.99];
    out[0] = o.lr;
    out[1] = beta1;
    out[2] = beta2;
    out[3] = 1 - beta1;
    out[4] = 1 - beta2;
    out[5] = 1 - o.lr * num(o.weightDecay, 0);
  },
  build(s, f, p0, g, st, h) {
    const p = f.weightDecay ? s.round(s.mul(p0, h.decay!)) : p0;
    const gi = signed(s, f, g);
    const c = s.add(s.mul(h.beta1!, st.exp_avg!), s.mul(h.c1!, gi));
    s.store(s.sub(p, s.mul(h.lr!, s.g.op('Sign', [c]))), 'param_out');
    s.store(s.add(s.mul(h.beta2!, st.exp_avg!), s.mul(h.c2!, gi)), 'exp_avg_out');
  },
};

const LAMB: AlgorithmDefinition = {
  coreName: 'LAMB',
  stepCounter: true,
  flags: baseFlags,
  stateKeys: () => ['exp_avg', 'exp_avg_sq'],
  hyperNames: () => ['lr', 'beta1', 'beta2', 'c1', 'c2', 'bc1', 'bc2', 'eps', 'weight_decay', 'clamp'],
  hyper(o, _f, t, _first, out) {
    const [beta1, beta2] = o.betas ?? [0.9, 0.999];
    out[0] = o.lr;
    out[1] = beta1;
    out[2] = beta2;
    out[3] = 1 - beta1;
    out[4] = 1 - beta2;
    out[5] = 1 - beta1 ** t;
    out[6] = 1 - beta2 ** t;
    out[7] = num(o.eps, 1e-6);
    out[8] = num(o.weightDecay, 0);
    out[9] = num(o.clampValue, 10);
  },
  build(s, f, p, g, st, h) {
    const gi = signed(s, f, g);
    const m = s.store(s.add(s.mul(h.beta1!, st.exp_avg!), s.mul(h.c1!, gi)), 'exp_avg_out');
    const v = s.store(s.add(s.mul(h.beta2!, st.exp_avg_sq!), s.mul(h.c2!, s.mul(gi, gi))), 'exp_avg_sq_out');
    const adam = s.div(s.div(m, h.bc1!), s.add(s.sqrt(s.div(v, h.bc2!)), h.eps!));
    const u0 = s.add(adam, s.mul(h.weight_decay!, p));
    // The core kernel keeps u in a scratch buffer of the parameter's dtype: round it the same way.
    const u = s.round(u0);
    const pNorm = s.sqrt(s.g.op('ReduceSumSquare', [p], { keepdims: 0 }));
    const uNorm = s.sqrt(s.g.op('ReduceSumSquare', [u], { keepdims: 0 }));
    const zero = s.constant(0);
    const degenerate = s.g.op('Or', [s.g.op('Equal', [pNorm, zero]), s.g.op('Equal', [uNorm, zero])]);
    const ratio = s.g.op('Where', [degenerate, s.constant(1), s.div(s.g.op('Min', [pNorm, h.clamp!]), uNorm)]);
    s.store(s.sub(p, s.mul(s.mul(h.lr!, ratio), u)), 'param_out');
  },
};

/** The definition of each graph algorithm. */
export const ALGORITHMS: Readonly<Record<StepAlgorithm, AlgorithmDefinition>> = {
  adam: adamLike(false),
  adamw: adamLike(true),
  sgd: SGD,
  rmsprop: RMSPROP,
  adagrad: ADAGRAD,
  lion: LION,
  lamb: LAMB,
};

/** The graph algorithm of an `@opt/core` optimizer class name (`'AdamW'` → `'adamw'`). */
export function algorithmOf(coreName: string): StepAlgorithm {
  for (const a of STEP_ALGORITHMS) if (ALGORITHMS[a].coreName === coreName) return a;
  throw new InvalidOptionError(
    'optimizer',
    coreName,
    `one of ${STEP_ALGORITHMS.map((a) => ALGORITHMS[a].coreName).join(', ')} (the optimizers with an ONNX step graph)`,
    '@opt/hardware',
  );
}
