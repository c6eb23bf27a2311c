import { type FloatArray, NonFiniteError, ParamGroupError, Parameter, StateDictError } from '@opt/tensor';
import {
  Adam,
  SGD,
  TransformOptimizer,
  adam,
  adamw,
  applyIfFinite,
  applyUpdates,
  chain,
  clipByGlobalNorm,
  fromTransform,
  injectHyperparams,
  multiSteps,
  optimizerTransform,
  partition,
  setToZero,
  sgd,
  transformStateFromJson,
  transformStateToJson,
  type GradientTransformation,
  type Schedule,
} from '../src/index';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

function makeParams(dtypes: Array<'float32' | 'float64'> = ['float64', 'float64', 'float64'], seed = 3): Parameter[] {
  const r = rng(seed);
  const shapes = [[2, 3], [3], [1]];
  return dtypes.map((dtype, i) =>
    Parameter.from(Array.from({ length: shapes[i]!.reduce((a, b) => a * b, 1) }, r), { shape: shapes[i], dtype, name: `p${i}` }),
  );
}

function cloneParams(params: readonly Parameter[]): Parameter[] {
  return params.map((p) => new Parameter(p.data.slice(), p.shape, p.name));
}

function writeGrads(params: readonly Parameter[], step: number): void {
  const r = rng(500 + step);
  for (const p of params) {
    const g = p.ensureGrad();
    for (let j = 0; j < p.size; j++) g[j] = 2 * (p.data[j]! - 0.3) + 0.5 * r();
  }
}

function maxDiff(a: readonly Parameter[], b: readonly Parameter[]): number {
  let m = 0;
  a.forEach((p, i) => p.data.forEach((x, j) => (m = Math.max(m, Math.abs(x - b[i]!.data[j]!)))));
  return m;
}

function bits(params: readonly Parameter[]): string {
  return params.map((p) => Array.from(new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength)).join(',')).join('|');
}

/** Run `tx` through TransformOptimizer and the class directly on copies of the same parameters. */
function againstClass(tx: GradientTransformation<unknown>, makeClass: (params: Parameter[]) => { step(): unknown }, steps: number) {
  const a = makeParams();
  const b = cloneParams(a);
  const viaTransform = new TransformOptimizer(a, tx);
  const direct = makeClass(b);
  for (let t = 0; t < steps; t++) {
    writeGrads(a, t);
    writeGrads(b, t);
    viaTransform.step();
    direct.step();
  }
  return { a, b, viaTransform };
}

describe('optimizerTransform: any optimizer class as a transform', () => {
  test.each([
    ['momentum, dampening and weight decay', { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 0.01 }],
    ['nesterov and maximize', { lr: 0.02, momentum: 0.8, nesterov: true, maximize: true }],
  ])('optimizerTransform(SGD) matches the SGD class over 40 steps (%s; float64, 1e-12)', (_name, options) => {
    const { a, b } = againstClass(optimizerTransform(SGD, options), (ps) => new SGD(ps, options), 40);
    expect(maxDiff(a, b)).toBeLessThan(1e-12);
  });

  test.each([
    ['defaults with a larger lr', { lr: 0.05 }],
    ['amsgrad with L2 weight decay', { lr: 0.03, betas: [0.8, 0.95] as [number, number], weightDecay: 0.1, amsgrad: true }],
  ])('optimizerTransform(Adam) matches the Adam class over 40 steps (%s; float64, 1e-12)', (_name, options) => {
    const { a, b } = againstClass(optimizerTransform(Adam, options), (ps) => new Adam(ps, options), 40);
    expect(maxDiff(a, b)).toBeLessThan(1e-12);
  });

  test('its state is the class’s per-parameter state under the class’s keys', () => {
    const params = makeParams();
    const tx = optimizerTransform(Adam, { lr: 0.01, amsgrad: true });
    const state = tx.init(params);
    expect(state.params).toEqual([null, null, null]);
    const updates = params.map((p) => new Float64Array(p.size).fill(1));
    tx.update(updates, state, params);
    expect(Object.keys(state.params[0]!).sort()).toEqual(['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq', 'step']);
    expect(state.params[2]!.step).toBe(1);
    // First Adam step: lr·g/(|g| + eps) ≈ lr, as an update to add.
    expect(updates[0]![0]).toBeCloseTo(-0.01, 8);
  });

  test('composes with the other transforms: optimizerTransform(SGD) inside partition freezes what it should', () => {
    const params = makeParams();
    const frozen = Array.from(params[1]!.data);
    const opt = new TransformOptimizer(params, partition({ sgd: optimizerTransform(SGD, { lr: 0.1 }), none: setToZero() }, ['sgd', 'none', 'sgd']));
    writeGrads(params, 0);
    const before = params[0]!.data[0]!;
    opt.step();
    expect(Array.from(params[1]!.data)).toEqual(frozen);
    expect(params[0]!.data[0]).toBeCloseTo(before - 0.1 * params[0]!.grad![0]!, 14);
  });

  test('its state survives JSON and continues bit-identically with a fresh class instance', () => {
    const a = makeParams();
    const tx = optimizerTransform(Adam, { lr: 0.02 });
    const state = tx.init(a);
    const run = (ps: Parameter[], s: typeof state, from: number, to: number) => {
      for (let t = from; t < to; t++) {
        writeGrads(ps, t);
        const updates = ps.map((p) => p.grad!.slice());
        tx.update(updates, s, ps);
        applyUpdates(ps, updates);
      }
    };
    run(a, state, 0, 5);
    const b = cloneParams(a);
    const restored = transformStateFromJson(JSON.parse(JSON.stringify(transformStateToJson(state))), tx.init(b));
    run(a, state, 5, 15);
    run(b, restored, 5, 15);
    expect(bits(b)).toBe(bits(a));
  });
});

