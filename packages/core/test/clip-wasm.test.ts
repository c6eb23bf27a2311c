import { Parameter, Rng, arenaOwning, wasmAvailable } from '@opt/tensor';
import { Adam, clipGradNorm } from '../src/index';

const maybe = wasmAvailable() ? describe : describe.skip;

function params(dtype: 'float32' | 'float64'): Parameter[] {
  const rng = new Rng(3);
  return [37, 1000, 5].map((n, i) =>
    Parameter.from(Array.from({ length: n }, () => rng.uniform(-1, 1)), { shape: [n], dtype, name: `p${i}` }),
  );
}

/** Gradients bound into the optimizer's wasm memory (the first step re-binds `p.grad` to the arena view). */
function wasmResidentGradients(dtype: 'float32' | 'float64'): Parameter[] {
  const ps = params(dtype);
  const opt = new Adam(ps, { lr: 1e-3, backend: 'wasm' });
  for (const p of ps) p.grad = dtype === 'float64' ? new Float64Array(p.size) : new Float32Array(p.size);
  opt.step();
  const rng = new Rng(9);
  for (const p of ps) for (let i = 0; i < p.size; i++) p.grad![i] = rng.uniform(-4, 4);
  return ps;
}

function detachedCopies(ps: Parameter[]): Parameter[] {
  return ps.map((p) => {
    const q = new Parameter(p.data.slice(), p.shape, p.name);
    q.grad = p.grad!.slice();
    return q;
  });
}

maybe('clipGradNorm on gradients held in wasm memory', () => {
  test.each(['float32', 'float64'] as const)('%s: the 2-norm and the inf-norm equal the JS path bit for bit', (dtype) => {
    for (const normType of [2, Infinity]) {
      const ps = wasmResidentGradients(dtype);
      expect(ps.every((p) => arenaOwning(p.grad!) !== null)).toBe(true);
      const reference = detachedCopies(ps);
      expect(reference.every((p) => arenaOwning(p.grad!) === null)).toBe(true);
      expect(clipGradNorm(ps, 1e9, normType)).toBe(clipGradNorm(reference, 1e9, normType));
    }
  });

  test('float64 gradients are scaled exactly as on the JS path', () => {
    const ps = wasmResidentGradients('float64');
    const reference = detachedCopies(ps);
    expect(clipGradNorm(ps, 1)).toBe(clipGradNorm(reference, 1));
    ps.forEach((p, i) => expect(Array.from(p.grad!)).toEqual(Array.from(reference[i]!.grad!)));
  });

  test('float32 gradients are scaled by the float32-rounded coefficient, within one ulp of the JS path', () => {
    const ps = wasmResidentGradients('float32');
    const before = ps.map((p) => Float32Array.from(p.grad!));
    const reference = detachedCopies(ps);
    const total = clipGradNorm(ps, 1);
    expect(total).toBe(clipGradNorm(reference, 1));
    const coef = Math.fround(1 / (total + 1e-6));
    ps.forEach((p, i) => {
      const ref = reference[i]!.grad!;
      for (let j = 0; j < p.size; j++) {
        // A product of two float32 values is exact in float64, so this is the float32 multiply.
        expect(p.grad![j]).toBe(Math.fround(before[i]![j]! * coef));
        expect(Math.abs(p.grad![j]! - ref[j]!)).toBeLessThanOrEqual(Math.abs(ref[j]!) * 2 ** -23);
      }
    });
  });

  test('the clipped gradients stay the optimizer\'s: the next step reads them from wasm memory', () => {
    const ps = wasmResidentGradients('float64');
    const views = ps.map((p) => p.grad);
    clipGradNorm(ps, 0.5);
    ps.forEach((p, i) => expect(p.grad).toBe(views[i]));
    expect(Math.hypot(...ps.flatMap((p) => Array.from(p.grad!)))).toBeCloseTo(0.5, 5);
  });
});
