import { InvalidOptionError, Parameter } from '@opt/tensor';
import { Adafactor, type AdafactorOptions } from '../src/index';
import { expectJsonResumeIsBitIdentical } from './helpers/resume';

interface RefOptions {
  lr: number;
  tau: number;
  eps1: number;
  eps2: number;
  d: number;
  wd: number;
  beta1: number | null;
  maximize: boolean;
}

interface Ref {
  p: number[];
  shape: number[];
  t: number;
  /** Factored: per slice, R (rows) and C (cols); vector: V. */
  R: number[][];
  C: number[][];
  V: number[];
  m: number[];
  /** The clipping divisor max(1, RMS(U)/d) of the last step. */
  clip: number;
}

const rms = (x: number[]): number => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);

/**
 * Independent float64 Adafactor step, written from the torch.optim.Adafactor
 * documentation with explicit matrices: build V̂ in full, then U, then clip.
 */
function adafactorReference(s: Ref, grad: number[], o: RefOptions): void {
  s.t += 1;
  const g = grad.map((x) => (o.maximize ? -x : x));
  const w = s.t ** o.tau; // 1 − β̂2_t
  const rho = Math.min(o.lr, 1 / Math.sqrt(s.t));
  const alpha = Math.max(o.eps2, rms(s.p)) * rho;
  const vHat: number[] = [];
  if (s.shape.length > 1) {
    const rows = s.shape[s.shape.length - 2]!;
    const cols = s.shape[s.shape.length - 1]!;
    const slices = g.length / (rows * cols);
    for (let b = 0; b < slices; b++) {
      const at = (i: number, j: number): number => g[b * rows * cols + i * cols + j]!;
      for (let i = 0; i < rows; i++) {
        let mean = 0;
        for (let j = 0; j < cols; j++) mean += at(i, j) ** 2 / cols;
        s.R[b]![i] = (1 - w) * s.R[b]![i]! + w * mean;
      }
      for (let j = 0; j < cols; j++) {
        let mean = 0;
        for (let i = 0; i < rows; i++) mean += at(i, j) ** 2 / rows;
        s.C[b]![j] = (1 - w) * s.C[b]![j]! + w * mean;
      }
      const norm = Math.max(s.R[b]!.reduce((x, y) => x + y, 0) / rows, o.eps1);
      for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) vHat.push((s.R[b]![i]! * s.C[b]![j]!) / norm);
    }
  } else {
    for (let i = 0; i < g.length; i++) {
      s.V[i] = (1 - w) * s.V[i]! + w * g[i]! ** 2;
      vHat.push(s.V[i]!);
    }
  }
  const U = g.map((x, i) => x / Math.max(Math.sqrt(vHat[i]!), o.eps1));
  s.clip = Math.max(1, rms(U) / o.d);
  for (let i = 0; i < g.length; i++) {
    const step = (alpha * U[i]!) / s.clip;
    s.p[i] = s.p[i]! * (1 - o.lr * o.wd);
    if (o.beta1 === null) {
      s.p[i] = s.p[i]! - step;
    } else {
      s.m[i] = o.beta1 * s.m[i]! + (1 - o.beta1) * step;
      s.p[i] = s.p[i]! - s.m[i]!;
    }
  }
}

function freshRef(init: number[], shape: number[]): Ref {
  const rows = shape.length > 1 ? shape[shape.length - 2]! : 0;
  const cols = shape.length > 1 ? shape[shape.length - 1]! : 0;
  const slices = shape.length > 1 ? init.length / (rows * cols) : 0;
  return {
    p: [...init],
    shape,
    t: 0,
    R: Array.from({ length: slices }, () => new Array<number>(rows).fill(0)),
    C: Array.from({ length: slices }, () => new Array<number>(cols).fill(0)),
    V: init.map(() => 0),
    m: init.map(() => 0),
    clip: 1,
  };
}

const base: RefOptions = { lr: 1e-2, tau: -0.8, eps1: 2 ** -52, eps2: 1e-3, d: 1, wd: 0, beta1: null, maximize: false };
const toOptions = (o: RefOptions): Partial<AdafactorOptions> => ({
  lr: o.lr,
  beta2Decay: o.tau,
  eps: [o.eps1, o.eps2],
  d: o.d,
  weightDecay: o.wd,
  beta1: o.beta1,
  maximize: o.maximize,
});

/** Steps the optimizer and the reference side by side; returns both for further checks. */
function compare(o: RefOptions, init: number[], shape: number[], grads: number[][]): { opt: Adafactor; p: Parameter; ref: Ref; clips: number[] } {
  const p = new Parameter(Float64Array.from(init), shape);
  const opt = new Adafactor([p], toOptions(o));
  const ref = freshRef(init, shape);
  const clips: number[] = [];
  for (const g of grads) {
    p.grad = Float64Array.from(g);
    opt.step();
    adafactorReference(ref, g, o);
    clips.push(ref.clip);
    for (let i = 0; i < init.length; i++) expect(p.data[i]).toBeCloseTo(ref.p[i]!, 14);
  }
  return { opt, p, ref, clips };
}

