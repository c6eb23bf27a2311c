/**
 * Replays the PyTorch 1.13 scheduler fixtures (test/fixtures/FORMAT.md §6, §9):
 * builds the fixture's optimizer (SGD or Adam, two groups) and scheduler(s),
 * steps them, and measures the relative error of every group's lr (and the
 * cycled momentum / betas, and ReduceLROnPlateau's internals) at every step.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Adam, type Optimizer, Parameter, SGD, snakeToCamel } from '@opt/core';
import * as S from '../../src/index';

export const FIXTURE_DIR = join(__dirname, '..', 'fixtures');

/** Relative tolerance of the scheduler fixtures (every value is float64 arithmetic). */
export const RTOL = 1e-12;

export type Json = number | string | boolean | null | Json[] | { [key: string]: Json };

export interface OptimizerSpec {
  type: 'SGD' | 'Adam';
  constructor: Record<string, Json>;
  group_lrs: number[];
}

export interface SchedulerSpec {
  type: string;
  options: Record<string, Json>;
}

export interface SchedulerCase {
  id: string;
  scheduler?: string;
  optimizer: OptimizerSpec;
  options?: Record<string, Json>;
  schedulers?: SchedulerSpec[];
  num_steps: number;
  record?: string[];
  metrics?: number[];
  epochs?: number[];
  step_which?: number[];
  lr: number[][];
  momentum?: number[][];
  betas?: number[][][];
  best?: Json[];
  num_bad_epochs?: number[];
  cooldown_counter?: number[];
}

export interface FixtureFile {
  kind: string;
  scheduler?: string;
  cases: SchedulerCase[];
}

/** Parse a fixture file (path relative to test/fixtures). */
export function loadFixture(relativePath: string): FixtureFile {
  return JSON.parse(readFileSync(join(FIXTURE_DIR, relativePath), 'utf8')) as FixtureFile;
}

/** A fixture number: finite, or one of "inf", "-inf", "nan". */
export function num(x: Json | undefined): number {
  if (typeof x === 'number') return x;
  if (x === 'inf') return Infinity;
  if (x === '-inf') return -Infinity;
  if (x === 'nan') return NaN;
  throw new Error(`not a number: ${JSON.stringify(x)}`);
}

/** Turn a declarative lambda of the fixtures (FORMAT.md §6) into a function of the epoch. */
export function makeLambda(desc: Json): (epoch: number) => number {
  const d = desc as Record<string, number | string>;
  switch (d.kind) {
    case 'power':
      return (e) => (d.base as number) ** e;
    case 'step':
      return (e) => (d.gamma as number) ** Math.floor(e / (d.every as number));
    case 'linear_warmup':
      return (e) => Math.min(1, (e + 1) / (d.warmup as number));
    case 'constant':
      return () => d.value as number;
    case 'periodic':
      return (e) => (e % (d.every as number) === 0 ? (d.value as number) : 1);
    default:
      throw new Error(`unknown lambda kind ${String(d.kind)}`);
  }
}

/** The fixture's optimizer: one float64 parameter per group, group lrs as given. */
export function makeOptimizer(spec: OptimizerSpec): Optimizer<object> {
  const options: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(spec.constructor)) options[snakeToCamel(k)] = v;
  const groups = spec.group_lrs.map((lr, g) => ({ params: [new Parameter(new Float64Array([g + 1]), [1], `p${g}`)], lr }));
  if (spec.type === 'SGD') return new SGD(groups, options) as unknown as Optimizer<object>;
  return new Adam(groups, options) as unknown as Optimizer<object>;
}

/** PyTorch keyword arguments → camelCase options (`T_max` → `tMax`, `lr_lambda` → functions). */
export function toOptions(kwargs: Record<string, Json>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(kwargs)) {
    if (k === 'lr_lambda') out.lrLambda = Array.isArray(v) ? v.map(makeLambda) : makeLambda(v);
    else out[snakeToCamel(k)] = v === 'inf' ? Infinity : v;
  }
  return out;
}

/** Any scheduler built by the replay. */
export type AnyScheduler = S.LRScheduler | S.ReduceLROnPlateau;

