/**
 * Checkpointing for the optimizers that drive the objective themselves (LBFGS,
 * SAM, Newton, Levenberg–Marquardt) and for the wrappers (Lookahead, gradient
 * accumulation, transform chains): a run resumed from a JSON state dict after k
 * steps continues bit-identically to an uninterrupted run.
 */
import {
  ASAM,
  AccumulatingOptimizer,
  Adam,
  LBFGS,
  LevenbergMarquardt,
  Lookahead,
  Newton,
  Parameter,
  SAM,
  SGD,
  TransformOptimizer,
  adamw,
  injectHyperparams,
  type Optimizer,
} from '../src/index';

const CENTER = [1.5, -0.5, 0.25, 2, -1];
const WEIGHT = [1, 3, 0.5, 2, 1.5];

function makeParams(): Parameter[] {
  return [
    Parameter.from([0, 0.5, -1], { dtype: 'float64', name: 'a' }),
    Parameter.from([0.75, 3], { dtype: 'float64', name: 'b' }),
  ];
}

function flat(params: Parameter[]): number[] {
  return params.flatMap((p) => Array.from(p.data));
}

/** f(x) = Σ w_i (x_i − c_i)² + 0.1 Σ sin(x_i): smooth, convex near the start, Hessian diag(2w − 0.1 sin x). */
function closureFor(params: Parameter[]): () => number {
  return () => {
    let f = 0;
    let k = 0;
    for (const p of params) {
      const g = p.ensureGrad();
      for (let j = 0; j < p.size; j++, k++) {
        const x = p.data[j]!;
        f += WEIGHT[k]! * (x - CENTER[k]!) ** 2 + 0.1 * Math.sin(x);
        g[j] = 2 * WEIGHT[k]! * (x - CENTER[k]!) + 0.1 * Math.cos(x);
      }
    }
    return f;
  };
}

type Factory = (params: Parameter[]) => Optimizer<object>;

const FACTORIES: Array<[string, Factory]> = [
  ['LBFGS strong-Wolfe', (p) => new LBFGS(p, { lineSearchFn: 'strong_wolfe', maxIter: 3, historySize: 4 })],
  ['LBFGS fixed step', (p) => new LBFGS(p, { lr: 0.2, maxIter: 4 })],
  ['SAM(SGD)', (p) => new SAM(p, SGD, { lr: 0.05, momentum: 0.9, rho: 0.05 })],
  ['ASAM(Adam)', (p) => new ASAM(p, Adam, { lr: 0.05 })],
  [
    'Newton (dense Hessian, adaptive damping)',
    (p) =>
      new Newton(p, {
        damping: 0.1,
        adaptiveDamping: true,
        lineSearch: 'backtracking',
        hessian: (params, out) => {
          out.fill(0);
          flat(params as Parameter[]).forEach((x, k) => (out[k * 5 + k] = 2 * WEIGHT[k]! - 0.1 * Math.sin(x)));
        },
      }),
  ],
  [
    'Newton (Hessian-vector products)',
    (p) =>
      new Newton(p, {
        lr: 0.5,
        hvp: (v, out) => {
          const x = flat(p);
          for (let k = 0; k < 5; k++) out[k] = (2 * WEIGHT[k]! - 0.1 * Math.sin(x[k]!)) * v[k]!;
        },
      }),
  ],
  [
    'LevenbergMarquardt',
    (p) =>
      new LevenbergMarquardt(p, {
        residualCount: 5,
        residuals: (params, out) => flat(params as Parameter[]).forEach((x, k) => (out[k] = x - CENTER[k]! + 0.1 * x * x)),
        jacobian: (params, out) => {
          out.fill(0);
          flat(params as Parameter[]).forEach((x, k) => (out[k * 5 + k] = 1 + 0.2 * x));
        },
      }),
  ],
  ['Lookahead(Adam)', (p) => new Lookahead(new Adam(p, { lr: 0.05 }), { k: 3, alpha: 0.5 })],
  ['AccumulatingOptimizer(Adam, 3)', (p) => new AccumulatingOptimizer(new Adam(p, { lr: 0.05 }), { steps: 3 })],
  [
    'TransformOptimizer(adamw with injected lr)',
    (p) => new TransformOptimizer(p, injectHyperparams((h: { lr: (s: number) => number }) => adamw(h.lr, { weightDecay: 1e-2 }))({ lr: 0.05 })),
  ],
];

const SAVE_AFTER = 4;
const TOTAL = 9;

describe.each(FACTORIES)('%s checkpoint', (_name, factory) => {
  test(`resumed from a JSON state dict after ${SAVE_AFTER} steps, it continues bit-identically`, () => {
    const reference = makeParams();
    const refOpt = factory(reference);
    const refClosure = closureFor(reference);
    const first = makeParams();
    const firstOpt = factory(first);
    const firstClosure = closureFor(first);
    let checkpoint = '';
    const refLosses: Array<number | undefined> = [];
    for (let k = 0; k < TOTAL; k++) {
      refClosure();
      refLosses.push(refOpt.step(refClosure));
      if (k < SAVE_AFTER) {
        firstClosure();
        firstOpt.step(firstClosure);
        if (k === SAVE_AFTER - 1) checkpoint = JSON.stringify(firstOpt.stateDict());
      }
    }
    const restored = makeParams();
    restored.forEach((p, i) => p.data.set(first[i]!.data));
    const secondOpt = factory(restored);
    secondOpt.loadStateDict(JSON.parse(checkpoint));
    expect(JSON.stringify(secondOpt.stateDict())).toBe(checkpoint);
    const closure = closureFor(restored);
    for (let k = SAVE_AFTER; k < TOTAL; k++) {
      closure();
      expect(secondOpt.step(closure)).toBe(refLosses[k]);
    }
    expect(flat(restored)).toEqual(flat(reference));
    expect(JSON.stringify(secondOpt.stateDict())).toBe(JSON.stringify(refOpt.stateDict()));
    // The run made progress: the checkpoint sits on a real trajectory.
    expect(closureFor(reference)()).toBeLessThan(closureFor(makeParams())());
  });
});
