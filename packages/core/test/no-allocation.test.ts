/**
 * "No allocation per step" (issue 5): after warm-up, 10^4 optimizer steps must
 * leave no growth in heap use beyond noise.
 *
 * Measured as RETAINED growth: a full garbage collection before and after the
 * steps, and the difference of the used heap. This is deterministic: it does
 * not depend on when V8 optimises the step (unoptimised code boxes the doubles
 * it computes, which is short-lived garbage and collected), nor on what other
 * test files ran in the same jest worker before. A step that keeps anything
 * (a growing list, a cache entry per step) grows the heap by at least 16 bytes
 * per step, 160 KB over 10^4 steps, above the bound. Per-step garbage (bytes
 * allocated and freed) is a speed matter, measured by `pnpm bench` (its heap
 * table), not a pass/fail criterion, because it varies with JIT timing.
 *
 * `gc()` comes from a fresh context created after `--expose-gc` is set, so the
 * test needs no node flag.
 */
import { appendFileSync } from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Parameter, Rng, wasmAvailable } from '@opt/tensor';
import {
  Adadelta,
  Adafactor,
  Adagrad,
  Adam,
  Adam8bit,
  AdamW,
  AdamW8bit,
  Adamax,
  LAMB,
  LARS,
  Lion,
  NAdam,
  RAdam,
  RMSprop,
  Rprop,
  SGD,
} from '../src/index';

const STEPS = 10_000;
const WARMUP = 2_000;
/** Elements of the weight; what a step retains does not depend on the size. */
const SIZE = 300;
/** 10 bytes per step: the smallest V8 heap object (a boxed double or a one-field object) is 16. */
const BOUND = 100_000;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function usedAfterFullGc(): number {
  gc();
  gc();
  return v8.getHeapStatistics().used_heap_size;
}

/**
 * Full collections also age and flush the bytecode of functions not run lately
 * (modules earlier test files loaded in this jest worker), which shrinks the heap
 * by megabytes for reasons unrelated to the steps: flushing is turned off while
 * measuring, and the heap is let settle first.
 */
function settleHeap(): void {
  v8.setFlagsFromString('--no-flush-bytecode');
  for (let i = 0; i < 4; i++) gc();
}

/** Heap growth retained by `run(steps)`, after full collections on both sides. */
function retainedBytes(run: (steps: number) => void, steps: number): number {
  const before = usedAfterFullGc();
  run(steps);
  return usedAfterFullGc() - before;
}

/** Warm up, then the growth of each of two trials (three when both exceed the bound). */
function trials(run: (steps: number) => void): number[] {
  run(WARMUP);
  settleHeap();
  const out: number[] = [];
  for (let trial = 0; trial < 2 || (trial < 3 && Math.min(...out) >= BOUND); trial++) out.push(retainedBytes(run, STEPS));
  return out;
}

/** The smallest growth over the trials: a step that retains memory grows the heap in every trial. */
function measure(run: (steps: number) => void): number {
  return Math.min(...trials(run));
}

/** A float32 parameter with a fixed gradient, as a training loop leaves it between steps. */
function param(name: string, size: number): Parameter {
  const rng = new Rng(size);
  const p = new Parameter(rng.fillNormal(new Float32Array(size)), [size], name);
  // Tiny gradients keep 10^4 steps finite and the values in a normal range.
  p.grad = rng.fillNormal(new Float32Array(size), 0, 1e-3);
  return p;
}

/** When OPT_ALLOC_REPORT names a file, the measured bytes are written there (one JSON object per line). */
function report(name: string, bytes: number): void {
  const file = process.env.OPT_ALLOC_REPORT;
  if (file) appendFileSync(file, `${JSON.stringify({ name, bytes, steps: STEPS })}\n`);
}

/**
 * Optimizers under test, on the JavaScript kernel path, over a 300-element weight and a 30-element bias in one group
 * (the bias takes the 32-bit path of the 8-bit optimizers).
 */
