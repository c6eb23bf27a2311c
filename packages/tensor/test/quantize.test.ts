import {
  ADAM8BIT_SCALARS,
  QUANT_BLOCK_SIZE,
  Rng,
  SIGNED_DYNAMIC_MAP,
  SIGNED_DYNAMIC_THRESHOLDS,
  SIGNED_ZERO_CODE,
  UNSIGNED_DYNAMIC_MAP,
  UNSIGNED_DYNAMIC_THRESHOLDS,
  UNSIGNED_ZERO_CODE,
  adam8bitUpdate,
  adamUpdate,
  blockCount,
  codeLookupTable,
  codeThresholds,
  createDynamicMap,
  dequantizeBlockwise,
  nearestCode,
  nearestCodeLookup,
  quantizeBlockwise,
  setAdam8bitScalars,
  signedDynamicLut,
  unsignedDynamicLut,
} from '../src/index';

/** Half the widest gap between adjacent codes: the worst round-trip error relative to a block's absmax. */
function maxHalfGap(map: Float32Array): number {
  let gap = 0;
  for (let k = 0; k + 1 < map.length; k++) gap = Math.max(gap, map[k + 1]! - map[k]!);
  return gap / 2;
}

/** Values whose magnitudes span six decades, with a different scale per block. */
function spreadValues(rng: Rng, n: number, signed: boolean): Float64Array {
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const blockScale = 10 ** (((i / QUANT_BLOCK_SIZE) | 0) % 7 - 3);
    const magnitude = blockScale * Math.exp(rng.normal(0, 2));
    x[i] = signed ? (rng.uniform() < 0.5 ? -magnitude : magnitude) : magnitude;
  }
  return x;
}

describe('dynamic quantisation maps', () => {
  test.each([
    ['signed', SIGNED_DYNAMIC_MAP, true],
    ['unsigned', UNSIGNED_DYNAMIC_MAP, false],
  ] as const)('the %s map has 256 strictly increasing codes in range, with 0 and 1', (_label, map, signed) => {
    expect(map).toHaveLength(256);
    for (let k = 1; k < 256; k++) expect(map[k]!).toBeGreaterThan(map[k - 1]!);
    expect(map[255]).toBe(1);
    expect(map[0]).toBe(signed ? -1 : 0);
    expect(map.indexOf(0)).toBeGreaterThanOrEqual(0);
    expect(Array.from(createDynamicMap(signed))).toEqual(Array.from(map));
  });

  test('the signed map is symmetric except for the finest positive code traded for -1', () => {
    const positives = Array.from(SIGNED_DYNAMIC_MAP).filter((c) => c > 0);
    const negatives = Array.from(SIGNED_DYNAMIC_MAP).filter((c) => c < 0);
    expect(positives).toHaveLength(127);
    expect(negatives).toHaveLength(128);
    expect(negatives).toContain(-1);
    for (const c of positives) expect(negatives).toContain(-c);
    // The finest decade (1e-6) keeps only its negative code; the smallest positive is in the 1e-5 decade.
    expect(Math.min(...negatives.map(Math.abs))).toBeCloseTo(0.55e-6, 12);
    expect(Math.min(...positives)).toBeCloseTo(1e-5 * (0.1 + 0.9 / 4), 12);
  });

  test('the zero codes decode to 0', () => {
    expect(SIGNED_DYNAMIC_MAP[SIGNED_ZERO_CODE]).toBe(0);
    expect(UNSIGNED_DYNAMIC_MAP[UNSIGNED_ZERO_CODE]).toBe(0);
    expect(UNSIGNED_ZERO_CODE).toBe(0);
  });

  test('the widest code gaps bound the round-trip error at 0.71% (signed) and 0.36% (unsigned) of the absmax', () => {
    expect(maxHalfGap(SIGNED_DYNAMIC_MAP)).toBeLessThan(0.0071);
    expect(maxHalfGap(UNSIGNED_DYNAMIC_MAP)).toBeLessThan(0.0036);
  });

  test('nearestCode agrees with a brute-force nearest search, clamping outside [-1, 1]', () => {
    const rng = new Rng(3);
    for (const [map, thresholds] of [
      [SIGNED_DYNAMIC_MAP, SIGNED_DYNAMIC_THRESHOLDS],
      [UNSIGNED_DYNAMIC_MAP, UNSIGNED_DYNAMIC_THRESHOLDS],
    ] as const) {
      const probes: number[] = Array.from(map);
      for (let i = 0; i < 2000; i++) probes.push(rng.uniform(map[0]!, 1) * 10 ** -rng.int(7));
      let misses = 0;
      for (const x of probes) {
        let best = Infinity;
        for (let k = 0; k < 256; k++) best = Math.min(best, Math.abs(map[k]! - x));
        if (Math.abs(map[nearestCode(x, thresholds)]! - x) > best) misses++;
      }
      expect(misses).toBe(0);
      for (let k = 0; k < 256; k++) expect(nearestCode(map[k]!, thresholds)).toBe(k);
      expect(nearestCode(7, thresholds)).toBe(255);
      expect(nearestCode(-7, thresholds)).toBe(0);
    }
  });

  test('the lookup-table search gives the same code as the binary search for every value, thresholds and their float neighbours included', () => {
    const rng = new Rng(8);
    for (const [map, thresholds, lut] of [
      [SIGNED_DYNAMIC_MAP, SIGNED_DYNAMIC_THRESHOLDS, signedDynamicLut()],
      [UNSIGNED_DYNAMIC_MAP, UNSIGNED_DYNAMIC_THRESHOLDS, unsignedDynamicLut()],
    ] as const) {
      const probes: number[] = [0, -0, 1, -1, 1 + 2 ** -23, 3, -3, 1e-30, -1e-30];
      for (let k = 0; k < 255; k++) {
        const t = thresholds[k]!;
        probes.push(t, Math.fround(t), t * (1 + 1e-15), t * (1 - 1e-15), t * (1 + 2 ** -24), t * (1 - 2 ** -24));
      }
      for (let i = 0; i < 20000; i++) probes.push(rng.uniform(map[0]!, 1) * 10 ** -rng.int(8));
      let mismatches = 0;
      for (const x of probes) if (nearestCodeLookup(x, lut, thresholds) !== nearestCode(x, thresholds)) mismatches++;
      expect(mismatches).toBe(0);
    }
    expect(nearestCodeLookup(NaN, signedDynamicLut(), SIGNED_DYNAMIC_THRESHOLDS)).toBe(nearestCode(NaN, SIGNED_DYNAMIC_THRESHOLDS));
  });

  test('a lookup table refuses a map too fine for 2^-7-wide ranges', () => {
    const fine = new Float32Array(256);
    for (let k = 0; k < 256; k++) fine[k] = 0.5 + k * 1e-4;
    expect(() => codeLookupTable(codeThresholds(fine))).toThrow(RangeError);
  });
});

