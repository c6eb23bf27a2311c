import { Parameter, getThreadThreshold, initThreads, setThreadThreshold, shutdownThreads, threadPool, threadsAvailable } from '@opt/tensor';
import { Adagrad, Adam, AdamW, Lion, type Optimizer, RMSprop, SGD, type ThreadsSetting } from '../src/index';

const maybe = threadsAvailable() ? describe : describe.skip;

type Make = (params: Parameter[], threads: ThreadsSetting) => Optimizer<object>;

const OPTIMIZERS: Array<[string, Make]> = [
  ['SGD (nesterov)', (p, threads) => new SGD(p, { lr: 0.01, momentum: 0.9, nesterov: true, backend: 'wasm', threads })],
  ['Adam (AMSGrad)', (p, threads) => new Adam(p, { lr: 0.01, amsgrad: true, weightDecay: 0.1, backend: 'wasm', threads })],
  ['AdamW', (p, threads) => new AdamW(p, { lr: 0.01, backend: 'wasm', threads })],
  ['Lion', (p, threads) => new Lion(p, { lr: 0.001, backend: 'wasm', threads })],
  ['Adagrad', (p, threads) => new Adagrad(p, { lr: 0.1, backend: 'wasm', threads })],
  ['RMSprop (centered, momentum)', (p, threads) => new RMSprop(p, { lr: 0.01, centered: true, momentum: 0.5, backend: 'wasm', threads })],
];

function params(): Parameter[] {
  // Odd sizes, both dtypes: the split never lines up with parameter boundaries.
  return [
    new Parameter(Float32Array.from({ length: 3001 }, (_, i) => Math.sin(i)), [3001], 'a'),
    new Parameter(Float32Array.from({ length: 17 }, (_, i) => Math.cos(i)), [17], 'b'),
    new Parameter(Float64Array.from({ length: 2049 }, (_, i) => Math.sin(0.3 * i)), [2049], 'c'),
  ];
}

function train(make: Make, threads: ThreadsSetting, steps: number, between?: (step: number, opt: Optimizer<object>) => Promise<void>): Promise<Parameter[]> {
  const ps = params();
  const opt = make(ps, threads);
  return (async () => {
    for (let t = 0; t < steps; t++) {
      for (const p of ps) p.grad = p.data.map((x, i) => x * 0.5 + Math.sin(t + i));
      opt.step();
      if (between) await between(t, opt);
    }
    return ps;
  })();
}

function sameBits(a: Parameter[], b: Parameter[]): boolean {
  return a.every((p, i) => Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength).equals(Buffer.from(b[i]!.data.buffer, b[i]!.data.byteOffset, b[i]!.data.byteLength)));
}

maybe('optimizers on the thread pool', () => {
  const threshold = getThreadThreshold();

  beforeAll(async () => {
    expect(await initThreads(3)).toBe(true);
    // Split every call, however small, so the test exercises the threaded path quickly.
    setThreadThreshold(0);
  });

  afterAll(async () => {
    setThreadThreshold(threshold);
    await shutdownThreads();
  });

  test.each(OPTIMIZERS)('%s: parameters are bit-identical with threads false, 1, 2, 3 and auto', async (_name, make) => {
    const expected = await train(make, false, 4);
    for (const threads of [1, 2, 3, 'auto'] as const) expect(sameBits(await train(make, threads, 4), expected)).toBe(true);
  });

  test.each(OPTIMIZERS)('%s: moving between the pool and its own memory mid-training changes nothing', async (_name, make) => {
    const expected = await train(make, false, 6);
    const got = await train(make, 'auto', 6, async (t, opt) => {
      if (t === 1) opt.threads = false;
      if (t === 3) opt.threads = 2;
    });
    expect(sameBits(got, expected)).toBe(true);
  });

  test('a pool started or stopped between steps is picked up at the next step', async () => {
    const make = OPTIMIZERS[1]![1];
    const expected = await train(make, 'auto', 5);
    const got = await train(make, 'auto', 5, async (t) => {
      if (t === 1) await shutdownThreads();
      if (t === 3) await initThreads(2);
    });
    expect(threadPool()?.threads).toBe(2);
    expect(sameBits(got, expected)).toBe(true);
    await initThreads(3);
  });

  test('the state dict of a threaded optimizer loads into an unthreaded one and training continues identically', async () => {
    const make = OPTIMIZERS[1]![1];
    const expected = await train(make, false, 4);
    const ps = params();
    const threaded = make(ps, 'auto');
    for (let t = 0; t < 4; t++) {
      for (const p of ps) p.grad = p.data.map((x, i) => x * 0.5 + Math.sin(t + i));
      threaded.step();
      if (t === 1) {
        const plain = make(ps, false);
        plain.loadStateDict(threaded.stateDict());
        for (let u = 2; u < 4; u++) {
          for (const p of ps) p.grad = p.data.map((x, i) => x * 0.5 + Math.sin(u + i));
          plain.step();
        }
        break;
      }
    }
    expect(sameBits(ps, expected)).toBe(true);
  });
});

test('the threads setting is validated', () => {
  const p = new Parameter(new Float32Array(4), [4]);
  expect(() => new Adam([p], { threads: 0 })).toThrow(/threads/);
  expect(() => new Adam([p], { threads: 'many' as unknown as ThreadsSetting })).toThrow(/threads/);
  const opt = new Adam([p], { threads: 2 });
  expect(opt.threads).toBe(2);
  expect(() => {
    opt.threads = 1.5;
  }).toThrow(/threads/);
});
