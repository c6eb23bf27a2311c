/**
 * Secure aggregation (Bonawitz et al., CCS 2017, "Practical Secure Aggregation for Privacy-Preserving Machine
 * Learning"), with Web Crypto only (`globalThis.crypto.subtle`), so the same code runs in Node 20 and browsers.
 *
 * The server learns the sum of the surviving clients' vectors and nothing else about any one of them (against an
 * honest-but-curious server; this implementation does not sign messages, so it does not resist an active server).
 * Secure aggregation and Byzantine-robust aggregation do not compose: a robust rule needs the individual updates
 * that secure aggregation hides. Use one or the other.
 *
 * @packageDocumentation
 */
import { InvalidOptionError } from '@opt/tensor';
import { InvalidConfigurationError, SecAggProtocolError } from './errors.js';

/** An opaque Web Crypto key. */
type CryptoKeyLike = object;

/**
 * The part of Web Crypto's `SubtleCrypto` used here, typed locally so the package needs neither the DOM nor Node's
 * type declarations (both runtimes provide the real object as `globalThis.crypto.subtle`).
 */
interface Subtle {
  importKey(format: string, keyData: object, algorithm: object | string, extractable: boolean, usages: string[]): Promise<CryptoKeyLike>;
  exportKey(format: 'raw', key: CryptoKeyLike): Promise<ArrayBuffer>;
  exportKey(format: 'jwk', key: CryptoKeyLike): Promise<Record<string, unknown> & { d?: string }>;
  generateKey(algorithm: object, extractable: boolean, usages: string[]): Promise<{ privateKey: CryptoKeyLike; publicKey: CryptoKeyLike } | CryptoKeyLike>;
  deriveBits(algorithm: object, baseKey: CryptoKeyLike, length: number): Promise<ArrayBuffer>;
  encrypt(algorithm: object, key: CryptoKeyLike, data: Uint8Array): Promise<ArrayBuffer>;
  decrypt(algorithm: object, key: CryptoKeyLike, data: Uint8Array): Promise<ArrayBuffer>;
  digest(algorithm: string, data: Uint8Array): Promise<ArrayBuffer>;
}

interface WebCrypto {
  subtle: Subtle;
  getRandomValues<T extends Uint8Array | Uint32Array>(array: T): T;
}

const webCrypto = (): WebCrypto => (globalThis as unknown as { crypto: WebCrypto }).crypto;
const subtle = (): Subtle => webCrypto().subtle;
const randomBytes = (n: number): Uint8Array => webCrypto().getRandomValues(new Uint8Array(n));
const enc = new TextEncoder();

// ---- fixed-point encoding -----------------------------------------------------------------------------------------

/** Fixed-point encoding of real vectors as integers mod 2³² (see {@link encodeFixedPoint}). */
export interface FixedPointOptions {
  /** Values are clipped to [−clip, clip] before encoding (default 16). */
  clip?: number;
  /** Quantisation step 1/scale (default 2¹⁶). */
  scale?: number;
}

function fixedPoint(options: FixedPointOptions): { clip: number; scale: number } {
  const clip = options.clip ?? 16;
  const scale = options.scale ?? 65536;
  if (!(clip > 0) || !Number.isFinite(clip)) throw new InvalidOptionError('clip', clip, 'a finite number > 0', 'secure aggregation');
  if (!(scale > 0) || !Number.isFinite(scale)) throw new InvalidOptionError('scale', scale, 'a finite number > 0', 'secure aggregation');
  return { clip, scale };
}

/**
 * Encode `x` as `round(clip(xᵢ, −C, C)·scale) mod 2³²`. Sums of such encodings (mod 2³²) decode exactly to the sum
 * of the quantised values as long as the true integer sum stays in [−2³¹, 2³¹), which
 * {@link SecAggConfig.maxClients} guarantees: maxClients·round(C·scale) < 2³¹.
 */
export function encodeFixedPoint(x: ArrayLike<number>, options: FixedPointOptions = {}): Uint32Array {
  const { clip, scale } = fixedPoint(options);
  const out = new Uint32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    const c = v > clip ? clip : v < -clip ? -clip : v === v ? v : 0;
    out[i] = Math.round(c * scale) >>> 0;
  }
  return out;
}

