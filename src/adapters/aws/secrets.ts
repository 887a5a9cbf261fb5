import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  type DescribeSecretCommandOutput,
  GetSecretValueCommand,
  PutSecretValueCommand,
  RestoreSecretCommand,
  type SecretsManagerClient,
  TagResourceCommand,
} from '@aws-sdk/client-secrets-manager';

import { GRANT_RUN_TAG } from '../credential-links';
import { activityError, ActivityErrorType } from '../errors';
import type { AdminCredentialSource, AdminCredentials, GrantCredential, GrantSecretStore } from '../ports';
import { awsErrorName, awsFailure } from './errors';

// IAM the worker needs for Secrets Manager (adapt the ARNs):
//   admin secrets:     secretsmanager:GetSecretValue on each database's admin secret
//                      (+ kms:Decrypt if it is encrypted with a customer key)
//   per-grant secrets: secretsmanager:CreateSecret, PutSecretValue, DescribeSecret,
//                      RestoreSecret, DeleteSecret, TagResource
//                      (+ GetSecretValue with CREDENTIALS_IN_EMAIL)
//                      on arn:aws:secretsmanager:REGION:ACCOUNT:secret:{secretPrefix}/*
//   SMTP secret (if any): secretsmanager:GetSecretValue on it
// The API (credential links): GetSecretValue and DescribeSecret on the per-grant secrets.

/** A secret that is missing, unreadable by the worker or malformed: no retry fixes it. */
export class SecretInvalidError extends Error {
  override name = 'SecretInvalidError';
  constructor(
    readonly secretId: string,
    readonly problem: string,
  ) {
    super(`secret "${secretId}" ${problem}`);
  }
}

// Errors that say the secret cannot be read as configured, as opposed to the
// service being slow or unreachable.
const PERMANENT_READ_ERRORS: Record<string, string> = {
  ResourceNotFoundException: 'does not exist (or is not visible to the worker)',
  AccessDeniedException: 'cannot be read with the worker\'s credentials (access denied)',
  DecryptionFailure: 'cannot be decrypted with the worker\'s credentials (KMS)',
  InvalidRequestException: 'cannot be read (it may be scheduled for deletion)',
};

/** Reads a secret's string; SecretInvalidError when it cannot be, a plain (retryable) error on transient failure. */
async function readSecretString(client: SecretsManagerClient, secretId: string): Promise<string> {
  let out;
  try {
    out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
  } catch (err) {
    const problem = PERMANENT_READ_ERRORS[awsErrorName(err)];
    if (problem) throw new SecretInvalidError(secretId, problem);
    throw awsFailure(`could not read secret "${secretId}"`, err);
  }
  if (typeof out.SecretString !== 'string') throw new SecretInvalidError(secretId, 'has no string value (binary secrets are not supported)');
  return out.SecretString;
}

