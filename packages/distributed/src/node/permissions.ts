/**
 * Least-privilege nats-server users for federated jobs and parameter servers: what each participant may publish
 * and subscribe to, as `users` of `startNatsServer` (or, written out, of any nats-server's `authorization` block).
 *
 * @packageDocumentation
 */
import { InvalidOptionError } from '@opt/tensor';
import { psNames } from '../ps/layout.js';
import { federatedNames } from '../federated/protocol.js';
import type { NatsUser } from './nats-server.js';

/** A user name and its password. */
export interface NatsCredentials {
  user: string;
  password: string;
}

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

function checkToken(option: string, value: string, where: string): string {
  if (typeof value !== 'string' || !TOKEN.test(value)) throw new InvalidOptionError(option, value, 'letters, digits, _ and - (1 to 64 characters)', where);
  return value;
}

function checkCredentials(option: string, c: NatsCredentials, where: string): void {
  checkToken(`${option}.user`, c.user, where);
  if (typeof c.password !== 'string' || c.password.length === 0) throw new InvalidOptionError(`${option}.password`, '(hidden)', 'a non-empty string', where);
}

function checkDistinct(users: readonly NatsUser[], where: string): NatsUser[] {
  const seen = new Set<string>();
  for (const u of users) {
    if (seen.has(u.user)) throw new InvalidOptionError('user', u.user, 'distinct user names', where);
    seen.add(u.user);
  }
  return users.slice();
}

/**
 * The inbox prefix a user of {@link federatedPermissions} or {@link parameterServerPermissions} must connect with
 * (the `inboxPrefix` connection option of `@nats-io/nats-core`): `_INBOX.<user>`. Each user may subscribe only to
 * its own inboxes, so no participant can read the replies meant for another (JetStream acknowledgements, pulled
 * updates, key-value reads).
 *
 * @example
 * ```ts
 * const nc = await connect({ servers: url, user: 'c1', pass: secret, inboxPrefix: userInboxPrefix('c1'), tls: { ca } });
 * ```
 */
export function userInboxPrefix(user: string): string {
  return `_INBOX.${checkToken('user', user, 'userInboxPrefix')}`;
}

/** A federated client's login and, when it differs from the user name, its client id. */
export interface FederatedClientCredentials extends NatsCredentials {
  /** The `clientId` it runs `FederatedClient` with (default: the user name). */
  clientId?: string;
}

/** Options of {@link federatedPermissions}. */
export interface FederatedPermissionsOptions {
  /** The job (as `FederatedServer`'s `job`). */
  job: string;
  /** The user the `FederatedServer` connects as. */
  serverUser: NatsCredentials;
  /** One user per client. */
  clients: readonly FederatedClientCredentials[];
  /** Also grant the secure-aggregation subjects and keys (default true). */
  secureAggregation?: boolean;
}

/**
 * The users of one federated job, each with the least privilege its role needs (JetStream subjects of nats-server
 * 2.9: `$JS.API.…` requests, `$KV.<bucket>.<key>` writes, `$JS.ACK.…` acknowledgements):
 *
 * - the **server** may publish anything under `fl.<job>.>`, write every key of the job's bucket `fl_<job>`, and use
 *   the JetStream API on the job's stream `FL_<job>` and the bucket's stream `KV_fl_<job>` only (create, inspect,
 *   delete, consumers, pulls, acknowledgements); it receives only on its own inbox.
 * - client `<id>` may publish only its own update subject `fl.<job>.*.update.<id>` (and, with secure
 *   aggregation, `fl.<job>.*.sa.*.<id>`), write only its own registration key `client.<id>`, and read the
 *   bucket; it receives only on its own inbox. It cannot read the job's stream, so it never sees another client's
 *   update, and it cannot write the task, the models or another client's keys.
 *
 * Reading: `FederatedClient` opens the bucket without direct gets, so its reads go to
 * `$JS.API.STREAM.MSG.GET.KV_fl_<job>`, whose key is in the request body and cannot be limited by a subject
 * permission: a client can read every key of the bucket. Nothing there is secret from clients (models, the task,
 * registrations, secure-aggregation public keys and pairwise-encrypted shares). The per-key direct-get subjects
 * (`task`, `model.*`, and with secure aggregation `sa.*.roster`, `sa.*.survivors`, `sa.*.inbox.<id>`) are granted
 * too, for clients that open the bucket with `allow_direct: true`.
 *
 * NATS messages carry no sender identity: the subject is what identifies the sender, and the publish permission on
 * `fl.<job>.*.update.<id>` is what authenticates it (`FederatedServer` also rejects an update whose message id
 * names another client). Every user must connect with `inboxPrefix: userInboxPrefix(user)`.
 *
 * @returns the `users` for `startNatsServer` (server first, then the clients in the given order).
 * @throws `InvalidOptionError` for a job, user or client id that is not a subject token, or repeated users.
 *
 * @example
 * ```ts
 * const users = federatedPermissions({
 *   job: 'digits',
 *   serverUser: { user: 'fl-server', password: serverSecret },
 *   clients: [{ user: 'c1', password: secret1 }, { user: 'c2', password: secret2 }],
 * });
 * const nats = await startNatsServer({ users, tls: { cert, key } });
 * ```
 */
