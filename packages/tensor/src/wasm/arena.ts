import type { DType, FloatArray } from '../dtype.js';
import { InvalidOptionError, OptError } from '../errors.js';
import type { KernelThreadPool } from '../threads/pool.js';
import { THREADED_KERNELS, getThreadThreshold } from '../threads/kernels.js';
import { type WasmKernelExports, instantiateKernels, wasmLoadError } from './loader.js';

const PAGE = 65536;
/** wasm32's limit: 65536 pages of 64 KiB. */
const MAX_BYTES = 65536 * PAGE;
const ALIGN = 16;
/** Float64 slots of the scalar block. */
const SCALARS = 16;

/**
 * Told around every growth of an arena's memory. Growing a WebAssembly memory
 * that is not shared detaches its `ArrayBuffer`: every typed-array view into it
 * (parameters' `data` and `grad`, optimizer state) then has length 0 and must
 * be re-created over the new buffer, which `afterGrow` does.
 *
 * `beforeGrow` runs first, while the old views are still valid. It exists
 * because a `Parameter` refuses a `data` of a different length than its
 * current one, and a detached view has length 0: a listener that rebinds
 * parameters swaps their `data` to a placeholder of the right length here.
 * `afterGrow` always runs, also when the growth failed (then over the same,
 * still valid buffer), so a listener can rely on the pair.
 */
export interface ArenaGrowthListener {
  beforeGrow?(): void;
  afterGrow(): void;
}

/** A block of an arena's memory: 16-byte aligned, never at offset 0. */
export interface ArenaRegion {
  /** Byte offset of the block in the arena's memory (a pointer for the kernels). */
  readonly byteOffset: number;
  /** Its size in bytes (a multiple of 16). */
  readonly byteLength: number;
}

/** Options of {@link WasmArena.create}. */
export interface WasmArenaOptions {
  /** Bytes to reserve up front, so that early allocations do not grow the memory. Default 1 MiB. */
  initialBytes?: number;
  /**
   * Create the arena over the shared memory of this thread pool (see
   * `createThreadPool`), so that {@link WasmArena.kernels} can split large
   * calls over the pool's threads. A pool's memory has a single arena:
   * `create({ pool })` returns the same one every time (also `pool.arena`).
   */
  pool?: KernelThreadPool;
}

const poolArenas = new WeakMap<KernelThreadPool, WasmArena>();
// Weak, so that an optimizer dropped by its user takes its arena's memory with it.
const liveArenas: Array<WeakRef<WasmArena>> = [];

/**
 * The arena whose memory `x` is a view into, or `null` for an ordinary array. Lets code that receives plain
 * gradients (gradient clipping, say) run the wasm kernels on those that an optimizer moved into wasm memory.
 *
 * @example
 * ```ts
 * import { arenaOwning } from '@opt/tensor';
 * arenaOwning(new Float32Array(4)); // null: not in wasm memory
 * ```
 */
export function arenaOwning(x: FloatArray): WasmArena | null {
  for (let i = liveArenas.length - 1; i >= 0; i--) {
    const arena = liveArenas[i]!.deref();
    if (arena === undefined) liveArenas.splice(i, 1);
    else if (arena.owns(x)) return arena;
  }
  return null;
}

interface FreeBlock {
  offset: number;
  length: number;
}

