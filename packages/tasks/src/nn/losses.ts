import { type FloatArray, InvalidOptionError, ShapeMismatchError } from '@opt/tensor';
import { checkInteger } from '@opt/core';

/**
 * Mean softmax cross-entropy over a batch, PyTorch's `F.cross_entropy(logits, labels)`:
 *
 * ```
 * ℓᵢ = logsumexp(zᵢ) − zᵢ[yᵢ],   logsumexp(z) = m + log Σⱼ exp(zⱼ − m),  m = maxⱼ zⱼ
 * L  = (1/B) Σᵢ ℓᵢ
 * ∂L/∂zᵢⱼ = (softmax(zᵢ)ⱼ − 1[j = yᵢ]) / B
 * ```
 *
 * Subtracting the row maximum keeps every exponent ≤ 0, so large logits neither
 * overflow nor lose the loss to cancellation. Sums are taken in float64.
 *
 * @param logits - row-major `[batchSize, numClasses]` (only the first `batchSize` rows are read).
 * @param labels - class index of each row, integers in `[0, numClasses)`.
 * @param batchSize - B, the number of rows.
 * @param numClasses - C, the number of classes.
 * @param gradOut - when given, receives `∂L/∂logits` (`batchSize·numClasses` elements).
 * @returns the mean loss L.
 */
export function softmaxCrossEntropy(
  logits: FloatArray,
  labels: ArrayLike<number>,
  batchSize: number,
  numClasses: number,
  gradOut?: FloatArray,
): number {
  const where = 'softmaxCrossEntropy';
  checkInteger(where, 'batchSize', batchSize, 1);
  checkInteger(where, 'numClasses', numClasses, 1);
  const n = batchSize * numClasses;
  if (logits.length < n) throw new ShapeMismatchError(`${where}: logits has ${logits.length} elements, expected ${n}`);
  if (labels.length < batchSize) throw new ShapeMismatchError(`${where}: labels has ${labels.length} entries, expected ${batchSize}`);
  if (gradOut !== undefined && gradOut.length < n) {
    throw new ShapeMismatchError(`${where}: gradOut has ${gradOut.length} elements, expected ${n}`);
  }
  const invB = 1 / batchSize;
  let total = 0;
  for (let r = 0; r < batchSize; r++) {
    const label = labels[r]!;
    if (!(label >= 0 && label < numClasses && Number.isInteger(label))) {
      throw new InvalidOptionError(`labels[${r}]`, label, `an integer in [0, ${numClasses})`, where);
    }
    const o = r * numClasses;
    let m = -Infinity;
    for (let c = 0; c < numClasses; c++) if (logits[o + c]! > m) m = logits[o + c]!;
    let s = 0;
    for (let c = 0; c < numClasses; c++) s += Math.exp(logits[o + c]! - m);
    const logS = Math.log(s);
    total += m + logS - logits[o + label]!;
    if (gradOut !== undefined) {
      const scale = invB / s;
      for (let c = 0; c < numClasses; c++) gradOut[o + c] = Math.exp(logits[o + c]! - m) * scale;
      gradOut[o + label] = gradOut[o + label]! - invB;
    }
  }
  return total * invB;
}

/**
 * Mean squared error over all elements, PyTorch's `F.mse_loss(pred, target)` (reduction `'mean'`):
 *
 * ```
 * L = (1/N) Σₖ (predₖ − targetₖ)²,    ∂L/∂predₖ = 2(predₖ − targetₖ)/N
 * ```
 *
 * @param pred - predictions; N = `pred.length` elements.
 * @param target - targets, at least N elements (only the first N are read).
 * @param gradOut - when given, receives `∂L/∂pred` (N elements).
 * @returns the mean loss L.
 */
export function mse(pred: FloatArray, target: ArrayLike<number>, gradOut?: FloatArray): number {
  const n = pred.length;
  if (n === 0) throw new ShapeMismatchError('mse: pred is empty');
  if (target.length < n) throw new ShapeMismatchError(`mse: target has ${target.length} elements, expected ${n}`);
  if (gradOut !== undefined && gradOut.length < n) {
    throw new ShapeMismatchError(`mse: gradOut has ${gradOut.length} elements, expected ${n}`);
  }
  const scale = 2 / n;
  let total = 0;
  for (let k = 0; k < n; k++) {
    const d = pred[k]! - target[k]!;
    total += d * d;
    if (gradOut !== undefined) gradOut[k] = scale * d;
  }
  return total / n;
}