export function federatedPermissions(options: FederatedPermissionsOptions): NatsUser[] {
  const where = 'federatedPermissions';
  const job = options.job;
  const names = federatedNames(job);
  checkCredentials('serverUser', options.serverUser, where);
  const secure = options.secureAggregation ?? true;
  const kvStream = `KV_${names.bucket}`;
  const kv = `$KV.${names.bucket}`;
  const server: NatsUser = {
    user: options.serverUser.user,
    password: options.serverUser.password,
    permissions: {
      publish: { allow: [`fl.${job}.>`, `${kv}.>`, '$JS.API.INFO', ...jetStreamApi(names.stream), ...jetStreamApi(kvStream)] },
      subscribe: { allow: [`${userInboxPrefix(options.serverUser.user)}.>`] },
    },
  };
  const direct = (key: string): string => `$JS.API.DIRECT.GET.${kvStream}.${kv}.${key}`;
  const clients = options.clients.map((c, i): NatsUser => {
    checkCredentials(`clients[${i}]`, c, where);
    const id = checkToken(`clients[${i}].clientId`, c.clientId ?? c.user, where);
    const publish = [`fl.${job}.*.update.${id}`, `${kv}.client.${id}`, `$JS.API.STREAM.MSG.GET.${kvStream}`, direct('task'), direct('model.*')];
    if (secure) publish.push(`fl.${job}.*.sa.*.${id}`, direct('sa.*.roster'), direct('sa.*.survivors'), direct(`sa.*.inbox.${id}`));
    return {
      user: c.user,
      password: c.password,
      permissions: { publish: { allow: publish }, subscribe: { allow: [`${userInboxPrefix(c.user)}.>`] } },
    };
  });
  return checkDistinct([server, ...clients], where);
}

/**
 * The JetStream API subjects that manage one stream and its consumers (stream info, create, update, delete,
 * purge, message get, consumer create, info, delete and pull) and acknowledge or answer flow control on its
 * messages: nothing on other streams.
 */
function jetStreamApi(stream: string): string[] {
  return [
    `$JS.API.STREAM.*.${stream}`,
    `$JS.API.STREAM.MSG.*.${stream}`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.CONSUMER.*.${stream}`,
    `$JS.API.CONSUMER.*.${stream}.>`,
    `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.*`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.*`,
    `$JS.ACK.${stream}.>`,
    `$JS.FC.${stream}.>`,
  ];
}

/** A parameter-server worker's login and, when it differs from the user name, its worker id. */
export interface ParameterServerWorkerCredentials extends NatsCredentials {
  /** The `worker` it runs `ParameterServerWorker` with (default: the user name). */
  workerId?: string;
}

/** Options of {@link parameterServerPermissions}. */
export interface ParameterServerPermissionsOptions {
  /** The job (as `ParameterServer`'s `job`). */
  job: string;
  /** Number of shards (the shard streams `OPT_PS_<job>_<k>` are named one by one: a wildcard cannot match part of a name). */
  numShards: number;
  /** The user (or one user per shard) the shard servers connect as. */
  serverUsers: readonly NatsCredentials[];
  /** One user per worker. */
  workers: readonly ParameterServerWorkerCredentials[];
}

