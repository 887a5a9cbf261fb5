import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

import { checkAdminAccounts, describePrivileges, excessAdminPrivileges, missingAdminPrivileges, parseGrantLine, readAdminGrants } from '../../../../src/adapters/engines/mysql/admin-check';
import { adminGrantStatements } from '../../../../src/adapters/engines/mysql/sql';
import type { AdminCredentialSource } from '../../../../src/adapters/ports';
import { ConfigError, parseFileConfig, type FileConfig } from '../../../../src/config';
import { createLogger } from '../../../../src/observability/logger';
import { createWorker } from '../../../../src/worker';
import { createTestComponents } from '../../../support/components';
import { createAdmin, createSchema, MARIADB_HOST, randomName, rootPool, RUN_PREFIX, StaticCredentialSource, type TestAdmin } from '../../../support/mariadb';

// The start-up check of the admin accounts: SHOW GRANTS of both dialects parsed
// (MySQL 8.4 from sample output, since it cannot run here), and the check itself
// against the real MariaDB through admins created with exactly the documented
// statements (docs/security.md), plus one extra privilege each.

const HASH = "IDENTIFIED BY PASSWORD '*5A87921594ADBC3B3DBF05C28C6850584B045C00'";

describe('admin privilege check', () => {
  describe('SHOW GRANTS parsing (both dialects, no server)', () => {
    it('When the admin holds exactly what MySQL 8.4 shows for the documented statements, then nothing is extra', () => {
      const lines = [
        'GRANT PROCESS, CREATE USER ON *.* TO `dbaccess_admin`@`%`',
        'GRANT CONNECTION_ADMIN ON *.* TO `dbaccess_admin`@`%`',
        'GRANT SELECT ON `mysql`.* TO `dbaccess_admin`@`%`',
        'GRANT ALL PRIVILEGES ON `dev\\_project`.* TO `dbaccess_admin`@`%` WITH GRANT OPTION',
        'GRANT ALL PRIVILEGES ON `shop`.* TO `dbaccess_admin`@`%` WITH GRANT OPTION',
      ];
      assert.deepEqual(excessAdminPrivileges(lines, ['dev_project', 'shop']), []);
    });

    it('When the admin holds exactly what MariaDB shows for the documented statements (hash, limits), then nothing is extra', () => {
      const lines = [
        `GRANT PROCESS, CREATE USER, CONNECTION ADMIN ON *.* TO \`dbaccess_admin\`@\`%\` ${HASH} WITH MAX_USER_CONNECTIONS 100`,
        'GRANT SELECT ON `mysql`.* TO `dbaccess_admin`@`%`',
        'GRANT ALL PRIVILEGES ON `dev\\_project`.* TO `dbaccess_admin`@`%` WITH GRANT OPTION',
      ];
      assert.deepEqual(excessAdminPrivileges(lines, ['dev_project']), []);
    });

    it('When adminGrantStatements (either dialect) are read back as grant lines, then nothing is extra', () => {
      for (const dialect of ['mysql', 'mariadb'] as const) {
        const schemas = ['dev_project', 'a%b', 'plain'].filter((s) => /^[A-Za-z0-9_]+$/.test(s));
        assert.deepEqual(excessAdminPrivileges(adminGrantStatements(dialect, 'dbaccess_admin', '%', schemas), schemas), [], dialect);
      }
    });

    it("When the documented admin statements are read back, then nothing is extra, and each privilege of its table is among them", () => {
      const security = readFileSync(join(__dirname, '../../../../docs/security.md'), 'utf8');
      const block = /^## The admin account\n[\s\S]*?```sql\n([\s\S]*?)```/m.exec(security);
      assert.ok(block, 'docs/security.md has the admin account block');
      const grants = block[1]!
        .split('\n')
        .map((l) => l.replace(/--.*$/, '').trim().replace(/;$/, ''))
        .filter((l) => l.startsWith('GRANT'));
      assert.equal(grants.length, 3);
      assert.deepEqual(excessAdminPrivileges(grants, ['dev_project']), []);
      // The same statements with one more privilege are caught, so the comparison is not vacuous.
      assert.deepEqual(excessAdminPrivileges([grants[0]!.replace('PROCESS', 'PROCESS, RELOAD')], ['dev_project']), ['RELOAD ON *.*']);
    });

    it('When MySQL 8.4 lists dynamic privileges beyond CONNECTION_ADMIN (SYSTEM_USER...), then each is named', () => {
      const lines = ['GRANT PROCESS, CREATE USER ON *.* TO `a`@`%`', 'GRANT BACKUP_ADMIN,CONNECTION_ADMIN,SYSTEM_USER ON *.* TO `a`@`%`'];
      assert.deepEqual(excessAdminPrivileges(lines, []), ['BACKUP_ADMIN ON *.*', 'SYSTEM_USER ON *.*']);
    });

    it('When the admin is a root-like account, then SUPER, GRANT OPTION and the rest on *.* are named', () => {
      const lines = [
        'GRANT SELECT, INSERT, RELOAD, SHUTDOWN, PROCESS, SUPER, CREATE USER ON *.* TO `root`@`localhost` WITH GRANT OPTION',
        `GRANT ALL PRIVILEGES ON *.* TO \`x\`@\`%\` ${HASH} WITH GRANT OPTION`,
        'GRANT ALL ON *.* TO `x`@`%`',
      ];
      assert.deepEqual(excessAdminPrivileges(lines, []), [
        'SELECT ON *.*',
        'INSERT ON *.*',
        'RELOAD ON *.*',
        'SHUTDOWN ON *.*',
        'SUPER ON *.*',
        'GRANT OPTION ON *.*',
        'ALL PRIVILEGES ON *.*',
      ]);
    });

    it('When the admin has roles (MySQL `r`@`h`, MariaDB `r`), then each role grant is named; SET DEFAULT ROLE and partial revokes are not grants', () => {
      const lines = [
        'GRANT `dba_role`@`%`,`ops`@`%` TO `a`@`%` WITH ADMIN OPTION',
        'GRANT `maria_role` TO `a`@`%`',
        'SET DEFAULT ROLE `maria_role` FOR `a`@`%`',
        'REVOKE INSERT ON `mysql`.* FROM `a`@`%`',
      ];
      assert.deepEqual(excessAdminPrivileges(lines, []), ['role `dba_role`@`%`,`ops`@`%` WITH ADMIN OPTION', 'role `maria_role`']);
    });

    it('When a schema grant is on an unconfigured schema, a wildcard pattern, or mysql.* beyond SELECT, then it is named', () => {
      const lines = [
        'GRANT ALL PRIVILEGES ON `shop`.* TO `a`@`%` WITH GRANT OPTION',
        'GRANT ALL PRIVILEGES ON `dev_project`.* TO `a`@`%` WITH GRANT OPTION',
        'GRANT SELECT, INSERT ON `mysql`.* TO `a`@`%` WITH GRANT OPTION',
        'GRANT SELECT ON `other`.`t` TO `a`@`%`',
        'GRANT EXECUTE ON PROCEDURE `other`.`p` TO `a`@`%`',
        "GRANT PROXY ON ''@'%' TO 'a'@'%' WITH GRANT OPTION",
      ];
      const extra = excessAdminPrivileges(lines, ['dev_project']);
      assert.deepEqual(extra, [
        'ALL PRIVILEGES ON `shop`.* (a schema the configuration does not name for this secret)',
        'GRANT OPTION ON `shop`.*',
        'ALL PRIVILEGES ON `dev_project`.* (an unescaped _ or % is a wildcard: it covers other schemas too)',
        'INSERT ON `mysql`.*',
        'GRANT OPTION ON `mysql`.*',
        'SELECT ON `other`.`t` (a schema the configuration does not name for this secret)',
        'EXECUTE ON `other`.`p` (a schema the configuration does not name for this secret)',
        "PROXY ON ''@'%'",
      ]);
    });

    it('When grants are on tables, columns or routines inside a managed schema or SELECT on mysql tables, then nothing is extra', () => {
      const lines = [
        'GRANT SELECT, SELECT (`User`, `Host`) ON `mysql`.`user` TO `a`@`%`',
        'GRANT SELECT, UPDATE (`v`) ON `dev_project`.`t` TO `a`@`%` WITH GRANT OPTION',
        'GRANT EXECUTE ON FUNCTION `dev_project`.`f` TO `a`@`%`',
        'GRANT USAGE ON *.* TO `a`@`%`',
      ];
      assert.deepEqual(excessAdminPrivileges(lines, ['dev_project']), []);
    });

    it('When a grant line carries a password hash, then no message repeats it, and quoted text cannot fake WITH GRANT OPTION', () => {
      const lines = [
        `GRANT SUPER ON *.* TO \`a\`@\`%\` ${HASH}`,
        "GRANT USAGE ON *.* TO `a`@`%` IDENTIFIED VIA ed25519 USING 'x WITH GRANT OPTION'",
      ];
      const extra = excessAdminPrivileges(lines, []);
      assert.deepEqual(extra, ['SUPER ON *.*']);
      assert.ok(!extra.join(' ').includes('5A87921594'));
    });

    it('When MySQL 8.4 shows CONNECTION_ADMIN on a line of its own (a dynamic privilege, absent from USER_PRIVILEGES), then the check sees it; without it, it is named as missing', () => {
      const lines = [
        'GRANT PROCESS, CREATE USER ON *.* TO `dbaccess_admin`@`%`',
        'GRANT CONNECTION_ADMIN ON *.* TO `dbaccess_admin`@`%`',
        'GRANT SELECT ON `mysql`.* TO `dbaccess_admin`@`%`',
        'GRANT ALL PRIVILEGES ON `dev\\_project`.* TO `dbaccess_admin`@`%` WITH GRANT OPTION',
      ];
      assert.deepEqual(missingAdminPrivileges('mysql', lines, ['dev_project']), []);
      assert.deepEqual(missingAdminPrivileges('mysql', lines.filter((l) => !l.includes('CONNECTION_ADMIN')), ['dev_project']), ['CONNECTION_ADMIN ON *.*']);
      // MySQL needs no SET USER (its SET_ANY_DEFINER would let DROP USER orphan objects instead of refusing).
      assert.ok(!missingAdminPrivileges('mysql', ['GRANT USAGE ON *.* TO `a`@`%`'], []).some((m) => m.startsWith('SET')));
    });

    it('When the MariaDB admin lacks SET USER, then it is named (what disables a grantee\'s events), but not among the essentials check-target refuses on; SUPER stands for both', () => {
      const hash = HASH;
      const lines = [
        `GRANT PROCESS, CREATE USER, CONNECTION ADMIN ON *.* TO \`dbaccess_admin\`@\`%\` ${hash}`,
        'GRANT SELECT ON `mysql`.* TO `dbaccess_admin`@`%`',
        'GRANT ALL PRIVILEGES ON `dev\\_project`.* TO `dbaccess_admin`@`%` WITH GRANT OPTION',
      ];
      assert.deepEqual(missingAdminPrivileges('mariadb', lines, ['dev_project']), ['SET USER ON *.*']);
      assert.deepEqual(missingAdminPrivileges('mariadb', lines, ['dev_project'], { essential: true }), []);
      const superAdmin = [lines[0]!.replace('CONNECTION ADMIN', 'SUPER'), lines[1]!, lines[2]!];
      assert.deepEqual(missingAdminPrivileges('mariadb', superAdmin, ['dev_project']), []);
    });

    it('When the schema grant lacks GRANT OPTION, or mysql.* cannot be read, then each is named; a root-like admin lacks nothing', () => {
      const lines = ['GRANT PROCESS, CREATE USER, CONNECTION_ADMIN ON *.* TO `a`@`%`', 'GRANT ALL PRIVILEGES ON `dev\\_project`.* TO `a`@`%`'];
      const missing = missingAdminPrivileges('mysql', lines, ['dev_project', 'shop']);
      assert.deepEqual(missing, ['SELECT ON mysql.*', 'ALL PRIVILEGES ON `dev\\_project`.* WITH GRANT OPTION', 'ALL PRIVILEGES ON `shop`.* WITH GRANT OPTION']);
      assert.equal(describePrivileges(['CREATE USER ON *.*', 'PROCESS ON *.*', ...missing.slice(0, 1)]), 'CREATE USER, PROCESS ON *.*; SELECT ON mysql.*');
      assert.deepEqual(missingAdminPrivileges('mariadb', [`GRANT ALL PRIVILEGES ON *.* TO \`root\`@\`localhost\` ${HASH} WITH GRANT OPTION`], ['dev_project']), []);
    });

    it('When a line is not a grant this parser knows, then it is reported rather than ignored', () => {
      assert.deepEqual(parseGrantLine('GRANT SELECT ON * TO `a`@`%`').kind, 'unrecognised');
      assert.deepEqual(excessAdminPrivileges(['SOMETHING NEW ON *.* TO `a`@`%`'], []), ['an unrecognised grant (SOMETHING NEW ON)']);
    });
  });

  describe('against the real MariaDB', () => {
    const secretId = 'test/admin-check';
    let schemas: string[];
    let otherSchema = '';

    before(async () => {
      schemas = [await createSchema(`${RUN_PREFIX}_ac_${randomName(3)}_a`), await createSchema(`${RUN_PREFIX}_ac_${randomName(3)}_b`)];
      otherSchema = await createSchema(`${RUN_PREFIX}_ac_${randomName(3)}_o`);
    });

    function configFor(managed: readonly string[], adminSecretId = secretId): FileConfig {
      return parseFileConfig({
        allowedEmailDomains: ['example.com'],
        administrators: [{ name: 'DBA', email: 'dba@example.com' }],
        projects: {
          p: {
            ownerName: 'Owner',
            ownerEmail: 'owner@example.com',
            databases: Object.fromEntries(managed.map((s, i) => [`db${i}`, { schema: s, adminSecretId }])),
          },
        },
      });
    }

    function recorder() {
      const warnings: { obj: object; msg: string }[] = [];
      return { warnings, logger: { info: () => undefined, warn: (obj: object, msg: string) => warnings.push({ obj, msg }) } };
    }

    async function refusal(admin: TestAdmin, allow = false): Promise<{ error?: ConfigError; warnings: { obj: object; msg: string }[] }> {
      const { warnings, logger } = recorder();
      try {
        await checkAdminAccounts({ config: configFor(schemas), credentials: new StaticCredentialSource(admin.credentials), allowExtraPrivileges: allow, logger });
        return { warnings };
      } catch (err) {
        assert.ok(err instanceof ConfigError, `a ConfigError, not ${String(err)}`);
        return { error: err, warnings };
      }
    }

    it('When the admin was created with exactly the documented statements, then it passes without a warning', async () => {
      const admin = await createAdmin(schemas);
      const grants = await readAdminGrants(admin.credentials);
      assert.ok(grants.some((g) => g.includes('CONNECTION ADMIN')), grants.join('\n'));
      const { error, warnings } = await refusal(admin);
      assert.equal(error, undefined);
      assert.deepEqual(warnings, []);
    });

    const escaped = () => otherSchema.replace(/_/g, '\\_');
    const extras: [string, (a: TestAdmin) => string, () => RegExp][] = [
      ['SUPER', (a) => `GRANT SUPER ON *.* TO '${a.account}'@'%'`, () => /SUPER ON \*\.\*/],
      ['ALL PRIVILEGES ON *.*', (a) => `GRANT ALL PRIVILEGES ON *.* TO '${a.account}'@'%'`, () => /ALL PRIVILEGES ON \*\.\*/],
      ['WITH GRANT OPTION on *.*', (a) => `GRANT CREATE USER ON *.* TO '${a.account}'@'%' WITH GRANT OPTION`, () => /GRANT OPTION ON \*\.\*/],
      [
        'a grant on another schema',
        (a) => `GRANT SELECT ON \`${escaped()}\`.* TO '${a.account}'@'%'`,
        () => new RegExp(`SELECT ON \`${escaped().replace(/\\/g, '\\\\')}\`\\.\\* \\(a schema the configuration does not name`),
      ],
      [
        'a wildcard grant covering a managed schema',
        (a) => `GRANT ALL PRIVILEGES ON \`${schemas[0]}\`.* TO '${a.account}'@'%' WITH GRANT OPTION`,
        () => /an unescaped _ or % is a wildcard/,
      ],
    ];
    for (const [what, grant, named] of extras) {
      it(`When the admin also holds ${what}, then the check refuses with a message naming the secret and it (never the password)`, async () => {
        const admin = await createAdmin(schemas);
        await rootPool().query(grant(admin));
        const { error } = await refusal(admin);
        assert.ok(error, 'refused');
        assert.match(error.message, new RegExp(`admin secret ${secretId}:`));
        assert.match(error.message, named());
        assert.match(error.message, /DBACCESS_ALLOW_EXTRA_ADMIN_PRIVILEGES/);
        assert.ok(!error.message.includes(admin.password));
        assert.ok(!/PASSWORD '\*/.test(error.message), 'no password hash');
      });
    }

    it('When the override is set, then the same extra privilege is a warning naming it and the check passes', async () => {
      const admin = await createAdmin(schemas);
      await rootPool().query(`GRANT SUPER ON *.* TO '${admin.account}'@'%'`);
      const { error, warnings } = await refusal(admin, true);
      assert.equal(error, undefined);
      assert.equal(warnings.length, 1);
      assert.deepEqual((warnings[0]!.obj as { extraPrivileges: string[] }).extraPrivileges, ['SUPER ON *.*']);
      assert.ok(!JSON.stringify(warnings).includes(admin.password));
    });

    it('When the admin lacks CONNECTION ADMIN and SET USER, then the start-up check warns naming each and what fails without them, and the worker may still start', async () => {
      const admin = await createAdmin(schemas);
      await rootPool().query('REVOKE CONNECTION ADMIN, SET USER ON *.* FROM ?@?', [admin.account, '%']);
      const { warnings, logger } = recorder();
      const result = await checkAdminAccounts({ config: configFor(schemas), credentials: new StaticCredentialSource(admin.credentials), allowExtraPrivileges: false, logger });
      assert.deepEqual(result.missing.get(secretId), ['CONNECTION ADMIN ON *.*', 'SET USER ON *.*']);
      assert.equal(result.excess.size, 0);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!.msg, /lacks CONNECTION ADMIN, SET USER ON \*\.\*: a revocation or a lowered level cannot end the grantee's open sessions; a revocation cannot disable the grantee's events/);
      assert.ok(!JSON.stringify(warnings).includes(admin.password));
    });

    it('When the server does not answer or the secret cannot be read, then it is a warning and the check passes', async () => {
      const admin = await createAdmin(schemas);
      const port = await new Promise<number>((resolve) => {
        const srv = createServer().listen(0, '127.0.0.1', () => {
          const p = (srv.address() as { port: number }).port;
          srv.close(() => resolve(p));
        });
      });
      const unreadable: AdminCredentialSource = {
        get: async (id) => {
          if (id === 'test/unreadable') throw new Error(`could not read secret "${id}"`);
          return { ...admin.credentials, host: MARIADB_HOST, port };
        },
      };
      const config = parseFileConfig({
        allowedEmailDomains: ['example.com'],
        administrators: [{ name: 'DBA', email: 'dba@example.com' }],
        projects: {
          p: {
            ownerName: 'Owner',
            ownerEmail: 'owner@example.com',
            databases: { a: { schema: schemas[0], adminSecretId: 'test/closed-port' }, b: { schema: schemas[1], adminSecretId: 'test/unreadable' } },
          },
        },
      });
      const { warnings, logger } = recorder();
      const result = await checkAdminAccounts({ config, credentials: unreadable, allowExtraPrivileges: false, logger, timeoutMs: 2000 });
      assert.deepEqual([...result.unchecked.keys()].sort(), ['test/closed-port', 'test/unreadable']);
      assert.equal(warnings.length, 2);
      assert.match(result.unchecked.get('test/closed-port')!, /ECONNREFUSED/);
      assert.ok(!JSON.stringify(warnings).includes(admin.password));
    });

    it('When the worker starts with an admin holding SUPER, then createWorker refuses before connecting to Temporal; with the override it gets past the check', async () => {
      const c = await createTestComponents();
      try {
        await rootPool().query(`GRANT SUPER ON *.* TO ?@?`, [c.admin.account, c.admin.host]);
        const config = parseFileConfig({
          secretPrefix: c.secretPrefix,
          allowedEmailDomains: ['example.com'],
          administrators: c.administrators,
          projects: { [c.project]: { ownerName: 'O', ownerEmail: 'o@example.com', databases: { main: { schema: c.schema, adminSecretId: c.adminSecretId } } } },
        });
        const base = {
          config,
          // Nothing listens there: getting as far as Temporal fails differently.
          temporal: { address: '127.0.0.1:1', namespace: 'default', taskQueue: 'admin-check' },
          aws: c.awsSettings,
          smtp: c.smtpSettings,
          logger: createLogger('admin-check-test', 'fatal'),
        };
        await assert.rejects(createWorker(base), (err: unknown) => {
          assert.ok(err instanceof ConfigError, String(err));
          assert.match(err.message, new RegExp(`admin secret ${c.adminSecretId.replace(/[/]/g, '\\/')}: .*SUPER ON \\*\\.\\*`));
          return true;
        });
        await assert.rejects(createWorker({ ...base, allowExtraAdminPrivileges: true }), (err: unknown) => {
          assert.ok(!(err instanceof ConfigError), `past the admin check, got ${String(err)}`);
          return true;
        });
      } finally {
        await c.close();
      }
    });
  });
});
