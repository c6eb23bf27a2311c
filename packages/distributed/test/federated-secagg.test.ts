import {
  InvalidConfigurationError,
  SHAMIR_PRIME,
  SecAggClient,
  SecAggProtocolError,
  SecAggServer,
  decodeFixedPoint,
  detectCurve,
  encodeFixedPoint,
  lagrangeAtZero,
  prgWords,
  secureAggregate,
  shamirCombine,
  shamirSplit,
} from '../src/index';

/** Integer-valued vectors: their fixed-point encodings are exact, so sums compare exactly. */
function intInputs(ids: number[], d: number): Map<number, Float64Array> {
  return new Map(ids.map((id) => [id, Float64Array.from({ length: d }, (_, j) => ((id * 7 + j * 3) % 11) - 5 + 0.25 * (j % 4))]));
}

function plainSum(inputs: Map<number, Float64Array>, ids: number[], d: number): number[] {
  const s = new Array<number>(d).fill(0);
  for (const id of ids) for (let j = 0; j < d; j++) s[j] += inputs.get(id)![j]!;
  return s;
}

/** χ² statistic of byte frequencies against the uniform distribution (255 degrees of freedom). */
function chiSquareBytes(bytes: Uint8Array): number {
  const counts = new Float64Array(256);
  for (const b of bytes) counts[b]++;
  const expected = bytes.length / 256;
  let chi = 0;
  for (const c of counts) chi += (c - expected) ** 2 / expected;
  return chi;
}

