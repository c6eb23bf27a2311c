/**
 * The local training of a federated digits client, shared by the Node clients (`federated-experiment.ts`) and the
 * browser clients (`browser-client.ts`, run in headless Chromium): browser-safe, no Node API.
 */
import { SGD } from '@opt/core';
import type { LocalTrainer } from '@opt/distributed';
import { type Batch, ClassificationObjective, type Dataset, batchOf, createDataset, mlp } from '@opt/tasks';
import { type FloatArray, type Parameter, Rng } from '@opt/tensor';

/** What every client of a run agrees on, plus its own index (which seeds its shuffling). */
export interface DigitsClientSettings {
  /** Layer sizes of the MLP, input to output (e.g. `[64, 32, 10]`). */
  sizes: number[];
  /** The run's seed: the initialisation (overwritten by the global model each round) and, with `clientIndex`, the shuffling. */
  seed: number;
  /** This client's position among all clients of the run (Node clients first, then browser clients). */
  clientIndex: number;
  /** Local SGD learning rate. */
  lr: number;
  /** Local mini-batch size (the last incomplete batch of an epoch is dropped). */
  batchSize: number;
}

/** A client's shard as plain JSON (how it reaches a browser page). */
export interface ShardJson {
  d: number;
  numClasses: number;
  /** Row-major `[n, d]` features. */
  features: number[];
  labels: number[];
}

/** The shard as JSON: `Array.from` of its buffers (float64 features survive JSON exactly). */
export function shardToJson(shard: Dataset): ShardJson {
  return { d: shard.d, numClasses: shard.numClasses, features: Array.from(shard.features), labels: Array.from(shard.labels) };
}

/** The JSON shard as a data set again. */
export function shardFromJson(json: ShardJson, name: string): Dataset {
  return createDataset({ name, d: json.d, numClasses: json.numClasses, features: json.features, labels: json.labels });
}

/** Copy the parameters into one flat vector (parameter after parameter). */
export function flattenParameters(params: readonly Parameter[], out: Float32Array): Float32Array {
  let o = 0;
  for (const p of params) {
    out.set(p.data, o);
    o += p.data.length;
  }
  return out;
}

/** Copy a flat vector into the parameters (the inverse of {@link flattenParameters}). */
export function unflattenParameters(flat: ArrayLike<number>, params: readonly Parameter[]): void {
  let o = 0;
  for (const p of params) {
    for (let i = 0; i < p.data.length; i++) p.data[i] = flat[o + i]!;
    o += p.data.length;
  }
}

/**
 * The local trainer of one client: receives the global model, trains `task.config.localEpochs` epochs of SGD on the
 * client's shard (a fresh seeded permutation per epoch, mini-batches of `batchSize`) and returns the new weights and
 * the shard size (FedAvg's weight).
 *
 * @param local - the client's shard.
 * @param settings - the run's model and optimiser settings and the client's index.
 */
export function digitsLocalTrainer(local: Dataset, settings: DigitsClientSettings): LocalTrainer {
  const net = mlp({ sizes: settings.sizes, seed: settings.seed, dtype: 'float32' });
  const numel = net.parameters.reduce((n, p) => n + p.data.length, 0);
  const objective = new ClassificationObjective(net, local);
  const opt = new SGD(net.parameters, { lr: settings.lr });
  const rng = new Rng(settings.seed * 1009 + settings.clientIndex);
  const order = Int32Array.from({ length: local.n }, (_, i) => i);
  const batchSize = settings.batchSize;
  const chosen = new Int32Array(batchSize);
  let batch: Batch | undefined;
  return (global: FloatArray, task) => {
    unflattenParameters(global, net.parameters);
    const epochs = Number(task.config.localEpochs ?? 1);
    for (let e = 0; e < epochs; e++) {
      for (let i = order.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        const t = order[i]!;
        order[i] = order[j]!;
        order[j] = t;
      }
      for (let b = 0; b + batchSize <= order.length; b += batchSize) {
        chosen.set(order.subarray(b, b + batchSize));
        batch = batchOf(local, chosen, 'float32', batch);
        objective.lossAndGrad(batch);
        opt.step();
      }
    }
    return { weights: flattenParameters(net.parameters, new Float32Array(numel)), numExamples: local.n };
  };
}