/** Decode a (summed) fixed-point vector: read each word as a signed 32-bit integer and divide by `scale`. */
export function decodeFixedPoint(sum: Uint32Array, options: FixedPointOptions = {}): Float64Array {
  const { scale } = fixedPoint(options);
  const out = new Float64Array(sum.length);
  for (let i = 0; i < sum.length; i++) out[i] = (sum[i]! | 0) / scale;
  return out;
}

// ---- pseudo-random generator --------------------------------------------------------------------------------------

/**
 * The mask PRG: AES-256-CTR keyed by a 32-byte seed, counter block zero, applied to zero bytes; the keystream is
 * read as little-endian 32-bit words.
 */
export async function prgWords(seed: Uint8Array, length: number): Promise<Uint32Array> {
  const key = await subtle().importKey('raw', seed, { name: 'AES-CTR' }, false, ['encrypt']);
  const stream = new Uint8Array(await subtle().encrypt({ name: 'AES-CTR', counter: new Uint8Array(16), length: 64 }, key, new Uint8Array(4 * length)));
  const view = new DataView(stream.buffer);
  const out = new Uint32Array(length);
  for (let i = 0; i < length; i++) out[i] = view.getUint32(4 * i, true);
  return out;
}

// ---- Shamir secret sharing over GF(2^521 − 1) ---------------------------------------------------------------------

/** The field of the secret sharing: the Mersenne prime 2⁵²¹ − 1, larger than every 32-byte secret. */
export const SHAMIR_PRIME = (1n << 521n) - 1n;
const SHARE_BYTES = 66;

/** One Shamir share: the polynomial's value `y` at the holder's `x` (a client id ≥ 1). */
export interface ShamirShare {
  x: number;
  y: bigint;
}

const mod = (a: bigint): bigint => {
  const r = a % SHAMIR_PRIME;
  return r < 0n ? r + SHAMIR_PRIME : r;
};

function inverse(a: bigint): bigint {
  let [r0, r1] = [mod(a), SHAMIR_PRIME];
  let [s0, s1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return mod(s0);
}

function randomFieldElement(): bigint {
  const bytes = new Uint8Array(SHARE_BYTES);
  for (;;) {
    webCrypto().getRandomValues(bytes);
    bytes[0] = bytes[0]! & 0x01; // 521 = 65·8 + 1 bits
    const v = bytesToBigInt(bytes);
    if (v < SHAMIR_PRIME) return v;
  }
}

function bytesToBigInt(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

function bigIntToBytes(v: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function checkIds(where: string, ids: readonly number[]): void {
  const seen = new Set<number>();
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 1 || id > 0xffffffff) throw new InvalidOptionError('id', id, 'an integer in [1, 2^32)', where);
    if (seen.has(id)) throw new InvalidOptionError('id', id, 'distinct ids', where);
    seen.add(id);
  }
}

/**
 * Split a secret of at most 32 bytes into shares for the holders `xs` (distinct integers ≥ 1), any `threshold` of
 * which recover it: a random polynomial f of degree threshold − 1 over GF(2⁵²¹ − 1) with f(0) = secret; holder x gets f(x).
 */
export function shamirSplit(secret: Uint8Array, xs: readonly number[], threshold: number): ShamirShare[] {
  checkIds('shamirSplit', xs);
  if (secret.length > 32) throw new InvalidOptionError('secret', `${secret.length} bytes`, 'at most 32 bytes', 'shamirSplit');
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > xs.length) {
    throw new InvalidOptionError('threshold', threshold, `an integer in [1, ${xs.length}]`, 'shamirSplit');
  }
  const coeffs = [bytesToBigInt(secret)];
  for (let k = 1; k < threshold; k++) coeffs.push(randomFieldElement());
  return xs.map((x) => {
    let y = 0n;
    const bx = BigInt(x);
    for (let k = coeffs.length - 1; k >= 0; k--) y = mod(y * bx + coeffs[k]!);
    return { x, y };
  });
}

/** Lagrange interpolation of the shares' polynomial at 0 (no threshold check; {@link shamirCombine} is the safe entry). */
export function lagrangeAtZero(shares: readonly ShamirShare[]): bigint {
  let acc = 0n;
  for (let i = 0; i < shares.length; i++) {
    let num = 1n;
    let den = 1n;
    const xi = BigInt(shares[i]!.x);
    for (let j = 0; j < shares.length; j++) {
      if (j === i) continue;
      const xj = BigInt(shares[j]!.x);
      num = mod(num * -xj);
      den = mod(den * (xi - xj));
    }
    acc = mod(acc + shares[i]!.y * num * inverse(den));
  }
  return acc;
}

