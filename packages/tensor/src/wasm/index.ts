export { WasmArena, arenaOwning, type ArenaGrowthListener, type ArenaRegion, type WasmArenaOptions } from './arena.js';
export { type WasmKernelExports, type WasmMemory, compileWasmModule, simdSupported } from './loader.js';