describe('TransformOptimizer', () => {
  test('wrapping sgd(lr, { momentum }) steps exactly like the SGD class, closure and all', () => {
    const a = makeParams();
    const b = cloneParams(a);
    const opt = fromTransform(a, sgd(0.05, { momentum: 0.9 }));
    const ref = new SGD(b, { lr: 0.05, momentum: 0.9 });
    for (let t = 0; t < 20; t++) {
      const loss = opt.step(() => {
        writeGrads(a, t);
        return t;
      });
      expect(loss).toBe(t);
      writeGrads(b, t);
      ref.step();
    }
    expect(bits(a)).toBe(bits(b));
  });

  test('with injectHyperparams, lr lives in paramGroups[0]: a write there is used by the next step', () => {
    const params = makeParams();
    const opt = new TransformOptimizer(params, injectHyperparams((h) => sgd(h.lr))({ lr: 0.1 }));
    expect(opt.paramGroups[0]!.lr).toBe(0.1);
    opt.paramGroups[0]!.lr = 0.01;
    params.forEach((p) => (p.grad = new Float64Array(p.size).fill(1)));
    const before = params[0]!.data[0]!;
    opt.step();
    expect(params[0]!.data[0]).toBe(before - 0.01);
    expect(opt.transformState.hyperparams.lr).toBe(0.01);
  });

  test('a scheduled lr shows in paramGroups[0] as the value the last step used', () => {
    const params = makeParams();
    const lr: Schedule = (t) => 1 / (t + 1);
    const opt = new TransformOptimizer(params, injectHyperparams((h) => adamw(h.lr, { weightDecay: h.wd }))({ lr, wd: 0.01 }));
    expect(opt.paramGroups[0]).toMatchObject({ lr: 1, wd: 0.01 });
    for (let t = 0; t < 3; t++) {
      writeGrads(params, t);
      opt.step();
      expect(opt.paramGroups[0]!.lr).toBe(lr(t));
    }
  });

  test('without injectHyperparams the group holds only the parameters', () => {
    const opt = new TransformOptimizer(makeParams(), adam(1e-3));
    expect(Object.keys(opt.paramGroups[0]!)).toEqual(['params']);
  });

  test('has exactly one parameter group', () => {
    const [p, q] = makeParams();
    const opt = new TransformOptimizer([p!], adam(1e-3));
    // The types allow one group only; plain JavaScript callers get the runtime check.
    expect(() => opt.addParamGroup({ params: [q!] } as never)).toThrow(ParamGroupError);
    const groups = [{ params: [p!] }, { params: [q!] }] as unknown as Parameter[];
    expect(() => new TransformOptimizer(groups, adam(1e-3))).toThrow(/one parameter group/);
  });

  test('a missing gradient counts as zero and the non-finite policy of the base class applies', () => {
    const params = makeParams();
    const opt = new TransformOptimizer(params, sgd(0.1, { momentum: 0.5 }));
    params[0]!.grad = new Float64Array(6).fill(1);
    const untouched = Array.from(params[1]!.data);
    opt.step();
    expect(Array.from(params[1]!.data)).toEqual(untouched);
    params[0]!.grad[2] = NaN;
    expect(() => opt.step()).toThrow(NonFiniteError);
    const skipping = new TransformOptimizer(params, sgd(0.1), { nonFinite: 'skip' });
    const before = Array.from(params[0]!.data);
    skipping.step();
    expect(skipping.skippedSteps).toBe(1);
    expect(Array.from(params[0]!.data)).toEqual(before);
  });

  test('stateDict → JSON → loadStateDict continues bit-identically (nested chain, float32 and float64 parameters)', () => {
    const dtypes: Array<'float32' | 'float64'> = ['float32', 'float64', 'float32'];
    const build = () =>
      applyIfFinite(
        injectHyperparams((h) =>
          multiSteps(chain(clipByGlobalNorm(h.maxNorm), adamw(h.lr, { weightDecay: h.wd, mask: (p) => p.shape.length > 1 })), {
            everyK: 2,
          }),
        )({ lr: (t) => 0.05 / (1 + t), maxNorm: 1.5, wd: 0.1 }),
        { maxConsecutiveErrors: 5 },
      );
    const a = makeParams(dtypes);
    const optA = new TransformOptimizer(a, build());
    for (let t = 0; t < 7; t++) {
      writeGrads(a, t);
      optA.step();
    }
    const json = JSON.stringify(optA.stateDict());
    const b = cloneParams(a);
    const optB = new TransformOptimizer(b, build());
    optB.loadStateDict(JSON.parse(json));
    expect(JSON.stringify(optB.stateDict())).toBe(json);
    for (let t = 7; t < 20; t++) {
      writeGrads(a, t);
      writeGrads(b, t);
      optA.step();
      optB.step();
    }
    expect(bits(b)).toBe(bits(a));
    expect(JSON.stringify(optB.stateDict())).toBe(JSON.stringify(optA.stateDict()));
  });

  test('the round trip also carries an optimizer class run as a transform, and a changed lr in the group', () => {
    const build = () => injectHyperparams((h) => chain(clipByGlobalNorm(h.maxNorm), optimizerTransform(Adam, { lr: 0.02 })))({ maxNorm: 2 });
    const a = makeParams();
    const optA = new TransformOptimizer(a, build());
    for (let t = 0; t < 4; t++) {
      writeGrads(a, t);
      optA.step();
    }
    optA.paramGroups[0]!.maxNorm = 0.5;
    const b = cloneParams(a);
    const optB = new TransformOptimizer(b, build());
    optB.loadStateDict(JSON.parse(JSON.stringify(optA.stateDict())));
    expect(optB.paramGroups[0]!.maxNorm).toBe(0.5);
    for (let t = 4; t < 12; t++) {
      writeGrads(a, t);
      writeGrads(b, t);
      optA.step();
      optB.step();
    }
    expect(bits(b)).toBe(bits(a));
  });

  test('loading the state of a different transform fails with a StateDictError and changes nothing', () => {
    const params = makeParams();
    const source = new TransformOptimizer(cloneParams(params), sgd(0.1, { momentum: 0.9 }));
    const target = new TransformOptimizer(params, adam(0.1));
    writeGrads(params, 0);
    target.step();
    const before = JSON.stringify(target.stateDict());
    expect(() => target.loadStateDict(source.stateDict())).toThrow(StateDictError);
    expect(() => target.loadStateDict(source.stateDict())).toThrow(/extra\.transformState\[0\]: keys \[count, trace\] do not match \[count, mu, nu\]/);
    expect(JSON.stringify(target.stateDict())).toBe(before);
  });
});

