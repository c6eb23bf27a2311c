#!/usr/bin/env node
// Quick measurement (not a test, no assertion): float32 Adam, ms per step, for
// the JS backend against the wasm backend, through the @opt/core optimizer
// (one parameter of N elements, so one kernel call per step), at N = 1e5, 1e6,
// 1e7. Needs the built packages: `pnpm --filter @opt/core... build`, then
// `node packages/tensor/scripts/bench-adam.mjs [N ...]`. The full suite with
// peers lives in tools/bench (`pnpm bench`).
import { Parameter } from '../dist/index.js';
import { Adam } from '../../core/dist/index.js';

const sizes = process.argv.length > 2 ? process.argv.slice(2).map(Number) : [1e5, 1e6, 1e7];

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function measure(backend, n) {
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sin(i);
  const p = new Parameter(data, [n], 'w');
  const opt = new Adam([p], { lr: 1e-3, backend });
  const grad = new Float32Array(n);
  for (let i = 0; i < n; i++) grad[i] = 1e-3 * Math.cos(i);
  p.grad = grad;
  opt.step(); // moves the parameter into the arena (wasm) and creates the state
  // Steps until ~1.5 s of work (at least 5), in batches timed separately.
  const batch = Math.max(1, Math.round(2e6 / n));
  const times = [];
  const deadline = performance.now() + 1500;
  while (times.length < 5 || performance.now() < deadline) {
    const t0 = performance.now();
    for (let k = 0; k < batch; k++) opt.step();
    times.push((performance.now() - t0) / batch);
    if (times.length >= 200) break;
  }
  return { median: median(times), min: Math.min(...times), runs: times.length };
}

console.log('| N | js ms/step | wasm ms/step | wasm M elem/s | speed-up |');
console.log('| ---: | ---: | ---: | ---: | ---: |');
for (const n of sizes) {
  const js = measure('js', n);
  const wasm = measure('wasm', n);
  const rate = n / (wasm.median * 1e3);
  console.log(
    `| ${n.toExponential(0)} | ${js.median.toFixed(3)} | ${wasm.median.toFixed(3)} | ${rate.toFixed(0)} | ${(js.median / wasm.median).toFixed(1)}x |`,
  );
}