/** Build a scheduler by its PyTorch class name on `optimizer`. */
export function makeScheduler(type: string, kwargs: Record<string, Json>, optimizer: Optimizer<object>): AnyScheduler {
  if (type === 'SequentialLR' || type === 'ChainedScheduler') {
    const children = (kwargs.schedulers as unknown as SchedulerSpec[]).map((c) => makeScheduler(c.type, c.options, optimizer) as S.LRScheduler);
    if (type === 'ChainedScheduler') return new S.ChainedScheduler(children);
    return new S.SequentialLR(optimizer, { schedulers: children, milestones: kwargs.milestones as number[] });
  }
  const o = toOptions(kwargs) as never;
  switch (type) {
    case 'LambdaLR':
      return new S.LambdaLR(optimizer, o);
    case 'MultiplicativeLR':
      return new S.MultiplicativeLR(optimizer, o);
    case 'StepLR':
      return new S.StepLR(optimizer, o);
    case 'MultiStepLR':
      return new S.MultiStepLR(optimizer, o);
    case 'ConstantLR':
      return new S.ConstantLR(optimizer, o);
    case 'LinearLR':
      return new S.LinearLR(optimizer, o);
    case 'ExponentialLR':
      return new S.ExponentialLR(optimizer, o);
    case 'PolynomialLR':
      return new S.PolynomialLR(optimizer, o);
    case 'CosineAnnealingLR':
      return new S.CosineAnnealingLR(optimizer, o);
    case 'CosineAnnealingWarmRestarts':
      return new S.CosineAnnealingWarmRestarts(optimizer, o);
    case 'CyclicLR':
      return new S.CyclicLR(optimizer, o);
    case 'OneCycleLR':
      return new S.OneCycleLR(optimizer, o);
    case 'ReduceLROnPlateau':
      return new S.ReduceLROnPlateau(optimizer, o);
    case 'SWALR':
      return new S.SWALR(optimizer, o);
    default:
      throw new Error(`unknown scheduler ${type}`);
  }
}

/** A fixture case's optimizer and schedulers, freshly built. */
export interface Built {
  optimizer: Optimizer<object>;
  schedulers: AnyScheduler[];
}

/** Build a case: `scheduler` + `options` (§6) or the `schedulers` list of SWALR cases (§9). */
export function buildCase(c: SchedulerCase): Built {
  const optimizer = makeOptimizer(c.optimizer);
  const specs: SchedulerSpec[] = c.schedulers ?? [{ type: c.scheduler!, options: c.options! }];
  const schedulers = specs.map((s) => makeScheduler(s.type, s.options, optimizer));
  return { optimizer, schedulers };
}

/** Perform the k-th step call (k from 1) of a case. */
export function stepCase(c: SchedulerCase, built: Built, k: number): void {
  const which = c.step_which ? c.step_which[k - 1]! : 0;
  const s = built.schedulers[which]!;
  if (s instanceof S.ReduceLROnPlateau) s.step(c.metrics![k - 1]!);
  else if (c.epochs) s.step(c.epochs[k - 1]!);
  else s.step();
}

/** What the replay observes after a step: lrs, the recorded momenta, plateau internals. */
export interface Observation {
  lr: number[];
  momentum?: number[];
  betas?: number[][];
  best?: number;
  numBadEpochs?: number;
  cooldownCounter?: number;
}

export function observe(c: SchedulerCase, built: Built): Observation {
  const groups = built.optimizer.paramGroups as unknown as Array<Record<string, unknown>>;
  const obs: Observation = { lr: groups.map((g) => g.lr as number) };
  if (c.momentum) obs.momentum = groups.map((g) => g.momentum as number);
  if (c.betas) obs.betas = groups.map((g) => [...(g.betas as number[])]);
  const s = built.schedulers[0];
  if (s instanceof S.ReduceLROnPlateau) {
    obs.best = s.best;
    obs.numBadEpochs = s.numBadEpochs;
    obs.cooldownCounter = s.cooldownCounter;
  }
  return obs;
}

/** |a − e| / |e|; when e = 0 the absolute error (a scheduled lr of exactly 0 must stay 0 up to rounding). */
export function relError(actual: number, expected: number): number {
  if (Object.is(actual, expected) || actual === expected) return 0;
  if (Number.isNaN(actual) || Number.isNaN(expected)) return Infinity;
  if (!Number.isFinite(expected)) return Infinity;
  return expected === 0 ? Math.abs(actual) : Math.abs(actual - expected) / Math.abs(expected);
}

