/**
 * Fast Fourier transforms for the PRV accountant: an iterative radix-2 complex FFT, Bluestein's chirp-z
 * algorithm for lengths that are not powers of two (the PRV grid has whatever even length the error
 * budget dictates, and its circular self-convolution must use exactly that length to reproduce Opacus),
 * and the real-input helpers built on them.
 *
 * Twiddle factors are taken from `Math.cos`/`Math.sin` tables (not from a recurrence), so the round-off
 * stays at a few ulps × log₂ n relative to the largest coefficient.
 *
 * @packageDocumentation
 */

// Module-level aliases of the global objects: inside a vm context (jest's test environment) every read
// of a global identifier such as `Math` or `Infinity` goes through the context's interceptor and costs
// 10-25x more than a local; these hot numerical loops read them millions of times.
const M = Math;
const N = Number;

/** True when n is a positive power of two. */
export function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0 && n <= 0x40000000;
}

/** The smallest power of two ≥ n. */
export function nextPowerOfTwo(n: number): number {
  let m = 1;
  while (m < n) m *= 2;
  return m;
}

/**
 * A radix-2 complex FFT of a fixed power-of-two length, transforming split real/imaginary arrays in
 * place: X_k = Σ_j x_j e^{∓2πi jk/n} (− forward, + inverse; the inverse is not scaled).
 */
export class Radix2FFT {
  /** Transform length (a power of two). */
  readonly n: number;
  private readonly cosTable: Float64Array;
  private readonly sinTable: Float64Array;

  /** @param n - the length, a power of two */
  constructor(n: number) {
    if (!isPowerOfTwo(n)) throw new RangeError(`Radix2FFT: length ${n} is not a power of two`);
    this.n = n;
    const half = n >> 1;
    this.cosTable = new Float64Array(M.max(half, 1));
    this.sinTable = new Float64Array(M.max(half, 1));
    for (let i = 0; i < half; i++) {
      const a = (2 * M.PI * i) / n;
      this.cosTable[i] = M.cos(a);
      this.sinTable[i] = M.sin(a);
    }
  }

  /**
   * Transforms (re, im) in place.
   *
   * @param re - real parts, length n
   * @param im - imaginary parts, length n
   * @param inverse - use e^{+2πi jk/n} (unscaled inverse)
   */
  transform(re: Float64Array, im: Float64Array, inverse = false): void {
    const n = this.n;
    // Bit-reversal permutation.
    for (let i = 1, j = 0; i < n; i++) {
      let bit = n >> 1;
      for (; j & bit; bit >>= 1) j ^= bit;
      j ^= bit;
      if (i < j) {
        let t = re[i]!;
        re[i] = re[j]!;
        re[j] = t;
        t = im[i]!;
        im[i] = im[j]!;
        im[j] = t;
      }
    }
    const sign = inverse ? 1 : -1;
    const cosT = this.cosTable;
    const sinT = this.sinTable;
    for (let size = 2; size <= n; size *= 2) {
      const halfSize = size >> 1;
      const step = n / size;
      for (let start = 0; start < n; start += size) {
        for (let k = 0, t = 0; k < halfSize; k++, t += step) {
          const wr = cosT[t]!;
          const wi = sign * sinT[t]!;
          const a = start + k;
          const b = a + halfSize;
          const xr = re[b]! * wr - im[b]! * wi;
          const xi = re[b]! * wi + im[b]! * wr;
          re[b] = re[a]! - xr;
          im[b] = im[a]! - xi;
          re[a]! += xr;
          im[a]! += xi;
        }
      }
    }
  }
}

/**
 * A complex DFT of any length n ≥ 1: radix-2 when n is a power of two, otherwise Bluestein's algorithm
 * (jk = (j² + k² − (k−j)²)/2 turns the DFT into a convolution with the chirp e^{iπj²/n}, done by a
 * power-of-two FFT of length ≥ 2n − 1). The chirp angles use j² mod 2n, exact in integers, so they stay
 * accurate for n in the millions.
 */
export class ComplexDFT {
  /** Transform length. */
  readonly n: number;
  private readonly fft: Radix2FFT;
  private readonly chirpCos: Float64Array | null = null;
  private readonly chirpSin: Float64Array | null = null;
  private readonly kernelRe: Float64Array | null = null;
  private readonly kernelIm: Float64Array | null = null;

