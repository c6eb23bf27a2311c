/**
 * Flat storage of parameter groups in WebAssembly memory, for the optimizers'
 * `backend: 'wasm'` path.
 *
 * Each parameter group is split by dtype into {@link WasmSegment}s (one, in the
 * usual single-dtype group). A segment is ONE contiguous region of the
 * optimizer's {@link WasmArena}, made of equally long blocks, each holding every
 * parameter of the segment back to back in group order:
 *
 * ```
 * [ data | grad | state key 0 | state key 1 | … ]     (each block 16-byte aligned)
 * ```
 *
 * so one kernel call over the blocks updates the whole group. Parameters'
 * `data` and `grad`, and the state tensors, become views into these blocks.
 *
 * Interaction with user-owned arrays (the rule is "the optimizer copies, then
 * re-binds"): once a parameter is moved in, the array the user created is no
 * longer its storage; read `p.data` again rather than keeping the old array.
 * Before every step the optimizer checks identities, without allocating:
 * - a `p.data` replaced by the user is copied into the arena and re-bound;
 * - a `p.grad` that is not the arena view (e.g. `p.grad = new Float32Array(…)`
 *   every step) is copied into the arena view and `p.grad` re-bound to it, so
 *   accumulating into `p.grad` from then on writes straight into the arena;
 * - a `p.grad` of `null` means "no gradient": that parameter is not updated,
 *   and the step falls back to one kernel call per parameter that has one;
 * - state tensors replaced by `loadStateDict` (or by the user) are copied in.
 * Growing the arena's memory detaches every view: segments are registered as
 * growth listeners and re-bind `data`, `grad` and state to the new buffer, so
 * only arrays held outside the optimizer go stale.
 *
 * Threads: with the optimizer's `threads` setting `'auto'` (the default) or a
 * number ≥ 2, and a pool started by `initThreads()` from `@opt/tensor`, the
 * storage lives in the pool's shared arena and kernel calls over at least
 * `getThreadThreshold()` elements are split over the pool's threads (each
 * element updated by exactly one thread: the results do not depend on the
 * thread count). When the choice changes (a pool is started or stopped, the
 * setting changes), every segment moves to the new arena at the next step.
 *
 * @packageDocumentation
 */
import {
  type ArenaGrowthListener,
  type ArenaRegion,
  type DType,
  type FloatArray,
  type KernelThreadPool,
  type Parameter,
  type WasmKernelExports,
  WasmArena,
  getThreadThreshold,
  isFloatArray,
  threadPool,
} from '@opt/tensor';
import type { ThreadsSetting } from './optimizer.js';

type StateRecord = Record<string, unknown>;

/**
 * One contiguous arena region holding a parameter group's tensors of one dtype:
 * data, grad and the optimizer's state buffers (see the module doc).
 */
export class WasmSegment implements ArenaGrowthListener {
  /** Element type of every block. */
  readonly dtype: DType;
  /** The segment's parameters, in group order. */
  readonly params: readonly Parameter[];
  /** The state keys whose tensors live in blocks 2, 3, …, in that order. */
  readonly keys: readonly string[];
  /** Total number of elements in a block. */
  readonly total: number;
  /** Per parameter: 1 when it had a gradient at the last {@link WasmSegment.sync}. */
  readonly hasGrad: Uint8Array;
  /** Whether every parameter had a gradient at the last sync. */
  allGrads = false;
  private readonly offsets: Float64Array;
  private readonly bytesPerElement: number;
  private readonly stride: number;
  private readonly region: ArenaRegion;
  private base = 0;
  private dataViews: FloatArray[] = [];
  private gradViews: FloatArray[] = [];
  private stateViews: FloatArray[][] = [];
  private readonly boundData: Uint8Array;
  private readonly boundGrad: Uint8Array;

