import { strict as assert } from 'node:assert';

import type { Client } from '@temporalio/client';
import fc from 'fast-check';
import type { RowDataPacket } from 'mysql2/promise';

import { ActivityErrorType } from '../../src/adapters/errors';
import {
  accountExistsStatement,
  checkHost,
  checkSchema,
  containStatement,
  createUserStatement,
  disableEventStatement,
  dropUsersStatement,
  dropUserStatement,
  grantSchema,
  grantStatement,
  leftBehindStatement,
  quoteStoredName,
  revokeAllStatements,
  revokeEverythingStatement,
  revokeExceptStatement,
  SESSION_SQL_MODE,
  type Statement,
} from '../../src/adapters/engines/mysql/sql';
import { HttpError } from '../../src/api/errors';
import { GrantService, type GrantFilters, type NewGrant } from '../../src/api/grant-service';
import { ConfigError, parseFileConfig, type FileConfig } from '../../src/config';
import { ACCOUNT_NAME, EMAIL, HOST_PATTERN, PRIVILEGE_WHITELIST, SCHEMA_NAME, parseGrantId, type GrantRequest } from '../../src/domain';
import { canLogin, createSchema, MARIADB_HOST, MARIADB_PORT, randomPassword, rootPool, RUN_PREFIX } from '../support/mariadb';
import mysql from 'mysql2/promise';

// Property tests over every path from a request field (or a configuration value)
// to SQL. The paths, traced through the code:
//   email         → checkEmail / normalizeEmail (domain/identifiers) → deriveAccountName (domain/naming)
//                   → ACCOUNT_NAME, then a `?` placeholder in CREATE USER / ALTER / GRANT / DROP (activities/mysql/sql)
//   project, database → PROJECT_KEY / DATABASE_KEY, then own() lookups in the configuration
//                   → schema from the configuration (SCHEMA_NAME) → grantSchema: backtick-quoted, `_` `%` `\` escaped
//   accessLevel   → ACCESS_LEVEL_NAME, resolveLevel over the configuration's tables (whitelisted at load)
//                   → checkPrivileges (exact whitelist members) → keywords spliced from the whitelist constant
//   hostPattern   → configuration only (HOST_PATTERN) → `?` placeholder
//   name, reason  → audit, e-mail, workflow summary: never into a statement (checked below)
//   stored object names (events, their schemas) → read from information_schema, the grantee's choice
//                   → quoteStoredName: 1-64 characters, no NUL, backticks doubled (ALTER DEFINER ... EVENT ... DISABLE)
// The API's own validation (GrantService.prepare, list) is called for real; the
// statements are proven against the real MariaDB, not only by looking at them.
// A failure prints fast-check's seed and path; FC_SEED=<seed> replays it.

const PURE_RUNS = 200;
const DB_RUNS = 50;
const params = (numRuns: number): fc.Parameters<unknown> => ({
  numRuns,
  ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}),
});

// --- arbitraries -------------------------------------------------------------

const HOSTILE = [
  "'", '"', '`', ';', '--', '-- ', '#', '/*', '*/', '%', '_', '@', '\\', '\0', '\n', '\r', '\t', '\x1b', '\x7f', '\u0085',
  '\u202e', '\u202d', '\u200f', '\u2066', '\u2069', '\u061c', '\u200b', '\ufeff', '\u00ad', '\u2028',
  'е', // Cyrillic ie
  'ехаmple.com', 'xn--exmple-cua.com', '\u212a', 'İ', 'ß', '..', ' ', '/', '*', '(', ')', ',', '=', '.', '$', '{', '}',
  "' OR '1'='1", '`; DROP DATABASE mysql; --', "\\'", '%27', '0x27', 'ALL PRIVILEGES', 'GRANT OPTION', 'SUPER', '__proto__', 'toString', 'constructor',
];

const hostileFragment = fc.constantFrom(...HOSTILE);
/** Strings made of hostile fragments, arbitrary text and any code point, biased towards SQL metacharacters. */
const hostileString = fc
  .array(fc.oneof({ weight: 4, arbitrary: hostileFragment }, { weight: 2, arbitrary: fc.string({ maxLength: 4 }) }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 4 }) }), {
    maxLength: 12,
  })
  .map((parts) => parts.join(''));
