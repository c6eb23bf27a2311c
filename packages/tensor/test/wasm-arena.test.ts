import {
  type ArenaGrowthListener,
  InvalidOptionError,
  OptError,
  WasmArena,
  getDefaultBackend,
  initWasm,
  resolveBackend,
  setDefaultBackend,
  simdSupported,
  wasmAvailable,
} from '../src/index';
import { decodeBase64 } from '../src/wasm/base64';

describe('WasmArena', () => {
  test('regions are 16-byte aligned, never at offset 0, and do not overlap', () => {
    const arena = WasmArena.create({ initialBytes: 0 });
    const regions = [1, 3, 16, 17, 100, 0].map((n) => arena.alloc(n));
    for (const r of regions) {
      expect(r.byteOffset % 16).toBe(0);
      expect(r.byteOffset).toBeGreaterThan(0);
      expect(r.byteLength % 16).toBe(0);
    }
    const sorted = [...regions].sort((a, b) => a.byteOffset - b.byteOffset);
    for (let i = 1; i < sorted.length; i++) {
      expect(sorted[i]!.byteOffset).toBeGreaterThanOrEqual(sorted[i - 1]!.byteOffset + sorted[i - 1]!.byteLength);
    }
  });

  test('freed regions are reused first-fit and coalesced, and freeing twice is refused', () => {
    const arena = WasmArena.create();
    const a = arena.alloc(64);
    const b = arena.alloc(64);
    const c = arena.alloc(64);
    arena.alloc(16);
    const used = arena.usedBytes;
    arena.free(a);
    arena.free(b);
    expect(arena.usedBytes).toBe(used - 128);
    // a and b coalesced: a 128-byte request fits where a was.
    expect(arena.alloc(128).byteOffset).toBe(a.byteOffset);
    arena.free(c);
    expect(() => arena.free(c)).toThrow(InvalidOptionError);
    expect(arena.alloc(32).byteOffset).toBe(c.byteOffset);
  });

  test('growth keeps the data, detaches old views, and re-binds views through the listener registry', () => {
    const arena = WasmArena.create({ initialBytes: 0 });
    const size0 = arena.byteLength;
    const region = arena.alloc(1000 * 4, undefined);
    let view = arena.f32(region.byteOffset, 1000);
    for (let i = 0; i < view.length; i++) view[i] = i * 0.5;
    const calls: string[] = [];
    const holder = { view };
    const listener: ArenaGrowthListener = {
      beforeGrow: () => calls.push(`before:${holder.view.length}`),
      afterGrow: () => {
        calls.push('after');
        holder.view = arena.f32(region.byteOffset, 1000);
      },
    };
    const tracked = arena.alloc(16, listener);
    const old = view;
    // Far more than the current memory: forces a growth.
    const big = arena.alloc(8 * size0 + 65536);
    expect(arena.growthCount).toBe(1);
    expect(arena.byteLength).toBeGreaterThanOrEqual(big.byteOffset + big.byteLength);
    expect(calls).toEqual(['before:1000', 'after']);
    expect(old.length).toBe(0); // detached by memory.grow
    view = holder.view;
    expect(view.length).toBe(1000);
    expect(arena.owns(view)).toBe(true);
    for (let i = 0; i < view.length; i++) expect(view[i]).toBe(i * 0.5);
    // Writes through the new view reach the kernels.
    arena.scaleInPlace(view, 2);
    expect(view[3]).toBe(3);
    // A freed region's listener is no longer called.
    arena.free(tracked);
    arena.reserve(arena.byteLength * 2);
    expect(calls).toEqual(['before:1000', 'after']);
    expect(arena.growthCount).toBe(2);
  });

  test('growth is at least a doubling, so that growing one tensor at a time stays rare', () => {
    const arena = WasmArena.create({ initialBytes: 0 });
    for (let i = 0; i < 200; i++) arena.alloc(64 * 1024);
    expect(arena.growthCount).toBeLessThanOrEqual(9);
  });

  test('more than WebAssembly’s 4 GiB is refused with an OptError, and bad sizes with InvalidOptionError', () => {
    const arena = WasmArena.create({ initialBytes: 0 });
    expect(() => arena.reserve(2 ** 33)).toThrow(OptError);
    expect(() => arena.alloc(-1)).toThrow(InvalidOptionError);
    expect(() => WasmArena.create({ initialBytes: -5 })).toThrow(InvalidOptionError);
  });
});

describe('backend selection', () => {
  afterEach(() => setDefaultBackend('js'));

  test('WebAssembly SIMD is detected in Node, and initWasm resolves to the same answer', async () => {
    expect(simdSupported()).toBe(true);
    expect(wasmAvailable()).toBe(true);
    await expect(initWasm()).resolves.toBe(true);
  });

  test("the default backend is 'js' and can be changed; unknown names are refused", () => {
    expect(getDefaultBackend()).toBe('js');
    setDefaultBackend('auto');
    expect(getDefaultBackend()).toBe('auto');
    expect(resolveBackend(undefined, 'test')).toBe('wasm');
    expect(() => setDefaultBackend('gpu' as never)).toThrow(/backend/);
  });

  test("resolveBackend: 'js' stays js, 'wasm' and 'auto' pick wasm where it is available", () => {
    expect(resolveBackend('js', 'test')).toBe('js');
    expect(resolveBackend('wasm', 'test')).toBe('wasm');
    expect(resolveBackend('auto', 'test')).toBe('wasm');
    expect(() => resolveBackend('fast' as never, 'Adam')).toThrow(/Adam: invalid backend/);
  });
});

test('decodeBase64 matches Node’s decoder for every padding length', () => {
  for (let n = 0; n < 40; n++) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 73 + n) & 0xff);
    const text = Buffer.from(bytes).toString('base64');
    expect(Array.from(decodeBase64(text))).toEqual(Array.from(bytes));
  }
  expect(() => decodeBase64('ab$c')).toThrow(RangeError);
});
