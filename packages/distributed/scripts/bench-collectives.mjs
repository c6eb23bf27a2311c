#!/usr/bin/env node
// All-reduce throughput of ShmCollective (worker threads) and NatsCollective (one connection per rank, ranks in
// worker threads, a private nats-server) for 1, 4 and 40 MiB float32 buffers with 2 and 3 ranks. Prints a markdown
// table: median time of an all-reduce and "algorithm bandwidth" = buffer MiB / median seconds. Run after building
// (`npx tsc -p packages/distributed/tsconfig.build.json` or `turbo build`). Options: --reps N (default 5).
import { pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const nodeEntry = pathToFileURL(join(here, '..', 'dist', 'node', 'index.js')).href;
const { runWorkers, startNatsServer } = await import(nodeEntry);

const repsArg = process.argv.indexOf('--reps');
const reps = repsArg > 0 ? Number(process.argv[repsArg + 1]) : 5;

// The rank program, evaluated in each worker thread (CommonJS), importing the built package.
const rankCode = `
const { workerData } = require('node:worker_threads');
(async () => {
  const { workerMain, connectNatsCollective } = await import(${JSON.stringify(nodeEntry)});
  workerMain(async (shm, d) => {
    const c = d.transport === 'nats'
      ? await connectNatsCollective({ servers: d.url, job: d.job, rank: shm.rank, worldSize: shm.worldSize, checksums: d.checksums })
      : shm;
    const buf = new Float32Array(d.elements).fill(shm.rank + 1);
    const times = [];
    await c.allReduce(buf, 'sum'); // warm-up
    for (let i = 0; i < d.reps; i++) {
      await shm.barrier();
      const t0 = performance.now();
      await c.allReduce(buf, 'sum');
      times.push(performance.now() - t0);
    }
    if (c !== shm) await c.close();
    return times;
  });
})();
`;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * The ceiling: single-thread memcpy bandwidth (TypedArray.set between two 40 MiB buffers), MiB/s. An all-reduce of
 * B bytes over shared memory moves at least B in and B out per rank, so algbw near memcpy/2 is the practical limit.
 */
function memcpyMiBps() {
  const n = (40 * 1024 * 1024) / 4;
  const a = new Float32Array(n).fill(1);
  const b = new Float32Array(n);
  b.set(a);
  const times = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    b.set(a);
    times.push(performance.now() - t0);
  }
  return 40 / (median(times) / 1000);
}

const memcpy = memcpyMiBps();
const server = await startNatsServer({ maxPayload: 8 * 1024 * 1024 });
const rows = [];
let job = 0;
try {
  for (const transport of ['shm', 'nats']) {
    for (const worldSize of [2, 3]) {
      for (const mib of [1, 4, 40]) {
        const elements = (mib * 1024 * 1024) / 4;
        const results = await runWorkers({
          worldSize,
          entry: { code: rankCode },
          data: { transport, url: server.url, job: `bench-${process.pid}-${job++}`, elements, reps, checksums: true },
          timeoutMs: 120000,
        });
        // The slowest rank defines the time of an all-reduce.
        const perRep = results[0].map((_, i) => Math.max(...results.map((t) => t[i])));
        const med = median(perRep);
        const min = Math.min(...perRep);
        const algbw = mib / (med / 1000);
        rows.push(
          `| ${transport} | ${worldSize} | ${mib} | ${med.toFixed(1)} (${min.toFixed(1)}) | ${algbw.toFixed(0)} | ${(algbw / memcpy).toFixed(3)} |`,
        );
        process.stderr.write(`${rows[rows.length - 1]}\n`);
      }
    }
  }
} finally {
  await server.stop();
}
console.log(`memcpy (TypedArray.set, 40 MiB, one thread): ${memcpy.toFixed(0)} MiB/s\n`);
console.log('| transport | ranks | MiB | all-reduce ms, median (min) | MiB/s (algbw, median) | algbw / memcpy |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const r of rows) console.log(r);
