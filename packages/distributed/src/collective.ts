/**
 * The `Collective` interface shared by every transport, and the options every operation takes.
 *
 * @packageDocumentation
 */
import { InvalidOptionError } from '@opt/tensor';

/**
 * The reduction of {@link Collective.allReduce}. Contributions are combined in RANK order (rank 0, then 1, …),
 * never in arrival order, and every intermediate is rounded to the buffer's dtype:
 * `sum = (((x₀ + x₁) + x₂) + …)`, `mean = sum / worldSize`, `max`/`min` element-wise. So every transport gives the same
 * bytes and a run is reproducible.
 */
export type ReduceOp = 'sum' | 'mean' | 'max' | 'min';

/** A 16-bit float format carried in a `Uint16Array` (see {@link Collective.allReduce}). */
export type HalfFormat = 'float16' | 'bfloat16';

/** Buffers a collective reduces: float32, float64, or 16-bit floats stored as their bit patterns. */
export type ReducibleArray = Float32Array | Float64Array | Uint16Array;

/** Options of every collective operation. */
export interface CollectiveOptions {
  /** Bound on the whole operation in milliseconds. Default: the collective's `timeoutMs` (30 s unless configured). */
  timeoutMs?: number;
  /** Aborts the operation; the group is broken afterwards (peers may be mid-operation). */
  signal?: AbortSignal;
  /** Free-form label carried into error messages (e.g. `"bucket 3"`). */
  tag?: string;
  /** Required when the buffer is a `Uint16Array`: how its 16-bit words encode floats. */
  halfFormat?: HalfFormat;
}

/**
 * A group of `worldSize` ranks that exchange buffers. Every rank must call the same operations in the same order
 * with buffers of the same length and dtype (as with MPI, NCCL or `torch.distributed`).
 *
 * Every operation is bounded by a timeout and an optional `AbortSignal`, and fails with a typed error:
 * `CollectiveTimeoutError` (names the missing ranks), `PeerLostError`, `EpochChangedError`,
 * `PayloadRejectedError`, `CollectiveAbortedError`.
 */
export interface Collective {
  /** This rank, in `[0, worldSize)`. */
  readonly rank: number;
  /** Number of ranks in the group. */
  readonly worldSize: number;
  /** Membership epoch: bumps on every membership change; operations of an older epoch fail. */
  readonly epoch: number;
  /**
   * Reduce `buf` over all ranks, in place, with the rank-order semantics of {@link ReduceOp} (default `'sum'`).
   * A `Uint16Array` holds 16-bit floats (`options.halfFormat`), reduced with 16-bit rounding after every operation.
   */
  allReduce(buf: ReducibleArray, op?: ReduceOp, options?: CollectiveOptions): Promise<void>;
  /** Overwrite `buf` on every rank with `root`'s buffer. */
  broadcast(buf: ReducibleArray, root: number, options?: CollectiveOptions): Promise<void>;
  /** Every rank's `part` (lengths may differ), in rank order. */
  allGather(part: Uint8Array, options?: CollectiveOptions): Promise<Uint8Array[]>;
  /** Resolve once every rank has called `barrier`. */
  barrier(options?: CollectiveOptions): Promise<void>;
  /** Release the resources (subscriptions, leases, shared memory references). Idempotent. */
  close(): Promise<void>;
}

/** Default bound of a collective operation, in milliseconds. */
export const DEFAULT_COLLECTIVE_TIMEOUT_MS = 30_000;

/** Bytes per element of a reducible buffer. */
export function elementBytes(buf: ReducibleArray): number {
  return buf.BYTES_PER_ELEMENT;
}

/** Wire code of a buffer's element type: 0 float32, 1 float64, 2 float16, 3 bfloat16. */
export function dtypeCode(buf: ReducibleArray, halfFormat: HalfFormat | undefined, where: string): number {
  if (buf instanceof Float32Array) return 0;
  if (buf instanceof Float64Array) return 1;
  if (buf instanceof Uint16Array) {
    if (halfFormat === 'float16') return 2;
    if (halfFormat === 'bfloat16') return 3;
    throw new InvalidOptionError('halfFormat', halfFormat, "'float16' or 'bfloat16' for a Uint16Array buffer", where);
  }
  throw new InvalidOptionError('buf', (buf as object)?.constructor?.name, 'a Float32Array, Float64Array or Uint16Array', where);
}

/** Validate a rank argument (`root`) against the world size. */
export function checkRank(value: number, worldSize: number, option: string, where: string): void {
  if (!Number.isInteger(value) || value < 0 || value >= worldSize) {
    throw new InvalidOptionError(option, value, `an integer in [0, ${worldSize})`, where);
  }
}

/** Validate a reduction name. */
export function checkReduceOp(op: string, where: string): void {
  if (op !== 'sum' && op !== 'mean' && op !== 'max' && op !== 'min') {
    throw new InvalidOptionError('op', op, "'sum', 'mean', 'max' or 'min'", where);
  }
}

/** Validate a timeout (a positive finite number of milliseconds). */
export function checkTimeout(value: number, where: string): number {
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw new InvalidOptionError('timeoutMs', value, 'a positive finite number of milliseconds', where);
  }
  return value;
}