/**
 * Recover a `secretBytes`-byte secret from at least `threshold` shares.
 *
 * @throws {@link SecAggProtocolError} with fewer than `threshold` distinct shares, or when the interpolated value is
 * not a `secretBytes`-byte number (inconsistent or forged shares: a wrong polynomial lands below 2^256 with
 * probability 2^−265).
 */
export function shamirCombine(shares: readonly ShamirShare[], threshold: number, secretBytes = 32): Uint8Array {
  const distinct = new Map<number, ShamirShare>();
  for (const s of shares) distinct.set(s.x, s);
  if (distinct.size < threshold) throw new SecAggProtocolError('reconstruct', `${distinct.size} distinct shares, ${threshold} required`);
  const v = lagrangeAtZero([...distinct.values()].slice(0, threshold));
  if (v >= 1n << BigInt(8 * secretBytes)) throw new SecAggProtocolError('reconstruct', 'the shares are inconsistent (the recovered value is out of range)');
  return bigIntToBytes(v, secretBytes);
}

// ---- key agreement ------------------------------------------------------------------------------------------------

/** The ECDH curve: X25519 where Web Crypto has it (Node ≥ 20, recent browsers), else P-256. */
export type SecAggCurve = 'X25519' | 'P-256';

let detected: Promise<SecAggCurve> | null = null;

/** The curve this runtime supports (X25519 preferred), detected once. */
export function detectCurve(): Promise<SecAggCurve> {
  const found =
    detected ??
    subtle()
      .generateKey({ name: 'X25519' }, false, ['deriveBits'])
      .then(
        (): SecAggCurve => 'X25519',
        (): SecAggCurve => 'P-256',
      );
  detected = found;
  return found;
}

const algorithm = (curve: SecAggCurve): object => (curve === 'X25519' ? { name: 'X25519' } : { name: 'ECDH', namedCurve: 'P-256' });

interface KeyPair {
  privateKey: CryptoKeyLike;
  publicRaw: Uint8Array;
}

async function generateKeyPair(curve: SecAggCurve): Promise<KeyPair> {
  const pair = (await subtle().generateKey(algorithm(curve), true, ['deriveBits'])) as { privateKey: CryptoKeyLike; publicKey: CryptoKeyLike };
  return { privateKey: pair.privateKey, publicRaw: new Uint8Array(await subtle().exportKey('raw', pair.publicKey)) };
}

async function importPublic(curve: SecAggCurve, raw: Uint8Array): Promise<CryptoKeyLike> {
  return subtle().importKey('raw', raw, algorithm(curve), true, []);
}

const b64url = (bytes: Uint8Array): string => toBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const fromB64url = (s: string): Uint8Array => fromBase64(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));

async function exportPrivateScalar(key: CryptoKeyLike): Promise<Uint8Array> {
  const jwk = await subtle().exportKey('jwk', key);
  return fromB64url(jwk.d ?? '');
}

async function importPrivateScalar(curve: SecAggCurve, scalar: Uint8Array, publicRaw: Uint8Array): Promise<CryptoKeyLike> {
  const pub = await subtle().exportKey('jwk', await importPublic(curve, publicRaw));
  return subtle().importKey('jwk', { ...pub, d: b64url(scalar), key_ops: ['deriveBits'] }, algorithm(curve), false, ['deriveBits']);
}

async function agree(curve: SecAggCurve, privateKey: CryptoKeyLike, publicRaw: Uint8Array, salt: Uint8Array, info: string): Promise<Uint8Array> {
  const publicKey = await importPublic(curve, publicRaw);
  const shared = await subtle().deriveBits({ name: curve === 'X25519' ? 'X25519' : 'ECDH', public: publicKey }, privateKey, 256);
  const ikm = await subtle().importKey('raw', shared, 'HKDF', false, ['deriveBits']);
  return new Uint8Array(await subtle().deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: salt, info: enc.encode(info) }, ikm, 256));
}

// ---- base64 (JSON transport of the messages) ----------------------------------------------------------------------

