import pg from 'pg';

import type { GrantTarget } from '../../../domain';
import { ActivityErrorType, activityError } from '../../errors';
import type { AccessEnding, AccountCallOptions, AccountHolding, ServerEndpoint } from '../../ports';
import type { EngineAccounts, EnsureAccountOptions } from '../port';
import { createPgEnding, revocations } from './ending';
import { isConnectionFailure, isLoginRefused, toActivityError } from './errors';
import { clientConfig, driverErrors, failure, notOurs, privilegeTransaction, readRole, run, transaction, type PgSession, type RoleRow } from './session';
import { createLevelGroupStatements, directSet, groupHoldingsStatement, groupIsCurrent, groupSet, holdsDirectlyStatement, joinGroupStatement, leaveGroupsStatement, levelGroupName, levelGroupStatement, levelGroupTag, membershipsOfRows, membershipsStatement } from './groups';
import { footprintStatement, holdingsOfRows } from './footprint';
import { judgeAdmin } from './admin-check';
import { PG_DATABASE_PRIVILEGES, grantsOfRows, loginRolesStatement, schemaAclStatement } from './inventory';
import {
  ALL,
  complement,
  creatorsStatement,
  heldSet,
  heldStatement,
  namesOfSet,
  objectsOfRows,
  objectsStatement,
  privilegePlan,
  privilegeStatements,
  type PgPrivilegeSet,
  type PrivilegeScope,
  type SchemaObjects,
} from './privileges';
import type { PgAdminCredentialSource, PgAdminCredentials } from './secret';
import {
  adminStatement,
  alterRoleStatement,
  checkAccount,
  checkPassword,
  checkRoleName,
  checkSchema,
  checkValidUntil,
  commentStatement,
  connectionLimit,
  createRoleStatement,
  isOurs,
  ownershipTag,
  schemaStatement,
  serverVersionStatement,
  sessionsStatement,
  terminateStatement,
  validUntilStatement,
} from './sql';

// PostgreSQL adapter of the AccountManager port: one LOGIN role per grant, in
// the database the admin secret names (`dbname`), privileges on one schema.
// One pool per admin secret. Time bounds: statement_timeout and lock_timeout on
// every session, a client-side query timeout, and a budget per method call
// checked before every statement. Every failure leaves as a secret-free activity error.

export interface PgLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface PostgresAccountManagerOptions {
  credentials: PgAdminCredentialSource;
  /** Milliseconds to establish a connection (default 5000). */
  connectTimeoutMs?: number;
  /** Connections per server (default 4). */
  poolSize?: number;
  /** Server-side statement_timeout in milliseconds (default 15000); lock_timeout is two thirds of it. */
  statementTimeoutMs?: number;
  /** Limit for one method call, all its statements together, in milliseconds (default 25000). */
  operationTimeoutMs?: number;
  /** Who gets what an ended account owned (REASSIGN OWNED); default each database's owner. Also a creator for default privileges. */
  ownerRole?: string;
  /** Most accounts whose access is ended by one coalesced batch (default 250; 1 turns coalescing off). */
  maxBatch?: number;
  /** Accept a superuser admin (refused by checkTarget otherwise). */
  allowSuperuserAdmin?: boolean;
  logger?: PgLogger;
}

/** ensureAccount's options: VALID UNTIL (the grant's expiry) and the grant named in the role's ownership tag. */
export type PgAccountOptions = EnsureAccountOptions;

/** The account operations and the reconciler's inventory; the expiry moves by setAccountExpiry (VALID UNTIL). */
export type PostgresAccountManager = EngineAccounts;

const ENGINE = 'postgresql';
const silent: PgLogger = { info: () => undefined, warn: () => undefined };

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
}

