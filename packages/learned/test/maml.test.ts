import { InvalidOptionError, Rng, SGD, ShapeMismatchError, StateDictError } from '@opt/core';
import {
  FOMAML,
  FunctionalMLP,
  MAML,
  MetaSGD,
  type MetaTask,
  Reptile,
  SINUSOID_TEST_SEED_OFFSET,
  SinusoidTaskSampler,
  sinusoidMetaTask,
  sinusoidTestTasks,
  toFunctionalBatch,
} from '../src/index';
import { SinusoidFamily } from '@opt/tasks';

function randomVector(n: number, seed: number, scale = 1): Float64Array {
  const rng = new Rng(seed);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal(0, scale);
  return v;
}

function randomBatch(rows: number, inputs: number, outputs: number, seed: number) {
  return { x: randomVector(rows * inputs, seed), y: randomVector(rows * outputs, seed + 1), size: rows };
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

function maxAbsDiff(a: Float64Array, b: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Central finite difference of the gradient along v: (∇L(θ+εv) − ∇L(θ−εv)) / 2ε. */
function fdHvp(net: FunctionalMLP, theta: Float64Array, batch: ReturnType<typeof randomBatch>, v: Float64Array, eps: number): Float64Array {
  const n = net.paramCount;
  const plus = theta.slice();
  const minus = theta.slice();
  for (let i = 0; i < n; i++) {
    plus[i] = plus[i]! + eps * v[i]!;
    minus[i] = minus[i]! - eps * v[i]!;
  }
  const gp = new Float64Array(n);
  const gm = new Float64Array(n);
  net.lossAndGrad(plus, batch, gp);
  net.lossAndGrad(minus, batch, gm);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (gp[i]! - gm[i]!) / (2 * eps);
  return out;
}

describe('FunctionalMLP', () => {
  test('the gradient matches central finite differences of the loss (tanh, 2 outputs)', () => {
    const net = new FunctionalMLP({ sizes: [3, 5, 4, 2], activation: 'tanh' });
    const theta = net.init(new Rng(1));
    const batch = randomBatch(6, 3, 2, 10);
    const grad = new Float64Array(net.paramCount);
    const loss = net.lossAndGrad(theta, batch, grad);
    expect(loss).toBeCloseTo(net.loss(theta, batch), 14);
    const eps = 1e-6;
    for (let i = 0; i < net.paramCount; i++) {
      const p = theta.slice();
      p[i] = p[i]! + eps;
      const m = theta.slice();
      m[i] = m[i]! - eps;
      expect(Math.abs((net.loss(p, batch) - net.loss(m, batch)) / (2 * eps) - grad[i]!)).toBeLessThan(1e-8);
    }
  });

  test('the R-operator HVP of a tanh net matches finite differences of the gradient to 1e-8 relative', () => {
    const net = new FunctionalMLP({ sizes: [2, 6, 5, 1], activation: 'tanh' });
    const theta = net.init(new Rng(2));
    const batch = randomBatch(7, 2, 1, 20);
    for (const seed of [30, 31, 32]) {
      const v = randomVector(net.paramCount, seed);
      const hv = new Float64Array(net.paramCount);
      net.hvp(theta, batch, v, hv);
      const fd = fdHvp(net, theta, batch, v, 1e-5);
      expect(maxAbsDiff(hv, fd) / maxAbs(hv)).toBeLessThan(1e-8);
    }
  });

  test('the ReLU HVP matches finite differences away from kinks and keeps only the first-derivative terms', () => {
    const net = new FunctionalMLP({ sizes: [1, 12, 12, 1], activation: 'relu' });
    const theta = net.init(new Rng(3));
    const batch = randomBatch(10, 1, 1, 40);
    const v = randomVector(net.paramCount, 41);
    const hv = new Float64Array(net.paramCount);
    net.hvp(theta, batch, v, hv);
    // ReLU nets are piecewise quadratic in θ under MSE: a tiny step crosses no kink, so differences are exact up to rounding.
    const fd = fdHvp(net, theta, batch, v, 1e-7);
    expect(maxAbsDiff(hv, fd) / maxAbs(hv)).toBeLessThan(1e-6);
  });

  test('the dense Hessian assembled from HVPs is symmetric (tanh and ReLU)', () => {
    for (const activation of ['tanh', 'relu'] as const) {
      const net = new FunctionalMLP({ sizes: [2, 4, 3, 2], activation });
      const theta = net.init(new Rng(4));
      const batch = randomBatch(5, 2, 2, 50);
      const n = net.paramCount;
      const H: Float64Array[] = [];
      const e = new Float64Array(n);
      for (let j = 0; j < n; j++) {
        e.fill(0);
        e[j] = 1;
        const col = new Float64Array(n);
        net.hvp(theta, batch, e, col);
        H.push(col);
      }
      let asym = 0;
      let scale = 0;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          asym = Math.max(asym, Math.abs(H[j]![i]! - H[i]![j]!));
          scale = Math.max(scale, Math.abs(H[j]![i]!));
        }
      }
      expect(scale).toBeGreaterThan(0);
      expect(asym).toBeLessThan(1e-12 * Math.max(1, scale));
      // Linearity: H·v equals the dense Hessian times v.
      const v = randomVector(n, 51);
      const hv = new Float64Array(n);
      net.hvp(theta, batch, v, hv);
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += H[j]![i]! * v[j]!;
        expect(Math.abs(s - hv[i]!)).toBeLessThan(1e-11 * Math.max(1, scale));
      }
    }
  });

  test('predict writes the forward pass and the loss is its mean squared error', () => {
    const net = new FunctionalMLP({ sizes: [1, 3, 1], activation: 'relu' });
    const theta = net.init(new Rng(5));
    const batch = randomBatch(4, 1, 1, 60);
    const out = new Float64Array(4);
    net.predict(theta, batch.x, 4, out);
    let mse = 0;
    for (let i = 0; i < 4; i++) mse += (out[i]! - batch.y[i]!) ** 2 / 4;
    expect(net.loss(theta, batch)).toBeCloseTo(mse, 14);
  });

  test('bad sizes, activations and buffer lengths throw typed errors', () => {
    expect(() => new FunctionalMLP({ sizes: [3] })).toThrow(InvalidOptionError);
    expect(() => new FunctionalMLP({ sizes: [1, 0, 1] })).toThrow(InvalidOptionError);
    expect(() => new FunctionalMLP({ sizes: [1, 2, 1], activation: 'gelu' as 'relu' })).toThrow(InvalidOptionError);
    const net = new FunctionalMLP({ sizes: [2, 3, 1] });
    const theta = net.init(new Rng(0));
    expect(() => net.loss(new Float64Array(3), randomBatch(2, 2, 1, 0))).toThrow(ShapeMismatchError);
    expect(() => net.loss(theta, { x: new Float64Array(3), y: new Float64Array(2), size: 2 })).toThrow(ShapeMismatchError);
    const v = new Float64Array(net.paramCount);
    expect(() => net.hvp(theta, randomBatch(2, 2, 1, 0), v, v)).toThrow(InvalidOptionError);
  });
});

