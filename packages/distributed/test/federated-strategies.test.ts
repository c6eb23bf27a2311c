import { SGD } from '@opt/core';
import { Parameter, StateDictError } from '@opt/tensor';
import { type ClientResult, CoordinateMedian, FedAdagrad, FedAdam, FedAvg, FedOpt, FedProx, FedYogi, type FederatedStrategy, addProximalGradient } from '../src/index';
import { Yogi } from '@opt/core';

const r = (clientId: string, update: number[], numExamples: number): ClientResult => ({ clientId, update: Float64Array.from(update), numExamples });

describe('federated strategies', () => {
  test('FedAvg moves the model by the example-weighted mean of the updates', () => {
    const w = new Float64Array([0, 0]);
    const agg = new FedAvg().apply(w, [r('a', [1, 1], 1), r('b', [3, -1], 3)]);
    expect(Array.from(agg)).toEqual([2.5, -0.5]);
    expect(Array.from(w)).toEqual([2.5, -0.5]);
  });

  test('FedAvg with a robust aggregator ignores the claimed example counts', () => {
    const w = new Float64Array([0]);
    new FedAvg({ aggregator: new CoordinateMedian() }).apply(w, [r('a', [1], 1), r('b', [2], 1), r('liar', [100], 1e9)]);
    expect(Array.from(w)).toEqual([2]);
  });

  test('FedAdam takes Adam’s first step on the pseudo-gradient −mean(Δ): w − η·g/(|g| + τ)', () => {
    const w = new Float64Array([1, 1]);
    new FedAdam({ serverLr: 0.1, tau: 1e-3 }).apply(w, [r('a', [0.5, -2], 1), r('b', [0.5, 0], 1)]);
    // g = [−0.5, 1]; Adam's first step: lr·m̂/(√v̂ + eps) = lr·g/(|g| + eps)
    expect(w[0]).toBeCloseTo(1 + (0.1 * 0.5) / (0.5 + 1e-3), 14);
    expect(w[1]).toBeCloseTo(1 - (0.1 * 1) / (1 + 1e-3), 14);
  });

  test('FedYogi takes Yogi’s first step: v = v0 − (1 − β2)·sign(v0 − g²)·g²', () => {
    const w = new Float64Array([0]);
    new FedYogi({ serverLr: 0.1, betas: [0.9, 0.99], tau: 1e-3 }).apply(w, [r('a', [-0.3], 1)]);
    const g = 0.3;
    const v = 1e-6 + 0.01 * g * g; // sign(v0 − g²) = −1
    const m = 0.1 * g;
    const expected = -((0.1 * Math.sqrt(1 - 0.99)) / (1 - 0.9)) * (m / (Math.sqrt(v) + 1e-3));
    expect(w[0]).toBeCloseTo(expected, 14);
  });

  test('FedAdagrad accumulates g² and steps η·g/(√Σg² + τ)', () => {
    const w = new Float64Array([0]);
    const s = new FedAdagrad({ serverLr: 0.1, tau: 1e-3 });
    s.apply(w, [r('a', [0.4], 1)]);
    expect(w[0]).toBeCloseTo((0.1 * 0.4) / (0.4 + 1e-3), 14);
    s.apply(w, [r('a', [0.3], 1)]);
    expect(w[0]).toBeCloseTo((0.1 * 0.4) / (0.4 + 1e-3) + (0.1 * 0.3) / (Math.sqrt(0.16 + 0.09) + 1e-3), 14);
  });

  test('FedOpt with SGD(lr = 1) is FedAvg', () => {
    const a = new Float32Array([0.25, -1]);
    const b = Float32Array.from(a);
    const results = [r('a', [0.5, 0.25], 2), r('b', [-0.125, 1], 6)];
    new FedAvg().apply(a, results);
    new FedOpt({ optimizer: (p) => new SGD(p, { lr: 1 }) }).apply(b, results);
    expect(Array.from(b)).toEqual(Array.from(a));
  });

  test.each([
    ['FedAdam', () => new FedAdam({ serverLr: 0.05 })],
    ['FedYogi', () => new FedYogi({ serverLr: 0.05 })],
    ['FedAdagrad', () => new FedAdagrad({ serverLr: 0.05 })],
  ] as Array<[string, () => FederatedStrategy]>)('%s resumes from its state dict bit for bit', (_name, make) => {
    const rounds = [0, 1, 2, 3].map((k) => [r('a', [Math.sin(k), Math.cos(k), 0.1 * k], 3), r('b', [0.2, -0.1 * k, 0.3], 1)]);
    const a = make();
    const wa = new Float32Array([0.1, 0.2, 0.3]);
    a.apply(wa, rounds[0]!);
    a.apply(wa, rounds[1]!);
    const saved = JSON.parse(JSON.stringify(a.stateDict()));
    const b = make();
    const wb = Float32Array.from(wa);
    b.loadStateDict(saved);
    expect(b.rounds).toBe(2);
    for (const k of [2, 3]) {
      a.apply(wa, rounds[k]!);
      b.apply(wb, rounds[k]!);
    }
    expect(Array.from(wb)).toEqual(Array.from(wa));
    expect(() => new FedAvg().loadStateDict(saved)).toThrow(StateDictError);
  });

  test.each([
    ['FedAvg', () => new FedAvg()],
    ['FedAdam', () => new FedAdam({ serverLr: 0.05 })],
    ['FedYogi', () => new FedYogi({ serverLr: 0.05 })],
    ['FedAdagrad', () => new FedAdagrad({ serverLr: 0.5 })],
  ] as Array<[string, () => FederatedStrategy]>)('%s converges on heterogeneous quadratic clients to the weighted optimum', (_name, make) => {
    // Client i minimises ½‖w − cᵢ‖² with 3 local gradient steps of lr 0.3; the federated optimum is Σ nᵢcᵢ/Σ nᵢ.
    const centres = [[1, -2], [3, 0], [-1, 4]];
    const counts = [1, 1, 2];
    const w = new Float64Array(2);
    const s = make();
    for (let round = 0; round < 300; round++) {
      const results = centres.map((c, i) => {
        const local = Float64Array.from(w);
        for (let k = 0; k < 3; k++) for (let j = 0; j < 2; j++) local[j] -= 0.3 * (local[j]! - c[j]!);
        return r(`c${i}`, [local[0]! - w[0]!, local[1]! - w[1]!], counts[i]!);
      });
      s.apply(w, results);
    }
    expect(w[0]).toBeCloseTo(0.5, 2); // (1 + 3 − 2)/4
    expect(w[1]).toBeCloseTo(1.5, 2); // (−2 + 0 + 8)/4
  });

  test('FedProx adds μ·(w − w_global) to the gradient and μ/2‖w − w_global‖² to the loss', () => {
    const p = new Parameter(new Float64Array([1, 2]));
    const prox = new FedProx(new SGD([p], { lr: 0.1 }), { mu: 0.5 });
    prox.setGlobal(); // anchor [1, 2]
    p.data[0] = 3; // as if local training had moved it
    const loss = prox.step(() => {
      p.grad = new Float64Array([1, -1]);
      return 7;
    });
    expect(loss).toBeCloseTo(7 + 0.25 * 4, 14);
    expect(Array.from(p.data)).toEqual([3 - 0.1 * (1 + 0.5 * 2), 2 - 0.1 * -1]);
    const q = new Parameter(new Float64Array([2]));
    q.grad = new Float64Array([0]);
    expect(addProximalGradient([q], [new Float64Array([1])], 0.1)).toBeCloseTo(0.05, 15);
    expect(q.grad[0]).toBeCloseTo(0.1, 15);
  });

  test('a large FedProx μ keeps the local model near the global one', () => {
    const drift = (mu: number): number => {
      const p = new Parameter(new Float64Array([0]));
      const opt = new FedProx(new SGD([p], { lr: 0.05 }), { mu });
      opt.setGlobal();
      for (let k = 0; k < 200; k++) {
        opt.step(() => {
          p.grad = new Float64Array([p.data[0]! - 10]); // local optimum at 10
          return 0;
        });
      }
      return p.data[0]!;
    };
    expect(drift(0)).toBeCloseTo(10, 3);
    expect(drift(9)).toBeCloseTo(1, 3); // the minimiser of ½(w − 10)² + 9/2·w² is 10/10
  });

  test('Yogi validates its options by name', () => {
    expect(() => new Yogi([new Parameter(new Float64Array(1))], { eps: 0 })).toThrow(/eps/);
  });
});