/** Standard base64 of `bytes` (`btoa`, available in browsers and Node ≥ 16). */
export function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Inverse of {@link toBase64}. */
export function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

// ---- protocol -----------------------------------------------------------------------------------------------------

/** Parameters every participant of one secure-aggregation session agrees on. */
export interface SecAggConfig extends FixedPointOptions {
  /** Unique per session (e.g. `"<job>.<round>"`): the HKDF salt, so masks never repeat across sessions. */
  sessionId: string;
  /** t: the fewest clients whose shares recover a secret; the server also needs t survivors. */
  threshold: number;
  /** The most clients of a session (default 1024): bounds the fixed-point range so sums cannot wrap. */
  maxClients?: number;
  /** The ECDH curve (default: {@link detectCurve}). Every participant must use the same one. */
  curve?: SecAggCurve;
}

/** Round 0 (AdvertiseKeys): a client's two public keys (c for share encryption, s for pairwise masks). */
export interface AdvertiseKeysMessage {
  id: number;
  cPublic: Uint8Array;
  sPublic: Uint8Array;
}

/** One encrypted pair of shares from client `from` to client `to` (AES-256-GCM under their c-key agreement). */
export interface EncryptedShare {
  from: number;
  to: number;
  iv: Uint8Array;
  ciphertext: Uint8Array;
}

/** Round 1 (ShareKeys): a client's encrypted shares of its self-mask seed and its s private key, one per peer. */
export interface ShareKeysMessage {
  from: number;
  shares: EncryptedShare[];
}

/** Round 2 (MaskedInputCollection): the client's masked, fixed-point-encoded vector. */
export interface MaskedInputMessage {
  from: number;
  masked: Uint32Array;
}

/** Round 3 (Unmasking): shares of survivors' self-mask seeds and of dropped clients' s private keys. */
export interface UnmaskMessage {
  from: number;
  selfMaskShares: Array<{ owner: number; share: Uint8Array }>;
  keyShares: Array<{ owner: number; share: Uint8Array }>;
}

/** What the server learns: the sum of the survivors' (quantised, clipped) vectors. */
export interface SecAggResult {
  /** The decoded sum. */
  sum: Float64Array;
  /** The sum mod 2³², before decoding. */
  sumEncoded: Uint32Array;
  /** Ids whose vectors are in the sum (U3). */
  survivors: number[];
  /** Ids that shared keys but sent no masked vector (U2 \ U3): their pairwise masks were removed. */
  dropped: number[];
}

interface ResolvedConfig {
  sessionId: string;
  salt: Uint8Array;
  threshold: number;
  maxClients: number;
  clip: number;
  scale: number;
  curve: SecAggCurve;
}

async function resolveConfig(config: SecAggConfig): Promise<ResolvedConfig> {
  const { clip, scale } = fixedPoint(config);
  const maxClients = config.maxClients ?? 1024;
  if (!Number.isInteger(config.threshold) || config.threshold < 2) throw new InvalidOptionError('threshold', config.threshold, 'an integer >= 2', 'secure aggregation');
  if (!Number.isInteger(maxClients) || maxClients < config.threshold) {
    throw new InvalidOptionError('maxClients', maxClients, `an integer >= threshold (${config.threshold})`, 'secure aggregation');
  }
  if (maxClients * Math.round(clip * scale) >= 2 ** 31) {
    throw new InvalidConfigurationError('secure aggregation', 'maxClients·round(clip·scale) < 2^31', `${maxClients}·round(${clip}·${scale}) would let the sum wrap mod 2^32`);
  }
  const salt = new Uint8Array(await subtle().digest('SHA-256', enc.encode(`opt-secagg/${config.sessionId}`)));
  return { sessionId: config.sessionId, salt, threshold: config.threshold, maxClients, clip, scale, curve: config.curve ?? (await detectCurve()) };
}

function addInto(acc: Uint32Array, v: Uint32Array, sign: 1 | -1): void {
  if (sign === 1) for (let i = 0; i < acc.length; i++) acc[i] = (acc[i]! + v[i]!) >>> 0;
  else for (let i = 0; i < acc.length; i++) acc[i] = (acc[i]! - v[i]!) >>> 0;
}

function aad(cfg: ResolvedConfig, from: number, to: number): Uint8Array {
  return enc.encode(`${cfg.sessionId}|${from}|${to}`);
}

