/**
 * Start a private `nats-server` (tests, benchmarks, single-machine runs).
 *
 * @packageDocumentation
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { InvalidOptionError, OptError } from '@opt/tensor';

/** Options of {@link startNatsServer}. */
export interface NatsServerOptions {
  /**
   * The `nats-server` executable. Default: `$OPT_NATS_SERVER_BIN`, then `nats-server` on `PATH`, then `/usr/sbin`,
   * `/usr/local/sbin`, `/usr/local/bin`. (`scripts/ensure-nats-server.sh` of this package installs one.)
   */
  binary?: string;
  /** TCP port on 127.0.0.1; default a free one. */
  port?: number;
  /** Enable JetStream with a store in the temporary folder (default true; `NatsCollective` needs it). */
  jetStream?: boolean;
  /** Largest message in bytes (default 8 MiB). */
  maxPayload?: number;
  /** Give up when the server is not ready after this many milliseconds (default 10 s). */
  startTimeoutMs?: number;
  /**
   * Also listen for WebSocket clients (browsers: `wsconnect` of `@nats-io/nats-core`) on 127.0.0.1: `true` for a
   * free port, or `{ port }`. Default off. The URL is {@link NatsServer.wsUrl}: `wss://` with the same certificate
   * as the TCP listener when {@link NatsServerOptions.tls} is given, plain `ws://` (loopback only) otherwise.
   * The WebSocket listener checks the same {@link NatsServerOptions.users}.
   */
  websocket?: boolean | { port?: number };
  /**
   * Require TLS on every connection (the TCP listener and, if asked for, the WebSocket listener). Default off.
   * Without `tls`, traffic and passwords travel in clear text: acceptable on 127.0.0.1 only.
   */
  tls?: NatsTlsOptions;
  /**
   * Require every client to log in as one of these users (nats-server's `authorization { users = [...] }`), each
   * limited to its {@link NatsPermissions}. No `no_auth_user` is configured, so a connection without valid
   * credentials is refused. Default: no authorization (anyone who reaches the port may do anything).
   * `federatedPermissions` and `parameterServerPermissions` build least-privilege sets.
   */
  users?: readonly NatsUser[];
}

/**
 * TLS of {@link startNatsServer}. Each of `cert`, `key` and `ca` is either a PEM string (it contains
 * `-----BEGIN`; written to the server's temporary folder) or the path of a PEM file.
 */
export interface NatsTlsOptions {
  /** The server's certificate chain (its subject alternative names must cover the host clients dial, e.g. `IP:127.0.0.1`). */
  cert: string;
  /** The server certificate's private key. */
  key: string;
  /** CA certificate(s) that client certificates must chain to (needed with `verify`). */
  ca?: string;
  /** Mutual TLS: refuse clients that present no certificate signed by `ca` (default false). */
  verify?: boolean;
  /** Seconds a client has to finish the TLS handshake (default 2; nats-server's own default, 0.5 s, is short for loaded CI machines). */
  timeout?: number;
}

/** Subjects a user may (`allow`) or may not (`deny`) use; `deny` wins. Wildcards `*` (one token) and `>` (the rest). */
export interface NatsSubjectPermission {
  allow?: readonly string[];
  deny?: readonly string[];
}

/** What one user may publish to and subscribe to (nats-server's `permissions` block). */
export interface NatsPermissions {
  publish?: NatsSubjectPermission;
  subscribe?: NatsSubjectPermission;
  /**
   * Let the user answer requests it received (publish once to each request's reply subject) without a publish
   * permission on the reply subjects (nats-server's `allow_responses`). Needed by users that serve requests.
   */
  allowResponses?: boolean;
}

/** One user of {@link NatsServerOptions.users}. */
export interface NatsUser {
  user: string;
  password: string;
  /** Default: everything allowed. */
  permissions?: NatsPermissions;
}

/**
 * A running server. {@link NatsServer.stop} kills it and removes its temporary folder; {@link NatsServer.kill} and
 * {@link NatsServer.restart} simulate a crash and a recovery (same port, same configuration, same JetStream store)
 * for fault-tolerance tests.
 */
export interface NatsServer {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** `ws://127.0.0.1:<port>` (`wss://` with TLS) of the WebSocket listener, or `null` when it was not asked for. */
  readonly wsUrl: string | null;
  /** The current server process (a new one after {@link NatsServer.restart}). */
  readonly process: ChildProcess;
  /** The JetStream store folder (kept across {@link NatsServer.restart}; removed by {@link NatsServer.stop}). */
  readonly storeDir: string;
  /** The configuration file the server runs with. */
  readonly configFile: string;
  /** Whether connections must use TLS ({@link NatsServerOptions.tls}). */
  readonly tls: boolean;
  /** Whether clients must log in ({@link NatsServerOptions.users}). */
  readonly authorization: boolean;
  /** Whether a server process is running now. */
  readonly running: boolean;
  /** Kill the process (default `SIGKILL`: a crash, no flush) and resolve once it has exited. The folder stays. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start the server again (after {@link NatsServer.kill}; kills a running one first) and resolve once it is ready. */
  restart(): Promise<void>;
  /** Stop the server (SIGTERM, SIGKILL after 5 s) and remove the temporary folder. Idempotent. */
  stop(): Promise<void>;
}

