#!/usr/bin/env node
/**
 * Trains the digits MLP of `@opt/tasks` twice from the same initialisation and
 * batches: once with `DeviceOptimizer` (Adam step graphs on onnxruntime-node)
 * and once with the plain `@opt/core` Adam, then prints both test accuracies.
 *
 *   node packages/hardware/scripts/train-digits.mjs [--device cpu|webgpu] [--epochs 10]
 *
 * Needs the built packages (`pnpm -r build`). For WebGPU in Node, set up the
 * Vulkan driver first (see the README's provider section).
 */
import { Adam } from '@opt/core';
import { ClassificationObjective, batchOf, mlp, standardize, trainTestSplit } from '@opt/tasks';
import { loadDigits } from '@opt/tasks/node';
import { DeviceOptimizer } from '@opt/hardware';
import { OrtNodeBackend } from '@opt/hardware/node';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const device = arg('--device', 'cpu');
const epochs = Number(arg('--epochs', '10'));
const batchSize = 64;
const seed = 0;

const { train, test } = trainTestSplit(loadDigits(), { testFraction: 0.2, seed, stratify: true });
const s = standardize(train, test);
const sizes = [s.train.d, 64, s.train.numClasses];
const testBatch = batchOf(s.test, Int32Array.from({ length: s.test.n }, (_, i) => i), 'float32');

function batches(epoch) {
  // A fixed shuffle per epoch (LCG), shared by both runs.
  const order = Int32Array.from({ length: s.train.n }, (_, i) => i);
  let state = (epoch * 2654435761 + 12345) >>> 0;
  for (let i = order.length - 1; i > 0; i--) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const j = state % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const out = [];
  for (let k = 0; k < order.length; k += batchSize) out.push(order.subarray(k, Math.min(order.length, k + batchSize)));
  return out;
}

async function run(onDevice) {
  const objective = new ClassificationObjective(mlp({ sizes, seed, dtype: 'float32' }), s.train, { dtype: 'float32' });
  const core = new Adam(objective.parameters, { lr: 1e-3 });
  const opt = onDevice
    ? await DeviceOptimizer.wrap(core, { backend: new OrtNodeBackend(), devices: [device, 'cpu'], syncParams: true })
    : null;
  const started = performance.now();
  for (let epoch = 0; epoch < epochs; epoch++) {
    for (const indices of batches(epoch)) {
      objective.lossAndGrad(batchOf(s.train, indices, 'float32'));
      if (opt) await opt.step();
      else core.step();
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const where = opt ? `DeviceOptimizer on ${opt.device}${opt.diagnostics.length ? ` (fell back: ${opt.diagnostics.map((d) => d.device).join(', ')})` : ''}` : '@opt/core Adam (JS)';
  if (opt) await opt.release();
  return { where, accuracy: objective.accuracy(testBatch), seconds };
}

for (const r of [await run(true), await run(false)]) {
  console.log(`${r.where}: test accuracy ${(100 * r.accuracy).toFixed(2)}% after ${epochs} epochs (${r.seconds.toFixed(1)} s)`);
}
