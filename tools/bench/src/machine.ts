import { readFileSync } from 'node:fs';
import os from 'node:os';

/** The machine a run was measured on. */
export interface MachineInfo {
  cpuModel: string;
  /** Logical CPUs Node sees. */
  cores: number;
  /** `cpu cores` per socket and `siblings` from /proc/cpuinfo, when present. */
  physicalCores: number | undefined;
  memoryBytes: number;
  node: string;
  v8: string;
  platform: string;
  date: string;
  /** 1-, 5- and 15-minute load averages when the run started (other work on the machine skews timings). */
  loadAverage: number[];
  cpuFlags: string[];
}

/** Describe the machine: CPU model from /proc/cpuinfo (falling back to `os.cpus()`), cores, memory, Node. */
export function describeMachine(): MachineInfo {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  let physicalCores: number | undefined;
  let cpuFlags: string[] = [];
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const field = (name: string): string | undefined => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(info)?.[1]?.trim();
    cpuModel = field('model name') ?? cpuModel;
    const cores = field('cpu cores');
    if (cores !== undefined) physicalCores = Number(cores);
    const flags = (field('flags') ?? '').split(/\s+/);
    cpuFlags = ['sse4_2', 'avx', 'avx2', 'fma', 'avx512f'].filter((f) => flags.includes(f));
  } catch {
    // Not Linux: os.cpus() already gave the model.
  }
  return {
    cpuModel,
    cores: os.availableParallelism?.() ?? os.cpus().length,
    physicalCores,
    memoryBytes: os.totalmem(),
    node: process.version,
    v8: process.versions.v8,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    date: new Date().toISOString(),
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
    cpuFlags,
  };
}