  /** @param n - the length, any integer ≥ 1 */
  constructor(n: number) {
    if (!N.isInteger(n) || n < 1) throw new RangeError(`ComplexDFT: invalid length ${n}`);
    this.n = n;
    if (isPowerOfTwo(n)) {
      this.fft = new Radix2FFT(n);
      return;
    }
    const m = nextPowerOfTwo(2 * n - 1);
    this.fft = new Radix2FFT(m);
    const c = new Float64Array(n);
    const s = new Float64Array(n);
    const twoN = 2 * n;
    for (let j = 0; j < n; j++) {
      const a = (M.PI * ((j * j) % twoN)) / n;
      c[j] = M.cos(a);
      s[j] = M.sin(a);
    }
    // Kernel b_j = e^{+iπ j²/n} for |j| < n, wrapped circularly into length m.
    const kr = new Float64Array(m);
    const ki = new Float64Array(m);
    kr[0] = c[0]!;
    ki[0] = s[0]!;
    for (let j = 1; j < n; j++) {
      kr[j] = c[j]!;
      ki[j] = s[j]!;
      kr[m - j] = c[j]!;
      ki[m - j] = s[j]!;
    }
    this.fft.transform(kr, ki, false);
    this.chirpCos = c;
    this.chirpSin = s;
    this.kernelRe = kr;
    this.kernelIm = ki;
  }

  /**
   * Transforms (re, im) in place: X_k = Σ_j x_j e^{∓2πi jk/n}; the inverse is not scaled by 1/n.
   *
   * @param re - real parts, length n
   * @param im - imaginary parts, length n
   * @param inverse - use e^{+2πi jk/n}
   */
  transform(re: Float64Array, im: Float64Array, inverse = false): void {
    const n = this.n;
    if (this.chirpCos === null) {
      this.fft.transform(re, im, inverse);
      return;
    }
    // The inverse is the conjugate of the forward transform of the conjugate.
    const conj = inverse ? -1 : 1;
    const m = this.fft.n;
    const c = this.chirpCos;
    const s = this.chirpSin!;
    const ar = new Float64Array(m);
    const ai = new Float64Array(m);
    for (let j = 0; j < n; j++) {
      // a_j = x_j · e^{−iπ j²/n}
      const xr = re[j]!;
      const xi = conj * im[j]!;
      ar[j] = xr * c[j]! + xi * s[j]!;
      ai[j] = xi * c[j]! - xr * s[j]!;
    }
    this.fft.transform(ar, ai, false);
    const kr = this.kernelRe!;
    const ki = this.kernelIm!;
    for (let j = 0; j < m; j++) {
      const xr = ar[j]!;
      const xi = ai[j]!;
      ar[j] = xr * kr[j]! - xi * ki[j]!;
      ai[j] = xr * ki[j]! + xi * kr[j]!;
    }
    this.fft.transform(ar, ai, true);
    const inv = 1 / m;
    for (let k = 0; k < n; k++) {
      // X_k = e^{−iπ k²/n} · (a ⊛ b)_k
      const yr = ar[k]! * inv;
      const yi = ai[k]! * inv;
      re[k] = yr * c[k]! + yi * s[k]!;
      im[k] = conj * (yi * c[k]! - yr * s[k]!);
    }
  }
}

/**
 * The circular k-fold self-convolution of a real sequence of even length N, i.e. irfft(rfft(x)^k), the
 * PRV accountant's composition step. The real transform is computed through one complex DFT of length
 * N/2 (even samples as real parts, odd samples as imaginary parts), which halves time and memory.
 * Powers are taken in polar form, r^k e^{ikθ} with r^k = exp(k log r), as C's `cpow` does.
 *
 * @param x - real input of even length N
 * @param k - a positive integer exponent
 * @returns a new array of length N
 */
