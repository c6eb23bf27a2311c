/**
 * A throw-away certificate authority for the TLS tests, made with the system's `openssl` in a temporary folder:
 * a CA (P-256, valid one day), a server certificate for `localhost` / `127.0.0.1` (subject alternative names),
 * and client certificates for mutual TLS. `remove()` deletes every key and certificate.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A certificate and its key: file paths and PEM contents. */
export interface CertPair {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface ThrowawayCa {
  dir: string;
  /** The CA's own certificate and key. */
  ca: CertPair;
  /** A server certificate for DNS:localhost and IP:127.0.0.1, signed by the CA. */
  server: CertPair;
  /** A client certificate (extended key usage clientAuth) with common name `name`, signed by the CA. */
  client(name: string): CertPair;
  /** Delete the folder. */
  remove(): void;
}

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Where `openssl` is. A machine without it gets Debian's `openssl` package when the tests run as root with apt-get
 * (as the project's scripts install nats-server and chromium); otherwise a clear failure.
 */
export function findOpenssl(): string {
  if (hasOpenssl()) return 'openssl';
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (root) {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    for (const args of [['install', '-y', '-qq', 'openssl'], ['update', '-qq'], ['install', '-y', '-qq', 'openssl']]) {
      try {
        execFileSync('apt-get', args, { stdio: 'ignore', env, timeout: 300_000 });
      } catch {
        // The first install fails on a machine whose package lists were never fetched: update, then retry.
      }
      if (hasOpenssl()) return 'openssl';
    }
  }
  throw new Error('openssl is needed for the TLS tests of @opt/distributed (a throw-away CA): install it, e.g. apt-get install -y openssl');
}

function run(openssl: string, args: string[], cwd: string): void {
  try {
    execFileSync(openssl, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`openssl ${args[0]} failed: ${stderr || String(e)}`);
  }
}

function pair(dir: string, name: string): CertPair {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}-key.pem`);
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

/** Key and signing request of `name`, then a certificate signed by the CA with the extensions `ext`. */
function issue(openssl: string, dir: string, name: string, subject: string, ext: string): CertPair {
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, ext);
  run(openssl, ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', subject], dir);
  // A random serial per certificate: no serial file to keep, and two CAs never issue look-alike certificates.
  const serial = `0x1${randomBytes(15).toString('hex')}`;
  run(openssl, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-set_serial', serial, '-days', '1', '-sha256', '-extfile', extFile, '-out', `${name}.pem`], dir);
  return pair(dir, name);
}

/** Make a CA and a server certificate in a fresh temporary folder. */
export function makeThrowawayCa(label = 'opt test CA'): ThrowawayCa {
  const openssl = findOpenssl();
  const dir = mkdtempSync(join(tmpdir(), 'opt-ca-'));
  try {
    run(
      openssl,
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem',
        '-days', '1', '-sha256', '-subj', `/CN=${label}`,
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      ],
      dir,
    );
    const ca = pair(dir, 'ca');
    const server = issue(
      openssl,
      dir,
      'server',
      '/CN=localhost',
      'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n',
    );
    return {
      dir,
      ca,
      server,
      client: (name) => issue(openssl, dir, `client-${name}`, `/CN=${name}`, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n'),
      remove: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