/** Where `nats-server` is, or null. */
export function findNatsServer(): string | null {
  const candidates: string[] = [];
  const env = process.env.OPT_NATS_SERVER_BIN;
  if (env) candidates.push(env);
  for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir) candidates.push(join(dir, 'nats-server'));
  candidates.push('/usr/sbin/nats-server', '/usr/local/sbin/nats-server', '/usr/local/bin/nats-server');
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not there: try the next candidate
    }
  }
  return null;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Start `nats-server` on 127.0.0.1 with a temporary configuration (JetStream store in a temporary folder,
 * `max_payload` 8 MiB, optionally a WebSocket listener for browser clients, TLS and users with subject permissions)
 * and resolve once it accepts connections.
 *
 * @throws `OptError` with code `NATS_SERVER_MISSING` when no binary is found, `NATS_SERVER_START` when it fails.
 *
 * @example
 * ```ts
 * const server = await startNatsServer();
 * console.log(server.url); // nats://127.0.0.1:41234
 * await server.stop();
 * ```
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const binary = options.binary ?? findNatsServer();
  if (binary === null) {
    throw new OptError(
      'NATS_SERVER_MISSING',
      'no nats-server found: install it (apt-get install nats-server, or packages/distributed/scripts/ensure-nats-server.sh) or set OPT_NATS_SERVER_BIN',
    );
  }
  const port = options.port ?? (await freePort());
  const ws = options.websocket ?? false;
  const wsPort = ws === false ? null : ((ws === true ? undefined : ws.port) ?? (await freePort()));
  if (options.users !== undefined) checkUsers(options.users);
  const dir = mkdtempSync(join(tmpdir(), 'opt-nats-'));
  const storeDir = join(dir, 'js');
  const lines = [`listen: "127.0.0.1:${port}"`, `max_payload: ${options.maxPayload ?? 8 * 1024 * 1024}`];
  if (options.jetStream ?? true) lines.push(`jetstream {\n  store_dir: ${JSON.stringify(storeDir)}\n}`);
  const config = join(dir, 'nats.conf');
  let tls: string | null = null;
  try {
    tls = options.tls === undefined ? null : tlsBlock(options.tls, dir);
    if (tls !== null) lines.push(`tls ${tls}`);
    if (options.users !== undefined) lines.push(`authorization ${authorizationBlock(options.users)}`);
    // Without TLS the WebSocket listener is plain ws://, acceptable on loopback only (nats-server refuses a
    // websocket block without TLS unless told); with TLS, browsers get wss:// with the TCP listener's certificate.
    if (wsPort !== null) lines.push(`websocket {\n  listen: "127.0.0.1:${wsPort}"\n  ${tls === null ? 'no_tls: true' : `tls ${tls}`}\n}`);
    writeFileSync(config, lines.join('\n') + '\n', { mode: 0o600 });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const startTimeoutMs = options.startTimeoutMs ?? 10000;
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  let child: ChildProcess;
  try {
    child = await launch(binary, config, startTimeoutMs);
  } catch (e) {
    cleanup();
    throw e;
  }
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    if (!alive()) return;
    const proc = child;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(signal);
    const timer = signal === 'SIGKILL' ? null : setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    if (timer !== null) clearTimeout(timer);
  };
  let stopped: Promise<void> | null = null;
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    wsUrl: wsPort === null ? null : `${tls === null ? 'ws' : 'wss'}://127.0.0.1:${wsPort}`,
    tls: tls !== null,
    authorization: options.users !== undefined,
    get process() {
      return child;
    },
    storeDir,
    configFile: config,
    get running() {
      return alive();
    },
    kill(signal: NodeJS.Signals = 'SIGKILL') {
      return terminate(signal);
    },
    async restart() {
      if (stopped !== null) throw new OptError('NATS_SERVER_STOPPED', 'restart() after stop(): the server folder is gone');
      await terminate('SIGKILL');
      // The port may linger for a moment after a kill: retry the start a few times.
      let last: unknown = null;
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          child = await launch(binary, config, startTimeoutMs);
          return;
        } catch (e) {
          last = e;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
      throw last;
    },
    stop() {
      stopped ??= (async () => {
        await terminate('SIGTERM');
        cleanup();
      })();
      return stopped;
    },
  };
}