/**
 * An instance of the WebAssembly SIMD kernel module and its linear memory,
 * carved into 16-byte aligned regions handed out as `Float32Array` /
 * `Float64Array` views, plus the kernels themselves over such views.
 *
 * Growth: the memory grows (by at least doubling, so growth is rare) when an
 * allocation does not fit. Since that detaches the old `ArrayBuffer`, the
 * arena keeps a registry of {@link ArenaGrowthListener}s, one per region that
 * asked for it, and calls them around every growth so their owners re-create
 * their views. A view obtained from the arena and kept elsewhere, without a
 * listener, is invalid (length 0) after a growth: re-read it from its owner.
 *
 * Regions are released with {@link WasmArena.free} and reused first-fit.
 *
 * @example
 * ```ts
 * import { WasmArena } from '@opt/tensor';
 * const arena = WasmArena.create();
 * const region = arena.alloc(4 * 4 * 3);
 * const p = arena.f32(region.byteOffset, 4);
 * const g = arena.f32(region.byteOffset + 16, 4);
 * const m = arena.f32(region.byteOffset + 32, 4);
 * p.set([1, 2, 3, 4]);
 * g.set([0.1, 0.2, 0.3, 0.4]);
 * arena.sgdUpdate(p, g, m, 0.1, 0.9, 0, 0, false, false, true);
 * ```
 */
export class WasmArena {
  /** The module's raw exports: kernels over byte pointers into this arena's memory, always on the calling thread. */
  readonly exports: WasmKernelExports;
  /** The thread pool whose shared memory this arena carves, or `null` for an arena with its own memory. */
  readonly pool: KernelThreadPool | null;
  private readonly dispatchers = new Map<number, WasmKernelExports>();
  private top: number;
  private readonly freeList: FreeBlock[] = [];
  private readonly listeners = new Map<ArenaRegion, ArenaGrowthListener>();
  private growths = 0;
  /** Byte pointer of the {@link WasmArena.scalars} block, the `args` of every kernel call. */
  readonly scalarsPtr: number;
  private scalarView: Float64Array;

  private constructor(exports: WasmKernelExports, initialBytes: number, pool: KernelThreadPool | null) {
    this.exports = exports;
    this.pool = pool;
    // Start past the module's static data, and never at 0: pointer 0 means "no buffer" to the kernels.
    this.top = alignUp(Math.max(exports.heapBase(), ALIGN));
    this.scalarsPtr = this.top;
    this.top += SCALARS * 8;
    this.reserve(Math.max(initialBytes, this.top));
    this.scalarView = new Float64Array(exports.memory.buffer, this.scalarsPtr, SCALARS);
    liveArenas.push(new WeakRef(this));
  }

  /**
   * A new arena: its own module instance and memory.
   *
   * @throws {@link OptError} (code `WASM_UNAVAILABLE`) when WebAssembly SIMD is not available.
   */
  static create(options: WasmArenaOptions = {}): WasmArena {
    const initialBytes = options.initialBytes ?? 1 << 20;
    if (!Number.isFinite(initialBytes) || initialBytes < 0 || initialBytes > MAX_BYTES) {
      throw new InvalidOptionError('initialBytes', initialBytes, `a number of bytes in [0, ${MAX_BYTES}]`, 'WasmArena');
    }
    const pool = options.pool;
    if (pool !== undefined) {
      let shared = poolArenas.get(pool);
      if (shared === undefined) {
        shared = new WasmArena(pool.exports, initialBytes, pool);
        poolArenas.set(pool, shared);
      }
      return shared;
    }
    const exports = instantiateKernels();
    if (exports === null) {
      const why = wasmLoadError();
      throw new OptError(
        'WASM_UNAVAILABLE',
        'WasmArena: WebAssembly with SIMD is not available here' +
          (why instanceof Error ? ` (${why.message}); where synchronous compilation is refused, await initWasm() first` : ''),
      );
    }
    return new WasmArena(exports, initialBytes, null);
  }

  /**
   * The kernels with {@link WasmArena.exports}' signatures, where the
   * element-wise ones (`THREADED_KERNELS`) are split over all of the pool's
   * threads when `n` reaches `getThreadThreshold()`. Without a pool (or after
   * it was shut down), the plain exports.
   */
  get kernels(): WasmKernelExports {
    return this.kernelsFor(this.pool === null ? 1 : this.pool.threads);
  }

