import { DeleteTableCommand, UpdateTableCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
} from '@aws-sdk/client-secrets-manager';
import type { LogLevel, LogMetadata, Logger } from '@temporalio/common';
import type { LogEntry } from '@temporalio/worker';
import { MockActivityEnvironment } from '@temporalio/testing';

import { createActivities, type AccountRef, type ActivityDeps, type GrantActivities } from '../../src/activities';
import {
  createAwsClients,
  DynamoAuditStore,
  DynamoCredentialLinkStore,
  ensureAuditTable,
  ensureCredentialLinksTable,
  SecretsManagerAdminCredentials,
  SecretsManagerGrantSecretStore,
  type AwsClients,
} from '../../src/adapters/aws';
import { createSmtpNotifier } from '../../src/adapters/notify';
import { createMysqlAccountManager, mysqlEngine } from '../../src/adapters/engines/mysql';
import { generatePassword } from '../../src/adapters/password';
import { guideFor } from '../../src/adapters/engines/guides';
import type { GrantCredential } from '../../src/adapters/ports';
import type { AwsSettings, SmtpSettings } from '../../src/config';
import { grantIdFor, grantSecretName, type GrantTarget, type Person } from '../../src/domain';
import { onTestRunEnd } from './hooks';
import { createAdmin, createSchema, MARIADB_HOST, MARIADB_PORT, randomName, rootPool, RUN_PREFIX, type TestAdmin } from './mariadb';
import { motoAwsSettings } from './moto';
import { getSharedSmtp, type SmtpCapture } from './smtp';

// The real activity adapters wired together for one test file, the way the
// worker wires them: MariaDB through a least-privileged admin whose credentials
// are read from an admin secret in moto (seed format), grant secrets and the
// audit table in moto, mail through the shared SMTP capture.
//
// Every name this creates carries one per-instance tag (under the run prefix of
// support/mariadb.ts), so instances in one run never see each other's accounts,
// secrets, audit items or mail, and close() removes exactly what the instance made.
//
//   const c = await createTestComponents();
//   const { ref, email } = c.newGrant();
//   await c.call.createAccount(ref);            // direct call, in a mock activity context
//   worker = await Worker.create({ activities: c.activities, ... });   // or through Temporal
//   await c.close();

export interface TestComponentsOptions {
  /** How many schemas the admin manages (each with table `t` holding row (1,'one')). Default 1. */
  schemaCount?: number;
  /** Recipients of notifyAdmins. Default: one address unique to this instance. */
  administrators?: Person[];
  /** Host part of grant accounts in `target()`. Default `%`. */
  hostPattern?: string;
  /** Max user connections in `target()`. Default 5. */
  maxUserConnections?: number;
}

export interface TestGrant {
  /** What the activities take: unique account and secret name, target = `target()`. */
  ref: AccountRef;
  /** Grantee address the grant id was derived from (unique to the grant, example.com). */
  email: string;
  name: string;
}

export interface TestComponents {
  /** The activities as a worker registers them. They log through `@temporalio/activity`, so they need an activity context. */
  activities: GrantActivities;
  /** The same activities, each call run in its own MockActivityEnvironment (logs go to `logs`), for calling directly. */
  call: GrantActivities;
  /** What `activities` were built from (real adapters). */
  deps: ActivityDeps;
  /** First (usually only) schema; `schemas` lists all of them. */
  schema: string;
  schemas: string[];
  /** The least-privileged admin (adminGrantStatements) whose credentials the admin secret holds. */
  admin: TestAdmin;
  /** Secrets Manager id of the admin secret (`{"MYSQL_HOST","MYSQL_PORT","MYSQL_USERNAME","MYSQL_PASSWORD"}`). */
  adminSecretId: string;
  /** Prefix of every grant secret this instance names (the worker's secretPrefix). */
  secretPrefix: string;
  /** Project name used by `newGrant` (unique to this instance). */
  project: string;
  /** Owner of `project`, unique to this instance. */
  owner: Person;
  administrators: Person[];
  auditTable: string;
  /** This instance's one-time credential links table, and a store on it. */
  linksTable: string;
  links: DynamoCredentialLinkStore;
  /** Settings pointing at the shared moto server and this instance's audit table. */
  awsSettings: AwsSettings;
  /** SDK clients on moto, for asserting on what the activities stored. */
  aws: AwsClients;
  /** The shared SMTP capture server (filter by recipient or Message-ID: other files use it too). */
  smtp: SmtpCapture;
  smtpSettings: SmtpSettings;
  /** Log entries written by activities run through `call`. */
  logs: LogEntry[];
  /** Every password createAccount has generated so far (to prove none leaks). */
  generatedPasswords: readonly string[];
  /** Every secret value that must never appear in an error, log or result: admin password + generated passwords. */
  knownSecrets(): string[];
  /** The GrantTarget of `schema` (or another of `schemas`). */
  target(overrides?: Partial<GrantTarget>): GrantTarget;
  /** A fresh, unique grant on `schema` (or `options.schema`, which should be one of `schemas`). */
  newGrant(options?: { schema?: string; database?: string; target?: Partial<GrantTarget> }): TestGrant;
  /** The grant secret's parsed value, or undefined when the secret does not exist (or is scheduled for deletion). */
  readGrantSecret(name: string): Promise<GrantCredential | undefined>;
  /** Whether a secret of that name exists in Secrets Manager (deleted or scheduled for deletion counts as absent). */
  secretExists(name: string): Promise<boolean>;
  /** Removes everything this instance created and closes its clients. Idempotent; also runs at the end of the test run. */
  close(): Promise<void>;
}