function parseJsonObject(secretId: string, text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // The SyntaxError quotes part of the text, which is the secret: never pass it on.
    throw new SecretInvalidError(secretId, 'is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new SecretInvalidError(secretId, 'must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

/**
 * A JSON secret's values as strings (numbers and booleans converted), for
 * credentials other than the admin ones (SMTP). Throws SecretInvalidError when
 * the secret is missing or not a flat JSON object; a plain error when Secrets
 * Manager could not be reached. Messages name the secret, never its value.
 */
export async function readJsonSecret(client: SecretsManagerClient, secretId: string): Promise<Record<string, string>> {
  const obj = parseJsonObject(secretId, await readSecretString(client, secretId));
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(obj)) {
    if (typeof value === 'string') out[key] = value;
    else if (typeof value === 'number' || typeof value === 'boolean') out[key] = String(value);
    else if (value !== null) throw new SecretInvalidError(secretId, `has a nested value under "${key}" (only strings and numbers are expected)`);
  }
  return out;
}

/** An admin secret read by its engine's parser; a format problem is a SecretInvalidError naming keys, never values. */
export function parseAdminSecret(secretId: string, text: string, parse: AdminCredentialsOptions['parse']): AdminCredentials {
  const obj = parseJsonObject(secretId, text);
  try {
    return parse(obj, secretId);
  } catch (err) {
    throw new SecretInvalidError(secretId, err instanceof Error ? err.message : 'is not in the format its engine expects');
  }
}

export interface AdminCredentialsOptions {
  /**
   * The engine's reading of its admin secret (DatabaseEngine.parseAdminSecret): the
   * JSON object to credentials, or an Error saying what is wrong with its format.
   */
  parse: (json: Readonly<Record<string, unknown>>, secretId: string) => AdminCredentials;
  /** How long a read secret is served from memory (default 5 minutes). */
  ttlMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/**
 * Admin credentials from Secrets Manager, cached per secret id. Concurrent gets
 * of an id share one request (a burst of grants on one database reads the
 * secret once). A `refresh` joins a read already in flight rather than starting
 * another: that read is at most one round trip old.
 */
export class SecretsManagerAdminCredentials implements AdminCredentialSource {
  private readonly cache = new Map<string, { value: AdminCredentials; expiresAt: number }>();
  private readonly inflight = new Map<string, Promise<AdminCredentials>>();
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly parse: AdminCredentialsOptions['parse'];

  constructor(
    private readonly client: SecretsManagerClient,
    options: AdminCredentialsOptions,
  ) {
    this.parse = options.parse;
    this.ttlMs = options.ttlMs ?? 5 * 60_000;
    this.now = options.now ?? Date.now;
  }

  async get(secretId: string, options: { refresh?: boolean } = {}): Promise<AdminCredentials> {
    const cached = this.cache.get(secretId);
    if (!options.refresh && cached && cached.expiresAt > this.now()) return { ...cached.value };
    let pending = this.inflight.get(secretId);
    if (!pending) {
      pending = this.read(secretId).finally(() => this.inflight.delete(secretId));
      this.inflight.set(secretId, pending);
    }
    return { ...(await pending) };
  }

  private async read(secretId: string): Promise<AdminCredentials> {
    try {
      const value = parseAdminSecret(secretId, await readSecretString(this.client, secretId), this.parse);
      this.cache.set(secretId, { value, expiresAt: this.now() + this.ttlMs });
      return value;
    } catch (err) {
      if (err instanceof SecretInvalidError) {
        // Credentials that were deleted or broken must not keep being served.
        this.cache.delete(secretId);
        throw activityError(ActivityErrorType.AdminSecretInvalid, `admin ${err.message}`, { secretId });
      }
      // Transient: a still-valid cached value stays for later gets; this one fails and is retried.
      throw err;
    }
  }
}

function tagList(tags: Record<string, string> | undefined): { Key: string; Value: string }[] | undefined {
  if (!tags) return undefined;
  const list = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
  return list.length > 0 ? list : undefined;
}

/**
 * Per-grant credential secrets. Every operation ends in the same state when it
 * is run again after a partial success.
 */
export class SecretsManagerGrantSecretStore implements GrantSecretStore {
  constructor(private readonly client: SecretsManagerClient) {}

  async put(name: string, value: GrantCredential, tags?: Record<string, string>): Promise<void> {
    // A fixed key order keeps the JSON the documented shape, whatever object came in.
    const secretString = JSON.stringify({
      engine: value.engine,
      host: value.host,
      port: value.port,
      username: value.username,
      password: value.password,
      dbname: value.dbname,
      database: value.database,
      ...(value.schema ? { schema: value.schema } : {}),
    });
    try {
      const tagged = tagList(tags);
      await this.client.send(
        new CreateSecretCommand({
          Name: name,
          SecretString: secretString,
          Description: 'dbaccess: credentials of one time-limited database grant',
          ...(tagged ? { Tags: tagged } : {}),
        }),
      );
      return;
    } catch (err) {
      // ResourceExists: an earlier attempt or grant created it. InvalidRequest: AWS's
      // answer when the name belongs to a secret scheduled for deletion.
      const code = awsErrorName(err);
      if (code !== 'ResourceExistsException' && code !== 'InvalidRequestException') {
        throw awsFailure(`could not create secret "${name}"`, err);
      }
    }
    const existing = await this.lookup(name);
    if (!existing) throw new Error(`secret "${name}" could not be created and does not exist (it may still be being deleted); retry later`);
    // A value cannot be stored in a secret scheduled for deletion (and it would vanish with it).
    if (existing.DeletedDate !== undefined) await this.restore(name);
    // The tags first: once the new value is readable, the secret already names its new
    // grant run, so a credential link of an earlier run can never open the new password.
    const tagged = tagList(tags);
    if (tagged) {
      try {
        await this.client.send(new TagResourceCommand({ SecretId: name, Tags: tagged }));
      } catch (err) {
        throw awsFailure(`could not tag secret "${name}"`, err);
      }
    }
    try {
      await this.client.send(new PutSecretValueCommand({ SecretId: name, SecretString: secretString }));
    } catch (err) {
      throw awsFailure(`could not store a new value in secret "${name}"`, err);
    }
  }

  /**
   * The secret's value, or undefined when it does not exist (or is scheduled for
   * deletion: the grant has ended). For the one-time credential link and the
   * CREDENTIALS_IN_EMAIL switch. Errors name the secret, never its value.
   */
  async read(name: string): Promise<GrantCredential | undefined> {
    let text: string;
    try {
      text = await readSecretString(this.client, name);
    } catch (err) {
      if (err instanceof SecretInvalidError && (err.problem.startsWith('does not exist') || err.problem.includes('scheduled for deletion'))) return undefined;
      if (err instanceof SecretInvalidError) throw new Error(err.message);
      throw err;
    }
    const obj = parseJsonObject(name, text);
    const str = (key: string): string => (typeof obj[key] === 'string' ? (obj[key] as string) : '');
    const port = Number(obj['port']);
    // The server's dialect as the grant wrote it; a secret without one is from before engines (MySQL).
    const engine = /^[a-z][a-z0-9]{0,19}$/.test(str('engine')) ? str('engine') : 'mysql';
    if (!str('username') || !str('password') || !str('host') || !Number.isInteger(port)) {
      throw new SecretInvalidError(name, 'is not a grant secret {engine, host, port, username, password, dbname}');
    }
    // Secrets written before the RDS shape carry `database` only.
    const dbname = str('dbname') || str('database');
    return {
      engine,
      host: str('host'),
      port,
      username: str('username'),
      password: str('password'),
      dbname,
      database: dbname,
      ...(str('schema') ? { schema: str('schema') } : {}),
    };
  }

  /**
   * The secret's value and the grant run it belongs to (GRANT_RUN_TAG), for a
   * credential link; undefined when the secret does not exist. The value is read
   * before the tags: put() re-tags before it stores a new value, so a run tag
   * read afterwards is at least as new as the value.
   */
  async readBound(name: string): Promise<{ credential: GrantCredential; grantRun: string | undefined } | undefined> {
    const credential = await this.read(name);
    if (!credential) return undefined;
    const described = await this.describe(name);
    if (!described) return undefined;
    return { credential, grantRun: described.tags[GRANT_RUN_TAG] };
  }

  /**
   * Deletes the secret for good, in one call: Secrets Manager answers a forced deletion
   * of a secret that is not there (any more) with success, so that a retry is safe.
   */
  async delete(name: string): Promise<void> {
    try {
      await this.forceDelete(name);
    } catch (err) {
      // Should Secrets Manager refuse to force-delete a secret already scheduled for
      // deletion (by hand, with a recovery window that would block the name for a
      // later grant): restore it, then delete it for good.
      if (awsErrorName(err) !== 'InvalidRequestException') throw awsFailure(`could not delete secret "${name}"`, err);
      await this.restore(name);
      try {
        await this.forceDelete(name);
      } catch (again) {
        throw awsFailure(`could not delete secret "${name}"`, again);
      }
    }
  }

  private async forceDelete(name: string): Promise<void> {
    await this.client.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }));
  }

  async describe(name: string): Promise<{ tags: Record<string, string> } | undefined> {
    const found = await this.lookup(name);
    if (!found || found.DeletedDate !== undefined) return undefined;
    return { tags: Object.fromEntries((found.Tags ?? []).flatMap((t) => (t.Key ? [[t.Key, t.Value ?? '']] : []))) };
  }

  private async lookup(name: string): Promise<DescribeSecretCommandOutput | undefined> {
    try {
      return await this.client.send(new DescribeSecretCommand({ SecretId: name }));
    } catch (err) {
      if (awsErrorName(err) === 'ResourceNotFoundException') return undefined;
      throw awsFailure(`could not describe secret "${name}"`, err);
    }
  }

  private async restore(name: string): Promise<void> {
    try {
      await this.client.send(new RestoreSecretCommand({ SecretId: name }));
    } catch (err) {
      // A force-deleted secret lingers briefly in AWS before its name is free again.
      throw awsFailure(`secret "${name}" is being deleted and could not be restored; retry later`, err);
    }
  }
}
