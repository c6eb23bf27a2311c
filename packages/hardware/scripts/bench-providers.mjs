#!/usr/bin/env node
/**
 * Provider benchmark: ms/step (median of repeated samples) and elements/s of
 *
 * - the Adam step graph (float32) through `DeviceOptimizer` on the IO-bound path it runs by default: per step only the
 *   gradient is uploaded, parameters and state stay on the device; at 1e5, 1e6 and 4e6 elements;
 * - the learned `mlp-hybrid-v1` network through `LearnedOptimizerRunner` over 1e5 parameters (uploads parameter and
 *   gradient, reads the parameter back every step);
 *
 * on onnxruntime-node CPU, onnxruntime-node WebGPU over Mesa lavapipe (child process with the Vulkan environment),
 * and onnxruntime-web in headless Chromium (wasm, 1 thread; WebGPU on SwiftShader), with `@opt/core` Adam (JS and
 * wasm kernels) and the TypeScript `MLPLearnedOptimizer` as the host references. The cells are in
 * test/helpers/bench-cases.ts (timing policy there).
 *
 *   node packages/hardware/scripts/bench-providers.mjs [--sizes 1e5,1e6,4e6] [--learned 1e5] [--json out.json]
 *
 * lavapipe and SwiftShader are CPU emulations of a GPU: on a machine without a GPU these rows measure the emulation,
 * not GPU speed.
 */
import { writeFileSync } from 'node:fs';
import { arg, ensureEnvironments, machine, require, runLavapipe, table, withChromium } from './provider-env.mjs';

const sizes = arg('--sizes', '1e5,1e6,4e6').split(',').map(Number);
const learnedN = Number(arg('--learned', '1e5'));
const policy = { warmup: 3, samples: Number(arg('--samples', '5')), sampleSeconds: Number(arg('--sample-seconds', '0.3')) };
const env = ensureEnvironments();
const started = new Date().toISOString();
const host = machine();

const ortCases = (device) => [...sizes.map((n) => ({ kind: 'adam', n, device })), { kind: 'learned', n: learnedN, device }];
const results = [];
const section = (provider, rs) => {
  for (const r of rs) {
    results.push({ provider, ...r });
    console.error(`${provider} ${r.kind} n=${r.n}: ${r.error ?? `${r.msPerStep.toFixed(3)} ms/step (k=${r.stepsPerSample})`}`);
  }
};

// Host references first (in this process), then onnxruntime-node CPU (in this process: no Vulkan needed).
const { run: runNode } = require('../test/helpers/bench-node-scenario.ts');
section('@opt/core JS', await runNode({ cases: [...sizes.map((n) => ({ kind: 'core-adam', n, device: 'js' })), { kind: 'core-learned', n: learnedN, device: 'js' }], policy }));
section('@opt/core wasm', await runNode({ cases: sizes.map((n) => ({ kind: 'core-adam', n, device: 'wasm' })), policy }));
section('onnxruntime-node CPU', await runNode({ cases: ortCases('cpu'), policy }));
if (env.lavapipe.ok) section('onnxruntime-node WebGPU (lavapipe)', await runLavapipe('bench-node-scenario.ts', { cases: ortCases('webgpu'), policy }));
if (env.chromium.ok) {
  await withChromium(async (runPage) => {
    section('Chromium onnxruntime-web wasm (1 thread)', await runPage('browser-bench-page.js', { cases: ortCases('wasm'), policy, numThreads: 1 }));
    section('Chromium onnxruntime-web WebGPU (SwiftShader)', await runPage('browser-bench-page.js', { cases: ortCases('webgpu'), policy }));
  });
}

const fmt = (x) => (Number.isNaN(x) ? '-' : x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toPrecision(2));
const rate = (x) => (Number.isNaN(x) ? '-' : x.toExponential(2));
const providers = [...new Set(results.map((r) => r.provider))];
const cell = (provider, kind, n) => results.find((r) => r.provider === provider && (r.kind === kind || r.kind === `core-${kind}`) && r.n === n);
const show = (r) => (r === undefined ? 'n/a' : r.error !== undefined ? `failed: ${r.error.slice(0, 60)}` : `${fmt(r.msPerStep)} ms (${fmt(r.msMin)}–${fmt(r.msMax)}) · ${rate(r.elementsPerSecond)}/s`);
const header = ['provider', ...sizes.map((n) => `Adam n=${n.toExponential(0)}`), `learned MLP n=${learnedN.toExponential(0)}`];
console.log(`\nProvider benchmark, ${started}. Machine: ${host}`);
console.log(`Policy: ${policy.warmup} warm-up steps, ${policy.samples} samples of k steps (~${policy.sampleSeconds} s each, ending with a host read); median ms/step (min–max) · elements/s.\n`);
console.log(table(header, providers.map((p) => [p, ...sizes.map((n) => show(cell(p, 'adam', n))), show(cell(p, 'learned', learnedN))])));
const out = arg('--json', undefined);
if (out !== undefined) writeFileSync(out, JSON.stringify({ started, machine: host, policy, results }, null, 2));
