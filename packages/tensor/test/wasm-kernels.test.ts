import {
  type DType,
  type FloatArray,
  Rng,
  WasmArena,
  adagradUpdate,
  adamUpdate,
  firstNonFinite,
  lionUpdate,
  maxAbs,
  rmspropUpdate,
  scaleInPlace,
  sgdUpdate,
  sumOfSquares,
  wasmAvailable,
} from '../src/index';

/**
 * The WebAssembly SIMD kernels against the JS kernels they port. float64: the
 * same operations in the same order with IEEE-exact add/mul/div/sqrt, so the
 * results must be identical bit for bit. float32: the wasm kernels compute in
 * float32 (as PyTorch does), the JS reference in float64 with float32 storage,
 * so one step may differ in the last bits: at most 1e-6 of the buffer's scale.
 */
const SIZES = [0, 1, 2, 3, 5, 8, 17, 1003];
const DTYPES: DType[] = ['float64', 'float32'];
/** Value ranges of the random initial buffers: signed, or non-negative (second moments). */
const U = [-1, 1] as const;
const P = [0, 1] as const;

let arena: WasmArena;
beforeAll(() => {
  expect(wasmAvailable()).toBe(true);
  // Reserved up front: growing the memory would detach the views these tests keep.
  arena = WasmArena.create({ initialBytes: 64 << 20 });
});

function randomArray(dtype: DType, n: number, rng: Rng, low = -1, high = 1): FloatArray {
  const a = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform(low, high);
  return a;
}

/** A copy of `x` living in the arena. */
function inArena(x: FloatArray): FloatArray {
  const region = arena.alloc(x.byteLength);
  const view = arena.view(x instanceof Float64Array ? 'float64' : 'float32', region.byteOffset, x.length);
  view.set(x);
  return view;
}

/**
 * max |a − b| / max(max |b|, 1), 0 when equal (NaN positions must agree). The
 * inputs of these tests are of order 1, so the floor of 1 measures rounding
 * relative to the operands' scale where an element cancels to near 0.
 */
function scaledError(a: FloatArray, b: FloatArray): number {
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < b.length; i++) {
    if (Number.isNaN(a[i]!) !== Number.isNaN(b[i]!)) return Infinity;
    if (Number.isNaN(b[i]!)) continue;
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff === 0 ? 0 : diff / scale;
}

function expectMatch(dtype: DType, wasm: FloatArray, js: FloatArray): void {
  if (dtype === 'float64') {
    // Bit-for-bit, signed zeros and NaN payload positions included.
    expect(new Uint8Array(wasm.buffer, wasm.byteOffset, wasm.byteLength)).toEqual(new Uint8Array(js.buffer, js.byteOffset, js.byteLength));
  } else {
    expect(scaledError(wasm, js)).toBeLessThanOrEqual(1e-6);
  }
}

/**
 * Run `steps` updates on JS copies and on arena copies of the same buffers
 * with fresh random gradients, comparing every buffer after every step.
 */
function compare(
  dtype: DType,
  n: number,
  ranges: ReadonlyArray<readonly [number, number]>,
  steps: number,
  js: (bufs: FloatArray[], g: FloatArray, t: number) => void,
  wasm: (bufs: FloatArray[], g: FloatArray, t: number) => void,
): void {
  const rng = new Rng(n * 31 + ranges.length);
  const jsBufs = ranges.map(([low, high]) => randomArray(dtype, n, rng, low, high));
  const wasmBufs = jsBufs.map(inArena);
  for (let t = 1; t <= steps; t++) {
    const g = randomArray(dtype, n, rng);
    js(jsBufs, g, t);
    wasm(wasmBufs, inArena(g), t);
    jsBufs.forEach((b, k) => expectMatch(dtype, wasmBufs[k]!, b));
  }
}

