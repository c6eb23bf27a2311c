import * as core from '@opt/core';
import * as tensor from '@opt/tensor';
import { Parameter } from '@opt/tensor';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { type BenchCase, type OptimizerKey, fillPattern } from './cases.js';
import { type Samples, type TimingPolicy, timeSteps } from './measure.js';

/** The part of an @opt/core optimizer the suite drives. */
interface Steppable {
  step(): unknown;
  paramGroups: unknown[];
}

type Ctor = new (params: Parameter[], options: Record<string, unknown>) => Steppable;

const CLASSES: Record<OptimizerKey, Ctor> = {
  adam: core.Adam as unknown as Ctor,
  adamw: core.AdamW as unknown as Ctor,
  sgd_momentum: core.SGD as unknown as Ctor,
  lion: core.Lion as unknown as Ctor,
  adagrad: core.Adagrad as unknown as Ctor,
  rmsprop: core.RMSprop as unknown as Ctor,
};

/** Which of our paths a column uses. */
export type OurPath = 'js' | 'wasm' | 'threads';

/** Fresh parameters with fixed gradients for a case (data in [-1, 1], gradients in [-0.1, 0.1]). */
export function makeParams(c: BenchCase): Parameter[] {
  const params: Parameter[] = [];
  for (let k = 0; k < c.tensors; k++) {
    const data = tensor.allocate(c.dtype, c.elements);
    const grad = tensor.allocate(c.dtype, c.elements);
    fillPattern(data, 12345 + k, 1);
    fillPattern(grad, 54321 + k, 0.1);
    const p = new Parameter(data, [c.elements], `p${k}`);
    p.grad = grad;
    params.push(p);
  }
  return params;
}

/** Threads of the "ours threads" column (the calling thread included). */
export const THREADS = 2;

/**
 * Start `@opt/tensor`'s thread pool for the "ours threads" column: resolves to
 * `null` when it runs, else why it cannot.
 */
export async function startThreads(): Promise<string | null> {
  try {
    return (await tensor.initThreads(THREADS)) ? null : 'n/a (no shared memory or workers here)';
  } catch (e) {
    return `n/a: ${message(e)}`;
  }
}

/**
 * The settings that select a path. `nonFinite: 'ignore'` makes the step do the
 * same work as the peers (none of which scans gradients); the default policy's
 * cost is measured separately.
 */
function pathSettings(path: OurPath, nonFinite: 'ignore' | 'throw'): Record<string, unknown> {
  if (path === 'threads') return { nonFinite, backend: 'wasm', threads: THREADS };
  return path === 'wasm' ? { nonFinite, backend: 'wasm' } : { nonFinite };
}

/** Construct the optimizer of `c` on `path`; throws when the path is not available. */
export function construct(c: BenchCase, params: Parameter[], path: OurPath, nonFinite: 'ignore' | 'throw' = 'ignore'): Steppable {
  const Cls = CLASSES[c.spec.key];
  const opt = new Cls(params, { ...c.spec.options, ...pathSettings(path, nonFinite) });
  if (path !== 'js') {
    const reported = reportedBackend(opt);
    if (reported !== undefined && reported !== 'wasm') {
      disposeOptimizer(opt);
      throw new Error(`backend 'wasm' was accepted but the optimizer reports backend '${reported}'`);
    }
  }
  return opt;
}

/** The backend an optimizer says it uses, wherever it exposes it; undefined when it does not say. */
export function reportedBackend(opt: unknown): string | undefined {
  const o = opt as Record<string, unknown>;
  const candidates: unknown[] = [o['backend'], (o['defaults'] as Record<string, unknown> | undefined)?.['backend']];
  const groups = o['paramGroups'];
  if (Array.isArray(groups) && groups.length > 0) candidates.push((groups[0] as Record<string, unknown>)['backend']);
  for (const v of candidates) {
    if (typeof v === 'string') return v;
    if (v !== null && typeof v === 'object' && typeof (v as { name?: unknown }).name === 'string') return (v as { name: string }).name;
  }
  return undefined;
}

/** Release what an optimizer holds (wasm memory) when it offers a way to. */
export function disposeOptimizer(opt: unknown): void {
  const dispose = (opt as { dispose?: unknown }).dispose;
  if (typeof dispose === 'function') (dispose as () => void).call(opt);
}

