import {
  Adam,
  InvalidOptionError,
  OptError,
  Parameter,
  ParamGroupError,
  SGD,
  ShapeMismatchError,
  DTypeMismatchError,
  StateDictError,
  type OptimizerStateDict,
} from '../src/index';

function param(values: number[], name?: string): Parameter {
  return Parameter.from(values, { dtype: 'float64', ...(name ? { name } : {}) });
}

describe('Optimizer construction and parameter groups', () => {
  test('an empty parameter list is a ParamGroupError', () => {
    expect(() => new SGD([])).toThrow(ParamGroupError);
    expect(() => new SGD([{ params: [] }])).toThrow(/empty parameter list/);
  });

  test('a parameter in two groups is refused, naming it', () => {
    const w = param([1], 'w');
    expect(() => new SGD([{ params: [w] }, { params: [w] }])).toThrow(/parameter w appears in more than one parameter group/);
    expect(() => new SGD([w, w])).toThrow(ParamGroupError);
  });

  test('groups inherit defaults and override them; addParamGroup validates the new group', () => {
    const a = param([1]);
    const b = param([2]);
    const opt = new SGD([{ params: [a] }, { params: [b], lr: 0.5 }], { lr: 0.1, momentum: 0.9 });
    expect(opt.paramGroups[0]!.lr).toBe(0.1);
    expect(opt.paramGroups[1]!.lr).toBe(0.5);
    expect(opt.paramGroups[1]!.momentum).toBe(0.9);
    expect(() => opt.addParamGroup({ params: [param([3])], lr: -1 })).toThrow(InvalidOptionError);
    opt.addParamGroup({ params: [param([3])], dampening: 0.1 });
    expect(opt.paramGroups[2]!.dampening).toBe(0.1);
    expect(opt.paramGroups[2]!.lr).toBe(0.1);
  });

  test('hyper-parameters are live: changing paramGroups[i].lr changes the next step', () => {
    const p = param([1]);
    const opt = new SGD([p], { lr: 0.1 });
    p.grad = new Float64Array([1]);
    opt.step();
    expect(p.data[0]).toBeCloseTo(0.9, 15);
    opt.paramGroups[0]!.lr = 0.5;
    opt.step();
    expect(p.data[0]).toBeCloseTo(0.4, 15);
  });

  test('an unknown option is an error, with a camelCase hint for ported snake_case names', () => {
    const p = param([1]);
    expect(() => new SGD([p], { weight_decay: 0.1 } as never)).toThrow(/did you mean weightDecay\?/);
    expect(() => new Adam([p], { learningRate: 0.1 } as never)).toThrow(InvalidOptionError);
  });

  test('named parameters may be given as [name, parameter] pairs', () => {
    const p = param([1]);
    const opt = new SGD([['layer.weight', p] as const], { lr: 0.1 });
    expect(opt.paramName(p)).toBe('layer.weight');
    expect(opt.stateDict().param_groups[0]!.param_names).toEqual(['layer.weight']);
  });
});

describe('option validation names the option and the allowed range', () => {
  const p = param([1]);
  test.each([
    ['negative lr', () => new Adam([p], { lr: -1e-3 }), /Adam: invalid lr: -0.001 \(expected a finite number >= 0\)/],
    ['NaN lr', () => new SGD([p], { lr: NaN }), /invalid lr: NaN/],
    ['beta1 = 1', () => new Adam([p], { betas: [1, 0.999] }), /invalid betas\[0\]: 1 \(expected a number in \[0, 1\)\)/],
    ['beta2 < 0', () => new Adam([p], { betas: [0.9, -0.1] }), /invalid betas\[1\]/],
    ['eps = 0', () => new Adam([p], { eps: 0 }), /invalid eps: 0 \(expected a finite number > 0\)/],
    ['negative weightDecay', () => new SGD([p], { weightDecay: -1 }), /invalid weightDecay/],
    ['non-boolean flag', () => new Adam([p], { amsgrad: 1 as never }), /invalid amsgrad: 1 \(expected true or false\)/],
  ])('%s', (_label, make, message) => {
    expect(make).toThrow(InvalidOptionError);
    expect(make).toThrow(message);
  });

  test('every library error is an OptError with a code', () => {
    try {
      new Adam([p], { lr: -1 });
    } catch (e) {
      expect(e).toBeInstanceOf(OptError);
      expect((e as InvalidOptionError).option).toBe('lr');
      expect((e as InvalidOptionError).code).toBe('INVALID_OPTION');
    }
  });

  test('a gradient of the wrong length or dtype is refused when it is assigned', () => {
    const w = Parameter.zeros([2, 3], 'float32', 'w');
    expect(() => (w.grad = new Float32Array(5))).toThrow(ShapeMismatchError);
    expect(() => (w.grad = new Float64Array(6))).toThrow(DTypeMismatchError);
  });
});