describe.each(DTYPES)('wasm kernels equal the JS reference (%s)', (dtype) => {
  test.each(SIZES)('sgd: plain, weight decay, maximize (n = %i)', (n) => {
    for (const maximize of [false, true]) {
      compare(dtype, n, [U], 3,
        ([p], g) => sgdUpdate(p!, g, null, 0.1, 0, 0, 0.01, false, maximize, false),
        ([p], g) => arena.sgdUpdate(p!, g, null, 0.1, 0, 0, 0.01, false, maximize, false));
    }
  });

  test.each(SIZES)('sgd: momentum, dampening, nesterov, first-step copy (n = %i)', (n) => {
    for (const [dampening, nesterov] of [[0, false], [0.3, false], [0, true]] as const) {
      compare(dtype, n, [U, U], 4,
        ([p, b], g, t) => sgdUpdate(p!, g, b!, 0.05, 0.9, dampening, 0.02, nesterov, false, t === 1),
        ([p, b], g, t) => arena.sgdUpdate(p!, g, b!, 0.05, 0.9, dampening, 0.02, nesterov, false, t === 1));
    }
  });

  test.each(SIZES)('adam / adamw / amsgrad with the bias-corrected step of each t (n = %i)', (n) => {
    const configs = [
      { l2: 0, decay: 1, ams: false, maximize: false },
      { l2: 0.1, decay: 1, ams: true, maximize: false },
      { l2: 0, decay: 1 - 1e-3 * 0.01, ams: false, maximize: true },
      { l2: 0, decay: 1 - 1e-3 * 0.01, ams: true, maximize: false },
    ];
    const [beta1, beta2, eps, lr] = [0.9, 0.999, 1e-8, 1e-3];
    for (const c of configs) {
      compare(dtype, n, c.ams ? [U, U, P, P] : [U, U, P], 4,
        ([p, m, v, vMax], g, t) => adamUpdate(p!, g, m!, v!, c.ams ? vMax! : null, lr / (1 - beta1 ** t), Math.sqrt(1 - beta2 ** t), beta1, beta2, eps, c.l2, c.decay, c.maximize),
        ([p, m, v, vMax], g, t) => arena.adamUpdate(p!, g, m!, v!, c.ams ? vMax! : null, lr / (1 - beta1 ** t), Math.sqrt(1 - beta2 ** t), beta1, beta2, eps, c.l2, c.decay, c.maximize));
    }
  });

  test.each(SIZES)('lion with decoupled decay and maximize (n = %i)', (n) => {
    for (const [decay, maximize] of [[1, false], [1 - 1e-4 * 0.1, true]] as const) {
      compare(dtype, n, [U, U], 4,
        ([p, m], g) => lionUpdate(p!, g, m!, 1e-4, 0.9, 0.99, decay, maximize),
        ([p, m], g) => arena.lionUpdate(p!, g, m!, 1e-4, 0.9, 0.99, decay, maximize));
    }
  });

  test.each(SIZES)('adagrad with a decayed lr and weight decay (n = %i)', (n) => {
    compare(dtype, n, [U, P], 4,
      ([p, s], g, t) => adagradUpdate(p!, g, s!, 0.01 / (1 + (t - 1) * 0.1), 1e-10, 0.05, t === 3),
      ([p, s], g, t) => arena.adagradUpdate(p!, g, s!, 0.01 / (1 + (t - 1) * 0.1), 1e-10, 0.05, t === 3));
  });

  test.each(SIZES)('rmsprop: plain, centered, momentum, both (n = %i)', (n) => {
    for (const [centered, momentum] of [[false, 0], [true, 0], [false, 0.9], [true, 0.5]] as const) {
      // Square averages start well above the squared gradient averages: the centered root stays well-conditioned.
      compare(dtype, n, [U, [1, 2], [-0.5, 0.5], U], 4,
        ([p, sq, ga, b], g) => rmspropUpdate(p!, g, sq!, centered ? ga! : null, momentum > 0 ? b! : null, 0.01, 0.99, 1e-8, 0.01, momentum, false),
        ([p, sq, ga, b], g) => arena.rmspropUpdate(p!, g, sq!, centered ? ga! : null, momentum > 0 ? b! : null, 0.01, 0.99, 1e-8, 0.01, momentum, false));
    }
  });

  test('one call over a whole buffer equals calls over its slices (a group step equals per-parameter steps)', () => {
    const rng = new Rng(7);
    const n = 37;
    const whole = [randomArray(dtype, n, rng), randomArray(dtype, n, rng), randomArray(dtype, n, rng, 0, 1)].map(inArena);
    const parts = whole.map((b) => inArena(b));
    const g = inArena(randomArray(dtype, n, rng));
    arena.adamUpdate(whole[0]!, g, whole[1]!, whole[2]!, null, 1e-2, 0.3, 0.9, 0.999, 1e-8, 0, 1, false);
    for (const [lo, hi] of [[0, 5], [5, 6], [6, 30], [30, 37]] as const) {
      const s = (b: FloatArray) => b.subarray(lo, hi);
      arena.adamUpdate(s(parts[0]!), s(g), s(parts[1]!), s(parts[2]!), null, 1e-2, 0.3, 0.9, 0.999, 1e-8, 0, 1, false);
    }
    whole.forEach((b, k) => expect(Array.from(parts[k]!)).toEqual(Array.from(b)));
  });

  test('non-finite values propagate exactly as in the JS kernels (NaN gradient, infinite parameter)', () => {
    const p = dtype === 'float64' ? Float64Array.from([1, Infinity, 3, -0]) : Float32Array.from([1, Infinity, 3, -0]);
    const g = dtype === 'float64' ? Float64Array.from([NaN, 1, 0, 0]) : Float32Array.from([NaN, 1, 0, 0]);
    const jsP = p.slice();
    const jsM = p.slice().fill(0);
    const wp = inArena(p);
    const wm = inArena(jsM);
    lionUpdate(jsP, g, jsM, 0.1, 0.9, 0.99, 1, false);
    arena.lionUpdate(wp, inArena(g), wm, 0.1, 0.9, 0.99, 1, false);
    expect(Array.from(wp)).toEqual(Array.from(jsP));
    expect(Array.from(wm)).toEqual(Array.from(jsM));
  });
});