  /**
   * Allocate the region and move the parameters (and any state they already
   * have) into it.
   *
   * @param arena - where the region lives.
   * @param dtype - the parameters' dtype.
   * @param params - the parameters, in group order.
   * @param keys - state keys stored in the region.
   * @param stateOf - the current state of a parameter, if any (adopted on the way in).
   */
  constructor(
    private readonly arena: WasmArena,
    dtype: DType,
    params: readonly Parameter[],
    keys: readonly string[],
    private readonly stateOf: (p: Parameter) => StateRecord | undefined,
  ) {
    this.dtype = dtype;
    this.params = params;
    this.keys = keys;
    this.bytesPerElement = dtype === 'float64' ? 8 : 4;
    this.offsets = new Float64Array(params.length);
    let total = 0;
    params.forEach((p, i) => {
      this.offsets[i] = total;
      total += p.size;
    });
    this.total = total;
    this.hasGrad = new Uint8Array(params.length);
    this.boundData = new Uint8Array(params.length);
    this.boundGrad = new Uint8Array(params.length);
    this.stride = Math.ceil((total * this.bytesPerElement) / 16) * 16;
    this.region = arena.alloc(this.stride * (2 + keys.length), this);
    this.makeViews();
    params.forEach((p, i) => {
      this.dataViews[i]!.set(p.data);
      p.data = this.dataViews[i]!;
      const g = p.grad;
      if (g !== null) {
        this.gradViews[i]!.set(g);
        p.grad = this.gradViews[i]!;
      }
      const s = stateOf(p);
      if (s !== undefined) this.adopt(s, i);
    });
  }

  /**
   * Byte pointer of parameter `i` (or of the whole segment, `i = -1`) in
   * `block`: 0 = data, 1 = grad, 2 + k = state key k.
   */
  ptr(block: number, i: number): number {
    return this.base + block * this.stride + (i < 0 ? 0 : this.offsets[i]! * this.bytesPerElement);
  }

  /** Number of elements of parameter `i`, or of the whole segment (`i = -1`). */
  count(i: number): number {
    return i < 0 ? this.total : this.params[i]!.size;
  }

  /** The arena view of state key `k` of parameter `i`. */
  stateView(k: number, i: number): FloatArray {
    return this.stateViews[k]![i]!;
  }

  /**
   * Bring data and gradients into the region: copy (and re-bind) a `data` or a
   * non-null `grad` the user replaced, and record which parameters have a
   * gradient. No allocation.
   */
  sync(): void {
    let all = true;
    for (let i = 0; i < this.params.length; i++) {
      const p = this.params[i]!;
      const d = this.dataViews[i]!;
      if (p.data !== d) {
        d.set(p.data);
        p.data = d;
      }
      const g = p.grad;
      if (g === null) {
        this.hasGrad[i] = 0;
        all = false;
        continue;
      }
      const gv = this.gradViews[i]!;
      if (g !== gv) {
        gv.set(g);
        p.grad = gv;
      }
      this.hasGrad[i] = 1;
    }
    this.allGrads = all;
  }

  /**
   * Make parameter `i`'s state tensors the arena views: a tensor held
   * elsewhere (fresh from `initState`, or loaded) is copied in, a missing key
   * (`undefined`) starts as zeros, and `null` (a buffer created lazily) is left
   * for the optimizer to handle.
   */
  adopt(s: StateRecord, i: number): void {
    for (let k = 0; k < this.keys.length; k++) {
      const key = this.keys[k]!;
      const current = s[key];
      const view = this.stateViews[k]![i]!;
      if (current === view || current === null) continue;
      if (isFloatArray(current)) view.set(current);
      else view.fill(0);
      s[key] = view;
    }
  }

  /** Whether this segment still fits `keys` (by identity: layouts are constant arrays). */
  hasKeys(keys: readonly string[]): boolean {
    return this.keys === keys;
  }

  /**
   * Give the region back to the arena, after the parameters moved to a new
   * segment. Anything still bound to this region (a state key the new layout
   * dropped, e.g. SGD's buffer when momentum is switched off) gets a copy on
   * the JS heap first, so it survives the region's reuse.
   */
  release(): void {
    for (let i = 0; i < this.params.length; i++) {
      const p = this.params[i]!;
      if (p.data === this.dataViews[i]) p.data = this.dataViews[i]!.slice();
      if (p.grad === this.gradViews[i]) p.grad = this.gradViews[i]!.slice();
      const s = this.stateOf(p);
      if (s === undefined) continue;
      for (let k = 0; k < this.keys.length; k++) {
        const view = this.stateViews[k]![i]!;
        if (s[this.keys[k]!] === view) s[this.keys[k]!] = view.slice();
      }
    }
    this.arena.free(this.region);
  }

