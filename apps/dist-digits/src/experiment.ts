/**
 * Data-parallel training of the digits MLP over any `Collective`, with a chosen gradient codec: what one rank of
 * the `dist-digits` app runs, whatever carries the collective (NATS between processes, shared memory in tests).
 */
import { SGD } from '@opt/core';
import {
  type Collective,
  type GradientCodec,
  CompressionHookState,
  CountingCollective,
  DistributedDataParallel,
  EFSign,
  ErrorFeedback,
  HalfCodec,
  PowerSGD,
  QSGD,
  RandomK,
  SignumMajorityVote,
  TopK,
  allreduceHook,
  compressionHook,
} from '@opt/distributed';
import { type Batch, type Dataset, ClassificationObjective, batchOf, mlp, standardize, trainTestSplit } from '@opt/tasks';
import { loadDigits } from '@opt/tasks/node';
import { Rng } from '@opt/tensor';

/** The codecs the app knows, by name. */
export const CODEC_NAMES = ['none', 'fp16', 'powersgd', 'topk-ef', 'dgc', 'randomk-ef', 'qsgd', 'ef-sign', 'signum'] as const;

/** A codec name of {@link CODEC_NAMES}. */
export type CodecName = (typeof CODEC_NAMES)[number];

/** Settings of the codecs. */
export interface CodecSettings {
  /** Density of the Top-K codecs (`topk-ef`, `dgc`). Default 0.01. */
  topkRatio?: number;
  /** Rank of PowerSGD. Default 1. */
  powerRank?: number;
  /** Density of `randomk-ef`. Default 0.05. */
  randomkRatio?: number;
  /** Seed of the randomised codecs. Default 0. */
  seed?: number;
}

/** A short description of a codec with its settings, for tables. */
export function describeCodec(name: CodecName, s: CodecSettings = {}): string {
  switch (name) {
    case 'none':
      return 'uncompressed all-reduce';
    case 'fp16':
      return 'fp16';
    case 'powersgd':
      return `PowerSGD rank ${s.powerRank ?? 1} (EF, warm start)`;
    case 'topk-ef':
      return `Top-K ${100 * (s.topkRatio ?? 0.01)} % + EF`;
    case 'dgc':
      return `DGC Top-K ${100 * (s.topkRatio ?? 0.01)} % (momentum correction, warm-up)`;
    case 'randomk-ef':
      return `Random-K ${100 * (s.randomkRatio ?? 0.05)} % + EF`;
    case 'qsgd':
      return 'QSGD 16 levels';
    case 'ef-sign':
      return 'EF-sign (1 bit)';
    case 'signum':
      return 'Signum majority vote (1 bit)';
  }
}

/** The codec of a name (`null` for `'none'`: PyTorch's default all-reduce hook). */
export function makeCodec(name: CodecName, s: CodecSettings = {}): GradientCodec<unknown> | null {
  const seed = s.seed ?? 0;
  switch (name) {
    case 'none':
      return null;
    case 'fp16':
      return new HalfCodec('float16');
    case 'powersgd':
      return new PowerSGD({ rank: s.powerRank ?? 1, startIter: 10, seed }) as GradientCodec<unknown>;
    case 'topk-ef':
      return new ErrorFeedback(new TopK({ ratio: s.topkRatio ?? 0.01, accumulate: false })) as GradientCodec<unknown>;
    case 'dgc':
      return new TopK({ ratio: s.topkRatio ?? 0.01, momentum: 0.9, warmupSteps: 40 }) as GradientCodec<unknown>;
    case 'randomk-ef':
      return new ErrorFeedback(new RandomK({ ratio: s.randomkRatio ?? 0.05, unbiased: false, seed })) as GradientCodec<unknown>;
    case 'qsgd':
      return new QSGD({ levels: 16, seed }) as GradientCodec<unknown>;
    case 'ef-sign':
      return EFSign() as GradientCodec<unknown>;
    case 'signum':
      return new SignumMajorityVote({ momentum: 0.9 }) as GradientCodec<unknown>;
  }
}

/** The digits data: standardized stratified 80/20 split. */
export interface DigitsData {
  train: Dataset;
  test: Dataset;
  description: string;
}

/** Load and split the digits (8×8 images, 10 classes): the same split on every rank for the same seed. */
export function prepareDigits(seed = 0): DigitsData {
  const { train, test } = trainTestSplit(loadDigits(), { testFraction: 0.2, seed, stratify: true });
  const s = standardize(train, test);
  return {
    train: s.train,
    test: s.test!,
    description: `digits: ${train.n} train / ${test.n} test, ${train.d} features, stratified 80/20 split (seed ${seed}), standardized`,
  };
}