describe('block-wise quantisation', () => {
  test.each([
    ['signed', SIGNED_DYNAMIC_MAP, SIGNED_DYNAMIC_THRESHOLDS, true],
    ['unsigned', UNSIGNED_DYNAMIC_MAP, UNSIGNED_DYNAMIC_THRESHOLDS, false],
  ] as const)('a %s round trip errs by at most half the widest code gap times the block absmax', (_label, map, thr, signed) => {
    const n = 10 * QUANT_BLOCK_SIZE + 77; // a partial last block
    const x = spreadValues(new Rng(11), n, signed);
    const codes = new Uint8Array(n);
    const absmax = new Float32Array(blockCount(n));
    quantizeBlockwise(x, codes, absmax, thr);
    const y = new Float64Array(n);
    dequantizeBlockwise(codes, absmax, map, y);
    const bound = maxHalfGap(map);
    let worst = 0;
    let relSum = 0;
    for (let b = 0; b < absmax.length; b++) {
      const start = b * QUANT_BLOCK_SIZE;
      const end = Math.min(start + QUANT_BLOCK_SIZE, n);
      let amax = 0;
      for (let i = start; i < end; i++) amax = Math.max(amax, Math.abs(x[i]!));
      expect(absmax[b]).toBe(Math.fround(amax));
      for (let i = start; i < end; i++) {
        const rel = Math.abs(x[i]! - y[i]!) / absmax[b]!;
        worst = Math.max(worst, rel);
        relSum += rel;
        // The element that sets the absmax round-trips exactly (up to float32 rounding of the scale).
        if (Math.abs(x[i]!) === amax) expect(Math.abs(y[i]! - x[i]!)).toBeLessThanOrEqual(amax * 2 ** -23);
      }
    }
    expect(worst).toBeLessThanOrEqual(bound * (1 + 1e-6));
    // Most values sit far below the absmax, where the dynamic map's codes are much denser.
    expect(relSum / n).toBeLessThan(bound / 4);
  });

  test('an all-zero block stores absmax 0 and the zero code, and decodes to zeros', () => {
    const x = new Float32Array(2 * QUANT_BLOCK_SIZE);
    x[QUANT_BLOCK_SIZE + 5] = -0.25;
    const codes = new Uint8Array(x.length);
    const absmax = new Float32Array(2);
    quantizeBlockwise(x, codes, absmax, SIGNED_DYNAMIC_THRESHOLDS);
    expect(absmax[0]).toBe(0);
    expect(absmax[1]).toBe(0.25);
    for (let i = 0; i < QUANT_BLOCK_SIZE; i++) expect(codes[i]).toBe(SIGNED_ZERO_CODE);
    const y = new Float32Array(x.length);
    dequantizeBlockwise(codes, absmax, SIGNED_DYNAMIC_MAP, y);
    expect(Array.from(y)).toEqual(Array.from(x));
  });
});

