import { ApplicationFailure } from '@temporalio/common';
import mysql, { type Connection, type Pool, type PoolConnection, type RowDataPacket } from 'mysql2/promise';

import { LEFT_BEHIND_LIST_LIMIT, isSafeText, type GrantTarget, type LeftBehindObject } from '../../../domain';
import { ActivityErrorType, activityError } from '../../errors';
import { generatePassword } from '../../password';
import type { AccessEnding, AccountManager, AdminCredentialSource, AdminCredentials, ServerEndpoint, SqlDialect } from '../../ports';
import { describePrivileges, missingAdminPrivileges } from './admin-check';
import { Coalescer, type Outcome } from './coalesce';
import { ER, dropRefusalText, errnoOf, isAccessDenied, isConnectionFailure, isPermanentRefusal, toActivityError } from './errors';
import { sessionsOfAccount, type AccountId } from './hosts';
import {
  accountHostsStatement,
  databasePrivilegesOfColumns,
  dbColumnsStatement,
  listAccountsStatement,
  parseSchemaGrant,
  schemaGrantsStatement,
  type AccountInventory,
} from './inventory';
import { readFootprint } from './footprint';
import {
  accountExistsStatement,
  accountsNamedStatement,
  adminGrantsStatement,
  alterUserStatement,
  checkAccount,
  checkHost,
  checkMaxUserConnections,
  checkPassword,
  checkPrivileges,
  checkSchema,
  checkSessionLimits,
  connectionAliveStatement,
  containStatement,
  createUserStatement,
  definerOf,
  disableEventStatement,
  dropUsersStatement,
  grantSchema,
  grantStatement,
  heldPrivilegesOfRows,
  killConnectionStatement,
  leftBehindStatement,
  listSessionsStatement,
  mysqlReadableStatement,
  performanceSchemaStatement,
  processProbeStatement,
  revokeAllStatements,
  revokeEverythingStatement,
  revokeExceptStatement,
  privilegesFromDbRows,
  schemaExistsStatement,
  schemaPrivilegesStatement,
  sessionSettingsStatement,
  versionStatement,
  type SessionLimits,
  type Statement,
} from './sql';

// Time bounds. A statement must never outlive the activity attempt that sent it
// (the workflow's attempt times out at 30 s and then compensates: a CREATE USER
// or GRANT that landed after the compensation would re-create access). Layers,
// from the inside out, with their defaults:
//   server side, per statement (session settings, see sessionSettingsStatement):
//     lock_wait_timeout / innodb_lock_wait_timeout 10 s, MariaDB max_statement_time 15 s
//   client side, per statement: 20 s, then the statement is KILLed from a side
//     connection and its connection destroyed
//   waiting for a pool connection: 10 s
//   per call (every statement of one method call): 25 s, and the caller's AbortSignal
// Every one of them ends in DatabaseUnavailable (details.code says which).

export interface MysqlLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface MysqlAccountManagerOptions {
  credentials: AdminCredentialSource;
  /** Milliseconds to establish a connection (default 5000). */
  connectTimeoutMs?: number;
  /** Connections per server (default 4). */
  poolSize?: number;
  /** Milliseconds to wait for a pool connection, connecting included (default 10000). */
  acquireTimeoutMs?: number;
  /** Client-side limit per statement in milliseconds (default 20000); the statement is then killed on the server. */
  queryTimeoutMs?: number;
  /** Session lock_wait_timeout and innodb_lock_wait_timeout, whole seconds (default 10). */
  lockWaitTimeoutSeconds?: number;
  /** Session max_statement_time on MariaDB, max_execution_time on MySQL (SELECT only), seconds (default 15). */
  statementTimeoutSeconds?: number;
  /**
   * Limit for one method call, all its statements together, in milliseconds
   * (default 25000). Keep it below the activity's start-to-close timeout.
   */
  operationTimeoutMs?: number;
  /** Most accounts whose access is ended by one coalesced batch of statements (default 100; 1 turns coalescing off). */
  maxBatch?: number;
  logger?: MysqlLogger;
}

/**
 * Per-call options, the last (optional) parameter of every method.
 *
 * `signal`: pass the activity's cancellation signal. It is checked before every
 * statement, so a cancelled call sends nothing more; a statement already running
 * when it aborts is killed on the server (KILL CONNECTION from a side
 * connection: the admin may always end its own connections) before the call
 * returns. Either way the call fails with an ApplicationFailure of type
 * DatabaseUnavailable whose details carry `code: 'CANCELLED'`.
 */
export interface AccountCallOptions {
  signal?: AbortSignal;
}

/** The AccountManager of this adapter: every method also takes AccountCallOptions. */
export interface MysqlAccountManager extends AccountManager, AccountInventory {
  checkTarget(target: GrantTarget, options?: AccountCallOptions): Promise<ServerEndpoint>;
  accountExists(target: GrantTarget, account: string, options?: AccountCallOptions): Promise<boolean>;
  ensureAccount(target: GrantTarget, account: string, password: string, options?: AccountCallOptions): Promise<ServerEndpoint>;
  setPrivileges(
    target: GrantTarget,
    account: string,
    privileges: readonly string[],
    previous?: readonly string[],
    options?: AccountCallOptions,
  ): Promise<void>;
  revokeAllPrivileges(target: GrantTarget, account: string, options?: AccountCallOptions): Promise<void>;
  killSessions(target: GrantTarget, account: string, options?: AccountCallOptions): Promise<number>;
  endAccess(target: GrantTarget, account: string, options?: AccountCallOptions): Promise<AccessEnding>;
}

interface ServerInfo {
  dialect: SqlDialect;
  /** MySQL only: whether performance_schema.processlist is populated. */
  performanceSchema: boolean;
}

/** One admin secret id = one server = one pool, replaced when a re-read secret differs. */
interface Server {
  readonly secretId: string;
  readonly credentials: AdminCredentials;
  readonly pool: Pool;
  info?: Promise<ServerInfo>;
  /** Connections handed out and not yet given back. */
  inUse: number;
  /** Replaced after a refresh: ended once its last connection comes back. */
  retired: boolean;
  /** A re-read of the secret in progress, shared by every call that noticed a failure. */
  refreshing?: Promise<Server>;
}