const cases: Array<[string, (params: Parameter[]) => { step(): unknown }]> = [
  ['Adam', (ps) => new Adam(ps, { backend: 'js' })],
  ['Adam (amsgrad, weightDecay)', (ps) => new Adam(ps, { amsgrad: true, weightDecay: 0.01, backend: 'js' })],
  ['AdamW', (ps) => new AdamW(ps, { backend: 'js' })],
  ['SGD (momentum)', (ps) => new SGD(ps, { lr: 1e-3, momentum: 0.9, backend: 'js' })],
  ['SGD (Nesterov, weightDecay)', (ps) => new SGD(ps, { lr: 1e-3, momentum: 0.9, nesterov: true, weightDecay: 1e-4, backend: 'js' })],
  ['Lion', (ps) => new Lion(ps, { lr: 1e-5, backend: 'js' })],
  ['Adagrad', (ps) => new Adagrad(ps, { backend: 'js' })],
  ['RMSprop', (ps) => new RMSprop(ps, { backend: 'js' })],
  ['RMSprop (centered, momentum)', (ps) => new RMSprop(ps, { centered: true, momentum: 0.9, backend: 'js' })],
  ['Adadelta', (ps) => new Adadelta(ps, { backend: 'js' })],
  ['Adamax', (ps) => new Adamax(ps, { backend: 'js' })],
  ['NAdam', (ps) => new NAdam(ps, { backend: 'js' })],
  ['RAdam', (ps) => new RAdam(ps, { backend: 'js' })],
  ['Rprop', (ps) => new Rprop(ps, { backend: 'js' })],
  ['LAMB', (ps) => new LAMB(ps, { backend: 'js' })],
  ['LARS', (ps) => new LARS(ps, { lr: 1e-3, momentum: 0.9, backend: 'js' })],
  ['Adafactor', (ps) => new Adafactor(ps, { backend: 'js' })],
  ['Adam8bit', (ps) => new Adam8bit(ps, { min8bitSize: 256 })],
  ['AdamW8bit', (ps) => new AdamW8bit(ps, { min8bitSize: 256 })],
];

/** The optimizers with a WebAssembly path, on it (run where WebAssembly SIMD is available). */
const wasmCases: Array<[string, (params: Parameter[]) => { step(): unknown }]> = [
  ['Adam', (ps) => new Adam(ps, { backend: 'wasm' })],
  ['AdamW', (ps) => new AdamW(ps, { backend: 'wasm' })],
  ['SGD (momentum)', (ps) => new SGD(ps, { lr: 1e-3, momentum: 0.9, backend: 'wasm' })],
  ['Lion', (ps) => new Lion(ps, { lr: 1e-5, backend: 'wasm' })],
  ['Adagrad', (ps) => new Adagrad(ps, { backend: 'wasm' })],
  ['RMSprop', (ps) => new RMSprop(ps, { backend: 'wasm' })],
  ['Adadelta', (ps) => new Adadelta(ps, { backend: 'wasm' })],
  ['Adamax', (ps) => new Adamax(ps, { backend: 'wasm' })],
  ['NAdam', (ps) => new NAdam(ps, { backend: 'wasm' })],
  ['RAdam', (ps) => new RAdam(ps, { backend: 'wasm' })],
  ['Rprop', (ps) => new Rprop(ps, { backend: 'wasm' })],
  ['LAMB', (ps) => new LAMB(ps, { backend: 'wasm' })],
  ['LARS', (ps) => new LARS(ps, { lr: 1e-3, momentum: 0.9, backend: 'wasm' })],
  ['Adafactor', (ps) => new Adafactor(ps, { backend: 'wasm' })],
];

describe('no allocation per step', () => {
  afterAll(() => v8.setFlagsFromString('--flush-bytecode'));

  test('the measurement sees one small object retained per step', () => {
    // Positive control: a step that keeps a small object alive.
    const kept: object[] = [];
    // The largest trial: this control asks whether growth can be seen at all.
    const bytes = Math.max(
      ...trials((steps) => {
        for (let i = 0; i < steps; i++) kept.push({ i });
      }),
    );
    report('control: one retained object per step', bytes);
    expect(bytes).toBeGreaterThanOrEqual(16 * STEPS);
    expect(kept.length).toBeGreaterThanOrEqual(WARMUP + 2 * STEPS);
  });

  test('garbage that a step drops does not count as growth', () => {
    // Negative control: a step that allocates and drops an object every time.
    const sink: { last: object | null } = { last: null };
    const bytes = measure((steps) => {
      for (let i = 0; i < steps; i++) sink.last = { i };
    });
    report('control: one dropped object per step', bytes);
    expect(bytes).toBeLessThan(BOUND);
  });

  test.each(cases)('%s: 10^4 steps leave no growth in heap use', (name, make) => {
    const opt = make([param('weight', SIZE), param('bias', 30)]);
    const bytes = measure((steps) => {
      for (let i = 0; i < steps; i++) opt.step();
    });
    report(name, bytes);
    expect(bytes).toBeLessThan(BOUND);
  }, 120_000);

  (wasmAvailable() ? test.each(wasmCases) : test.skip.each(wasmCases))(
    '%s on the wasm backend: 10^4 steps leave no growth in heap use',
    (name, make) => {
      const opt = make([param('weight', SIZE), param('bias', 30)]);
      const bytes = measure((steps) => {
        for (let i = 0; i < steps; i++) opt.step();
      });
      report(`${name} (wasm)`, bytes);
      expect(bytes).toBeLessThan(BOUND);
    },
    120_000,
  );
});