/** Settings of one data-parallel run. */
export interface RankOptions {
  /** Gradient codec. Default `'none'`. */
  codec?: CodecName;
  /** Codec settings. */
  codecSettings?: CodecSettings;
  /** Epochs over the training set. Default 20. */
  epochs?: number;
  /** GLOBAL batch size, split evenly over the ranks. Default 64. */
  batchSize?: number;
  /** Learning rate. Default 0.05 (0.005 for the sign codecs, whose updates have unit magnitude). */
  lr?: number;
  /** SGD momentum (0 for `dgc` and `signum`, whose momentum lives in the codec). Default 0.9. */
  momentum?: number;
  /** Hidden layer widths. Default `[64]`. */
  hidden?: number[];
  /** Seed of the split, initialisation, shuffling and codecs. Default 0. */
  seed?: number;
  /** Called after every step on this rank. */
  onStep?: (step: number, totalSteps: number) => void;
}

/** What one rank reports. */
export interface RankResult {
  rank: number;
  worldSize: number;
  codec: CodecName;
  /** Steps taken. */
  steps: number;
  /** Test accuracy after every epoch (identical on every rank). */
  testAccuracy: number[];
  /** Mean training loss of this rank's shards in every epoch. */
  trainLoss: number[];
  /** Bytes this rank contributed to gradient communication (real payload lengths). */
  bytesSent: number;
  /** Bytes the uncompressed all-reduce would have contributed over the same steps (4 per element per step). */
  uncompressedBytes: number;
  /** Number of trainable parameters. */
  parameters: number;
  /** Wall time of the training loop in seconds. */
  seconds: number;
  /** FNV-1a hash of the final parameter bytes (equal on every rank). */
  paramsHash: string;
}

function hashBytes(a: Float32Array): string {
  const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

/**
 * Train the digits MLP data-parallel on this rank: every epoch draws one global permutation (same seed on every
 * rank), cuts it into global batches of `batchSize` (an incomplete last batch is dropped so shards stay equal),
 * and rank r computes the gradient of its `batchSize/K` slice. `DistributedDataParallel` averages the gradients
 * through the codec's communication hook, then SGD steps. Every rank ends with the same parameters.
 */
export async function trainDigitsRank(collective: Collective, options: RankOptions = {}, data: DigitsData = prepareDigits(options.seed ?? 0)): Promise<RankResult> {
  const codecName = options.codec ?? 'none';
  const seed = options.seed ?? 0;
  const epochs = options.epochs ?? 20;
  const batchSize = options.batchSize ?? 64;
  const K = collective.worldSize;
  const rank = collective.rank;
  if (batchSize % K !== 0) throw new RangeError(`batchSize ${batchSize} is not a multiple of the ${K} ranks`);
  const sign = codecName === 'signum' || codecName === 'ef-sign';
  const lr = options.lr ?? (sign ? 0.005 : 0.05);
  const momentum = codecName === 'dgc' || codecName === 'signum' ? 0 : (options.momentum ?? 0.9);
  const { train, test } = data;
  const model = mlp({ sizes: [train.d, ...(options.hidden ?? [64]), train.numClasses], seed, dtype: 'float32' });
  const objective = new ClassificationObjective(model, train);
  const optimizer = new SGD(objective.parameters, { lr, momentum });
  const ddp = await DistributedDataParallel.create(optimizer, collective);
  const codec = makeCodec(codecName, { seed, ...options.codecSettings });
  const counted = new CountingCollective(collective);
  let hook: CompressionHookState<unknown> | null = null;
  if (codec === null) ddp.registerCommHook(counted, allreduceHook);
  else {
    hook = new CompressionHookState(codec, collective);
    ddp.registerCommHook(hook, compressionHook);
  }
  const parameters = ddp.flat.data.length;
  const local = batchSize / K;
  const perEpoch = Math.floor(train.n / batchSize);
  const total = perEpoch * epochs;
  const order = Int32Array.from({ length: train.n }, (_, i) => i);
  const idx = new Int32Array(local);
  const testBatch = batchOf(test, Int32Array.from({ length: test.n }, (_, i) => i), 'float32');
  let batch: Batch | undefined;
  const testAccuracy: number[] = [];
  const trainLoss: number[] = [];
  let step = 0;
  const started = Date.now();
  for (let epoch = 0; epoch < epochs; epoch++) {
    const rng = new Rng(seed * 7919 + epoch + 1);
    for (let i = train.n - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
    let lossSum = 0;
    for (let b = 0; b < perEpoch; b++) {
      const from = b * batchSize + rank * local;
      for (let i = 0; i < local; i++) idx[i] = order[from + i]!;
      batch = batchOf(train, idx, 'float32', batch);
      lossSum += objective.lossAndGrad(batch);
      await ddp.step();
      step++;
      options.onStep?.(step, total);
    }
    trainLoss.push(lossSum / perEpoch);
    testAccuracy.push(objective.accuracy(testBatch));
  }
  return {
    rank,
    worldSize: K,
    codec: codecName,
    steps: step,
    testAccuracy,
    trainLoss,
    bytesSent: hook !== null ? hook.bytesSent : counted.bytesSent,
    uncompressedBytes: 4 * parameters * step,
    parameters,
    seconds: (Date.now() - started) / 1000,
    paramsHash: hashBytes(ddp.flat.data as Float32Array),
  };
}