/**
 * One client of a secure-aggregation session, as a state machine over the protocol's four rounds. Each method
 * consumes what the server relayed from the previous round and returns this client's message for the next:
 *
 * 0. {@link SecAggClient.advertiseKeys}: two fresh ECDH key pairs (c for encrypting shares, s for masks).
 * 1. {@link SecAggClient.shareKeys}: t-of-n Shamir shares of a random self-mask seed b and of the s private key,
 *    each pair encrypted for its recipient with AES-GCM under HKDF(ECDH(c_u, c_v)).
 * 2. {@link SecAggClient.maskedInput}: y = encode(x) + PRG(b) + Σ_{v ∈ U2, v ≠ u} ±PRG(HKDF(ECDH(s_u, s_v)))
 *    mod 2³², with + when u < v and − otherwise, so the pairwise masks cancel in the sum.
 * 3. {@link SecAggClient.unmask}: for each peer of U2, the share of b (survivors) or of the s key (dropped),
 *    never both for the same peer.
 *
 * Client ids are integers ≥ 1 (they are the Shamir x-coordinates).
 *
 * @example
 * ```ts
 * const client = await SecAggClient.create(1, { sessionId: 'job-1.7', threshold: 2 });
 * const keys = client.advertiseKeys(); // send to the server; it relays the roster back
 * ```
 */
export class SecAggClient {
  /** This client's id. */
  readonly id: number;
  private readonly cfg: ResolvedConfig;
  private readonly c: KeyPair;
  private readonly s: KeyPair;
  private readonly selfSeed: Uint8Array;
  private roster = new Map<number, AdvertiseKeysMessage>();
  private received = new Map<number, { b: Uint8Array; sk: Uint8Array }>();
  private u2: number[] = [];
  private phase = 0;

  private constructor(id: number, cfg: ResolvedConfig, c: KeyPair, s: KeyPair) {
    this.id = id;
    this.cfg = cfg;
    this.c = c;
    this.s = s;
    this.selfSeed = randomBytes(32);
  }

  /** A client with fresh keys for one session. */
  static async create(id: number, config: SecAggConfig): Promise<SecAggClient> {
    checkIds('SecAggClient', [id]);
    const cfg = await resolveConfig(config);
    return new SecAggClient(id, cfg, await generateKeyPair(cfg.curve), await generateKeyPair(cfg.curve));
  }

  private expect(phase: number, name: string): void {
    if (this.phase !== phase) throw new SecAggProtocolError(name, `called in phase ${this.phase}, expected ${phase}`);
    this.phase++;
  }

  /** Round 0: this client's public keys. */
  advertiseKeys(): AdvertiseKeysMessage {
    this.expect(0, 'advertise-keys');
    return { id: this.id, cPublic: this.c.publicRaw, sPublic: this.s.publicRaw };
  }

  /** Round 1: given the roster U1 (every advertised key, this client's included), encrypted shares for every peer. */
  async shareKeys(roster: readonly AdvertiseKeysMessage[]): Promise<ShareKeysMessage> {
    this.expect(1, 'share-keys');
    checkIds('shareKeys', roster.map((m) => m.id));
    if (!roster.some((m) => m.id === this.id)) throw new SecAggProtocolError('share-keys', `the roster does not list this client (${this.id})`);
    if (roster.length < this.cfg.threshold) throw new SecAggProtocolError('share-keys', `${roster.length} clients advertised keys, threshold is ${this.cfg.threshold}`);
    if (roster.length > this.cfg.maxClients) throw new SecAggProtocolError('share-keys', `${roster.length} clients exceed maxClients = ${this.cfg.maxClients}`);
    for (const m of roster) this.roster.set(m.id, m);
    const ids = roster.map((m) => m.id);
    const bShares = shamirSplit(this.selfSeed, ids, this.cfg.threshold);
    const skShares = shamirSplit(await exportPrivateScalar(this.s.privateKey), ids, this.cfg.threshold);
    const shares: EncryptedShare[] = [];
    for (let k = 0; k < ids.length; k++) {
      const to = ids[k]!;
      const plain = new Uint8Array(2 * SHARE_BYTES);
      plain.set(bigIntToBytes(bShares[k]!.y, SHARE_BYTES), 0);
      plain.set(bigIntToBytes(skShares[k]!.y, SHARE_BYTES), SHARE_BYTES);
      if (to === this.id) {
        this.received.set(this.id, { b: plain.subarray(0, SHARE_BYTES), sk: plain.subarray(SHARE_BYTES) });
        continue;
      }
      const keyBytes = await agree(this.cfg.curve, this.c.privateKey, this.roster.get(to)!.cPublic, this.cfg.salt, 'opt-secagg/share-encryption');
      const key = await subtle().importKey('raw', keyBytes, 'AES-GCM', false, ['encrypt']);
      const iv = randomBytes(12);
      const ciphertext = new Uint8Array(await subtle().encrypt({ name: 'AES-GCM', iv, additionalData: aad(this.cfg, this.id, to) }, key, plain));
      shares.push({ from: this.id, to, iv, ciphertext });
    }
    return { from: this.id, shares };
  }

