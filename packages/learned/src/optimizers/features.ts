import type { FloatArray } from '@opt/tensor';

/**
 * The per-parameter input features of {@link MLPLearnedOptimizer}, in input order.
 * Every one is normalised per tensor (see {@link mlpHybridUpdate}).
 */
export const MLP_FEATURE_NAMES: readonly string[] = Object.freeze([
  'grad',
  'param',
  'momentum_fast',
  'momentum',
  'momentum_slow',
  'rms',
  'adam_direction',
  'log_grad_magnitude',
]);

/** Number of per-element features (the time features come on top, folded into the first layer's bias). */
export const NUM_ELEMENT_FEATURES = 8;

/**
 * The optional per-tensor features (`tensorFeatures: true`), after the time features in the input order: the
 * signal-to-noise ratios `RMS(m)/RMS(√v̂)` of the fast momentum, Adam's bias-corrected momentum and the slow
 * momentum over the tensor. Scale-free like the element features, but NOT normalised away: they say how much of a
 * tensor's gradient is consistent (≈1) rather than noise or oscillation (≈0), which is what tells a step that is
 * too large for this network from one that is not.
 */
export const MLP_TENSOR_FEATURE_NAMES: readonly string[] = Object.freeze(['tensor_snr_fast', 'tensor_snr', 'tensor_snr_slow']);

/** Number of per-tensor features when they are enabled. */
export const NUM_TENSOR_FEATURES = 3;

/**
 * Mean square added before the per-tensor inverse RMS. Tiny on purpose: the
 * normalisation must stay scale invariant for gradients of any magnitude (the
 * `1e-5` of `mlp_lopt.py` would flatten every feature of a tensor whose
 * gradients are ~1e-4), and an all-zero feature maps to zeros either way.
 */
const MEAN_SQUARE_EPS = 1e-30;

/**
 * Bound on a normalised feature. An RMS-normalised value cannot exceed √n, so
 * this only bites on overflowed inputs (a float32 second moment of a 1e30
 * gradient is +∞, and ∞·0 is NaN): NaN maps to 0 and ±∞ to ±bound, so the
 * network always sees finite inputs.
 */
const FEATURE_BOUND = 1e3;

function bounded(x: number): number {
  return x > FEATURE_BOUND ? FEATURE_BOUND : x < -FEATURE_BOUND ? -FEATURE_BOUND : x === x ? x : 0;
}

/**
 * Fold the time features into the first layer's bias for one step:
 * `bias1[j] = b1[j] + Σ_k W1[j, F + k]·φ_k`, since φ is shared by every element
 * of every tensor at that step (this removes T multiply-adds per element).
 *
 * @param meta - the flat meta-parameters.
 * @param h1 - first hidden width.
 * @param numTime - number of time features T.
 * @param timeFeatures - φ, length T.
 * @param bias1 - destination, length h1.
 * @param numTensor - number of per-tensor features S after the time features (0 or {@link NUM_TENSOR_FEATURES});
 *   `mlpHybridUpdate` folds those itself, once it has measured the tensor.
 */
export function foldTimeBias(meta: Float64Array, h1: number, numTime: number, timeFeatures: Float64Array, bias1: Float64Array, numTensor = 0): void {
  const stride = NUM_ELEMENT_FEATURES + numTime + numTensor;
  const b1 = h1 * stride;
  for (let j = 0; j < h1; j++) {
    let a = meta[b1 + j]!;
    const row = j * stride + NUM_ELEMENT_FEATURES;
    for (let k = 0; k < numTime; k++) a += meta[row + k]! * timeFeatures[k]!;
    bias1[j] = a;
  }
}

