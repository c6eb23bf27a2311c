/**
 * Authenticated, permissioned, TLS-protected NATS: private nats-servers started here (never the shared one of
 * global-setup) with a throw-away CA made by openssl, users with least-privilege subject permissions
 * (`federatedPermissions`, `parameterServerPermissions`), and federated rounds over them.
 */
import { randomBytes } from 'node:crypto';
import { type Socket, connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { type ConnectionOptions, type NatsConnection, connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { SGD } from '@opt/core';
import { Parameter } from '@opt/tensor';
import { FederatedClient, FederatedServer, PayloadRejectedError, checkUpdateSender, encodeUpdate } from '../src/index';
import { ParameterServer } from '../src/ps/server';
import { ParameterServerWorker } from '../src/ps/worker';
import { type NatsServer, federatedPermissions, parameterServerPermissions, startNatsServer, userInboxPrefix } from '../src/node/index';
import { type ThrowawayCa, makeThrowawayCa } from './helpers/throwaway-ca';

const JOB = 'sec';
const D = 8;
const secret = (): string => randomBytes(12).toString('hex');
const SERVER = { user: 'fl-server', password: secret() };
const CLIENTS = ['c0', 'c1', 'c2'].map((user) => ({ user, password: secret() }));
const passwordOf = (user: string): string => (user === SERVER.user ? SERVER : CLIENTS.find((c) => c.user === user)!).password;

let ca: ThrowawayCa;
let otherCa: ThrowawayCa;
let nats: NatsServer;
const open: NatsConnection[] = [];

/** Log in as `user` over TLS trusting the throw-away CA, with the user's own inbox prefix. */
async function login(user: string, extra: Partial<ConnectionOptions> = {}): Promise<NatsConnection> {
  const nc = await connect({
    servers: nats.url,
    user,
    pass: passwordOf(user),
    inboxPrefix: userInboxPrefix(user),
    tls: { ca: ca.ca.cert },
    reconnect: false,
    ...extra,
  });
  open.push(nc);
  return nc;
}

/** Whatever `connect` rejects with (it must reject). */
async function refusal(options: ConnectionOptions): Promise<Error> {
  try {
    const nc = await connect({ reconnect: false, timeout: 5000, ...options });
    // Under TLS 1.3 the client may finish its handshake before the server has checked the client's certificate: only
    // a round trip shows whether the server kept the connection.
    try {
      await nc.flush();
    } finally {
      await nc.close().catch(() => undefined);
    }
  } catch (e) {
    return e as Error;
  }
  throw new Error('the connection was accepted');
}

/** What `p` rejects with (it must reject). */
async function failure(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('it succeeded');
    },
    (e: unknown) => e as Error,
  );
}

/** The error chain's messages, for assertions on the root cause. */
function chain(e: unknown): string {
  const parts: string[] = [];
  for (let x = e as { message?: string; cause?: unknown } | undefined; x !== undefined && x !== null && parts.length < 5; x = x.cause as typeof x) parts.push(`${(x as Error).name}: ${x.message}`);
  return parts.join(' <- ');
}

/** Three clients' deterministic local training: 3 steps of gradient descent towards client-specific targets. */
function trainer(k: number): (model: Float32Array | Float64Array) => { weights: Float32Array; numExamples: number } {
  return (model) => {
    const w = Float32Array.from(model);
    for (let step = 0; step < 3; step++) for (let i = 0; i < D; i++) w[i] = w[i]! - 0.3 * (w[i]! - Math.sin(1.7 * k + 0.9 * i + 0.1 * step));
    return { weights: w, numExamples: 10 + 7 * k };
  };
}

/**
 * Two FedAvg rounds of the three clients against `server`; the clients publish one after another, so the updates
 * arrive (and are summed) in the same order on every server.
 */
async function twoRounds(server: FederatedServer, clients: FederatedClient[]): Promise<void> {
  await server.waitForClients(3, 5000);
  for (let r = 0; r < 2; r++) {
    await server.startRound();
    for (const c of clients) await c.runOnce(5000);
    const report = await server.finishRound();
    expect(report.accepted).toEqual(['c0', 'c1', 'c2']);
    expect(report.rejected).toEqual([]);
  }
}

beforeAll(async () => {
  ca = makeThrowawayCa();
  otherCa = makeThrowawayCa('another CA');
  // PEM strings (written into the server's folder) and the federated job's least-privilege users.
  nats = await startNatsServer({
    tls: { cert: ca.server.cert, key: ca.server.key },
    users: federatedPermissions({ job: JOB, serverUser: SERVER, clients: CLIENTS }),
    websocket: true,
  });
}, 20000);