  /**
   * Like {@link WasmArena.kernels}, with at most `threads` threads per call
   * (1: always the calling thread). Each element is updated by exactly one
   * thread with the single-thread arithmetic, so results are bit-identical for
   * every thread count. The object is created once per thread count and
   * cached: calls through it allocate nothing.
   */
  kernelsFor(threads: number): WasmKernelExports {
    const pool = this.pool;
    if (pool === null || threads <= 1) return this.exports;
    let k = this.dispatchers.get(threads);
    if (k === undefined) {
      k = splitKernels(this.exports, pool, threads);
      this.dispatchers.set(threads, k);
    }
    return k;
  }

  /**
   * Sixteen float64 slots in wasm memory at {@link WasmArena.scalarsPtr}: write
   * a kernel's scalar coefficients here, then call it with `scalarsPtr` as its
   * `args` (see {@link WasmKernelExports} for each kernel's order). Writing a
   * double into a typed array never allocates, where passing it as an argument
   * to a call V8 does not inline boxes it.
   */
  get scalars(): Float64Array {
    return this.scalarView;
  }

  /** The memory's current buffer (a new object after each growth). */
  get buffer(): ArrayBuffer {
    return this.exports.memory.buffer;
  }

  /** Current size of the memory in bytes. */
  get byteLength(): number {
    return this.exports.memory.buffer.byteLength;
  }

  /** Bytes handed out and not freed (including alignment padding). */
  get usedBytes(): number {
    let free = 0;
    for (const b of this.freeList) free += b.length;
    return this.top - (this.scalarsPtr + SCALARS * 8) - free;
  }

  /** How many times the memory has grown since the arena was created. */
  get growthCount(): number {
    return this.growths;
  }

  /**
   * Allocate a region of at least `byteLength` bytes (rounded up to 16),
   * growing the memory if needed. Its contents are unspecified (a reused
   * region keeps old data). `listener`, if given, is called around every later
   * growth until the region is freed.
   *
   * @throws {@link OptError} (code `WASM_MEMORY`) when the memory cannot grow enough.
   */
  alloc(byteLength: number, listener?: ArenaGrowthListener): ArenaRegion {
    if (!Number.isInteger(byteLength) || byteLength < 0) {
      throw new InvalidOptionError('byteLength', byteLength, 'a non-negative integer', 'WasmArena.alloc');
    }
    const length = Math.max(alignUp(byteLength), ALIGN);
    let region: ArenaRegion | null = null;
    for (let i = 0; i < this.freeList.length; i++) {
      const b = this.freeList[i]!;
      if (b.length < length) continue;
      region = { byteOffset: b.offset, byteLength: length };
      if (b.length === length) this.freeList.splice(i, 1);
      else {
        b.offset += length;
        b.length -= length;
      }
      break;
    }
    if (region === null) {
      this.reserve(this.top + length);
      region = { byteOffset: this.top, byteLength: length };
      this.top += length;
    }
    if (listener !== undefined) this.listeners.set(region, listener);
    return region;
  }

  /** Return a region to the arena; its listener is dropped. Freeing twice is an error. */
  free(region: ArenaRegion): void {
    const { byteOffset: offset, byteLength: length } = region;
    for (const b of this.freeList) {
      if (offset < b.offset + b.length && b.offset < offset + length) {
        throw new InvalidOptionError('region', `[${offset}, ${offset + length})`, 'a region that is allocated', 'WasmArena.free');
      }
    }
    this.listeners.delete(region);
    let i = 0;
    while (i < this.freeList.length && this.freeList[i]!.offset < offset) i++;
    this.freeList.splice(i, 0, { offset, length });
    // Coalesce with the neighbours, and give a trailing block back to the bump pointer.
    const next = this.freeList[i + 1];
    if (next !== undefined && offset + length === next.offset) {
      this.freeList[i]!.length += next.length;
      this.freeList.splice(i + 1, 1);
    }
    const prev = this.freeList[i - 1];
    if (prev !== undefined && prev.offset + prev.length === offset) {
      prev.length += this.freeList[i]!.length;
      this.freeList.splice(i, 1);
      i--;
    }
    const last = this.freeList[this.freeList.length - 1];
    if (last !== undefined && last.offset + last.length === this.top) {
      this.top = last.offset;
      this.freeList.pop();
    }
  }