export interface ReplayResult {
  id: string;
  /** Largest relative error of any group's lr at any step. */
  lrError: number;
  /** Largest relative error of the cycled momentum / betas (0 when not recorded). */
  momentumError: number;
  /** Largest error of ReduceLROnPlateau's best (relative) and counters (absolute). */
  internalsError: number;
  /** Steps whose observation could not be compared (length mismatches). */
  shapeMismatches: string[];
}

/** Replay one case from construction through its last step. */
export function replayCase(c: SchedulerCase): ReplayResult {
  const built = buildCase(c);
  let lrError = 0;
  let momentumError = 0;
  let internalsError = 0;
  const shapeMismatches: string[] = [];
  for (let k = 0; k <= c.num_steps; k++) {
    if (k > 0) stepCase(c, built, k);
    const obs = observe(c, built);
    const lr = c.lr[k]!;
    if (obs.lr.length !== lr.length) shapeMismatches.push(`lr at step ${k}`);
    lr.forEach((e, g) => (lrError = Math.max(lrError, relError(obs.lr[g]!, e))));
    c.momentum?.[k]?.forEach((e, g) => (momentumError = Math.max(momentumError, relError(obs.momentum![g]!, e))));
    c.betas?.[k]?.forEach((pair, g) =>
      pair.forEach((e, i) => (momentumError = Math.max(momentumError, relError(obs.betas![g]![i]!, e)))),
    );
    if (c.best) {
      // Row 0 is right after construction ("inf" / "-inf", 0, 0), row k after the k-th step.
      internalsError = Math.max(internalsError, relError(obs.best!, num(c.best[k])));
      internalsError = Math.max(internalsError, Math.abs(obs.numBadEpochs! - c.num_bad_epochs![k]!));
      internalsError = Math.max(internalsError, Math.abs(obs.cooldownCounter! - c.cooldown_counter![k]!));
    }
  }
  if (c.lr.length !== c.num_steps + 1) shapeMismatches.push(`the fixture has ${c.lr.length} lr rows for ${c.num_steps} steps`);
  return { id: c.id, lrError, momentumError, internalsError, shapeMismatches };
}

/** Append a replay result to the report file named by OPT_FIXTURE_REPORT (JSON lines). */
export function report(file: string, r: ReplayResult): void {
  const target = process.env.OPT_FIXTURE_REPORT;
  if (!target) return;
  const line = {
    file,
    id: r.id,
    dtype: 'float64',
    paramError: r.lrError,
    stateError: Math.max(r.momentumError, r.internalsError),
    lrError: r.lrError,
    momentumError: r.momentumError,
    internalsError: r.internalsError,
  };
  appendFileSync(target, JSON.stringify(line) + '\n');
}

/**
 * Replay every case of a fixture file in a jest `describe` block: lr of every
 * group at every step to {@link RTOL} relative, cycled momentum / betas likewise,
 * plateau internals exactly (counters) and to RTOL (best).
 */
export function describeFixtureReplay(file: string): void {
  const fixture = loadFixture(file);
  describe(`${file}: replays PyTorch 1.13 lr trajectories`, () => {
    for (const c of fixture.cases) {
      test(`${c.id} matches PyTorch within ${RTOL} at every step`, () => {
        const r = replayCase(c);
        report(file, r);
        expect(r.shapeMismatches).toEqual([]);
        expect(r.lrError).toBeLessThanOrEqual(RTOL);
        expect(r.momentumError).toBeLessThanOrEqual(RTOL);
        expect(r.internalsError).toBeLessThanOrEqual(RTOL);
      });
    }
  });
}

/** Every fixture file of the package, relative to test/fixtures. */
export const ALL_FIXTURE_FILES = [
  'schedulers/lambdalr.json',
  'schedulers/multiplicativelr.json',
  'schedulers/steplr.json',
  'schedulers/multisteplr.json',
  'schedulers/constantlr.json',
  'schedulers/linearlr.json',
  'schedulers/exponentiallr.json',
  'schedulers/polynomiallr.json',
  'schedulers/cosineannealinglr.json',
  'schedulers/cosineannealingwarmrestarts.json',
  'schedulers/cycliclr.json',
  'schedulers/onecyclelr.json',
  'schedulers/reducelronplateau.json',
  'schedulers/sequentiallr.json',
  'schedulers/chainedscheduler.json',
  'swalr.json',
];