describe.each(DTYPES)('wasm reductions (%s)', (dtype) => {
  test.each(SIZES)('sumOfSquares within 1e-12 relative of the sequential float64 sum (n = %i)', (n) => {
    const x = randomArray(dtype, n, new Rng(n + 1));
    const js = sumOfSquares(x);
    const wasm = arena.sumOfSquares(inArena(x));
    expect(Math.abs(wasm - js)).toBeLessThanOrEqual(1e-12 * js);
  });

  test.each(SIZES)('maxAbs is exact, and NaN anywhere gives NaN (n = %i)', (n) => {
    const x = randomArray(dtype, n, new Rng(n + 2), -10, 10);
    expect(arena.maxAbs(inArena(x))).toBe(maxAbs(x));
    if (n > 0) {
      x[n - 1] = NaN;
      expect(arena.maxAbs(inArena(x))).toBeNaN();
    }
  });

  test.each(SIZES)('firstNonFinite finds the first NaN or infinity at every position (n = %i)', (n) => {
    const x = randomArray(dtype, n, new Rng(n + 3));
    expect(arena.firstNonFinite(inArena(x))).toBe(-1);
    for (let i = 0; i < n; i += Math.max(1, Math.floor(n / 40))) {
      for (const bad of [NaN, Infinity, -Infinity]) {
        const y = x.slice();
        y[i] = bad;
        if (i + 2 < n) y[i + 2] = NaN;
        expect(arena.firstNonFinite(inArena(y))).toBe(firstNonFinite(y));
        expect(firstNonFinite(y)).toBe(i);
      }
    }
  });

  test('scaleInPlace multiplies by the factor (float32: by the factor rounded to float32)', () => {
    const x = randomArray(dtype, 9, new Rng(4));
    const js = x.slice();
    scaleInPlace(js, 0.25);
    const w = inArena(x);
    arena.scaleInPlace(w, 0.25);
    expect(Array.from(w)).toEqual(Array.from(js));
  });
});

test('kernels refuse buffers that are not views into the arena, or do not match the parameter', () => {
  const p = inArena(new Float32Array(4));
  const g = inArena(new Float32Array(4));
  expect(() => arena.sgdUpdate(p, new Float32Array(4), null, 0.1, 0, 0, 0, false, false, false)).toThrow(/a view into this arena/);
  expect(() => arena.sgdUpdate(p, g.subarray(0, 3), null, 0.1, 0, 0, 0, false, false, false)).toThrow(/Float32Array\(4\) like the parameter/);
});