  /**
   * Round 2: decrypt the shares addressed to this client (their senders form U2 with this client) and mask `input`.
   *
   * @throws {@link SecAggProtocolError} when a share does not decrypt or comes from outside the roster, or U2 is below t.
   */
  async maskedInput(inbox: readonly EncryptedShare[], input: ArrayLike<number>): Promise<MaskedInputMessage> {
    this.expect(2, 'masked-input');
    for (const e of inbox) {
      const sender = this.roster.get(e.from);
      if (e.to !== this.id || sender === undefined || e.from === this.id) throw new SecAggProtocolError('masked-input', `unexpected share ${e.from} → ${e.to}`);
      const keyBytes = await agree(this.cfg.curve, this.c.privateKey, sender.cPublic, this.cfg.salt, 'opt-secagg/share-encryption');
      const key = await subtle().importKey('raw', keyBytes, 'AES-GCM', false, ['decrypt']);
      let plain: Uint8Array;
      try {
        plain = new Uint8Array(await subtle().decrypt({ name: 'AES-GCM', iv: e.iv, additionalData: aad(this.cfg, e.from, this.id) }, key, e.ciphertext));
      } catch {
        throw new SecAggProtocolError('masked-input', `the share from ${e.from} does not authenticate`);
      }
      this.received.set(e.from, { b: plain.subarray(0, SHARE_BYTES), sk: plain.subarray(SHARE_BYTES) });
    }
    this.u2 = [...this.received.keys()].sort((a, b) => a - b);
    if (this.u2.length < this.cfg.threshold) throw new SecAggProtocolError('masked-input', `U2 has ${this.u2.length} clients, threshold is ${this.cfg.threshold}`);
    const y = encodeFixedPoint(input, this.cfg);
    addInto(y, await prgWords(this.selfSeed, y.length), 1);
    for (const v of this.u2) {
      if (v === this.id) continue;
      const seed = await agree(this.cfg.curve, this.s.privateKey, this.roster.get(v)!.sPublic, this.cfg.salt, 'opt-secagg/pairwise-mask');
      addInto(y, await prgWords(seed, y.length), this.id < v ? 1 : -1);
    }
    return { from: this.id, masked: y };
  }

  /**
   * Round 3: given the survivors U3 (clients whose masked vectors the server holds), reveal the self-mask share of
   * each survivor and the key share of each dropped U2 member.
   *
   * @throws {@link SecAggProtocolError} when U3 is not a subset of U2 or smaller than t (the server could otherwise
   * learn one client's vector by calling everyone else dropped).
   */
  async unmask(survivors: readonly number[]): Promise<UnmaskMessage> {
    this.expect(3, 'unmask');
    const u3 = new Set(survivors);
    if (u3.size < this.cfg.threshold) throw new SecAggProtocolError('unmask', `${u3.size} survivors, threshold is ${this.cfg.threshold}`);
    for (const v of u3) if (!this.received.has(v)) throw new SecAggProtocolError('unmask', `survivor ${v} is not in U2`);
    if (!u3.has(this.id)) throw new SecAggProtocolError('unmask', `this client (${this.id}) is not listed as a survivor`);
    const selfMaskShares: UnmaskMessage['selfMaskShares'] = [];
    const keyShares: UnmaskMessage['keyShares'] = [];
    for (const owner of this.u2) {
      const got = this.received.get(owner)!;
      if (u3.has(owner)) selfMaskShares.push({ owner, share: got.b });
      else keyShares.push({ owner, share: got.sk });
    }
    return { from: this.id, selfMaskShares, keyShares };
  }
}