/**
 * One fused step of the hybrid MLP learned optimizer on one tensor, in place on
 * `p` and the four moment buffers. Two passes, no allocation:
 *
 * Pass 1 updates the moments exactly as Adam does (`g ← g + weightDecay·p`,
 * `m ← β1·m + (1 − β1)·g`, `v ← β2·v + (1 − β2)·g²`, plus `m_fast`, `m_slow` at
 * their decays) and accumulates the mean square of each feature over the tensor.
 *
 * Pass 2 computes, per element, the features divided by their tensor RMS
 * (`x / sqrt(mean(x²) + 1e-30)`):
 *
 * ```
 * g, p, m_fast, m, m_slow, √v̂, â = m̂ / (√v̂ + eps),  ℓ = max(ln(|g_n| + 1e-8) / 5, −1)
 * ```
 *
 * (ℓ is the "log" half of Andrychowicz et al.'s LogAndSign preprocessing with
 * k = 5, applied to the normalised gradient g_n, so it is already O(1)), runs
 * the MLP `[x, φ(t)] → h1 → ReLU → h2 → ReLU → (d, s)`, and applies
 *
 * ```
 * μ = exp(clamp(α·s, −maxLog, maxLog))
 * p ← p − (μ·stepSize·m / (√v/√(1 − β2^t) + eps) + μ·lr·β·d)
 * ```
 *
 * which is `p − lr·μ·(adamDir + β·d)`. With μ = 1 and d = 0 (a zero last
 * layer) the expression reduces to Adam's, bit for bit: the Adam term is
 * computed in the same order as `adamUpdate` and `1·x + 0 = x` exactly.
 * With `maxDirection` finite, d is clamped to `±maxDirection` first, so the
 * learned direction can never outgrow a bounded multiple of an Adam-sized step.
 * With `gateDirection`, the direction term is multiplied by the tensor's RMS of
 * Adam's direction `â`: d is then measured in units of the tensor's own Adam
 * step, so it fades with Adam's step once the gradients vanish (the features
 * are scale-free and stay O(1) when they do, so an ungated d keeps moving
 * parameters of a converged network by `lr·β·d` per step).
 *
 * With `numTensor = 3`, the per-tensor features ({@link MLP_TENSOR_FEATURE_NAMES})
 * measured in pass 1 are folded into `bias1` before pass 2.
 *
 * Meta-parameter layout (row-major): `W1 [h1 × (8 + T + S)]`, `b1 [h1]`,
 * `W2 [h2 × h1]`, `b2 [h2]`, `W3 [2 × h2]` (row 0 → d, row 1 → s), `b3 [2]`.
 *
 * @param p - parameter values.
 * @param g - gradient.
 * @param m - first moment at β1 (Adam's `exp_avg`).
 * @param v - second moment at β2 (Adam's `exp_avg_sq`).
 * @param mFast - momentum at `decayFast`.
 * @param mSlow - momentum at `decaySlow`.
 * @param meta - the flat meta-parameters, read in place.
 * @param h1 - first hidden width.
 * @param h2 - second hidden width.
 * @param numTime - number of time features T (their contribution is in `bias1`).
 * @param numTensor - number of per-tensor features S (0 or {@link NUM_TENSOR_FEATURES}).
 * @param bias1 - first-layer bias with the time features folded in ({@link foldTimeBias}); the tensor features are added here.
 * @param hid1 - scratch, length h1.
 * @param stepSize - `lr / (1 − β1^t)`.
 * @param sqrtBc2 - `sqrt(1 − β2^t)`.
 * @param invBc1 - `1 / (1 − β1^t)`.
 * @param lrBeta - `lr · β` (the direction's scale).
 * @param beta1 - decay of `m`.
 * @param beta2 - decay of `v`.
 * @param decayFast - decay of `mFast`.
 * @param decaySlow - decay of `mSlow`.
 * @param eps - Adam's eps, added to √v̂.
 * @param weightDecay - L2 penalty added to the gradient.
 * @param alpha - scale α of the log step magnitude.
 * @param maxLog - clamp bound of α·s.
 * @param maxDirection - clamp bound of d (`Infinity`: unbounded).
 * @param gateDirection - scale the direction term by the tensor's RMS of `â`.
 * @param featuresOut - when not null, receives the normalised features row-major `[n × 8]` (inspection).
 */
