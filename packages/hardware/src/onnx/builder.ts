import { InvalidOptionError } from '@opt/tensor';
import {
  type AttributeInput,
  type Dim,
  type ElemType,
  type GraphSpec,
  type ModelSpec,
  type NodeSpec,
  type OpsetSpec,
  type TensorSpec,
  type TensorValues,
  type ValueInfoSpec,
  encodeModel,
} from './model.js';

/** Options of {@link GraphBuilder.node}. */
export interface NodeOptions {
  /** Output names, or how many outputs to create with generated names (default 1). */
  outputs?: number | readonly string[];
  /** Node name (default generated). */
  name?: string;
  /** Operator domain (default the standard domain `''`). */
  domain?: string;
}

/** Options of {@link GraphBuilder.toModel}. */
export interface ToModelOptions {
  /** The standard-domain opset (default 17). */
  opset?: number;
  /** IR version (default 8). */
  irVersion?: number;
  /** More operator sets to import (custom domains). */
  extraOpsets?: readonly OpsetSpec[];
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  metadata?: Readonly<Record<string, string>>;
}

/**
 * A small typed builder of ONNX graphs. Values are referred to by name
 * (strings): `input` and `initializer` declare named values, `node` appends an
 * operator and returns its output names, `output` declares graph outputs, and
 * `toModel` serialises the whole model.
 *
 * @example
 * ```ts
 * const g = new GraphBuilder('axpy');
 * const x = g.input('x', 'float32', ['n']);
 * const y = g.input('y', 'float32', ['n']);
 * const a = g.scalar('a', 'float32', 2);
 * const ax = g.op('Mul', [a, x]);
 * g.node('Add', [ax, y], {}, { outputs: ['z'] });
 * g.output('z', 'float32', ['n']);
 * const bytes = g.toModel({ opset: 17, irVersion: 8 }); // Uint8Array for InferenceSession.create
 * ```
 */
export class GraphBuilder {
  /** Graph name. */
  readonly name: string;
  private readonly nodes: NodeSpec[] = [];
  private readonly inputs: ValueInfoSpec[] = [];
  private readonly outputs: ValueInfoSpec[] = [];
  private readonly initializers: TensorSpec[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  constructor(name: string) {
    this.name = name;
  }

  private claim(name: string): string {
    if (this.names.has(name)) throw new InvalidOptionError('name', name, 'a name not used before in this graph', `GraphBuilder(${this.name})`);
    this.names.add(name);
    return name;
  }

  /** A fresh value name with the given prefix. */
  fresh(prefix = 't'): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.names.has(name));
    this.names.add(name);
    return name;
  }

  /** Declare a graph input; dims may be symbolic (`'n'`). Returns its name. */
  input(name: string, elemType: ElemType, dims: readonly Dim[]): string {
    this.inputs.push({ name: this.claim(name), elemType, dims: [...dims] });
    return name;
  }

  /** Add a constant tensor (initializer). Returns its name. */
  initializer(name: string, elemType: ElemType, dims: readonly number[], values: TensorValues): string {
    this.initializers.push({ name: this.claim(name), elemType, dims: [...dims], values });
    return name;
  }

  /** Add a scalar constant (a rank-0 initializer). Returns its name. */
  scalar(name: string, elemType: ElemType, value: number): string {
    return this.initializer(name, elemType, [], [value]);
  }

  /**
   * Append a node. Returns its output names (generated unless given).
   *
   * @param op - the operator type (`'Add'`, `'Sqrt'`, ...).
   * @param inputs - input value names; `''` marks an omitted optional input.
   * @param attrs - attributes, see {@link AttributeInput}.
   */
  node(op: string, inputs: readonly string[], attrs: Readonly<Record<string, AttributeInput>> = {}, options: NodeOptions = {}): string[] {
    const spec = options.outputs ?? 1;
    const outputs = typeof spec === 'number' ? Array.from({ length: spec }, () => this.fresh(op.toLowerCase())) : spec.map((n) => this.claim(n));
    const node: NodeSpec = {
      opType: op,
      inputs: [...inputs],
      outputs,
      name: options.name ?? this.fresh(`node_${op}`),
      ...(options.domain !== undefined ? { domain: options.domain } : {}),
      ...(Object.keys(attrs).length > 0 ? { attributes: { ...attrs } } : {}),
    };
    this.nodes.push(node);
    return outputs;
  }

  /** Append a one-output node and return that output's name (optionally naming it). */
  op(op: string, inputs: readonly string[], attrs: Readonly<Record<string, AttributeInput>> = {}, outputName?: string): string {
    return this.node(op, inputs, attrs, outputName === undefined ? {} : { outputs: [outputName] })[0]!;
  }

  /**
   * Rename a value everywhere it occurs (its producer and every consumer), so
   * a computed value can become a named graph output without an `Identity` copy.
   */
  rename(from: string, to: string): string {
    this.claim(to);
    for (let i = 0; i < this.nodes.length; i++) {
      const n = this.nodes[i]!;
      if (n.outputs.includes(from) || n.inputs.includes(from)) {
        this.nodes[i] = { ...n, inputs: n.inputs.map((x) => (x === from ? to : x)), outputs: n.outputs.map((x) => (x === from ? to : x)) };
      }
    }
    this.names.delete(from);
    return to;
  }

  /** Declare an existing value as a graph output. */
  output(name: string, elemType: ElemType, dims: readonly Dim[]): void {
    this.outputs.push({ name, elemType, dims: [...dims] });
  }

  /** The graph as plain data (for inspection or {@link encodeModel}). */
  toGraph(): GraphSpec {
    return {
      name: this.name,
      nodes: [...this.nodes],
      inputs: [...this.inputs],
      outputs: [...this.outputs],
      initializers: [...this.initializers],
    };
  }

  /** The model as plain data. */
  toModelSpec(options: ToModelOptions = {}): ModelSpec {
    return {
      graph: this.toGraph(),
      irVersion: options.irVersion ?? 8,
      opsetImports: [{ domain: '', version: options.opset ?? 17 }, ...(options.extraOpsets ?? [])],
      producerName: options.producerName ?? '@opt/hardware',
      ...(options.producerVersion !== undefined ? { producerVersion: options.producerVersion } : {}),
      ...(options.docString !== undefined ? { docString: options.docString } : {}),
      ...(options.metadata !== undefined ? { metadata: options.metadata } : {}),
    };
  }

  /** Serialise the model: ONNX protobuf bytes for `InferenceSession.create`. */
  toModel(options: ToModelOptions = {}): Uint8Array {
    return encodeModel(this.toModelSpec(options));
  }
}
