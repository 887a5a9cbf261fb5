import { strict as assert } from 'node:assert';

import { ApplicationFailure } from '@temporalio/common';

import { ActivityErrorType } from '../../../../src/adapters/errors';
import { missingAdminPrivileges } from '../../../../src/adapters/engines/mysql/admin-check';
import { dropRefusalText, isPermanentRefusal, toActivityError } from '../../../../src/adapters/engines/mysql/errors';
import { databasePrivilegesOfColumns, parseSchemaGrant } from '../../../../src/adapters/engines/mysql/inventory';
import {
  accountExistsStatement,
  accountsNamedStatement,
  adminGrantsStatement,
  adminGrantStatements,
  alterUserStatement,
  connectionAliveStatement,
  containStatement,
  createUserStatement,
  databasePrivilegesOfRow,
  disableEventStatement,
  dropUsersStatement,
  dropUserStatement,
  grantSchema,
  grantStatement,
  killConnectionStatement,
  leftBehindStatement,
  listSessionsStatement,
  mysqlReadableStatement,
  privilegeOfColumn,
  privilegesFromDbRows,
  quoteStoredName,
  revokeAllStatements,
  revokeEverythingStatement,
  revokeExceptStatement,
  schemaExistsStatement,
  SESSION_SQL_MODE,
  sessionSettingsStatement,
  type Statement,
} from '../../../../src/adapters/engines/mysql/sql';
import type { SqlDialect } from '../../../../src/adapters/ports';

// The statements the account manager sends, per dialect, without a server.
// MySQL 8.4 (the production target) cannot run on this machine, so for the
// `mysql` dialect this file is the proof of what is sent; the MariaDB side is
// also exercised against a real server in mysql.test.ts.

const DIALECTS: SqlDialect[] = ['mysql', 'mariadb'];

/** The privilege columns of mysql.db on MariaDB 11.3 and later (SHOW CREATE ROUTINE is new there). */
const MARIADB_113_PRIVILEGE_COLUMNS = [
  'Select_priv', 'Insert_priv', 'Update_priv', 'Delete_priv', 'Create_priv', 'Drop_priv', 'Grant_priv', 'References_priv', 'Index_priv',
  'Alter_priv', 'Create_tmp_table_priv', 'Lock_tables_priv', 'Create_view_priv', 'Show_view_priv', 'Create_routine_priv',
  'Alter_routine_priv', 'Execute_priv', 'Event_priv', 'Trigger_priv', 'Delete_history_priv', 'Show_create_routine_priv',
];
const PW = 'S3cret-pass_word!';

function invalidIdentifier(fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => err instanceof ApplicationFailure && err.type === ActivityErrorType.InvalidIdentifier);
}