export function circularSelfConvolve(x: Float64Array, k: number): Float64Array {
  const n = x.length;
  if (n % 2 !== 0 || n < 2) throw new RangeError(`circularSelfConvolve: length ${n} must be even`);
  const h = n / 2;
  const dft = new ComplexDFT(h);
  const zr = new Float64Array(h);
  const zi = new Float64Array(h);
  for (let j = 0; j < h; j++) {
    zr[j] = x[2 * j]!;
    zi[j] = x[2 * j + 1]!;
  }
  dft.transform(zr, zi, false);
  // Spectrum X_k for k = 0..h (the rest is its conjugate mirror).
  const xr = new Float64Array(h + 1);
  const xi = new Float64Array(h + 1);
  for (let q = 0; q <= h; q++) {
    const a = q % h;
    const b = (h - q) % h;
    // E = (Z_q + conj Z_{h−q})/2, O = (Z_q − conj Z_{h−q})/(2i), X_q = E + e^{−2πiq/N} O
    const er = 0.5 * (zr[a]! + zr[b]!);
    const ei = 0.5 * (zi[a]! - zi[b]!);
    const or = 0.5 * (zi[a]! + zi[b]!);
    const oi = -0.5 * (zr[a]! - zr[b]!);
    const ang = (-2 * M.PI * q) / n;
    const wr = M.cos(ang);
    const wi = M.sin(ang);
    xr[q] = er + (wr * or - wi * oi);
    xi[q] = ei + (wr * oi + wi * or);
  }
  for (let q = 0; q <= h; q++) {
    const r = M.hypot(xr[q]!, xi[q]!);
    if (r === 0) {
      xr[q] = 0;
      xi[q] = 0;
      continue;
    }
    const theta = M.atan2(xi[q]!, xr[q]!);
    const rk = M.exp(k * M.log(r));
    xr[q] = rk * M.cos(k * theta);
    xi[q] = rk * M.sin(k * theta);
  }
  // Inverse real transform: Z_q = E_q + i O_q with E = (X_q + conj X_{h−q})/2,
  // O = (X_q − conj X_{h−q}) e^{+2πiq/N}/2; then z = IDFT(Z)/h, x_{2j} = Re z_j, x_{2j+1} = Im z_j.
  for (let q = 0; q < h; q++) {
    const b = h - q;
    const er = 0.5 * (xr[q]! + xr[b]!);
    const ei = 0.5 * (xi[q]! - xi[b]!);
    const dr = 0.5 * (xr[q]! - xr[b]!);
    const di = 0.5 * (xi[q]! + xi[b]!);
    const ang = (2 * M.PI * q) / n;
    const wr = M.cos(ang);
    const wi = M.sin(ang);
    const or = dr * wr - di * wi;
    const oi = dr * wi + di * wr;
    zr[q] = er - oi;
    zi[q] = ei + or;
  }
  dft.transform(zr, zi, true);
  const out = new Float64Array(n);
  const inv = 1 / h;
  for (let j = 0; j < h; j++) {
    out[2 * j] = zr[j]! * inv;
    out[2 * j + 1] = zi[j]! * inv;
  }
  return out;
}

/**
 * Full linear convolution (length a.length + b.length − 1) of two real sequences by zero-padded
 * power-of-two FFTs.
 *
 * @param a - first sequence
 * @param b - second sequence
 */
export function linearConvolve(a: Float64Array, b: Float64Array): Float64Array {
  const len = a.length + b.length - 1;
  const m = nextPowerOfTwo(len);
  const fft = new Radix2FFT(m);
  // Pack a in the real part and b in the imaginary part: one forward transform serves both.
  const re = new Float64Array(m);
  const im = new Float64Array(m);
  re.set(a);
  im.set(b);
  fft.transform(re, im, false);
  const pr = new Float64Array(m);
  const pi = new Float64Array(m);
  for (let k = 0; k < m; k++) {
    const k2 = (m - k) % m;
    // A_k = (Z_k + conj Z_{m−k})/2, B_k = (Z_k − conj Z_{m−k})/(2i)
    const ar = 0.5 * (re[k]! + re[k2]!);
    const ai = 0.5 * (im[k]! - im[k2]!);
    const br = 0.5 * (im[k]! + im[k2]!);
    const bi = -0.5 * (re[k]! - re[k2]!);
    pr[k] = ar * br - ai * bi;
    pi[k] = ar * bi + ai * br;
  }
  fft.transform(pr, pi, true);
  const out = new Float64Array(len);
  const inv = 1 / m;
  for (let i = 0; i < len; i++) out[i] = pr[i]! * inv;
  return out;
}