describe('Adafactor', () => {
  test('the first step on a vector moves each coordinate by max(eps2, RMS(p))·min(lr, 1)·sign(g)', () => {
    // t = 1: β̂2 = 0, V = g², U = sign(g), RMS(U) = 1 (no clipping at d = 1).
    const p = new Parameter(new Float64Array([0.5, -1, 2]), [3]);
    const opt = new Adafactor([p]);
    p.grad = new Float64Array([0.3, 0.2, -4]);
    opt.step();
    const alpha = Math.sqrt((0.25 + 1 + 4) / 3) * 0.01;
    expect(p.data[0]).toBeCloseTo(0.5 - alpha, 15);
    expect(p.data[1]).toBeCloseTo(-1 - alpha, 15);
    expect(p.data[2]).toBeCloseTo(2 + alpha, 15);
    const v = opt.state.get(p)!.variance as Float64Array;
    [0.09, 0.04, 16].forEach((x, i) => expect(v[i]).toBeCloseTo(x, 16));
  });

  test('two vector steps: β̂2 = 1 − t^−0.8, and the update clipping engages when V lags a growing gradient', () => {
    const { clips } = compare(base, [0.5, -1, 2], [3], [
      [0.3, 0.2, -4],
      [3, -2, 0.5],
    ]);
    expect(clips[1]).toBeGreaterThan(1);
  });

  test('a matrix keeps row and column factors whose product over their mean rebuilds a rank-1 G²', () => {
    // G² = a·bᵀ with a = (1, 4), b = (1, 4, 9): R = a·mean(b), C = b·mean(a), V̂ = R·C/mean(R) = G² exactly,
    // so U = sign(G) on the first step.
    const p = new Parameter(new Float64Array([1, 1, 1, 1, 1, 1]), [2, 3]);
    const opt = new Adafactor([p], { lr: 0.1 });
    p.grad = new Float64Array([1, -2, 3, 2, 4, -6]);
    opt.step();
    const s = opt.state.get(p)!;
    expect(Array.from(s.row_var as Float64Array)).toEqual([14 / 3, 56 / 3]);
    expect(Array.from(s.col_var as Float64Array)).toEqual([2.5, 10, 22.5]);
    expect(Array.from(p.data)).toEqual([0.9, 1.1, 0.9, 0.9, 0.9, 1.1]);
  });

  test('two steps on a matrix match the explicit reference, with weight decay', () => {
    compare({ ...base, wd: 0.5 }, [0.5, -1, 2, 0.1, 0.2, -0.3], [2, 3], [
      [0.3, 0.2, -4, 1, 0, 0.5],
      [-1, 0.2, 0.1, 2, -3, 0.5],
    ]);
  });

  test('a 3-D parameter is factored over its last two dimensions, per leading index', () => {
    const init = Array.from({ length: 12 }, (_, i) => Math.cos(i) * 0.5);
    const grads = [0, 1, 2].map((k) => Array.from({ length: 12 }, (_, i) => Math.sin(i * (k + 1)) + 0.1 * k));
    const { opt, p, ref } = compare({ ...base, lr: 0.05 }, init, [2, 2, 3], grads);
    const s = opt.state.get(p)!;
    expect((s.row_var as Float64Array).length).toBe(4);
    expect((s.col_var as Float64Array).length).toBe(6);
    expect(Array.from(s.col_var as Float64Array).map((x, i) => x - ref.C.flat()[i]!).every((e) => Math.abs(e) < 1e-15)).toBe(true);
    expect(Object.keys(s).sort()).toEqual(['col_var', 'row_var', 'step']);
  });

  test('beta1 keeps a first moment of the scaled update; maximize ascends; d > 1 relaxes clipping', () => {
    compare({ ...base, beta1: 0.9, wd: 0.1 }, [0.5, -1, 2, 0.1], [2, 2], [
      [0.3, 0.2, -4, 1],
      [-1, 0.2, 0.1, 2],
      [0.5, 0.5, 0.5, -0.5],
    ]);
    compare({ ...base, maximize: true, d: 1.5 }, [0.5, -1, 2], [3], [
      [0.3, 0.2, -4],
      [3, -2, 0.5],
    ]);
    const { opt, p } = compare({ ...base, beta1: 0.5 }, [1], [], [[2], [1]]);
    expect(Object.keys(opt.state.get(p)!).sort()).toEqual(['exp_avg', 'step', 'variance']);
  });

  test('eps1 null uses the dtype machine epsilon to floor √V̂', () => {
    // A tiny gradient on a fresh float64 vector: V = g² < eps1², so U = g/eps1 (huge), then clipped.
    const tiny = [1e-20, 0.5];
    const { clips } = compare({ ...base, eps1: 2 ** -52 }, [1, 1], [2], [tiny]);
    const p = new Parameter(new Float64Array([1, 1]), [2]);
    const opt = new Adafactor([p], { eps: [null, 1e-3] });
    p.grad = Float64Array.from(tiny);
    opt.step();
    const ref = freshRef([1, 1], [2]);
    adafactorReference(ref, tiny, { ...base, eps1: 2 ** -52 });
    expect(p.data[0]).toBeCloseTo(ref.p[0]!, 15);
    expect(clips[0]).toBe(1); // U = (1e-20/2.2e-16, 1) has RMS < 1
    // float32: eps1 = 2^-23, so U₀ = 1e-10 / 2^-23 and the step is lr·RMS(p)·U₀ = 0.01·U₀.
    const q = Parameter.from([1, 1], { dtype: 'float32' });
    const o32 = new Adafactor([q]);
    q.grad = Float32Array.from([1e-10, 0.5]);
    o32.step();
    expect(q.data[0]).toBeCloseTo(1 - (0.01 * Math.fround(1e-10)) / 2 ** -23, 7);
    expect(q.data[1]).toBeCloseTo(0.99, 7);
  });

  test.each([
    [null, 1e-5, 5e-2],
    [0.9, 1e-7, 1e-2],
  ])('converges on a badly conditioned matrix least-squares problem (beta1 %p)', (beta1, lossRatio, tol) => {
    const target = [1, -2, 0.5, 3, -1, 2];
    const a = [1, 10, 100, 1000, 3, 30];
    const p = new Parameter(new Float64Array([0.2, 0.2, -0.2, 0.2, 0.2, -0.2]), [2, 3]);
    const opt = new Adafactor([p], { lr: 0.05, beta1 });
    const loss = (): number => {
      const g = p.ensureGrad();
      let f = 0;
      for (let i = 0; i < 6; i++) {
        const d = p.data[i]! - target[i]!;
        g[i] = a[i]! * d;
        f += 0.5 * a[i]! * d * d;
      }
      return f;
    };
    const f0 = loss();
    for (let t = 0; t < 4000; t++) opt.step(loss);
    expect(loss()).toBeLessThan(f0 * lossRatio);
    for (let i = 0; i < 6; i++) expect(Math.abs(p.data[i]! - target[i]!)).toBeLessThan(tol);
  });

  test('invalid options are rejected with errors naming the option', () => {
    const p = Parameter.zeros([2, 2]);
    expect(() => new Adafactor([p], { lr: -1 })).toThrow(InvalidOptionError);
    expect(() => new Adafactor([p], { lr: -1 })).toThrow(/invalid lr/);
    expect(() => new Adafactor([p], { beta2Decay: 0.5 })).toThrow(/beta2Decay/);
    expect(() => new Adafactor([p], { eps: [-1, 1e-3] })).toThrow(/eps\[0\]/);
    expect(() => new Adafactor([p], { eps: [null, -1] })).toThrow(/eps\[1\]/);
    expect(() => new Adafactor([p], { eps: 1e-3 as unknown as [null, number] })).toThrow(/invalid eps/);
    expect(() => new Adafactor([p], { d: 0.5 })).toThrow(/invalid d/);
    expect(() => new Adafactor([p], { weightDecay: -1 })).toThrow(/weightDecay/);
    expect(() => new Adafactor([p], { beta1: 1 })).toThrow(/beta1/);
    expect(() => new Adafactor([p], { maximize: 'no' as unknown as boolean })).toThrow(/maximize/);
  });

  test('float32 parameters step with float32 factors and match float64 to float32 precision', () => {
    const init = [0.3, -0.7, 1.1, 0.2, 0.5, -0.1];
    const p32 = Parameter.from(init, { dtype: 'float32', shape: [2, 3] });
    const p64 = Parameter.from(init, { dtype: 'float64', shape: [2, 3] });
    // eps1 given explicitly: with null it would be each dtype's machine epsilon.
    const opts: Partial<AdafactorOptions> = { lr: 0.05, weightDecay: 0.1, beta1: 0.9, eps: [1e-30, 1e-3] };
    const o32 = new Adafactor([p32], opts);
    const o64 = new Adafactor([p64], opts);
    for (let t = 0; t < 5; t++) {
      const g = [Math.sin(t + 1), -0.5 + 0.1 * t, 0.25, t % 2 === 0 ? 1 : -1, 0.3, -0.2];
      p32.grad = Float32Array.from(g);
      p64.grad = Float64Array.from(g);
      o32.step();
      o64.step();
    }
    const s = o32.state.get(p32)!;
    expect(s.row_var).toBeInstanceOf(Float32Array);
    expect(s.col_var).toBeInstanceOf(Float32Array);
    expect(s.exp_avg).toBeInstanceOf(Float32Array);
    for (let i = 0; i < init.length; i++) expect(p32.data[i]).toBeCloseTo(p64.data[i]!, 6);
  });

  test('a state dict survives JSON and both optimizers continue bit-identically for 3 steps', () => {
    const make = (opts: Partial<AdafactorOptions>) => (w: Parameter, b: Parameter) =>
      new Adafactor([{ params: [w] }, { params: [b], beta1: 0.9 }], opts);
    const { saved } = expectJsonResumeIsBitIdentical(make({ lr: 0.05, weightDecay: 0.01 }), make({}));
    expect(Object.keys(saved.state['0']!).sort()).toEqual(['col_var', 'row_var', 'step']);
    expect(Object.keys(saved.state['1']!).sort()).toEqual(['exp_avg', 'step', 'variance']);
  });
});
