import { Adam } from '@opt/core';
import { Parameter, Rng } from '@opt/tensor';
import {
  L2LQuadraticFamily,
  LSTMLearnedOptimizer,
  getWeightsRecord,
  initLSTMMetaParams,
  logAndSign,
  lstmLayerBackward,
  lstmLayerForward,
  lstmLayout,
  lstmLearnedOptimizerFactory,
} from '../src/index';

/** L = Σ r·h + Σ s·c of one layer forward, for finite differences. */
function layerLoss(meta: Float64Array, inDim: number, H: number, x: Float64Array, h: Float64Array, c: Float64Array, r: Float64Array, s: Float64Array): number {
  const gates = new Float64Array(4 * H);
  const hOut = new Float64Array(H);
  const cOut = new Float64Array(H);
  lstmLayerForward(meta, 0, (inDim + H) * 4 * H, inDim, H, x, 0, h, 0, c, 0, gates, 0, hOut, 0, cOut, 0);
  let l = 0;
  for (let j = 0; j < H; j++) l += r[j]! * hOut[j]! + s[j]! * cOut[j]!;
  return l;
}

describe('LSTM cell', () => {
  it('the hand-written backward of the LSTM cell matches central finite differences', () => {
    const inDim = 3;
    const H = 4;
    const rng = new Rng(11);
    const count = (inDim + H) * 4 * H + 4 * H;
    const meta = rng.fillNormal(new Float64Array(count), 0, 0.5);
    const x = rng.fillNormal(new Float64Array(inDim));
    const h = rng.fillNormal(new Float64Array(H), 0, 0.5);
    const c = rng.fillNormal(new Float64Array(H));
    const r = rng.fillNormal(new Float64Array(H));
    const s = rng.fillNormal(new Float64Array(H));
    // Analytic: dL/dh = r, dL/dc (from the future) = s.
    const gates = new Float64Array(4 * H);
    const hOut = new Float64Array(H);
    const cOut = new Float64Array(H);
    const bOff = (inDim + H) * 4 * H;
    lstmLayerForward(meta, 0, bOff, inDim, H, x, 0, h, 0, c, 0, gates, 0, hOut, 0, cOut, 0);
    const grad = new Float64Array(count);
    const dx = new Float64Array(inDim);
    const dhPrev = new Float64Array(H);
    const dc = s.slice();
    lstmLayerBackward(meta, 0, bOff, inDim, H, x, 0, h, 0, c, 0, gates, 0, cOut, 0, r, 0, dc, 0, grad, dx, 0, dhPrev, 0, new Float64Array(4 * H));
    const eps = 1e-6;
    const fd = (arr: Float64Array, i: number): number => {
      const keep = arr[i]!;
      arr[i] = keep + eps;
      const up = layerLoss(meta, inDim, H, x, h, c, r, s);
      arr[i] = keep - eps;
      const down = layerLoss(meta, inDim, H, x, h, c, r, s);
      arr[i] = keep;
      return (up - down) / (2 * eps);
    };
    let worst = 0;
    for (let i = 0; i < count; i++) worst = Math.max(worst, Math.abs(fd(meta, i) - grad[i]!));
    for (let i = 0; i < inDim; i++) worst = Math.max(worst, Math.abs(fd(x, i) - dx[i]!));
    for (let i = 0; i < H; i++) worst = Math.max(worst, Math.abs(fd(h, i) - dhPrev[i]!));
    for (let i = 0; i < H; i++) worst = Math.max(worst, Math.abs(fd(c, i) - dc[i]!));
    expect(worst).toBeLessThan(1e-8);
  });

  it('LogAndSign clamps the log feature at -1 and the sign feature to [-1, 1]', () => {
    const out = new Float64Array(2);
    logAndSign(1, 5, Math.exp(5), out, 0);
    expect(out[0]).toBeCloseTo(0, 6);
    expect(out[1]).toBe(1);
    logAndSign(-1e-9, 5, Math.exp(5), out, 0);
    expect(out[0]).toBe(-1);
    expect(out[1]).toBeCloseTo(-1e-9 * Math.exp(5), 15);
  });

  it('the layout has the 5,141 meta-parameters of the paper code (LogAndSign, 2 x 20)', () => {
    expect(lstmLayout(2, 20).count).toBe(5141);
    expect(lstmLearnedOptimizerFactory().metaParamCount).toBe(5141);
    expect(lstmLearnedOptimizerFactory({ mode: 'adam-correction' }).metaParamCount).toBe(5221);
  });
});

function quadraticGrad(p: Parameter): void {
  const g = p.ensureGrad();
  for (let i = 0; i < p.size; i++) g[i] = (i + 1) * p.data[i]! - 1;
}