/** A PEM string is written to `dir/name` (readable by the owner only); anything else is taken as a file path. */
function pemFile(value: string, dir: string, name: string): string {
  if (!value.includes('-----BEGIN')) return value;
  const file = join(dir, name);
  writeFileSync(file, value, { mode: 0o600 });
  return file;
}

/** The body of a `tls { ... }` block (shared by the TCP and WebSocket listeners). */
function tlsBlock(o: NatsTlsOptions, dir: string): string {
  if (typeof o.cert !== 'string' || typeof o.key !== 'string') throw new InvalidOptionError('tls', '(cert or key missing)', '{ cert, key } as PEM strings or file paths', 'startNatsServer');
  if (o.verify === true && o.ca === undefined) throw new InvalidOptionError('tls.verify', true, 'a tls.ca that client certificates chain to', 'startNatsServer');
  const timeout = o.timeout ?? 2;
  if (!(timeout > 0)) throw new InvalidOptionError('tls.timeout', timeout, 'a number of seconds > 0', 'startNatsServer');
  const body = [`cert_file: ${JSON.stringify(pemFile(o.cert, dir, 'server-cert.pem'))}`, `key_file: ${JSON.stringify(pemFile(o.key, dir, 'server-key.pem'))}`];
  if (o.ca !== undefined) body.push(`ca_file: ${JSON.stringify(pemFile(o.ca, dir, 'ca.pem'))}`);
  if (o.verify === true) body.push('verify: true');
  body.push(`timeout: ${timeout}`);
  return `{\n    ${body.join('\n    ')}\n  }`;
}

const USER_NAME = /^[A-Za-z0-9_.@-]{1,128}$/;

function checkUsers(users: readonly NatsUser[]): void {
  const seen = new Set<string>();
  for (const u of users) {
    if (typeof u.user !== 'string' || !USER_NAME.test(u.user)) throw new InvalidOptionError('users[].user', u.user, 'letters, digits, _ . @ - (1 to 128 characters)', 'startNatsServer');
    if (typeof u.password !== 'string' || u.password.length === 0) throw new InvalidOptionError('users[].password', '(hidden)', 'a non-empty string', 'startNatsServer');
    if (seen.has(u.user)) throw new InvalidOptionError('users[].user', u.user, 'distinct user names', 'startNatsServer');
    seen.add(u.user);
  }
}

/**
 * The `authorization { users = [...] }` block as JSON, which nats-server's configuration parser reads; quoted
 * strings are taken literally, so `$JS.API.>` and passwords with `$` are not mistaken for variables.
 */
function authorizationBlock(users: readonly NatsUser[]): string {
  const side = (p: NatsSubjectPermission | undefined): Record<string, readonly string[]> | undefined => {
    if (p === undefined) return undefined;
    const out: Record<string, readonly string[]> = {};
    if (p.allow !== undefined) out.allow = p.allow;
    if (p.deny !== undefined) out.deny = p.deny;
    return out;
  };
  const entries = users.map((u) => {
    const entry: Record<string, unknown> = { user: u.user, password: u.password };
    if (u.permissions !== undefined) {
      const perms: Record<string, unknown> = {};
      const pub = side(u.permissions.publish);
      const sub = side(u.permissions.subscribe);
      if (pub !== undefined) perms.publish = pub;
      if (sub !== undefined) perms.subscribe = sub;
      if (u.permissions.allowResponses === true) perms.allow_responses = true;
      entry.permissions = perms;
    }
    return entry;
  });
  return JSON.stringify({ users: entries }, null, 2);
}

/** Spawn `nats-server -c config` and resolve once it logs "Server is ready". */
async function launch(binary: string, config: string, startTimeoutMs: number): Promise<ChildProcess> {
  const child = spawn(binary, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    await new Promise<void>((resolve, reject) => {
      let log = '';
      const timer = setTimeout(() => reject(new OptError('NATS_SERVER_START', `nats-server was not ready within ${startTimeoutMs} ms:\n${log}`)), startTimeoutMs);
      const onData = (d: Buffer): void => {
        log += d.toString();
        if (log.includes('Server is ready')) {
          clearTimeout(timer);
          child.stderr!.off('data', onData);
          child.off('exit', onExit);
          child.stderr!.resume();
          resolve();
        }
      };
      const onExit = (code: number | null): void => {
        clearTimeout(timer);
        reject(new OptError('NATS_SERVER_START', `nats-server exited with code ${code}:\n${log}`));
      };
      child.stderr!.on('data', onData);
      child.once('exit', onExit);
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(new OptError('NATS_SERVER_START', `nats-server could not be started: ${e.message}`));
      });
    });
  } catch (e) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    }
    throw e;
  }
  return child;
}
