import { type FloatArray, type Parameter, ShapeMismatchError, dtypeOf } from '@opt/tensor';
import { checkInteger } from '@opt/core';
import { type Layer, emptyLike, requireForward } from './layer.js';

/**
 * Flattens `[B, C, H, W]` (or any `[B, …]`) into `[B, C·H·W]`, as PyTorch's
 * `nn.Flatten()`. Batches are stored row-major, so both shapes are the same
 * memory: forward returns its input and backward its output gradient, unchanged
 * and without copying.
 *
 * @example
 * ```ts
 * import { Flatten } from '@opt/tasks';
 * const x = new Float64Array(2 * 3 * 4 * 4);
 * new Flatten().forward(x, 2) === x; // true: [2, 3, 4, 4] viewed as [2, 48]
 * ```
 */
export class Flatten implements Layer {
  readonly parameters: readonly Parameter[] = Object.freeze([]);
  readonly exactNorms = true;
  private x: FloatArray | null = null;

  namedParameters(): Array<[string, Parameter]> {
    return [];
  }

  forward(x: FloatArray, batchSize: number): FloatArray {
    checkInteger('Flatten', 'batchSize', batchSize, 1);
    if (x.length % batchSize !== 0) {
      throw new ShapeMismatchError(`Flatten: input of ${x.length} elements is not ${batchSize} equal rows`);
    }
    this.x = x;
    return x;
  }

  backward(gradY: FloatArray, needInputGrad = true): FloatArray {
    const x = requireForward('Flatten', this.x);
    return needInputGrad ? gradY : emptyLike(dtypeOf(x));
  }

  backwardPerExample(gradY: FloatArray, _out: readonly FloatArray[], _offset: number, needInputGrad: boolean): FloatArray {
    return this.backward(gradY, needInputGrad);
  }

  backwardSquaredNorms(gradY: FloatArray, _out: Float64Array, needInputGrad: boolean): FloatArray {
    return this.backward(gradY, needInputGrad);
  }

  zeroGrad(): void {}
}
