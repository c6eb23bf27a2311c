import { type Batch, ClassificationObjective, MSEObjective, type ModelObjective, UnsupportedOperationError, mse, softmaxCrossEntropy } from '@opt/tasks';
import { type FloatArray, InvalidOptionError, type Parameter, ShapeMismatchError, allocate } from '@opt/tensor';
import { checkOneOf } from '@opt/core';

/**
 * How per-example gradients are clipped:
 * - `'ghost'`: the norms ‖gᵢ‖ come from the layers' closed forms (for a dense
 *   layer with input row aᵢ and output-gradient row δᵢ, ‖∇Wᵢ‖² = ‖aᵢ‖²‖δᵢ‖²,
 *   ‖∇bᵢ‖² = ‖δᵢ‖²) without forming gᵢ, then ONE weighted backward pass of
 *   Σᵢ cᵢ·ℓᵢ (Li et al. 2022, "ghost clipping"; Lee & Kifer 2021) writes the
 *   clipped sum. Flat clipping of Dense/element-wise models with a
 *   cross-entropy or MSE objective.
 * - `'materialized'`: every gᵢ is formed (`perExampleGrads`, B×P numbers) and
 *   clipped explicitly: any model with per-example gradients, per-layer clipping.
 * - `'auto'` (default): ghost where possible, else materialized.
 */
export type GradSampleMode = 'auto' | 'ghost' | 'materialized';

/** Opacus adds this to every norm before dividing, so a zero gradient gets factor 1 and no division by 0. */
export const CLIP_EPSILON = 1e-6;

/**
 * The clipping factor of one example: `min(1, C / (‖g‖ + 1e-6))`, Opacus'
 * formula (the 1e-6 keeps a zero norm finite).
 *
 * @param norm - ‖gᵢ‖₂.
 * @param clip - the bound C.
 */
export function clipFactor(norm: number, clip: number): number {
  const f = clip / (norm + CLIP_EPSILON);
  return f < 1 ? f : 1;
}

/**
 * Clipped per-example gradient sums of a `@opt/tasks` model objective, the
 * first half of a DP-SGD step:
 *
 * ```
 * flat:       G = Σᵢ gᵢ · min(1, C / (‖gᵢ‖₂ + 1e-6))                ‖gᵢ‖ over all parameters
 * per-layer:  Gₖ = Σᵢ gᵢₖ · min(1, Cₖ / (‖gᵢₖ‖₂ + 1e-6))            one bound per parameter tensor k
 * ```
 *
 * written into each parameter's `grad` (overwritten), where gᵢ = ∇θ ℓᵢ is
 * example i's own loss gradient (not divided by the batch size). See
 * {@link GradSampleMode} for the two algorithms; both give the same G up to
 * rounding. After the first call for a batch size, buffers are reused
 * (materialized: B×P numbers; ghost: B×outputs), so a training loop whose
 * Poisson batch sizes vary allocates only on sizes it has not seen.
 *
 * @example
 * ```ts
 * import { ClassificationObjective, mlp } from '@opt/tasks';
 * const objective = new ClassificationObjective(mlp({ sizes: [2, 8, 2], seed: 0 }), { x: [0, 1, 1, 0, 1, 1], y: [0, 1, 1], numClasses: 2 });
 * const clipper = new PerExampleClipper(objective);
 * const unclipped = clipper.clipAndSum(objective.data, 0.5); // grads now hold the clipped sum
 * console.log(clipper.method, unclipped); // 'ghost' and how many examples had norm ≤ 0.5
 * ```
 */
export class PerExampleClipper {
  /** The objective whose per-example gradients are clipped. */
  readonly objective: ModelObjective;
  /** The parameters (the objective's), whose `grad` receives the clipped sum. */
  readonly parameters: readonly Parameter[];
  /** The algorithm used for flat clipping (`'ghost'` or `'materialized'`), resolved from the requested mode. */
  readonly method: 'ghost' | 'materialized';
  /** Per-example norms of the last batch (flat: the whole gradient; per-layer: the last layer's). */
  norms: Float64Array = new Float64Array(0);
  private readonly outputGradViews = new Map<number, Float64Array>();
  private outputGradStore = new Float64Array(0);
  private readonly perExampleViews = new Map<number, FloatArray[]>();
  private perExampleStore: FloatArray[] = [];
  private perExampleCapacity = 0;
  private sq: Float64Array = new Float64Array(0);
  private factors: Float64Array = new Float64Array(0);
  private readonly outputs: number;