/**
 * The users of one parameter-server job:
 *
 * - **shard servers** may publish under `opt.<job>.ps.>` (notices to workers), write the job's bucket
 *   `opt_<job>_ps`, use the JetStream API on the shard streams `OPT_PS_<job>_<k>` and the bucket's stream only,
 *   subscribe to the lease requests `opt.<job>.ps.*.lease` and answer them (`allow_responses`);
 * - worker `<id>` may push gradients (`opt.<job>.ps.*.grad`), request leases (`opt.<job>.ps.*.lease`), create or
 *   look up the bucket and read any of its keys (the shards' values), and receive only its own notices
 *   (`opt.<job>.ps.*.notice.<id>`) and its own inbox. It can neither write the model nor read other workers' notices
 *   or the gradient streams.
 *
 * The gradient subject is shared by all workers and the worker's name travels in the `Opt-Worker` header, so
 * these permissions keep workers from tampering with the model and from eavesdropping, but do not stop a worker
 * from pushing under another worker's name; deployments that need that distinction run one job per trust domain.
 * Every user must connect with `inboxPrefix: userInboxPrefix(user)`.
 *
 * @returns the `users` for `startNatsServer` (servers first, then the workers in the given order).
 * @throws `InvalidOptionError` for a job, user or worker id that is not a subject token, repeated users, or a
 * `numShards` that is not a positive integer.
 *
 * @example
 * ```ts
 * const users = parameterServerPermissions({
 *   job: 'quad', numShards: 2,
 *   serverUsers: [{ user: 'ps', password: psSecret }],
 *   workers: [{ user: 'w0', password: s0 }, { user: 'w1', password: s1 }],
 * });
 * ```
 */
export function parameterServerPermissions(options: ParameterServerPermissionsOptions): NatsUser[] {
  const where = 'parameterServerPermissions';
  const job = checkToken('job', options.job, where);
  if (!Number.isInteger(options.numShards) || options.numShards < 1) throw new InvalidOptionError('numShards', options.numShards, 'an integer >= 1', where);
  if (options.serverUsers.length === 0) throw new InvalidOptionError('serverUsers', options.serverUsers, 'at least one user', where);
  const bucket = psNames.bucket(job);
  const kvStream = `KV_${bucket}`;
  const kv = `$KV.${bucket}`;
  const shardApi: string[] = [];
  for (let k = 0; k < options.numShards; k++) shardApi.push(...jetStreamApi(psNames.stream(job, k)));
  const servers = options.serverUsers.map((s, i): NatsUser => {
    checkCredentials(`serverUsers[${i}]`, s, where);
    return {
      user: s.user,
      password: s.password,
      permissions: {
        publish: { allow: [`opt.${job}.ps.>`, `${kv}.>`, '$JS.API.INFO', ...shardApi, ...jetStreamApi(kvStream)] },
        subscribe: { allow: [`opt.${job}.ps.*.lease`, `${userInboxPrefix(s.user)}.>`] },
        allowResponses: true,
      },
    };
  });
  const workers = options.workers.map((w, i): NatsUser => {
    checkCredentials(`workers[${i}]`, w, where);
    const id = checkToken(`workers[${i}].workerId`, w.workerId ?? w.user, where);
    return {
      user: w.user,
      password: w.password,
      permissions: {
        publish: {
          allow: [
            psNames.grad(job, '*'),
            `opt.${job}.ps.*.lease`,
            '$JS.API.INFO',
            `$JS.API.STREAM.INFO.${kvStream}`,
            `$JS.API.STREAM.CREATE.${kvStream}`,
            `$JS.API.DIRECT.GET.${kvStream}.${kv}.>`,
          ],
        },
        subscribe: { allow: [psNames.notice(job, '*', id), `${userInboxPrefix(w.user)}.>`] },
      },
    };
  });
  return checkDistinct([...servers, ...workers], where);
}