afterEach(async () => {
  await Promise.all(open.splice(0).map((nc) => nc.close().catch(() => undefined)));
});

afterAll(async () => {
  await nats?.stop();
  ca?.remove();
  otherCa?.remove();
});

describe('authentication and TLS', () => {
  test('the server requires TLS and logins, and serves browsers over wss://', () => {
    expect(nats.tls).toBe(true);
    expect(nats.authorization).toBe(true);
    expect(nats.wsUrl).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
  });

  test('a client without credentials is refused with an authorization error', async () => {
    const e = await refusal({ servers: nats.url, tls: { ca: ca.ca.cert } });
    expect(e.name).toBe('AuthorizationError');
  });

  test('a client with a wrong password is refused with an authorization error', async () => {
    const e = await refusal({ servers: nats.url, user: 'c0', pass: 'not-the-password', tls: { ca: ca.ca.cert } });
    expect(e.name).toBe('AuthorizationError');
    // The right password works.
    const nc = await login('c0');
    expect(nc.isClosed()).toBe(false);
  });

  test('a plain (non-TLS) connection to the TLS-required server is refused', async () => {
    // The client library refuses when told not to use TLS ...
    const e = await refusal({ servers: nats.url, user: 'c0', pass: passwordOf('c0'), tls: null });
    expect(chain(e)).toMatch(/tls/i);
    // ... and the server itself refuses a client that speaks the protocol in clear text, credentials included.
    const socket: Socket = tcpConnect(nats.port, '127.0.0.1');
    const transcript = await new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (d) => {
        text += d.toString();
        if (text.startsWith('INFO') && text.includes('\r\n') && !text.includes('CONNECT_SENT')) {
          text += 'CONNECT_SENT\n';
          socket.write(`CONNECT ${JSON.stringify({ user: 'c0', pass: passwordOf('c0'), verbose: false, pedantic: false, protocol: 1 })}\r\nPING\r\n`);
        }
      });
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(text));
    });
    const info = JSON.parse(transcript.slice(5, transcript.indexOf('\r\n'))) as { tls_required?: boolean };
    expect(info.tls_required).toBe(true);
    // The clear-text CONNECT is no TLS handshake: the server closes the connection without a reply.
    expect(transcript.slice(transcript.indexOf('CONNECT_SENT\n') + 'CONNECT_SENT\n'.length)).toBe('');
  });

  test('a client that trusts a different CA refuses the server', async () => {
    const e = await refusal({ servers: nats.url, user: 'c0', pass: passwordOf('c0'), tls: { ca: otherCa.ca.cert } });
    expect(chain(e)).toMatch(/certificate/i);
    // So does a client with only the system's trust store.
    const e2 = await refusal({ servers: nats.url, user: 'c0', pass: passwordOf('c0'), tls: {} });
    expect(chain(e2)).toMatch(/certificate/i);
  });

  test('the WebSocket listener speaks TLS with the same certificate', async () => {
    const port = Number(new URL(nats.wsUrl!).port);
    const reply = await new Promise<{ authorized: boolean; head: string }>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, ca: ca.ca.cert, servername: 'localhost' }, () => {
        s.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      });
      let head = '';
      s.on('data', (d) => {
        head += d.toString('latin1');
        if (head.includes('\r\n\r\n')) {
          resolve({ authorized: s.authorized, head });
          s.destroy();
        }
      });
      s.on('error', reject);
    });
    expect(reply.authorized).toBe(true);
    expect(reply.head).toMatch(/^HTTP\/1\.1 101 /);
  });

  test('invalid TLS and user options are refused before a server starts', async () => {
    await expect(startNatsServer({ tls: { cert: ca.server.cert, key: ca.server.key, verify: true } })).rejects.toThrow(/tls\.verify/);
    await expect(startNatsServer({ tls: { cert: ca.server.cert, key: ca.server.key, timeout: 0 } })).rejects.toThrow(/tls\.timeout/);
    await expect(startNatsServer({ users: [{ user: 'a', password: '' }] })).rejects.toThrow(/password/);
    await expect(startNatsServer({ users: [{ user: 'a', password: 'x' }, { user: 'a', password: 'y' }] })).rejects.toThrow(/distinct/);
  });

  test('mutual TLS: only clients with a certificate from the CA get in (files given as paths)', async () => {
    const mtls = await startNatsServer({
      jetStream: false,
      tls: { cert: ca.server.certFile, key: ca.server.keyFile, ca: ca.ca.certFile, verify: true },
      users: [{ user: 'u', password: 'pw' }],
    });
    try {
      const base = { servers: mtls.url, user: 'u', pass: 'pw' };
      const without = await refusal({ ...base, tls: { ca: ca.ca.cert } });
      // The server drops a client without a certificate during or right after the handshake: the client sees a TLS
      // alert, a closed connection or a reset, depending on timing.
      expect(chain(without)).toMatch(/certificate|tls|closed|connection|ECONNRESET/i);
      const stranger = otherCa.client('mallory');
      await refusal({ ...base, tls: { ca: ca.ca.cert, cert: stranger.cert, key: stranger.key } });
      const alice = ca.client('alice');
      const nc = await connect({ ...base, tls: { ca: ca.ca.cert, cert: alice.cert, key: alice.key }, reconnect: false });
      await nc.flush();
      await nc.close();
    } finally {
      await mtls.stop();
    }
  });
});

