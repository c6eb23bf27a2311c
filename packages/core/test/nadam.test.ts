import { InvalidOptionError, Parameter } from '@opt/tensor';
import { NAdam } from '../src/index';
import { type FixtureFile, describeFixtureReplay, loadFixture, replayCase } from './helpers/fixtures';

describeFixtureReplay('optim/nadam.json', (groups, options) => new NAdam(groups, { ...options, compat: 'torch-1.13' }));

/** μt of NAdam's momentum schedule. */
function muAt(beta1: number, psi: number, t: number): number {
  return beta1 * (1 - 0.5 * 0.96 ** (t * psi));
}

/**
 * Two NAdam steps on one float64 coordinate with constant gradient, written out
 * from the update rule; `legacy` chooses PyTorch 1.13's Πμ_next.
 */
function twoStepsByHand(p0: number, g: number, lr: number, beta1: number, beta2: number, psi: number, legacy: boolean): number[] {
  const eps = 1e-8;
  let p = p0;
  let m = 0;
  let v = 0;
  let prod = 1;
  const out: number[] = [];
  for (let t = 1; t <= 2; t++) {
    const mu = muAt(beta1, psi, t);
    const muNext = muAt(beta1, psi, t + 1);
    prod = Math.fround(prod * Math.fround(mu));
    const prodNext = legacy ? Math.fround(Math.fround(prod * Math.fround(mu)) * Math.fround(muNext)) : prod * muNext;
    m = beta1 * m + (1 - beta1) * g;
    v = beta2 * v + (1 - beta2) * g * g;
    const denom = Math.sqrt(v / (1 - beta2 ** t)) + eps;
    p = p - ((lr * (1 - mu)) / (1 - prod)) * (g / denom);
    p = p - ((lr * muNext) / (1 - prodNext)) * (m / denom);
    out.push(p);
  }
  return out;
}