  /** Arena growth, part 1: park `data` on a placeholder of the right length (a detached view has length 0). */
  beforeGrow(): void {
    for (let i = 0; i < this.params.length; i++) {
      const p = this.params[i]!;
      this.boundData[i] = p.data === this.dataViews[i] ? 1 : 0;
      if (this.boundData[i] === 1) p.data = this.dtype === 'float64' ? new Float64Array(p.size) : new Float32Array(p.size);
      this.boundGrad[i] = p.grad === this.gradViews[i] ? 1 : 0;
      if (this.boundGrad[i] === 1) p.grad = null;
    }
  }

  /** Arena growth, part 2: re-create the views over the new buffer and re-bind what was bound. */
  afterGrow(): void {
    const oldState = this.stateViews;
    this.makeViews();
    for (let i = 0; i < this.params.length; i++) {
      const p = this.params[i]!;
      if (this.boundData[i] === 1) p.data = this.dataViews[i]!;
      if (this.boundGrad[i] === 1) p.grad = this.gradViews[i]!;
      const s = this.stateOf(p);
      if (s === undefined) continue;
      for (let k = 0; k < this.keys.length; k++) {
        if (s[this.keys[k]!] === oldState[k]![i]) s[this.keys[k]!] = this.stateViews[k]![i]!;
      }
    }
  }

  private makeViews(): void {
    this.base = this.region.byteOffset;
    const block = (b: number): FloatArray[] =>
      this.params.map((p, i) => this.arena.view(this.dtype, this.ptr(b, i), p.size));
    this.dataViews = block(0);
    this.gradViews = block(1);
    this.stateViews = this.keys.map((_, k) => block(2 + k));
  }
}

/**
 * The wasm storage of one optimizer: its arena (created on first use) and the
 * segments of each parameter group, rebuilt when a group's parameters or its
 * state layout change (e.g. `amsgrad` switched on).
 */
export class WasmGroupStorage {
  private arenaOrNull: WasmArena | null = null;
  private ownArena: WasmArena | null = null;
  private threads: ThreadsSetting = 'auto';
  private kernelTable: WasmKernelExports | null = null;
  private readonly segments = new Map<object, WasmSegment[]>();
  private readonly cursor = new Int32Array(2);

  /**
   * @param layout - the state keys a group stores in the arena (a constant
   *   array per configuration: layouts are compared by identity).
   * @param stateOf - a parameter's current state, if it has one.
   */
  constructor(
    private readonly layout: (group: object) => readonly string[],
    private readonly stateOf: (p: Parameter) => StateRecord | undefined,
  ) {}

  /** The arena (created on first use): the running thread pool's, or the storage's own (see {@link ThreadsSetting}). */
  get arena(): WasmArena {
    if (this.arenaOrNull === null) this.selectArena();
    return this.arenaOrNull!;
  }

  /**
   * The kernels to call over this storage's segments: the arena's kernels,
   * split over the pool's threads (as many as the `threads` setting allows)
   * from `getThreadThreshold()` elements on; same signatures as the raw exports.
   */
  get kernels(): WasmKernelExports {
    if (this.kernelTable === null) this.selectArena();
    return this.kernelTable!;
  }

  /** Apply the optimizer's `threads` setting (takes effect at the next step). */
  setThreads(threads: ThreadsSetting): void {
    this.threads = threads;
    this.kernelTable = null;
  }

  /**
   * Pick the arena the setting and the running pool call for; when it is not
   * the current one, move every segment there (the old regions are freed).
   */
  private selectArena(): void {
    const pool = this.wantedPool();
    let target: WasmArena;
    if (pool !== null) target = pool.arena;
    else {
      if (this.ownArena === null) this.ownArena = WasmArena.create();
      target = this.ownArena;
    }
    const limit = pool === null ? 1 : this.threads === 'auto' || this.threads === false ? pool.threads : this.threads;
    this.kernelTable = target.kernelsFor(limit);
    if (target === this.arenaOrNull) return;
    const previous = this.arenaOrNull;
    this.arenaOrNull = target;
    if (previous === null) return;
    for (const [group, segs] of this.segments) this.rebuild(group, segs[0]!.keys, segs);
    // A storage that moved to a pool gives its own memory back.
    if (pool !== null) this.ownArena = null;
  }

  /** The running pool, if the setting allows threads. */
  private wantedPool(): KernelThreadPool | null {
    return this.threads === false || this.threads === 1 ? null : threadPool();
  }

