import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidOptionError, StateDictError } from '@opt/tensor';
import {
  UnknownWeightsError,
  type WeightsMetadata,
  availableWeights,
  base64ToBytes,
  bytesToBase64,
  decodeWeights,
  encodeWeights,
  getWeightsRecord,
  loadWeights,
  mlpLearnedOptimizerFactory,
  registerWeights,
  validateWeightsRecord,
} from '../src/index';

const factory = mlpLearnedOptimizerFactory();

function metadata(name: string): WeightsMetadata {
  return {
    name,
    version: 1,
    arch: factory.arch,
    featureSpec: factory.featureSpec,
    trainedOn: { family: 'unit-test', seeds: [0, 1] },
    horizon: 100,
    metaSteps: 0,
    estimator: 'es',
    seed: 0,
    command: 'jest',
    gitCommit: '0000000',
    createdAt: '2026-01-01T00:00:00Z',
    evalSummary: { winRate: null },
  };
}

describe('weights format', () => {
  test('base64 matches the RFC 4648 test vectors and round-trips every length', () => {
    const vectors: Array<[string, string]> = [
      ['', ''],
      ['f', 'Zg=='],
      ['fo', 'Zm8='],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg=='],
      ['fooba', 'Zm9vYmE='],
      ['foobar', 'Zm9vYmFy'],
    ];
    for (const [plain, encoded] of vectors) {
      const bytes = Uint8Array.from(plain, (c) => c.charCodeAt(0));
      expect(bytesToBase64(bytes)).toBe(encoded);
      expect(Array.from(base64ToBytes(encoded))).toEqual(Array.from(bytes));
    }
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(Array.from(base64ToBytes(bytesToBase64(all)))).toEqual(Array.from(all));
    expect(() => base64ToBytes('abc')).toThrow(StateDictError);
    expect(() => base64ToBytes('ab!d')).toThrow(StateDictError);
  });

  test('float64 records round-trip exactly; float32 records round to float32', () => {
    const theta = Float64Array.from({ length: factory.metaParamCount }, (_, i) => Math.sin(i) / 3);
    expect(Array.from(decodeWeights(encodeWeights(theta, metadata('a'), 'float64')))).toEqual(Array.from(theta));
    const f32 = decodeWeights(encodeWeights(theta, metadata('b'), 'float32'));
    expect(Array.from(f32)).toEqual(Array.from(Float32Array.from(theta)));
    // The JSON text of a record is its committed form.
    const record = JSON.parse(JSON.stringify(encodeWeights(theta, metadata('c'))));
    expect(validateWeightsRecord(record).metaParamCount).toBe(theta.length);
  });

  test('malformed records are refused with a StateDictError naming the field', () => {
    const good = encodeWeights(factory.initialMetaParams(), metadata('m'));
    expect(() => validateWeightsRecord({ ...good, format: 2 })).toThrow(/format/);
    expect(() => validateWeightsRecord({ ...good, metaParamCount: good.metaParamCount + 1 })).toThrow(/metaParamCount/);
    expect(() => validateWeightsRecord({ ...good, dtype: 'int8' })).toThrow(/dtype/);
    const { featureSpec: _f, ...missing } = good;
    expect(() => validateWeightsRecord(missing)).toThrow(/featureSpec/);
    expect(() => encodeWeights(new Float64Array([NaN]), metadata('nan'))).toThrow(StateDictError);
  });

  test('loadWeights resolves untrained, registered names, records and vectors, checking arch and length', () => {
    const untrained = loadWeights('untrained', factory);
    expect(Array.from(untrained.metaParams)).toEqual(Array.from(factory.initialMetaParams()));
    const theta = Float64Array.from({ length: factory.metaParamCount }, (_, i) => i / 1000);
    registerWeights(encodeWeights(theta, metadata('unit-test-weights'), 'float64'));
    expect(availableWeights()[0]).toBe('untrained');
    expect(availableWeights()).toContain('unit-test-weights');
    expect(Array.from(loadWeights('unit-test-weights', factory).metaParams)).toEqual(Array.from(theta));
    expect(loadWeights(theta, factory).metaParams).toBe(theta);
    expect(() => loadWeights(new Float64Array(3), factory)).toThrow(StateDictError);
    const other = encodeWeights(new Float64Array(4), { ...metadata('other'), arch: 'lstm' });
    expect(() => loadWeights(other, factory)).toThrow(/architecture lstm/);
    expect(() => registerWeights(encodeWeights(theta, metadata('untrained')))).toThrow(InvalidOptionError);
    let caught: unknown;
    try {
      loadWeights('mlp-hybrid-v999', factory);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(UnknownWeightsError);
    expect((caught as UnknownWeightsError).available).toEqual(availableWeights());
  });

  test('every committed weights/<name>.json is registered and equal to its embedded TypeScript record', () => {
    const dir = join(__dirname, '..', 'weights');
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
    const committed = files.map((f) => validateWeightsRecord(JSON.parse(readFileSync(join(dir, f), 'utf8')), f));
    for (const record of committed) expect(getWeightsRecord(record.name)).toEqual(record);
    // And conversely, nothing is shipped without its committed JSON record.
    const shipped = availableWeights().filter((n) => n !== 'untrained' && n !== 'unit-test-weights');
    expect(shipped.sort()).toEqual(committed.map((r) => r.name).sort());
  });
});