/** A valid value with hostile text spliced in somewhere (or replacing part of it). */
const mutated = (valid: string) =>
  fc.tuple(fc.nat({ max: valid.length }), fc.nat({ max: 3 }), hostileString).map(([at, cut, text]) => valid.slice(0, at) + text + valid.slice(Math.min(valid.length, at + cut)));
/** Every kind of string for one field: arbitrary, any code point, hostile, and near-valid. */
const anyString = (valid: string) => fc.oneof(fc.string(), fc.string({ unit: 'binary' }), hostileString, mutated(valid), fc.constant(valid));

// --- the real validation, with a configuration like production's ---------------

const config: FileConfig = parseFileConfig({
  secretPrefix: 'dbaccess',
  allowedEmailDomains: ['example.com'],
  administrators: [{ name: 'DBA', email: 'dba@example.com' }],
  projects: {
    demo: {
      ownerName: 'Owner',
      ownerEmail: 'owner@example.com',
      accessLevels: { READ: ['SELECT', 'SHOW VIEW'] },
      databases: {
        dev_project: { adminSecretId: 'admin/dev' },
        'prod-db': { schema: 'prod_db', adminSecretId: 'admin/prod', hostPattern: '10.0.%', maxDuration: '7d' },
      },
    },
  },
});

const now = new Date('2026-06-01T00:00:00Z');
let listed: string | undefined;
const fakeClient = {
  options: { namespace: 'default' },
  connection: {
    workflowService: {
      listWorkflowExecutions: async ({ query }: { query: string }) => {
        listed = query;
        return { executions: [], nextPageToken: null };
      },
    },
  },
} as unknown as Client;
const service = new GrantService({ client: fakeClient, config, taskQueue: 'q', grantWaitMs: 0, now: () => now });

const VALID: NewGrant = {
  email: 'john.doe@example.com',
  name: 'John Doe',
  project: 'demo',
  database: 'dev_project',
  accessLevel: 'READ_WRITE',
  expiresAt: '2026-06-20',
  reason: 'incident 4711',
};

type Outcome = { ok: true; request: GrantRequest } | { ok: false; error: HttpError };

function prepare(input: NewGrant): Outcome {
  try {
    return { ok: true, request: service.prepare(input, { name: 'tester', role: 'admin', projects: '*' }) };
  } catch (err) {
    assert.ok(err instanceof HttpError, `prepare threw a non-HTTP error for ${JSON.stringify(input)}: ${String(err)}`);
    return { ok: false, error: err };
  }
}

/** A refusal must be a 4xx naming the field; an acceptance must hold only strict identifiers. */
function checkOutcome(field: keyof NewGrant, input: NewGrant, out: Outcome): void {
  if (!out.ok) {
    assert.ok(out.error.statusCode >= 400 && out.error.statusCode < 500, `status ${out.error.statusCode}`);
    assert.ok(out.error.message.startsWith(`${field}: `), `message "${out.error.message}" names ${field}`);
    return;
  }
  const r = out.request;
  assert.match(r.account, ACCOUNT_NAME);
  assert.match(r.email, EMAIL);
  assert.equal(r.email.slice(r.email.lastIndexOf('@') + 1), 'example.com');
  assert.match(r.target.schema, SCHEMA_NAME);
  assert.match(r.target.hostPattern, HOST_PATTERN);
  assert.ok(r.privileges.length > 0 && r.privileges.every((p) => (PRIVILEGE_WHITELIST as readonly string[]).includes(p)), String(r.privileges));
  assert.deepEqual(parseGrantId(r.grantId), { project: r.project, database: r.database, email: r.email });
  assert.equal(r.project, input.project);
  assert.equal(r.database, input.database);
  // Every statement the grant leads to can be built from it (none of the builders refuses it).
  statementsFor(r);
}

/** Every statement a grant's lifecycle sends, built from its prepared request. */
function statementsFor(r: GrantRequest): Statement[] {
  const { schema, hostPattern, maxUserConnections } = r.target;
  return [
    accountExistsStatement(r.account, hostPattern),
    createUserStatement(r.account, hostPattern, 'Pw-0123456789abcdef', maxUserConnections),
    grantStatement(schema, r.privileges, r.account, hostPattern),
    ...revokeAllStatements(schema, r.account, hostPattern),
    revokeExceptStatement('mariadb', schema, r.privileges, r.account, hostPattern),
    revokeExceptStatement('mysql', schema, r.privileges, r.account, hostPattern),
    dropUserStatement(r.account, hostPattern),
  ];
}