export function mlpHybridUpdate(
  p: FloatArray,
  g: FloatArray,
  m: FloatArray,
  v: FloatArray,
  mFast: FloatArray,
  mSlow: FloatArray,
  meta: Float64Array,
  h1: number,
  h2: number,
  numTime: number,
  numTensor: number,
  bias1: Float64Array,
  hid1: Float64Array,
  stepSize: number,
  sqrtBc2: number,
  invBc1: number,
  lrBeta: number,
  beta1: number,
  beta2: number,
  decayFast: number,
  decaySlow: number,
  eps: number,
  weightDecay: number,
  alpha: number,
  maxLog: number,
  maxDirection: number,
  gateDirection: boolean,
  featuresOut: Float64Array | null,
): void {
  const n = p.length;
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  const cf = 1 - decayFast;
  const cs = 1 - decaySlow;
  let sg = 0;
  let sp = 0;
  let sf = 0;
  let sm = 0;
  let ss = 0;
  let sv = 0;
  let sd = 0;
  const invBc2 = 1 / sqrtBc2;
  for (let i = 0; i < n; i++) {
    const pi = p[i]!;
    const gi = g[i]! + weightDecay * pi;
    m[i] = beta1 * m[i]! + c1 * gi;
    v[i] = beta2 * v[i]! + c2 * (gi * gi);
    mFast[i] = decayFast * mFast[i]! + cf * gi;
    mSlow[i] = decaySlow * mSlow[i]! + cs * gi;
    const mi = m[i]!;
    const vi = v[i]!;
    const fi = mFast[i]!;
    const si = mSlow[i]!;
    // The reciprocal multiply matches `@opt/tensor`'s Adam kernel, so untrained = Adam bit for bit.
    const dir = (mi * invBc1) / (Math.sqrt(vi) * invBc2 + eps);
    sg += gi * gi;
    sp += pi * pi;
    sf += fi * fi;
    sm += mi * mi;
    ss += si * si;
    sv += vi;
    sd += dir * dir;
  }
  const rg = 1 / Math.sqrt(sg / n + MEAN_SQUARE_EPS);
  const rp = 1 / Math.sqrt(sp / n + MEAN_SQUARE_EPS);
  const rf = 1 / Math.sqrt(sf / n + MEAN_SQUARE_EPS);
  const rm = 1 / Math.sqrt(sm / n + MEAN_SQUARE_EPS);
  const rs = 1 / Math.sqrt(ss / n + MEAN_SQUARE_EPS);
  // The rms feature is √v̂ = √v/√(1 − β2^t): its mean square is mean(v)/(1 − β2^t).
  const rv = 1 / Math.sqrt(sv / n / (sqrtBc2 * sqrtBc2) + MEAN_SQUARE_EPS);
  const rd = 1 / Math.sqrt(sd / n + MEAN_SQUARE_EPS);
  const directionStep = gateDirection ? lrBeta * Math.sqrt(sd / n) : lrBeta;
  const stride = NUM_ELEMENT_FEATURES + numTime + numTensor;
  if (numTensor > 0) {
    // RMS(momentum) / RMS(√v̂) per tensor (rv is 1/RMS(√v̂)); an all-zero tensor gives 0, not NaN.
    const snrFast = bounded(Math.sqrt(sf / n) * rv);
    const snr = bounded(Math.sqrt(sm / n) * invBc1 * rv);
    const snrSlow = bounded(Math.sqrt(ss / n) * rv);
    const col = NUM_ELEMENT_FEATURES + numTime;
    for (let j = 0; j < h1; j++) {
      const r = j * stride + col;
      bias1[j] = bias1[j]! + meta[r]! * snrFast + meta[r + 1]! * snr + meta[r + 2]! * snrSlow;
    }
  }
  const oW2 = h1 * stride + h1;
  const oB2 = oW2 + h2 * h1;
  const oW3 = oB2 + h2;
  const oB3 = oW3 + 2 * h2;
  const bD = meta[oB3]!;
  const bS = meta[oB3 + 1]!;
  for (let i = 0; i < n; i++) {
    const pi = p[i]!;
    const gi = g[i]! + weightDecay * pi;
    const mi = m[i]!;
    const rootV = Math.sqrt(v[i]!) / sqrtBc2;
    const denom = rootV + eps;
    const adamStep = (stepSize * mi) / denom;
    const x0 = bounded(gi * rg);
    const x1 = bounded(pi * rp);
    const x2 = bounded(mFast[i]! * rf);
    const x3 = bounded(mi * rm);
    const x4 = bounded(mSlow[i]! * rs);
    const x5 = bounded(rootV * rv);
    const x6 = bounded(((mi * invBc1) / denom) * rd);
    const lg = Math.log(Math.abs(x0) + 1e-8) * 0.2;
    const x7 = lg > -1 ? lg : -1;
    if (featuresOut !== null) {
      const o = i * NUM_ELEMENT_FEATURES;
      featuresOut[o] = x0;
      featuresOut[o + 1] = x1;
      featuresOut[o + 2] = x2;
      featuresOut[o + 3] = x3;
      featuresOut[o + 4] = x4;
      featuresOut[o + 5] = x5;
      featuresOut[o + 6] = x6;
      featuresOut[o + 7] = x7;
    }
    for (let j = 0; j < h1; j++) {
      const r = j * stride;
      const a =
        bias1[j]! +
        meta[r]! * x0 +
        meta[r + 1]! * x1 +
        meta[r + 2]! * x2 +
        meta[r + 3]! * x3 +
        meta[r + 4]! * x4 +
        meta[r + 5]! * x5 +
        meta[r + 6]! * x6 +
        meta[r + 7]! * x7;
      hid1[j] = a > 0 ? a : 0;
    }
    let d = bD;
    let s = bS;
    for (let k = 0; k < h2; k++) {
      let a = meta[oB2 + k]!;
      const r = oW2 + k * h1;
      for (let j = 0; j < h1; j++) a += meta[r + j]! * hid1[j]!;
      if (a > 0) {
        d += meta[oW3 + k]! * a;
        s += meta[oW3 + h2 + k]! * a;
      }
    }
    // Comparisons with an infinite bound are false, so an unbounded d (and NaN) passes unchanged.
    d = d > maxDirection ? maxDirection : d < -maxDirection ? -maxDirection : d;
    let ls = alpha * s;
    // Clamped so a large magnitude output cannot overflow exp; NaN passes on
    // (a NaN update is what HybridOptimizer's fallback looks for).
    ls = ls > maxLog ? maxLog : ls < -maxLog ? -maxLog : ls;
    const mu = Math.exp(ls);
    p[i] = pi - (mu * adamStep + mu * directionStep * d);
  }
}