/** What an operation runs with: a configured connection of the server's pool and what the server is. */
interface Session {
  readonly server: Server;
  readonly conn: PoolConnection;
  readonly call: Call;
  info?: ServerInfo;
  /** Interrupted or failed: destroyed instead of going back to the pool. */
  broken: boolean;
  /** Extra secrets that could appear in the driver's text (the account's password). */
  readonly secrets: readonly string[];
  /** The session holds PROCESS (checked once per call, never remembered when false). */
  seesAllSessions?: boolean;
  /** Logged in during this call, so it holds the admin's current global privileges. */
  fresh?: boolean;
}

/** A session that got past detection and configuration. */
interface ReadySession extends Session {
  info: ServerInfo;
}

const silent: MysqlLogger = { info: () => undefined, warn: () => undefined };

/** Errors meaning "nothing to revoke": the revoke has already happened. */
const NO_SUCH_GRANT = [ER.NONEXISTING_GRANT, ER.NONEXISTING_TABLE_GRANT];

/** Rounds of listing and killing an account's sessions before new ones that keep appearing are a failure. */
const SESSION_ROUNDS = 5;

/** One account in a batch of endAccess calls (calls for the same account share one). */
interface Ending {
  readonly target: GrantTarget;
  readonly account: string;
  readonly host: string;
  readonly password: string;
  /** Sticky across a second run of the batch's work (see withSession). */
  existedAtStart?: boolean;
  /** Exists now, as far as this batch knows. */
  present: boolean;
  /** Connection ids killed (counted), kept across a second run. */
  readonly killed: Set<string>;
  containedAt?: string;
  leftBehind: LeftBehindObject[];
  leftBehindCount: number;
  dropped?: boolean;
  refusal?: string;
  /** This account's own failure: the other accounts of the batch go on. */
  failure?: unknown;
}

/** What a session-ending pass works on: one account and the connections already killed for it. */
interface SessionTarget {
  readonly account: string;
  readonly host: string;
  readonly killed: Set<string>;
}

const EVENT_LEFT_ENABLED =
  'left enabled: the admin account may not keep the grantee as its definer (it lacks SET USER on MariaDB, SET_ANY_DEFINER on MySQL), ' +
  "and a plain ALTER EVENT would make the admin its definer; it runs with the account's own privileges, which are none now";

function text(value: unknown): string {
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value ?? '');
}

/** A name the grantee chose, as it may appear in a report, an e-mail or a log: control and invisible characters escaped. */
function shownName(name: string): string {
  if (isSafeText(name)) return name;
  return [...name].map((c) => (isSafeText(c) ? c : `\\u{${c.codePointAt(0)!.toString(16)}}`)).join('');
}

function kindOf(value: string): LeftBehindObject['kind'] {
  const kind = value.toUpperCase();
  return kind === 'VIEW' || kind === 'PROCEDURE' || kind === 'FUNCTION' || kind === 'TRIGGER' || kind === 'EVENT' ? kind : 'OTHER';
}

function accountIdOf(row: RowDataPacket): AccountId {
  return { user: text(row.user), host: text(row.host).toLowerCase() };
}

/** Codes (in details) of the failures this module raises itself. */
const Code = {
  Cancelled: 'CANCELLED',
  OperationTimeout: 'OPERATION_TIMEOUT',
  QueryTimeout: 'QUERY_TIMEOUT',
  AcquireTimeout: 'ACQUIRE_TIMEOUT',
} as const;

/** The driver error a mapped failure came from, to decide on a retry without parsing messages. */
const driverErrors = new WeakMap<object, unknown>();

function codeOfFailure(err: unknown): string | undefined {
  if (!(err instanceof ApplicationFailure)) return undefined;
  const d = err.details?.[0] as { code?: unknown } | undefined;
  return typeof d?.code === 'string' ? d.code : undefined;
}

/** A failure worth re-reading the admin secret for (the server may have moved): not our own timeouts or cancellations. */
function isConnectionLevel(err: unknown, phase: 'open' | 'work'): boolean {
  const raw = (err !== null && typeof err === 'object' && driverErrors.get(err)) || err;
  if (raw instanceof ApplicationFailure) {
    const code = codeOfFailure(raw);
    // Before any statement of the work: a server that hangs may have moved.
    return phase === 'open' && (code === Code.AcquireTimeout || code === Code.QueryTimeout);
  }
  return isConnectionFailure(raw);
}

function isLoginRefusal(err: unknown): boolean {
  const raw = (err !== null && typeof err === 'object' && driverErrors.get(err)) || err;
  return isAccessDenied(raw);
}

function sameCredentials(a: AdminCredentials, b: AdminCredentials): boolean {
  return a.host === b.host && a.port === b.port && a.username === b.username && a.password === b.password;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
}

