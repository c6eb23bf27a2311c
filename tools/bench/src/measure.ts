/**
 * The timing policy every column shares (JS, wasm, tfjs, and, re-implemented
 * with the same constants, the C and PyTorch timers): warm up for at least two
 * steps and `warmupMs`, then group steps into samples of `k` consecutive steps
 * (k doubled until a sample lasts at least 50 us, so clock overhead stays out of
 * tiny steps), and take enough samples to fill `targetMs`, clamped to
 * `[minSamples, maxSamples]`. Steps slower than `slowStepMs` get one warm-up step
 * and `minSlowSamples` samples, which keeps multi-second steps (tfjs's cpu backend
 * at 1e7) within the suite's budget.
 */
export interface TimingPolicy {
  warmupMs: number;
  targetMs: number;
  minSamples: number;
  maxSamples: number;
  slowStepMs: number;
  minSlowSamples: number;
}

/** Raw result of one timed cell: every sample is `stepsPerSample` steps. */
export interface Samples {
  stepsPerSample: number;
  samplesNs: number[];
}

/** Summary statistics of the per-step time. */
export interface StepStats {
  /** Median milliseconds per step. */
  medianMs: number;
  /** 10th and 90th percentile milliseconds per step. */
  p10Ms: number;
  p90Ms: number;
  /** Number of samples and steps per sample. */
  samples: number;
  stepsPerSample: number;
  /** Elements updated per second at the median. */
  elementsPerSecond: number;
}

/** Nanoseconds from a monotonic clock. */
function nowNs(): number {
  return Number(process.hrtime.bigint());
}

/** Time `step` under `policy`; see {@link TimingPolicy}. */
export function timeSteps(step: () => void, policy: TimingPolicy): Samples {
  const t0 = nowNs();
  step();
  const first = nowNs() - t0;
  let warm = 1;
  if (first < policy.slowStepMs * 1e6) {
    while (warm < 2 || nowNs() - t0 < policy.warmupMs * 1e6) {
      step();
      warm++;
    }
  }
  // The per-step estimate leaves out the first step, which allocates lazily created state.
  const perStep = warm > 1 ? (nowNs() - t0 - first) / (warm - 1) : first;
  let k = 1;
  while (k * perStep < 50e3 && k < 1 << 20) k *= 2;
  let samples = Math.floor((policy.targetMs * 1e6) / (k * perStep));
  const min = perStep >= policy.slowStepMs * 1e6 ? policy.minSlowSamples : policy.minSamples;
  samples = Math.max(min, Math.min(policy.maxSamples, samples));
  const out: number[] = [];
  for (let s = 0; s < samples; s++) {
    const a = nowNs();
    for (let i = 0; i < k; i++) step();
    out.push(nowNs() - a);
  }
  return { stepsPerSample: k, samplesNs: out };
}

/** Linear-interpolated quantile of sorted values. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Per-step statistics of `samples` for a step over `elements` elements. */
export function summarize(samples: Samples, elements: number): StepStats {
  const perStepMs = samples.samplesNs.map((ns) => ns / samples.stepsPerSample / 1e6).sort((a, b) => a - b);
  const medianMs = quantile(perStepMs, 0.5);
  return {
    medianMs,
    p10Ms: quantile(perStepMs, 0.1),
    p90Ms: quantile(perStepMs, 0.9),
    samples: perStepMs.length,
    stepsPerSample: samples.stepsPerSample,
    elementsPerSecond: elements / (medianMs / 1e3),
  };
}
