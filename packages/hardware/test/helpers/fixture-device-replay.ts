/**
 * The PyTorch fixture replay through `DeviceOptimizer` shared by the lavapipe child process
 * (test/helpers/webgpu-fixtures-scenario.ts) and the headless Chromium page (test/helpers/browser-fixtures-page.ts).
 * Browser-safe: it imports no Node module (core's test/helpers/fixtures.ts reads files, so only its types are used
 * here) and returns the raw trajectory and state dict as JSON; the errors are computed in Node with core's own
 * `scaledError`/`compareState` (test/helpers/fixture-scoring.ts), so every backend is judged by the same code.
 * Relative imports carry `.js` because the page's static server resolves them to the transpiled `.ts` sources.
 */
import { Adagrad, Adam, AdamW, type Optimizer, type OptimizerStateDict, RMSprop, SGD, snakeToCamel } from '@opt/core';
import { Parameter } from '@opt/tensor';
import type { OptimizerCase } from '../../../core/test/helpers/fixtures.js';
import type { DeviceKind } from '../../src/backends/errors.js';
import type { Backend } from '../../src/backends/runner.js';
import { DeviceOptimizer } from '../../src/device/device-optimizer.js';

/** The fixture files (packages/core/test/fixtures/optim/<name>.json) whose optimizers have step graphs. */
export const FIXTURE_OPTIMIZERS = ['adam', 'adamw', 'sgd', 'rmsprop', 'adagrad'] as const;

/** One of {@link FIXTURE_OPTIMIZERS}. */
export type FixtureOptimizer = (typeof FIXTURE_OPTIMIZERS)[number];

type Groups = Array<Record<string, unknown> & { params: Parameter[] }>;

function createCore(name: FixtureOptimizer, groups: Groups, options: Record<string, unknown>): Optimizer<object> {
  switch (name) {
    case 'adam':
      return new Adam(groups, options);
    case 'adamw':
      return new AdamW(groups, options);
    case 'sgd':
      return new SGD(groups, options);
    case 'rmsprop':
      return new RMSprop(groups, options);
    case 'adagrad':
      return new Adagrad(groups, options);
  }
}

// The same conversion as core's `toOptions` (its module imports node:fs, which a page cannot load).
function toOptions(kwargs: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(kwargs)) {
    if (k === 'params') continue;
    out[snakeToCamel(k)] = v === 'inf' ? Infinity : v;
  }
  return out;
}

/** What one replay produced, before any comparison. */
export interface RawDeviceReplay {
  id: string;
  /** The device the `DeviceOptimizer` actually ran on (a fallback would show here). */
  device: string;
  /** `params[k][i]`: parameter `i` after step `k`, as the host `Parameter` holds it (float32 values). */
  params: number[][][];
  /** The final `stateDict()` (JSON, the `@opt/core` format). */
  state: OptimizerStateDict;
  /** Wall time of the replay (session creation included), milliseconds. */
  ms: number;
}

/**
 * Replay one case through `DeviceOptimizer` on one device with float32 arithmetic in the step graphs (what WebGPU
 * supports), parameters synced to the host after every step as core's replay reads them.
 *
 * @param c - a float32 case of a fixture file.
 * @param name - the optimizer of the fixture file.
 * @param backend - `OrtNodeBackend` or `OrtWebBackend`.
 * @param device - the only device tried (no fallback, so a WebGPU failure is an error, not a silent CPU run).
 */
export async function replayDeviceCase(c: OptimizerCase, name: FixtureOptimizer, backend: Backend, device: DeviceKind): Promise<RawDeviceReplay> {
  const t0 = Date.now();
  const params = c.params.map((spec, i) => Parameter.from(c.initial_params[i]!, { shape: spec.shape, dtype: c.dtype, name: spec.name }));
  const groups: Groups = c.group_overrides.map((g) => ({ ...toOptions(g), params: g.params.map((i) => params[i]!) }));
  const opt = await DeviceOptimizer.wrap(createCore(name, groups, toOptions(c.constructor)), {
    backend,
    devices: [device],
    compute: 'float32',
    syncParams: true,
  });
  const trajectory: number[][][] = [];
  try {
    for (let k = 0; k < c.steps.length; k++) {
      c.steps[k]!.grads.forEach((g, i) => {
        const p = params[i]!;
        if (g === null) p.grad = null;
        else if (Array.isArray(g)) p.grad = c.dtype === 'float64' ? Float64Array.from(g) : Float32Array.from(g);
        else throw new Error(`${c.id}: sparse gradients have no step graph`);
      });
      await opt.step();
      trajectory.push(params.map((p) => Array.from(p.data)));
    }
    const state = await opt.stateDict();
    return { id: c.id, device: opt.device, params: trajectory, state, ms: Date.now() - t0 };
  } finally {
    await opt.release();
  }
}
