import type { BenchCase } from './cases.js';
import type { MachineInfo } from './machine.js';
import type { StepStats, TimingPolicy } from './measure.js';
import type { HeapCheck } from './ours.js';
import type { TfProfile } from './tfjs.js';

/** A measured cell. */
export interface CellOk {
  ok: true;
  stats: StepStats;
  /** Column-specific facts (tfjs's per-step allocations, PyTorch's thread count). */
  extra?: Record<string, unknown>;
}

/** A cell that could not be measured, and why. */
export interface CellNa {
  ok: false;
  note: string;
}

export type Cell = CellOk | CellNa;

/** One column of the tables. */
export interface Column {
  id: string;
  label: string;
  /** What the column is (shown under the tables). */
  description: string;
  /** Whether it is one of our paths (counted as "ours" in the ratios). */
  ours: boolean;
}

/** One row: a case and every column's cell. */
export interface Row {
  id: string;
  optimizer: string;
  dtype: string;
  kind: BenchCase['kind'];
  size: string;
  elements: number;
  tensors: number;
  totalElements: number;
  bytesPerElement: number;
  /** STREAM triad bandwidth at this row's working set, bytes/s (absent for the 1-element row). */
  triadBytesPerSecond?: number;
  /**
   * The bandwidth limit of this row: elements/s of the C memory-only kernel with
   * the optimizer's access pattern (same reads, same in-place writes, same N and dtype).
   */
  limitElementsPerSecond?: number;
  /** That kernel's name (`stream_r4w3`, ...). */
  limitKernel?: string;
  /**
   * The memory-only kernel's own elements/s. `limitElementsPerSecond` is the
   * larger of this and the fused C kernel's elements/s: whatever C moved is
   * movable, and on a shared machine the two are timed moments apart.
   */
  limitKernelElementsPerSecond?: number;
  cells: Record<string, Cell>;
}

/** Ratios of one row, all from the same run. */
export interface RowRatios {
  id: string;
  /** Our path used for the ratios: the fastest of ours that ran. */
  oursPath: string | undefined;
  oursOverC: number | undefined;
  jsOverC: number | undefined;
  oursBandwidthFraction: number | undefined;
  cBandwidthFraction: number | undefined;
  fastestTfjs: string | undefined;
  speedupVsFastestTfjs: number | undefined;
  speedupVsTorch1: number | undefined;
  fastestTorch: string | undefined;
  speedupVsFastestTorch: number | undefined;
}

/** The many-small-tensors case against one tensor of the same total size, per column. */
export interface ManyVsOne {
  optimizer: string;
  many: string;
  one: string;
  /** time(many) / time(one) per column id. */
  ratios: Record<string, number>;
}

/** Cost of the default non-finite gradient check (Adam float32), per path and size. */
export interface NonFiniteCost {
  path: string;
  size: string;
  ignoreMs: number;
  throwMs: number;
  /** throwMs / ignoreMs. */
  ratio: number;
}

/** One of issue 5's targets, evaluated on this run. */
export interface TargetCheck {
  target: string;
  measured: string;
  met: boolean | undefined;
}

/** Everything a run writes to results.json. */
export interface BenchResults {
  mode: 'full' | 'quick';
  command: string;
  machine: MachineInfo;
  tools: Record<string, string>;
  policy: TimingPolicy;
  columns: Column[];
  rows: Row[];
  triad: Array<{ workingSetBytes: number; bytesPerSecond: number }>;
  ratios: RowRatios[];
  manyVsOne: ManyVsOne[];
  heap: Array<{ optimizer: string; path: string } & ({ ok: true; check: HeapCheck } | { ok: false; note: string })>;
  nonFiniteCost: NonFiniteCost[];
  tfjsProfiles: Array<{ id: string; backend: string; profile: TfProfile; how: string; leakedTensors: number }>;
  targets: TargetCheck[];
  notes: string[];
  durationSeconds: number;
}