  /**
   * Make the memory at least `byteLength` bytes long (growing it to at least
   * twice its size when it grows at all), telling every listener.
   *
   * @throws {@link OptError} (code `WASM_MEMORY`) when the engine refuses.
   */
  reserve(byteLength: number): void {
    const current = this.byteLength;
    if (byteLength <= current) return;
    if (byteLength > MAX_BYTES) {
      throw new OptError('WASM_MEMORY', `WasmArena: ${byteLength} bytes exceed WebAssembly's 4 GiB memory limit`);
    }
    const wanted = Math.min(MAX_BYTES, Math.max(byteLength, 2 * current));
    const listeners = [...this.listeners.values()];
    for (const l of listeners) l.beforeGrow?.();
    let grown = false;
    try {
      grown = this.tryGrow(Math.ceil((wanted - current) / PAGE)) || this.tryGrow(Math.ceil((byteLength - current) / PAGE));
    } finally {
      if (grown) this.growths++;
      // Undefined only during construction, before the scalar block's view exists.
      if (this.scalarView !== undefined) this.scalarView = new Float64Array(this.exports.memory.buffer, this.scalarsPtr, SCALARS);
      for (const l of listeners) l.afterGrow();
    }
    if (!grown) {
      throw new OptError('WASM_MEMORY', `WasmArena: the WebAssembly memory could not grow from ${current} to ${byteLength} bytes`);
    }
  }

  private tryGrow(pages: number): boolean {
    try {
      this.exports.memory.grow(pages);
      return true;
    } catch {
      return false;
    }
  }

  /** A `Float32Array` view of `length` elements at `byteOffset` (a multiple of 4). */
  f32(byteOffset: number, length: number): Float32Array {
    return new Float32Array(this.exports.memory.buffer, byteOffset, length);
  }

  /** A `Float64Array` view of `length` elements at `byteOffset` (a multiple of 8). */
  f64(byteOffset: number, length: number): Float64Array {
    return new Float64Array(this.exports.memory.buffer, byteOffset, length);
  }

  /** A view of the given dtype. */
  view(dtype: DType, byteOffset: number, length: number): FloatArray {
    return dtype === 'float64' ? this.f64(byteOffset, length) : this.f32(byteOffset, length);
  }

  /** Whether `x` is a (non-detached) view into this arena's current memory. */
  owns(x: FloatArray): boolean {
    return x.buffer === this.exports.memory.buffer;
  }

  /**
   * The wasm twin of `sgdUpdate` (same arguments, same semantics), over views
   * into this arena.
   */
  sgdUpdate(
    p: FloatArray,
    g: FloatArray,
    buf: FloatArray | null,
    lr: number,
    momentum: number,
    dampening: number,
    weightDecay: number,
    nesterov: boolean,
    maximize: boolean,
    first: boolean,
  ): void {
    this.check2(p, g, 'sgdUpdate');
    const b = buf === null ? 0 : this.ptr(buf, p, 'sgdUpdate');
    const a = this.scalarView;
    a[0] = lr;
    a[1] = momentum;
    a[2] = dampening;
    a[3] = weightDecay;
    const k = this.kernels;
    (p instanceof Float64Array ? k.sgdF64 : k.sgdF32)(p.byteOffset, g.byteOffset, b, p.length, this.scalarsPtr, nesterov ? 1 : 0, maximize ? 1 : 0, first ? 1 : 0);
  }