describe('zeroGrad', () => {
  test('sets gradients to null by default and to zeros with setToNone: false', () => {
    const p = param([1, 2]);
    const opt = new SGD([p]);
    p.grad = new Float64Array([3, 4]);
    const g = p.grad;
    opt.zeroGrad({ setToNone: false });
    expect(p.grad).toBe(g);
    expect(Array.from(g)).toEqual([0, 0]);
    opt.zeroGrad();
    expect(p.grad).toBeNull();
  });

  test('a parameter without a gradient is skipped: no state, no change', () => {
    const a = param([1]);
    const b = param([2]);
    const opt = new Adam([a, b], { lr: 0.1 });
    a.grad = new Float64Array([1]);
    opt.step();
    expect(b.data[0]).toBe(2);
    expect(opt.state.has(b)).toBe(false);
    expect(opt.state.get(a)!.step).toBe(1);
  });
});

describe('stateDict / loadStateDict', () => {
  function trained(names = true): { opt: Adam; params: Parameter[] } {
    const params = [param([0.1, -0.2, 0.3], names ? 'w' : undefined), param([1 / 3], names ? 'b' : undefined)];
    const opt = new Adam([{ params: [params[0]!] }, { params: [params[1]!], lr: 0.01 }], { lr: 0.05, amsgrad: true });
    for (let k = 0; k < 3; k++) {
      params[0]!.grad = new Float64Array([Math.sin(k), Math.cos(k) / 3, 1e-300]);
      params[1]!.grad = new Float64Array([k / 7]);
      opt.step();
    }
    return { opt, params };
  }

  test('is JSON-serialisable and float64 state survives bit-for-bit, including NaN, ±Infinity and -0', () => {
    const { opt, params } = trained();
    const s = opt.state.get(params[0]!)!;
    s.exp_avg[0] = -0;
    s.exp_avg[1] = NaN;
    s.exp_avg_sq[2] = Infinity;
    const json = JSON.parse(JSON.stringify(opt.stateDict())) as OptimizerStateDict;
    const copy = trained().opt;
    copy.loadStateDict(json);
    const before = opt.state.get(params[0]!)!;
    const after = copy.state.get(copy.paramGroups[0]!.params[0]!)!;
    expect(Object.is(after.exp_avg[0], -0)).toBe(true);
    expect(after.exp_avg[1]).toBeNaN();
    expect(after.exp_avg_sq[2]).toBe(Infinity);
    expect(Array.from(after.exp_avg_sq.subarray(0, 2))).toEqual(Array.from(before.exp_avg_sq.subarray(0, 2)));
    expect(Array.from(after.max_exp_avg_sq as Float64Array)).toEqual(Array.from(before.max_exp_avg_sq as Float64Array));
  });

  test('uses PyTorch state keys and stores param names and group options', () => {
    const { opt } = trained();
    const sd = opt.stateDict();
    expect(sd.optimizer).toBe('Adam');
    expect(Object.keys(sd.state['0']!).sort()).toEqual(['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq', 'step']);
    expect(sd.param_groups[0]).toMatchObject({ params: [0], param_names: ['w'], lr: 0.05, amsgrad: true, betas: [0.9, 0.999] });
    expect(sd.param_groups[1]).toMatchObject({ params: [1], param_names: ['b'], lr: 0.01 });
  });

  test('matches state by parameter name, so reordering parameters inside a group is safe', () => {
    const a = param([1, 2], 'a');
    const b = param([3, 4, 5], 'b');
    const opt = new Adam([a, b], { lr: 0.1 });
    a.grad = new Float64Array([1, 1]);
    b.grad = new Float64Array([2, 2, 2]);
    opt.step();
    const sd = JSON.parse(JSON.stringify(opt.stateDict()));
    const b2 = param([3, 4, 5], 'b');
    const a2 = param([1, 2], 'a');
    const reordered = new Adam([b2, a2], { lr: 0.1 });
    reordered.loadStateDict(sd);
    expect(Array.from(reordered.state.get(b2)!.exp_avg)).toEqual(Array.from(opt.state.get(b)!.exp_avg));
    expect(Array.from(reordered.state.get(a2)!.exp_avg)).toEqual(Array.from(opt.state.get(a)!.exp_avg));
    expect(() => new Adam([param([1, 2], 'a'), param([1, 2, 3], 'c')]).loadStateDict(sd)).toThrow(/no saved state for parameter "c"/);
  });

  test('restores group options, accepting PyTorch snake_case keys', () => {
    const p = param([1]);
    const opt = new SGD([p], { lr: 0.1 });
    opt.loadStateDict({ state: {}, param_groups: [{ params: [0], lr: 0.5, weight_decay: 0.25, momentum: 0.9, foreach: null }] });
    expect(opt.paramGroups[0]).toMatchObject({ lr: 0.5, weightDecay: 0.25, momentum: 0.9 });
  });

  test.each([
    ['from another optimizer', (sd: OptimizerStateDict) => ({ ...sd, optimizer: 'SGD' }), /written by SGD, not Adam/],
    ['with another number of groups', (sd: OptimizerStateDict) => ({ ...sd, param_groups: sd.param_groups.slice(0, 1) }), /1 parameter groups, the optimizer has 2/],
    [
      'with a tensor of another size',
      (sd: OptimizerStateDict) => {
        const s = structuredClone(sd);
        (s.state['0']!.exp_avg as { data: number[] }).data.pop();
        return s;
      },
      /exp_avg: tensor has 2 elements, expected 3/,
    ],
    [
      'with missing state keys',
      (sd: OptimizerStateDict) => {
        const s = structuredClone(sd);
        delete s.state['0']!.max_exp_avg_sq;
        return s;
      },
      /do not match Adam's state keys/,
    ],
    ['that is not a state dict', () => ({ hello: 1 }), /expected an object with "state" and "param_groups"/],
    [
      'with an invalid option value',
      (sd: OptimizerStateDict) => {
        const s = structuredClone(sd);
        s.param_groups[0]!.lr = -3;
        return s;
      },
      /param_groups\[0\]: Adam: invalid lr: -3/,
    ],
  ])('a state dict %s is a StateDictError and leaves the optimizer unchanged', (_label, mutate, message) => {
    const { opt } = trained();
    const target = trained();
    const before = JSON.stringify(target.opt.stateDict());
    const bad = mutate(JSON.parse(JSON.stringify(opt.stateDict())) as OptimizerStateDict);
    expect(() => target.opt.loadStateDict(bad as OptimizerStateDict)).toThrow(StateDictError);
    expect(() => target.opt.loadStateDict(bad as OptimizerStateDict)).toThrow(message);
    expect(JSON.stringify(target.opt.stateDict())).toBe(before);
  });

  test('falls back to matching by position when parameters are unnamed', () => {
    const { opt } = trained(false);
    const sd = JSON.parse(JSON.stringify(opt.stateDict()));
    expect(sd.param_groups[0].param_names).toBeUndefined();
    const copy = trained(false).opt;
    copy.loadStateDict(sd);
    expect(JSON.stringify(copy.stateDict())).toBe(JSON.stringify(sd));
  });
});

describe('loadStateDict and schedulers', () => {
  test("restores a saved initialLr (PyTorch's initial_lr) that the fresh group does not have yet", () => {
    const p = param([1]);
    const opt = new SGD([p], { lr: 0.1 });
    opt.loadStateDict({ state: {}, param_groups: [{ params: [0], lr: 0.05, initial_lr: 0.1 }] });
    expect(opt.paramGroups[0]).toMatchObject({ lr: 0.05, initialLr: 0.1 });
  });
});
