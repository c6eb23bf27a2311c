/**
 * The wasm-backend step shared by `Adam` and `AdamW` (internal: not exported
 * from the package).
 *
 * @packageDocumentation
 */
import type { Parameter } from '@opt/tensor';
import { WasmGroupStorage, type WasmSegment, gatherSegmentState } from '../flat-state.js';
import type { ParamGroup } from '../optimizer.js';
import type { AdamOptions, AdamState } from './adam.js';

const ADAM_KEYS = ['exp_avg', 'exp_avg_sq'] as const;
const AMSGRAD_KEYS = ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'] as const;

/** The wasm storage of an Adam-family optimizer: first and second moments, plus the AMSGrad maximum when on. */
export function adamWasmStorage(state: ReadonlyMap<Parameter, AdamState>): WasmGroupStorage {
  return new WasmGroupStorage(
    (group) => ((group as AdamOptions).amsgrad ? AMSGRAD_KEYS : ADAM_KEYS),
    (p) => state.get(p),
  );
}

/**
 * One Adam / AdamW step of `group` on the wasm backend: ONE kernel call per
 * segment when every parameter has a gradient and all share their step count,
 * else one call per parameter that has a gradient (each with its own t).
 *
 * @param decoupled - AdamW's decoupled weight decay (`p ← p·(1 − lr·weightDecay)`)
 *   instead of Adam's L2 term. A flag rather than the two coefficients: a double
 *   passed to a call V8 does not inline is boxed, i.e. allocated, every step.
 */
export function adamStepWasm<O extends AdamOptions>(
  wasm: WasmGroupStorage,
  group: ParamGroup<O>,
  stateFor: (p: Parameter, group: ParamGroup<O>) => AdamState,
  decoupled: boolean,
): void {
  // Indexed loops: a for-of iterator is not always optimised away, and a step must not allocate.
  const segs = wasm.prepare(group);
  for (let segIndex = 0; segIndex < segs.length; segIndex++) {
    const seg = segs[segIndex]!;
    const shared = gatherSegmentState(seg, stateFor, group, 'step');
    if (shared >= 0) {
      for (let pIndex = 0; pIndex < seg.params.length; pIndex++) {
        const p = seg.params[pIndex]!;
        stateFor(p, group).step = shared + 1;
      }
      adamCall(wasm, seg, -1, shared + 1, group, decoupled);
      continue;
    }
    for (let i = 0; i < seg.params.length; i++) {
      if (seg.hasGrad[i] === 0) continue;
      adamCall(wasm, seg, i, ++stateFor(seg.params[i]!, group).step, group, decoupled);
    }
  }
}

function adamCall(wasm: WasmGroupStorage, seg: WasmSegment, i: number, t: number, group: ParamGroup<AdamOptions>, decoupled: boolean): void {
  const { lr, betas, eps, weightDecay, amsgrad, maximize } = group;
  const arena = wasm.arena;
  const a = arena.scalars;
  a[0] = lr / (1 - betas[0] ** t);
  a[1] = Math.sqrt(1 - betas[1] ** t);
  a[2] = betas[0];
  a[3] = betas[1];
  a[4] = eps;
  a[5] = decoupled ? 0 : weightDecay;
  a[6] = decoupled ? 1 - lr * weightDecay : 1;
  const k = wasm.kernels;
  (seg.dtype === 'float64' ? k.adamF64 : k.adamF32)(
    seg.ptr(0, i), seg.ptr(1, i), seg.ptr(2, i), seg.ptr(3, i), amsgrad ? seg.ptr(4, i) : 0, seg.count(i), arena.scalarsPtr, maximize ? 1 : 0,
  );
}