  /** The wasm twin of `adamUpdate`, over views into this arena. */
  adamUpdate(
    p: FloatArray,
    g: FloatArray,
    m: FloatArray,
    v: FloatArray,
    vMax: FloatArray | null,
    stepSize: number,
    sqrtBc2: number,
    beta1: number,
    beta2: number,
    eps: number,
    l2: number,
    decay: number,
    maximize: boolean,
  ): void {
    this.check2(p, g, 'adamUpdate');
    const mp = this.ptr(m, p, 'adamUpdate');
    const vp = this.ptr(v, p, 'adamUpdate');
    const xp = vMax === null ? 0 : this.ptr(vMax, p, 'adamUpdate');
    const a = this.scalarView;
    a[0] = stepSize;
    a[1] = sqrtBc2;
    a[2] = beta1;
    a[3] = beta2;
    a[4] = eps;
    a[5] = l2;
    a[6] = decay;
    const k = this.kernels;
    (p instanceof Float64Array ? k.adamF64 : k.adamF32)(p.byteOffset, g.byteOffset, mp, vp, xp, p.length, this.scalarsPtr, maximize ? 1 : 0);
  }

  /** The wasm twin of `lionUpdate`, over views into this arena. */
  lionUpdate(p: FloatArray, g: FloatArray, m: FloatArray, lr: number, beta1: number, beta2: number, decay: number, maximize: boolean): void {
    this.check2(p, g, 'lionUpdate');
    const mp = this.ptr(m, p, 'lionUpdate');
    const a = this.scalarView;
    a[0] = lr;
    a[1] = beta1;
    a[2] = beta2;
    a[3] = decay;
    const k = this.kernels;
    (p instanceof Float64Array ? k.lionF64 : k.lionF32)(p.byteOffset, g.byteOffset, mp, p.length, this.scalarsPtr, maximize ? 1 : 0);
  }

  /** The wasm twin of `adagradUpdate`, over views into this arena. */
  adagradUpdate(p: FloatArray, g: FloatArray, sum: FloatArray, clr: number, eps: number, weightDecay: number, maximize: boolean): void {
    this.check2(p, g, 'adagradUpdate');
    const sp = this.ptr(sum, p, 'adagradUpdate');
    const a = this.scalarView;
    a[0] = clr;
    a[1] = eps;
    a[2] = weightDecay;
    const k = this.kernels;
    (p instanceof Float64Array ? k.adagradF64 : k.adagradF32)(p.byteOffset, g.byteOffset, sp, p.length, this.scalarsPtr, maximize ? 1 : 0);
  }

  /** The wasm twin of `rmspropUpdate`, over views into this arena. */
  rmspropUpdate(
    p: FloatArray,
    g: FloatArray,
    squareAvg: FloatArray,
    gradAvg: FloatArray | null,
    buf: FloatArray | null,
    lr: number,
    alpha: number,
    eps: number,
    weightDecay: number,
    momentum: number,
    maximize: boolean,
  ): void {
    this.check2(p, g, 'rmspropUpdate');
    const sq = this.ptr(squareAvg, p, 'rmspropUpdate');
    const ga = gradAvg === null ? 0 : this.ptr(gradAvg, p, 'rmspropUpdate');
    const bp = buf === null ? 0 : this.ptr(buf, p, 'rmspropUpdate');
    const a = this.scalarView;
    a[0] = lr;
    a[1] = alpha;
    a[2] = eps;
    a[3] = weightDecay;
    a[4] = momentum;
    const k = this.kernels;
    (p instanceof Float64Array ? k.rmspropF64 : k.rmspropF32)(p.byteOffset, g.byteOffset, sq, ga, bp, p.length, this.scalarsPtr, maximize ? 1 : 0);
  }

  /** Σ x² accumulated in float64 (the wasm twin of `sumOfSquares`; summation order differs). */
  sumOfSquares(x: FloatArray): number {
    this.ptr(x, x, 'sumOfSquares');
    return x instanceof Float64Array ? this.exports.sumsqF64(x.byteOffset, x.length) : this.exports.sumsqF32(x.byteOffset, x.length);
  }