describe('adam8bitUpdate', () => {
  type Case = { label: string; dtype: 'float32' | 'float64'; l2: number; decay: number; maximize: boolean };
  const cases: Case[] = [
    { label: 'Adam, float32', dtype: 'float32', l2: 0.01, decay: 1, maximize: false },
    { label: 'AdamW, float32', dtype: 'float32', l2: 0, decay: 1 - 1e-3 * 0.05, maximize: false },
    { label: 'Adam, float64, maximize', dtype: 'float64', l2: 0, decay: 1, maximize: true },
  ];

  test.each(cases)('one 8-bit step equals a float Adam step on the dequantised state ($label)', ({ dtype, l2, decay, maximize }) => {
    const rng = new Rng(5);
    const n = 5 * QUANT_BLOCK_SIZE + 31;
    const blocks = blockCount(n);
    const make = (): Float32Array | Float64Array => (dtype === 'float32' ? new Float32Array(n) : new Float64Array(n));
    const p = rng.fillNormal(make());
    const g = rng.fillNormal(make(), 0, 0.1);
    // A state as training leaves it: quantised moments with per-block scales.
    const mCodes = new Uint8Array(n);
    const vCodes = new Uint8Array(n);
    const mAbsmax = new Float32Array(blocks);
    const vAbsmax = new Float32Array(blocks);
    quantizeBlockwise(spreadValues(rng, n, true), mCodes, mAbsmax, SIGNED_DYNAMIC_THRESHOLDS);
    quantizeBlockwise(spreadValues(rng, n, false), vCodes, vAbsmax, UNSIGNED_DYNAMIC_THRESHOLDS);
    const m = new Float64Array(n);
    const v = new Float64Array(n);
    dequantizeBlockwise(mCodes, mAbsmax, SIGNED_DYNAMIC_MAP, m);
    dequantizeBlockwise(vCodes, vAbsmax, UNSIGNED_DYNAMIC_MAP, v);

    const [beta1, beta2, eps, lr, t] = [0.9, 0.999, 1e-8, 1e-3, 7];
    const stepSize = lr / (1 - beta1 ** t);
    const sqrtBc2 = Math.sqrt(1 - beta2 ** t);
    const pRef = p.slice();
    adamUpdate(pRef, g, m, v, null, stepSize, sqrtBc2, beta1, beta2, eps, l2, decay, maximize);
    const scratch = new Float64Array(2 * QUANT_BLOCK_SIZE);
    const scalars = setAdam8bitScalars(new Float64Array(ADAM8BIT_SCALARS), stepSize, sqrtBc2, beta1, beta2, eps, l2, decay, maximize);
    adam8bitUpdate(p, g, mCodes, mAbsmax, vCodes, vAbsmax, scratch, QUANT_BLOCK_SIZE, scalars);

    // The parameter update uses the unquantised new moments: identical to the float step.
    expect(Array.from(p)).toEqual(Array.from(pRef));
    // The stored moments are the float step's moments up to the quantisation error.
    const mNew = new Float64Array(n);
    const vNew = new Float64Array(n);
    dequantizeBlockwise(mCodes, mAbsmax, SIGNED_DYNAMIC_MAP, mNew);
    dequantizeBlockwise(vCodes, vAbsmax, UNSIGNED_DYNAMIC_MAP, vNew);
    for (let b = 0; b < blocks; b++) {
      const start = b * QUANT_BLOCK_SIZE;
      const end = Math.min(start + QUANT_BLOCK_SIZE, n);
      let mMax = 0;
      let vMax = 0;
      for (let i = start; i < end; i++) {
        mMax = Math.max(mMax, Math.abs(m[i]!));
        vMax = Math.max(vMax, v[i]!);
      }
      expect(mAbsmax[b]).toBe(Math.fround(mMax));
      expect(vAbsmax[b]).toBe(Math.fround(vMax));
      for (let i = start; i < end; i++) {
        expect(Math.abs(mNew[i]! - m[i]!)).toBeLessThanOrEqual(0.0071 * mMax);
        expect(Math.abs(vNew[i]! - v[i]!)).toBeLessThanOrEqual(0.0036 * vMax);
      }
    }
  });

  test('a fresh zero state gives the first Adam step, p moving by lr against the gradient sign', () => {
    const n = QUANT_BLOCK_SIZE;
    const p = new Float64Array(n);
    const g = new Float64Array(n);
    for (let i = 0; i < n; i++) g[i] = (i % 2 === 0 ? 1 : -1) * (i + 1) * 1e-3;
    const m = new Uint8Array(n).fill(SIGNED_ZERO_CODE);
    const v = new Uint8Array(n).fill(UNSIGNED_ZERO_CODE);
    const mAbsmax = new Float32Array(1);
    const vAbsmax = new Float32Array(1);
    const scratch = new Float64Array(2 * QUANT_BLOCK_SIZE);
    const scalars = setAdam8bitScalars(new Float64Array(ADAM8BIT_SCALARS), 0.1 / (1 - 0.9), Math.sqrt(1 - 0.999), 0.9, 0.999, 1e-12, 0, 1, false);
    adam8bitUpdate(p, g, m, mAbsmax, v, vAbsmax, scratch, QUANT_BLOCK_SIZE, scalars);
    for (let i = 0; i < n; i++) expect(p[i]).toBeCloseTo(-0.1 * Math.sign(g[i]!), 8);
    expect(mAbsmax[0]).toBe(Math.fround(0.1 * n * 1e-3));
  });
});
