/**
 * The wasm-backend step loop shared by the element-wise optimizers (Adadelta,
 * Adamax, RAdam, Rprop), and a scratch region for the optimizers whose kernels
 * need work space in wasm memory (LAMB, Adafactor). Internal: not exported
 * from the package.
 *
 * @packageDocumentation
 */
import type { ArenaRegion, Parameter, WasmArena } from '@opt/tensor';
import { type WasmGroupStorage, type WasmSegment, gatherSegmentState } from '../flat-state.js';

/**
 * One kernel call over parameter `i` of `seg`, or over the whole segment
 * (`i = −1`), at step count `t` (the parameter's, after the increment).
 */
export type WasmSegmentCall<G> = (wasm: WasmGroupStorage, seg: WasmSegment, i: number, t: number, group: G) => void;

/**
 * One step of `group` on the wasm backend: ONE `call` per segment when every
 * parameter has a gradient (and, with `sharedStep`, all share their step
 * count, because the kernel's scalars depend on it), else one call per
 * parameter that has a gradient. Every stepped parameter's `step` is
 * incremented. Allocates nothing: `stateFor` and `call` are functions the
 * optimizer created once.
 */
export function wasmElementwiseStep<G extends { readonly params: readonly Parameter[] }>(
  wasm: WasmGroupStorage,
  group: G,
  stateFor: (p: Parameter, group: G) => { step: number },
  sharedStep: boolean,
  call: WasmSegmentCall<G>,
): void {
  const segs = wasm.prepare(group);
  for (let segIndex = 0; segIndex < segs.length; segIndex++) {
    const seg = segs[segIndex]!;
    const shared = gatherSegmentState(seg, stateFor, group, sharedStep ? 'step' : null);
    if (shared >= 0) {
      let t = 0;
      for (let pIndex = 0; pIndex < seg.params.length; pIndex++) t = ++stateFor(seg.params[pIndex]!, group).step;
      call(wasm, seg, -1, sharedStep ? shared + 1 : t, group);
      continue;
    }
    for (let i = 0; i < seg.params.length; i++) {
      if (seg.hasGrad[i] === 1) call(wasm, seg, i, ++stateFor(seg.params[i]!, group).step, group);
    }
  }
}

/**
 * A growable block of wasm memory in the storage's current arena, for kernel
 * work space (LAMB's direction, Adafactor's factored moments). Only its byte
 * pointer is used by the kernels, which stays valid when the arena grows; the
 * typed views are re-created only after a growth or a move to another arena
 * (e.g. when a thread pool starts), so steady-state steps allocate nothing.
 */
export class WasmScratch {
  private arena: WasmArena | null = null;
  private region: ArenaRegion | null = null;
  private f32View: Float32Array<ArrayBufferLike> = new Float32Array(0);
  private f64View: Float64Array<ArrayBufferLike> = new Float64Array(0);

  /** Byte pointer of a block of at least `bytes` bytes in `arena` (its contents are unspecified). */
  ptr(arena: WasmArena, bytes: number): number {
    if (this.arena !== arena || this.region === null || this.region.byteLength < bytes) {
      if (this.region !== null && this.arena === arena) arena.free(this.region);
      this.arena = arena;
      this.region = arena.alloc(Math.max(bytes, 64));
    }
    return this.region.byteOffset;
  }

  /** A float32 view of the whole block (call {@link WasmScratch.ptr} first). */
  f32(): Float32Array<ArrayBufferLike> {
    const arena = this.arena!;
    if (!arena.owns(this.f32View) || this.f32View.byteOffset !== this.region!.byteOffset || this.f32View.byteLength !== this.region!.byteLength) {
      this.f32View = arena.f32(this.region!.byteOffset, this.region!.byteLength >> 2);
    }
    return this.f32View;
  }

  /** A float64 view of the whole block (call {@link WasmScratch.ptr} first). */
  f64(): Float64Array<ArrayBufferLike> {
    const arena = this.arena!;
    if (!arena.owns(this.f64View) || this.f64View.byteOffset !== this.region!.byteOffset || this.f64View.byteLength !== this.region!.byteLength) {
      this.f64View = arena.f64(this.region!.byteOffset, this.region!.byteLength >> 3);
    }
    return this.f64View;
  }
}
