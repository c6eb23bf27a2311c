import { InvalidOptionError, type Rng, ShapeMismatchError } from '@opt/tensor';
import { checkInteger, checkOneOf } from '@opt/core';
import type { FunctionalBatch, FunctionalModel } from './functional.js';

/** Hidden activations of {@link FunctionalMLP}. */
export type FunctionalActivation = 'relu' | 'tanh';

/** Options of {@link FunctionalMLP}. */
export interface FunctionalMLPOptions {
  /** Layer widths `[inputs, hidden…, outputs]`, at least two entries. */
  sizes: readonly number[];
  /** Hidden activation (the output layer is linear). Default `'relu'`. */
  activation?: FunctionalActivation;
}

const WHERE = 'FunctionalMLP';

/**
 * A multilayer perceptron as a {@link FunctionalModel}: linear output, `relu`
 * or `tanh` hidden layers, mean squared error
 * `L(θ) = 1/(B·n_out) Σ_b Σ_o (ŷ_bo − y_bo)²`, with exact gradients and an
 * EXACT Hessian-vector product by Pearlmutter's R-operator.
 *
 * Layout of θ: for each layer l, the weight `W_l` `[n_l, n_{l−1}]` row-major,
 * then its bias `b_l` `[n_l]`. With `z_l = W_l a_{l−1} + b_l`, `a_l = σ(z_l)`
 * (`a_0 = x`, `ŷ = z_L`) and `δ_l = ∂L/∂z_l`, the backward pass is
 * `∇W_l = Σ_b δ_l a_{l−1}ᵀ`, `δ_{l−1} = σ′(z_{l−1}) ⊙ W_lᵀ δ_l`.
 *
 * The HVP `Hv = R{∇L}` applies the directional derivative
 * `R{f} = d/dr f(θ + r v)|_{r=0}` to both passes (V_l, v_l: the parts of v):
 * ```
 * forward   R{z_l} = V_l a_{l−1} + W_l R{a_{l−1}} + v_l,   R{a_l} = σ′(z_l) R{z_l},   R{a_0} = 0
 * output    R{δ_L} = 2/(B·n_out) · R{z_L}
 * backward  R{∇W_l} = Σ_b R{δ_l} a_{l−1}ᵀ + δ_l R{a_{l−1}}ᵀ,   R{∇b_l} = Σ_b R{δ_l}
 *           R{δ_{l−1}} = σ″(z_{l−1}) R{z_{l−1}} ⊙ W_lᵀδ_l + σ′(z_{l−1}) ⊙ (V_lᵀ δ_l + W_lᵀ R{δ_l})
 * ```
 * For tanh, σ′ = 1 − a² and σ″ = −2a(1 − a²); for ReLU σ′ is the step and
 * σ″ = 0 almost everywhere, so the Hessian is exact wherever no
 * pre-activation sits exactly at 0 (a finite-difference HVP is not: it
 * crosses kinks, which is why it is not used).
 *
 * Workspace buffers are sized for the largest batch seen and reused, so calls
 * allocate nothing once warmed up. An instance is therefore not re-entrant.
 *
 * @example
 * ```ts
 * import { Rng } from '@opt/tensor';
 * const net = new FunctionalMLP({ sizes: [1, 40, 40, 1], activation: 'relu' });
 * const theta = net.init(new Rng(0));
 * const batch = { x: new Float64Array([0.5, -1]), y: new Float64Array([1, 0]), size: 2 };
 * const grad = new Float64Array(net.paramCount);
 * const loss = net.lossAndGrad(theta, batch, grad);
 * const hv = new Float64Array(net.paramCount);
 * net.hvp(theta, batch, grad, hv);   // H·∇L
 * ```
 */
export class FunctionalMLP implements FunctionalModel {
  readonly paramCount: number;
  /** Layer widths `[inputs, hidden…, outputs]`. */
  readonly sizes: readonly number[];
  /** The hidden activation. */
  readonly activation: FunctionalActivation;
  private readonly layers: number;
  private readonly wOff: Int32Array;
  private readonly bOff: Int32Array;
  private readonly maxWidth: number;
  private readonly tanh: boolean;
  private capacity = 0;
  // Per layer l = 1..L (index 0 unused): pre-activations, activations, and their R-derivatives.
  private z: Float64Array[] = [];
  private a: Float64Array[] = [];
  private rz: Float64Array[] = [];
  private ra: Float64Array[] = [];
  private d0 = new Float64Array(0);
  private d1 = new Float64Array(0);
  private r0 = new Float64Array(0);
  private r1 = new Float64Array(0);

