import type { Parameter } from '@opt/tensor';
import {
  Adam,
  SGD,
  TransformOptimizer,
  addDecayedWeights,
  adam,
  chain,
  optimizerTransform,
  partition,
  scale,
  scaleByLearningRate,
  trace,
  type GradientTransformation,
} from '../src/index';
import { RTOL, type OptimizerCase, loadFixture, makeParams, report, scaledError, setGrads, toOptions } from './helpers/fixtures';

type Options = Record<string, unknown>;

/**
 * Adam groups as the alias where optax's adam covers the options, else the class as a transform
 * (AMSGrad and coupled weight decay have no optax verb).
 */
function adamGroup(o: Options): GradientTransformation<unknown> {
  const plain = !o.amsgrad && !o.maximize && !o.weightDecay;
  const [b1, b2] = (o.betas as [number, number] | undefined) ?? [0.9, 0.999];
  if (plain) return adam(o.lr as number, { b1, b2, eps: (o.eps as number | undefined) ?? 1e-8 });
  return optimizerTransform(Adam, o);
}

/**
 * SGD groups composed from verbs: maximize is scale(−1), PyTorch's coupled L2 is
 * addDecayedWeights before the momentum, momentum is trace. Dampening has no optax
 * verb, so those groups run the class as a transform.
 */
function sgdGroup(o: Options): GradientTransformation<unknown> {
  if (o.dampening) return optimizerTransform(SGD, o);
  const momentum = (o.momentum as number | undefined) ?? 0;
  return chain(
    scale(o.maximize ? -1 : 1),
    addDecayedWeights((o.weightDecay as number | undefined) ?? 0),
    momentum > 0 ? trace({ decay: momentum, nesterov: Boolean(o.nesterov) }) : scale(1),
    scaleByLearningRate(o.lr as number),
  );
}

/** One labelled transform per PyTorch parameter group, combined with partition. */
function build(c: OptimizerCase, params: Parameter[], group: (o: Options) => GradientTransformation<unknown>): TransformOptimizer<unknown> {
  const transforms: Record<string, GradientTransformation<unknown>> = {};
  const labels: string[] = new Array<string>(params.length);
  c.group_overrides.forEach((g, gi) => {
    transforms[`group${gi}`] = group({ ...toOptions(c.constructor), ...toOptions(g) });
    for (const i of g.params) labels[i] = `group${gi}`;
  });
  return new TransformOptimizer(params, partition(transforms, labels));
}

function hasMissingGrads(c: OptimizerCase): boolean {
  return c.steps.some((s) => s.grads.some((g) => g === null));
}

describe.each([
  ['optim/adam.json', adamGroup],
  ['optim/sgd.json', sgdGroup],
])('%s replayed through the transform layer (partition per group)', (file, group) => {
  // A missing gradient counts as zero in the transform layer, where PyTorch skips the parameter.
  const cases = loadFixture(file).cases.filter((c) => !hasMissingGrads(c));
  test.each(cases.map((c) => [c.id, c] as const))('%s follows PyTorch’s parameters at every step', (_id, c) => {
    const params = makeParams(c);
    const opt = build(c, params, group);
    let paramError = 0;
    c.steps.forEach((s, k) => {
      setGrads(c, params, k);
      opt.step();
      params.forEach((p, i) => (paramError = Math.max(paramError, scaledError(p.data, s.params[i]!))));
    });
    report(`transforms:${file}`, { id: c.id, dtype: c.dtype, paramError });
    expect(paramError).toBeLessThanOrEqual(RTOL[c.dtype]);
  });
});
