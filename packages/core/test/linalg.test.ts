import { ShapeMismatchError } from '@opt/tensor';
import { ConjugateGradient, choleskyFactor, choleskySolve, gramMatrix, matTVec, matVec } from '../src/index';
import { randomQuadratic } from './helpers/functions';

describe('linalg', () => {
  test('choleskyFactor of [[4, 2], [2, 3]] is [[2, 0], [1, √2]] and zeroes the upper triangle', () => {
    const L = new Float64Array([9, 9, 9, 9]);
    expect(choleskyFactor(new Float64Array([4, 2, 2, 3]), 2, L)).toBe(true);
    expect(Array.from(L)).toEqual([2, 0, 1, Math.SQRT2]);
  });

  test('choleskySolve solves a hand-computed 2×2 system exactly', () => {
    // [[4, 1], [1, 3]]·x = [1, 2]  ⇒  x = [1/11, 7/11]
    const L = new Float64Array(4);
    choleskyFactor([4, 1, 1, 3], 2, L);
    const x = new Float64Array(2);
    choleskySolve(L, 2, [1, 2], x);
    expect(x[0]).toBeCloseTo(1 / 11, 15);
    expect(x[1]).toBeCloseTo(7 / 11, 15);
  });

  test('choleskySolve may overwrite its right-hand side (x aliasing b)', () => {
    const q = randomQuadratic(7, 3);
    const L = new Float64Array(49);
    choleskyFactor(q.A, 7, L);
    const x = Float64Array.from(q.b);
    choleskySolve(L, 7, x, x);
    const ax = new Float64Array(7);
    matVec(q.A, 7, 7, x, ax);
    for (let i = 0; i < 7; i++) expect(ax[i]).toBeCloseTo(q.b[i]!, 12);
  });

  test('choleskyFactor factors in place and reports indefinite, singular and NaN matrices', () => {
    const a = new Float64Array([4, 2, 2, 3]);
    expect(choleskyFactor(a, 2, a)).toBe(true);
    expect(Array.from(a)).toEqual([2, 0, 1, Math.SQRT2]);
    expect(choleskyFactor([1, 2, 2, 1], 2, new Float64Array(4))).toBe(false);
    expect(choleskyFactor([1, 1, 1, 1], 2, new Float64Array(4))).toBe(false);
    expect(choleskyFactor([NaN, 0, 0, 1], 2, new Float64Array(4))).toBe(false);
  });

  test('the shift makes an indefinite matrix factorisable: A + λI and A + λ·diag(D)', () => {
    const a = [1, 2, 2, 1]; // eigenvalues 3 and −1
    const L = new Float64Array(4);
    expect(choleskyFactor(a, 2, L, 0.5)).toBe(false);
    expect(choleskyFactor(a, 2, L, 1.5)).toBe(true);
    // A + 2·diag(1, 1) = [[3, 2], [2, 3]]: L = [[√3, 0], [2/√3, √(3 − 4/3)]]
    expect(choleskyFactor(a, 2, L, 2, [1, 1])).toBe(true);
    expect(L[0]).toBeCloseTo(Math.sqrt(3), 15);
    expect(L[2]).toBeCloseTo(2 / Math.sqrt(3), 15);
    expect(L[3]).toBeCloseTo(Math.sqrt(3 - 4 / 3), 15);
  });

  test('gramMatrix and matTVec compute JᵀJ and Jᵀr', () => {
    const J = [1, 2, 3, 4, 5, 6]; // 3×2
    const jtj = new Float64Array(4);
    gramMatrix(J, 3, 2, jtj);
    expect(Array.from(jtj)).toEqual([1 + 9 + 25, 2 + 12 + 30, 2 + 12 + 30, 4 + 16 + 36]);
    const g = new Float64Array(2);
    matTVec(J, 3, 2, [1, -1, 2], g);
    expect(Array.from(g)).toEqual([1 - 3 + 10, 2 - 4 + 12]);
  });

  test('conjugate gradient solves an SPD system to the requested tolerance in at most n + 2 iterations', () => {
    const q = randomQuadratic(12, 5);
    const cg = new ConjugateGradient(12);
    const x = new Float64Array(12);
    const status = cg.solve((v, out) => matVec(q.A, 12, 12, v, out), q.b, x, 100, 1e-12);
    expect(status).toBe('converged');
    expect(cg.iterations).toBeLessThanOrEqual(14);
    const L = new Float64Array(144);
    choleskyFactor(q.A, 12, L);
    const exact = new Float64Array(12);
    choleskySolve(L, 12, q.b, exact);
    for (let i = 0; i < 12; i++) expect(Math.abs(x[i]! - exact[i]!)).toBeLessThan(1e-10);
  });

  test('conjugate gradient applies the shift and reports negative curvature or the iteration limit', () => {
    const cg = new ConjugateGradient(2);
    const indefinite = (v: Float64Array, out: Float64Array): void => matVec([1, 2, 2, 1], 2, 2, v, out);
    expect(cg.solve(indefinite, [1, -1], new Float64Array(2), 10, 1e-12)).toBe('negative-curvature');
    const x = new Float64Array(2);
    expect(cg.solve(indefinite, [1, 2], x, 10, 1e-12, 2)).toBe('converged'); // [[3, 2], [2, 3]]·x = [1, 2]
    expect(x[0]).toBeCloseTo(-1 / 5, 12);
    expect(x[1]).toBeCloseTo(4 / 5, 12);
    const q = randomQuadratic(10, 9);
    const big = new ConjugateGradient(10);
    expect(big.solve((v, out) => matVec(q.A, 10, 10, v, out), q.b, new Float64Array(10), 2, 1e-14)).toBe('max-iterations');
    expect(big.iterations).toBe(2);
  });

  test('a zero right-hand side returns the zero start immediately', () => {
    const cg = new ConjugateGradient(3);
    const x = new Float64Array(3);
    expect(cg.solve((v, out) => out.set(v), [0, 0, 0], x, 10, 1e-12)).toBe('converged');
    expect(cg.iterations).toBe(0);
  });

  test('buffers that are too short are rejected with ShapeMismatchError', () => {
    expect(() => choleskyFactor([1, 0, 0], 2, new Float64Array(4))).toThrow(ShapeMismatchError);
    expect(() => choleskySolve(new Float64Array(4), 2, [1], new Float64Array(2))).toThrow(ShapeMismatchError);
    expect(() => matVec([1, 2], 1, 2, [1], new Float64Array(1))).toThrow(/x has 1 elements/);
  });
});
