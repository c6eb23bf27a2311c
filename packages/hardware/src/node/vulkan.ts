import { existsSync, readFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { ExecutionProviderUnavailableError } from '../backends/errors.js';

/** The environment variables that point Dawn (inside onnxruntime-node) at a Vulkan driver. */
export interface VulkanEnvironment {
  /** The ICD manifest(s) the Vulkan loader uses instead of searching the system. */
  VK_ICD_FILENAMES: string;
  /** Library path with the driver's own libraries (Mesa 25's libdrm, an unpacked libvulkan) first. */
  LD_LIBRARY_PATH: string;
}

/** Options of {@link vulkanEnvironment}. */
export interface VulkanEnvironmentOptions {
  /**
   * The folder `scripts/ensure-lavapipe.sh` filled (it writes `env` and `lvp_icd.json` there). Default: the
   * `OPT_LAVAPIPE_DIR` environment variable, else `.cache/lavapipe` under the current directory.
   */
  lavapipeDir?: string;
  /** The environment to extend (default `process.env`); its `LD_LIBRARY_PATH` is kept after the driver's. */
  baseEnv?: Readonly<Record<string, string | undefined>>;
}

/** The default lavapipe folder ({@link VulkanEnvironmentOptions.lavapipeDir}). */
export function defaultLavapipeDir(): string {
  const fromEnv = process.env['OPT_LAVAPIPE_DIR'];
  return fromEnv !== undefined && fromEnv !== '' ? resolve(fromEnv) : resolve('.cache', 'lavapipe');
}

/**
 * The environment that makes onnxruntime-node's WebGPU execution provider run on the Mesa 25 lavapipe software
 * driver prepared by `scripts/ensure-lavapipe.sh` (Debian 12's own Mesa 22.3 lavapipe is rejected by Dawn).
 *
 * These variables must be in the environment when the process STARTS: the dynamic linker reads
 * `LD_LIBRARY_PATH` once, and Dawn reads `VK_ICD_FILENAMES` when onnxruntime first creates a WebGPU session.
 * Spawn the process that loads onnxruntime-node with them:
 *
 * ```ts
 * spawn(process.execPath, ['train.js'], { env: { ...process.env, ...vulkanEnvironment() } });
 * ```
 *
 * @returns the two variables, `LD_LIBRARY_PATH` extended (not replaced).
 * @throws ExecutionProviderUnavailableError (device `'webgpu'`) when the folder has not been prepared.
 */
export function vulkanEnvironment(options: VulkanEnvironmentOptions = {}): VulkanEnvironment {
  const dir = options.lavapipeDir ?? defaultLavapipeDir();
  const envFile = join(dir, 'env');
  if (!existsSync(envFile)) {
    throw new ExecutionProviderUnavailableError('webgpu', `no lavapipe driver prepared in ${dir}: run packages/hardware/scripts/ensure-lavapipe.sh`);
  }
  const values: Record<string, string> = {};
  for (const line of readFileSync(envFile, 'utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) values[line.slice(0, eq)] = line.slice(eq + 1);
  }
  const icd = values['VK_ICD_FILENAMES'];
  const libs = values['LD_LIBRARY_PATH'];
  if (icd === undefined || libs === undefined || !existsSync(icd)) {
    throw new ExecutionProviderUnavailableError('webgpu', `${envFile} is incomplete: run packages/hardware/scripts/ensure-lavapipe.sh again`);
  }
  const base = options.baseEnv ?? process.env;
  const previous = base['LD_LIBRARY_PATH'];
  return {
    VK_ICD_FILENAMES: icd,
    LD_LIBRARY_PATH: previous === undefined || previous === '' ? libs : `${libs}${delimiter}${previous}`,
  };
}

/**
 * Whether this process was started with a {@link vulkanEnvironment}: `VK_ICD_FILENAMES` names an existing
 * manifest. A WebGPU session created in a process without it finds no adapter on a machine without a GPU.
 */
export function hasVulkanEnvironment(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  const icd = env['VK_ICD_FILENAMES'];
  return icd !== undefined && icd !== '' && icd.split(delimiter).every((f) => existsSync(f));
}