describe('NAdam', () => {
  test('the first step is lr·(1 − μ1)/(1 − Πμ)·g/d + lr·μ2/(1 − Πμ·μ2)·m/d with Πμ = fl32(μ1) stored in float32', () => {
    const p = new Parameter(new Float64Array([1]), [1]);
    const opt = new NAdam([p], { lr: 0.1 });
    p.grad = new Float64Array([0.5]);
    opt.step();
    const mu1 = muAt(0.9, 4e-3, 1);
    const mu2 = muAt(0.9, 4e-3, 2);
    const prod = Math.fround(mu1);
    // m = 0.1·g and sqrt(v/bc2) = |g|, so g/d ≈ 1 and m/d ≈ 0.1.
    const d = 0.5 + 1e-8;
    const expected = 1 - (0.1 * (1 - mu1)) / (1 - prod) * (0.5 / d) - ((0.1 * mu2) / (1 - prod * mu2)) * (0.05 / d);
    expect(p.data[0]).toBeCloseTo(expected, 15);
    expect(opt.state.get(p)!.mu_product).toBe(prod);
    expect(opt.state.get(p)!.step).toBe(1);
  });

  test("the default ('latest') uses Πμ·μ(t+1) where torch-1.13 counts μt twice, and the two trajectories differ", () => {
    const run = (compat: 'latest' | 'torch-1.13'): number[] => {
      const p = new Parameter(new Float64Array([1]), [1]);
      const opt = new NAdam([p], compat === 'latest' ? { lr: 0.01 } : { lr: 0.01, compat });
      const trace: number[] = [];
      for (let k = 0; k < 2; k++) {
        p.grad = new Float64Array([0.3]);
        opt.step();
        trace.push(p.data[0]!);
      }
      return trace;
    };
    const latest = run('latest');
    const legacy = run('torch-1.13');
    const latestByHand = twoStepsByHand(1, 0.3, 0.01, 0.9, 0.999, 4e-3, false);
    const legacyByHand = twoStepsByHand(1, 0.3, 0.01, 0.9, 0.999, 4e-3, true);
    expect(latest[1]).toBeCloseTo(latestByHand[1]!, 15);
    expect(legacy[1]).toBeCloseTo(legacyByHand[1]!, 15);
    expect(latest[0]).toBeCloseTo(latestByHand[0]!, 15);
    expect(legacy[0]).toBeCloseTo(legacyByHand[0]!, 15);
    // With a constant gradient and no weight decay m and v do not depend on p, so the
    // two runs' second steps differ only in the momentum coefficient, by exactly
    // lr·μ3·(1/(1 − Πμ2·μ3) − 1/(1 − Πμ2·μ2·μ3))·m2/d2 with m2 = (1 − β1²)·g, d2 = |g| + eps.
    const [mu2, mu3] = [muAt(0.9, 4e-3, 2), muAt(0.9, 4e-3, 3)];
    const prod2 = Math.fround(Math.fround(Math.fround(muAt(0.9, 4e-3, 1))) * Math.fround(mu2));
    const latestCoef = (0.01 * mu3) / (1 - prod2 * mu3);
    const legacyCoef = (0.01 * mu3) / (1 - Math.fround(Math.fround(prod2 * Math.fround(mu2)) * Math.fround(mu3)));
    const m2OverD2 = ((1 - 0.9 ** 2) * 0.3) / (Math.sqrt(((1 - 0.999 ** 2) * 0.09) / (1 - 0.999 ** 2)) + 1e-8);
    const secondStepLatest = latest[1]! - latest[0]!;
    const secondStepLegacy = legacy[1]! - legacy[0]!;
    expect(secondStepLatest - secondStepLegacy).toBeCloseTo(-(latestCoef - legacyCoef) * m2OverD2, 14);
    // Counting μt twice shrinks Πμ_next (μt < 1), so 1.13 takes a smaller momentum step.
    expect(Math.abs(latest[1]! - legacy[1]!)).toBeGreaterThan(1e-5);
    expect(legacy[1]!).toBeGreaterThan(latest[1]!);
  });

  test("the default ('latest') does not replay PyTorch 1.13's trajectory: only compat 'torch-1.13' does", () => {
    const c = loadFixture<FixtureFile>('optim/nadam.json').cases.find((k) => k.id === 'nadam/default')!;
    const latest = replayCase(c, (groups, options) => new NAdam(groups, options));
    const legacy = replayCase(c, (groups, options) => new NAdam(groups, { ...options, compat: 'torch-1.13' }));
    expect(latest.paramError).toBeGreaterThan(1e-4);
    expect(legacy.paramError).toBeLessThan(1e-12);
  });

  test('maximize negates the gradient before the update', () => {
    const a = new Parameter(new Float64Array([1, -2]), [2]);
    const b = new Parameter(new Float64Array([1, -2]), [2]);
    const max = new NAdam([a], { maximize: true, weightDecay: 0.1 });
    const min = new NAdam([b], { weightDecay: 0.1 });
    for (let k = 0; k < 3; k++) {
      a.grad = new Float64Array([0.4, -0.2]);
      b.grad = new Float64Array([-0.4, 0.2]);
      max.step();
      min.step();
    }
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
  });

  test('initState holds every key and the state dict round-trips', () => {
    const p = new Parameter(new Float32Array([0.5, 0.25]), [2], 'w');
    const opt = new NAdam([p]);
    p.grad = new Float32Array([0.1, 0.2]);
    opt.step();
    const sd = JSON.parse(JSON.stringify(opt.stateDict()));
    expect(Object.keys(sd.state['0']).sort()).toEqual(['exp_avg', 'exp_avg_sq', 'mu_product', 'step']);
    const q = new Parameter(new Float32Array([0.5, 0.25]), [2], 'w');
    const other = new NAdam([q]);
    other.loadStateDict(sd);
    expect(other.state.get(q)!.mu_product).toBe(opt.state.get(p)!.mu_product);
  });

  test('invalid options throw InvalidOptionError naming the option', () => {
    const p = Parameter.zeros([2]);
    expect(() => new NAdam([p], { lr: -1 })).toThrow(InvalidOptionError);
    expect(() => new NAdam([p], { lr: -1 })).toThrow(/lr/);
    expect(() => new NAdam([p], { betas: [1, 0.999] })).toThrow(/betas\[0\]/);
    expect(() => new NAdam([p], { betas: [0.9, -0.1] })).toThrow(/betas\[1\]/);
    expect(() => new NAdam([p], { eps: 0 })).toThrow(/eps/);
    expect(() => new NAdam([p], { weightDecay: -0.1 })).toThrow(/weightDecay/);
    expect(() => new NAdam([p], { momentumDecay: -1 })).toThrow(/momentumDecay/);
    expect(() => new NAdam([p], { compat: 'torch-2.0' as never })).toThrow(/compat/);
    expect(() => new NAdam([p], { maximize: 1 as never })).toThrow(/maximize/);
  });
});