describe('secure aggregation (Web Crypto)', () => {
  test('this runtime agrees keys with X25519 (Node 20 Web Crypto)', async () => {
    expect(await detectCurve()).toBe('X25519');
  });

  test('the unmasked sum equals the plain sum exactly (no dropouts)', async () => {
    const ids = [1, 2, 3, 4, 5];
    const inputs = intInputs(ids, 300);
    const result = await secureAggregate(inputs, { sessionId: 'exact', threshold: 3 });
    expect(Array.from(result.sum)).toEqual(plainSum(inputs, ids, 300));
    expect(result.survivors).toEqual(ids);
    expect(result.dropped).toEqual([]);
  });

  test('P-256 gives the same exact sum', async () => {
    const ids = [2, 5, 9];
    const inputs = intInputs(ids, 64);
    const result = await secureAggregate(inputs, { sessionId: 'p256', threshold: 2, curve: 'P-256' });
    expect(Array.from(result.sum)).toEqual(plainSum(inputs, ids, 64));
  });

  test('with n − t dropouts after masking (and one silent survivor) the survivors’ sum is recovered', async () => {
    const ids = [1, 2, 3, 4, 5, 6, 7];
    const inputs = intInputs(ids, 200);
    const t = 4;
    const early = await secureAggregate(inputs, { sessionId: 'drop-a', threshold: t }, { beforeMasking: [2], afterMasking: [5, 7] });
    expect(early.survivors).toEqual([1, 3, 4, 6]);
    expect(early.dropped).toEqual([2, 5, 7]);
    expect(Array.from(early.sum)).toEqual(plainSum(inputs, [1, 3, 4, 6], 200));
    const silent = await secureAggregate(inputs, { sessionId: 'drop-b', threshold: t }, { afterMasking: [7], duringUnmask: [1, 2] });
    expect(Array.from(silent.sum)).toEqual(plainSum(inputs, [1, 2, 3, 4, 5, 6], 200));
  });

  test('more than n − t dropouts fail with SecAggProtocolError instead of revealing anything', async () => {
    const inputs = intInputs([1, 2, 3, 4], 8);
    await expect(secureAggregate(inputs, { sessionId: 'too-few', threshold: 3 }, { afterMasking: [1, 2] })).rejects.toBeInstanceOf(SecAggProtocolError);
  });

  test('a masked vector’s bytes pass a χ² uniformity test (the plain encoding fails it)', async () => {
    const ids = [1, 2, 3];
    const d = 8192;
    const x = Float64Array.from({ length: d }, (_, j) => Math.sin(j) * 0.01);
    const config = { sessionId: 'chi2', threshold: 2 };
    const server = await SecAggServer.create(config);
    const clients = await Promise.all(ids.map((id) => SecAggClient.create(id, config)));
    const roster = server.collectKeys(clients.map((c) => c.advertiseKeys()));
    const inboxes = server.routeShares(await Promise.all(clients.map((c) => c.shareKeys(roster))));
    const masked = await clients[0]!.maskedInput(inboxes.get(1)!, x);
    const maskedBytes = new Uint8Array(masked.masked.buffer);
    const plainBytes = new Uint8Array(encodeFixedPoint(x).buffer);
    // 255 degrees of freedom: P(χ² > 400) < 1e-8 for uniform bytes.
    expect(chiSquareBytes(maskedBytes)).toBeLessThan(400);
    expect(chiSquareBytes(plainBytes)).toBeGreaterThan(10000);
  });

  test('t shares recover a secret; t − 1 shares are rejected and interpolate to a wrong value', () => {
    const secret = globalThis.crypto.getRandomValues(new Uint8Array(32));
    const shares = shamirSplit(secret, [1, 2, 3, 4, 5], 3);
    expect(Array.from(shamirCombine([shares[4]!, shares[0]!, shares[2]!], 3))).toEqual(Array.from(secret));
    expect(() => shamirCombine(shares.slice(0, 2), 3)).toThrow(SecAggProtocolError);
    const asNumber = BigInt(`0x${Buffer.from(secret).toString('hex')}`);
    expect(lagrangeAtZero(shares.slice(0, 2))).not.toBe(asNumber);
    // Forged shares: asking shamirCombine to trust t − 1 real shares plus a made-up one is caught (out of range).
    expect(() => shamirCombine([shares[0]!, shares[1]!, { x: 3, y: 12345n }], 3)).toThrow(/inconsistent/);
  });

  test('t − 1 shares are consistent with every secret (they carry no information about it)', () => {
    const shares = shamirSplit(Uint8Array.of(42), [1, 2, 3], 3).slice(0, 2);
    for (const candidate of [0n, 42n, 7n, (1n << 256n) - 1n]) {
      // The polynomial through (0, candidate) and the two real shares, evaluated at x = 3 (interpolation at 0
      // after shifting every x by −3), completes them to a valid sharing of `candidate`.
      const third = lagrangeAtZero([{ x: -3, y: candidate }, ...shares.map((sh) => ({ x: sh.x - 3, y: sh.y }))]);
      const recovered = shamirCombine([...shares, { x: 3, y: third }], 3);
      expect(BigInt(`0x${Buffer.from(recovered).toString('hex')}`)).toBe(candidate);
    }
    expect(SHAMIR_PRIME).toBe((1n << 521n) - 1n);
  });

  test('fixed-point encoding clips, and the decoded sum of encodings is the sum of the quantised values', async () => {
    const a = encodeFixedPoint([1.5, -20, 0.1], { clip: 4, scale: 256 });
    const b = encodeFixedPoint([-0.5, 3, 0.2], { clip: 4, scale: 256 });
    const s = a.map((v, i) => (v + b[i]!) >>> 0);
    expect(Array.from(decodeFixedPoint(s, { scale: 256 }))).toEqual([1, -1, Math.round(25.6) / 256 + Math.round(51.2) / 256]);
    await expect(secureAggregate(new Map([[1, [0]], [2, [0]]]), { sessionId: 'wrap', threshold: 2, clip: 1e6, maxClients: 4096 })).rejects.toBeInstanceOf(InvalidConfigurationError);
  });

  test('the mask PRG is deterministic in its seed and differs between seeds', async () => {
    const seed = new Uint8Array(32).fill(1);
    expect(Array.from(await prgWords(seed, 5))).toEqual(Array.from(await prgWords(seed, 5)));
    expect(Array.from(await prgWords(new Uint8Array(32), 5))).not.toEqual(Array.from(await prgWords(seed, 5)));
  });

  test('a client refuses to unmask for a survivor set below t or outside U2', async () => {
    const config = { sessionId: 'refuse', threshold: 3 };
    const server = await SecAggServer.create(config);
    const clients = await Promise.all([1, 2, 3].map((id) => SecAggClient.create(id, config)));
    const roster = server.collectKeys(clients.map((c) => c.advertiseKeys()));
    const inboxes = server.routeShares(await Promise.all(clients.map((c) => c.shareKeys(roster))));
    await clients[0]!.maskedInput(inboxes.get(1)!, [1, 2]);
    await expect(clients[0]!.unmask([1, 2])).rejects.toThrow(/threshold/);
  });
});
