import { InvalidOptionError } from '../errors.js';
import type { WasmKernelExports } from '../wasm/loader.js';

/**
 * How the thread pool may split one kernel: its export name and how many of
 * its leading arguments are byte pointers. Every splittable kernel has the
 * signature `(ptr_1, …, ptr_k, n, args, …i32 flags)` and is element-wise:
 * element i of every buffer depends only on element i of the others and on the
 * scalars at `args`, so a contiguous range of elements can be updated on its
 * own, by any thread, with the very same result.
 */
export interface ThreadedKernel {
  /** Export name in the kernel module (`'adamF32'`). */
  readonly name: keyof WasmKernelExports;
  /** Number of leading pointer arguments (`n` comes right after them). */
  readonly pointers: number;
}

/**
 * The kernels the thread pool splits, in a fixed order (their ids). Adding a
 * new element-wise kernel of the `(ptr…, n, args, flags…)` shape is one line
 * here. Reductions (`sumsq*`, `maxabs*`, `nonfinite*`) are not element-wise
 * writes and always run on the calling thread.
 */
export const THREADED_KERNELS: readonly ThreadedKernel[] = [
  { name: 'sgdF32', pointers: 3 },
  { name: 'sgdF64', pointers: 3 },
  { name: 'adamF32', pointers: 5 },
  { name: 'adamF64', pointers: 5 },
  { name: 'lionF32', pointers: 3 },
  { name: 'lionF64', pointers: 3 },
  { name: 'adagradF32', pointers: 3 },
  { name: 'adagradF64', pointers: 3 },
  { name: 'rmspropF32', pointers: 5 },
  { name: 'rmspropF64', pointers: 5 },
  { name: 'scaleF32', pointers: 1 },
  { name: 'scaleF64', pointers: 1 },
  { name: 'adadeltaF32', pointers: 4 },
  { name: 'adadeltaF64', pointers: 4 },
  { name: 'adamaxF32', pointers: 4 },
  { name: 'adamaxF64', pointers: 4 },
  { name: 'nadamF32', pointers: 4 },
  { name: 'nadamF64', pointers: 4 },
  { name: 'radamF32', pointers: 4 },
  { name: 'radamF64', pointers: 4 },
  { name: 'rpropF32', pointers: 4 },
  { name: 'rpropF64', pointers: 4 },
  { name: 'lambApplyF32', pointers: 2 },
  { name: 'lambApplyF64', pointers: 2 },
  { name: 'larsF32', pointers: 3 },
  { name: 'larsF64', pointers: 3 },
];

/** Most arguments a splittable kernel takes (pointers, n, args and flags). */
export const MAX_KERNEL_ARGS = 10;

/** Bytes per element of a kernel: its name ends in `F64` (8) or `F32` (4). */
export function kernelElementBytes(name: string): number {
  return name.endsWith('F64') ? 8 : 4;
}

/**
 * Elements per thread when `n` elements are split over `threads` threads:
 * ⌈n / threads⌉ rounded up to a whole number of 16-byte SIMD vectors, so every
 * chunk but the last starts 16-byte aligned and runs the SIMD body only.
 * Thread t updates `[t·chunk, min(n, (t + 1)·chunk))` (possibly empty). The
 * split depends on `n` and `threads` only; since the kernels are element-wise
 * the result does not depend on it at all.
 *
 * @param n - element count.
 * @param threads - number of threads (≥ 1).
 * @param bytes - bytes per element (4 or 8).
 */
export function chunkLength(n: number, threads: number, bytes: number): number {
  const lanes = 16 / bytes;
  return Math.ceil(Math.ceil(n / threads) / lanes) * lanes;
}

/**
 * Element count from which kernel calls are split over a pool's threads
 * (smaller calls run on the calling thread alone).
 *
 * Measured on the 2-core development machine (Node 20, Adam float32, 2
 * threads, median of 200 calls, each after 500 µs of other work so the worker
 * sleeps in between, as it does in training): waking a sleeping worker costs
 * ~40–60 µs, and one thread updates ~6.5e8 Adam elements/s, so the split
 * breaks even around 2^16 elements (0.95× at 2^16, 1.2–1.3× at 2^17–2^18).
 * Back to back (worker still spinning) the hand-off costs ~1–5 µs and 2
 * threads already win from ~4096 elements (1.5–1.9× from 2^15), so a lower
 * threshold suits tight loops; set it with {@link setThreadThreshold}.
 */
export const DEFAULT_THREAD_THRESHOLD = 65536;

let threshold = DEFAULT_THREAD_THRESHOLD;

/**
 * Set the element count from which kernel calls on a thread pool's arena are
 * split over its threads; smaller calls run on the calling thread.
 * Default {@link DEFAULT_THREAD_THRESHOLD}. Results do not depend on it.
 */
export function setThreadThreshold(elements: number): void {
  if (!Number.isInteger(elements) || elements < 0) {
    throw new InvalidOptionError('threshold', elements, 'a non-negative integer number of elements', 'setThreadThreshold');
  }
  threshold = elements;
}

/** The current split threshold (see {@link setThreadThreshold}). */
export function getThreadThreshold(): number {
  return threshold;
}