  /** Σ x² in float64 in index order: bit-identical to `sumOfSquares`. */
  sumOfSquaresOrdered(x: FloatArray): number {
    this.ptr(x, x, 'sumOfSquaresOrdered');
    return x instanceof Float64Array ? this.exports.sumsqOrderedF64(x.byteOffset, x.length) : this.exports.sumsqOrderedF32(x.byteOffset, x.length);
  }

  /** max |x|, NaN if any element is NaN (the wasm twin of `maxAbs`, exact). */
  maxAbs(x: FloatArray): number {
    this.ptr(x, x, 'maxAbs');
    return x instanceof Float64Array ? this.exports.maxabsF64(x.byteOffset, x.length) : this.exports.maxabsF32(x.byteOffset, x.length);
  }

  /** Index of the first NaN or ±Infinity, or −1 (the wasm twin of `firstNonFinite`). */
  firstNonFinite(x: FloatArray): number {
    this.ptr(x, x, 'firstNonFinite');
    return x instanceof Float64Array ? this.exports.nonfiniteF64(x.byteOffset, x.length) : this.exports.nonfiniteF32(x.byteOffset, x.length);
  }

  /** x ← a·x in place (the wasm twin of `scaleInPlace`; a float32 x is scaled by `Math.fround(a)` in float32). */
  scaleInPlace(x: FloatArray, a: number): void {
    this.ptr(x, x, 'scaleInPlace');
    this.scalarView[0] = a;
    if (x instanceof Float64Array) this.kernels.scaleF64(x.byteOffset, x.length, this.scalarsPtr);
    else this.kernels.scaleF32(x.byteOffset, x.length, this.scalarsPtr);
  }

  private check2(p: FloatArray, g: FloatArray, where: string): void {
    this.ptr(p, p, where);
    this.ptr(g, p, where);
  }

  /** The byte pointer of `x`, after checking it lives in this arena and matches `like` in dtype and length. */
  private ptr(x: FloatArray, like: FloatArray, where: string): number {
    if (x.buffer !== this.exports.memory.buffer) {
      throw new InvalidOptionError('buffer', describe(x), 'a view into this arena (see WasmArena.view)', `WasmArena.${where}`);
    }
    if (x.length !== like.length || (x instanceof Float64Array) !== (like instanceof Float64Array)) {
      throw new InvalidOptionError('buffer', describe(x), `${like.constructor.name}(${like.length}) like the parameter`, `WasmArena.${where}`);
    }
    return x.byteOffset;
  }
}

function alignUp(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

function describe(x: FloatArray): string {
  return `${x.constructor.name}(${x.length})`;
}

type Kernel = (a0: number, a1: number, a2?: number, a3?: number, a4?: number, a5?: number, a6?: number, a7?: number, a8?: number, a9?: number) => unknown;

/** `exports` with every threaded kernel replaced by a wrapper that sends calls with n ≥ the threshold to `pool`. */
function splitKernels(exports: WasmKernelExports, pool: KernelThreadPool, threads: number): WasmKernelExports {
  const table: Record<string, unknown> = {};
  for (const name of Object.keys(exports)) table[name] = (exports as unknown as Record<string, unknown>)[name];
  THREADED_KERNELS.forEach((descriptor, id) => {
    const direct = table[descriptor.name] as Kernel | undefined;
    if (typeof direct !== 'function') return;
    table[descriptor.name] = splitKernel(direct, pool, id, descriptor.pointers, threads);
  });
  return table as unknown as WasmKernelExports;
}

function splitKernel(direct: Kernel, pool: KernelThreadPool, id: number, pointers: number, threads: number): Kernel {
  // Fixed arity, no rest parameters: a call must not allocate an arguments array.
  return (a0, a1, a2, a3, a4, a5, a6, a7, a8, a9) => {
    const n = pointers === 1 ? a1 : pointers === 3 ? a3 : pointers === 5 ? a5 : pointers === 2 ? a2 : pointers === 4 ? a4 : pointers === 6 ? a6 : a7;
    if ((n as number) >= getThreadThreshold() && pool.open) pool.run(id, threads, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9);
    else direct(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9);
  };
}
