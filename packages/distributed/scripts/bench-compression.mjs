#!/usr/bin/env node
// Codec micro-benchmark: for a 2^20-element float32 gradient (Gaussian; PowerSGD sees it as a 1024 × 1024 matrix),
// the payload bytes each codec puts on the wire, the compression ratio against float32, and the median encode and
// decode times; then the 1-bit all-reduce of OneBitAdam. Prints a markdown table. Run after building
// (`npx tsc -p packages/distributed/tsconfig.build.json`). Options: --reps N (default 5).
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const lib = await import(pathToFileURL(join(here, '..', 'dist', 'index.js')).href);
const { Rng } = await import('@opt/tensor');

const repsArg = process.argv.indexOf('--reps');
const reps = repsArg > 0 ? Number(process.argv[repsArg + 1]) : 5;
const n = 1 << 20;
const side = 1024;
const grad = new Rng(1).fillNormal(new Float32Array(n));

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const codecs = [
  ['fp16', () => new lib.HalfCodec('float16')],
  ['PowerSGD rank 1', () => new lib.PowerSGD({ rank: 1, startIter: 0 })],
  ['PowerSGD rank 4', () => new lib.PowerSGD({ rank: 4, startIter: 0 })],
  ['Top-K 1 %', () => new lib.TopK({ ratio: 0.01, accumulate: false })],
  ['Top-K 0.1 %', () => new lib.TopK({ ratio: 0.001, accumulate: false })],
  ['DGC Top-K 0.1 % (momentum 0.9)', () => new lib.TopK({ ratio: 0.001, momentum: 0.9 })],
  ['Random-K 1 %', () => new lib.RandomK({ ratio: 0.01 })],
  ['QSGD 16 levels', () => new lib.QSGD({ levels: 16 })],
  ['QSGD 2 levels', () => new lib.QSGD({ levels: 2 })],
  ['sign (1 bit)', () => new lib.Sign({ scale: 'l1' })],
  ['EF-sign', () => lib.EFSign()],
  ['Signum majority vote', () => new lib.SignumMajorityVote({ momentum: 0 })],
];

const rows = [
  `| codec | payload bytes | compression vs float32 | encode (median of ${reps}) | decode |`,
  '| --- | --- | --- | --- | --- |',
];
for (const [name, make] of codecs) {
  const codec = make();
  const state = codec.init(n, { rank: 0, worldSize: 1, shapes: name.startsWith('PowerSGD') ? [[side, side]] : [[n]] });
  const out = new Float32Array(n);
  const enc = [];
  const dec = [];
  let bytes = 0;
  for (let r = 0; r < reps; r++) {
    let t = performance.now();
    const payload = codec.encode(grad, state, r);
    enc.push(performance.now() - t);
    bytes = payload.byteLength;
    t = performance.now();
    codec.decode(payload, out, state, 1);
    dec.push(performance.now() - t);
  }
  rows.push(`| ${name} | ${bytes} | ${((4 * n) / bytes).toFixed(1)}× | ${median(enc).toFixed(1)} ms | ${median(dec).toFixed(1)} ms |`);
  process.stderr.write(`${name} done\n`);
}

// 1-bit all-reduce (OneBitAdam's), on one rank: the bytes of both exchanges are fixed by the padded length.
{
  const K = 4;
  const N = lib.oneBitPaddedLength(n, K);
  const bytes = 4 + N / 8 + 4 + N / 8 / K;
  rows.push(`| 1-bit all-reduce, 4 ranks (worker + server signs per rank) | ${bytes} | ${((4 * n) / bytes).toFixed(1)}× | - | - |`);
}

process.stdout.write(`Gradient of ${n} float32 elements (${(4 * n) / 2 ** 20} MiB); ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}\n\n${rows.join('\n')}\n`);
