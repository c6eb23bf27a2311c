/**
 * Checkpointing: for every optimizer, a run saved with stateDict() after k steps,
 * serialised to JSON text and loaded into a fresh optimizer over fresh copies of
 * the parameters, continues bit-identically to the uninterrupted run.
 */
import {
  ASGD,
  AdaBelief,
  AdaBound,
  AMSBound,
  Adadelta,
  Adafactor,
  Adagrad,
  Adam,
  AdamW,
  Adamax,
  LAMB,
  LARS,
  Lion,
  NAdam,
  RAdam,
  RMSprop,
  Rprop,
  SGD,
  SparseAdam,
  Parameter,
  type Optimizer,
} from '../src/index';

type Factory = (params: Parameter[]) => Optimizer<object>;

/** Two groups, float64 and float32, a matrix and vectors: the layouts real models have. */
function makeParams(): Parameter[] {
  return [
    Parameter.from([0.5, -1.25, 2, 0.125, -0.75, 1.5], { shape: [2, 3], dtype: 'float64', name: 'fc.weight' }),
    Parameter.from([0.1, -0.2, 0.3], { shape: [3], dtype: 'float64', name: 'fc.bias' }),
    Parameter.from([1, -2, 3, -4], { shape: [2, 2], dtype: 'float32', name: 'head.weight' }),
  ];
}

/** A deterministic, non-trivial gradient: a quadratic bowl plus a step-dependent wobble. */
function setGrads(params: Parameter[], k: number): void {
  params.forEach((p, i) => {
    const g = p.ensureGrad();
    for (let j = 0; j < p.size; j++) g[j] = p.data[j]! * (1 + 0.1 * i) + 0.3 * Math.sin(1.7 * k + j + i);
  });
  // Exercise the "no gradient this step" path on one parameter.
  if (k % 4 === 3) params[1]!.grad = null;
}

function groups(params: Parameter[]): Array<{ params: Parameter[]; lr?: number }> {
  return [{ params: [params[0]!, params[1]!] }, { params: [params[2]!] }];
}

const OPTIMIZERS: Array<[string, Factory]> = [
  ['SGD', (p) => new SGD(groups(p), { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 1e-3 })],
  ['SGD nesterov', (p) => new SGD(groups(p), { lr: 0.05, momentum: 0.9, nesterov: true })],
  ['Adam', (p) => new Adam(groups(p), { lr: 0.01, weightDecay: 1e-2 })],
  ['Adam amsgrad', (p) => new Adam(groups(p), { lr: 0.01, amsgrad: true })],
  ['AdamW', (p) => new AdamW(groups(p), { lr: 0.01 })],
  ['Adagrad', (p) => new Adagrad(groups(p), { lr: 0.1, lrDecay: 0.01 })],
  ['Adadelta', (p) => new Adadelta(groups(p), { lr: 1 })],
  ['Adamax', (p) => new Adamax(groups(p), { lr: 0.01 })],
  ['ASGD', (p) => new ASGD(groups(p), { lr: 0.01, t0: 3 })],
  ['NAdam', (p) => new NAdam(groups(p), { lr: 0.01 })],
  ['RAdam', (p) => new RAdam(groups(p), { lr: 0.01 })],
  ['RMSprop', (p) => new RMSprop(groups(p), { lr: 0.01, momentum: 0.5, centered: true })],
  ['Rprop', (p) => new Rprop(groups(p), { lr: 0.01 })],
  ['SparseAdam', (p) => new SparseAdam(groups(p), { lr: 0.01 })],
  ['LAMB', (p) => new LAMB(groups(p), { lr: 0.01, weightDecay: 0.01 })],
  ['LARS', (p) => new LARS(groups(p), { lr: 0.1, weightDecay: 1e-4 })],
  ['Lion', (p) => new Lion(groups(p), { lr: 1e-3, weightDecay: 0.1 })],
  ['AdaBound', (p) => new AdaBound(groups(p), { lr: 0.01 })],
  ['AMSBound', (p) => new AMSBound(groups(p), { lr: 0.01 })],
  ['AdaBelief', (p) => new AdaBelief(groups(p), { lr: 0.01 })],
  ['Adafactor', (p) => new Adafactor(groups(p), { lr: 0.01 })],
];

const SAVE_AFTER = 7;
const TOTAL = 15;

describe.each(OPTIMIZERS)('%s checkpoint', (_name, factory) => {
  test(`resumed from a JSON state dict after ${SAVE_AFTER} steps, it continues bit-identically to an uninterrupted run`, () => {
    const reference = makeParams();
    const refOpt = factory(reference);
    const resumedParams = makeParams();
    const firstOpt = factory(resumedParams);
    let checkpoint = '';
    for (let k = 0; k < TOTAL; k++) {
      setGrads(reference, k);
      refOpt.step();
      if (k < SAVE_AFTER) {
        setGrads(resumedParams, k);
        firstOpt.step();
        if (k === SAVE_AFTER - 1) checkpoint = JSON.stringify(firstOpt.stateDict());
      }
    }
    // A fresh process: new parameters holding the saved values, a new optimizer.
    const restored = makeParams();
    restored.forEach((p, i) => p.data.set(resumedParams[i]!.data));
    const secondOpt = factory(restored);
    secondOpt.loadStateDict(JSON.parse(checkpoint));
    expect(JSON.stringify(secondOpt.stateDict())).toBe(checkpoint);
    for (let k = SAVE_AFTER; k < TOTAL; k++) {
      setGrads(restored, k);
      secondOpt.step();
    }
    restored.forEach((p, i) => expect(Array.from(p.data)).toEqual(Array.from(reference[i]!.data)));
    expect(JSON.stringify(secondOpt.stateDict())).toBe(JSON.stringify(refOpt.stateDict()));
  });
});