describe('mysql statement builders', () => {
  it('When a schema name holds _, then it is backtick-quoted with _ escaped so it is not a wildcard', () => {
    assert.equal(grantSchema('dev_project'), '`dev\\_project`');
    assert.equal(grantSchema('plain'), '`plain`');
  });

  for (const dialect of DIALECTS) {
    describe(`dialect ${dialect}`, () => {
      it('When an account is ensured, then CREATE USER IF NOT EXISTS and ALTER USER … ACCOUNT UNLOCK carry account, host and password as placeholders', () => {
        const create = createUserStatement('john_doe_k3x9qa', '%', PW, 10);
        assert.equal(create.sql, 'CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ? WITH MAX_USER_CONNECTIONS 10');
        assert.deepEqual(create.values, ['john_doe_k3x9qa', '%', PW]);
        assert.equal(create.sensitive, true);
        const alter = alterUserStatement('john_doe_k3x9qa', '%', PW, 10);
        assert.equal(alter.sql, 'ALTER USER ?@? IDENTIFIED BY ? WITH MAX_USER_CONNECTIONS 10 ACCOUNT UNLOCK');
        assert.deepEqual(alter.values, ['john_doe_k3x9qa', '%', PW]);
        assert.equal(alter.sensitive, true);
        for (const s of [create, alter]) assert.ok(!s.sql.includes(PW));
      });

      it('When the schema and account are looked up, then only placeholders carry the names', () => {
        assert.equal(schemaExistsStatement('dev_project').sql, 'SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?');
        const exists = accountExistsStatement('acct_1', '10.0.%');
        assert.equal(exists.sql, 'SELECT COUNT(*) AS n FROM mysql.user WHERE User = ? AND Host = LOWER(?)');
        assert.deepEqual(exists.values, ['acct_1', '10.0.%']);
      });

      it('When privileges are granted, then keywords come from the whitelist in its order and ALL PRIVILEGES absorbs the rest', () => {
        assert.equal(
          grantStatement('dev_project', ['DELETE', 'SELECT', 'UPDATE', 'INSERT', 'SELECT'], 'acct_1', '%').sql,
          'GRANT SELECT, INSERT, UPDATE, DELETE ON `dev\\_project`.* TO ?@?',
        );
        assert.equal(grantStatement('dev_project', ['SELECT', 'ALL PRIVILEGES'], 'acct_1', '%').sql, 'GRANT ALL PRIVILEGES ON `dev\\_project`.* TO ?@?');
      });

      it('When everything is revoked, then ALL PRIVILEGES and GRANT OPTION are revoked in two statements (MySQL refuses them in one list)', () => {
        assert.deepEqual(
          revokeAllStatements('dev_project', 'acct_1', '%').map((s) => s.sql),
          ['REVOKE ALL PRIVILEGES ON `dev\\_project`.* FROM ?@?', 'REVOKE GRANT OPTION ON `dev\\_project`.* FROM ?@?'],
        );
      });

      it('When the connection-ending statements are built, then KILL CONNECTION takes only a positive integer id', () => {
        assert.equal(killConnectionStatement(dialect, 42).sql, 'KILL CONNECTION 42');
        assert.equal(killConnectionStatement(dialect, '18446744073709551615').sql, 'KILL CONNECTION 18446744073709551615');
        for (const bad of ['0', '-1', '1; DROP USER x', '1 OR 1', '', 1.5]) invalidIdentifier(() => killConnectionStatement(dialect, bad));
      });

      it('When an account is dropped, then the drop uses IF EXISTS and placeholders, one statement for many accounts', () => {
        assert.equal(dropUserStatement('acct_1', '%').sql, 'DROP USER IF EXISTS ?@?');
        const many = dropUsersStatement([{ account: 'acct_1', host: '%' }, { account: 'acct_2', host: '10.0.%' }]);
        assert.equal(many.sql, 'DROP USER IF EXISTS ?@?, ?@?');
        assert.deepEqual(many.values, ['acct_1', '%', 'acct_2', '10.0.%']);
        invalidIdentifier(() => dropUsersStatement([]));
      });

      it('When accounts are contained, then one ALTER USER locks them all, each with its own password as a placeholder, and it is marked sensitive', () => {
        const one = containStatement([{ account: 'acct_1', host: '%', password: PW }]);
        assert.equal(one.sql, 'ALTER USER ?@? IDENTIFIED BY ? ACCOUNT LOCK');
        assert.deepEqual(one.values, ['acct_1', '%', PW]);
        assert.equal(one.sensitive, true);
        assert.equal(one.requires, 'CREATE USER ON *.*');
        const two = containStatement([
          { account: 'acct_1', host: '%', password: PW },
          { account: 'acct_2', host: '10.0.%', password: `${PW}2` },
        ]);
        assert.equal(two.sql, 'ALTER USER ?@? IDENTIFIED BY ?, ?@? IDENTIFIED BY ? ACCOUNT LOCK');
        assert.deepEqual(two.values, ['acct_1', '%', PW, 'acct_2', '10.0.%', `${PW}2`]);
        for (const s of [one, two]) assert.ok(!s.sql.includes(PW) && !s.purpose.includes(PW));
        invalidIdentifier(() => containStatement([]));
        invalidIdentifier(() => containStatement([{ account: 'acct_1', host: '%', password: "it's-a-pass" }]));
      });

      it('When every privilege is taken, then one REVOKE ALL PRIVILEGES, GRANT OPTION FROM names every account (every level, every schema)', () => {
        assert.equal(revokeEverythingStatement([{ account: 'acct_1', host: '%' }]).sql, 'REVOKE ALL PRIVILEGES, GRANT OPTION FROM ?@?');
        const two = revokeEverythingStatement([{ account: 'acct_1', host: '%' }, { account: 'acct_2', host: 'db.example.com' }]);
        assert.equal(two.sql, 'REVOKE ALL PRIVILEGES, GRANT OPTION FROM ?@?, ?@?');
        assert.deepEqual(two.values, ['acct_1', '%', 'acct_2', 'db.example.com']);
        assert.equal(two.requires, 'CREATE USER ON *.*');
      });

      it('When accounts are looked up for containment, then the names and the anonymous user are read from mysql.user', () => {
        const s = accountsNamedStatement(['acct_1', 'acct_2']);
        assert.equal(s.sql, "SELECT User AS user, Host AS host FROM mysql.user WHERE User IN (?, ?, '')");
        assert.deepEqual(s.values, ['acct_1', 'acct_2']);
      });

      it('When what the accounts left behind is listed, then one statement reads views, routines, triggers and events by DEFINER, capped per account with an exact total, enabled events always included', () => {
        const s = leftBehindStatement([{ account: 'acct_1', host: '%' }, { account: 'acct_2', host: '10.0.%' }], 50);
        for (const table of ['VIEWS', 'ROUTINES', 'TRIGGERS', 'EVENTS']) assert.ok(s.sql.includes(`FROM information_schema.${table} WHERE DEFINER IN (?, ?)`), table);
        // Every branch in one collation: MySQL 8 refuses a UNION of information_schema columns of different collations.
        assert.equal(s.sql.match(/CONVERT\(DEFINER USING utf8mb4\) COLLATE utf8mb4_bin AS definer/g)?.length, 4);
        assert.ok(s.sql.includes("CONVERT('VIEW' USING utf8mb4) COLLATE utf8mb4_bin AS kind"));
        assert.match(s.sql, /COUNT\(\*\) OVER \(PARTITION BY x\.definer\) AS total/);
        assert.match(s.sql, /WHERE n <= \? OR \(kind = 'EVENT' AND note = 'ENABLED'\)/);
        assert.deepEqual(s.values, [...Array(4).fill(['acct_1@%', 'acct_2@10.0.%']).flat(), 50]);
        assert.deepEqual(leftBehindStatement([{ account: 'acct_1', host: 'DB.Example.com' }], 5).values.slice(0, 1), ['acct_1@db.example.com']);
        for (const bad of [0, -1, 1.5, 10_001]) invalidIdentifier(() => leftBehindStatement([{ account: 'acct_1', host: '%' }], bad));
      });

      it("When an event is disabled, then the account stays its definer (ALTER DEFINER = ?@? EVENT ... DISABLE), and its server-read names are quoted with backticks doubled", () => {
        const s = disableEventStatement('acct_1', '%', 'dev_project', 'nightly');
        assert.equal(s.sql, 'ALTER DEFINER = ?@? EVENT `dev_project`.`nightly` DISABLE');
        assert.deepEqual(s.values, ['acct_1', '%']);
        assert.match(s.requires, /SET USER .*SET_ANY_DEFINER/);
        assert.equal(disableEventStatement('acct_1', '%', 'd', 'a`b').sql, 'ALTER DEFINER = ?@? EVENT `d`.`a``b` DISABLE');
        assert.equal(disableEventStatement('acct_1', '%', 'd', "x'; DROP USER root; --").sql, "ALTER DEFINER = ?@? EVENT `d`.`x'; DROP USER root; --` DISABLE");
        for (const bad of ['', 'a\u0000b', 'e'.repeat(65)]) invalidIdentifier(() => disableEventStatement('acct_1', '%', 'd', bad));
        assert.equal(quoteStoredName('é'.repeat(64)), '`' + 'é'.repeat(64) + '`');
      });
    });
  }

  it('When sessions are listed, then MySQL reads performance_schema.processlist (information_schema when P_S is off) and MariaDB information_schema, with user, client host and command, for one or many names', () => {
    const columns = 'SELECT ID AS id, USER AS user, HOST AS host, COMMAND AS command FROM';
    assert.equal(
      listSessionsStatement('mysql', 'acct_1', { performanceSchema: true }).sql,
      `${columns} performance_schema.processlist WHERE USER IN (?) AND ID <> CONNECTION_ID()`,
    );
    assert.equal(
      listSessionsStatement('mysql', ['acct_1', 'acct_2'], { performanceSchema: false }).sql,
      `${columns} information_schema.PROCESSLIST WHERE USER IN (?, ?) AND ID <> CONNECTION_ID()`,
    );
    assert.equal(
      listSessionsStatement('mariadb', 'acct_1', { performanceSchema: true }).sql,
      `${columns} information_schema.PROCESSLIST WHERE USER IN (?) AND ID <> CONNECTION_ID()`,
    );
    invalidIdentifier(() => listSessionsStatement('mariadb', [], { performanceSchema: false }));
  });

  it('When a level changes, then the revoke lists every database-level privilege of the dialect outside the new level, plus GRANT OPTION', () => {
    const base =
      'INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, REFERENCES, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, EVENT, TRIGGER';
    assert.equal(
      revokeExceptStatement('mysql', 'dev_project', ['SELECT'], 'acct_1', '%').sql,
      `REVOKE ${base}, GRANT OPTION ON \`dev\\_project\`.* FROM ?@?`,
    );
    assert.equal(
      revokeExceptStatement('mariadb', 'dev_project', ['SELECT'], 'acct_1', '%').sql,
      `REVOKE ${base}, DELETE HISTORY, GRANT OPTION ON \`dev\\_project\`.* FROM ?@?`,
    );
    for (const dialect of DIALECTS) {
      assert.equal(revokeExceptStatement(dialect, 'dev_project', ['ALL PRIVILEGES'], 'acct_1', '%').sql, 'REVOKE GRANT OPTION ON `dev\\_project`.* FROM ?@?');
      assert.ok(!revokeExceptStatement(dialect, 'dev_project', ['SELECT', 'INSERT', 'UPDATE', 'DELETE'], 'a', '%').sql.match(/\b(SELECT|INSERT|UPDATE|DELETE),/));
    }
  });

  it('When the account holds a privilege the code does not know (MariaDB 11.3 SHOW CREATE ROUTINE), then a downgrade revokes it too, by the name the server gives it', () => {
    const held = ['SELECT', 'INSERT', 'SHOW CREATE ROUTINE', 'GRANT OPTION'];
    const sql = revokeExceptStatement('mariadb', 'dev_project', ['SELECT'], 'acct_1', '%', held).sql;
    assert.match(sql, /^REVOKE INSERT, .*, DELETE HISTORY, SHOW CREATE ROUTINE, GRANT OPTION ON `dev\\_project`\.\* FROM \?@\?$/);
    assert.ok(!/\bSELECT\b/.test(sql));
    // Kept when the new level is everything.
    assert.equal(revokeExceptStatement('mariadb', 'dev_project', ['ALL PRIVILEGES'], 'acct_1', '%', held).sql, 'REVOKE GRANT OPTION ON `dev\\_project`.* FROM ?@?');
    // Anything that is not plain words never reaches SQL.
    for (const bad of ['SELECT; DROP USER x', 'select', 'X`Y', 'A'.repeat(40)]) {
      invalidIdentifier(() => revokeExceptStatement('mariadb', 'dev_project', ['SELECT'], 'acct_1', '%', [bad]));
    }
  });

  it('When mysql.db columns are read, then each *_priv column is named generically (including ones newer than this code) and the server\'s ALL is every one of them', () => {
    assert.equal(privilegeOfColumn('Select_priv'), 'SELECT');
    assert.equal(privilegeOfColumn('Create_tmp_table_priv'), 'CREATE TEMPORARY TABLES');
    assert.equal(privilegeOfColumn('Grant_priv'), 'GRANT OPTION');
    assert.equal(privilegeOfColumn('Lock_tables_priv'), 'LOCK TABLES');
    assert.equal(privilegeOfColumn('Delete_history_priv'), 'DELETE HISTORY');
    assert.equal(privilegeOfColumn('Show_create_routine_priv'), 'SHOW CREATE ROUTINE');
    for (const bad of ['Db', 'User', 'priv', 'x;y_priv', 'Select priv', '_priv']) assert.equal(privilegeOfColumn(bad), undefined, bad);

    // A MariaDB 11.3 row: everything a `GRANT ALL PRIVILEGES ON db.*` sets, SHOW CREATE ROUTINE included.
    const columns = ['Host', 'Db', 'User', ...MARIADB_113_PRIVILEGE_COLUMNS];
    const all = Object.fromEntries(columns.map((c) => [c, c.endsWith('_priv') ? (c === 'Grant_priv' ? 'N' : 'Y') : c === 'Db' ? 'dev\\_project' : 'x']));
    assert.ok(databasePrivilegesOfRow('mariadb', all).includes('SHOW CREATE ROUTINE'));
    assert.deepEqual(privilegesFromDbRows('mariadb', [all]), ['ALL PRIVILEGES']);
    assert.deepEqual(databasePrivilegesOfColumns('mariadb', columns), databasePrivilegesOfRow('mariadb', all));
    // The same row read by the reconciler's inventory: no UNKNOWN privilege.
    assert.ok(parseSchemaGrant(all as never).privileges.includes('SHOW CREATE ROUTINE'));
    // After a downgrade to SELECT on 11.3: only SELECT is left, and that reads as SELECT (not ALL, not unknown).
    const read = { ...all, ...Object.fromEntries(MARIADB_113_PRIVILEGE_COLUMNS.map((c) => [c, c === 'Select_priv' ? 'Y' : 'N'])) };
    assert.deepEqual(privilegesFromDbRows('mariadb', [read]), ['SELECT']);
    // The 10.x set (no SHOW CREATE ROUTINE) still reads as ALL there.
    const older = Object.fromEntries(Object.entries(all).filter(([c]) => c !== 'Show_create_routine_priv'));
    assert.deepEqual(privilegesFromDbRows('mariadb', [older]), ['ALL PRIVILEGES']);
  });

  it('When the admin grants are listed, then they are exactly CREATE USER, PROCESS, the dialect’s CONNECTION ADMIN (and SET USER on MariaDB), SELECT on mysql and ALL on each schema with GRANT OPTION', () => {
    assert.deepEqual(adminGrantStatements('mysql', 'dbaccess_admin', '%', ['dev_project', 'shop']), [
      "GRANT CREATE USER, PROCESS, CONNECTION_ADMIN ON *.* TO 'dbaccess_admin'@'%'",
      "GRANT SELECT ON mysql.* TO 'dbaccess_admin'@'%'",
      "GRANT ALL PRIVILEGES ON `dev\\_project`.* TO 'dbaccess_admin'@'%' WITH GRANT OPTION",
      "GRANT ALL PRIVILEGES ON `shop`.* TO 'dbaccess_admin'@'%' WITH GRANT OPTION",
    ]);
    // MariaDB also SET USER, to disable a grantee's events without making the admin their definer.
    assert.deepEqual(adminGrantStatements('mariadb', 'dbaccess_admin', '10.0.%', ['dev_project']), [
      "GRANT CREATE USER, PROCESS, CONNECTION ADMIN, SET USER ON *.* TO 'dbaccess_admin'@'10.0.%'",
      "GRANT SELECT ON mysql.* TO 'dbaccess_admin'@'10.0.%'",
      "GRANT ALL PRIVILEGES ON `dev\\_project`.* TO 'dbaccess_admin'@'10.0.%' WITH GRANT OPTION",
    ]);
    invalidIdentifier(() => adminGrantStatements('mysql', "x'@'%", '%', []));
    invalidIdentifier(() => adminGrantStatements('mysql', 'admin', '%', ['a`b']));
  });

  it('When any part is hostile, then the builder throws InvalidIdentifier instead of returning SQL', () => {
    const accounts = ["x'", 'x`', 'x;', 'x--', 'x/*', 'x\u0000', 'x y', 'X', 'a'.repeat(33), ''];
    const hosts = ["%'", '%`', '%;', "'%' OR 1", '% --', '%\u0000', 'a b', 'h'.repeat(256), ''];
    const schemas = ['a`b', "a'b", 'a;b', 'a.b', 'a-b', 'a b', 'a%b', 'a\u0000', 's'.repeat(65), ''];
    for (const a of accounts) invalidIdentifier(() => createUserStatement(a, '%', PW, 1));
    for (const h of hosts) invalidIdentifier(() => dropUserStatement('acct_1', h));
    for (const s of schemas) invalidIdentifier(() => grantStatement(s, ['SELECT'], 'acct_1', '%'));
    for (const p of ['select', 'SELECT;', 'FILE', 'SUPER', 'GRANT OPTION', 'ALL', 'SELECT, FILE', 'DELETE HISTORY']) {
      invalidIdentifier(() => grantStatement('dev_project', [p], 'acct_1', '%'));
    }
    for (const n of [-1, 1.5, Number.NaN, 4294967296]) invalidIdentifier(() => createUserStatement('acct_1', '%', PW, n));
    for (const pw of ["pa'ssword1", 'pa"ssword1', 'pa\\ssword1', 'pass word1', 'short', 'pässwörd12', 'pass\nword1']) {
      assert.throws(
        () => createUserStatement('acct_1', '%', pw, 1),
        (err: unknown) => err instanceof ApplicationFailure && err.type === ActivityErrorType.InvalidIdentifier && !err.message.includes(pw),
      );
    }
  });

  it('When a session is configured, then MariaDB gets max_statement_time (seconds) and MySQL max_execution_time (ms), both lock timeouts and a pinned sql_mode, all as placeholders', () => {
    const limits = { lockWaitTimeoutSeconds: 10, statementTimeoutSeconds: 15 };
    const maria = sessionSettingsStatement('mariadb', limits);
    assert.equal(maria.sql, 'SET SESSION sql_mode = ?, lock_wait_timeout = ?, innodb_lock_wait_timeout = ?, max_statement_time = ?');
    assert.deepEqual(maria.values, ['STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION', 10, 10, 15]);
    const my = sessionSettingsStatement('mysql', { lockWaitTimeoutSeconds: 3, statementTimeoutSeconds: 0.5 });
    assert.equal(my.sql, 'SET SESSION sql_mode = ?, lock_wait_timeout = ?, innodb_lock_wait_timeout = ?, max_execution_time = ?');
    assert.deepEqual(my.values, ['STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION', 3, 3, 500]);
  });

  it('When the sql_mode is pinned, then MariaDB has NO_AUTO_CREATE_USER, MySQL (which removed it) does not, and neither has NO_BACKSLASH_ESCAPES or ANSI_QUOTES', () => {
    assert.ok(SESSION_SQL_MODE.mariadb.split(',').includes('NO_AUTO_CREATE_USER'));
    assert.ok(!SESSION_SQL_MODE.mysql.split(',').includes('NO_AUTO_CREATE_USER'));
    for (const dialect of DIALECTS) {
      const modes = SESSION_SQL_MODE[dialect].split(',');
      assert.ok(!modes.includes('NO_BACKSLASH_ESCAPES') && !modes.includes('ANSI_QUOTES') && !modes.includes('ANSI'), dialect);
    }
  });

  it('When session limits are out of range, then the builder throws InvalidIdentifier instead of returning SQL', () => {
    for (const dialect of DIALECTS) {
      for (const lock of [0, -1, 1.5, Number.NaN, 31536001]) invalidIdentifier(() => sessionSettingsStatement(dialect, { lockWaitTimeoutSeconds: lock, statementTimeoutSeconds: 1 }));
      for (const stmt of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 31536001]) {
        invalidIdentifier(() => sessionSettingsStatement(dialect, { lockWaitTimeoutSeconds: 1, statementTimeoutSeconds: stmt }));
      }
    }
    invalidIdentifier(() => sessionSettingsStatement('oracle' as SqlDialect, { lockWaitTimeoutSeconds: 1, statementTimeoutSeconds: 1 }));
  });

  it("When the admin's privileges are checked, then its SHOW GRANTS is read (dynamic privileges included), not USER_PRIVILEGES", () => {
    const read = adminGrantsStatement();
    assert.equal(read.sql, 'SHOW GRANTS FOR CURRENT_USER()');
    assert.deepEqual(read.values, []);
    assert.equal(mysqlReadableStatement().sql, 'SELECT COUNT(*) AS n FROM mysql.user WHERE 1 = 0');
    assert.deepEqual(missingAdminPrivileges('mysql', ['GRANT USAGE ON *.* TO `a`@`%`'], [], { essential: true }), [
      'CREATE USER ON *.*',
      'PROCESS ON *.*',
      'CONNECTION_ADMIN ON *.*',
      'SELECT ON mysql.*',
    ]);
  });

  it('When a drop is refused, then 4006 and other server refusals are permanent, timeouts, locks, read-only and lost connections are not, and the reason holds no SQL', () => {
    const err = (errno: number, code = 'X', sqlMessage = 'refused') => Object.assign(new Error(sqlMessage), { errno, code, sqlMessage });
    assert.equal(isPermanentRefusal(err(4006, 'ER_CANNOT_USER_REFERENCED_AS_DEFINER')), true);
    assert.equal(isPermanentRefusal(err(1227)), true);
    for (const transient of [1205, 1213, 1317, 3024, 1969, 1290, 1836, 1053, 1040]) assert.equal(isPermanentRefusal(err(transient)), false, String(transient));
    assert.equal(isPermanentRefusal(Object.assign(new Error('Connection lost'), { code: 'PROTOCOL_CONNECTION_LOST', fatal: true })), false);
    assert.equal(isPermanentRefusal(Object.assign(new Error('ECONNRESET'), { code: 'ECONNRESET', errno: -104 })), false);
    const definer = dropRefusalText(err(4006, 'ER_CANNOT_USER_REFERENCED_AS_DEFINER', "Operation DROP USER failed for 'a'@'%' as it is referenced as a definer account in a stored routine."), []);
    assert.match(definer, /definer of stored objects \(MySQL error 4006\); it stays locked/);
    const other = dropRefusalText(err(1227, 'ER_SPECIFIC_ACCESS_DENIED_ERROR', `Access denied near 'DROP USER' ${PW}`), [PW]);
    assert.ok(!other.includes(PW), other);
    assert.match(other, /^the server refused to drop the account \(error 1227: /);
  });

  it('When an interrupted statement is checked for, then its id is a validated placeholder in the dialect\'s processlist', () => {
    assert.equal(connectionAliveStatement('mariadb', 42, { performanceSchema: true }).sql, 'SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID = ?');
    assert.equal(connectionAliveStatement('mysql', 42, { performanceSchema: true }).sql, 'SELECT COUNT(*) AS n FROM performance_schema.processlist WHERE ID = ?');
    assert.equal(connectionAliveStatement('mysql', 42, { performanceSchema: false }).sql, 'SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID = ?');
    assert.deepEqual(connectionAliveStatement('mysql', 42, { performanceSchema: false }).values, ['42']);
    for (const bad of ['0', '-1', '1 OR 1', '', 2.5]) invalidIdentifier(() => connectionAliveStatement('mariadb', bad, { performanceSchema: false }));
  });

  it('When the server gives up on a statement (lock wait, statement time), then DatabaseUnavailable; a GRANT to a missing account is not retryable and says why', () => {
    const grant = grantStatement('dev_project', ['SELECT'], 'acct_1', '%');
    for (const [errno, code] of [
      [1205, 'ER_LOCK_WAIT_TIMEOUT'],
      [1969, 'ER_STATEMENT_TIMEOUT'],
      [3024, 'ER_QUERY_TIMEOUT'],
      [1317, 'ER_QUERY_INTERRUPTED'],
    ] as const) {
      const mapped = toActivityError(Object.assign(new Error('timeout'), { errno, code, sqlMessage: 'timeout' }), { secretId: 's', secrets: [], statement: grant });
      assert.equal(mapped.type, ActivityErrorType.DatabaseUnavailable, String(errno));
      assert.match(mapped.message, /gave up waiting while trying to grant SELECT on the schema/);
    }
    const missing = Object.assign(new Error("Can't find any matching row in the user table"), {
      errno: 1133,
      code: 'ER_PASSWORD_NO_MATCH',
      sqlMessage: "Can't find any matching row in the user table",
    });
    const mapped = toActivityError(missing, { secretId: 's', secrets: [], statement: grant });
    assert.equal(mapped.type, ActivityErrorType.AdminPrivilegeMissing);
    assert.match(mapped.message, /the account does not exist/);
  });

  it('When a driver error carries the statement and password, then the mapped error has neither', () => {
    const statement: Statement = createUserStatement('acct_1', '%', PW, 1);
    const driverError = Object.assign(new Error(`You have an error near '${PW.slice(0, 6)}' and ${PW}`), {
      code: 'ER_PARSE_ERROR',
      errno: 1064,
      sql: `CREATE USER IF NOT EXISTS 'acct_1'@'%' IDENTIFIED BY '${PW}'`,
      sqlMessage: `You have an error near '${PW.slice(0, 6)}' and ${PW}`,
    });
    const mapped = toActivityError(driverError, { secretId: 'admin/x', secrets: [PW], statement });
    const text = `${mapped.message} ${JSON.stringify(mapped)} ${mapped.stack ?? ''} ${JSON.stringify(mapped.details)}`;
    assert.ok(!text.includes(PW.slice(0, 6)), text);
    assert.ok(!text.includes('IDENTIFIED BY'), text);
    assert.equal(mapped.cause, undefined);
    assert.deepEqual(mapped.details, [{ code: 'ER_PARSE_ERROR', errno: 1064 }]);
  });

  it('When driver errors are mapped, then connection failures are DatabaseUnavailable and missing admin privileges name what is needed', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED', errno: -111 });
    assert.equal(toActivityError(refused, { secretId: 's', secrets: [] }).type, ActivityErrorType.DatabaseUnavailable);
    const lost = Object.assign(new Error('Connection lost'), { code: 'PROTOCOL_CONNECTION_LOST', fatal: true });
    assert.equal(toActivityError(lost, { secretId: 's', secrets: [] }).type, ActivityErrorType.DatabaseUnavailable);
    const kill = killConnectionStatement('mysql', 7);
    const denied = Object.assign(new Error('Access denied; you need (at least one of) the SUPER or CONNECTION_ADMIN privilege(s)'), {
      code: 'ER_SPECIFIC_ACCESS_DENIED_ERROR',
      errno: 1227,
      sqlMessage: 'Access denied; you need (at least one of) the SUPER or CONNECTION_ADMIN privilege(s)',
    });
    const mapped = toActivityError(denied, { secretId: 's', secrets: [], statement: kill });
    assert.equal(mapped.type, ActivityErrorType.AdminPrivilegeMissing);
    assert.match(mapped.message, /CONNECTION_ADMIN ON \*\.\*/);
  });
});
