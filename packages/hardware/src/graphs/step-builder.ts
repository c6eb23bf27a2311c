import { GraphBuilder } from '../onnx/builder.js';
import { type ElemType, ONNX_DATA_TYPE } from '../onnx/model.js';

/** The float types a step graph stores or computes in. */
export type FloatType = 'float32' | 'float64';

/**
 * Element-wise graph writing in one compute type. Stored tensors (parameters,
 * state) may have another type: `load` widens them and `store` rounds a result
 * to the storage type and reloads it, so later uses see the rounded value as
 * `@opt/core`'s kernels do when they re-read a buffer they just wrote.
 */
export class StepBuilder {
  /** The underlying graph. */
  readonly g: GraphBuilder;
  /** The type arithmetic happens in. */
  readonly compute: FloatType;
  /** The type parameters and state are stored in. */
  readonly storage: FloatType;
  private readonly outputs: Array<{ name: string; elemType: ElemType }> = [];
  private constants = 0;

  constructor(name: string, storage: FloatType, compute: FloatType) {
    this.g = new GraphBuilder(name);
    this.storage = storage;
    this.compute = compute;
  }

  /** Declare a 1-D input of length `n` and return it in the compute type. */
  vectorInput(name: string, elemType: ElemType): string {
    this.g.input(name, elemType, ['n']);
    return this.cast(name, elemType, this.compute);
  }

  /** Convert `x` of type `from` to `to` (no node when they are equal). */
  cast(x: string, from: ElemType, to: ElemType): string {
    return from === to ? x : this.g.op('Cast', [x], { to: ONNX_DATA_TYPE[to] });
  }

  /** `a · b` */
  mul(a: string, b: string): string {
    return this.g.op('Mul', [a, b]);
  }

  /** `a + b` */
  add(a: string, b: string): string {
    return this.g.op('Add', [a, b]);
  }

  /** `a − b` */
  sub(a: string, b: string): string {
    return this.g.op('Sub', [a, b]);
  }

  /** `a / b` */
  div(a: string, b: string): string {
    return this.g.op('Div', [a, b]);
  }

  /** `√x` */
  sqrt(x: string): string {
    return this.g.op('Sqrt', [x]);
  }

  /** `−x` */
  neg(x: string): string {
    return this.g.op('Neg', [x]);
  }

  /**
   * Write `x` (compute type) to the graph output `name` in the storage type and
   * return the value later arithmetic must use: the stored value, widened back.
   */
  store(x: string, name: string): string {
    if (this.storage === this.compute) {
      this.g.rename(x, name);
      this.outputs.push({ name, elemType: this.storage });
      return name;
    }
    this.g.op('Cast', [x], { to: ONNX_DATA_TYPE[this.storage] }, name);
    this.outputs.push({ name, elemType: this.storage });
    return this.cast(name, this.storage, this.compute);
  }

  /** Round `x` through the storage type without writing an output (a value the core kernel keeps in a buffer). */
  round(x: string): string {
    return this.storage === this.compute ? x : this.cast(this.cast(x, this.compute, this.storage), this.storage, this.compute);
  }

  /** A scalar constant of the compute type. */
  constant(value: number): string {
    return this.g.scalar(`scalar_constant_${this.constants++}`, this.compute, value);
  }

  /** Add a further output of a given type computed from `x`. */
  extraOutput(x: string, name: string, elemType: ElemType): void {
    this.g.rename(x, name);
    this.outputs.push({ name, elemType });
  }

  /** Declare every stored value as a graph output and serialise the model. */
  finish(): Uint8Array {
    for (const o of this.outputs) this.g.output(o.name, o.elemType, ['n']);
    return this.g.toModel({ opset: 17, irVersion: 8 });
  }
}