  /** @param options - layer widths and hidden activation. */
  constructor(options: FunctionalMLPOptions) {
    const sizes = options?.sizes;
    if (!Array.isArray(sizes) || sizes.length < 2) {
      throw new InvalidOptionError('sizes', sizes, 'an array [inputs, hidden..., outputs] of at least two widths', WHERE);
    }
    sizes.forEach((s: unknown, i: number) => checkInteger(WHERE, `sizes[${i}]`, s, 1));
    this.sizes = Object.freeze([...(sizes as number[])]);
    this.activation = checkOneOf<FunctionalActivation>(WHERE, 'activation', options.activation ?? 'relu', ['relu', 'tanh']);
    this.tanh = this.activation === 'tanh';
    this.layers = sizes.length - 1;
    this.wOff = new Int32Array(this.layers + 1);
    this.bOff = new Int32Array(this.layers + 1);
    let offset = 0;
    for (let l = 1; l <= this.layers; l++) {
      this.wOff[l] = offset;
      offset += this.sizes[l]! * this.sizes[l - 1]!;
      this.bOff[l] = offset;
      offset += this.sizes[l]!;
    }
    this.paramCount = offset;
    this.maxWidth = Math.max(...this.sizes);
  }

  /**
   * PyTorch's `nn.Linear` initialisation (Kaiming-uniform with a = √5): every
   * weight and bias of layer l ~ U(−1/√n_{l−1}, 1/√n_{l−1}), drawn layer by
   * layer, weights before biases.
   */
  init(rng: Rng): Float64Array {
    const theta = new Float64Array(this.paramCount);
    for (let l = 1; l <= this.layers; l++) {
      const bound = 1 / Math.sqrt(this.sizes[l - 1]!);
      for (let k = this.wOff[l]!; k < this.bOff[l]! + this.sizes[l]!; k++) theta[k] = rng.uniform(-bound, bound);
    }
    return theta;
  }

  loss(params: Float64Array, batch: FunctionalBatch): number {
    this.check(params, batch);
    this.forward(params, batch.x, batch.size);
    const out = this.z[this.layers]!;
    const y = batch.y;
    const n = batch.size * this.sizes[this.layers]!;
    let sum = 0;
    for (let k = 0; k < n; k++) {
      const e = out[k]! - y[k]!;
      sum += e * e;
    }
    return sum / n;
  }

  lossAndGrad(params: Float64Array, batch: FunctionalBatch, gradOut: Float64Array): number {
    this.check(params, batch);
    this.checkLength('gradOut', gradOut);
    const rows = batch.size;
    const x = batch.x;
    this.forward(params, x, rows);
    const L = this.layers;
    const out = this.z[L]!;
    const y = batch.y;
    const n = rows * this.sizes[L]!;
    const c = 2 / n;
    let delta = this.d0;
    let next = this.d1;
    let sum = 0;
    for (let k = 0; k < n; k++) {
      const e = out[k]! - y[k]!;
      sum += e * e;
      delta[k] = c * e;
    }
    gradOut.fill(0);
    for (let l = L; l >= 1; l--) {
      const nin = this.sizes[l - 1]!;
      const nout = this.sizes[l]!;
      const wo = this.wOff[l]!;
      const bo = this.bOff[l]!;
      const input = l === 1 ? x : this.a[l - 1]!;
      for (let b = 0; b < rows; b++) {
        const ib = b * nin;
        const ob = b * nout;
        for (let o = 0; o < nout; o++) {
          const d = delta[ob + o]!;
          // ReLU zeroes most deltas: skipping them saves a full row of work.
          if (d === 0) continue;
          gradOut[bo + o] = gradOut[bo + o]! + d;
          const row = wo + o * nin;
          for (let i = 0; i < nin; i++) gradOut[row + i] = gradOut[row + i]! + d * input[ib + i]!;
        }
      }
      if (l > 1) {
        this.backDelta(params, wo, nin, nout, rows, delta, next);
        const zp = this.z[l - 1]!;
        const ap = this.a[l - 1]!;
        const m = rows * nin;
        if (this.tanh) {
          for (let k = 0; k < m; k++) {
            const t = ap[k]!;
            next[k] = next[k]! * (1 - t * t);
          }
        } else {
          for (let k = 0; k < m; k++) if (!(zp[k]! > 0)) next[k] = 0;
        }
        const swap = delta;
        delta = next;
        next = swap;
      }
    }
    return sum / n;
  }

