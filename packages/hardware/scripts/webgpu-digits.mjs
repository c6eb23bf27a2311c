#!/usr/bin/env node
/**
 * The digits scenario at full length on every provider this machine has, from the same split, initialisation and
 * batch order (test/helpers/digits-shared.ts): `@opt/core` Adam on the host, then `DeviceOptimizer` (Adam's float32
 * step graph, parameters synced to the host after each step for the JavaScript forward pass) on onnxruntime-node's
 * CPU provider, on its WebGPU provider over Mesa lavapipe (a child process with the Vulkan environment), and on
 * onnxruntime-web in headless Chromium (wasm, and WebGPU on SwiftShader). Prints a Markdown table of test accuracy
 * per device and each run's largest parameter difference from the host run.
 *
 *   node packages/hardware/scripts/webgpu-digits.mjs [--epochs 30] [--train-subset N] [--json out.json]
 *
 * Runs the TypeScript sources directly (no build needed). Takes a few minutes on 2 cores.
 */
import { writeFileSync } from 'node:fs';
import { arg, ensureEnvironments, machine, require, runLavapipe, table, withChromium } from './provider-env.mjs';

const settings = { epochs: Number(arg('--epochs', '30')), batchSize: 64, lr: 1e-2, seed: 0 };
const subset = arg('--train-subset', undefined);
if (subset !== undefined) settings.trainSubset = Number(subset);

const env = ensureEnvironments();
const { loadDigits } = require('@opt/tasks/node');
const shared = require('../test/helpers/digits-shared.ts');

const { train, test } = shared.prepareDigits(loadDigits(), settings);
console.error(`digits: ${train.n} training and ${test.n} test examples, ${settings.epochs} epochs, batch ${settings.batchSize}, Adam lr ${settings.lr}`);

const rows = [];
const host = await shared.trainDigits(train, test, settings, shared.hostAdam(settings.lr));
const add = (label, r) => {
  rows.push({ label, device: r.device, accuracy: r.accuracy, maxDiff: shared.maxParamDiff(r, host), steps: r.steps, seconds: r.seconds });
  console.error(`${label}: ${(100 * r.accuracy).toFixed(2)} % (${r.seconds.toFixed(1)} s)`);
};
add('@opt/core Adam (Node, JS kernels)', host);

for (const [label, device] of [
  ['onnxruntime-node CPU', 'cpu'],
  ['onnxruntime-node WebGPU (Mesa lavapipe)', 'webgpu'],
]) {
  if (device === 'webgpu' && !env.lavapipe.ok) {
    rows.push({ label, error: env.lavapipe.reason });
    continue;
  }
  try {
    const r = await runLavapipe('webgpu-digits-scenario.ts', { ...settings, device, deviceOnly: true });
    add(label, { device: r.device, accuracy: r.deviceAccuracy, params: r.deviceParams, steps: r.steps, seconds: r.deviceSeconds });
  } catch (e) {
    rows.push({ label, error: String(e).split('\n')[0] });
  }
}

if (env.chromium.ok) {
  const data = { train: shared.datasetToJson(train), test: shared.datasetToJson(test) };
  await withChromium(async (runPage, page) => {
    for (const [label, device] of [
      ['Chromium, @opt/core Adam (JS)', 'host'],
      ['Chromium, onnxruntime-web wasm', 'wasm'],
      ['Chromium, onnxruntime-web WebGPU (SwiftShader)', 'webgpu'],
    ]) {
      try {
        add(label, await runPage('browser-digits-page.js', { data, settings, device }));
      } catch (e) {
        rows.push({ label, error: String(e).split('\n')[0] });
      }
    }
    const invalid = page.console.filter((l) => l.includes('WebGPU validation error'));
    if (invalid.length > 0) console.error(`WebGPU validation errors in the page:\n${invalid.join('\n')}`);
  });
} else {
  rows.push({ label: 'Chromium', error: env.chromium.reason });
}

console.log(`\nDigits MLP (${train.d}-64-${train.numClasses}), ${train.n} train / ${test.n} test, ${settings.epochs} epochs, ${host.steps} Adam steps (lr ${settings.lr}, batch ${settings.batchSize}, seed ${settings.seed})`);
console.log(`Machine: ${machine()}\n`);
console.log(
  table(
    ['run', 'device', 'test accuracy', 'max abs param diff vs @opt/core', 'seconds'],
    rows.map((r) =>
      r.error !== undefined
        ? [r.label, 'not run', '-', '-', r.error.slice(0, 120)]
        : [r.label, r.device, `${(100 * r.accuracy).toFixed(2)} %`, r.maxDiff.toExponential(1), r.seconds.toFixed(1)],
    ),
  ),
);
const out = arg('--json', undefined);
if (out !== undefined) writeFileSync(out, JSON.stringify({ settings, machine: machine(), rows }, null, 2));
