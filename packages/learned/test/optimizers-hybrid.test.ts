import { Adam, SGD } from '@opt/core';
import { Parameter, ParamGroupError } from '@opt/tensor';
import {
  type FallbackReport,
  HybridOptimizer,
  MLPLearnedOptimizer,
  hybridOptimizerFactory,
  mlpLearnedOptimizerFactory,
} from '../src/index';

function makeParams(): Parameter[] {
  return [new Parameter(new Float64Array([1, -2, 0.5, 3]), [2, 2], 'w'), new Parameter(new Float64Array([0.3, -0.1]), [2], 'b')];
}

function setGrads(ps: Parameter[]): void {
  for (const p of ps) {
    const g = new Float64Array(p.size);
    for (let i = 0; i < p.size; i++) g[i] = Math.sin(p.data[i]!) + 0.5 * p.data[i]!;
    p.grad = g;
  }
}

const factory = mlpLearnedOptimizerFactory({ lr: 1e-2 });

describe('HybridOptimizer', () => {
  test('the update is w·learned + (1 − w)·traditional from the same point', () => {
    const theta = factory.initialMetaParams();
    theta[theta.length - 1] = Math.log(3); // learned step = 3 × Adam's
    const ps = makeParams();
    const ref = makeParams();
    const adam = new Adam(ref, { lr: 1e-2 });
    const hybrid = new HybridOptimizer(factory.create(ps, theta), new Adam(ps, { lr: 1e-2 }), { weight: 0.25 });
    setGrads(ps);
    setGrads(ref);
    const start = ps.map((p) => Array.from(p.data));
    hybrid.step();
    adam.step();
    for (let k = 0; k < ps.length; k++) {
      for (let i = 0; i < ps[k]!.size; i++) {
        const adamDelta = ref[k]!.data[i]! - start[k]![i]!;
        expect(ps[k]!.data[i]! - start[k]![i]!).toBeCloseTo(0.25 * 3 * adamDelta + 0.75 * adamDelta, 12);
      }
    }
    expect(hybrid.fallbackSteps).toBe(0);
  });

  test('a NaN learned update falls back to the traditional update and is reported', () => {
    const theta = factory.initialMetaParams();
    theta[theta.length - 1] = NaN; // corrupted weights: every learned step is NaN
    const ps = makeParams();
    const ref = makeParams();
    const sgdRef = new SGD(ref, { lr: 0.1 });
    const reports: FallbackReport[] = [];
    const hybrid = new HybridOptimizer(factory.create(ps, theta), new SGD(ps, { lr: 0.1 }), { onFallback: (r) => reports.push(r) });
    for (let i = 0; i < 3; i++) {
      setGrads(ps);
      setGrads(ref);
      hybrid.step();
      sgdRef.step();
    }
    for (let k = 0; k < ps.length; k++) expect(Array.from(ps[k]!.data)).toEqual(Array.from(ref[k]!.data));
    expect(hybrid.fallbackSteps).toBe(3);
    expect(reports.map((r) => [r.step, r.reason])).toEqual([
      [1, 'non-finite'],
      [2, 'non-finite'],
      [3, 'non-finite'],
    ]);
  });

  test('an exploding learned update falls back, and permanent: true switches for good', () => {
    const theta = factory.initialMetaParams();
    const count = theta.length;
    theta[count - 2] = 1e6; // bias of the direction d: a huge learned step
    const ps = makeParams();
    const reports: FallbackReport[] = [];
    const learned = factory.create(ps, theta);
    const hybrid = new HybridOptimizer(learned, new Adam(ps, { lr: 1e-2 }), {
      explodeFactor: 10,
      permanent: true,
      onFallback: (r) => reports.push(r),
    });
    setGrads(ps);
    hybrid.step();
    expect(reports).toHaveLength(1);
    expect(reports[0]!.reason).toBe('explosion');
    expect(reports[0]!.learnedNorm).toBeGreaterThan(10 * reports[0]!.traditionalNorm);
    expect(hybrid.switched).toBe(true);
    const learnedSteps = [...learned.state.values()][0]!.step;
    setGrads(ps);
    hybrid.step();
    // Switched: the learned optimizer is no longer stepped, and no new fallback is counted.
    expect([...learned.state.values()][0]!.step).toBe(learnedSteps);
    expect(hybrid.fallbackSteps).toBe(1);
    expect(hybrid.hybridStep).toBe(2);
  });

  test('the factory learns the mixing weight as one extra meta-parameter, read by reference', () => {
    const hf = hybridOptimizerFactory(factory, { traditional: (p) => new SGD(p, { lr: 0.1 }), initialWeight: 0.5 });
    expect(hf.metaParamCount).toBe(factory.metaParamCount + 1);
    const theta = hf.initialMetaParams();
    const opt = hf.create(makeParams(), theta);
    expect(opt.weightAt(1)).toBeCloseTo(0.5, 14);
    theta[theta.length - 1] = 2;
    expect(opt.weightAt(1)).toBeCloseTo(1 / (1 + Math.exp(-2)), 14);
  });

  test('the state dict carries both optimizers and the counters, and resumes bit-identically', () => {
    const build = (ps: Parameter[]) =>
      new HybridOptimizer(new MLPLearnedOptimizer(ps, { weights: 'untrained', lr: 0.02 }), new SGD(ps, { lr: 0.05, momentum: 0.9 }), {
        weight: 0.7,
      });
    const a = makeParams();
    const opt = build(a);
    for (let i = 0; i < 4; i++) {
      setGrads(a);
      opt.step();
    }
    const saved = JSON.parse(JSON.stringify(opt.stateDict()));
    const b = a.map((p) => new Parameter(p.data.slice(), p.shape, p.name));
    const resumed = build(b);
    resumed.loadStateDict(saved);
    expect(resumed.hybridStep).toBe(4);
    for (let i = 0; i < 4; i++) {
      setGrads(a);
      setGrads(b);
      opt.step();
      resumed.step();
    }
    for (let k = 0; k < a.length; k++) expect(Array.from(b[k]!.data)).toEqual(Array.from(a[k]!.data));
  });

  test('bad options throw typed errors', () => {
    const ps = makeParams();
    const learned = factory.create(ps, factory.initialMetaParams());
    expect(() => new HybridOptimizer(learned, new Adam(ps), { weight: 2 })).toThrow(/weight/);
    expect(() => new HybridOptimizer(learned, new Adam(ps), { explodeFactor: 0 })).toThrow(/explodeFactor/);
    expect(() => new HybridOptimizer(learned, new Adam(makeParams()))).toThrow(ParamGroupError);
  });
});