/**
 * The configuration file (raw, as written to disk) of a stack on these components:
 * their project with `databases`, its owner, their administrators, the usual levels.
 * `extra` adds or replaces top-level keys (more projects, apiClients, approval...).
 */
export function stackConfigFile(components: TestComponents, databases: Record<string, Record<string, unknown>>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const { projects, ...rest } = extra as { projects?: Record<string, unknown> };
  return {
    secretPrefix: components.secretPrefix,
    allowedEmailDomains: ['example.com'],
    administrators: components.administrators,
    accessLevels: { READ: ['SELECT'], READ_WRITE: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'], ADMIN: ['ALL PRIVILEGES'] },
    projects: { [components.project]: { ownerName: components.owner.name, ownerEmail: components.owner.email, databases }, ...projects },
    ...rest,
  };
}

/** A Temporal Logger that keeps every entry in memory. */
function memoryLogger(entries: LogEntry[]): Logger {
  const log = (level: LogLevel, message: string, meta?: LogMetadata): void => {
    entries.push({ level, message, meta, timestampNanos: BigInt(Date.now()) * 1_000_000n });
  };
  return {
    log,
    trace: (m, meta) => log('TRACE', m, meta),
    debug: (m, meta) => log('DEBUG', m, meta),
    info: (m, meta) => log('INFO', m, meta),
    warn: (m, meta) => log('WARN', m, meta),
    error: (m, meta) => log('ERROR', m, meta),
  };
}

/** Wraps each activity so that a direct call runs inside an activity context, as under a worker. */
function inActivityContext(activities: GrantActivities, logger: Logger): GrantActivities {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities) as [string, (...args: unknown[]) => Promise<unknown>][]) {
    wrapped[name] = (...args: unknown[]) => new MockActivityEnvironment({ activityType: name }, { logger }).run(fn, ...args);
  }
  return wrapped as GrantActivities;
}

