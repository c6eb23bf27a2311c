import { InvalidOptionError } from '@opt/tensor';
import { CryptoRandomSource, FixedSizeBatchIterator, PoissonBatchIterator, SeededRandomSource, createRandomSource } from '../src/index';

describe('PoissonBatchIterator', () => {
  test('batch sizes average qN and one pass has floor(1/q) logical steps', () => {
    const sampler = new PoissonBatchIterator({ dataSize: 500, sampleRate: 0.02, noise: 'seeded', seed: 3 });
    expect(sampler.steps).toBe(50);
    expect(sampler.expectedBatchSize).toBeCloseTo(10, 12);
    let total = 0;
    let count = 0;
    for (let pass = 0; pass < 8; pass++) {
      for (const b of sampler) {
        total += b.size;
        count++;
        expect(b.sampling).toBe('poisson');
        for (let i = 1; i < b.size; i++) expect(b.indices[i]!).toBeGreaterThan(b.indices[i - 1]!);
      }
    }
    expect(count).toBe(400);
    // Binomial(500, 0.02) mean 10, std of the mean over 400 draws ≈ 0.16.
    expect(Math.abs(total / count - 10)).toBeLessThan(0.8);
  });

  test('empty batches are yielded with size 0 and still end their logical step', () => {
    const sampler = new PoissonBatchIterator({ dataSize: 20, sampleRate: 0.01, steps: 200, noise: 'seeded', seed: 1 });
    const batches = [...sampler];
    const empty = batches.filter((b) => b.size === 0);
    expect(empty.length).toBeGreaterThan(100);
    empty.forEach((b) => expect(b.lastPhysical).toBe(true));
    expect(new Set(batches.map((b) => b.step)).size).toBe(200);
  });

  test('a logical batch above maxPhysicalBatchSize is split into virtual steps', () => {
    const sampler = new PoissonBatchIterator({ dataSize: 400, sampleRate: 0.5, noise: 'seeded', seed: 2, maxPhysicalBatchSize: 64 });
    const parts = sampler.nextLogicalBatch();
    expect(parts.length).toBe(Math.ceil(parts[0]!.logicalSize / 64));
    expect(parts.reduce((s, b) => s + b.size, 0)).toBe(parts[0]!.logicalSize);
    parts.forEach((b, k) => {
      expect(b.size).toBeLessThanOrEqual(64);
      expect(b.lastPhysical).toBe(k === parts.length - 1);
      expect(b.step).toBe(0);
    });
  });

  test('rates outside (0, 1] are typed errors', () => {
    expect(() => new PoissonBatchIterator({ dataSize: 10, sampleRate: 0 })).toThrow(InvalidOptionError);
    expect(() => new PoissonBatchIterator({ dataSize: 10, sampleRate: 1.01 })).toThrow(/sampleRate/);
    expect(() => new PoissonBatchIterator({ dataSize: 10, expectedBatchSize: 11 })).toThrow(/expectedBatchSize/);
    expect(() => new PoissonBatchIterator({ dataSize: 10 })).toThrow(InvalidOptionError);
  });

  test('a seeded sampler restored from its state dict draws the same batches', () => {
    const a = new PoissonBatchIterator({ dataSize: 100, sampleRate: 0.1, noise: 'seeded', seed: 5 });
    a.nextLogicalBatch();
    const saved = JSON.parse(JSON.stringify(a.stateDict()));
    const next = a.nextLogicalBatch()[0]!;
    const b = new PoissonBatchIterator({ dataSize: 100, sampleRate: 0.1, noise: 'seeded', seed: 99 });
    b.loadStateDict(saved);
    const again = b.nextLogicalBatch()[0]!;
    expect(Array.from(again.indices)).toEqual(Array.from(next.indices));
    expect(again.step).toBe(1);
  });
});

describe('FixedSizeBatchIterator', () => {
  test('every logical batch holds exactly B distinct examples', () => {
    const sampler = new FixedSizeBatchIterator({ dataSize: 30, batchSize: 7, noise: 'seeded', seed: 4 });
    expect(sampler.steps).toBe(5);
    const seen = new Set<number>();
    for (const b of sampler) {
      expect(b.size).toBe(7);
      expect(new Set(b.indices).size).toBe(7);
      expect(b.sampling).toBe('fixed-size');
      b.indices.forEach((i) => seen.add(i));
    }
    expect(seen.size).toBeGreaterThan(15);
    expect(() => new FixedSizeBatchIterator({ dataSize: 5, batchSize: 6 })).toThrow(/batchSize/);
  });
});

describe('random sources', () => {
  test('the Web Crypto source draws standard normals (mean 0, variance 1), also in secure mode', () => {
    for (const source of [new CryptoRandomSource(), new CryptoRandomSource({ secure: true })]) {
      const x = new Float64Array(40000);
      source.addNoise(x, 1);
      let s = 0;
      let ss = 0;
      for (const v of x) {
        s += v;
        ss += v * v;
      }
      const mean = s / x.length;
      expect(Math.abs(mean)).toBeLessThan(0.03);
      expect(Math.abs(ss / x.length - mean * mean - 1)).toBeLessThan(0.05);
      expect(source.private).toBe(true);
      expect(source.getState()).toBeNull();
      const u = source.uniform();
      expect(u >= 0 && u < 1).toBe(true);
    }
  });

  test('the seeded source is reproducible, restorable and marked not private', () => {
    const a = new SeededRandomSource(1);
    const b = createRandomSource('seeded', 1);
    expect(a.normal()).toBe(b.normal());
    const state = a.getState();
    const next = a.normal();
    b.setState(state);
    expect(b.normal()).toBe(next);
    expect(a.private).toBe(false);
    expect(() => createRandomSource('nope' as never)).toThrow(InvalidOptionError);
  });
});
