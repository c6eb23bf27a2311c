/**
 * PyTorch-shaped communication hooks of `DistributedDataParallel`: a hook receives its state and one gradient
 * bucket and resolves to the bucket's AVERAGED gradient. Compression codecs plug in here: a linear codec
 * all-reduces its encoding, a non-linear one all-gathers it (`Collective.allGather` takes variable-length parts).
 *
 * @packageDocumentation
 */
import type { FloatArray, Parameter } from '@opt/tensor';
import type { Collective, CollectiveOptions, HalfFormat } from './collective.js';
import {
  HALF_EXACT_DIVISOR,
  bfloat16Bits,
  decodeHalf,
  float16Bits,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
  fromBfloat16Bits,
  fromFloat16Bits,
} from './reduce.js';

/** One bucket of gradients, as a hook sees it (PyTorch's `GradBucket`). */
export interface GradBucket {
  /** Position of the bucket (0 first). */
  readonly index: number;
  /** The bucket's gradients: a view into the flat gradient buffer (contiguous, parameter after parameter). */
  readonly buffer: FloatArray;
  /** The parameters whose gradients the bucket holds, in order. */
  readonly parameters: readonly Parameter[];
  /** Offset of each parameter's gradient in {@link GradBucket.buffer}. */
  readonly offsets: readonly number[];
  /** Whether this is the last bucket of the step. */
  readonly isLast: boolean;
  /** The wrapper's collective (what hooks use when their state names none). */
  readonly collective: Collective;
  /** Options (timeout, abort signal) to pass to the collective calls. */
  readonly collectiveOptions: CollectiveOptions;
}

/**
 * A communication hook: `(state, bucket) => averaged gradient`. The result may be `bucket.buffer` itself (updated
 * in place) or another array of the same length, which the wrapper copies into the bucket.
 */
export type CommHook<S> = (state: S, bucket: GradBucket) => Promise<FloatArray>;

/**
 * The default hook: `g ← (Σ_k g_k) / K`, summed in rank order (`allReduce(…, 'mean')`). `state` is the collective to
 * use, or `null` for the wrapper's.
 */
export const allreduceHook: CommHook<Collective | null> = async (state, bucket) => {
  await (state ?? bucket.collective).allReduce(bucket.buffer, 'mean', bucket.collectiveOptions);
  return bucket.buffer;
};

const halfScratch = new WeakMap<FloatArray, Uint16Array>();

function scratchFor(buffer: FloatArray): Uint16Array {
  let s = halfScratch.get(buffer);
  if (s === undefined || s.length !== buffer.length) {
    s = new Uint16Array(buffer.length);
    halfScratch.set(buffer, s);
  }
  return s;
}

async function halfCompress(format: HalfFormat, state: Collective | null, bucket: GradBucket): Promise<FloatArray> {
  const c = state ?? bucket.collective;
  const g = bucket.buffer;
  const h = scratchFor(g);
  const K = c.worldSize;
  // PyTorch's order: convert to 16 bits, then divide by the world size in 16 bits (two roundings). The quotient goes
  // through float32 in the fast conversions, which HALF_EXACT_DIVISOR shows harmless for every realistic world size.
  const fast = K < HALF_EXACT_DIVISOR;
  if (format === 'float16') {
    for (let i = 0; i < g.length; i++) {
      const q = fromFloat16Bits(float16Bits(g[i]!)) / K;
      h[i] = !fast ? float16Bits(q) : q !== q ? 0x7e00 : float32ToFloat16Bits(q);
    }
  } else {
    for (let i = 0; i < g.length; i++) {
      const q = fromBfloat16Bits(bfloat16Bits(g[i]!)) / K;
      h[i] = fast ? float32ToBfloat16Bits(q) : bfloat16Bits(q);
    }
  }
  await c.allReduce(h, 'sum', { ...bucket.collectiveOptions, halfFormat: format });
  decodeHalf(h, g, format);
  return g;
}

/**
 * PyTorch's `fp16_compress_hook`: `h_k = fp16(fp16(g_k) / K)`, all-reduced as 16-bit floats (each rank-order
 * addition rounded to fp16, 2 bytes per element on the wire), then `g ← float(Σ_k h_k)`.
 */
export const fp16CompressHook: CommHook<Collective | null> = (state, bucket) => halfCompress('float16', state, bucket);

/** PyTorch's `bf16_compress_hook`: as {@link fp16CompressHook} with bfloat16 (float32's range, 8 significant bits). */
export const bf16CompressHook: CommHook<Collective | null> = (state, bucket) => halfCompress('bfloat16', state, bucket);
