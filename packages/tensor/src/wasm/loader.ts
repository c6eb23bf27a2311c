import { WASM_MODULE_BASE64 } from './module.generated.js';
import { decodeBase64 } from './base64.js';

/**
 * The few members of the `WebAssembly` namespace the loader uses. Declared
 * here, and the namespace read from `globalThis`, because the package compiles
 * against the bare ES2022 library (no DOM or Node typings) and must feature-
 * detect WebAssembly rather than assume it.
 */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports?: object) => { readonly exports: Record<string, unknown> };
  validate(bytes: Uint8Array): boolean;
  compile(bytes: Uint8Array): Promise<object>;
}

/** A WebAssembly linear memory, as the arena sees it. */
export interface WasmMemory {
  /** The current buffer: a new object after every successful `grow`. */
  readonly buffer: ArrayBuffer;
  /** Add `pages` 64 KiB pages; returns the old size in pages; throws a RangeError when it cannot. */
  grow(pages: number): number;
}

/**
 * The raw exports of the kernel module. Pointers are byte offsets into
 * `memory`, `n` an element count, an absent optional buffer is pointer 0 and a
 * flag is 0 or 1. Scalar coefficients are read from consecutive float64s at
 * `args` (see {@link WasmArena.scalars}), in the order listed per kernel, so
 * that calls pass small integers only and never box a double. Each kernel is the fused, in-place SIMD (f32x4 / f64x2,
 * scalar tail) twin of the JS kernel of the same name in `kernels/`, with the
 * same operation order; the F32 variants compute in float32 arithmetic (as
 * PyTorch's float32 kernels do), the F64 variants in float64, bit-for-bit with
 * the JS reference.
 */
export interface WasmKernelExports {
  readonly memory: WasmMemory;
  heapBase(): number;
  /** SGD; args: lr, momentum, dampening, weightDecay. */
  sgdF32(p: number, g: number, buf: number, n: number, args: number, nesterov: number, maximize: number, first: number): void;
  /** SGD; args: lr, momentum, dampening, weightDecay. */
  sgdF64(p: number, g: number, buf: number, n: number, args: number, nesterov: number, maximize: number, first: number): void;
  /** Adam/AdamW/AMSGrad; args: stepSize, sqrtBc2, beta1, beta2, eps, l2, decay. */
  adamF32(p: number, g: number, m: number, v: number, vMax: number, n: number, args: number, maximize: number): void;
  /** Adam/AdamW/AMSGrad; args: stepSize, sqrtBc2, beta1, beta2, eps, l2, decay. */
  adamF64(p: number, g: number, m: number, v: number, vMax: number, n: number, args: number, maximize: number): void;
  /** Lion; args: lr, beta1, beta2, decay. */
  lionF32(p: number, g: number, m: number, n: number, args: number, maximize: number): void;
  /** Lion; args: lr, beta1, beta2, decay. */
  lionF64(p: number, g: number, m: number, n: number, args: number, maximize: number): void;
  /** Adagrad; args: clr, eps, weightDecay. */
  adagradF32(p: number, g: number, sum: number, n: number, args: number, maximize: number): void;
  /** Adagrad; args: clr, eps, weightDecay. */
  adagradF64(p: number, g: number, sum: number, n: number, args: number, maximize: number): void;
  /** RMSprop; args: lr, alpha, eps, weightDecay, momentum. */
  rmspropF32(p: number, g: number, squareAvg: number, gradAvg: number, buf: number, n: number, args: number, maximize: number): void;
  /** RMSprop; args: lr, alpha, eps, weightDecay, momentum. */
  rmspropF64(p: number, g: number, squareAvg: number, gradAvg: number, buf: number, n: number, args: number, maximize: number): void;
  sumsqF32(x: number, n: number): number;
  sumsqF64(x: number, n: number): number;
  maxabsF32(x: number, n: number): number;
  maxabsF64(x: number, n: number): number;
  nonfiniteF32(x: number, n: number): number;
  nonfiniteF64(x: number, n: number): number;
  /** x ← a·x; args: a. */
  scaleF32(x: number, n: number, args: number): void;
  /** x ← a·x; args: a. */
  scaleF64(x: number, n: number, args: number): void;
}

// (module (func (result v128) (v128.const i32x4 0 0 0 0))): validates only where SIMD is supported.
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03, 0x02, 0x01, 0x00, 0x0a,
  0x16, 0x01, 0x14, 0x00, 0xfd, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x0b,
]);

let compiled: object | null = null;
let lastError: unknown = null;

function api(): WasmApi | undefined {
  const candidate = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  return typeof candidate === 'object' && candidate !== null && typeof candidate.Module === 'function' ? candidate : undefined;
}

/** Whether the engine runs WebAssembly with the fixed-width SIMD proposal (v128). */
export function simdSupported(): boolean {
  const wasm = api();
  if (wasm === undefined) return false;
  try {
    return wasm.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

/**
 * The compiled kernel module, compiled synchronously on first use and cached;
 * `null` when WebAssembly or SIMD is missing, or when the engine refuses a
 * synchronous compile (Chrome's main thread does above 4 KiB: call
 * {@link compileWasmModule} once, and await it, to load it there).
 */
export function wasmModule(): object | null {
  if (compiled !== null) return compiled;
  const wasm = api();
  if (wasm === undefined || !simdSupported()) return null;
  try {
    compiled = new wasm.Module(decodeBase64(WASM_MODULE_BASE64));
    lastError = null;
  } catch (e) {
    lastError = e;
  }
  return compiled;
}

/**
 * Compile the kernel module asynchronously (where synchronous compilation is
 * not allowed, e.g. a browser's main thread) and cache it, so that every later
 * synchronous load succeeds. Resolves to whether the module is available.
 */
export async function compileWasmModule(): Promise<boolean> {
  if (compiled !== null) return true;
  const wasm = api();
  if (wasm === undefined || !simdSupported()) return false;
  try {
    compiled = await wasm.compile(decodeBase64(WASM_MODULE_BASE64));
    lastError = null;
  } catch (e) {
    lastError = e;
  }
  return compiled !== null;
}

/** Why the last compile attempt failed, if it did (for error messages). */
export function wasmLoadError(): unknown {
  return lastError;
}

/** A fresh instance of the kernel module (its own memory), or `null` when the module is unavailable. */
export function instantiateKernels(): WasmKernelExports | null {
  const module = wasmModule();
  const wasm = api();
  if (module === null || wasm === undefined) return null;
  return new wasm.Instance(module, {}).exports as unknown as WasmKernelExports;
}
