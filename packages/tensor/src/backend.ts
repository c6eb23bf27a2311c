import { InvalidOptionError } from './errors.js';
import { compileWasmModule, wasmLoadError, wasmModule } from './wasm/loader.js';

/**
 * Where optimizer kernels run:
 * - `'js'`: the plain TypeScript kernels of `kernels/` (portable, and the
 *   reference the WebAssembly kernels are tested against);
 * - `'wasm'`: the WebAssembly SIMD kernels, over parameters and state moved
 *   into one contiguous region of wasm memory per parameter group.
 */
export type Backend = 'js' | 'wasm';

/** A backend, or `'auto'`: `'wasm'` where WebAssembly SIMD is available, else `'js'`. */
export type BackendOption = Backend | 'auto';

const OPTIONS: readonly BackendOption[] = ['js', 'wasm', 'auto'];
let defaultBackend: BackendOption = 'js';

/**
 * Set the backend that optimizers created from now on use when their
 * `backend` option is not given. The initial default is `'js'`.
 *
 * @example
 * ```ts
 * import { setDefaultBackend, wasmAvailable } from '@opt/tensor';
 * if (wasmAvailable()) setDefaultBackend('wasm');
 * ```
 */
export function setDefaultBackend(backend: BackendOption): void {
  if (!OPTIONS.includes(backend)) {
    throw new InvalidOptionError('backend', backend, "one of 'js', 'wasm', 'auto'", 'setDefaultBackend');
  }
  defaultBackend = backend;
}

/** The backend optimizers use when their `backend` option is not given. */
export function getDefaultBackend(): BackendOption {
  return defaultBackend;
}

/**
 * Whether the WebAssembly SIMD kernels can run here: the engine has
 * WebAssembly, validates a SIMD (v128) module, and compiles the kernel module
 * synchronously. In a browser's main thread, where synchronous compilation of
 * modules this size is refused, this is false until {@link initWasm} resolved.
 */
export function wasmAvailable(): boolean {
  return wasmModule() !== null;
}

/**
 * Compile the kernel module asynchronously and cache it; needed once before
 * using the wasm backend on a browser's main thread, harmless elsewhere.
 * Resolves to {@link wasmAvailable}'s answer.
 */
export async function initWasm(): Promise<boolean> {
  return compileWasmModule();
}

/**
 * Resolve a backend option (or the default, when `undefined`) to the backend
 * to use: `'auto'` picks `'wasm'` when available.
 *
 * @param option - the user's option.
 * @param where - who asks, for the error message.
 * @throws {@link InvalidOptionError} for an unknown option, or for `'wasm'` where it is unavailable.
 */
export function resolveBackend(option: BackendOption | undefined, where: string): Backend {
  const chosen = option ?? defaultBackend;
  if (!OPTIONS.includes(chosen)) throw new InvalidOptionError('backend', chosen, "one of 'js', 'wasm', 'auto'", where);
  if (chosen === 'js') return 'js';
  if (wasmAvailable()) return 'wasm';
  if (chosen === 'auto') return 'js';
  const why = wasmLoadError();
  throw new InvalidOptionError(
    'backend',
    'wasm',
    `'js' or 'auto': WebAssembly SIMD is not available here${why instanceof Error ? ` (${why.message}; in a browser's main thread, await initWasm() first)` : ''}`,
    where,
  );
}