  /**
   * @param objective - a `ClassificationObjective`, `MSEObjective` or any `ModelObjective` with `perExampleGrads`.
   * @param options - `method` (default `'auto'`: ghost clipping when the model and loss allow it).
   */
  constructor(objective: ModelObjective, options: { method?: GradSampleMode } = {}) {
    const where = 'PerExampleClipper';
    const requested = checkOneOf<GradSampleMode>(where, 'method', options.method ?? 'auto', ['auto', 'ghost', 'materialized']);
    this.objective = objective;
    this.parameters = objective.parameters;
    const lossKnown = objective instanceof ClassificationObjective || objective instanceof MSEObjective;
    const ghostable = lossKnown && objective.model.exactNorms;
    if (requested === 'ghost' && !ghostable) {
      throw new UnsupportedOperationError(
        `${where}: ghost clipping needs a ClassificationObjective or MSEObjective over a model whose layers all have ` +
          `closed-form per-example norms (Dense and element-wise layers); use method 'materialized'`,
      );
    }
    this.method = requested === 'materialized' || !ghostable ? 'materialized' : 'ghost';
    this.outputs = objective instanceof ClassificationObjective ? objective.numClasses : 0;
  }

  /**
   * Write the clipped per-example gradient sum of `batch` into every
   * parameter's `grad` and return how many examples were not clipped
   * (‖gᵢ‖ ≤ C; per-layer: every ‖gᵢₖ‖ ≤ Cₖ), the count adaptive clipping needs.
   * An empty batch (`size` 0) zeroes the gradients and returns 0.
   *
   * @param batch - the examples (first `batch.size` rows).
   * @param clip - C for flat clipping, or one Cₖ per parameter for per-layer clipping (always materialized).
   */
  clipAndSum(batch: Batch, clip: number | ArrayLike<number>): number {
    const params = this.parameters;
    const B = batch.size;
    this.ensureScratch(B);
    if (B === 0) {
      for (let k = 0; k < params.length; k++) params[k]!.ensureGrad().fill(0);
      return 0;
    }
    if (typeof clip !== 'number') {
      if (clip.length !== params.length) {
        throw new ShapeMismatchError(`PerExampleClipper: ${clip.length} per-layer clip bounds for ${params.length} parameters`);
      }
      return this.materialized(batch, clip);
    }
    return this.method === 'ghost' ? this.ghost(batch, clip) : this.materialized(batch, clip);
  }

  private ensureScratch(B: number): void {
    if (this.sq.length < B) {
      const cap = Math.max(B, 2 * this.sq.length, 16);
      this.sq = new Float64Array(cap);
      this.factors = new Float64Array(cap);
      this.norms = new Float64Array(cap);
    }
  }

  /** `B·∂L/∂output` of the last forward pass into a buffer of exactly `B·outputs` elements. */
  private outputGrad(length: number): Float64Array {
    let view = this.outputGradViews.get(length);
    if (view === undefined) {
      if (this.outputGradStore.length < length) {
        this.outputGradStore = new Float64Array(Math.max(length, 2 * this.outputGradStore.length));
        this.outputGradViews.clear();
      }
      view = this.outputGradStore.subarray(0, length);
      this.outputGradViews.set(length, view);
    }
    return view;
  }

  private ghost(batch: Batch, clip: number): number {
    const objective = this.objective;
    const model = objective.model;
    const B = batch.size;
    const need = B * objective.inputs;
    if (batch.x.length < need) {
      throw new ShapeMismatchError(`PerExampleClipper: batch.x has ${batch.x.length} elements, expected batch.size · inputs = ${need}`);
    }
    const x = batch.x.length === need ? batch.x : batch.x.subarray(0, need);
    const out = model.forward(x, B);
    const g = this.outputGrad(out.length);
    if (this.outputs > 0) softmaxCrossEntropy(out, batch.y, B, this.outputs, g);
    else mse(out, batch.y, g);
    // The losses write ∂(mean)/∂output; ×B makes row i example i's own output gradient.
    for (let k = 0; k < g.length; k++) g[k] = g[k]! * B;
    const sq = this.sq;
    sq.fill(0, 0, B);
    model.backwardSquaredNorms(g, sq, false);
    const norms = this.norms;
    const width = g.length / B;
    let unclipped = 0;
    for (let i = 0; i < B; i++) {
      const n = Math.sqrt(sq[i]!);
      norms[i] = n;
      if (n <= clip) unclipped++;
      const c = clipFactor(n, clip);
      if (c !== 1) {
        const o = i * width;
        for (let j = 0; j < width; j++) g[o + j] = g[o + j]! * c;
      }
    }
    const params = this.parameters;
    for (let k = 0; k < params.length; k++) params[k]!.ensureGrad().fill(0);
    // The forward caches are still those of this batch: the second backward is Σᵢ cᵢ·ℓᵢ.
    model.backward(g, false);
    return unclipped;
  }

