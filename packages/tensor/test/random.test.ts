import { InvalidOptionError, Rng, StateDictError } from '../src/index';

describe('Rng (xoshiro128**)', () => {
  test('reproduces the xoshiro128** reference outputs from the state [1, 2, 3, 4]', () => {
    // Blackman & Vigna's reference C code, first six outputs from s = {1, 2, 3, 4}.
    const rng = Rng.fromState({ s: [1, 2, 3, 4], spare: null });
    const out = Array.from({ length: 6 }, () => rng.nextUint32());
    expect(out).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
    expect(rng.getState().s).toEqual([1110993931, 286554632, 2431677446, 2165318166]);
  });

  test('the same seed gives the same stream; different seeds give different streams', () => {
    const a = new Rng(123);
    const b = new Rng(123);
    const c = new Rng(124);
    const xs = Array.from({ length: 100 }, () => a.nextUint32());
    const ys = Array.from({ length: 100 }, () => b.nextUint32());
    const zs = Array.from({ length: 100 }, () => c.nextUint32());
    expect(xs).toEqual(ys);
    expect(xs).not.toEqual(zs);
    // seeds differing only above bit 31, or only in sign, are distinct streams too
    expect(new Rng(2 ** 32).nextUint32()).not.toBe(new Rng(0).nextUint32());
    expect(new Rng(-5).nextUint32()).not.toBe(new Rng(5).nextUint32());
  });

  test('reseeding restarts the stream and drops the cached normal', () => {
    const rng = new Rng(7);
    const first = rng.normal();
    rng.seed(7);
    expect(rng.normal()).toBe(first);
    expect(rng.getState().spare).not.toBeNull();
    rng.seed(7);
    expect(rng.getState().spare).toBeNull();
  });

  test('every output is an unsigned 32-bit integer; uniform() lies in [0, 1) with 53 random bits', () => {
    const rng = new Rng(1);
    let fractional53 = false;
    let allValid = true;
    for (let i = 0; i < 10000; i++) {
      const x = rng.nextUint32();
      const u = rng.uniform();
      // u·2^53 is an integer; u·2^32 usually is not (more than 32 bits used)
      if (!(Number.isInteger(x) && x >= 0 && x < 2 ** 32 && u >= 0 && u < 1 && Number.isInteger(u * 2 ** 53))) allValid = false;
      if (!Number.isInteger(u * 2 ** 32)) fractional53 = true;
    }
    expect(allValid).toBe(true);
    expect(fractional53).toBe(true);
  });

  test('uniform mean and variance over 1e5 samples are 1/2 and 1/12 within 4 standard errors', () => {
    const rng = new Rng(2024);
    const n = 100000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const u = rng.uniform();
      s += u;
      s2 += u * u;
    }
    const mean = s / n;
    const variance = s2 / n - mean * mean;
    expect(Math.abs(mean - 0.5)).toBeLessThan(4 * Math.sqrt(1 / 12 / n));
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(4 * Math.sqrt(1 / 180 / n));
  });

  test('normal(mean, std) over 1e5 samples has the requested mean, variance, and Gaussian tails', () => {
    const rng = new Rng(99);
    const n = 100000;
    const buf = rng.fillNormal(new Float64Array(n), 3, 2);
    let s = 0;
    for (const x of buf) s += x;
    const mean = s / n;
    let m2 = 0;
    let m4 = 0;
    let beyond2 = 0;
    for (const x of buf) {
      const d = x - mean;
      m2 += d * d;
      m4 += d ** 4;
      if (Math.abs(x - 3) > 2 * 2) beyond2++;
    }
    const variance = m2 / n;
    // standard errors: std/√n for the mean, σ²·√(2/n) for the variance
    expect(Math.abs(mean - 3)).toBeLessThan(4 * (2 / Math.sqrt(n)));
    expect(Math.abs(variance - 4)).toBeLessThan(4 * 4 * Math.sqrt(2 / n));
    // kurtosis 3 and P(|z| > 2) = 0.0455 distinguish a Gaussian from other unit-variance laws
    expect(Math.abs(m4 / n / (variance * variance) - 3)).toBeLessThan(0.1);
    expect(Math.abs(beyond2 / n - 0.0455)).toBeLessThan(0.003);
  });

  test('consecutive normal deviates are uncorrelated (the cached spare is independent of its pair)', () => {
    const rng = new Rng(5);
    const n = 100000;
    let sxy = 0;
    for (let i = 0; i < n / 2; i++) sxy += rng.normal() * rng.normal();
    expect(Math.abs(sxy / (n / 2))).toBeLessThan(4 / Math.sqrt(n / 2));
  });

  test('a saved state, restored (also through JSON, with a cached spare), continues the same stream', () => {
    const rng = new Rng(31337);
    rng.normal(); // leaves a spare cached
    const saved = JSON.parse(JSON.stringify(rng.getState()));
    expect(typeof saved.spare).toBe('number');
    const expected = [rng.normal(), rng.normal(), rng.uniform(), rng.nextUint32()];
    const other = new Rng(0);
    other.setState(saved);
    expect([other.normal(), other.normal(), other.uniform(), other.nextUint32()]).toEqual(expected);
    const clone = Rng.fromState(saved).clone();
    expect(clone.normal()).toBe(expected[0]);
  });

  test('fillNormal into float32 rounds the same draws as float64', () => {
    const a = new Rng(8).fillNormal(new Float32Array(16), 0, 0.5);
    const b = new Rng(8).fillNormal(new Float64Array(16), 0, 0.5);
    expect(Array.from(a)).toEqual(Array.from(b, Math.fround));
  });

  test('addNormal adds std·z to each element, drawing the same z as normal()', () => {
    const x = new Float64Array([10, 20, 30]);
    new Rng(4).addNormal(x, 0.25);
    const ref = new Rng(4);
    expect(Array.from(x)).toEqual([10, 20, 30].map((v) => v + 0.25 * ref.normal()));
  });

  test('int(n) is uniform over [0, n) and validates n', () => {
    const rng = new Rng(3);
    const counts = [0, 0, 0];
    for (let i = 0; i < 30000; i++) counts[rng.int(3)]!++;
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(4 * Math.sqrt(30000 * (1 / 3) * (2 / 3)));
    expect(() => rng.int(0)).toThrow(InvalidOptionError);
    expect(() => rng.int(1.5)).toThrow(InvalidOptionError);
  });

  test('fillUniform honours [low, high)', () => {
    const buf = new Rng(6).fillUniform(new Float64Array(1000), -2, 3);
    expect(Math.min(...buf)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...buf)).toBeLessThan(3);
  });

  test('invalid seeds and states are rejected, leaving the generator unchanged', () => {
    expect(() => new Rng(NaN)).toThrow(InvalidOptionError);
    expect(() => new Rng(Infinity)).toThrow(InvalidOptionError);
    const rng = new Rng(1);
    const before = rng.getState();
    expect(() => rng.setState({ s: [0, 0, 0, 0], spare: null })).toThrow(StateDictError);
    expect(() => rng.setState({ s: [1, 2, 3, 2 ** 32], spare: null })).toThrow(StateDictError);
    expect(() => rng.setState({ s: [1, 2, 3], spare: null } as never)).toThrow(StateDictError);
    expect(() => rng.setState({ s: [1, 2, 3, 4], spare: NaN })).toThrow(StateDictError);
    expect(rng.getState()).toEqual(before);
  });
});
