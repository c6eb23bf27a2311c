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
}

/** A running server; {@link NatsServer.stop} kills it and removes its temporary folder. */
export interface NatsServer {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** The server process. */
  readonly process: ChildProcess;
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
 * `max_payload` 8 MiB) and resolve once it accepts connections.
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
  const dir = mkdtempSync(join(tmpdir(), 'opt-nats-'));
  const lines = [`listen: "127.0.0.1:${port}"`, `max_payload: ${options.maxPayload ?? 8 * 1024 * 1024}`];
  if (options.jetStream ?? true) lines.push(`jetstream {\n  store_dir: ${JSON.stringify(join(dir, 'js'))}\n}`);
  const config = join(dir, 'nats.conf');
  writeFileSync(config, lines.join('\n') + '\n');
  const child = spawn(binary, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    await new Promise<void>((resolve, reject) => {
      let log = '';
      const timer = setTimeout(() => reject(new OptError('NATS_SERVER_START', `nats-server was not ready within ${options.startTimeoutMs ?? 10000} ms:\n${log}`)), options.startTimeoutMs ?? 10000);
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
    child.kill('SIGKILL');
    cleanup();
    throw e;
  }
  let stopped: Promise<void> | null = null;
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    process: child,
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(timer);
        }
        cleanup();
      })();
      return stopped;
    },
  };
}
