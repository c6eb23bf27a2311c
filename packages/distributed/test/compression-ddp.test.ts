import { SGD } from '@opt/core';
import { Parameter, Rng } from '@opt/tensor';
import { DistributedDataParallel } from '../src/ddp';
import {
  type GradientCodec,
  CompressionHookState,
  EFSign,
  ErrorFeedback,
  HalfCodec,
  IdentityCodec,
  PowerSGD,
  QSGD,
  RandomK,
  SignumMajorityVote,
  TopK,
  compressionHook,
} from '../src/compression/index';
import { bytes, shmRanks } from './helpers/ranks';

// Multinomial logistic regression on synthetic data: W [C, D] (a matrix, so PowerSGD compresses it) and b [C].
const C = 4;
const D = 16;
const N = 256;
const data = (() => {
  const rng = new Rng(2024);
  const x = rng.fillNormal(new Float32Array(N * D));
  const wTrue = rng.fillNormal(new Float32Array(C * D));
  const y = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    let best = 0;
    let bestScore = -Infinity;
    for (let c = 0; c < C; c++) {
      let s = rng.normal(0, 0.5);
      for (let j = 0; j < D; j++) s += wTrue[c * D + j]! * x[i * D + j]!;
      if (s > bestScore) {
        bestScore = s;
        best = c;
      }
    }
    y[i] = best;
  }
  return { x, y };
})();

/** Mean cross-entropy over rows [from, to); writes the gradient into gw, gb when given. */
function lossAndGrad(w: Float32Array, b: Float32Array, from: number, to: number, gw?: Float32Array, gb?: Float32Array): number {
  gw?.fill(0);
  gb?.fill(0);
  const logits = new Float64Array(C);
  let loss = 0;
  const m = to - from;
  for (let i = from; i < to; i++) {
    let max = -Infinity;
    for (let c = 0; c < C; c++) {
      let s = b[c]!;
      for (let j = 0; j < D; j++) s += w[c * D + j]! * data.x[i * D + j]!;
      logits[c] = s;
      if (s > max) max = s;
    }
    let z = 0;
    for (let c = 0; c < C; c++) z += Math.exp(logits[c]! - max);
    loss += Math.log(z) + max - logits[data.y[i]!]!;
    if (gw && gb) {
      for (let c = 0; c < C; c++) {
        const d = (Math.exp(logits[c]! - max) / z - (c === data.y[i] ? 1 : 0)) / m;
        gb[c] = gb[c]! + d;
        for (let j = 0; j < D; j++) gw[c * D + j] = gw[c * D + j]! + d * data.x[i * D + j]!;
      }
    }
  }
  return loss / m;
}

function model(): [Parameter, Parameter] {
  return [new Parameter(new Float32Array(C * D), [C, D], 'w'), new Parameter(new Float32Array(C), [C], 'b')];
}

interface RunResult {
  params: Float32Array;
  loss: number;
  bytesSent: number;
}

/** Train on K ranks (each on its shard), `steps` full-shard gradient steps, the hook built by `codec()`. */
async function train(
  k: number,
  steps: number,
  codec: (() => GradientCodec<unknown>) | null,
  momentum: number,
  lr: number,
  resumeAt: number | null = null,
): Promise<RunResult[]> {
  const ranks = shmRanks(k, 1 << 16);
  return Promise.all(
    ranks.map(async (c, r) => {
      const shard = [(r * N) / k, ((r + 1) * N) / k] as const;
      let [w, b] = model();
      let opt = new SGD([w, b], { lr, momentum });
      let ddp = await DistributedDataParallel.create(opt, c, { bucketCapMB: 1 });
      let hook = codec === null ? null : new CompressionHookState(codec());
      if (hook !== null) ddp.registerCommHook(hook, compressionHook);
      for (let t = 0; t < steps; t++) {
        if (t === resumeAt) {
          // A checkpoint through JSON, then a fresh model, optimizer, wrapper and hook state.
          const saved = JSON.parse(
            JSON.stringify({ w: Array.from(w.data), b: Array.from(b.data), opt: opt.stateDict(), hook: hook?.stateDict() ?? null }),
          ) as { w: number[]; b: number[]; opt: Record<string, unknown>; hook: Record<string, unknown> | null };
          [w, b] = model();
          w.data.set(saved.w);
          b.data.set(saved.b);
          opt = new SGD([w, b], { lr, momentum });
          opt.loadStateDict(saved.opt);
          ddp = await DistributedDataParallel.create(opt, c, { bucketCapMB: 1 });
          hook = codec === null ? null : new CompressionHookState(codec());
          if (hook !== null) {
            hook.loadStateDict(saved.hook!);
            ddp.registerCommHook(hook, compressionHook);
          }
        }
        lossAndGrad(w.data as Float32Array, b.data as Float32Array, shard[0], shard[1], w.grad as Float32Array, b.grad as Float32Array);
        await ddp.step();
      }
      return {
        params: Float32Array.from([...w.data, ...b.data]),
        loss: lossAndGrad(w.data as Float32Array, b.data as Float32Array, 0, N),
        bytesSent: hook?.bytesSent ?? 0,
      };
    }),
  );
}