describe('subject permissions of a federated job', () => {
  test('the users are least-privilege: a client may only publish its own update subject and registration key', () => {
    const users = federatedPermissions({ job: 'j', serverUser: { user: 's', password: 'p' }, clients: [{ user: 'a', password: 'q' }], secureAggregation: false });
    expect(users.map((u) => u.user)).toEqual(['s', 'a']);
    expect(users[1]!.permissions).toEqual({
      publish: {
        allow: ['fl.j.*.update.a', '$KV.fl_j.client.a', '$JS.API.STREAM.MSG.GET.KV_fl_j', '$JS.API.DIRECT.GET.KV_fl_j.$KV.fl_j.task', '$JS.API.DIRECT.GET.KV_fl_j.$KV.fl_j.model.*'],
      },
      subscribe: { allow: ['_INBOX.a.>'] },
    });
    expect(users[0]!.permissions!.publish!.allow).toContain('fl.j.>');
    expect(users[0]!.permissions!.publish!.allow).not.toContain('$JS.API.>');
    expect(() => federatedPermissions({ job: 'j', serverUser: { user: 's', password: 'p' }, clients: [{ user: 's', password: 'q' }] })).toThrow(/distinct/);
    expect(() => federatedPermissions({ job: 'j', serverUser: { user: 's', password: 'p' }, clients: [{ user: 'a.b', password: 'q' }] })).toThrow(/clients\[0\]\.user/);
  });

  test('client A cannot publish to B\'s update subject, read the stream, register as B or rewrite the task; the server never sees it', async () => {
    const serverConn = await login(SERVER.user);
    const model = new Float32Array(D).fill(0.5);
    const server = await FederatedServer.create({ connection: serverConn, job: JOB, model, minClients: 1, roundTimeoutMs: 4000 });
    try {
      const conns = await Promise.all(CLIENTS.map((c) => login(c.user)));
      const clients = await Promise.all(conns.map((connection, k) => FederatedClient.create({ connection, job: JOB, clientId: `c${k}`, train: trainer(k) })));
      await server.waitForClients(3, 5000);
      const task = await server.startRound();
      const forged = encodeUpdate({ round: task.round, modelVersion: task.modelVersion, shapeHash: task.shapeHash, numExamples: 1000, nonce: 5 }, new Float32Array(D).fill(100));
      const js0 = jetstream(conns[0]!);
      const violation = await js0.publish(`fl.${JOB}.${task.round}.update.c1`, forged, { msgID: `c1.${task.round}`, timeout: 2000 }).then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(chain(violation)).toMatch(/PermissionViolationError: Permissions Violation for Publish to "fl\.sec\.\d+\.update\.c1"/);
      // Registering as c1, rewriting the task, or consuming the job's stream (where every update lies) are refused too.
      expect(chain(await failure(js0.publish(`$KV.fl_${JOB}.client.c1`, new Uint8Array(2), { timeout: 2000 })))).toMatch(/Permissions Violation for Publish to "\$KV\.fl_sec\.client\.c1"/);
      expect(chain(await failure(js0.publish(`$KV.fl_${JOB}.task`, new Uint8Array(2), { timeout: 2000 })))).toMatch(/Permissions Violation for Publish to "\$KV\.fl_sec\.task"/);
      const spy = await failure(jetstreamManager(conns[0]!, { timeout: 2000, checkAPI: false }).then((m) => m.consumers.add(`FL_${JOB}`, { durable_name: 'spy' })));
      expect(chain(spy)).toMatch(/Permissions Violation for Publish to "\$JS\.API\.CONSUMER\./);
      // Subscribing to the updates or to the server's inbox is refused by the server.
      const denied: string[] = [];
      const status = (async () => {
        for await (const s of conns[0]!.status()) if (s.type === 'error') denied.push(String(s.error));
      })();
      conns[0]!.subscribe(`fl.${JOB}.>`);
      conns[0]!.subscribe(`${userInboxPrefix(SERVER.user)}.>`);
      await conns[0]!.flush().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(denied.join('\n')).toMatch(/Permissions Violation for Subscription to "fl\.sec\.>"/);
      expect(denied.join('\n')).toMatch(/Permissions Violation for Subscription to "_INBOX\.fl-server\.>"/);
      void status;
      // The honest round: every client publishes its own update; the forgery is nowhere.
      for (const c of clients) await c.participate(task);
      const report = await server.finishRound();
      expect(report.accepted).toEqual(['c0', 'c1', 'c2']);
      expect(report.rejected).toEqual([]);
      expect(report.closedBy).toBe('complete');
      for (let i = 0; i < D; i++) expect(Math.abs(model[i]!)).toBeLessThan(2);
      const jsm = await jetstreamManager(serverConn);
      const info = await jsm.streams.info(`FL_${JOB}`, { subjects_filter: `fl.${JOB}.${task.round}.update.>` });
      expect(info.state.subjects).toEqual({ [`fl.${JOB}.${task.round}.update.c0`]: 1, [`fl.${JOB}.${task.round}.update.c1`]: 1, [`fl.${JOB}.${task.round}.update.c2`]: 1 });
    } finally {
      await server.destroy();
    }
  }, 20000);

  test('an update whose message id names another client than its subject is rejected and counted; the model is unchanged', async () => {
    expect(checkUpdateSender('fl.j.3.update.c0', 'c0.3')).toBe('c0');
    expect(checkUpdateSender('fl.j.3.update.c0', 'c0.3.77', 77)).toBe('c0');
    const rejectedAs = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(PayloadRejectedError);
        return (e as PayloadRejectedError).reason;
      }
      return 'accepted';
    };
    expect(rejectedAs(() => checkUpdateSender('fl.j.3.update.c0', 'c1.3'))).toBe('authentication');
    expect(rejectedAs(() => checkUpdateSender('fl.j.3.update.c0', 'c0.4'))).toBe('authentication');
    expect(rejectedAs(() => checkUpdateSender('fl.j.3.update.c0', 'c0.3.78', 77))).toBe('authentication');
    expect(rejectedAs(() => checkUpdateSender('fl.j.3.update.c0', undefined))).toBe('authentication');
    expect(rejectedAs(() => checkUpdateSender('fl.j.3.task', 'c0.3'))).toBe('authentication');

    const serverConn = await login(SERVER.user);
    const model = new Float32Array(D).fill(0.25);
    const server = await FederatedServer.create({ connection: serverConn, job: JOB, model, minClients: 1, roundTimeoutMs: 1500 });
    try {
      const c0 = await login('c0');
      await FederatedClient.create({ connection: c0, job: JOB, clientId: 'c0', train: trainer(0) });
      await server.waitForClients(1, 5000);
      const task = await server.startRound();
      // c0 may publish on its own subject, but claims to be someone else in the message id.
      const h = { round: task.round, modelVersion: task.modelVersion, shapeHash: task.shapeHash, numExamples: 1, nonce: 9 };
      await jetstream(c0).publish(`fl.${JOB}.${task.round}.update.c0`, encodeUpdate(h, new Float32Array(D).fill(1)), { msgID: `c9.${task.round}` });
      const before = model.slice();
      const failed = await server.finishRound().then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(failed?.name).toBe('RoundFailedError');
      expect(failed?.message).toMatch(/0 accepted updates, 1 required \(1 rejected\)/);
      expect(model).toEqual(before);
      // The next round counts the rejection in its report.
      const task2 = await server.startRound();
      const h2 = { ...h, round: task2.round, modelVersion: task2.modelVersion, nonce: 10 };
      await jetstream(c0).publish(`fl.${JOB}.${task2.round}.update.c0`, encodeUpdate(h2, new Float32Array(D).fill(1)), { msgID: `c2.${task2.round}` });
      await jetstream(c0).publish(`fl.${JOB}.${task2.round}.update.c0`, encodeUpdate({ ...h2, nonce: 11 }, new Float32Array(D).fill(0.5)), { msgID: `c0.${task2.round}.11` });
      const report = await server.finishRound();
      expect(report.accepted).toEqual(['c0']);
      expect(report.rejections).toEqual({ authentication: 1 });
      expect(report.rejected[0]).toMatchObject({ clientId: 'c0', reason: 'authentication' });
      expect(Array.from(model)).toEqual(Array.from(before, (x) => x + 0.5));
    } finally {
      await server.destroy();
    }
  }, 20000);

  test('a federated round over TLS with 3 permissioned clients equals the unsecured round bit for bit', async () => {
    const run = async (connectAs: (user: string) => Promise<NatsConnection>, job: string): Promise<Float32Array> => {
      const model = Float32Array.from({ length: D }, (_, i) => Math.cos(i));
      const serverConn = await connectAs(SERVER.user);
      const server = await FederatedServer.create({ connection: serverConn, job, model, minClients: 3, roundTimeoutMs: 10000, seed: 3 });
      try {
        const conns = await Promise.all(CLIENTS.map((c) => connectAs(c.user)));
        const clients = await Promise.all(conns.map((connection, k) => FederatedClient.create({ connection, job, clientId: `c${k}`, train: trainer(k), pollMs: 10 })));
        await twoRounds(server, clients);
      } finally {
        await server.destroy();
      }
      return model;
    };
    const plain = await startNatsServer();
    let unsecured: Float32Array;
    try {
      unsecured = await run(async () => {
        const nc = await connect({ servers: plain.url, reconnect: false });
        open.push(nc);
        return nc;
      }, JOB);
    } finally {
      await Promise.all(open.splice(0).map((nc) => nc.close().catch(() => undefined)));
      await plain.stop();
    }
    const secured = await run(login, JOB);
    expect(Array.from(unsecured)).not.toEqual(Array.from({ length: D }, (_, i) => Math.fround(Math.cos(i))));
    expect(Buffer.from(secured.buffer).equals(Buffer.from(unsecured.buffer))).toBe(true);
  }, 30000);
});

