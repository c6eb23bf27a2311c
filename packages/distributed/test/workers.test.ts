import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { WorkerFailedError, runWorkers } from '../src/node/launcher';

// Worker threads run JavaScript: the rank programs import the BUILT package (CI runs `turbo build` before jest;
// locally, build with `npx tsc -p packages/distributed/tsconfig.build.json`).
const nodeEntry = pathToFileURL(join(__dirname, '..', 'dist', 'node', 'index.js')).href;

function program(body: string): { code: string } {
  return {
    code: `import(${JSON.stringify(nodeEntry)}).then(({ workerMain }) => workerMain(async (collective, data) => { ${body} }));`,
  };
}

describe('runWorkers', () => {
  test('three worker threads all-reduce over one shared-memory group and report results in rank order', async () => {
    const results = await runWorkers<number[]>({
      worldSize: 3,
      entry: program(`const x = new Float32Array([collective.rank, data.k]); await collective.allReduce(x, 'sum'); return [collective.rank, ...x];`),
      data: { k: 2 },
      timeoutMs: 20000,
    });
    expect(results).toEqual([
      [0, 3, 6],
      [1, 3, 6],
      [2, 3, 6],
    ]);
  });

  test('a rank that throws fails the launch with WorkerFailedError and releases the waiting ranks at once', async () => {
    const launch = runWorkers({
      worldSize: 2,
      entry: program(`if (collective.rank === 1) throw new Error('boom'); await collective.barrier(); return 0;`),
      timeoutMs: 60000,
    });
    await expect(launch).rejects.toBeInstanceOf(WorkerFailedError);
    await expect(launch).rejects.toMatchObject({ rank: 1 });
  });
});