describe('compressed data-parallel training (logistic regression, 2 ranks)', () => {
  const steps = 80;
  const initial = Math.log(C);
  let baseline: RunResult;

  beforeAll(async () => {
    baseline = (await train(2, steps, null, 0, 0.5))[0]!;
  });

  test('uncompressed SGD learns the task (the reference)', () => {
    expect(baseline.loss).toBeLessThan(0.5 * initial);
  });

  const cases: Array<[string, () => GradientCodec<unknown>]> = [
    ['identity codec', () => new IdentityCodec()],
    ['fp16', () => new HalfCodec('float16')],
    ['PowerSGD rank 2 (warm start, EF)', () => new PowerSGD({ rank: 2, startIter: 5 })],
    ['EF Top-K 10 %', () => new ErrorFeedback(new TopK({ ratio: 0.1, accumulate: false }))],
    ['EF Random-K 25 %', () => new ErrorFeedback(new RandomK({ ratio: 0.25, unbiased: false, seed: 3 }))],
    ['QSGD 16 levels', () => new QSGD({ levels: 16, seed: 1 })],
    ['EF-sign', () => EFSign() as GradientCodec<unknown>],
  ];

  test.each(cases)('%s reaches within 10 %% of uncompressed SGD’s loss, every rank identical', async (_name, codec) => {
    const out = await train(2, steps, codec, 0, 0.5);
    expect(bytes(out[0]!.params).equals(bytes(out[1]!.params))).toBe(true);
    expect(out[0]!.loss).toBeLessThan(baseline.loss * 1.1 + 0.01);
  });

  test('DGC Top-K 5 % with momentum correction and warm-up (plain SGD outside) matches uncompressed SGD', async () => {
    const out = await train(2, steps, () => new TopK({ ratio: 0.05, momentum: 0.9, warmupSteps: 20 }), 0, 0.5);
    expect(out[0]!.loss).toBeLessThan(baseline.loss * 1.1 + 0.01);
    // 5 % of 68 elements is 4 elements per step after the warm-up: far fewer bytes than 4 per element.
    expect(out[0]!.bytesSent).toBeLessThan((4 * (C * D + C) * steps) / 5);
  });

  test('Signum with majority vote descends with a small step', async () => {
    const out = await train(2, steps, () => new SignumMajorityVote({ momentum: 0.9 }), 0, 0.01);
    expect(out[0]!.loss).toBeLessThan(0.7 * initial);
  });
});

describe('resuming a compressed run from a checkpoint is bit-identical', () => {
  const cases: Array<[string, () => GradientCodec<unknown>]> = [
    ['PowerSGD (error, warm-start Q, seeded RNG)', () => new PowerSGD({ rank: 2, startIter: 2 })],
    ['DGC Top-K (momentum and accumulation)', () => new TopK({ ratio: 0.05, momentum: 0.9, warmupSteps: 4 })],
    ['QSGD (rounding RNG) with error feedback', () => new ErrorFeedback(new QSGD({ levels: 4, seed: 7 }))],
    ['Signum majority vote (momentum)', () => new SignumMajorityVote()],
  ];

  test.each(cases)('%s', async (_name, codec) => {
    const straight = await train(2, 12, codec, 0.5, 0.2);
    const resumed = await train(2, 12, codec, 0.5, 0.2, 6);
    for (let r = 0; r < 2; r++) {
      expect(bytes(resumed[r]!.params).equals(bytes(straight[r]!.params))).toBe(true);
      expect(resumed[r]!.bytesSent).toBe(straight[r]!.bytesSent);
    }
  });

  test('a hook state saved for another codec is refused', () => {
    const a = new CompressionHookState(new QSGD());
    const b = new CompressionHookState(new PowerSGD());
    expect(() => b.loadStateDict(a.stateDict())).toThrow(/saved for codec qsgd\(16\)/);
  });
});