/** What the wasm probe found. */
export interface WasmProbe {
  /** Whether at least one optimizer runs on the wasm path. */
  available: boolean;
  /** Summary: why not, or how it was confirmed. */
  note: string;
  /** Per optimizer: `undefined` when its wasm path works, else the reason it is n/a. */
  unavailable: Partial<Record<OptimizerKey, string>>;
  /** max |wasm − JS| / max |JS| over the parameters after 3 steps, per optimizer. */
  agreement: Partial<Record<OptimizerKey, number>>;
}

/**
 * Find out at run time, per optimizer, whether `backend: 'wasm'` works:
 * initialise it if `@opt/tensor` exports an initialiser, construct the optimizer
 * with it, check that it took effect (the instance reports backend `'wasm'`, or
 * the parameters moved out of the arrays created here into wasm memory), and
 * compare three steps against the JS path.
 */
export async function probeWasm(keys: readonly OptimizerKey[], specs: readonly BenchCase[]): Promise<WasmProbe> {
  const probe: WasmProbe = { available: false, note: '', unavailable: {}, agreement: {} };
  const init = findInitialiser();
  if (init) {
    try {
      await init.fn();
    } catch (e) {
      for (const k of keys) probe.unavailable[k] = `n/a: ${init.name}() failed`;
      probe.note = `n/a: ${init.name}() failed: ${message(e)}`;
      return probe;
    }
  }
  let reportedAll = true;
  for (const key of keys) {
    const c = specs.find((s) => s.spec.key === key);
    if (!c) continue;
    try {
      const r = probeOne(c);
      if (typeof r === 'string') {
        probe.unavailable[key] = r;
      } else {
        probe.agreement[key] = r.worst;
        if (!r.reported) reportedAll = false;
      }
    } catch (e) {
      probe.unavailable[key] = `n/a: failed its first steps: ${message(e)}`;
    }
  }
  const ok = Object.keys(probe.agreement);
  probe.available = ok.length > 0;
  const missing = Object.entries(probe.unavailable).map(([k, why]) => `${k}: ${why}`);
  if (!probe.available) {
    const reasons = [...new Set(Object.values(probe.unavailable))];
    probe.note = reasons.length === 1 ? reasons[0]! : missing.join('; ');
  } else {
    const worst = Math.max(0, ...Object.values(probe.agreement));
    const how = reportedAll ? 'the instances report backend "wasm"' : 'in effect (parameters moved into wasm memory)';
    probe.note = `${how} for ${ok.join(', ')}; max |wasm − JS| / max |JS| over the parameters after 3 steps: ${worst.toExponential(1)}` + (missing.length ? `; ${missing.join('; ')}` : '');
  }
  return probe;
}

/** Probe one optimizer: the reason it is unavailable, or how it agrees with the JS path. */
function probeOne(c: BenchCase): string | { worst: number; reported: boolean } {
  const small: BenchCase = { ...c, dtype: 'float32', elements: 1000, tensors: 3 };
  const pj = makeParams(small);
  const pw = makeParams(small);
  let wasmOpt: Steppable;
  try {
    wasmOpt = construct(small, pw, 'wasm');
  } catch (e) {
    const notBuilt = e instanceof tensor.InvalidOptionError && e.option === 'backend';
    return notBuilt ? 'n/a (not built): backend: "wasm" is not accepted' : `n/a: ${message(e)}`;
  }
  try {
    const ownBuffers = pw.map((p) => p.data.buffer);
    const jsOpt = construct(small, pj, 'js');
    for (let i = 0; i < 3; i++) {
      jsOpt.step();
      wasmOpt.step();
    }
    // The base class accepts `backend` for every optimizer, including those
    // without a wasm path, so acceptance proves nothing: the instance must say
    // so, or the parameters must have moved out of the arrays created here.
    const reported = reportedBackend(wasmOpt) === 'wasm';
    const moved = pw.every((p, k) => p.data.buffer !== ownBuffers[k]);
    if (!reported && !moved) return 'n/a (not built): backend: "wasm" accepted but the step stays in JS memory';
    // Norm-wise: the largest difference over the largest magnitude, so elements near 0 do not dominate.
    let diff = 0;
    let scale = 0;
    for (let k = 0; k < pj.length; k++) {
      const a = pj[k]!.data;
      const b = pw[k]!.data;
      for (let i = 0; i < a.length; i++) {
        const d = Math.abs(a[i]! - b[i]!);
        if (!(d <= diff)) diff = d;
        scale = Math.max(scale, Math.abs(a[i]!));
      }
    }
    const worst = diff / Math.max(scale, 1e-30);
    return { worst, reported };
  } finally {
    disposeOptimizer(wasmOpt);
  }
}

