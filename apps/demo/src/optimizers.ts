import {
  ASGD,
  AdaBelief,
  AdaBound,
  Adadelta,
  Adafactor,
  Adagrad,
  Adam,
  AdamW,
  Adamax,
  AMSBound,
  LAMB,
  LARS,
  LBFGS,
  LevenbergMarquardt,
  Lion,
  Lookahead,
  NAdam,
  Newton,
  RAdam,
  RMSprop,
  Rprop,
  SAM,
  SGD,
  type Parameter,
} from '@opt/core';
import type { Problem } from './problems.js';

/** Anything the demo can drive: a `step(closure)` that re-evaluates the objective. */
export interface Stepper {
  step(closure: () => number): number | undefined;
}

/** What a run gives an optimizer factory besides the parameters. */
export interface RunContext {
  readonly problem: Problem;
  /** Count one objective evaluation made outside the closure (residuals for least squares). */
  countEvaluation(): void;
}

/** How the demo builds and tunes one optimizer. */
export interface OptimizerEntry {
  readonly name: string;
  /** Learning rates tried per problem (the best is reported); `null`: the method's own default. */
  readonly lrGrid: readonly number[] | null;
  /** `step()` calls per run. */
  readonly steps: number;
  /** SAM ascends along the gradient already in `grad`, so the loop computes it before each step. */
  readonly gradientBeforeStep?: boolean;
  /** Whether the method applies to a problem (Levenberg–Marquardt needs residuals, Newton a Hessian). */
  applies?(problem: Problem): boolean;
  make(params: Parameter[], lr: number, context: RunContext): Stepper;
}

const GRID = [1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1];
const FIRST_ORDER_STEPS = 3000;

function firstOrder(name: string, make: (params: Parameter[], lr: number) => Stepper, grid = GRID): OptimizerEntry {
  return { name, lrGrid: grid, steps: FIRST_ORDER_STEPS, make };
}

/** Every optimizer of the demo, in the order of the table. */
export const OPTIMIZERS: readonly OptimizerEntry[] = [
  firstOrder('SGD', (p, lr) => new SGD(p, { lr })),
  firstOrder('SGD+momentum', (p, lr) => new SGD(p, { lr, momentum: 0.9 })),
  firstOrder('SGD+nesterov', (p, lr) => new SGD(p, { lr, momentum: 0.9, nesterov: true })),
  firstOrder('Adam', (p, lr) => new Adam(p, { lr })),
  firstOrder('AMSGrad', (p, lr) => new Adam(p, { lr, amsgrad: true })),
  firstOrder('AdamW', (p, lr) => new AdamW(p, { lr, weightDecay: 0 })),
  firstOrder('Adamax', (p, lr) => new Adamax(p, { lr })),
  firstOrder('NAdam', (p, lr) => new NAdam(p, { lr })),
  firstOrder('RAdam', (p, lr) => new RAdam(p, { lr })),
  firstOrder('Adagrad', (p, lr) => new Adagrad(p, { lr })),
  firstOrder('Adadelta', (p, lr) => new Adadelta(p, { lr }), [0.1, 0.3, 1, 3, 10]),
  firstOrder('RMSprop', (p, lr) => new RMSprop(p, { lr })),
  firstOrder('Rprop', (p, lr) => new Rprop(p, { lr })),
  firstOrder('ASGD', (p, lr) => new ASGD(p, { lr })),
  firstOrder('LAMB', (p, lr) => new LAMB(p, { lr })),
  firstOrder('LARS', (p, lr) => new LARS(p, { lr, trustCoefficient: 1 })),
  firstOrder('Lion', (p, lr) => new Lion(p, { lr }), [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1]),
  firstOrder('AdaBound', (p, lr) => new AdaBound(p, { lr })),
  firstOrder('AMSBound', (p, lr) => new AMSBound(p, { lr })),
  firstOrder('AdaBelief', (p, lr) => new AdaBelief(p, { lr })),
  firstOrder('Adafactor', (p, lr) => new Adafactor(p, { lr })),
  firstOrder('Lookahead(Adam)', (p, lr) => new Lookahead(new Adam(p, { lr }), { k: 5, alpha: 0.5 })),
  {
    ...firstOrder('SAM(SGD+mom)', (p, lr) => new SAM(p, SGD, { lr, momentum: 0.9, rho: 0.01 })),
    gradientBeforeStep: true,
  },
  { name: 'LBFGS', lrGrid: null, steps: 50, make: (p) => new LBFGS(p, { lineSearchFn: 'strong_wolfe' }) },
  {
    name: 'Newton',
    lrGrid: null,
    steps: 100,
    applies: (problem) => problem.hessian !== undefined,
    make: (p, _lr, { problem }) =>
      new Newton(p, {
        damping: 1e-3,
        adaptiveDamping: true,
        lineSearch: 'backtracking',
        hessian: (params, out) => problem.hessian!(params[0]!.data as Float64Array, out),
      }),
  },
  {
    name: 'LevenbergMarquardt',
    lrGrid: null,
    steps: 100,
    applies: (problem) => problem.residuals !== undefined,
    make: (p, _lr, { problem, countEvaluation }) => {
      const ls = problem.residuals!;
      return new LevenbergMarquardt(p, {
        residualCount: ls.count,
        residuals: (params, out) => {
          countEvaluation();
          ls.r(params[0]!.data as Float64Array, out);
        },
        jacobian: (params, out) => ls.jacobian(params[0]!.data as Float64Array, out),
      });
    },
  },
];