  /**
   * The segments of `group`, (re)built if needed, with data and gradients
   * synced into the arena (see {@link WasmSegment.sync}).
   */
  prepare(group: { readonly params: readonly Parameter[] }): readonly WasmSegment[] {
    const pool = this.wantedPool();
    if (this.kernelTable === null || this.arenaOrNull === null || this.arenaOrNull.pool !== pool) this.selectArena();
    const keys = this.layout(group);
    let segs = this.segments.get(group);
    if (segs === undefined || !this.matches(segs, group.params, keys)) segs = this.rebuild(group, keys, segs);
    // Wake the pool's workers now, so that their wake-up overlaps the syncing and
    // scanning before the kernel call (results are unaffected).
    if (pool !== null) for (let k = 0; k < segs.length; k++) if (segs[k]!.total >= getThreadThreshold()) pool.wake();
    for (let k = 0; k < segs.length; k++) segs[k]!.sync();
    return segs;
  }

  /**
   * Whether every gradient present in `groups` is finite: one wasm scan of a
   * segment's whole grad block when every parameter has a gradient, else one
   * per parameter that has one.
   */
  gradientsFinite(groups: ReadonlyArray<{ readonly params: readonly Parameter[] }>): boolean {
    for (let groupIndex = 0; groupIndex < groups.length; groupIndex++) {
      const group = groups[groupIndex]!;
      const segs = this.prepare(group);
      // After prepare: it may have moved the storage to another arena (threads setting or pool changed).
      const k = this.arena.exports;
      for (let segIndex = 0; segIndex < segs.length; segIndex++) {
        const seg = segs[segIndex]!;
        const scan = seg.dtype === 'float64' ? k.nonfiniteF64 : k.nonfiniteF32;
        if (seg.allGrads) {
          if (scan(seg.ptr(1, -1), seg.total) >= 0) return false;
          continue;
        }
        for (let i = 0; i < seg.params.length; i++) {
          if (seg.hasGrad[i] === 1 && scan(seg.ptr(1, i), seg.count(i)) >= 0) return false;
        }
      }
    }
    return true;
  }

  private matches(segs: readonly WasmSegment[], params: readonly Parameter[], keys: readonly string[]): boolean {
    let count = 0;
    for (let k = 0; k < segs.length; k++) {
      if (!segs[k]!.hasKeys(keys)) return false;
      count += segs[k]!.params.length;
      this.cursor[k] = 0;
    }
    if (count !== params.length) return false;
    for (let i = 0; i < params.length; i++) {
      const p = params[i]!;
      const k = segs[0]!.dtype === p.dtype ? 0 : 1;
      const seg = segs[k];
      if (seg === undefined || seg.params[this.cursor[k]!++] !== p) return false;
    }
    return true;
  }

  private rebuild(group: object, keys: readonly string[], old: readonly WasmSegment[] | undefined): WasmSegment[] {
    const params = (group as { readonly params: readonly Parameter[] }).params;
    const dtypes: DType[] = [];
    for (let pIndex = 0; pIndex < params.length; pIndex++) {
      const p = params[pIndex]!;
      if (!dtypes.includes(p.dtype)) dtypes.push(p.dtype);
    }
    // New regions first, then release the old ones: the move copies from the old views.
    const segs = dtypes.map((dtype) => new WasmSegment(this.arena, dtype, params.filter((p) => p.dtype === dtype), keys, this.stateOf));
    if (old !== undefined) for (const s of old) s.release();
    this.segments.set(group, segs);
    return segs;
  }
}

/**
 * Adopt the state of every parameter of `seg` that has a gradient (creating it
 * with `stateFor(p, group)`), and tell whether ONE kernel call can update the whole
 * segment: every parameter has a gradient and, when `counter` names a state
 * key, all share its value. Returns that shared value (0 without a counter),
 * or −1 when the step must go one call per parameter with a gradient.
 */
export function gatherSegmentState<G>(
  seg: WasmSegment,
  stateFor: (p: Parameter, group: G) => object,
  group: G,
  counter: string | null,
): number {
  let shared = -1;
  let whole = seg.allGrads;
  for (let i = 0; i < seg.params.length; i++) {
    if (seg.hasGrad[i] === 0) continue;
    const s = stateFor(seg.params[i]!, group) as StateRecord;
    seg.adopt(s, i);
    const value = counter === null ? 0 : (s[counter] as number);
    if (shared < 0) shared = value;
    else if (value !== shared) whole = false;
  }
  return whole ? shared : -1;
}