function findInitialiser(): { name: string; fn: () => unknown } | undefined {
  const mods: Array<Record<string, unknown>> = [tensor as unknown as Record<string, unknown>, core as unknown as Record<string, unknown>];
  for (const mod of mods) {
    for (const [name, value] of Object.entries(mod)) {
      if (typeof value === 'function' && /^(init|load|ready|ensure)_?wasm$|^wasmReady$|^initBackend$/i.test(name)) {
        return { name, fn: value as () => unknown };
      }
    }
  }
  return undefined;
}

/** Time one cell of ours on `path`. */
export function timeOurs(c: BenchCase, path: OurPath, policy: TimingPolicy, nonFinite: 'ignore' | 'throw' = 'ignore'): Samples {
  const params = makeParams(c);
  const opt = construct(c, params, path, nonFinite);
  try {
    return timeSteps(() => opt.step(), policy);
  } finally {
    disposeOptimizer(opt);
  }
}

/** Result of the heap-growth check. */
export interface HeapCheck {
  steps: number;
  elements: number;
  /** heapUsed right after the steps minus before them, with no GC in between: what the steps allocated (if no scavenge ran). */
  allocatedBytes: number;
  /** heapUsed after a full GC minus before the steps: what the steps retained. */
  heapGrowthBytes: number;
  /** Same for `arrayBuffers` (typed arrays allocated per step show here). */
  arrayBuffersGrowthBytes: number;
  gc: boolean;
}

/**
 * Step `steps` times over a 1000-element float32 parameter after 1000 warm-up
 * steps, and read `process.memoryUsage()` before (after a full GC), right after
 * the steps (no GC: the bytes allocated, since 10^4 small steps stay far below
 * a young-generation collection unless they allocate), and after a full GC
 * (the bytes retained).
 */
export function heapCheck(c: BenchCase, path: OurPath, steps: number): HeapCheck {
  const small: BenchCase = { ...c, dtype: 'float32', elements: 1000, tensors: 1 };
  const params = makeParams(small);
  const opt = construct(small, params, path);
  try {
    return heapCheckOf(() => opt.step(), steps, small.elements);
  } finally {
    disposeOptimizer(opt);
  }
}

/** The heap check of any step function (a no-op gives the harness's own baseline). */
export function heapCheckOf(step: () => void, steps: number, elements: number): HeapCheck {
  const gc = exposeGc();
  // The first steps create state and get the step path optimised; they are not steady state.
  for (let i = 0; i < 1000; i++) step();
  gc?.();
  gc?.();
  const before = process.memoryUsage();
  for (let i = 0; i < steps; i++) step();
  const mid = process.memoryUsage();
  gc?.();
  gc?.();
  const after = process.memoryUsage();
  return {
    steps,
    elements,
    allocatedBytes: mid.heapUsed - before.heapUsed,
    heapGrowthBytes: after.heapUsed - before.heapUsed,
    arrayBuffersGrowthBytes: after.arrayBuffers - before.arrayBuffers,
    gc: gc !== undefined,
  };
}

let cachedGc: (() => void) | undefined | null = null;

/** `global.gc` when Node runs with `--expose-gc`, else one obtained through V8's flags; undefined if neither works. */
export function exposeGc(): (() => void) | undefined {
  if (cachedGc !== null) return cachedGc;
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return (cachedGc = g);
  try {
    setFlagsFromString('--expose-gc');
    const fn = runInNewContext('gc') as unknown;
    cachedGc = typeof fn === 'function' ? (fn as () => void) : undefined;
  } catch {
    cachedGc = undefined;
  }
  return cachedGc;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
