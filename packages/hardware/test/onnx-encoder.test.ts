import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { Attr, GraphBuilder, ONNX_DATA_TYPE, ProtoWriter, encodeModel, type ModelSpec } from '../src/index';

type Long = { toNumber(): number } | number;
const num = (v: Long | null | undefined): number => (v === null || v === undefined ? 0 : typeof v === 'number' ? v : v.toNumber());

function fullModel(): ModelSpec {
  return {
    irVersion: 8,
    producerName: 'test-producer',
    producerVersion: '1.2.3',
    domain: 'org.example',
    modelVersion: 7,
    docString: 'model doc',
    metadata: { author: 'opt', purpose: 'round trip' },
    opsetImports: [
      { domain: '', version: 17 },
      { domain: 'com.example', version: 1 },
    ],
    graph: {
      name: 'everything',
      docString: 'graph doc',
      inputs: [
        { name: 'x', elemType: 'float32', dims: ['n', 3], docString: 'input doc' },
        { name: 'h', elemType: 'float16', dims: [] },
      ],
      outputs: [{ name: 'y', elemType: 'float64', dims: ['n', 3] }],
      valueInfo: [{ name: 'mid', elemType: 'int64', dims: [2] }],
      initializers: [
        { name: 'f32', elemType: 'float32', dims: [2], values: new Float32Array([1.5, -2.25]) },
        { name: 'f64', elemType: 'float64', dims: [1, 2], values: new Float64Array([Math.PI, -1e-300]) },
        { name: 'f16', elemType: 'float16', dims: [2], values: new Uint16Array([0x3c00, 0xc000]) },
        { name: 'bf16', elemType: 'bfloat16', dims: [1], values: new Uint16Array([0x3f80]) },
        { name: 'i64', elemType: 'int64', dims: [3], values: new BigInt64Array([BigInt(-1), BigInt(0), BigInt(2) ** BigInt(40)]) },
      ],
      nodes: [
        {
          opType: 'Custom',
          domain: 'com.example',
          name: 'n0',
          docString: 'node doc',
          inputs: ['x', ''],
          outputs: ['mid', 'y'],
          attributes: {
            an_int: -3,
            a_big: Attr.int(BigInt(2) ** BigInt(40)),
            a_float: Attr.float(0.25),
            some_ints: [1, -2, 3],
            some_floats: Attr.floats([0.5, -1]),
            a_string: 'hello ✓',
            strings: Attr.strings(['a', 'bc']),
            a_tensor: Attr.tensor({ elemType: 'float64', dims: [2], values: new Float64Array([1, 2]) }),
          },
        },
      ],
    },
  };
}