describe('transformStateToJson / transformStateFromJson', () => {
  test('encode NaN, ±Infinity and −0 losslessly and restore the template’s dtypes', () => {
    const state = { count: 3, flags: [true, null], buf: new Float32Array([NaN, -0, Infinity, 0.1]), nested: { x: -Infinity } };
    const template = { count: 0, flags: [false, null], buf: new Float32Array(4), nested: { x: 0 } };
    const back = transformStateFromJson(JSON.parse(JSON.stringify(transformStateToJson(state))), template);
    expect(back.buf).toBeInstanceOf(Float32Array);
    expect(Array.from(back.buf)).toEqual(Array.from(state.buf));
    expect(Object.is(back.buf[1], -0)).toBe(true);
    expect(back.nested.x).toBe(-Infinity);
    expect(back.flags).toEqual([true, null]);
    expect(back.count).toBe(3);
  });

  test('reject what is not plain data and lengths that do not match the template, naming the path', () => {
    expect(() => transformStateToJson({ a: [1, () => 2] })).toThrow('transformState.a[1]: a transform state holds only plain data, got a function');
    const saved = transformStateToJson({ mu: [new Float64Array(3)] });
    expect(() => transformStateFromJson(saved, { mu: [new Float64Array(2)] })).toThrow(/transformState\.mu\[0\]: tensor has 3 elements, expected 2/);
    expect(() => transformStateFromJson(saved, { mu: [] as FloatArray[] })).toThrow(/the list has 1 entries, expected 0/);
  });
});