describe('SQL properties: every path from a request field to SQL', () => {
  describe('API validation (GrantService.prepare, the real one)', () => {
    for (const field of ['email', 'name', 'project', 'database', 'accessLevel', 'expiresAt', 'reason'] as const) {
      it(`When ${field} is any string, then prepare either refuses with a 4xx naming ${field} or yields strict identifiers only`, () => {
        let accepted = 0;
        let refused = 0;
        fc.assert(
          fc.property(anyString(VALID[field]!), (value) => {
            const input = { ...VALID, [field]: value };
            const out = prepare(input);
            checkOutcome(field, input, out);
            if (out.ok) accepted += 1;
            else refused += 1;
          }),
          params(PURE_RUNS),
        );
        // Both branches ran: the property is not vacuously true.
        assert.ok(refused > 0, `${field}: some values were refused`);
        assert.ok(accepted > 0, `${field}: some values were accepted`);
      });
    }

    it('When every field is hostile at once, then the first refusal still names a field and nothing unchecked is accepted', () => {
      fc.assert(
        fc.property(fc.record({ email: anyString(VALID.email), name: anyString(VALID.name), project: anyString(VALID.project), database: anyString(VALID.database), accessLevel: anyString(VALID.accessLevel), expiresAt: anyString(VALID.expiresAt!), reason: anyString(VALID.reason!) }), (input) => {
          const out = prepare(input);
          if (!out.ok) {
            assert.ok(out.error.statusCode >= 400 && out.error.statusCode < 500);
            assert.match(out.error.message, /^(email|name|project|database|accessLevel|expiresAt|reason): /);
          } else {
            checkOutcome('email', input, out);
          }
        }),
        params(PURE_RUNS),
      );
    });

    it('When name and reason are any accepted text, then no statement depends on them (they go to audit and e-mail only)', () => {
      const base = prepare(VALID);
      assert.ok(base.ok);
      const expected = JSON.stringify(statementsFor(base.request));
      fc.assert(
        fc.property(anyString(VALID.name), anyString(VALID.reason!), (name, reason) => {
          const out = prepare({ ...VALID, name, reason });
          if (!out.ok) return;
          assert.equal(JSON.stringify(statementsFor(out.request)), expected);
        }),
        params(PURE_RUNS),
      );
    });

    it('When the list filters are any strings, then list refuses with a 4xx naming the filter or the visibility query quotes only strict values', async () => {
      const filter = fc.record(
        { email: anyString('a.b@example.com'), project: anyString('demo'), database: anyString('dev_project'), status: anyString('ACTIVE') },
        { requiredKeys: [] },
      );
      await fc.assert(
        fc.asyncProperty(filter, async (filters: GrantFilters) => {
          listed = undefined;
          try {
            await service.list(filters);
          } catch (err) {
            assert.ok(err instanceof HttpError && err.statusCode === 400, String(err));
            assert.match(err.message, /^(email|project|database|status): /);
            assert.equal(listed, undefined, 'nothing was sent to Temporal');
            return;
          }
          // Every quoted value is one of the strict forms: no quote can end it early.
          const values = [...listed!.matchAll(/= '([^']*)'/g)].map((m) => m[1]!);
          assert.equal(listed!.split("'").length - 1, values.length * 2, listed);
          for (const v of values) assert.match(v, /^[A-Za-z0-9._%+@-]+$/);
        }),
        params(PURE_RUNS),
      );
    });
  });

  describe('configuration → schema, host pattern, privileges', () => {
    const configWith = (db: Record<string, unknown>, levels?: Record<string, unknown>) => ({
      allowedEmailDomains: ['example.com'],
      administrators: [{ name: 'DBA', email: 'dba@example.com' }],
      ...(levels ? { accessLevels: levels } : {}),
      projects: { p: { ownerName: 'O', ownerEmail: 'o@example.com', databases: { d: { adminSecretId: 'admin/x', ...db } } } },
    });

    it('When a schema or host pattern in the configuration is any string, then loading refuses it or it matches the strict pattern', () => {
      fc.assert(
        fc.property(anyString('dev_project'), anyString('10.0.%'), (schema, hostPattern) => {
          let loaded: FileConfig;
          try {
            loaded = parseFileConfig(configWith({ schema, hostPattern }));
          } catch (err) {
            assert.ok(err instanceof ConfigError, String(err));
            return;
          }
          const db = loaded.projects.p!.databases.d!;
          assert.match(db.schema, SCHEMA_NAME);
          assert.match(db.hostPattern, HOST_PATTERN);
          assert.equal(checkSchema(db.schema), schema);
          assert.equal(checkHost(db.hostPattern), hostPattern);
        }),
        params(PURE_RUNS),
      );
    });

    it('When a level in the configuration lists any strings, then loading refuses it or every privilege is a whitelist member', () => {
      fc.assert(
        fc.property(fc.array(fc.oneof(anyString('SELECT'), fc.constantFrom(...PRIVILEGE_WHITELIST, 'SUPER', 'FILE', 'GRANT OPTION', 'all')), { maxLength: 4 }), (list) => {
          let loaded: FileConfig;
          try {
            loaded = parseFileConfig(configWith({}, { CUSTOM: list }));
          } catch (err) {
            assert.ok(err instanceof ConfigError, String(err));
            return;
          }
          for (const p of loaded.accessLevels.CUSTOM!) assert.ok((PRIVILEGE_WHITELIST as readonly string[]).includes(p), p);
        }),
        params(PURE_RUNS),
      );
    });

    it('When the containment builders get any string as account or host, then they refuse it (InvalidIdentifier) or every name is a strict placeholder value', () => {
      fc.assert(
        fc.property(anyString('john_doe_k3x9qa'), anyString('%'), (account, host) => {
          const builders = [
            (a: { account: string; host: string }[]) => containStatement(a.map((x) => ({ ...x, password: 'Pw0123456789abcd' }))),
            (a: { account: string; host: string }[]) => revokeEverythingStatement(a),
            (a: { account: string; host: string }[]) => dropUsersStatement(a),
            (a: { account: string; host: string }[]) => leftBehindStatement(a, 50),
          ];
          for (const build of builders) {
            let statement: Statement;
            try {
              statement = build([{ account, host }, { account: 'other_acct', host: '%' }]);
            } catch (err) {
              assert.equal((err as { type?: string }).type, ActivityErrorType.InvalidIdentifier, String(err));
              assert.ok(!ACCOUNT_NAME.test(account) || !HOST_PATTERN.test(host));
              continue;
            }
            assert.match(account, ACCOUNT_NAME);
            assert.match(host, HOST_PATTERN);
            // The text does not depend on the names: they travel only as values.
            assert.equal(statement.sql, build([{ account: 'acct_x', host: '%' }, { account: 'other_acct', host: '%' }]).sql);
          }
        }),
        params(PURE_RUNS),
      );
    });

    it('When an event or schema name read from the server is any string, then disableEventStatement refuses it or splices it only as one backtick-quoted identifier', () => {
      fc.assert(
        fc.property(anyString('nightly'), anyString('dev_project'), (name, schema) => {
          let statement: Statement;
          try {
            statement = disableEventStatement('acct_1', '%', schema, name);
          } catch (err) {
            assert.equal((err as { type?: string }).type, ActivityErrorType.InvalidIdentifier, String(err));
            assert.ok([name, schema].some((n) => n.length === 0 || n.includes('\0') || [...n].length > 64));
            return;
          }
          const quote = (n: string) => '`' + n.replace(/`/g, '``') + '`';
          assert.equal(statement.sql, `ALTER DEFINER = ?@? EVENT ${quote(schema)}.${quote(name)} DISABLE`);
          assert.deepEqual(statement.values, ['acct_1', '%']);
        }),
        params(PURE_RUNS),
      );
    });

    it('When a statement builder gets any string as schema, account or host, then it refuses it (InvalidIdentifier) or it is strict', () => {
      fc.assert(
        fc.property(anyString('dev_project'), anyString('john_doe_k3x9qa'), anyString('%'), (schema, account, host) => {
          try {
            grantStatement(schema, ['SELECT'], account, host);
          } catch (err) {
            assert.equal((err as { type?: string }).type, ActivityErrorType.InvalidIdentifier, String(err));
            return;
          }
          assert.match(schema, SCHEMA_NAME);
          assert.match(account, ACCOUNT_NAME);
          assert.match(host, HOST_PATTERN);
        }),
        params(PURE_RUNS),
      );
    });
  });

  describe('statements against the real MariaDB', () => {
    let conn: mysql.Connection;

    before(async () => {
      conn = await mysql.createConnection({ host: MARIADB_HOST, port: MARIADB_PORT, user: 'root', password: '', charset: 'utf8mb4' });
      // The manager's own session mode (no NO_BACKSLASH_ESCAPES, no ANSI_QUOTES).
      await conn.query('SET SESSION sql_mode = ?', [SESSION_SQL_MODE.mariadb]);
    });
    after(async () => conn?.end());

    const schemaLike = fc.oneof(fc.stringMatching(/^[A-Za-z0-9_]{1,64}$/), fc.stringMatching(/^[a-z_]{1,6}$/), anyString('dev_project'));

    it('When a schema is any string, then grantSchema refuses it or `SELECT 1 AS <grantSchema>` names a column the server reads as exactly that schema, escaped', async () => {
      await fc.assert(
        fc.asyncProperty(schemaLike, async (schema) => {
          let quoted: string;
          try {
            quoted = grantSchema(schema);
          } catch {
            assert.doesNotMatch(schema, SCHEMA_NAME);
            return;
          }
          const [rows, fields] = await conn.query<RowDataPacket[]>(`SELECT 1 AS ${quoted}`);
          assert.equal(rows.length, 1);
          assert.equal(fields.length, 1, 'one column: the quote was not broken out of');
          const column = fields[0]!.name;
          assert.equal(column, schema.replace(/[_%\\]/g, (c) => `\\${c}`));
          // As a database-level pattern (LIKE with `\` escapes), it matches the schema and nothing else.
          const [[m]] = await conn.query<RowDataPacket[]>("SELECT ? LIKE ? ESCAPE '\\\\' AS self, ? LIKE ? ESCAPE '\\\\' AS sibling", [
            schema,
            column,
            schema.replace(/_/g, 'X'),
            column,
          ]);
          assert.equal(Number(m!.self), 1);
          assert.equal(Number(m!.sibling), schema.includes('_') ? 0 : 1);
        }),
        params(DB_RUNS),
      );
    });

    it('When an event has any name the server accepts (backticks, quotes, unicode, SQL), then disabling it reaches exactly that event and keeps its definer', async () => {
      const pool = rootPool();
      const schema = await createSchema(`${RUN_PREFIX}_ev_props`);
      const account = `${RUN_PREFIX}_evdef`;
      await pool.query('CREATE USER IF NOT EXISTS ?@? ACCOUNT LOCK', [account, '%']);
      // A bystander that must stay enabled whatever the name under test is.
      await pool.query(`CREATE DEFINER = ?@? EVENT IF NOT EXISTS ${quoteStoredName(schema)}.bystander ON SCHEDULE EVERY 1 DAY DO SELECT 1`, [account, '%']);
      const names = fc.oneof(hostileString, fc.string({ minLength: 1, maxLength: 64 }), fc.constantFrom('a`b', "x'; DROP USER root; --", 'é✓ünï', '` DISABLE; --', 'bystander`'));
      try {
        await fc.assert(
          fc.asyncProperty(names, async (name) => {
            let quoted: string;
            try {
              quoted = quoteStoredName(name);
            } catch {
              return;
            }
            try {
              await pool.query(`CREATE DEFINER = ?@? EVENT ${quoteStoredName(schema)}.${quoted} ON SCHEDULE EVERY 1 DAY DO SELECT 1`, [account, '%']);
            } catch {
              return; // a name the server does not accept cannot be read back from it either
            }
            try {
              const [[created]] = await pool.query<RowDataPacket[]>('SELECT EVENT_NAME AS name FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? AND EVENT_NAME <> ?', [schema, 'bystander']);
              const stored = String(created!.name);
              const disable = disableEventStatement(account, '%', schema, stored);
              await pool.query(disable.sql, [...disable.values]);
              const [rows] = await pool.query<RowDataPacket[]>('SELECT EVENT_NAME AS name, STATUS AS status, DEFINER AS definer FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME = ?', [schema, 'bystander']);
              assert.deepEqual(
                rows.map((r) => [String(r.name), r.status, r.definer]),
                [
                  [stored, 'DISABLED', `${account}@%`],
                  ['bystander', 'ENABLED', `${account}@%`],
                ],
              );
            } finally {
              const [left] = await pool.query<RowDataPacket[]>('SELECT EVENT_NAME AS name FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? AND EVENT_NAME <> ?', [schema, 'bystander']);
              for (const r of left) await pool.query(`DROP EVENT IF EXISTS ${quoteStoredName(schema)}.${quoteStoredName(String(r.name))}`);
            }
          }),
          params(DB_RUNS),
        );
      } finally {
        await pool.query('DROP USER IF EXISTS ?@?', [account, '%']);
        await pool.query(`DROP DATABASE IF EXISTS ${quoteStoredName(schema)}`);
      }
    });

    it('When any string goes through a placeholder, then it round-trips byte for byte', async () => {
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), hostileString, fc.string()), async (value) => {
          const [[row]] = await conn.query<RowDataPacket[]>('SELECT ? AS v, CHAR_LENGTH(?) AS n', [value, value]);
          assert.equal(Buffer.compare(Buffer.from(String(row!.v), 'utf8'), Buffer.from(value, 'utf8')), 0, JSON.stringify(value));
          assert.equal(Number(row!.n), [...value].length);
        }),
        params(DB_RUNS),
      );
    });

    it('When an account and host pattern pass the checks, then CREATE USER / DROP USER act on exactly that account (the host lower-cased)', async () => {
      const pool = rootPool();
      const names = fc.tuple(fc.stringMatching(/^[a-z0-9_]{0,10}$/), fc.stringMatching(/^[A-Za-z0-9.:%_/-]{1,40}$/));
      let n = 0;
      await fc.assert(
        fc.asyncProperty(names, async ([suffix, host]) => {
          const account = `${RUN_PREFIX}_p${(n += 1)}${suffix}`.slice(0, 32);
          const create = createUserStatement(account, host, randomPassword(), 1);
          await pool.query(create.sql, [...create.values]);
          try {
            const [rows] = await pool.query<RowDataPacket[]>('SELECT User AS u, Host AS h FROM mysql.user WHERE User = ?', [account]);
            assert.deepEqual(rows.map((r) => [r.u, r.h]), [[account, host.toLowerCase()]]);
            const exists = accountExistsStatement(account, host);
            const [[e]] = await pool.query<RowDataPacket[]>(exists.sql, [...exists.values]);
            assert.equal(Number(e!.n), 1);
          } finally {
            const drop = dropUserStatement(account, host);
            await pool.query(drop.sql, [...drop.values]);
          }
          const [left] = await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM mysql.user WHERE User = ?', [account]);
          assert.equal(Number(left[0]!.n), 0);
        }),
        params(DB_RUNS),
      );
    });

    it('When a schema name holds `_`, then a GRANT built for it reaches that schema and not a sibling the wildcard would match', async () => {
      const pool = rootPool();
      let n = 0;
      await fc.assert(
        fc.asyncProperty(fc.stringMatching(/^[a-z0-9]{0,4}_[a-z0-9_]{0,6}$/), async (tail) => {
          n += 1;
          const schema = await createSchema(`${RUN_PREFIX}_g${n}_${tail}`);
          // Every `_` (the prefix's too) replaced: a schema an unescaped pattern would also cover.
          const sibling = await createSchema(schema.replace(/_/g, 'x'));
          const account = `${RUN_PREFIX}_gr${n}`;
          const password = randomPassword();
          const create = createUserStatement(account, '%', password, 2);
          await pool.query(create.sql, [...create.values]);
          try {
            const grant = grantStatement(schema, ['SELECT'], account, '%');
            await pool.query(grant.sql, [...grant.values]);
            assert.equal(await canLogin(account, password, schema), true, `reaches ${schema}`);
            assert.equal(await canLogin(account, password, sibling), false, `does not reach ${sibling}`);
          } finally {
            await pool.query('DROP USER IF EXISTS ?@?', [account, '%']);
            await pool.query(`DROP DATABASE IF EXISTS \`${schema}\``);
            await pool.query(`DROP DATABASE IF EXISTS \`${sibling}\``);
          }
        }),
        params(15),
      );
    });
  });
});