  hvp(params: Float64Array, batch: FunctionalBatch, v: Float64Array, out: Float64Array): void {
    this.check(params, batch);
    this.checkLength('v', v);
    this.checkLength('out', out);
    if (v === out) throw new InvalidOptionError('out', 'the same array as v', 'an array distinct from v', `${WHERE}.hvp`);
    const rows = batch.size;
    const x = batch.x;
    const L = this.layers;
    const tanh = this.tanh;
    this.forward(params, x, rows);
    // R-forward pass.
    for (let l = 1; l <= L; l++) {
      const nin = this.sizes[l - 1]!;
      const nout = this.sizes[l]!;
      const wo = this.wOff[l]!;
      const bo = this.bOff[l]!;
      const input = l === 1 ? x : this.a[l - 1]!;
      const rin = this.ra[l - 1]!;
      const rz = this.rz[l]!;
      const z = this.z[l]!;
      const a = this.a[l]!;
      const ra = this.ra[l]!;
      const hidden = l < L;
      for (let b = 0; b < rows; b++) {
        const ib = b * nin;
        const ob = b * nout;
        for (let o = 0; o < nout; o++) {
          const row = wo + o * nin;
          let s = v[bo + o]!;
          if (l === 1) {
            for (let i = 0; i < nin; i++) s += v[row + i]! * input[ib + i]!;
          } else {
            for (let i = 0; i < nin; i++) s += v[row + i]! * input[ib + i]! + params[row + i]! * rin[ib + i]!;
          }
          rz[ob + o] = s;
          if (hidden) {
            if (tanh) {
              const t = a[ob + o]!;
              ra[ob + o] = (1 - t * t) * s;
            } else {
              ra[ob + o] = z[ob + o]! > 0 ? s : 0;
            }
          }
        }
      }
    }
    // Output deltas and their R-derivatives.
    const yhat = this.z[L]!;
    const ryhat = this.rz[L]!;
    const y = batch.y;
    const n = rows * this.sizes[L]!;
    const c = 2 / n;
    let delta = this.d0;
    let next = this.d1;
    let rdelta = this.r0;
    let rnext = this.r1;
    for (let k = 0; k < n; k++) {
      delta[k] = c * (yhat[k]! - y[k]!);
      rdelta[k] = c * ryhat[k]!;
    }
    out.fill(0);
    for (let l = L; l >= 1; l--) {
      const nin = this.sizes[l - 1]!;
      const nout = this.sizes[l]!;
      const wo = this.wOff[l]!;
      const bo = this.bOff[l]!;
      const input = l === 1 ? x : this.a[l - 1]!;
      const rin = this.ra[l - 1]!;
      for (let b = 0; b < rows; b++) {
        const ib = b * nin;
        const ob = b * nout;
        for (let o = 0; o < nout; o++) {
          const d = delta[ob + o]!;
          const rd = rdelta[ob + o]!;
          out[bo + o] = out[bo + o]! + rd;
          const row = wo + o * nin;
          if (l === 1) {
            if (rd === 0) continue;
            for (let i = 0; i < nin; i++) out[row + i] = out[row + i]! + rd * input[ib + i]!;
          } else {
            for (let i = 0; i < nin; i++) out[row + i] = out[row + i]! + rd * input[ib + i]! + d * rin[ib + i]!;
          }
        }
      }
      if (l > 1) {
        const m = rows * nin;
        next.fill(0, 0, m);
        rnext.fill(0, 0, m);
        for (let b = 0; b < rows; b++) {
          const ib = b * nin;
          const ob = b * nout;
          for (let o = 0; o < nout; o++) {
            const d = delta[ob + o]!;
            const rd = rdelta[ob + o]!;
            if (d === 0 && rd === 0) continue;
            const row = wo + o * nin;
            for (let i = 0; i < nin; i++) {
              const w = params[row + i]!;
              next[ib + i] = next[ib + i]! + w * d;
              rnext[ib + i] = rnext[ib + i]! + v[row + i]! * d + w * rd;
            }
          }
        }
        const zp = this.z[l - 1]!;
        const ap = this.a[l - 1]!;
        const rzp = this.rz[l - 1]!;
        if (tanh) {
          for (let k = 0; k < m; k++) {
            const t = ap[k]!;
            const g = 1 - t * t;
            const s = next[k]!;
            next[k] = g * s;
            rnext[k] = -2 * t * g * rzp[k]! * s + g * rnext[k]!;
          }
        } else {
          for (let k = 0; k < m; k++) {
            if (!(zp[k]! > 0)) {
              next[k] = 0;
              rnext[k] = 0;
            }
          }
        }
        let swap = delta;
        delta = next;
        next = swap;
        swap = rdelta;
        rdelta = rnext;
        rnext = swap;
      }
    }
  }