export async function createTestComponents(options: TestComponentsOptions = {}): Promise<TestComponents> {
  // Lower-case letters and digits only: the tag goes into account, schema and secret names.
  const tag = `${RUN_PREFIX}_${randomName(4)}`;
  const project = `p${tag.replace(/_/g, '')}`;
  const owner: Person = { name: 'Olga Owner', email: `owner-${tag}@example.com` };
  const administrators = options.administrators ?? [{ name: 'DBA On Call', email: `dba-${tag}@example.com` }];
  const secretPrefix = `dbaccess-test/${tag}`;
  const auditTable = `dbaccess-test-audit-${tag}`;
  const linksTable = `dbaccess-test-links-${tag}`;
  const cleanups: (() => Promise<void>)[] = [];
  let closed: Promise<void> | undefined;

  const close = (): Promise<void> => {
    closed ??= (async () => {
      for (const fn of cleanups.splice(0).reverse()) {
        try {
          await fn();
        } catch (err) {
          // One failed cleanup must not keep the others from running.
          // eslint-disable-next-line no-console
          console.error(`test components ${tag}: cleanup failed:`, err);
        }
      }
    })();
    return closed;
  };
  // A file that forgets close() (or fails in before()) still leaves nothing behind.
  onTestRunEnd(close);

  try {
    const schemas: string[] = [];
    const count = options.schemaCount ?? 1;
    for (let i = 0; i < count; i++) schemas.push(await createSchema(`${tag}_db${i}`));
    cleanups.push(async () => {
      const pool = rootPool();
      for (const s of schemas) await pool.query(`DROP DATABASE IF EXISTS \`${s}\``);
    });

    const admin = await createAdmin(schemas);
    cleanups.push(async () => {
      await rootPool().query('DROP USER IF EXISTS ?@?', [admin.account, admin.host]);
    });
    // Grant accounts this instance made (newGrant names them `${tag}_g...`), whatever the tests left.
    cleanups.push(async () => {
      const pool = rootPool();
      const [rows] = await pool.query('SELECT User AS user, Host AS host FROM mysql.user WHERE User LIKE ?', [`${tag.replace(/_/g, '\\_')}\\_g%`]);
      for (const u of rows as { user: string; host: string }[]) await pool.query('DROP USER IF EXISTS ?@?', [u.user, u.host]);
    });

    const awsSettings = await motoAwsSettings(auditTable);
    const aws = createAwsClients(awsSettings);
    cleanups.push(async () => aws.destroy());

    // Outside secretPrefix, as the configuration requires of admin secrets.
    const adminSecretId = `dbaccess-test-admin/${tag}/${schemas[0]}`;
    await aws.secrets.send(
      new CreateSecretCommand({
        Name: adminSecretId,
        // The seed writes the port as a string, like every other value of that secret.
        SecretString: JSON.stringify({
          MYSQL_HOST: MARIADB_HOST,
          MYSQL_PORT: String(MARIADB_PORT),
          MYSQL_USERNAME: admin.account,
          MYSQL_PASSWORD: admin.password,
        }),
      }),
    );
    // The admin secret, and every grant secret left under the prefix.
    cleanups.push(async () => {
      await aws.secrets.send(new DeleteSecretCommand({ SecretId: adminSecretId, ForceDeleteWithoutRecovery: true }));
      let next: string | undefined;
      const names: string[] = [];
      do {
        const page = await aws.secrets.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [secretPrefix] }], NextToken: next, IncludePlannedDeletion: true }));
        for (const s of page.SecretList ?? []) if (s.Name?.startsWith(`${secretPrefix}/`)) names.push(s.Name);
        next = page.NextToken;
      } while (next);
      for (const name of names) await aws.secrets.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }));
    });

    await ensureAuditTable(aws.dynamo, auditTable);
    // The definition protects the table from deletion (right for production); a test table goes.
    cleanups.push(async () => {
      await aws.dynamo.send(new UpdateTableCommand({ TableName: auditTable, DeletionProtectionEnabled: false }));
      await aws.dynamo.send(new DeleteTableCommand({ TableName: auditTable }));
    });

    await ensureCredentialLinksTable(aws.dynamo, linksTable);
    cleanups.push(async () => {
      await aws.dynamo.send(new DeleteTableCommand({ TableName: linksTable }));
    });

    const smtp = await getSharedSmtp();
    const smtpSettings: SmtpSettings = { host: smtp.host, port: smtp.port, secure: false, requireTls: false, from: `dbaccess <dbaccess-${tag}@example.com>` };
    const notifier = createSmtpNotifier(smtpSettings, { connectionTimeoutMs: 3000, greetingTimeoutMs: 3000, sendTimeoutMs: 10_000 });
    cleanups.push(async () => notifier.close());

    const accounts = createMysqlAccountManager({ credentials: new SecretsManagerAdminCredentials(aws.secrets, { parse: mysqlEngine.parseAdminSecret }), connectTimeoutMs: 3000, poolSize: 2 });
    cleanups.push(() => accounts.close());

    const generatedPasswords: string[] = [];
    const deps: ActivityDeps = {
      accounts,
      guideFor,
      secrets: new SecretsManagerGrantSecretStore(aws.secrets),
      audit: new DynamoAuditStore(aws.doc, auditTable),
      notifier,
      administrators,
      awsRegion: awsSettings.region,
      generatePassword: () => {
        const password = generatePassword();
        generatedPasswords.push(password);
        return password;
      },
    };
    const activities = createActivities(deps);
    const logs: LogEntry[] = [];
    const call = inActivityContext(activities, memoryLogger(logs));

    const target = (overrides: Partial<GrantTarget> = {}): GrantTarget => ({
      schema: schemas[0]!,
      adminSecretId,
      hostPattern: options.hostPattern ?? '%',
      maxUserConnections: options.maxUserConnections ?? 5,
      ...overrides,
    });

    let grants = 0;
    const newGrant = (opts: { schema?: string; database?: string; target?: Partial<GrantTarget> } = {}): TestGrant => {
      grants += 1;
      const schema = opts.schema ?? schemas[0]!;
      const database = opts.database ?? schema;
      const account = `${tag}_g${grants}_${randomName(3)}`;
      const email = `grantee${grants}-${tag.replace(/_/g, '-')}@example.com`;
      return {
        ref: {
          grantId: grantIdFor(project, database, email),
          project,
          database,
          account,
          secretName: grantSecretName(secretPrefix, project, database, account),
          target: target({ schema, ...opts.target }),
        },
        email,
        name: `Grantee ${grants}`,
      };
    };

    const secretExists = async (name: string): Promise<boolean> => {
      try {
        const out = await aws.secrets.send(new DescribeSecretCommand({ SecretId: name }));
        return out.DeletedDate === undefined;
      } catch (err) {
        if ((err as Error).name === 'ResourceNotFoundException') return false;
        throw err;
      }
    };

    const readGrantSecret = async (name: string): Promise<GrantCredential | undefined> => {
      if (!(await secretExists(name))) return undefined;
      const out = await aws.secrets.send(new GetSecretValueCommand({ SecretId: name }));
      return JSON.parse(out.SecretString ?? 'null') as GrantCredential;
    };

    return {
      activities,
      call,
      deps,
      schema: schemas[0]!,
      schemas,
      admin,
      adminSecretId,
      secretPrefix,
      project,
      owner,
      administrators,
      auditTable,
      linksTable,
      links: new DynamoCredentialLinkStore(aws.doc, linksTable),
      awsSettings,
      aws,
      smtp,
      smtpSettings,
      logs,
      generatedPasswords,
      knownSecrets: () => [admin.password, ...generatedPasswords],
      target,
      newGrant,
      readGrantSecret,
      secretExists,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
