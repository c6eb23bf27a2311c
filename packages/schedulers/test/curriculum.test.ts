import { InvalidOptionError, StateDictError } from '@opt/core';
import { CurriculumSchedule, curriculumPacing, curriculumSubset, filterByDifficulty } from '../src/index';

describe('competence functions (Platanios et al., 2019)', () => {
  test('linear: c0 + (1 − c0)·t/T, capped at 1', () => {
    const c = curriculumPacing({ kind: 'linear', start: 0.2, fullAt: 10 });
    // Hand-computed: 0.2 + 0.8·5/10 = 0.6; 0.2 + 0.8·2.5/10 = 0.4.
    expect(c(0)).toBe(0.2);
    expect(c(5)).toBeCloseTo(0.6, 15);
    expect(c(2.5)).toBeCloseTo(0.4, 15);
    expect(c(10)).toBe(1);
    expect(c(50)).toBe(1);
    expect(c(-4)).toBe(0.2);
  });

  test('root (p = 2): √(c0² + (1 − c0²)·t/T)', () => {
    const c = curriculumPacing({ kind: 'root', start: 0.1, fullAt: 100 });
    // Hand-computed: √(0.01 + 0.99·0.5) = √0.505 = 0.71063352...
    expect(c(50)).toBeCloseTo(0.7106335201775947, 15);
    expect(c(0)).toBeCloseTo(0.1, 15);
    expect(c(100)).toBe(1);
  });

  test('root with p = 3: (c0³ + (1 − c0³)·t/T)^(1/3)', () => {
    const c = curriculumPacing({ kind: 'root', start: 0.5, fullAt: 7, p: 3 });
    // Hand-computed: 0.125 + 0.875·(1/7) = 0.25; 0.25^(1/3) = 0.62996052...
    expect(c(1)).toBeCloseTo(0.6299605249474366, 15);
  });

  test('geometric: c0·(1/c0)^(t/T), doubling per quarter when c0 = 1/16', () => {
    const c = curriculumPacing({ kind: 'geometric', start: 1 / 16, fullAt: 4 });
    expect([0, 1, 2, 3, 4, 8].map((t) => c(t))).toEqual([1 / 16, 1 / 8, 1 / 4, 1 / 2, 1, 1]);
  });

  test('validation: start outside [0, 1], geometric from 0, fullAt ≤ 0', () => {
    expect(() => curriculumPacing({ kind: 'linear', start: 1.5, fullAt: 10 })).toThrow(InvalidOptionError);
    expect(() => curriculumPacing({ kind: 'geometric', start: 0, fullAt: 10 })).toThrow(/start/);
    expect(() => curriculumPacing({ kind: 'root', start: 0.1, fullAt: 0 })).toThrow(/fullAt/);
    expect(() => curriculumPacing({ kind: 'cubic' as 'linear', start: 0.1, fullAt: 1 })).toThrow(/kind/);
  });
});

describe('example pools', () => {
  test('curriculumSubset keeps the easiest ⌊c·N⌋ examples, at least one', () => {
    const sorted = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
    expect(curriculumSubset(sorted, 0.3)).toEqual(['a', 'b', 'c']);
    expect(curriculumSubset(sorted, 0.29)).toEqual(['a', 'b']);
    expect(curriculumSubset(sorted, 0.01)).toEqual(['a']);
    expect(curriculumSubset(sorted, 1)).toEqual(sorted);
    // 0.7·10 is 7.000000000000001 and 0.29·100 is 28.999999999999996 in floats: counts stay exact.
    expect(curriculumSubset([...Array(100).keys()], 0.29)).toHaveLength(29);
  });

  test('filterByDifficulty uses the empirical CDF of raw scores and admits ties together', () => {
    const d = [0.9, 0.1, 0.5, 0.3, 0.5, 0.7];
    // CDF: 0.1 → 1/6, 0.3 → 2/6, 0.5 (two) → 4/6, 0.7 → 5/6, 0.9 → 1.
    expect(filterByDifficulty(d, 0.2)).toEqual([1]);
    expect(filterByDifficulty(d, 0.5)).toEqual([1, 3]);
    expect(filterByDifficulty(d, 4 / 6)).toEqual([1, 2, 3, 4]);
    expect(filterByDifficulty(d, 1)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(filterByDifficulty(d, 0)).toEqual([1]);
  });

  test('competence outside [0, 1] and NaN difficulties are rejected', () => {
    expect(() => filterByDifficulty([1, 2], 1.5)).toThrow(InvalidOptionError);
    expect(() => filterByDifficulty([1, NaN], 0.5)).toThrow(/difficulties\[1\]/);
    expect(() => curriculumSubset([1], -0.1)).toThrow(/competence/);
  });
});

describe('CurriculumSchedule', () => {
  test('advances competence with step() and resumes from its state dict', () => {
    const a = new CurriculumSchedule({ kind: 'linear', start: 0.25, fullAt: 3 });
    const difficulties = [0.9, 0.1, 0.5, 0.3];
    expect(a.pool(difficulties)).toEqual([1]);
    a.step();
    expect(a.competence).toBe(0.5);
    expect(a.pool(difficulties)).toEqual([1, 3]);
    expect(a.subset(['x', 'y', 'z', 'w'])).toEqual(['x', 'y']);
    const b = new CurriculumSchedule({ kind: 'linear', start: 0.25, fullAt: 3 });
    b.loadStateDict(JSON.parse(JSON.stringify(a.stateDict())));
    expect(b.competence).toBe(a.competence);
    expect(() => b.loadStateDict({ format: '@opt/curriculum-state', version: 1, step: -2 })).toThrow(StateDictError);
  });
});
