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
import { OptError } from '@opt/tensor';

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
   * Also listen for WebSocket clients (browsers: `wsconnect` of `@nats-io/nats-core`) on 127.0.0.1, without TLS:
   * `true` for a free port, or `{ port }`. Default off. The URL is {@link NatsServer.wsUrl}.
   */
  websocket?: boolean | { port?: number };
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
  /** `ws://127.0.0.1:<port>` of the WebSocket listener, or `null` when it was not asked for. */
  readonly wsUrl: string | null;
  /** The current server process (a new one after {@link NatsServer.restart}). */
  readonly process: ChildProcess;
  /** The JetStream store folder (kept across {@link NatsServer.restart}; removed by {@link NatsServer.stop}). */
  readonly storeDir: string;
  /** The configuration file the server runs with. */
  readonly configFile: string;
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
 * `max_payload` 8 MiB, optionally a WebSocket listener for browser clients) and resolve once it accepts connections.
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
  const dir = mkdtempSync(join(tmpdir(), 'opt-nats-'));
  const storeDir = join(dir, 'js');
  const lines = [`listen: "127.0.0.1:${port}"`, `max_payload: ${options.maxPayload ?? 8 * 1024 * 1024}`];
  if (options.jetStream ?? true) lines.push(`jetstream {\n  store_dir: ${JSON.stringify(storeDir)}\n}`);
  // Loopback only, so plain ws:// is acceptable (nats-server refuses a websocket block without TLS unless told).
  if (wsPort !== null) lines.push(`websocket {\n  listen: "127.0.0.1:${wsPort}"\n  no_tls: true\n}`);
  const config = join(dir, 'nats.conf');
  writeFileSync(config, lines.join('\n') + '\n');
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
    wsUrl: wsPort === null ? null : `ws://127.0.0.1:${wsPort}`,
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
