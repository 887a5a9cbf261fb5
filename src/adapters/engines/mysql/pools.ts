import mysql, { type Pool } from 'mysql2/promise';

import { ActivityErrorType, activityError } from '../../errors';
import type { AdminCredentialSource, AdminCredentials, EngineLogger } from '../port';
import type { SqlDialect } from '../../ports';

// The connection pools of the account manager: one per admin secret (= one
// server), built on first use, replaced when a re-read secret differs (rotation,
// failover, migration), and ended once the connections borrowed from a replaced
// one have come back.

export interface ServerInfo {
  dialect: SqlDialect;
  /** MySQL only: whether performance_schema.processlist is populated. */
  performanceSchema: boolean;
}

/** One admin secret id = one server = one pool, replaced when a re-read secret differs. */
export interface Server {
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

export interface PoolSettings {
  connectTimeout: number;
  poolSize: number;
}

function sameCredentials(a: AdminCredentials, b: AdminCredentials): boolean {
  return a.host === b.host && a.port === b.port && a.username === b.username && a.password === b.password;
}

export class PoolRegistry {
  /** The current server per secret id, and the first build of one in progress. */
  private readonly latest = new Map<string, Server>();
  private readonly building = new Map<string, Promise<Server>>();
  /** Every pool ever built and not yet ended, retired ones included, so close() ends them all. */
  private readonly pools = new Set<Pool>();
  private closedFlag = false;

  constructor(
    private readonly credentials: AdminCredentialSource,
    private readonly settings: PoolSettings,
    private readonly log: EngineLogger,
  ) {}

  get closed(): boolean {
    return this.closedFlag;
  }

  closedFailure() {
    return activityError(ActivityErrorType.DatabaseUnavailable, 'the MySQL account manager is closed');
  }

  private install(secretId: string, creds: AdminCredentials): Server {
    if (this.closedFlag) throw this.closedFailure();
    const { connectTimeout, poolSize } = this.settings;
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
    this.pools.add(pool);
    const server: Server = { secretId, credentials: creds, pool, inUse: 0, retired: false };
    this.latest.set(secretId, server);
    return server;
  }

  private endPool(pool: Pool): Promise<void> {
    this.pools.delete(pool);
    return pool.end().catch(() => undefined);
  }

  private retire(server: Server): void {
    server.retired = true;
    if (server.inUse === 0) void this.endPool(server.pool);
  }

  /** After a connection of `server` came back: a retired pool is ended with its last one. */
  returned(server: Server): void {
    server.inUse -= 1;
    if (server.retired && server.inUse === 0) void this.endPool(server.pool);
  }

  serverFor(secretId: string): Promise<Server> {
    const current = this.latest.get(secretId);
    if (current) return Promise.resolve(current);
    let pending = this.building.get(secretId);
    if (!pending) {
      const built = this.credentials.get(secretId).then((creds) => this.latest.get(secretId) ?? this.install(secretId, creds));
      pending = built;
      this.building.set(secretId, built);
      // Forgotten once settled, so that a failed read is tried again by the next call.
      const forget = () => {
        if (this.building.get(secretId) === built) this.building.delete(secretId);
      };
      built.then(forget, forget);
    }
    return pending;
  }

  /**
   * After a refused login or a connection-level failure: re-read the secret and
   * build a new pool if host, port, user or password changed. Returns `stale`
   * itself when nothing changed. One re-read per stale pool however many calls
   * noticed; the stale pool is ended when its borrowed connections come back.
   */
  refresh(stale: Server, reason: string): Promise<Server> {
    const current = this.latest.get(stale.secretId);
    if (current && current !== stale) return Promise.resolve(current);
    if (!stale.refreshing) {
      stale.refreshing = (async () => {
        try {
          this.log.warn({ secretId: stale.secretId, reason }, `${reason}; re-reading the admin secret`);
          const creds = await this.credentials.get(stale.secretId, { refresh: true });
          const now = this.latest.get(stale.secretId);
          if (now && now !== stale) return now;
          if (sameCredentials(creds, stale.credentials)) return stale;
          this.log.warn({ secretId: stale.secretId }, 'admin secret changed; connecting with the new one');
          this.retire(stale);
          return this.install(stale.secretId, creds);
        } finally {
          stale.refreshing = undefined;
        }
      })();
    }
    return stale.refreshing;
  }

  /** Like refresh, for after the work failed: never throws (the work's own error is what the caller sees). */
  async refreshQuietly(stale: Server, reason: string): Promise<Server> {
    try {
      return await this.refresh(stale, reason);
    } catch {
      return stale;
    }
  }

  /**
   * Rebuilds the pool with the same credentials (at most once per call), so that
   * new sessions log in with the admin's current global privileges.
   */
  reconnect(stale: Server): void {
    if (this.latest.get(stale.secretId) !== stale || this.closedFlag) return;
    this.retire(stale);
    this.install(stale.secretId, stale.credentials);
  }

  async close(): Promise<void> {
    this.closedFlag = true;
    // Pools still being built are waited for, so that none is left open behind close().
    await Promise.all([...this.building.values()].map((entry) => entry.catch(() => undefined)));
    this.latest.clear();
    await Promise.all([...this.pools].map((pool) => this.endPool(pool)));
  }
}