describe('LSTMLearnedOptimizer', () => {
  it('the Adam-correction mode with a zero correction equals Adam bit for bit', () => {
    const a = new Parameter(new Float64Array([1, -2, 0.5, 3]), [4], 'w');
    const b = new Parameter(new Float64Array([1, -2, 0.5, 3]), [4], 'w');
    const lstm = new LSTMLearnedOptimizer([a], { mode: 'adam-correction', lr: 0.05, betas: [0.8, 0.99], eps: 1e-6 });
    const adam = new Adam([b], { lr: 0.05, betas: [0.8, 0.99], eps: 1e-6 });
    for (let t = 0; t < 25; t++) {
      quadraticGrad(a);
      quadraticGrad(b);
      lstm.step();
      adam.step();
    }
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
  });

  it('the pure mode moves parameters by scale times the LSTM output', () => {
    const p = new Parameter(new Float64Array([0.3, -0.7]), [2]);
    const meta = initLSTMMetaParams(lstmLayout(2), false, 3);
    const opt = new LSTMLearnedOptimizer([p], { metaParams: meta, scale: 0.01 });
    quadraticGrad(p);
    const before = Array.from(p.data);
    opt.step();
    for (let i = 0; i < 2; i++) {
      const delta = Math.abs(p.data[i]! - before[i]!);
      expect(delta).toBeGreaterThan(0);
      expect(delta).toBeLessThan(0.01 * 10);
    }
  });

  it('holds the meta-parameters by reference: changing them in place changes the next step', () => {
    const factory = lstmLearnedOptimizerFactory({ mode: 'adam-correction', lr: 0.1 });
    const meta = factory.initialMetaParams();
    const p = new Parameter(new Float64Array([1, 1]), [2]);
    const q = new Parameter(new Float64Array([1, 1]), [2]);
    const o1 = factory.create([p], meta);
    const o2 = factory.create([q], factory.initialMetaParams());
    meta[lstmLayout(3).bo] = 0.5;
    quadraticGrad(p);
    quadraticGrad(q);
    o1.step();
    o2.step();
    expect(p.data[0]! - q.data[0]!).toBeCloseTo(0.1 * 0.5, 12);
  });

  it.each(['pure', 'adam-correction'] as const)('resumes bit-identically from a JSON state dict (%s)', (mode) => {
    const meta = initLSTMMetaParams(lstmLayout(mode === 'pure' ? 2 : 3), false, 5);
    const run = (split: boolean): number[] => {
      const p = new Parameter(new Float32Array([0.5, -1.5, 2, 0.1]), [4], 'w');
      let opt = new LSTMLearnedOptimizer([p], { mode, metaParams: meta, lr: 0.01 });
      for (let t = 0; t < 12; t++) {
        if (split && t === 6) {
          const saved = JSON.parse(JSON.stringify(opt.stateDict()));
          opt = new LSTMLearnedOptimizer([p], { mode, metaParams: meta, lr: 0.01 });
          opt.loadStateDict(saved);
        }
        quadraticGrad(p);
        opt.step();
      }
      return Array.from(p.data);
    };
    expect(run(true)).toEqual(run(false));
  });

  it('rejects meta-parameters of the wrong length and an unknown mode', () => {
    const p = new Parameter(new Float64Array(2), [2]);
    expect(() => new LSTMLearnedOptimizer([p], { metaParams: new Float64Array(10) })).toThrow(/metaParams/);
    expect(() => new LSTMLearnedOptimizer([p], { mode: 'other' as never })).toThrow(/mode/);
  });
});

describe('shipped lstm-l2l-v1 weights', () => {
  it('the committed JSON record and the embedded TypeScript module agree', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const fs = require('node:fs') as typeof import('node:fs');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const path = require('node:path') as typeof import('node:path');
    const json = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'weights', 'lstm-l2l-v1.json'), 'utf8'));
    expect(getWeightsRecord('lstm-l2l-v1')).toEqual(json);
  });

  it('load by name and train a held-out L2L quadratic far below where the untrained LSTM gets', () => {
    const family = new L2LQuadraticFamily({ batch: 8 });
    const finalLoss = (weights: string): number => {
      const problem = family.sample(77_000_001);
      const theta = new Float64Array(problem.size);
      problem.init(theta, 3);
      const p = new Parameter(theta, [problem.size]);
      const g = p.ensureGrad() as Float64Array;
      const opt = new LSTMLearnedOptimizer([p], { weights });
      let loss = problem.lossAndGrad(theta, g);
      for (let t = 0; t < 100; t++) {
        opt.step();
        loss = problem.lossAndGrad(theta, g);
      }
      return loss;
    };
    const trained = finalLoss('lstm-l2l-v1');
    expect(trained).toBeLessThan(0.1 * finalLoss('untrained'));
  });
});