/**
 * The server of a secure-aggregation session, as a state machine: it relays messages between rounds, checks the
 * protocol's counts, and finally removes the masks to obtain the sum. See {@link SecAggClient} for the rounds.
 *
 * @example
 * ```ts
 * const server = await SecAggServer.create({ sessionId: 'job-1.7', threshold: 2 });
 * const roster = server.collectKeys(adverts);        // → every client
 * const inboxes = server.routeShares(shareMessages);  // inboxes.get(id) → client id
 * const survivors = server.collectMaskedInputs(masked); // → every survivor
 * const { sum } = await server.finish(unmaskMessages);
 * ```
 */
export class SecAggServer {
  private readonly cfg: ResolvedConfig;
  private roster = new Map<number, AdvertiseKeysMessage>();
  private u2: number[] = [];
  private masked = new Map<number, Uint32Array>();
  private phase = 0;

  private constructor(cfg: ResolvedConfig) {
    this.cfg = cfg;
  }

  /** A server for one session (same config as the clients'). */
  static async create(config: SecAggConfig): Promise<SecAggServer> {
    return new SecAggServer(await resolveConfig(config));
  }

  private expect(phase: number, name: string): void {
    if (this.phase !== phase) throw new SecAggProtocolError(name, `called in phase ${this.phase}, expected ${phase}`);
    this.phase++;
  }

  private need(name: string, count: number, what: string): void {
    if (count < this.cfg.threshold) throw new SecAggProtocolError(name, `${count} ${what}, threshold is ${this.cfg.threshold}`);
  }

  /** After round 0: the roster U1 to send to every client. */
  collectKeys(adverts: readonly AdvertiseKeysMessage[]): AdvertiseKeysMessage[] {
    this.expect(0, 'advertise-keys');
    checkIds('collectKeys', adverts.map((m) => m.id));
    this.need('advertise-keys', adverts.length, 'clients advertised keys');
    for (const m of adverts) this.roster.set(m.id, m);
    return [...this.roster.values()].sort((a, b) => a.id - b.id);
  }

  /** After round 1: each U2 client's inbox (the shares addressed to it by the other U2 clients). */
  routeShares(messages: readonly ShareKeysMessage[]): Map<number, EncryptedShare[]> {
    this.expect(1, 'share-keys');
    const senders = new Set<number>();
    for (const m of messages) {
      if (!this.roster.has(m.from) || senders.has(m.from)) throw new SecAggProtocolError('share-keys', `unexpected message from ${m.from}`);
      senders.add(m.from);
    }
    this.need('share-keys', senders.size, 'clients shared keys');
    this.u2 = [...senders].sort((a, b) => a - b);
    const inboxes = new Map<number, EncryptedShare[]>(this.u2.map((id) => [id, []]));
    for (const m of messages) {
      for (const e of m.shares) {
        if (e.from !== m.from) throw new SecAggProtocolError('share-keys', `client ${m.from} sent a share labelled from ${e.from}`);
        inboxes.get(e.to)?.push(e);
      }
    }
    return inboxes;
  }

  /** After round 2: the survivors U3 to send to every survivor. */
  collectMaskedInputs(messages: readonly MaskedInputMessage[]): number[] {
    this.expect(2, 'masked-input');
    const u2 = new Set(this.u2);
    let length = -1;
    for (const m of messages) {
      if (!u2.has(m.from) || this.masked.has(m.from)) throw new SecAggProtocolError('masked-input', `unexpected masked input from ${m.from}`);
      if (length >= 0 && m.masked.length !== length) throw new SecAggProtocolError('masked-input', `client ${m.from} sent ${m.masked.length} values, others ${length}`);
      length = m.masked.length;
      this.masked.set(m.from, m.masked);
    }
    this.need('masked-input', this.masked.size, 'masked inputs');
    return [...this.masked.keys()].sort((a, b) => a - b);
  }