describe('subject permissions of a parameter server', () => {
  test('permissioned workers pull and push; a worker can neither write the model nor read another worker\'s notices', async () => {
    const job = 'psq';
    const ps = { user: 'ps', password: secret() };
    const workers = [0, 1].map((w) => ({ user: `w${w}`, password: secret() }));
    const server = await startNatsServer({ tls: { cert: ca.server.cert, key: ca.server.key }, users: parameterServerPermissions({ job, numShards: 1, serverUsers: [ps], workers }) });
    const conns: NatsConnection[] = [];
    const as = async (u: { user: string; password: string }): Promise<NatsConnection> => {
      const nc = await connect({ servers: server.url, user: u.user, pass: u.password, inboxPrefix: userInboxPrefix(u.user), tls: { ca: ca.ca.cert }, reconnect: false });
      conns.push(nc);
      return nc;
    };
    let shard: ParameterServer | null = null;
    try {
      const params = [new Parameter(new Float32Array(4).fill(1), [4], 'x')];
      shard = await ParameterServer.start({ connection: await as(ps), job, shard: 0, numShards: 1, parameters: params, optimizer: (p) => new SGD(p, { lr: 0.5 }), tau: 0, policy: 'block' });
      const w0 = await ParameterServerWorker.create({ connection: await as(workers[0]!), job, worker: 'w0', numShards: 1, timeoutMs: 10000 });
      const { values, versions } = await w0.pull();
      expect(Array.from(values)).toEqual([1, 1, 1, 1]);
      const [pushed] = await w0.push(0, new Float32Array([1, 2, 3, 4]), versions);
      expect(pushed).toMatchObject({ status: 'applied', version: 1 });
      expect(Array.from((await w0.pull({ lease: false })).values)).toEqual([0.5, 0, -0.5, -1]);
      const w1 = await as(workers[1]!);
      expect(chain(await failure(jetstream(w1).publish(`$KV.opt_${job}_ps.shard-0`, new Uint8Array(4), { timeout: 2000 })))).toMatch(/Permissions Violation for Publish to "\$KV\.opt_psq_ps\.shard-0"/);
      const denied: string[] = [];
      void (async () => {
        for await (const s of w1.status()) if (s.type === 'error') denied.push(String(s.error));
      })();
      w1.subscribe(`opt.${job}.ps.*.notice.w0`);
      await w1.flush().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(denied.join('\n')).toMatch(/Permissions Violation for Subscription to "opt\.psq\.ps\.\*\.notice\.w0"/);
      await w0.close();
    } finally {
      await shard?.stop();
      await Promise.all(conns.map((nc) => nc.close().catch(() => undefined)));
      await server.stop();
    }
  }, 20000);
});
