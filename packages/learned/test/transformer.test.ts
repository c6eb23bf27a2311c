import { Parameter, Rng } from '@opt/tensor';
import {
  DEFAULT_CONTROLLER_CONFIG,
  MLPLearnedOptimizer,
  TOKEN_FEATURES,
  TransformerLearnedOptimizer,
  controllerForward,
  controllerInitialMetaParams,
  controllerLayout,
  createControllerScratch,
  distillControllerHead,
  resolveControllerConfig,
  transformerLearnedOptimizerFactory,
} from '../src/index';

function randomMeta(layers: number, seed: number): Float64Array {
  const config = resolveControllerConfig({ layers });
  const meta = controllerInitialMetaParams(config, seed);
  const L = controllerLayout(config);
  new Rng(seed + 1).fillNormal(meta.subarray(L.wout, L.count), 0, 0.3);
  return meta;
}

function makeParams(): Parameter[] {
  return [
    new Parameter(new Float64Array([0.5, -1, 2, 0.25, -0.75, 1.5]), [2, 3], 'w1'),
    new Parameter(new Float64Array([0.1, -0.2]), [2], 'b1'),
    new Parameter(new Float64Array([1, -1, 0.5]), [3], 'w2'),
  ];
}

function closureFor(params: Parameter[]): () => number {
  return () => {
    let loss = 0;
    params.forEach((p, k) => {
      const g = p.ensureGrad();
      for (let i = 0; i < p.size; i++) {
        const c = (k + 1) * (i + 1);
        g[i] = c * p.data[i]! - 0.3;
        loss += 0.5 * c * p.data[i]! ** 2 - 0.3 * p.data[i]!;
      }
    });
    return loss + 10;
  };
}

describe('attention controller', () => {
  it.each([1, 2])('has one output pair per tensor and attention rows that sum to one (%i layers)', (layers) => {
    const config = resolveControllerConfig({ layers });
    const T = 5;
    const tokens = new Rng(3).fillNormal(new Float64Array(T * TOKEN_FEATURES));
    const scratch = createControllerScratch(config, T);
    const out = new Float64Array(2 * T);
    controllerForward(randomMeta(layers, 4), config, controllerLayout(config), tokens, T, out, scratch);
    expect(out.every(Number.isFinite)).toBe(true);
    expect(scratch.attention.length).toBe(layers * config.heads * T * T);
    for (let r = 0; r < layers * config.heads * T; r++) {
      let s = 0;
      for (let j = 0; j < T; j++) s += scratch.attention[r * T + j]!;
      expect(s).toBeCloseTo(1, 12);
    }
  });

  it('permuting the tensors permutes the outputs (permutation equivariance)', () => {
    const config = resolveControllerConfig({ layers: 2 });
    const layout = controllerLayout(config);
    const meta = randomMeta(2, 8);
    const T = 4;
    const tokens = new Rng(5).fillNormal(new Float64Array(T * TOKEN_FEATURES));
    const perm = [2, 0, 3, 1];
    const permuted = new Float64Array(T * TOKEN_FEATURES);
    perm.forEach((src, dst) => permuted.set(tokens.subarray(src * TOKEN_FEATURES, (src + 1) * TOKEN_FEATURES), dst * TOKEN_FEATURES));
    const a = new Float64Array(2 * T);
    const b = new Float64Array(2 * T);
    controllerForward(meta, config, layout, tokens, T, a, createControllerScratch(config, T));
    controllerForward(meta, config, layout, permuted, T, b, createControllerScratch(config, T));
    perm.forEach((src, dst) => {
      expect(b[2 * dst]).toBeCloseTo(a[2 * src]!, 12);
      expect(b[2 * dst + 1]).toBeCloseTo(a[2 * src + 1]!, 12);
    });
    expect(Math.abs(a[0]! - a[2]!)).toBeGreaterThan(1e-6);
  });

  it('distilling the head to neutral targets zeroes the outputs on the recorded tokens', () => {
    const config = resolveControllerConfig({});
    const meta = randomMeta(1, 2);
    const sets = [0, 1, 2, 3, 4, 5].map((s) => new Rng(s).fillNormal(new Float64Array(6 * TOKEN_FEATURES)));
    const targets = sets.map(() => new Float64Array(12));
    distillControllerHead(meta, config, sets, targets);
    const out = new Float64Array(12);
    controllerForward(meta, config, controllerLayout(config), sets[0]!, 6, out, createControllerScratch(config, 6));
    expect(Math.max(...Array.from(out, Math.abs))).toBeLessThan(1e-6);
  });
});

describe('TransformerLearnedOptimizer', () => {
  it('the untrained (neutral) controller reproduces the MLP optimizer bit for bit', () => {
    const a = makeParams();
    const b = makeParams();
    const t = new TransformerLearnedOptimizer(a, { lr: 0.05 });
    const m = new MLPLearnedOptimizer(b, { weights: 'untrained', lr: 0.05 });
    for (let i = 0; i < 20; i++) {
      t.step(closureFor(a));
      m.step(closureFor(b));
    }
    a.forEach((p, k) => expect(Array.from(p.data)).toEqual(Array.from(b[k]!.data)));
  });

  it('a trained-looking controller changes the per-tensor learning rates', () => {
    const params = makeParams();
    const opt = new TransformerLearnedOptimizer(params, { lr: 0.05, weights: randomMeta(1, 6) });
    opt.step(closureFor(params));
    expect(opt.modulation.length).toBe(6);
    expect(Array.from(opt.modulation).some((x) => Math.abs(x) > 1e-3)).toBe(true);
  });

  it('resumes bit-identically from a JSON state dict', () => {
    const meta = randomMeta(2, 9);
    const run = (split: boolean): number[][] => {
      const params = makeParams();
      const make = () => new TransformerLearnedOptimizer(params, { lr: 0.02, weights: meta, controller: { layers: 2 } });
      let opt = make();
      for (let i = 0; i < 10; i++) {
        if (split && i === 5) {
          const saved = JSON.parse(JSON.stringify(opt.stateDict()));
          opt = make();
          opt.loadStateDict(saved);
        }
        opt.step(closureFor(params));
      }
      return params.map((p) => Array.from(p.data));
    };
    expect(run(true)).toEqual(run(false));
  });

  it('the factory exposes the controller meta-parameters only', () => {
    const factory = transformerLearnedOptimizerFactory({ lr: 0.01 });
    expect(factory.metaParamCount).toBe(controllerLayout(resolveControllerConfig(DEFAULT_CONTROLLER_CONFIG)).count);
    const params = makeParams();
    const meta = factory.initialMetaParams();
    const opt = factory.create(params, meta);
    expect(opt.metaParams).toBe(meta);
  });
});