  predict(params: Float64Array, x: Float64Array, rows: number, out: Float64Array): void {
    this.checkLength('params', params);
    checkInteger(`${WHERE}.predict`, 'rows', rows, 0);
    if (x.length < rows * this.sizes[0]! || out.length < rows * this.sizes[this.layers]!) {
      throw new ShapeMismatchError(`${WHERE}.predict: x or out is too short for ${rows} rows`);
    }
    this.forward(params, x, rows);
    const n = rows * this.sizes[this.layers]!;
    const z = this.z[this.layers]!;
    for (let k = 0; k < n; k++) out[k] = z[k]!;
  }

  private forward(params: Float64Array, x: Float64Array, rows: number): void {
    this.reserve(rows);
    const L = this.layers;
    const tanh = this.tanh;
    let input = x;
    for (let l = 1; l <= L; l++) {
      const nin = this.sizes[l - 1]!;
      const nout = this.sizes[l]!;
      const wo = this.wOff[l]!;
      const bo = this.bOff[l]!;
      const z = this.z[l]!;
      const a = this.a[l]!;
      const hidden = l < L;
      for (let b = 0; b < rows; b++) {
        const ib = b * nin;
        const ob = b * nout;
        for (let o = 0; o < nout; o++) {
          const row = wo + o * nin;
          let s = params[bo + o]!;
          for (let i = 0; i < nin; i++) s += params[row + i]! * input[ib + i]!;
          z[ob + o] = s;
          if (hidden) a[ob + o] = tanh ? Math.tanh(s) : s > 0 ? s : 0;
        }
      }
      input = a;
    }
  }

  /** (Re)allocate the workspace for batches of up to `rows` rows: only when a larger batch arrives. */
  private reserve(rows: number): void {
    if (rows <= this.capacity) return;
    const L = this.layers;
    this.z = [new Float64Array(0)];
    this.a = [new Float64Array(0)];
    this.rz = [new Float64Array(0)];
    this.ra = [new Float64Array(0)];
    for (let l = 1; l <= L; l++) {
      const n = rows * this.sizes[l]!;
      this.z.push(new Float64Array(n));
      this.rz.push(new Float64Array(n));
      // The output layer is linear: its "activation" is its pre-activation.
      this.a.push(l < L ? new Float64Array(n) : this.z[l]!);
      this.ra.push(l < L ? new Float64Array(n) : this.rz[l]!);
    }
    const m = rows * this.maxWidth;
    this.d0 = new Float64Array(m);
    this.d1 = new Float64Array(m);
    this.r0 = new Float64Array(m);
    this.r1 = new Float64Array(m);
    this.capacity = rows;
  }

  private backDelta(
    params: Float64Array,
    wo: number,
    nin: number,
    nout: number,
    rows: number,
    delta: Float64Array,
    next: Float64Array,
  ): void {
    next.fill(0, 0, rows * nin);
    for (let b = 0; b < rows; b++) {
      const ib = b * nin;
      const ob = b * nout;
      for (let o = 0; o < nout; o++) {
        const d = delta[ob + o]!;
        if (d === 0) continue;
        const row = wo + o * nin;
        for (let i = 0; i < nin; i++) next[ib + i] = next[ib + i]! + params[row + i]! * d;
      }
    }
  }

  private check(params: Float64Array, batch: FunctionalBatch): void {
    this.checkLength('params', params);
    const rows = batch.size;
    if (!Number.isInteger(rows) || rows < 1) {
      throw new InvalidOptionError('batch.size', rows, 'an integer >= 1', WHERE);
    }
    if (batch.x.length < rows * this.sizes[0]! || batch.y.length < rows * this.sizes[this.layers]!) {
      throw new ShapeMismatchError(
        `${WHERE}: a batch of ${rows} rows needs x of ${rows * this.sizes[0]!} and y of ${rows * this.sizes[this.layers]!} values, got ${batch.x.length} and ${batch.y.length}`,
      );
    }
  }

  private checkLength(what: string, array: Float64Array): void {
    if (!(array instanceof Float64Array) || array.length !== this.paramCount) {
      throw new ShapeMismatchError(`${WHERE}: ${what} must be a Float64Array of ${this.paramCount} values (the parameter count)`);
    }
  }
}
