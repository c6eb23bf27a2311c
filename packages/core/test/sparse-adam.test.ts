import { InvalidOptionError, Parameter } from '@opt/tensor';
import { SparseAdam } from '../src/index';
import { describeFixtureReplay } from './helpers/fixtures';

/** Scatter a fixture's sparse gradient (listed rows of dim 0) into a dense one, zeros elsewhere. */
function setSparse(p: Parameter, g: { rows: number[]; values: number[] }): void {
  const dense = p.dtype === 'float64' ? new Float64Array(p.size) : new Float32Array(p.size);
  const rowSize = g.rows.length === 0 ? 0 : g.values.length / g.rows.length;
  g.rows.forEach((row, k) => {
    for (let j = 0; j < rowSize; j++) dense[row * rowSize + j] = g.values[k * rowSize + j]!;
  });
  p.grad = dense;
}

describeFixtureReplay('optim/sparseadam.json', (groups, options) => new SparseAdam(groups, options), { setSparse });

describe('SparseAdam', () => {
  test('an all-zero gradient row is left untouched (moments and params) while its neighbour moves and step advances', () => {
    const p = new Parameter(new Float64Array([1, 2, 3, 4, 5, 6]), [3, 2]);
    const opt = new SparseAdam([p], { lr: 0.1 });
    p.grad = new Float64Array([0, 0, 0.5, -1, 0, 0]);
    opt.step();
    p.grad = new Float64Array([0.25, 0, 0, 0, 0, 0]);
    opt.step();
    const s = opt.state.get(p)!;
    expect(s.step).toBe(2);
    // Row 2 never had a gradient; row 1 only in step 1; row 0 only in step 2.
    expect(Array.from(p.data.subarray(4))).toEqual([5, 6]);
    expect(Array.from(s.exp_avg.subarray(4))).toEqual([0, 0]);
    expect(Array.from(s.exp_avg_sq.subarray(4))).toEqual([0, 0]);
    // Row 1's moments are not decayed in step 2.
    expect(s.exp_avg[2]).toBeCloseTo(0.05, 15);
    expect(s.exp_avg_sq[3]).toBeCloseTo(0.001, 15);
    // Row 1 moved in step 1 by lr·sqrt(1 − β2)/(1 − β1)·m/(sqrt(v) + eps) = ±lr·|g|/(|g| + eps/sqrt(1 − β2)).
    const eps = 1e-8;
    expect(p.data[2]).toBeCloseTo(3 - (0.1 * Math.sqrt(0.001) / 0.1) * (0.05 / (Math.sqrt(0.00025) + eps)), 15);
    expect(p.data[3]).toBeCloseTo(4 + (0.1 * Math.sqrt(0.001) / 0.1) * (0.1 / (Math.sqrt(0.001) + eps)), 15);
    // Row 0 is updated in step 2 with t = 2, its moments starting from zero; its zero
    // element is still part of the row: its moments stay 0 and it does not move.
    const step2 = (0.1 * Math.sqrt(1 - 0.999 ** 2)) / (1 - 0.9 ** 2);
    expect(p.data[0]).toBeCloseTo(1 - step2 * (0.025 / (Math.sqrt(0.001 * 0.0625) + eps)), 15);
    expect(p.data[1]).toBe(2);
  });

  test('a 1-D parameter has rows of one element', () => {
    const p = new Parameter(new Float32Array([1, 1, 1]), [3]);
    const opt = new SparseAdam([p], { lr: 0.1 });
    p.grad = new Float32Array([0, 2, 0]);
    opt.step();
    expect(p.data[0]).toBe(1);
    expect(p.data[2]).toBe(1);
    expect(p.data[1]).toBeCloseTo(0.9, 6);
  });

  test('maximize negates the gradient', () => {
    const p = new Parameter(new Float64Array([0, 0]), [2, 1]);
    const opt = new SparseAdam([p], { lr: 0.1, maximize: true });
    p.grad = new Float64Array([1, 0]);
    opt.step();
    expect(p.data[0]).toBeGreaterThan(0.09);
    expect(p.data[1]).toBe(0);
    expect(opt.state.get(p)!.exp_avg[0]).toBeCloseTo(-0.1, 15); // the moments hold the negated gradient
  });

  test('invalid options throw InvalidOptionError naming the option', () => {
    const p = Parameter.zeros([2, 2]);
    expect(() => new SparseAdam([p], { lr: -1 })).toThrow(InvalidOptionError);
    expect(() => new SparseAdam([p], { lr: -1 })).toThrow(/lr/);
    expect(() => new SparseAdam([p], { lr: 0 })).toThrow(/lr/);
    expect(() => new SparseAdam([p], { betas: [-0.1, 0.999] })).toThrow(/betas\[0\]/);
    expect(() => new SparseAdam([p], { betas: [0.9, 1] })).toThrow(/betas\[1\]/);
    expect(() => new SparseAdam([p], { eps: 0 })).toThrow(/eps/);
    expect(() => new SparseAdam([p], { maximize: 0 as never })).toThrow(/maximize/);
  });
});
