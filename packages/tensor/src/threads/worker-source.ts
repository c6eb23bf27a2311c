/**
 * The code every pool worker runs, as a string (workers are started from
 * inline code, so no separate file has to be resolved by a bundler or a
 * package manager), and the layout of the control block it shares with the
 * main thread.
 *
 * @packageDocumentation
 */

/** Int32 slots of the control block (a `SharedArrayBuffer`). */
export const CONTROL = {
  /** Job sequence number: the main thread bumps it (and notifies) to post a job. */
  SEQ: 0,
  /** Workers that have not finished the current job; the last one notifies. */
  PENDING: 1,
  /** 0, or 1 + the index of a worker whose kernel call threw. */
  ERROR: 2,
  /** Index into the kernel table of the job, or −1: exit. */
  KERNEL: 3,
  /** Threads taking part in the job, the main thread included. */
  THREADS: 4,
  /** Elements per thread (see `chunkLength`). */
  CHUNK: 5,
  /** Bytes per element of the job's kernel. */
  BYTES: 6,
  /** Number of pointer arguments of the job's kernel. */
  POINTERS: 7,
  /** Total element count of the job. */
  N: 8,
  /** The kernel's arguments, as passed (10 slots). */
  ARGS: 9,
  /** Length of the block in int32 slots. */
  LENGTH: 20,
} as const;

/**
 * Body of a worker: instantiate the shared-memory kernel module over the
 * shared memory, then wait for jobs on the control block. A job is a kernel id
 * and its arguments; worker `index` (1-based: the main thread is thread 0)
 * updates elements `[index·chunk, min(n, (index + 1)·chunk))` by calling the
 * kernel with every non-zero pointer advanced by `index·chunk·bytes` and `n`
 * replaced by its range's length. It spins `spin` loads before sleeping in
 * `Atomics.wait`, so back-to-back jobs do not pay a wake-up, and spins again
 * after any wake-up, also one without a job (`KernelThreadPool.wake`).
 */
const BODY = `
function runKernelWorker(module, memory, control, index, names, spin) {
  var C = ${JSON.stringify(CONTROL)};
  var exports = new WebAssembly.Instance(module, { env: { memory: memory } }).exports;
  var fns = names.map(function (n) { return exports[n]; });
  var c = new Int32Array(control);
  var a = new Int32Array(10);
  var seen = Atomics.load(c, C.SEQ);
  return function loop() {
    for (;;) {
      var s;
      for (;;) {
        s = Atomics.load(c, C.SEQ);
        for (var i = 0; s === seen && i < spin; i++) s = Atomics.load(c, C.SEQ);
        if (s !== seen) break;
        // Woken without a job (KernelThreadPool.wake): spin again, a job is coming.
        Atomics.wait(c, C.SEQ, seen);
      }
      seen = s;
      var k = c[C.KERNEL];
      if (k < 0) return;
      if (index < c[C.THREADS]) {
        try {
          var chunk = c[C.CHUNK];
          var start = index * chunk;
          var len = Math.min(c[C.N] - start, chunk);
          if (len > 0) {
            var p = c[C.POINTERS];
            var off = start * c[C.BYTES];
            for (var j = 0; j < 10; j++) a[j] = c[C.ARGS + j];
            for (var q = 0; q < p; q++) if (a[q] !== 0) a[q] = a[q] + off;
            a[p] = len;
            fns[k](a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9]);
          }
        } catch (e) {
          Atomics.store(c, C.ERROR, index + 1);
        }
      }
      if (Atomics.sub(c, C.PENDING, 1) === 1) Atomics.notify(c, C.PENDING);
    }
  };
}
`;

/** Worker code for Node's `worker_threads` (`new Worker(code, { eval: true, workerData })`). */
export const NODE_WORKER_SOURCE = `${BODY}
var wt = require('node:worker_threads');
var d = wt.workerData;
var loop = runKernelWorker(d.module, d.memory, d.control, d.index, d.names, d.spin);
wt.parentPort.postMessage('ready');
loop();
process.exit(0);
`;

/** Worker code for a browser's Web Worker (started from a Blob URL; the setup arrives as the first message). */
export const BROWSER_WORKER_SOURCE = `${BODY}
self.onmessage = function (event) {
  self.onmessage = null;
  var d = event.data;
  var loop = runKernelWorker(d.module, d.memory, d.control, d.index, d.names, d.spin);
  self.postMessage('ready');
  loop();
  self.close();
};
`;
