import { type FloatArray, Parameter } from '@opt/tensor';
import type { Optimizer, OptimizerSettings } from '../optimizer.js';
import type { ParamState } from '../state-dict.js';
import type { GradientTransformation } from './types.js';

/** A constructor of an optimizer class, as `optimizerTransform` calls it. */
export type OptimizerClass<O extends object, S extends ParamState> = new (
  params: Parameter[],
  options: Partial<O> & OptimizerSettings,
) => Optimizer<O, S>;

/**
 * State of {@link optimizerTransform}: the class's own per-parameter state
 * (keyed as the class keys it: `exp_avg`, `step`, …), `null` before a
 * parameter's first step.
 */
export interface OptimizerTransformState {
  params: (ParamState | null)[];
}

/** The class instance and shadow parameters that run the class's step for one state. */
interface Runner<O extends object, S extends ParamState> {
  optimizer: Optimizer<O, S>;
  shadows: Parameter[];
}

/**
 * Any optimizer class as a gradient transformation: the incoming updates are
 * used as gradients, the class's `step` runs on shadow copies of the
 * parameters, and the updates become the step it took:
 *
 * ```
 * p̃ ← p;   g̃ ← u;   Class.step() on p̃ with gradient g̃;   u ← p̃ − p
 * ```
 *
 * Applied with {@link applyUpdates}, `p + (p̃ − p)` equals the class step up to
 * one rounding (exactly, whenever `p̃` and `p` are within a factor of two of
 * each other, where the subtraction is exact). The class's per-parameter state
 * is the transform's state, so it is checkpointed as plain data; its
 * hyper-parameters are `options`, fixed when the transform is built (wrap the
 * factory in {@link injectHyperparams} to move them into the state). Shadow
 * buffers and the class instance are created once per state and reused;
 * optimizer-wide state a class keeps outside its per-parameter state lives in
 * that instance and is not part of the transform state. Classes whose step
 * needs a closure (LBFGS) cannot run as transforms, since transforms never see
 * the loss.
 *
 * @param OptimizerClass - the class, e.g. `Adam`.
 * @param options - its options (validated by the class on `init`).
 */
export function optimizerTransform<O extends object, S extends ParamState>(
  OptimizerClass: OptimizerClass<O, S>,
  options: Partial<O> & OptimizerSettings = {},
): GradientTransformation<OptimizerTransformState> {
  const runners = new WeakMap<OptimizerTransformState, Runner<O, S>>();
  const makeRunner = (params: readonly Parameter[]): Runner<O, S> => {
    const shadows = params.map((p) => {
      const shadow = new Parameter(p.data.slice(), p.shape, p.name);
      // Gradients are copied into these buffers each update: the `grad` setter re-validates and
      // builds a message label on every assignment, which would allocate per step.
      shadow.ensureGrad();
      return shadow;
    });
    return { optimizer: new OptimizerClass(shadows, options), shadows };
  };
  return {
    init(params) {
      const state: OptimizerTransformState = { params: params.map(() => null) };
      runners.set(state, makeRunner(params));
      return state;
    },
    update(updates, state, params) {
      let runner = runners.get(state);
      if (runner === undefined || !fits(runner.shadows, params)) {
        // A state decoded from a checkpoint, or moved to other parameters: build its runner once.
        runner = makeRunner(params);
        runners.set(state, runner);
      }
      const { optimizer, shadows } = runner;
      const perParam = state.params;
      for (let i = 0; i < shadows.length; i++) {
        const shadow = shadows[i]!;
        shadow.data.set(params[i]!.data);
        shadow.grad!.set(updates[i]!);
        const s = perParam[i];
        if (s === null || s === undefined) optimizer.state.delete(shadow);
        else optimizer.state.set(shadow, s as S);
      }
      optimizer.step();
      for (let i = 0; i < shadows.length; i++) {
        const shadow = shadows[i]!;
        perParam[i] = optimizer.state.get(shadow) ?? null;
        difference(updates[i]!, shadow.data, params[i]!.data);
      }
    },
  };
}

function fits(shadows: readonly Parameter[], params: readonly Parameter[]): boolean {
  if (shadows.length !== params.length) return false;
  for (let i = 0; i < params.length; i++) {
    if (shadows[i]!.size !== params[i]!.size || shadows[i]!.dtype !== params[i]!.dtype) return false;
  }
  return true;
}

/** u ← a − b. */
function difference(u: FloatArray, a: FloatArray, b: FloatArray): void {
  for (let j = 0; j < u.length; j++) u[j] = a[j]! - b[j]!;
}