/** Tasks on a tiny tanh net: random regression data with a support and a query batch each. */
function tinyTasks(count: number, seed: number): MetaTask[] {
  const tasks: MetaTask[] = [];
  for (let t = 0; t < count; t++) tasks.push({ support: randomBatch(5, 1, 1, seed + 10 * t), query: randomBatch(6, 1, 1, seed + 10 * t + 5) });
  return tasks;
}

/** The post-adaptation query loss L_q(θ_k), θ_{j+1} = θ_j − lr ⊙ ∇L_s(θ_j), averaged over the tasks. */
function postAdaptationLoss(net: FunctionalMLP, theta: Float64Array, lr: Float64Array, steps: number, tasks: MetaTask[]): number {
  const g = new Float64Array(net.paramCount);
  let total = 0;
  for (const task of tasks) {
    const p = theta.slice();
    for (let s = 0; s < steps; s++) {
      net.lossAndGrad(p, task.support, g);
      for (let i = 0; i < p.length; i++) p[i] = p[i]! - lr[i]! * g[i]!;
    }
    total += net.loss(p, task.query);
  }
  return total / tasks.length;
}

function fdGradient(f: (x: Float64Array) => number, x: Float64Array, eps: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const p = x.slice();
    p[i] = p[i]! + eps;
    const m = x.slice();
    m[i] = m[i]! - eps;
    out[i] = (f(p) - f(m)) / (2 * eps);
  }
  return out;
}

