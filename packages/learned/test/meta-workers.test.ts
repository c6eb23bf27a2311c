import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MetaTrainer } from '../src/meta/index';
// Not '../src/node/index': its entry.ts uses import.meta, which jest's CommonJS transpilation cannot run.
import { ThreadEstimatePool, WorkerPool } from '../src/node/pool';
import { loadCheckpoint, saveCheckpoint, trainWithCheckpoints } from '../src/node/checkpoint';

/**
 * Under jest the sources are TypeScript, so the threads start from a small CommonJS bootstrap that transpiles
 * `.ts` files with the TypeScript compiler on `require` and maps `@opt/<pkg>` to the sources (as jest does).
 * Built code uses the compiled `dist/node/worker.js` instead (`defaultWorkerEntry()`).
 */
const root = resolve(__dirname, '../../..');
const bootstrap = `
const ts = require(${JSON.stringify(require.resolve('typescript'))});
const fs = require('fs');
const path = require('path');
const Module = require('module');
const resolve0 = Module._resolveFilename;
Module._resolveFilename = function (request, parent, isMain, options) {
  const m = /^@opt\\/([a-z-]+)$/.exec(request);
  if (m) return path.join(${JSON.stringify(root)}, 'packages', m[1], 'src', 'index.ts');
  if (parent && parent.filename && parent.filename.endsWith('.ts') && /^\\.\\.?\\//.test(request) && request.endsWith('.js')) {
    const candidate = path.resolve(path.dirname(parent.filename), request.slice(0, -3) + '.ts');
    if (fs.existsSync(candidate)) return candidate;
  }
  return resolve0.call(this, request, parent, isMain, options);
};
require.extensions['.ts'] = function (module, filename) {
  const out = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
    fileName: filename,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  });
  module._compile(out.outputText, filename);
};
require(${JSON.stringify(join(root, 'packages/learned/src/node/worker.ts'))});
`;

/** The job module: a toy learned-lr SGD meta-trained by ES on random quadratics (also imported in-process). */
const jobModule = `
import { SGD } from '@opt/core';
import { RandomQuadraticFamily } from '@opt/tasks';
import type { Parameter } from '@opt/tensor';
import { AntitheticES, UnrollObjective, familySampler } from ${JSON.stringify(join(root, 'packages/learned/src/meta/index.ts'))};
import { estimateHandler } from ${JSON.stringify(join(root, 'packages/learned/src/node/pool.ts'))};

class LearnedLRSGD extends SGD {
  constructor(params: Parameter[], private readonly meta: Float64Array) {
    super(params, { lr: Math.exp(meta[0]!), momentum: 0.5 });
  }
  override step(closure?: () => number): number | undefined {
    for (const g of this.paramGroups) {
      g.lr = Math.exp(this.meta[0]!);
      g.momentum = 0.9 / (1 + Math.exp(-this.meta[1]!));
    }
    return super.step(closure);
  }
}
export const factory = {
  arch: 'toy-lr-sgd',
  metaParamCount: 2,
  initialMetaParams: () => new Float64Array([Math.log(1e-3), 0]),
  create: (params: Parameter[], meta: Float64Array) => new LearnedLRSGD(params, meta),
};
export function buildEstimator(options: { sigma: number }) {
  const family = new RandomQuadraticFamily({ dimension: [4, 8], conditionNumber: [2, 20], startScale: 1 });
  const objective = new UnrollObjective({ factory, sampler: familySampler(family, [0, 1000]), horizon: [10, 30] });
  return new AntitheticES({ objective, sigma: options.sigma });
}
export function createHandler(options: { sigma: number }) {
  return estimateHandler(buildEstimator(options));
}
`;

let dir: string;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the job module is loaded at run time
let jobs: any;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'opt-meta-workers-'));
  writeFileSync(join(dir, 'jobs.ts'), jobModule);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a TypeScript module written at run time, loaded through jest's transform
  jobs = require(join(dir, 'jobs.ts'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function trainer(metaSteps: number): MetaTrainer {
  return new MetaTrainer({
    factory: jobs.factory,
    estimator: jobs.buildEstimator({ sigma: 0.1 }),
    metaOptimizer: { lr: 0.1 },
    estimatesPerStep: 5,
    metaSteps,
    seed: 9,
  });
}

function bytes(a: Float64Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

describe('worker threads', () => {
  test('meta-training gives the same bytes with 0, 1 and 2 worker threads', async () => {
    const inProcess = trainer(3);
    inProcess.train();
    for (const workers of [1, 2]) {
      const pool = new ThreadEstimatePool(new WorkerPool({ workers, entry: { code: bootstrap }, module: join(dir, 'jobs.ts'), options: { sigma: 0.1 } }));
      try {
        const threaded = trainer(3);
        await threaded.trainAsync(pool);
        expect(bytes(threaded.metaParams).equals(bytes(inProcess.metaParams))).toBe(true);
        expect(threaded.history).toEqual(inProcess.history);
      } finally {
        await pool.close();
      }
    }
  }, 60000);

  test('a job that throws in a worker rejects the run with the worker stack', async () => {
    const pool = new WorkerPool({ workers: 1, entry: { code: bootstrap }, module: join(dir, 'jobs.ts'), exportName: 'createHandler', options: { sigma: -1 } });
    try {
      await expect(pool.run([{ metaParams: new Float64Array(2), metaStep: 0, index: 0, seed: 0 }])).rejects.toThrow(/sigma/);
    } finally {
      await pool.close();
    }
  }, 60000);
});

describe('checkpoints', () => {
  test('6 meta-steps straight equal 3 steps, an atomic checkpoint, a new trainer and 3 resumed steps', async () => {
    const straight = trainer(6);
    straight.train();
    const file = join(dir, 'ckpt', 'run.json');
    const first = trainer(6);
    const resumedFirst = await trainWithCheckpoints(first, { path: file, maxSteps: 3, everySteps: 100 });
    expect(resumedFirst).toBe(false);
    expect(loadCheckpoint(file)!.metaStep).toBe(3);
    const second = trainer(6);
    const resumed = await trainWithCheckpoints(second, { path: file, everySteps: 1 });
    expect(resumed).toBe(true);
    expect(second.metaStep).toBe(6);
    expect(bytes(second.metaParams).equals(bytes(straight.metaParams))).toBe(true);
    expect(loadCheckpoint(file)!.history).toEqual(straight.history);
  });

  test('a time-based checkpoint is written when the clock passes everySeconds', async () => {
    const file = join(dir, 'timed.json');
    let clock = 0;
    const t = trainer(4);
    const saves: number[] = [];
    await trainWithCheckpoints(t, {
      path: file,
      everySteps: 1000,
      everySeconds: 10,
      now: () => clock,
      onStep: (r) => {
        clock += 6000;
        if (r.metaStep === 1) saves.push(loadCheckpoint(file)?.metaStep ?? -1);
      },
    });
    // After step 0 (6 s) no save; after step 1 (12 s) one: the check at step 1's end wrote metaStep 2.
    expect(saves).toEqual([-1]);
    expect(loadCheckpoint(file)!.metaStep).toBe(4);
    saveCheckpoint(file, t);
    expect(loadCheckpoint(join(dir, 'missing.json'))).toBeNull();
  });
});
