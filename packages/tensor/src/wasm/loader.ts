import { WASM_MODULE_BASE64, WASM_SHARED_MODULE_BASE64 } from './module.generated.js';
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
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
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
  /** Adadelta; args: lr, rho, eps, weightDecay. */
  adadeltaF32(p: number, g: number, squareAvg: number, accDelta: number, n: number, args: number, maximize: number): void;
  /** Adadelta; args: lr, rho, eps, weightDecay. */
  adadeltaF64(p: number, g: number, squareAvg: number, accDelta: number, n: number, args: number, maximize: number): void;
  /** Adamax; args: clr, beta1, beta2, eps, weightDecay. */
  adamaxF32(p: number, g: number, m: number, u: number, n: number, args: number, maximize: number): void;
  /** Adamax; args: clr, beta1, beta2, eps, weightDecay. */
  adamaxF64(p: number, g: number, m: number, u: number, n: number, args: number, maximize: number): void;
  /** NAdam; args: beta1, beta2, bc2, eps, gradCoef, momentumCoef, weightDecay. */
  nadamF32(p: number, g: number, m: number, v: number, n: number, args: number, maximize: number): void;
  /** NAdam; args: beta1, beta2, bc2, eps, gradCoef, momentumCoef, weightDecay. */
  nadamF64(p: number, g: number, m: number, v: number, n: number, args: number, maximize: number): void;
  /** RAdam; args: beta1, beta2, stepSize, eps, weightDecay. */
  radamF32(p: number, g: number, m: number, v: number, n: number, args: number, rectified: number, maximize: number): void;
  /** RAdam; args: beta1, beta2, stepSize, eps, weightDecay. */
  radamF64(p: number, g: number, m: number, v: number, n: number, args: number, rectified: number, maximize: number): void;
  /** Rprop; args: etaminus, etaplus, minStep, maxStep. */
  rpropF32(p: number, g: number, prev: number, stepSize: number, n: number, args: number, maximize: number): void;
  /** Rprop; args: etaminus, etaplus, minStep, maxStep. */
  rpropF64(p: number, g: number, prev: number, stepSize: number, n: number, args: number, maximize: number): void;
  /** LAMB moments and direction u (into the scratch `u`); returns Σ u² (index order); args: beta1, beta2, bc1, bc2, eps, weightDecay. */
  lambDirectionF32(p: number, g: number, m: number, v: number, u: number, n: number, args: number, maximize: number): number;
  /** LAMB moments and direction u (into the scratch `u`); returns Σ u² (index order); args: beta1, beta2, bc1, bc2, eps, weightDecay. */
  lambDirectionF64(p: number, g: number, m: number, v: number, u: number, n: number, args: number, maximize: number): number;
  /** LAMB update p ← p − scale·u; args: scale (= lr·trust ratio). */
  lambApplyF32(p: number, u: number, n: number, args: number): void;
  /** LAMB update p ← p − scale·u; args: scale (= lr·trust ratio). */
  lambApplyF64(p: number, u: number, n: number, args: number): void;
  /** LARS update after the trust ratio; args: scaled (= lr·ratio), momentum, weightDecay. */
  larsF32(p: number, g: number, buf: number, n: number, args: number, nesterov: number, maximize: number): void;
  /** LARS update after the trust ratio; args: scaled (= lr·ratio), momentum, weightDecay. */
  larsF64(p: number, g: number, buf: number, n: number, args: number, nesterov: number, maximize: number): void;
  /** Adafactor, factored (rank ≥ 2; scratch: ≥ cols float64s); per parameter, not splittable; args: rho, w, eps1, eps2, d, decay, beta1. */
  adafactorFactoredF32(p: number, g: number, rowVar: number, colVar: number, expAvg: number, scratch: number, n: number, args: number, rows: number, cols: number, maximize: number): void;
  /** Adafactor, factored (rank ≥ 2; scratch: ≥ cols float64s); per parameter, not splittable; args: rho, w, eps1, eps2, d, decay, beta1. */
  adafactorFactoredF64(p: number, g: number, rowVar: number, colVar: number, expAvg: number, scratch: number, n: number, args: number, rows: number, cols: number, maximize: number): void;
  /** Adafactor, rank ≤ 1 (whole variance); per parameter, not splittable; args: rho, w, eps1, eps2, d, decay, beta1. */
  adafactorVectorF32(p: number, g: number, variance: number, expAvg: number, n: number, args: number, maximize: number): void;
  /** Adafactor, rank ≤ 1 (whole variance); per parameter, not splittable; args: rho, w, eps1, eps2, d, decay, beta1. */
  adafactorVectorF64(p: number, g: number, variance: number, expAvg: number, n: number, args: number, maximize: number): void;
  /** Σ x² in float64, in index order: bit for bit the JS `sumOfSquares`. */
  sumsqOrderedF32(x: number, n: number): number;
  /** Σ x² in float64, in index order: bit for bit the JS `sumOfSquares`. */
  sumsqOrderedF64(x: number, n: number): number;
  /** x ← min(maxNorm/(‖x‖₂ + 1e-6), 1)·x; returns ‖x‖₂ before clipping; not splittable; args: maxNorm. */
  clipNormF32(x: number, n: number, args: number): number;
  /** x ← min(maxNorm/(‖x‖₂ + 1e-6), 1)·x; returns ‖x‖₂ before clipping; not splittable; args: maxNorm. */
  clipNormF64(x: number, n: number, args: number): number;
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

let sharedCompiled: object | null = null;

/**
 * The kernel module's shared-memory variant (same kernels, built to import a
 * shared `env.memory`), compiled asynchronously and cached; `null` where
 * WebAssembly SIMD or the threads proposal (shared memory, atomics) is missing.
 * Used by the thread pool, which instantiates it once per thread over one
 * shared memory.
 */
export async function compileSharedWasmModule(): Promise<object | null> {
  if (sharedCompiled !== null) return sharedCompiled;
  const wasm = api();
  if (wasm === undefined || !simdSupported()) return null;
  try {
    sharedCompiled = await wasm.compile(decodeBase64(WASM_SHARED_MODULE_BASE64));
  } catch (e) {
    lastError = e;
  }
  return sharedCompiled;
}

/**
 * A new shared WebAssembly memory of `initialPages` pages, growable up to
 * `maximumPages` (64 KiB each), or `null` where the engine cannot create one
 * (no threads support, or a browser page that is not cross-origin isolated).
 */
export function createSharedMemory(initialPages: number, maximumPages: number): WasmMemory | null {
  const wasm = api();
  if (wasm === undefined || typeof wasm.Memory !== 'function') return null;
  try {
    return new wasm.Memory({ initial: initialPages, maximum: maximumPages, shared: true });
  } catch (e) {
    lastError = e;
    return null;
  }
}

/**
 * An instance of the shared-memory variant (compiled by
 * {@link compileSharedWasmModule}) over `memory`: the kernels then read and write
 * that memory, which other threads' instances see too.
 */
export function instantiateSharedKernels(module: object, memory: WasmMemory): WasmKernelExports | null {
  const wasm = api();
  if (wasm === undefined) return null;
  return new wasm.Instance(module, { env: { memory } }).exports as unknown as WasmKernelExports;
}