export function createPostgresAccountManager(options: PostgresAccountManagerOptions): PostgresAccountManager {
  const connectTimeoutMs = positive('connectTimeoutMs', options.connectTimeoutMs, 5000);
  const poolSize = positive('poolSize', options.poolSize, 4);
  const statementTimeoutMs = positive('statementTimeoutMs', options.statementTimeoutMs, 15_000);
  const operationTimeoutMs = positive('operationTimeoutMs', options.operationTimeoutMs, 25_000);
  const maxBatch = positive('maxBatch', options.maxBatch, 250);
  const ownerRole = options.ownerRole === undefined ? undefined : checkRoleName(options.ownerRole);
  const log = options.logger ?? silent;
  const servers = new Map<string, { credentials: PgAdminCredentials; pool: pg.Pool }>();
  let closed = false;

  /** Each server's version (server_version_num), read once per server and admin secret. */
  const versions = new Map<string, number>();
  async function serverVersion(session: PgSession): Promise<number> {
    const known = versions.get(session.secretId);
    if (known !== undefined) return known;
    const version = Number((await run(session, serverVersionStatement()))[0]?.version ?? 0);
    versions.set(session.secretId, version);
    return version;
  }

  function install(secretId: string, credentials: PgAdminCredentials) {
    versions.delete(secretId);
    const pool = new pg.Pool({ ...clientConfig(credentials, credentials.database, connectTimeoutMs, statementTimeoutMs), max: poolSize, idleTimeoutMillis: 60_000 });
    // An idle connection that dies (server restart) must not crash the worker.
    pool.on('error', () => undefined);
    const server = { credentials, pool };
    servers.set(secretId, server);
    return server;
  }

  async function serverFor(secretId: string, refresh: boolean) {
    const current = servers.get(secretId);
    if (current && !refresh) return current;
    const credentials = await options.credentials.get(secretId, refresh ? { refresh: true } : undefined);
    const now = servers.get(secretId);
    if (now && JSON.stringify(now.credentials) === JSON.stringify(credentials)) return now;
    if (now) void now.pool.end().catch(() => undefined);
    return install(secretId, credentials);
  }

  /**
   * Runs `work` on a pooled connection. A refused login or a lost connection
   * re-reads the secret and tries once more (every operation is idempotent).
   */
  async function withSession<T>(target: Pick<GrantTarget, 'adminSecretId'>, secrets: readonly string[], call: AccountCallOptions | undefined, work: (s: PgSession) => Promise<T>): Promise<T> {
    if (closed) throw activityError(ActivityErrorType.DatabaseUnavailable, 'the PostgreSQL account manager is closed');
    const secretId = target.adminSecretId;
    const deadline = Date.now() + operationTimeoutMs;
    for (let round = 0; ; round += 1) {
      const server = await serverFor(secretId, round > 0);
      const base = { secretId, credentials: server.credentials, secrets, deadline, signal: call?.signal };
      if (base.signal?.aborted || Date.now() > deadline) throw failure(base, 'connect to the database server');
      let client: pg.PoolClient;
      try {
        client = await server.pool.connect();
      } catch (err) {
        if (round === 0 && (isLoginRefused(err) || isConnectionFailure(err))) {
          log.warn({ secretId }, 'admin login failed; re-reading the admin secret');
          continue;
        }
        throw toActivityError(err, { secretId, secrets: [server.credentials.password] });
      }
      const session: PgSession = { ...base, client, broken: false };
      // The pool listens for a client's connection errors only while it is idle: unheard
      // here, a reset would end the process. The statement in flight fails too, and says so.
      const lost = () => {
        session.broken = true;
      };
      client.on('error', lost);
      try {
        return await work(session);
      } catch (err) {
        if (round > 0 || !session.broken || call?.signal?.aborted) throw err;
        log.warn({ secretId }, 'connection lost during an operation; running it once more on a new connection');
      } finally {
        client.removeListener('error', lost);
        client.release(session.broken ? true : undefined);
      }
    }
  }

  function validate(target: GrantTarget, account?: string): void {
    if (!target || typeof target !== 'object') throw activityError(ActivityErrorType.InvalidIdentifier, 'target is missing');
    checkSchema(target.schema);
    if (account !== undefined) checkAccount(account);
    if (typeof target.adminSecretId !== 'string' || target.adminSecretId.length === 0) throw activityError(ActivityErrorType.InvalidIdentifier, 'adminSecretId is missing');
  }

  function refuseAdmin(session: PgSession, account: string): void {
    if (session.credentials.username === account) throw activityError(ActivityErrorType.InvalidIdentifier, `account ${account} is the admin account itself and is not managed`);
  }

  async function requireSchema(session: PgSession, schema: string): Promise<{ database: string; owner: string; member: boolean }> {
    const row = (await run(session, schemaStatement(schema)))[0];
    if (!row) throw activityError(ActivityErrorType.UnknownDatabase, `schema ${schema} does not exist in database ${session.credentials.database} on the server of ${session.secretId}`);
    return { database: String(row.database), owner: String(row.owner), member: row.member === true };
  }

  /** The account, which must exist and be the service's (or `undefined` with `optional`). */
  async function ownRole(session: PgSession, account: string, optional = false): Promise<RoleRow | undefined> {
    refuseAdmin(session, account);
    const role = await readRole(session, account);
    if (!role) {
      if (optional) return undefined;
      throw activityError(ActivityErrorType.AdminPrivilegeMissing, `could not change role ${account}: it does not exist`);
    }
    if (!isOurs(role.comment) || role.super) throw notOurs(session, account);
    return role;
  }

  /**
   * Where privileges go: the admin's database, the schema, the creators whose
   * default privileges the admin may change, and the objects it may grant on
   * (for several accounts: the revocations of a batch of endings).
   */
  async function scopeOf(session: PgSession, schema: string, account: string | readonly string[]): Promise<{ scope: PrivilegeScope; objects: SchemaObjects }> {
    const { database } = await requireSchema(session, schema);
    const rows = await run(session, creatorsStatement(schema, account, ownerRole ? [ownerRole] : []));
    const skipped = rows.filter((r) => r.member !== true).map((r) => String(r.name));
    if (skipped.length > 0) log.warn({ secretId: session.secretId, schema, roles: skipped }, 'the admin is no member of these roles: their objects and future objects are left out');
    const objects = objectsOfRows(schema, (await run(session, objectsStatement(schema, account))) as { kind: unknown; name: unknown; args: unknown }[]);
    return { scope: { database, schema, account, creators: rows.filter((r) => r.member === true).map((r) => String(r.name)) }, objects };
  }

  /**
   * The level group of a database, schema and set, created (tagged) when missing.
   * Two first grants at once: the second's CREATE fails as a duplicate, and it reads
   * the group the first made. A role of that name that is not the service's group is refused.
   */
  async function ensureLevelGroup(session: PgSession, database: string, schema: string, set: PgPrivilegeSet): Promise<string> {
    const group = levelGroupName(database, schema, set);
    const check = async (): Promise<boolean> => {
      const row = (await run(session, levelGroupStatement(group)))[0];
      if (!row) return false;
      if (row.login === true || row.super === true || row.comment !== levelGroupTag(database, schema)) {
        throw activityError(ActivityErrorType.AccountConflict, `role ${group} on the server of ${session.secretId} is not this service's level group for ${database}/${schema}; it is not used`);
      }
      return true;
    };
    if (await check()) return group;
    try {
      await transaction(session, createLevelGroupStatements(group, database, schema));
    } catch (err) {
      // Made meanwhile by another grant: 42710 when it was there first, 23505 when both inserted at once.
      const code = (driverErrors.get(err as object) as { code?: string } | undefined)?.code;
      if (code !== '42710' && code !== '23505') throw err;
    }
    if (!(await check())) throw activityError(ActivityErrorType.DatabaseUnavailable, `level group ${group} on the server of ${session.secretId} could not be created`);
    log.info({ secretId: session.secretId, database, schema, group }, 'level group created');
    return group;
  }

  /** Ends every session of the role; `untilNone`: again until none is left (the role can no longer log in). */
  async function endSessions(session: PgSession, account: string, untilNone: boolean): Promise<number> {
    let killed = 0;
    for (let round = 1; round <= 5; round += 1) {
      const pids = (await run(session, sessionsStatement(account))).map((r) => Number(r.pid));
      if (pids.length === 0) return killed;
      for (const pid of pids) if ((await run(session, terminateStatement(pid)))[0]?.ended === true) killed += 1;
      if (!untilNone) return killed;
    }
    if ((await run(session, sessionsStatement(account))).length === 0) return killed;
    throw activityError(ActivityErrorType.DatabaseUnavailable, `sessions of ${account} kept appearing on the server of ${session.secretId}`);
  }

  const endAccess = createPgEnding({
    withSession: (secretId, signal, work) => withSession({ adminSecretId: secretId }, [], { signal }, work),
    refuseAdmin,
    scopeOf,
    ...(ownerRole !== undefined ? { ownerRole } : {}),
    connectTimeoutMs,
    statementTimeoutMs,
    poolSize,
    maxBatch,
    log,
  });

  const endpoint = (s: PgSession): ServerEndpoint => ({ host: s.credentials.host, port: s.credentials.port, engine: ENGINE, database: s.credentials.database });
  const where = (target: GrantTarget, account: string) => ({ secretId: target.adminSecretId, schema: target.schema, account });

  return {
    async checkTarget(target, call) {
      validate(target);
      return withSession(target, [], call, async (session) => {
        const admin = (await run(session, adminStatement()))[0] ?? {};
        const schema = (await run(session, schemaStatement(target.schema)))[0];
        if (!schema) await requireSchema(session, target.schema);
        const { superuser, missing } = judgeAdmin(admin, new Map([[target.schema, schema]]));
        if (superuser && !options.allowSuperuserAdmin) {
          throw activityError(ActivityErrorType.AdminPrivilegeMissing, `the admin account of ${target.adminSecretId} is a superuser; use a CREATEROLE role (or allow superusers in the configuration)`);
        }
        if (missing.length > 0) throw activityError(ActivityErrorType.AdminPrivilegeMissing, `the admin account of ${target.adminSecretId} lacks ${missing.join(' and ')}`);
        return endpoint(session);
      });
    },

    async accountExists(target, account, call) {
      validate(target, account);
      return withSession(target, [], call, async (session) => (await readRole(session, account)) !== undefined);
    },

    async ensureAccount(target, account, password, call?: PgAccountOptions) {
      validate(target, account);
      checkPassword(password);
      connectionLimit(target.maxUserConnections);
      const settings = { maxUserConnections: target.maxUserConnections, ...(call?.validUntil !== undefined ? { validUntil: checkValidUntil(call.validUntil) } : {}) };
      ownershipTag(call?.grantId);
      return withSession(target, [password], call, async (session) => {
        refuseAdmin(session, account);
        await requireSchema(session, target.schema);
        const role = await readRole(session, account);
        if (role && (!isOurs(role.comment, call?.grantId) || role.super)) throw notOurs(session, account);
        // The tag goes in with the role, so a role of ours never exists untagged.
        if (!role) await transaction(session, [createRoleStatement(account, password, settings), commentStatement(account, call?.grantId)]);
        else await run(session, alterRoleStatement(account, password, settings));
        log.info({ ...where(target, account), created: !role, maxUserConnections: target.maxUserConnections, validUntil: settings.validUntil ?? null }, 'account ensured');
        return endpoint(session);
      });
    },

    async setAccountExpiry(target, account, validUntil, call) {
      validate(target, account);
      const until = checkValidUntil(validUntil);
      return withSession(target, [], call, async (session) => {
        if (!(await ownRole(session, account, true))) return false;
        await run(session, validUntilStatement(account, until));
        log.info({ ...where(target, account), validUntil: until }, 'account expiry moved');
        return true;
      });
    },

    async setPrivileges(target, account, privileges, previous, call) {
      validate(target, account);
      const wanted = privilegePlan(privileges);
      if (previous !== undefined) privilegePlan(previous);
      await withSession(target, [], call, async (session) => {
        await ownRole(session, account);
        const { scope, objects } = await scopeOf(session, target.schema, account);
        // The level's privileges are the level group's; the account is made its member (groups.ts).
        const group = await ensureLevelGroup(session, scope.database, target.schema, groupSet(wanted));
        const others = (membershipsOfRows(await run(session, membershipsStatement([account]))).get(account) ?? []).filter((g) => g !== group);
        const version = await serverVersion(session);
        const direct = directSet(wanted);
        const held = groupSet(wanted);
        // What is already so is not rewritten (each GRANT or REVOKE rewrites every object's catalogue row, under the privilege lock).
        const current = groupIsCurrent(await run(session, groupHoldingsStatement(target.schema, group, account)), held, scope.creators);
        const holdsDirectly = (await run(session, holdsDirectlyStatement(account)))[0]?.holds === true;
        // One transaction: the new membership comes before the old ones end, and no session sees a state in between.
        // The account itself holds CREATE on the schema where the level has it, and nothing else (grants made before the groups held everything themselves).
        const own = !holdsDirectly
          ? privilegeStatements('GRANT', direct, scope, objects)
          : previous === undefined
            ? [...privilegeStatements('REVOKE', ALL, scope, objects, { database: true }), ...privilegeStatements('GRANT', direct, scope, objects)]
            : [...privilegeStatements('GRANT', direct, scope, objects), ...privilegeStatements('REVOKE', complement(direct), scope, objects, { database: true })];
        const groupScope = { ...scope, account: group };
        await privilegeTransaction(session, [
          // The group holds the set and nothing more: what was added to it by hand (drift its members would all share) is taken back.
          ...(current ? [] : [...privilegeStatements('GRANT', held, groupScope, objects, { database: true }), ...privilegeStatements('REVOKE', complement(held), groupScope, objects)]),
          joinGroupStatement(group, account, version),
          ...(others.length > 0 ? [leaveGroupsStatement(others, [account])] : []),
          ...own,
        ]);
        log.info({ ...where(target, account), privileges: [...privileges], previous: previous ? [...previous] : null, group }, 'privileges set');
      });
    },

    async revokeAllPrivileges(target, account, call) {
      validate(target, account);
      await withSession(target, [], call, async (session) => {
        if (!(await ownRole(session, account, true))) return;
        await privilegeTransaction(session, await revocations(session, target.schema, [account], scopeOf));
        log.info(where(target, account), 'privileges revoked');
      });
    },

    async schemaPrivileges(target, account, call) {
      validate(target, account);
      return withSession(target, [], call, async (session) => {
        if (!(await readRole(session, account))) return undefined;
        return namesOfSet(heldSet((await run(session, heldStatement(target.schema, account))) as { kind: unknown; privilege_type: unknown }[]));
      });
    },

    async accountFootprint(target, account, call): Promise<AccountHolding[] | undefined> {
      validate(target, account);
      return withSession(target, [], call, async (session) => {
        if (!(await readRole(session, account))) return undefined;
        return holdingsOfRows((await run(session, footprintStatement(account, target.schema))) as { kind: unknown; what: unknown }[]);
      });
    },

    async adoptAccount(target, account, grantId, call) {
      validate(target, account);
      const tag = ownershipTag(grantId);
      await withSession(target, [], call, async (session) => {
        refuseAdmin(session, account);
        const role = await readRole(session, account);
        if (!role) throw activityError(ActivityErrorType.AccountConflict, `role ${account} does not exist on the server of ${session.secretId}`);
        if (role.super) throw notOurs(session, account);
        if (isOurs(role.comment) && !isOurs(role.comment, grantId)) {
          throw activityError(ActivityErrorType.AccountConflict, `role ${account} on the server of ${session.secretId} is marked as another grant's; it is not touched`);
        }
        if (role.comment === tag) return;
        // The comment it had (an old script's note) is replaced: it now says whose the role is.
        await run(session, commentStatement(account, grantId));
        log.info({ ...where(target, account), grantId }, 'account adopted');
      });
    },

    async killSessions(target, account, call) {
      validate(target, account);
      return withSession(target, [], call, async (session) => {
        if (!(await ownRole(session, account, true))) return 0;
        const killed = await endSessions(session, account, false);
        if (killed > 0) log.info({ ...where(target, account), sessionsKilled: killed }, 'sessions killed');
        return killed;
      });
    },

    async endAccess(target, account, call): Promise<AccessEnding> {
      validate(target, account);
      return endAccess(target, account, call?.signal);
    },

    async inventory(adminSecretId, include, call) {
      if (typeof adminSecretId !== 'string' || adminSecretId.length === 0) throw activityError(ActivityErrorType.InvalidIdentifier, 'adminSecretId is missing');
      return withSession({ adminSecretId }, [], call, async (session) => {
        const admin = session.credentials.username;
        const wanted = (role: string) => role !== admin && include(role);
        const accounts = (await run(session, loginRolesStatement())).map((r) => String(r.name)).filter(wanted);
        const grants = grantsOfRows(await run(session, schemaAclStatement()), '%', wanted);
        return { dialect: ENGINE, databasePrivileges: [...PG_DATABASE_PRIVILEGES], adminAccount: admin, accounts: accounts.map((user) => ({ user, host: '%' })), grants };
      });
    },

    async accountGrants(target, account, call) {
      validate(target, account);
      return withSession(target, [], call, async (session) => {
        const exists = (await readRole(session, account)) !== undefined;
        const grants = exists ? grantsOfRows(await run(session, schemaAclStatement(account)), target.hostPattern) : [];
        return { dialect: ENGINE, databasePrivileges: [...PG_DATABASE_PRIVILEGES], hosts: exists ? [target.hostPattern] : [], grants };
      });
    },

    async close() {
      closed = true;
      const pools = [...servers.values()].map((s) => s.pool);
      servers.clear();
      await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
    },
  };
}