describe('MAML family meta-gradients', () => {
  const net = new FunctionalMLP({ sizes: [1, 6, 6, 1], activation: 'tanh' });
  const tasks = tinyTasks(3, 100);

  test('second-order MAML meta-gradient through 2 inner steps matches finite differences of the query loss', () => {
    const maml = new MAML(net, { innerLr: 0.3, innerSteps: 2, seed: 7 });
    const theta = maml.theta.data.slice() as Float64Array;
    const loss = maml.metaGradient(tasks);
    const lr = new Float64Array(net.paramCount).fill(0.3);
    expect(loss).toBeCloseTo(postAdaptationLoss(net, theta, lr, 2, tasks), 12);
    const fd = fdGradient((x) => postAdaptationLoss(net, x, lr, 2, tasks), theta, 1e-6);
    const g = maml.theta.grad as Float64Array;
    expect(maxAbsDiff(g, fd) / maxAbs(fd)).toBeLessThan(1e-7);
    // The Hessian term is not negligible here: first order would be visibly wrong.
    const fo = new FOMAML(net, { innerLr: 0.3, innerSteps: 2, seed: 7 });
    fo.metaGradient(tasks);
    expect(maxAbsDiff(fo.theta.grad as Float64Array, fd) / maxAbs(fd)).toBeGreaterThan(1e-2);
  });

  test('FOMAML is MAML with the Hessian dropped: the mean query gradient at the adapted parameters', () => {
    const fo = new FOMAML(net, { innerLr: 0.2, innerSteps: 3, seed: 8 });
    const same = new MAML(net, { innerLr: 0.2, innerSteps: 3, seed: 8, firstOrder: true });
    const loss = fo.metaGradient(tasks);
    same.metaGradient(tasks);
    const expected = new Float64Array(net.paramCount);
    const g = new Float64Array(net.paramCount);
    let expectedLoss = 0;
    for (const task of tasks) {
      const p = fo.adapt(task.support, 3);
      expectedLoss += net.lossAndGrad(p, task.query, g) / tasks.length;
      for (let i = 0; i < g.length; i++) expected[i] = expected[i]! + g[i]! / tasks.length;
    }
    expect(loss).toBeCloseTo(expectedLoss, 13);
    expect(maxAbsDiff(fo.theta.grad as Float64Array, expected)).toBeLessThan(1e-14);
    expect(Array.from(same.theta.grad as Float64Array)).toEqual(Array.from(fo.theta.grad as Float64Array));
    expect(fo.name).toBe('FOMAML');
  });

  test("Meta-SGD's gradients in alpha and theta through 2 inner steps match finite differences", () => {
    const metaSgd = new MetaSGD(net, { innerSteps: 2, alphaInit: [0.05, 0.3], seed: 9 });
    const theta = metaSgd.theta.data.slice() as Float64Array;
    const alpha = metaSgd.alpha.data.slice() as Float64Array;
    metaSgd.metaGradient(tasks);
    const fdAlpha = fdGradient((a) => postAdaptationLoss(net, theta, a, 2, tasks), alpha, 1e-6);
    const fdTheta = fdGradient((x) => postAdaptationLoss(net, x, alpha, 2, tasks), theta, 1e-6);
    expect(maxAbsDiff(metaSgd.alpha.grad as Float64Array, fdAlpha) / maxAbs(fdAlpha)).toBeLessThan(1e-7);
    expect(maxAbsDiff(metaSgd.theta.grad as Float64Array, fdTheta) / maxAbs(fdTheta)).toBeLessThan(1e-7);
  });

  test("one-step Meta-SGD's alpha gradient is minus the query gradient times the support gradient", () => {
    const metaSgd = new MetaSGD(net, { innerSteps: 1, seed: 10 });
    metaSgd.metaGradient(tasks.slice(0, 1));
    const task = tasks[0]!;
    const gs = new Float64Array(net.paramCount);
    const gq = new Float64Array(net.paramCount);
    net.lossAndGrad(metaSgd.theta.data as Float64Array, task.support, gs);
    net.lossAndGrad(metaSgd.adapt(task.support, 1), task.query, gq);
    const ga = metaSgd.alpha.grad as Float64Array;
    for (let i = 0; i < gs.length; i++) expect(ga[i]).toBeCloseTo(-gq[i]! * gs[i]!, 14);
  });

  test("Reptile's update with SGD(lr = ε) moves θ by ε times the mean of θ_k − θ", () => {
    const reptile = new Reptile(net, { innerLr: 0.05, innerSteps: 4, metaLr: 0.25, seed: 11 });
    const theta = reptile.theta.data.slice() as Float64Array;
    const expected = theta.slice();
    for (const task of tasks) {
      const adapted = reptile.adapt(task.support, 4);
      for (let i = 0; i < theta.length; i++) expected[i] = expected[i]! + (0.25 * (adapted[i]! - theta[i]!)) / tasks.length;
    }
    reptile.metaStep(tasks);
    expect(maxAbsDiff(reptile.theta.data as Float64Array, expected)).toBeLessThan(1e-15);
    expect(reptile.iterations).toBe(1);
  });

  test('Meta-SGD clamps alpha to its bounds after every meta-step', () => {
    const metaSgd = new MetaSGD(net, { alphaInit: 0.001, alphaBounds: [0.001, 0.5], metaLr: 0.1, seed: 12 });
    for (let i = 0; i < 5; i++) metaSgd.metaStep(tasks);
    for (const a of metaSgd.alpha.data) {
      expect(a).toBeGreaterThanOrEqual(0.001);
      expect(a).toBeLessThanOrEqual(0.5);
    }
  });
});