describe('ONNX encoder', () => {
  test('every ModelProto field decodes with the reference decoder (onnx-proto) to what was encoded', () => {
    const m = onnx.ModelProto.decode(encodeModel(fullModel()));
    expect(num(m.irVersion)).toBe(8);
    expect(m.producerName).toBe('test-producer');
    expect(m.producerVersion).toBe('1.2.3');
    expect(m.domain).toBe('org.example');
    expect(num(m.modelVersion)).toBe(7);
    expect(m.docString).toBe('model doc');
    expect(m.metadataProps.map((p) => [p.key, p.value])).toEqual([
      ['author', 'opt'],
      ['purpose', 'round trip'],
    ]);
    expect(m.opsetImport.map((o) => [o.domain, num(o.version)])).toEqual([
      ['', 17],
      ['com.example', 1],
    ]);
    const g = m.graph!;
    expect(g.name).toBe('everything');
    expect(g.docString).toBe('graph doc');
    const x = g.input![0]!;
    expect(x.name).toBe('x');
    expect(x.docString).toBe('input doc');
    expect(x.type!.tensorType!.elemType).toBe(ONNX_DATA_TYPE.float32);
    expect(x.type!.tensorType!.shape!.dim!.map((d) => (d.dimParam ? d.dimParam : num(d.dimValue)))).toEqual(['n', 3]);
    expect(g.input![1]!.type!.tensorType!.elemType).toBe(ONNX_DATA_TYPE.float16);
    expect(g.input![1]!.type!.tensorType!.shape!.dim!).toHaveLength(0);
    expect(g.output![0]!.type!.tensorType!.elemType).toBe(ONNX_DATA_TYPE.float64);
    expect(g.valueInfo![0]!.name).toBe('mid');
    expect(g.valueInfo![0]!.type!.tensorType!.elemType).toBe(ONNX_DATA_TYPE.int64);

    const inits = Object.fromEntries(g.initializer!.map((t) => [t.name, t]));
    const raw = (name: string): DataView => {
      const r = inits[name]!.rawData!;
      return new DataView(r.buffer, r.byteOffset, r.byteLength);
    };
    expect(inits.f32!.dims.map(num)).toEqual([2]);
    expect(inits.f32!.dataType).toBe(1);
    expect([raw('f32').getFloat32(0, true), raw('f32').getFloat32(4, true)]).toEqual([1.5, -2.25]);
    expect(inits.f64!.dims.map(num)).toEqual([1, 2]);
    expect(inits.f64!.dataType).toBe(11);
    expect([raw('f64').getFloat64(0, true), raw('f64').getFloat64(8, true)]).toEqual([Math.PI, -1e-300]);
    expect(inits.f16!.dataType).toBe(10);
    expect([raw('f16').getUint16(0, true), raw('f16').getUint16(2, true)]).toEqual([0x3c00, 0xc000]);
    expect(inits.bf16!.dataType).toBe(16);
    expect(raw('bf16').getUint16(0, true)).toBe(0x3f80);
    expect(inits.i64!.dataType).toBe(7);
    expect([0, 1, 2].map((i) => raw('i64').getBigInt64(i * 8, true))).toEqual([BigInt(-1), BigInt(0), BigInt(2) ** BigInt(40)]);

    const n = g.node![0]!;
    expect(n.opType).toBe('Custom');
    expect(n.domain).toBe('com.example');
    expect(n.name).toBe('n0');
    expect(n.docString).toBe('node doc');
    expect(n.input).toEqual(['x', '']);
    expect(n.output).toEqual(['mid', 'y']);
    const attrs = Object.fromEntries(n.attribute!.map((a) => [a.name, a]));
    const T = onnx.AttributeProto.AttributeType;
    expect(attrs.an_int!.type).toBe(T.INT);
    expect(num(attrs.an_int!.i)).toBe(-3);
    expect(num(attrs.a_big!.i)).toBe(2 ** 40);
    expect(attrs.a_float!.type).toBe(T.FLOAT);
    expect(attrs.a_float!.f).toBe(0.25);
    expect(attrs.some_ints!.type).toBe(T.INTS);
    expect(attrs.some_ints!.ints.map(num)).toEqual([1, -2, 3]);
    expect(attrs.some_floats!.type).toBe(T.FLOATS);
    expect(attrs.some_floats!.floats).toEqual([0.5, -1]);
    expect(attrs.a_string!.type).toBe(T.STRING);
    expect(new TextDecoder().decode(attrs.a_string!.s!)).toBe('hello ✓');
    expect(attrs.strings!.type).toBe(T.STRINGS);
    expect(attrs.strings!.strings!.map((s: Uint8Array) => new TextDecoder().decode(s))).toEqual(['a', 'bc']);
    expect(attrs.a_tensor!.type).toBe(T.TENSOR);
    expect(attrs.a_tensor!.t!.dataType).toBe(11);
    expect(attrs.a_tensor!.t!.dims.map(num)).toEqual([2]);
  });

  test('negative and large varints use 64-bit two’s complement', () => {
    const w = new ProtoWriter();
    w.varint(-1);
    expect(Array.from(w.finish())).toEqual([255, 255, 255, 255, 255, 255, 255, 255, 255, 1]);
    const w2 = new ProtoWriter();
    w2.varint(300);
    expect(Array.from(w2.finish())).toEqual([0xac, 0x02]);
  });

  test('a float attribute must be written with Attr.float, not as a bare non-integer', () => {
    const g = new GraphBuilder('bad');
    g.input('x', 'float32', [1]);
    g.node('LeakyRelu', ['x'], { alpha: 0.5 }, { outputs: ['y'] });
    g.output('y', 'float32', [1]);
    expect(() => g.toModel()).toThrow(/Attr\.float/);
  });

  test('a built graph with initializers, attributes and symbolic dims runs in onnxruntime-node (CPU)', async () => {
    const g = new GraphBuilder('axpy');
    const x = g.input('x', 'float32', ['n']);
    const y = g.input('y', 'float64', ['n']);
    const a = g.scalar('a', 'float32', 2);
    const ax = g.op('Mul', [a, x]);
    const ax64 = g.op('Cast', [ax], { to: ONNX_DATA_TYPE.float64 });
    const c = g.op('Constant', [], { value: Attr.tensor({ elemType: 'float64', dims: [], values: [0.5] }) });
    const s = g.op('Add', [ax64, y]);
    const lr = g.op('LeakyRelu', [s], { alpha: Attr.float(0.25) });
    g.op('Mul', [lr, c], {}, 'z');
    g.output('z', 'float64', ['n']);
    const session = await ort.InferenceSession.create(g.toModel({ opset: 17, irVersion: 8 }));
    const out = await session.run({
      x: new ort.Tensor('float32', new Float32Array([1, -3]), [2]),
      y: new ort.Tensor('float64', new Float64Array([0.5, 2]), [2]),
    });
    expect(Array.from(out.z!.data as Float64Array)).toEqual([1.25, 0.25 * -4 * 0.5]);
    await session.release();
  });
});