  /**
   * After round 3: reconstruct the survivors' self-mask seeds and the dropped clients' mask keys from at least t
   * responses, remove every mask, and decode the sum.
   */
  async finish(responses: readonly UnmaskMessage[]): Promise<SecAggResult> {
    this.expect(3, 'unmask');
    const survivors = [...this.masked.keys()].sort((a, b) => a - b);
    const responders = new Set<number>();
    const bShares = new Map<number, ShamirShare[]>();
    const skShares = new Map<number, ShamirShare[]>();
    const isSurvivor = new Set(survivors);
    for (const r of responses) {
      if (!isSurvivor.has(r.from) || responders.has(r.from)) throw new SecAggProtocolError('unmask', `unexpected response from ${r.from}`);
      responders.add(r.from);
      for (const { owner, share } of r.selfMaskShares) {
        if (!isSurvivor.has(owner)) throw new SecAggProtocolError('unmask', `client ${r.from} revealed a self-mask share of non-survivor ${owner}`);
        (bShares.get(owner) ?? bShares.set(owner, []).get(owner)!).push({ x: r.from, y: bytesToBigInt(share) });
      }
      for (const { owner, share } of r.keyShares) {
        if (isSurvivor.has(owner)) throw new SecAggProtocolError('unmask', `client ${r.from} revealed a key share of survivor ${owner}`);
        (skShares.get(owner) ?? skShares.set(owner, []).get(owner)!).push({ x: r.from, y: bytesToBigInt(share) });
      }
    }
    this.need('unmask', responders.size, 'unmasking responses');
    const d = this.masked.get(survivors[0]!)!.length;
    const sum = new Uint32Array(d);
    for (const u of survivors) addInto(sum, this.masked.get(u)!, 1);
    for (const u of survivors) {
      const seed = shamirCombine(bShares.get(u) ?? [], this.cfg.threshold);
      addInto(sum, await prgWords(seed, d), -1);
    }
    const dropped = this.u2.filter((u) => !isSurvivor.has(u));
    for (const u of dropped) {
      const scalar = shamirCombine(skShares.get(u) ?? [], this.cfg.threshold);
      const sk = await importPrivateScalar(this.cfg.curve, scalar, this.roster.get(u)!.sPublic);
      for (const v of survivors) {
        const seed = await agree(this.cfg.curve, sk, this.roster.get(v)!.sPublic, this.cfg.salt, 'opt-secagg/pairwise-mask');
        // Survivor v added +PRG when v < u and −PRG otherwise; take off what it added.
        addInto(sum, await prgWords(seed, d), v < u ? -1 : 1);
      }
    }
    return { sum: decodeFixedPoint(sum, this.cfg), sumEncoded: sum, survivors, dropped };
  }
}

/**
 * Run one whole session in process (tests, simulations, the README) and return the server's result. Every client
 * advertises keys and shares them; then clients in `drops.beforeMasking` stop (they never mask), clients in
 * `drops.afterMasking` mask but their vector never reaches the server, and clients in `drops.duringUnmask` are
 * survivors that never answer the unmasking round.
 *
 * @param inputs - client id → its vector.
 * @param config - the session's configuration.
 * @param drops - who drops out where.
 */
export async function secureAggregate(
  inputs: ReadonlyMap<number, ArrayLike<number>>,
  config: SecAggConfig,
  drops: { beforeMasking?: readonly number[]; afterMasking?: readonly number[]; duringUnmask?: readonly number[] } = {},
): Promise<SecAggResult> {
  const server = await SecAggServer.create(config);
  const clients = await Promise.all([...inputs.keys()].map((id) => SecAggClient.create(id, config)));
  const roster = server.collectKeys(clients.map((c) => c.advertiseKeys()));
  const shared = await Promise.all(clients.map((c) => c.shareKeys(roster)));
  const inboxes = server.routeShares(shared);
  const early = new Set(drops.beforeMasking ?? []);
  const late = new Set(drops.afterMasking ?? []);
  const masking = clients.filter((c) => !early.has(c.id));
  const masked = await Promise.all(masking.map((c) => c.maskedInput(inboxes.get(c.id) ?? [], inputs.get(c.id)!)));
  const survivors = server.collectMaskedInputs(masked.filter((m) => !late.has(m.from)));
  const silent = new Set(drops.duringUnmask ?? []);
  const responses = await Promise.all(masking.filter((c) => !late.has(c.id) && !silent.has(c.id)).map((c) => c.unmask(survivors)));
  return server.finish(responses);
}