  private perExampleBuffers(B: number): FloatArray[] {
    let views = this.perExampleViews.get(B);
    if (views !== undefined) return views;
    const params = this.parameters;
    if (this.perExampleCapacity < B) {
      const cap = Math.max(B, 2 * this.perExampleCapacity);
      this.perExampleStore = params.map((p) => allocate(p.dtype, cap * p.size));
      this.perExampleCapacity = cap;
      this.perExampleViews.clear();
    }
    views = params.map((p, k) => this.perExampleStore[k]!.subarray(0, B * p.size));
    this.perExampleViews.set(B, views);
    return views;
  }

  private materialized(batch: Batch, clip: number | ArrayLike<number>): number {
    const B = batch.size;
    const per = this.perExampleBuffers(B);
    this.objective.perExampleGrads(batch, per);
    return clipAndSumRows(per, B, this.parameters, clip, this.sq, this.factors, this.norms);
  }
}

/**
 * Clip and sum per-example gradients already formed (one `B × size` row-major
 * array per parameter, row i = example i's gradient) into every parameter's
 * `grad` (overwritten); flat (one C) or per-layer (one Cₖ per parameter).
 * Returns how many examples were not clipped. Uses the given scratch arrays
 * (length ≥ B) and allocates nothing.
 *
 * @param perExample - per-parameter `[B, size]` gradients.
 * @param B - the batch size.
 * @param params - the parameters, aligned with `perExample`.
 * @param clip - C, or one Cₖ per parameter.
 * @param sq - scratch, ≥ B.
 * @param factors - scratch, ≥ B.
 * @param norms - receives the per-example norms (flat) or the last parameter's norms (per-layer), ≥ B.
 */
export function clipAndSumRows(
  perExample: readonly FloatArray[],
  B: number,
  params: readonly Parameter[],
  clip: number | ArrayLike<number>,
  sq: Float64Array,
  factors: Float64Array,
  norms: Float64Array,
): number {
  if (perExample.length !== params.length) {
    throw new ShapeMismatchError(`clipAndSumRows: ${perExample.length} per-example arrays for ${params.length} parameters`);
  }
  for (let k = 0; k < params.length; k++) {
    if (perExample[k]!.length < B * params[k]!.size) {
      throw new ShapeMismatchError(`clipAndSumRows: perExample[${k}] has ${perExample[k]!.length} elements, expected ${B * params[k]!.size}`);
    }
  }
  if (sq.length < B || factors.length < B || norms.length < B) {
    throw new InvalidOptionError('scratch', sq.length, `arrays of at least B = ${B} elements`, 'clipAndSumRows');
  }
  if (typeof clip === 'number') {
    sq.fill(0, 0, B);
    for (let k = 0; k < params.length; k++) {
      const a = perExample[k]!;
      const size = params[k]!.size;
      for (let i = 0; i < B; i++) {
        const o = i * size;
        let s = 0;
        for (let j = 0; j < size; j++) s += a[o + j]! * a[o + j]!;
        sq[i] = sq[i]! + s;
      }
    }
    let unclipped = 0;
    for (let i = 0; i < B; i++) {
      const n = Math.sqrt(sq[i]!);
      norms[i] = n;
      if (n <= clip) unclipped++;
      factors[i] = clipFactor(n, clip);
    }
    for (let k = 0; k < params.length; k++) sumRows(perExample[k]!, B, params[k]!, factors);
    return unclipped;
  }
  // Per-layer: an example counts as unclipped only if none of its tensors is clipped.
  const allUnclipped = sq;
  allUnclipped.fill(1, 0, B);
  for (let k = 0; k < params.length; k++) {
    const a = perExample[k]!;
    const size = params[k]!.size;
    const ck = clip[k]!;
    for (let i = 0; i < B; i++) {
      const o = i * size;
      let s = 0;
      for (let j = 0; j < size; j++) s += a[o + j]! * a[o + j]!;
      const n = Math.sqrt(s);
      norms[i] = n;
      if (n > ck) allUnclipped[i] = 0;
      factors[i] = clipFactor(n, ck);
    }
    sumRows(a, B, params[k]!, factors);
  }
  let unclipped = 0;
  for (let i = 0; i < B; i++) unclipped += allUnclipped[i]!;
  return unclipped;
}

/** `grad ← Σᵢ factors[i]·rowᵢ`, accumulated in float64 per element. */
function sumRows(a: FloatArray, B: number, p: Parameter, factors: Float64Array): void {
  const g = p.ensureGrad();
  const size = p.size;
  g.fill(0);
  for (let i = 0; i < B; i++) {
    const c = factors[i]!;
    const o = i * size;
    for (let j = 0; j < size; j++) g[j] = g[j]! + c * a[o + j]!;
  }
}
