import { type Optimizer, Parameter } from '@opt/core';
import { InvalidOptionError, ShapeMismatchError } from '@opt/tensor';
import { GradScaler, type GradScalerOptions } from './grad-scaler.js';
import { type HalfType, fromHalf, isHalfNonFinite, toHalf } from './half.js';

/**
 * A parameter stored in 16 bits: `data` and `grad` hold float16 or bfloat16
 * bit patterns. The model computes with these; a float32 master copy is what the
 * optimizer updates.
 */
export class HalfParameter {
  readonly type: HalfType;
  readonly shape: readonly number[];
  readonly name: string | undefined;
  /** The parameter's 16-bit patterns. */
  readonly data: Uint16Array;
  /** The (loss-scaled) gradient's 16-bit patterns, or null. */
  grad: Uint16Array | null = null;

  constructor(type: HalfType, values: ArrayLike<number>, shape: readonly number[] = [values.length], name?: string) {
    this.type = type;
    this.shape = [...shape];
    this.name = name;
    if (shape.reduce((a, b) => a * b, 1) !== values.length) {
      throw new ShapeMismatchError(`HalfParameter: shape [${shape.join(', ')}] does not hold ${values.length} values`);
    }
    this.data = new Uint16Array(values.length);
    toHalf(values, this.data, type);
  }

  /** The parameter's values as float32. */
  toFloat32(): Float32Array {
    const out = new Float32Array(this.data.length);
    fromHalf(this.data, out, this.type);
    return out;
  }
}

/** Options of {@link MixedPrecisionOptimizer}. */
export interface MixedPrecisionOptions extends GradScalerOptions {
  /** An existing scaler to use instead of creating one from the options. */
  scaler?: GradScaler;
}

/** Factory of the core optimizer over the float32 master parameters. */
export type MasterOptimizerFactory = (masters: Parameter[]) => Optimizer<object>;

/**
 * Mixed-precision training on the JS path (browser-safe): float16/bfloat16
 * parameters and gradients, float32 master weights updated by any `@opt/core`
 * optimizer, and dynamic loss scaling with `GradScaler` semantics.
 *
 * Each `step()`: if any 16-bit gradient is ±Inf/NaN the step is skipped and the
 * scale backs off; otherwise master grads ĝ = fp32(g₁₆)·(1/scale), the core
 * optimizer steps the masters, the 16-bit parameters become round(master), and
 * the scale may grow.
 *
 * @example
 * ```ts
 * const w = new HalfParameter('float16', [0.5, -0.25], [2], 'w');
 * const mp = new MixedPrecisionOptimizer([w], (m) => new SGD(m, { lr: 0.1 }), { initScale: 1024 });
 * w.grad = new Uint16Array([float16Bits(0.5 * mp.scale), float16Bits(-1 * mp.scale)]);
 * mp.step(); // w ← fp16(w − 0.1·g)
 * ```
 */
export class MixedPrecisionOptimizer {
  readonly params: readonly HalfParameter[];
  /** float32 master copies, in the order of `params`. */
  readonly masters: readonly Parameter[];
  /** The core optimizer over the masters. */
  readonly optimizer: Optimizer<object>;
  readonly scaler: GradScaler;
  /** Steps skipped because of an overflow. */
  skippedSteps = 0;
  /** Whether the last `step()` was skipped. */
  lastStepSkipped = false;

  constructor(params: readonly HalfParameter[], factory: MasterOptimizerFactory, options: MixedPrecisionOptions = {}) {
    if (params.length === 0) throw new InvalidOptionError('params', params, 'at least one parameter', 'MixedPrecisionOptimizer');
    this.params = [...params];
    this.masters = params.map((p) => new Parameter(p.toFloat32(), [...p.shape], p.name));
    this.optimizer = factory([...this.masters]);
    this.scaler = options.scaler ?? new GradScaler(options);
  }

  /** The current loss scale (multiply the loss by it before the backward pass). */
  get scale(): number {
    return this.scaler.scale;
  }

  /** Unscale the 16-bit gradients into the masters; false when one is not finite. */
  private unscale(): boolean {
    for (const p of this.params) {
      const g = p.grad;
      if (g === null) continue;
      for (let i = 0; i < g.length; i++) if (isHalfNonFinite(g[i]!, p.type)) return false;
    }
    const inv = Math.fround(this.scaler.invScale);
    for (let k = 0; k < this.params.length; k++) {
      const p = this.params[k]!;
      const m = this.masters[k]!;
      if (p.grad === null) {
        m.grad = null;
        continue;
      }
      const g = new Float32Array(p.grad.length);
      fromHalf(p.grad, g, p.type);
      for (let i = 0; i < g.length; i++) g[i] = g[i]! * inv;
      m.grad = g;
    }
    return true;
  }

  /** One step: skip and back off on overflow, else update the masters and round them into the 16-bit parameters. */
  step(): void {
    const finite = this.unscale();
    this.lastStepSkipped = !finite;
    if (finite) {
      this.optimizer.step();
      for (let k = 0; k < this.params.length; k++) toHalf(this.masters[k]!.data, this.params[k]!.data, this.params[k]!.type);
    } else {
      this.skippedSteps++;
    }
    this.scaler.update(!finite);
  }

  /** Clear the 16-bit and master gradients. */
  zeroGrad(): void {
    for (const p of this.params) p.grad = null;
    this.optimizer.zeroGrad();
  }
}