function later(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Settles with `promise`, or rejects with `onTimeout()` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * One method call: the caller's signal plus the call's own time budget. Checked
 * before every statement; listened to while a statement runs.
 */
class Call {
  private readonly budget = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly signals: AbortSignal[];

  constructor(
    private readonly secretId: string,
    private readonly signal: AbortSignal | undefined,
    private readonly budgetMs: number,
  ) {
    this.timer = setTimeout(() => this.budget.abort(), budgetMs);
    this.signals = signal ? [signal, this.budget.signal] : [this.budget.signal];
  }

  get aborted(): boolean {
    return this.signals.some((s) => s.aborted);
  }

  /** Why the call stops; `running` when a statement was under way (and whether it was seen to end on the server). */
  failure(purpose: string, running?: { stopped: boolean }): ApplicationFailure {
    const cancelled = this.signal?.aborted === true;
    const why = cancelled ? 'cancelled' : `stopped after ${this.budgetMs} ms (the call's time limit)`;
    const message = running
      ? `${why} while trying to ${purpose}; the statement ${running.stopped ? 'was killed on the server' : 'could not be confirmed killed (the server ends it at its own time limit)'}`
      : `${why} before trying to ${purpose}`;
    return activityError(ActivityErrorType.DatabaseUnavailable, `database server of ${this.secretId}: ${message}`, {
      code: cancelled ? Code.Cancelled : Code.OperationTimeout,
    });
  }

  check(purpose: string): void {
    if (this.aborted) throw this.failure(purpose);
  }

  /** Calls `fn` once when the call is aborted; returns the unsubscribe function. */
  onAbort(fn: () => void): () => void {
    let fired = false;
    const once = () => {
      if (fired) return;
      fired = true;
      fn();
    };
    if (this.aborted) {
      queueMicrotask(once);
      return () => undefined;
    }
    for (const s of this.signals) s.addEventListener('abort', once, { once: true });
    return () => {
      for (const s of this.signals) s.removeEventListener('abort', once);
    };
  }

  end(): void {
    clearTimeout(this.timer);
  }
}

export function createMysqlAccountManager(options: MysqlAccountManagerOptions): MysqlAccountManager {
  const { credentials } = options;
  const connectTimeout = positive('connectTimeoutMs', options.connectTimeoutMs, 5000);
  const poolSize = positive('poolSize', options.poolSize, 4);
  const acquireTimeoutMs = positive('acquireTimeoutMs', options.acquireTimeoutMs, 10_000);
  const queryTimeoutMs = positive('queryTimeoutMs', options.queryTimeoutMs, 20_000);
  const operationTimeoutMs = positive('operationTimeoutMs', options.operationTimeoutMs, 25_000);
  const limits: SessionLimits = checkSessionLimits({
    lockWaitTimeoutSeconds: options.lockWaitTimeoutSeconds ?? 10,
    statementTimeoutSeconds: options.statementTimeoutSeconds ?? 15,
  });
  /** Bound on killing an interrupted statement from a side connection (connect, KILL, wait for it to end). */
  const stopTimeoutMs = Math.min(3000, connectTimeout + 1000);
  const maxBatch = positive('maxBatch', options.maxBatch, 100);
  const log = options.logger ?? silent;

  /** The current server per secret id, and the first build of one in progress. */
  const latest = new Map<string, Server>();
  const building = new Map<string, Promise<Server>>();
  /** Every pool ever built and not yet ended, retired ones included, so close() ends them all. */
  const pools = new Set<Pool>();
  /** Pooled connections (the driver's own objects, stable across borrowings) whose session has been configured. */
  const configured = new WeakSet<object>();
  let closed = false;

  const closedFailure = () => activityError(ActivityErrorType.DatabaseUnavailable, 'the MySQL account manager is closed');

  function install(secretId: string, creds: AdminCredentials): Server {
    if (closed) throw closedFailure();
    const pool = mysql.createPool({
      host: creds.host,
      port: creds.port,
      user: creds.username,
      password: creds.password,
      connectTimeout,
      connectionLimit: poolSize,
      maxIdle: poolSize,
      idleTimeout: 60_000,
      waitForConnections: true,
      queueLimit: 0,
      enableKeepAlive: true,
      // One statement per call: even a bug elsewhere cannot smuggle a second one in.
      multipleStatements: false,
      namedPlaceholders: false,
      charset: 'utf8mb4',
      supportBigNumbers: true,
    });
    pools.add(pool);
    const server: Server = { secretId, credentials: creds, pool, inUse: 0, retired: false };
    latest.set(secretId, server);
    return server;
  }

  function endPool(pool: Pool): Promise<void> {
    pools.delete(pool);
    return pool.end().catch(() => undefined);
  }

  function retire(server: Server): void {
    server.retired = true;
    if (server.inUse === 0) void endPool(server.pool);
  }

  function serverFor(secretId: string): Promise<Server> {
    const current = latest.get(secretId);
    if (current) return Promise.resolve(current);
    let pending = building.get(secretId);
    if (!pending) {
      pending = credentials.get(secretId).then((creds) => latest.get(secretId) ?? install(secretId, creds));
      building.set(secretId, pending);
      // Forgotten once settled, so that a failed read is tried again by the next call.
      const forget = () => {
        if (building.get(secretId) === pending) building.delete(secretId);
      };
      pending.then(forget, forget);
    }
    return pending;
  }

  /**
   * After a refused login or a connection-level failure: re-read the secret
   * (rotation, failover, migration) and build a new pool if host, port, user or
   * password changed. Returns `stale` itself when nothing changed. One re-read per
   * stale pool however many calls noticed; the stale pool is ended when its
   * borrowed connections come back.
   */
  function refreshServer(stale: Server, reason: string): Promise<Server> {
    const current = latest.get(stale.secretId);
    if (current && current !== stale) return Promise.resolve(current);
    if (!stale.refreshing) {
      const refreshing = (async () => {
        try {
          log.warn({ secretId: stale.secretId, reason }, `${reason}; re-reading the admin secret`);
          const creds = await credentials.get(stale.secretId, { refresh: true });
          const now = latest.get(stale.secretId);
          if (now && now !== stale) return now;
          if (sameCredentials(creds, stale.credentials)) return stale;
          log.warn({ secretId: stale.secretId }, 'admin secret changed; connecting with the new one');
          retire(stale);
          return install(stale.secretId, creds);
        } finally {
          stale.refreshing = undefined;
        }
      })();
      stale.refreshing = refreshing;
    }
    return stale.refreshing!;
  }

  /** Like refreshServer, for after the work failed: never throws (the work's own error is what the caller sees). */
  async function refreshQuietly(stale: Server, reason: string): Promise<Server> {
    try {
      return await refreshServer(stale, reason);
    } catch {
      return stale;
    }
  }

  /**
   * A connection of the server's pool within acquireTimeoutMs. mysql2's pool has no
   * acquire timeout: the request stays queued, so a connection that arrives after
   * the timeout (or the cancellation) is given straight back.
   */
  function borrow(server: Server, call: Call): Promise<PoolConnection> {
    return new Promise<PoolConnection>((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(timer);
        unsubscribe();
        fn();
        return true;
      };
      const timer = setTimeout(
        () =>
          settle(() =>
            reject(
              activityError(
                ActivityErrorType.DatabaseUnavailable,
                `no connection to the database server of ${server.secretId} within ${acquireTimeoutMs} ms`,
                { code: Code.AcquireTimeout },
              ),
            ),
          ),
        acquireTimeoutMs,
      );
      const unsubscribe = call.onAbort(() => settle(() => reject(call.failure('connect to the database server'))));
      server.pool.getConnection().then(
        (conn) => {
          const taken = settle(() => {
            server.inUse += 1;
            resolve(conn);
          });
          if (!taken) {
            try {
              conn.release();
            } catch {
              // The pool has been ended meanwhile.
            }
          }
        },
        (err: unknown) => settle(() => reject(err)),
      );
    });
  }

  function giveBack(session: Session): void {
    const { server, conn } = session;
    try {
      if (session.broken) conn.destroy();
      else conn.release();
    } catch {
      // Already gone.
    }
    server.inUse -= 1;
    if (server.retired && server.inUse === 0) void endPool(server.pool);
  }

  /**
   * Ends the server thread of an interrupted statement from a side connection,
   * then waits (briefly) until the server no longer lists it, so that when the
   * call returns the statement can no longer take effect. The admin may always
   * end its own connections (no privilege needed). Best effort, bounded; never
   * throws. True when the thread was seen to be gone.
   */
  async function stopOnServer(server: Server, info: ServerInfo | undefined, threadId: number | undefined): Promise<boolean> {
    if (!threadId) return false;
    const dialect = info?.dialect ?? 'mariadb';
    const performanceSchema = info?.performanceSchema ?? false;
    let side: Connection | undefined;
    const deadline = Date.now() + stopTimeoutMs;
    const timedOut = () => new Error('timeout');
    try {
      const { host, port, username, password } = server.credentials;
      const pending = mysql.createConnection({ host, port, user: username, password, connectTimeout: stopTimeoutMs, multipleStatements: false });
      let abandoned = false;
      pending.then(
        (c) => {
          if (abandoned) c.destroy();
        },
        () => undefined,
      );
      try {
        side = await within(pending, stopTimeoutMs, timedOut);
      } catch (err) {
        abandoned = true;
        throw err;
      }
      const kill = killConnectionStatement(dialect, threadId);
      try {
        await within(side.query(kill.sql), Math.max(1, deadline - Date.now()), timedOut);
      } catch (err) {
        if (errnoOf(err) !== ER.NO_SUCH_THREAD) throw err;
      }
      const alive = connectionAliveStatement(dialect, threadId, { performanceSchema });
      while (Date.now() < deadline) {
        const [rows] = await within(side.query<RowDataPacket[]>(alive.sql, [...alive.values]), Math.max(1, deadline - Date.now()), timedOut);
        if (Number(rows[0]?.n ?? 0) === 0) return true;
        await later(25);
      }
      return false;
    } catch (err) {
      log.warn({ secretId: server.secretId, threadId, errno: errnoOf(err) ?? null }, 'could not kill an interrupted statement on the server');
      return false;
    } finally {
      side?.destroy();
    }
  }

  /**
   * Runs one statement on the session's connection, bounded by the client-side
   * timeout and the call's signal; when either fires, the statement is killed on
   * the server and the connection destroyed. Driver errors are thrown mapped
   * (secret-free), with the driver error remembered for the retry decision.
   */
  async function exec(session: Session, statement: Statement): Promise<unknown> {
    const { call, conn, server } = session;
    call.check(statement.purpose);
    if (session.broken) throw activityError(ActivityErrorType.DatabaseUnavailable, `the connection to the database server of ${server.secretId} is gone`);
    const threadId = conn.threadId;
    let interrupt: (why: 'timeout' | 'abort') => void = () => undefined;
    const interrupted = new Promise<'timeout' | 'abort'>((resolve) => {
      interrupt = resolve;
    });
    const timer = setTimeout(() => interrupt('timeout'), queryTimeoutMs);
    const unsubscribe = call.onAbort(() => interrupt('abort'));
    const query = conn.query<RowDataPacket[]>(statement.sql, [...statement.values]).then(([rows]) => ({ rows }));
    // Once abandoned, its eventual failure (the killed connection) is expected.
    query.catch(() => undefined);
    try {
      const outcome = await Promise.race([query, interrupted]);
      if (typeof outcome === 'object') return outcome.rows;
      session.broken = true;
      const stopped = await stopOnServer(server, session.info, threadId);
      conn.destroy();
      log.warn({ secretId: server.secretId, purpose: statement.purpose, why: outcome, stopped }, 'statement interrupted');
      if (outcome === 'abort') throw call.failure(statement.purpose, { stopped });
      throw activityError(
        ActivityErrorType.DatabaseUnavailable,
        `no answer from the database server of ${server.secretId} within ${queryTimeoutMs} ms while trying to ${statement.purpose}; ` +
          `the statement ${stopped ? 'was killed on the server' : 'could not be confirmed killed (the server ends it at its own time limit)'}`,
        { code: Code.QueryTimeout },
      );
    } catch (err) {
      if (err instanceof ApplicationFailure) throw err;
      if (isConnectionFailure(err)) session.broken = true;
      const mapped = toActivityError(err, { secretId: server.secretId, secrets: [server.credentials.password, ...session.secrets], statement });
      driverErrors.set(mapped, err);
      throw mapped;
    } finally {
      clearTimeout(timer);
      unsubscribe();
    }
  }

  async function run(session: Session, statement: Statement): Promise<RowDataPacket[]> {
    const rows = await exec(session, statement);
    return Array.isArray(rows) ? (rows as RowDataPacket[]) : [];
  }

  /** Runs a statement whose listed errors mean "already done"; false when one of them occurred. */
  async function attempt(session: Session, statement: Statement, done: readonly number[]): Promise<boolean> {
    try {
      await exec(session, statement);
      return true;
    } catch (err) {
      const errno = errnoOf(driverErrors.get(err as object));
      if (errno !== undefined && done.includes(errno)) return false;
      throw err;
    }
  }

  async function detect(session: Session): Promise<ServerInfo> {
    const { secretId } = session.server;
    const version = String((await run(session, versionStatement()))[0]?.version ?? '');
    const dialect: SqlDialect = /mariadb/i.test(version) ? 'mariadb' : 'mysql';
    const performanceSchema = dialect === 'mysql' && Number((await run(session, performanceSchemaStatement()))[0]?.enabled) === 1;
    log.info({ secretId, dialect, version, performanceSchema }, 'connected to database server');
    return { dialect, performanceSchema };
  }

  /** The dialect, found once per pool (a rebuilt pool may point at a different server). */
  async function infoFor(session: Session): Promise<ServerInfo> {
    const { server } = session;
    const shared = server.info;
    if (shared) {
      try {
        return await shared;
      } catch {
        // Detection on another call's connection failed (or that call was cancelled): detect here.
      }
    }
    const pending = detect(session);
    server.info = pending;
    pending.catch(() => {
      if (server.info === pending) server.info = undefined;
    });
    return pending;
  }

  /** Session limits and sql_mode, once per pooled connection, before its first statement of any work. */
  async function configure(session: ReadySession): Promise<void> {
    const core = session.conn.connection as object;
    if (configured.has(core)) return;
    await run(session, sessionSettingsStatement(session.info.dialect, limits));
    configured.add(core);
    session.fresh = true;
  }

  /**
   * Rebuilds the pool with the same credentials (at most once per call), so that
   * new sessions log in with the admin's current global privileges.
   */
  function reconnect(stale: Server): void {
    if (latest.get(stale.secretId) !== stale || closed) return;
    retire(stale);
    install(stale.secretId, stale.credentials);
  }

  /**
   * A global privilege refused to a session that logged in before this call, while
   * the admin's grants now list every privilege it needs: the session predates
   * the GRANT (a session keeps the global privileges it logged in with).
   */
  async function refusedForStaleSession(session: ReadySession, err: unknown): Promise<boolean> {
    if (session.fresh || session.broken) return false;
    if (!(err instanceof ApplicationFailure) || err.type !== ActivityErrorType.AdminPrivilegeMissing) return false;
    const errno = errnoOf(driverErrors.get(err));
    if (errno !== ER.SPECIFIC_ACCESS_DENIED && errno !== ER.KILL_DENIED) return false;
    try {
      return missingAdminPrivileges(session.info.dialect, await adminGrants(session), [], { essential: true }).length === 0;
    } catch {
      return false;
    }
  }

  /**
   * A configured connection of the target's server. A refused login or a
   * connection-level failure re-reads the secret; the connection is tried again
   * (once) only when the secret changed.
   */
  async function open(secretId: string, call: Call, secrets: readonly string[], state: { refreshed: boolean }): Promise<ReadySession> {
    call.check('connect to the database server');
    let server = await serverFor(secretId);
    for (;;) {
      call.check('connect to the database server');
      let session: Session | undefined;
      try {
        const conn = await borrow(server, call);
        session = { server, conn, call, secrets, broken: false };
        session.info = await infoFor(session);
        const ready = session as ReadySession;
        await configure(ready);
        return ready;
      } catch (err) {
        if (session) {
          session.broken = true;
          giveBack(session);
        }
        const login = isLoginRefusal(err);
        if (state.refreshed || call.aborted || !(login || isConnectionLevel(err, 'open'))) throw openFailure(err, server, state.refreshed);
        state.refreshed = true;
        const next = await refreshServer(server, login ? 'admin credentials refused' : 'database server unreachable');
        if (next === server) throw openFailure(err, server, true);
        server = next;
      }
    }
  }

  function openFailure(err: unknown, server: Server, afterRefresh: boolean): ApplicationFailure {
    if (afterRefresh && isLoginRefusal(err)) {
      return activityError(
        ActivityErrorType.AdminAccessDenied,
        `the server refused the admin credentials of ${server.secretId}, also after re-reading the secret`,
        { errno: ER.ACCESS_DENIED, code: 'ER_ACCESS_DENIED_ERROR' },
      );
    }
    return toActivityError(err, { secretId: server.secretId, secrets: [server.credentials.password] });
  }

  /**
   * Runs `work` on one configured pooled connection; every failure leaves as a
   * secret-free activity error. After a connection-level failure during the work
   * (the connection died: restart, failover), the secret is re-read and the work
   * runs once more on a fresh connection: every operation is idempotent, and the
   * call's time budget still bounds the whole.
   */
  async function withSession<T>(
    target: Pick<GrantTarget, 'adminSecretId'>,
    secrets: readonly string[],
    callOptions: AccountCallOptions | undefined,
    work: (session: ReadySession) => Promise<T>,
  ): Promise<T> {
    if (closed) throw closedFailure();
    const secretId = target.adminSecretId;
    const call = new Call(secretId, callOptions?.signal, operationTimeoutMs);
    const state = { refreshed: false };
    try {
      for (let round = 0; ; round += 1) {
        const session = await open(secretId, call, secrets, state);
        try {
          return await work(session);
        } catch (err) {
          if (round > 0 || call.aborted) throw err;
          if (isConnectionLevel(err, 'work')) {
            session.broken = true;
            if (!state.refreshed) {
              state.refreshed = true;
              await refreshQuietly(session.server, 'connection to the database server lost');
            }
            log.warn({ secretId }, 'connection lost during an operation; running it once more on a new connection');
          } else if (!state.refreshed && (await refusedForStaleSession(session, err))) {
            state.refreshed = true;
            log.warn({ secretId }, 'the admin account was granted privileges after its connections were opened; reconnecting');
            reconnect(session.server);
          } else {
            throw err;
          }
        } finally {
          giveBack(session);
        }
      }
    } finally {
      call.end();
    }
  }

  /** Validates the target (and account) before anything is sent (and before any secret is read). */
  function validate(target: GrantTarget, ...account: [string] | []): void {
    if (!target || typeof target !== 'object') throw activityError(ActivityErrorType.InvalidIdentifier, 'target is missing');
    checkSchema(target.schema);
    checkHost(target.hostPattern);
    if (account.length > 0) checkAccount(account[0]!);
    if (typeof target.adminSecretId !== 'string' || target.adminSecretId.length === 0) {
      throw activityError(ActivityErrorType.InvalidIdentifier, 'adminSecretId is missing');
    }
  }

  /** The service must never lock, kill or drop the account it works through. */
  function refuseAdmin(session: Session, account: string): void {
    if (session.server.credentials.username === account) {
      throw activityError(ActivityErrorType.InvalidIdentifier, `account ${account} is the admin account itself and is not managed`);
    }
  }

  /** The admin's SHOW GRANTS lines: dynamic privileges (CONNECTION_ADMIN on MySQL) included. */
  async function adminGrants(session: Session): Promise<string[]> {
    return (await run(session, adminGrantsStatement())).map((r) => text(Object.values(r)[0]));
  }

  async function requireSchema(session: Session, target: GrantTarget): Promise<void> {
    const rows = await run(session, schemaExistsStatement(target.schema));
    // information_schema compares case-insensitively; schema names are case-sensitive on Linux.
    if (!rows.some((r) => r.name === target.schema)) {
      throw activityError(
        ActivityErrorType.UnknownDatabase,
        `schema ${target.schema} does not exist on the server of ${target.adminSecretId} (or the admin account has no privileges on it)`,
      );
    }
  }

  function endpoint(session: ReadySession): ServerEndpoint {
    const { host, port } = session.server.credentials;
    return { host, port, engine: session.info.dialect };
  }

  async function hasAccount(session: Session, account: string, host: string): Promise<boolean> {
    const rows = await run(session, accountExistsStatement(account, host));
    return Number(rows[0]?.n ?? 0) > 0;
  }

  /**
   * PROCESS is checked when it matters, never remembered as missing: once an
   * operator grants it, the next call works without a restart.
   */
  async function requireSeesAllSessions(session: Session, account: string): Promise<void> {
    if (session.seesAllSessions) return;
    try {
      await run(session, processProbeStatement());
    } catch (err) {
      if (!(err instanceof ApplicationFailure && err.type === ActivityErrorType.AdminPrivilegeMissing)) throw err;
      log.warn({ secretId: session.server.secretId }, 'admin session lacks PROCESS ON *.*: it cannot end sessions');
      throw withDriverError(
        activityError(
          ActivityErrorType.AdminPrivilegeMissing,
          `the admin account of ${session.server.secretId} lacks PROCESS ON *.*: it cannot see the connections of ${account} to end them`,
          err.details?.[0] as Record<string, string | number> | undefined,
        ),
        err,
      );
    }
    session.seesAllSessions = true;
  }

  /** `next` stands for `previous`: keeps what the retry decision needs to know about the driver error. */
  function withDriverError(next: ApplicationFailure, previous: ApplicationFailure): ApplicationFailure {
    const raw = driverErrors.get(previous);
    if (raw !== undefined) driverErrors.set(next, raw);
    return next;
  }

  /**
   * Ends every session of the targets, matched by user name and host (an account
   * of the same name with another host pattern keeps its sessions, see hosts.ts).
   * `untilNone` (the account is locked): lists again until none is left, since a
   * session that logged in just before the lock shows up in a later listing; a
   * killed session may linger in the list for a moment (it cannot run a statement
   * any more), and one still there after SESSION_ROUNDS is accepted as ending;
   * new sessions that keep appearing after that many rounds fail the call.
   * Without it (a lowered level: the account may log in again, with the new
   * privileges), one pass ends what was open. `known`: the accounts of these
   * names, when the caller has read them already.
   */
  async function endSessions(session: ReadySession, targets: readonly SessionTarget[], options: { untilNone: boolean; known?: AccountId[] }): Promise<void> {
    if (targets.length === 0) return;
    await requireSeesAllSessions(session, targets.length === 1 ? targets[0]!.account : `${targets.length} accounts`);
    const { dialect, performanceSchema } = session.info;
    const names = [...new Set(targets.map((t) => t.account))];
    const handled = new Set<string>();
    for (const t of targets) for (const id of t.killed) handled.add(id);
    let accounts = options.known;
    for (let round = 1; ; round += 1) {
      const rows = await run(session, listSessionsStatement(dialect, names, { performanceSchema }));
      if (rows.length === 0) return;
      const sessions = rows.map((r) => ({ id: text(r.id), user: text(r.user), host: text(r.host) }));
      accounts ??= (await run(session, accountsNamedStatement(names))).map(accountIdOf);
      let remaining = 0;
      let fresh = 0;
      for (const t of targets) {
        for (const s of sessionsOfAccount({ user: t.account, host: t.host }, sessions, accounts)) {
          remaining += 1;
          if (handled.has(s.id)) continue;
          fresh += 1;
          handled.add(s.id);
          // The connection may have ended since it was listed: "unknown thread" means done.
          if (await attempt(session, killConnectionStatement(dialect, s.id), [ER.NO_SUCH_THREAD])) t.killed.add(s.id);
        }
      }
      if (remaining === 0 || !options.untilNone) return;
      if (round >= SESSION_ROUNDS) {
        if (fresh === 0) return;
        throw activityError(
          ActivityErrorType.DatabaseUnavailable,
          `new sessions of ${names.join(', ')} kept appearing on the server of ${session.server.secretId} after ${SESSION_ROUNDS} rounds of ending them`,
        );
      }
      // Only killed sessions still listed: give them a moment to go.
      if (fresh === 0) await later(20 * round);
    }
  }

  /** What ALL PRIVILEGES means at the database level on this server, read from its mysql.db columns. */
  async function serverDatabasePrivileges(session: ReadySession): Promise<string[]> {
    const columns = (await run(session, dbColumnsStatement())).map((r) => text(r.name));
    return databasePrivilegesOfColumns(session.info.dialect, columns);
  }

  async function revokeAll(session: Session, target: GrantTarget, account: string): Promise<void> {
    for (const statement of revokeAllStatements(target.schema, account, target.hostPattern)) {
      await attempt(session, statement, NO_SUCH_GRANT);
    }
  }

  const where = (target: GrantTarget, account: string) => ({
    secretId: target.adminSecretId,
    schema: target.schema,
    account,
    host: target.hostPattern,
  });

  // --- ending access ---------------------------------------------------------

  /** A refusal by the server itself (not a timeout, a lock or a lost connection): no retry of the statement changes it. */
  function refused(err: unknown): boolean {
    return err instanceof ApplicationFailure && isPermanentRefusal(driverErrors.get(err));
  }

  /**
   * Runs a statement for a group of accounts as one statement, and one account at
   * a time when the server refuses the group (MySQL refuses all of it for one
   * account; MariaDB applies it to the others and names that one). An account the
   * server refuses alone fails by itself, unless it no longer exists (another
   * revocation dropped it meanwhile); a transient failure, or one about the admin's
   * own privileges (maybe a session older than a GRANT: see withSession), fails the batch.
   */
  async function eachOrOne(session: ReadySession, group: readonly Ending[], build: (accounts: readonly Ending[]) => Statement): Promise<void> {
    const live = group.filter((e) => e.failure === undefined && e.present);
    if (live.length === 0) return;
    if (live.length > 1) {
      try {
        await exec(session, build(live));
        return;
      } catch (err) {
        if (!refused(err)) throw err;
        log.warn({ secretId: session.server.secretId, accounts: live.length, errno: errnoOf(driverErrors.get(err as object)) ?? null }, 'a statement for several accounts was refused; one account at a time');
      }
    }
    for (const e of live) {
      try {
        await exec(session, build([e]));
      } catch (err) {
        if (!refused(err) || (err instanceof ApplicationFailure && err.type === ActivityErrorType.AdminPrivilegeMissing)) throw err;
        if (!(await hasAccount(session, e.account, e.host))) {
          e.present = false;
          continue;
        }
        e.failure = err;
      }
    }
  }

  /** Disables one enabled event of the account, keeping the account as its definer; says what happened. */
  async function disableEvent(session: ReadySession, e: Ending, schema: string, name: string): Promise<string> {
    let statement: Statement;
    try {
      statement = disableEventStatement(e.account, e.host, schema, name);
    } catch {
      return 'left enabled: its name cannot be used in a statement safely';
    }
    try {
      await exec(session, statement);
      return 'disabled';
    } catch (err) {
      const errno = errnoOf(driverErrors.get(err as object));
      if (errno === ER.SPECIFIC_ACCESS_DENIED) return EVENT_LEFT_ENABLED;
      if (!refused(err)) throw err;
      return `left enabled: the server refused to disable it (error ${errno})`;
    }
  }

  /**
   * Lists what the accounts define (capped per account, counted exactly) and
   * disables their enabled events. Tables are not among them: neither server
   * records who created a table.
   */
  async function collectLeftBehind(session: ReadySession, group: readonly Ending[]): Promise<void> {
    const live = group.filter((e) => e.failure === undefined);
    if (live.length === 0) return;
    const rows = await run(session, leftBehindStatement(live, LEFT_BEHIND_LIST_LIMIT));
    const byDefiner = new Map(live.map((e) => [definerOf(e.account, e.host), e]));
    for (const e of live) {
      e.leftBehind = [];
      e.leftBehindCount = 0;
    }
    for (const row of rows) {
      const e = byDefiner.get(text(row.definer).toLowerCase());
      if (!e) continue;
      e.leftBehindCount = Number(row.total) || 0;
      const kind = kindOf(text(row.kind));
      const schema = text(row.db);
      const name = text(row.name);
      let note: string | undefined;
      if (kind === 'TRIGGER') note = `on table ${shownName(text(row.note))}`;
      if (kind === 'EVENT') note = text(row.note) === 'ENABLED' ? await disableEvent(session, e, schema, name) : 'disabled';
      if (Number(row.n) <= LEFT_BEHIND_LIST_LIMIT && e.leftBehind.length < LEFT_BEHIND_LIST_LIMIT) {
        e.leftBehind.push({ kind, schema: shownName(schema), name: shownName(name), ...(note !== undefined ? { note } : {}) });
      }
    }
  }

  /** Drops the contained accounts; a permanent refusal is reported per account, not thrown. */
  async function dropContained(session: ReadySession, group: readonly Ending[]): Promise<void> {
    const live = group.filter((e) => e.failure === undefined && e.present);
    for (const e of live) {
      e.dropped = undefined;
      e.refusal = undefined;
    }
    if (live.length === 0) return;
    if (live.length > 1) {
      try {
        await exec(session, dropUsersStatement(live));
        for (const e of live) e.dropped = true;
        return;
      } catch (err) {
        if (!refused(err)) throw err;
        log.warn({ secretId: session.server.secretId, accounts: live.length, errno: errnoOf(driverErrors.get(err as object)) ?? null }, 'a DROP USER of several accounts was refused; one account at a time');
      }
    }
    for (const e of live) {
      try {
        await exec(session, dropUsersStatement([e]));
        e.dropped = true;
      } catch (err) {
        if (!refused(err)) throw err;
        e.dropped = false;
        e.refusal = dropRefusalText(driverErrors.get(err as object), [session.server.credentials.password]);
      }
    }
  }

  /**
   * Ends the access of every account of a batch on one server: contain them all
   * (lock and a new random password, every privilege revoked, every session
   * ended), then list what they define (disabling their events), then drop them.
   * A few statements for the whole batch; one account at a time only where the
   * server refuses the group. Returns one outcome per request, in order.
   */
  async function endBatch(secretId: string, requests: readonly { target: GrantTarget; account: string }[], signal: AbortSignal): Promise<Outcome<AccessEnding>[]> {
    const entries: Ending[] = [];
    const entryOf = requests.map((r) => {
      const host = r.target.hostPattern;
      const index = entries.findIndex((e) => e.account === r.account && e.host.toLowerCase() === host.toLowerCase());
      if (index >= 0) return index;
      entries.push({ target: r.target, account: r.account, host, password: generatePassword(), present: false, killed: new Set(), leftBehind: [], leftBehindCount: 0 });
      return entries.length - 1;
    });
    const live = () => entries.filter((e) => e.failure === undefined);
    await withSession(
      { adminSecretId: secretId },
      entries.map((e) => e.password),
      { signal },
      async (session) => {
        for (const e of entries) {
          try {
            refuseAdmin(session, e.account);
          } catch (err) {
            e.failure = err;
          }
        }
        if (live().length === 0) return;
        // Which accounts exist, and every account of these names (whose sessions are whose).
        const accounts = (await run(session, accountsNamedStatement([...new Set(live().map((e) => e.account))]))).map(accountIdOf);
        for (const e of live()) {
          e.present = accounts.some((a) => a.user === e.account && a.host === e.host.toLowerCase());
          e.existedAtStart ??= e.present;
        }
        // Containment: from here on nobody can log in, and what is open holds nothing.
        await eachOrOne(session, live(), (group) => containStatement(group));
        await eachOrOne(session, live(), (group) => revokeEverythingStatement(group));
        // A dropped account's open sessions live on: they are ended whether it still exists or not.
        await endSessions(session, live(), { untilNone: true, known: accounts });
        const containedAt = new Date().toISOString();
        for (const e of live()) if (e.existedAtStart) e.containedAt = containedAt;
        await collectLeftBehind(session, live());
        await dropContained(session, live());
      },
    );
    const outcomes: Outcome<AccessEnding>[] = requests.map((_, i) => {
      const e = entries[entryOf[i]!]!;
      if (e.failure !== undefined) return { ok: false, error: e.failure };
      return {
        ok: true,
        value: {
          existed: e.existedAtStart ?? false,
          sessionsKilled: e.killed.size,
          ...(e.existedAtStart && e.containedAt ? { containedAt: e.containedAt } : {}),
          dropped: e.dropped ?? !e.present,
          ...(e.refusal ? { refusal: e.refusal } : {}),
          leftBehind: e.leftBehind,
          leftBehindCount: e.leftBehindCount,
        },
      };
    });
    for (const e of entries) {
      if (e.failure !== undefined) continue;
      const fields = { ...where(e.target, e.account), existed: e.existedAtStart ?? false, sessionsKilled: e.killed.size, leftBehind: e.leftBehindCount, batch: entries.length };
      if (e.dropped === false) log.warn({ ...fields, refusal: e.refusal }, 'access ended (account contained); the server refused the drop');
      else log.info({ ...fields, dropped: true }, 'access ended; account dropped');
    }
    return outcomes;
  }

  /** endAccess calls per admin secret, coalesced while the server's connections are busy (see coalesce.ts). */
  const endings = new Coalescer<{ target: GrantTarget; account: string }, AccessEnding>({
    concurrency: Math.max(1, poolSize - 1),
    maxBatch,
    process: endBatch,
    cancelled: (secretId, _request, started) =>
      activityError(ActivityErrorType.DatabaseUnavailable, `database server of ${secretId}: cancelled ${started ? 'while' : 'before'} trying to end access`, {
        code: Code.Cancelled,
      }),
  });

  return {
    async checkTarget(target, callOptions) {
      validate(target);
      return withSession(target, [], callOptions, async (session) => {
        // The schema's own grant is proven by the GRANT itself (it may come through a pattern the start-up check reports).
        const missing = missingAdminPrivileges(session.info.dialect, await adminGrants(session), [], { essential: true });
        if (missing.length > 0) {
          throw activityError(
            ActivityErrorType.AdminPrivilegeMissing,
            `the admin account of ${target.adminSecretId} lacks ${describePrivileges(missing)} (see adminGrantStatements)`,
          );
        }
        await run(session, mysqlReadableStatement());
        await requireSchema(session, target);
        return endpoint(session);
      });
    },

    async accountExists(target, account, callOptions) {
      validate(target, account);
      return withSession(target, [], callOptions, (session) => hasAccount(session, account, target.hostPattern));
    },

    async ensureAccount(target, account, password, callOptions) {
      validate(target, account);
      checkMaxUserConnections(target.maxUserConnections);
      checkPassword(password);
      return withSession(target, [password], callOptions, async (session): Promise<ServerEndpoint> => {
        refuseAdmin(session, account);
        await requireSchema(session, target);
        await run(session, createUserStatement(account, target.hostPattern, password, target.maxUserConnections));
        await run(session, alterUserStatement(account, target.hostPattern, password, target.maxUserConnections));
        log.info({ ...where(target, account), maxUserConnections: target.maxUserConnections }, 'account ensured');
        return endpoint(session);
      });
    },

    async setPrivileges(target, account, privileges, previous, callOptions) {
      validate(target, account);
      const wanted = checkPrivileges(privileges);
      if (previous !== undefined) checkPrivileges(previous);
      await withSession(target, [], callOptions, async (session) => {
        refuseAdmin(session, account);
        if (previous === undefined) {
          await revokeAll(session, target, account);
          if (wanted.length > 0) await run(session, grantStatement(target.schema, wanted, account, target.hostPattern));
        } else {
          // Grant first, then take away the rest: an upgrade is never without access.
          if (wanted.length > 0) await run(session, grantStatement(target.schema, wanted, account, target.hostPattern));
          // Whatever the server calls what the account holds (a privilege newer than this code included).
          const pattern = grantSchema(target.schema).slice(1, -1);
          const rows = await run(session, schemaPrivilegesStatement(account, target.hostPattern, target.schema));
          const held = heldPrivilegesOfRows(rows.filter((r) => text(r.Db) === pattern));
          const revoke = revokeExceptStatement(session.info.dialect, target.schema, wanted, account, target.hostPattern, held);
          await attempt(session, revoke, NO_SUCH_GRANT);
        }
        log.info({ ...where(target, account), privileges: wanted, previous: previous ?? null }, 'privileges set');
      });
    },

    async revokeAllPrivileges(target, account, callOptions) {
      validate(target, account);
      await withSession(target, [], callOptions, async (session) => {
        refuseAdmin(session, account);
        // No account, nothing to revoke (and MySQL and MariaDB differ on how they say so).
        if (!(await hasAccount(session, account, target.hostPattern))) return;
        await revokeAll(session, target, account);
        log.info(where(target, account), 'privileges revoked');
      });
    },

    async schemaPrivileges(target, account, callOptions) {
      validate(target, account);
      return withSession(target, [], callOptions, async (session) => {
        if (!(await hasAccount(session, account, target.hostPattern))) return undefined;
        const rows = await run(session, schemaPrivilegesStatement(account, target.hostPattern, target.schema));
        return privilegesFromDbRows(session.info.dialect, rows);
      });
    },

    async killSessions(target, account, callOptions) {
      validate(target, account);
      // Kept across a second run of the work within this call (see withSession).
      const own: SessionTarget = { account, host: target.hostPattern, killed: new Set<string>() };
      return withSession(target, [], callOptions, async (session) => {
        refuseAdmin(session, account);
        await endSessions(session, [own], { untilNone: false });
        if (own.killed.size > 0) log.info({ ...where(target, account), sessionsKilled: own.killed.size }, 'sessions killed');
        return own.killed.size;
      });
    },

    async endAccess(target, account, callOptions) {
      validate(target, account);
      if (closed) throw closedFailure();
      return endings.run(target.adminSecretId, { target, account }, callOptions?.signal);
    },

    async inventory(adminSecretId, include, callOptions) {
      if (typeof adminSecretId !== 'string' || adminSecretId.length === 0) throw activityError(ActivityErrorType.InvalidIdentifier, 'adminSecretId is missing');
      return withSession({ adminSecretId }, [], callOptions, async (session) => {
        const adminAccount = session.server.credentials.username;
        const keep = (user: string) => user !== adminAccount && include(user);
        const accounts = (await run(session, listAccountsStatement()))
          .map((r) => ({ user: String(r.user), host: String(r.host).toLowerCase() }))
          .filter((a) => keep(a.user));
        const grants = (await run(session, schemaGrantsStatement())).map(parseSchemaGrant).filter((g) => keep(g.user));
        const databasePrivileges = await serverDatabasePrivileges(session);
        return { dialect: session.info.dialect, databasePrivileges, adminAccount, accounts, grants };
      });
    },

    async accountGrants(target, account, callOptions) {
      validate(target, account);
      return withSession(target, [], callOptions, async (session) => {
        refuseAdmin(session, account);
        const hosts = (await run(session, accountHostsStatement(account))).map((r) => String(r.host).toLowerCase());
        const grants = (await run(session, schemaGrantsStatement(account))).map(parseSchemaGrant);
        const databasePrivileges = await serverDatabasePrivileges(session);
        return { dialect: session.info.dialect, databasePrivileges, hosts, grants };
      });
    },

    async close() {
      closed = true;
      // Pools still being built are waited for, so that none is left open behind close().
      await Promise.all([...building.values()].map((entry) => entry.catch(() => undefined)));
      latest.clear();
      await Promise.all([...pools].map(endPool));
    },

    async accountFootprint(target, account, callOptions) {
      validate(target, account);
      return withSession(target, [], callOptions, async (session) => {
        if (!(await hasAccount(session, account, target.hostPattern))) return undefined;
        return readFootprint(session.info.dialect, account, target.hostPattern, target.schema, (statement) => run(session, statement));
      });
    },
  };
}