describe('MAML family API', () => {
  const net = new FunctionalMLP({ sizes: [1, 8, 8, 1], activation: 'relu' });

  test('bad options throw InvalidOptionError naming the option', () => {
    expect(() => new MAML(net, { innerLr: 0 })).toThrow(/innerLr/);
    expect(() => new MAML(net, { innerLr: -1 })).toThrow(InvalidOptionError);
    expect(() => new FOMAML(net, { innerSteps: 0 })).toThrow(/innerSteps/);
    expect(() => new Reptile(net, { metaLr: 0 })).toThrow(/metaLr/);
    expect(() => new MAML(net, { initialParams: new Float64Array(3) })).toThrow(/initialParams/);
    expect(() => new MetaSGD(net, { innerLr: 0.1 } as never)).toThrow(/innerLr/);
    expect(() => new MetaSGD(net, { alphaBounds: [1, 0] })).toThrow(/alphaBounds/);
    const maml = new MAML(net);
    expect(() => maml.metaStep([])).toThrow(InvalidOptionError);
    expect(() => maml.adapt(tinyTasks(1, 0)[0]!.support, -1)).toThrow(/steps/);
  });

  test('evaluate reports the query loss after each requested step count, with step 0 the unadapted loss', () => {
    const maml = new MAML(net, { seed: 1 });
    const tasks = sinusoidTestTasks(4, { shots: 10, queryShots: 20 });
    const ev = maml.evaluate(tasks, { steps: [10, 0, 1] });
    expect(ev.steps).toEqual([0, 1, 10]);
    for (let t = 0; t < tasks.length; t++) {
      expect(ev.perTask[0]![t]).toBe(net.loss(maml.theta.data as Float64Array, tasks[t]!.query));
      expect(ev.perTask[1]![t]).toBe(net.loss(maml.adapt(tasks[t]!.support, 1), tasks[t]!.query));
      expect(ev.perTask[2]![t]).toBe(net.loss(maml.adapt(tasks[t]!.support, 10), tasks[t]!.query));
    }
    expect(ev.ci95.every((c) => c > 0)).toBe(true);
  });

  test('sinusoid adapters give float64 support and query batches of the requested sizes, disjoint from training tasks', () => {
    const sampler = new SinusoidTaskSampler({ shots: 5, queryShots: 7, seed: 3 });
    const [task] = sampler.batch(1);
    expect(task!.support.size).toBe(5);
    expect(task!.query.size).toBe(7);
    expect(task!.support.x).toBeInstanceOf(Float64Array);
    const converted = toFunctionalBatch({ x: new Float32Array([1, 2]), y: new Int32Array([3, 4]), size: 2 });
    expect(Array.from(converted.y)).toEqual([3, 4]);
    expect(sinusoidTestTasks(2)[1]!.query.size).toBe(100);
    expect(Array.from(sinusoidTestTasks(2)[1]!.support.x)).toEqual(Array.from(sinusoidTestTasks(2)[1]!.support.x));
  });

  test('sampled and held-out tasks are bit-identical to the SinusoidFamily tasks of the same seeds', () => {
    const family = new SinusoidFamily();
    const seeds = new SinusoidTaskSampler({ seed: 8, shots: 6, queryShots: 9 });
    const sampler = new SinusoidTaskSampler({ seed: 8, shots: 6, queryShots: 9 });
    for (let i = 0; i < 3; i++) {
      const expected = sinusoidMetaTask(family.sample(seeds.nextSeed()), 6, 9);
      const got = sampler.next();
      expect(Array.from(got.support.x)).toEqual(Array.from(expected.support.x));
      expect(Array.from(got.support.y)).toEqual(Array.from(expected.support.y));
      expect(Array.from(got.query.y)).toEqual(Array.from(expected.query.y));
    }
    const held = sinusoidTestTasks(2, { seed: 1 })[1]!;
    const expected = sinusoidMetaTask(family.sample(SINUSOID_TEST_SEED_OFFSET + 1_000_001), 10, 100);
    expect(Array.from(held.query.x)).toEqual(Array.from(expected.query.x));
    expect(Array.from(held.query.y)).toEqual(Array.from(expected.query.y));
    expect(() => new SinusoidTaskSampler({ amplitude: [2, 1] })).toThrow(/amplitude/);
  });

  test.each([
    ['MAML', () => new MAML(net, { seed: 2, innerSteps: 2 })],
    ['MetaSGD', () => new MetaSGD(net, { seed: 2 })],
    ['Reptile', () => new Reptile(net, { seed: 2 })],
  ] as const)('%s resumes bit-identically from a JSON state dict', (_name, make) => {
    const a = make();
    const sampler = new SinusoidTaskSampler({ seed: 5 });
    for (let i = 0; i < 3; i++) a.metaStep(sampler.batch(4));
    const saved = JSON.parse(JSON.stringify({ learner: a.stateDict(), sampler: sampler.stateDict() }));
    const lossesA: number[] = [];
    for (let i = 0; i < 3; i++) lossesA.push(a.metaStep(sampler.batch(4)));

    const b = make();
    const resumed = new SinusoidTaskSampler({ seed: 999 });
    b.loadStateDict(saved.learner);
    resumed.loadStateDict(saved.sampler);
    expect(b.iterations).toBe(3);
    const lossesB: number[] = [];
    for (let i = 0; i < 3; i++) lossesB.push(b.metaStep(resumed.batch(4)));
    expect(lossesB).toEqual(lossesA);
    for (let k = 0; k < a.parameters.length; k++) {
      expect(Array.from(b.parameters[k]!.data)).toEqual(Array.from(a.parameters[k]!.data));
    }
  });

  test('loadStateDict rejects a state dict of another algorithm or size and leaves the learner unchanged', () => {
    const maml = new MAML(net, { seed: 3 });
    const before = Array.from(maml.theta.data);
    const reptile = new Reptile(net, { seed: 4 });
    expect(() => maml.loadStateDict(reptile.stateDict())).toThrow(StateDictError);
    const other = new MAML(new FunctionalMLP({ sizes: [1, 4, 1] }));
    expect(() => maml.loadStateDict(other.stateDict())).toThrow(StateDictError);
    expect(() => maml.loadStateDict({} as never)).toThrow(StateDictError);
    expect(Array.from(maml.theta.data)).toEqual(before);
  });

  test('a custom meta-optimizer receives every meta-parameter', () => {
    let seen = 0;
    const metaSgd = new MetaSGD(net, {
      metaOptimizer: (params) => {
        seen = params.length;
        return new SGD(params, { lr: 0.01 });
      },
    });
    expect(seen).toBe(2);
    expect(metaSgd.metaOptimizer).toBeInstanceOf(SGD);
  });
});
