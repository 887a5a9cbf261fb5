import { strict as assert } from 'node:assert';
import type { RowDataPacket } from 'mysql2/promise';
import { ApplicationFailure } from '@temporalio/common';

import { footprintStatements, globalPrivilegeName, globalPrivilegesStatement, readFootprint } from '../../../../src/adapters/engines/mysql/footprint';
import type { Statement } from '../../../../src/adapters/engines/mysql/sql';

// What an account holds besides one schema's privileges, read before it is adopted.
// No MySQL 8 server runs here: its statements (roles from mysql.role_edges, dynamic
// privileges from mysql.global_grants) are proven by these builder tests and by
// reading rows shaped as MySQL returns them; MariaDB's are also run for real in
// test/cli/import.test.ts.

const DIALECTS = ['mysql', 'mariadb'] as const;

describe('mysql footprint statements', () => {
  for (const dialect of DIALECTS) {
    it(`When the footprint of an account is read on ${dialect}, then every statement reads the grant tables by user and host as placeholders, and the schema's own rows are excluded`, () => {
      const statements = footprintStatements(dialect, 'john_mysql', '%', 'dev_project');
      for (const [name, st] of Object.entries(statements)) {
        assert.match(st.sql, /^SELECT /, name);
        assert.doesNotMatch(st.sql, /john_mysql|dev_project|'%'/, `${name}: a value in the SQL text`);
        assert.match(st.sql, /(User|USER|TO_USER|FROM_USER) = \? AND (Host|HOST|TO_HOST|FROM_HOST) = LOWER\(\?\)/, name);
        assert.deepEqual(st.values.slice(0, 2), ['john_mysql', '%'], name);
        assert.equal(st.requires, 'SELECT ON mysql.*');
        assert.doesNotMatch(st.sql, /password|authentication_string/i, name);
      }
      // Escaped as this service writes it and as the old scripts wrote it.
      assert.deepEqual(statements.schemas!.values, ['john_mysql', '%', 'dev_project', 'dev\\_project']);
      assert.match(statements.schemas!.sql, /FROM mysql\.db .* Db NOT IN \(\?, \?\)$/);
      for (const table of ['tables_priv', 'columns_priv', 'procs_priv', 'proxies_priv']) assert.ok(Object.values(statements).some((st) => st.sql.includes(`mysql.${table}`)), table);
    });
  }

  it('When roles are read, then MariaDB reads mysql.roles_mapping and MySQL mysql.role_edges (both ways) and its dynamic privileges from mysql.global_grants', () => {
    const maria = footprintStatements('mariadb', 'a', '%', 's');
    assert.match(maria.roles!.sql, /FROM mysql\.roles_mapping WHERE User = \? AND Host = LOWER\(\?\)/);
    assert.equal(maria.roleOf, undefined);
    assert.equal(maria.dynamic, undefined);
    const mysql = footprintStatements('mysql', 'a', '%', 's');
    assert.match(mysql.roles!.sql, /FROM mysql\.role_edges WHERE TO_USER = \? AND TO_HOST = LOWER\(\?\)/);
    assert.match(mysql.roleOf!.sql, /FROM mysql\.role_edges WHERE FROM_USER = \? AND FROM_HOST = LOWER\(\?\)/);
    assert.match(mysql.dynamic!.sql, /FROM mysql\.global_grants WHERE USER = \? AND HOST = LOWER\(\?\)/);
  });

  it('When global privileges are read, then only *_priv columns are named, quoted, so no password hash is selected', () => {
    const st = globalPrivilegesStatement(['Select_priv', 'Super_priv', 'authentication_string', 'Password', 'x`; DROP TABLE t; --_priv'], 'a', '%');
    assert.equal(st.sql, 'SELECT `Select_priv`, `Super_priv` FROM mysql.user WHERE User = ? AND Host = LOWER(?)');
    assert.equal(globalPrivilegesStatement([], 'a', '%').sql, "SELECT 'N' AS none_priv FROM mysql.user WHERE User = ? AND Host = LOWER(?)");
    assert.equal(globalPrivilegeName('Super_priv'), 'SUPER');
    assert.equal(globalPrivilegeName('Grant_priv'), 'GRANT OPTION');
    assert.equal(globalPrivilegeName('Create_tmp_table_priv'), 'CREATE TEMPORARY TABLES');
    assert.equal(globalPrivilegeName('Create_role_priv'), 'CREATE ROLE');
  });

  it('When any part is hostile, then the builder throws InvalidIdentifier instead of returning SQL', () => {
    for (const [account, host, schema] of [
      ["a' OR '1'='1", '%', 's'],
      ['a', "%' OR 1=1 -- ", 's'],
      ['a', '%', 's`; DROP DATABASE x; --'],
    ] as const) {
      assert.throws(() => footprintStatements('mysql', account, host, schema), (err: unknown) => err instanceof ApplicationFailure && err.type === 'InvalidIdentifier');
    }
  });

  it('When MySQL 8 rows are read, then global, dynamic, schema, table, column, routine, role, proxy and role-of holdings are named; USAGE and empty sets are not holdings', async () => {
    const rows = (st: Statement): Record<string, unknown>[] => {
      if (st.sql.includes('information_schema.COLUMNS')) return [{ name: 'Select_priv' }, { name: 'Process_priv' }, { name: 'Grant_priv' }];
      if (st.sql.includes('FROM mysql.user')) return [{ Select_priv: 'N', Process_priv: 'Y', Grant_priv: 'N' }];
      if (st.sql.includes('mysql.global_grants')) return [{ privilege: 'BACKUP_ADMIN' }];
      if (st.sql.includes('mysql.db')) return [{ User: 'a', Host: '%', Db: 'other\\_db', Select_priv: 'Y', Insert_priv: 'N' }];
      if (st.sql.includes('mysql.tables_priv')) return [{ db: 's', name: 't', privileges: 'Select,Insert' }, { db: 's', name: 'u', privileges: '' }];
      if (st.sql.includes('mysql.columns_priv')) return [{ db: 's', tableName: 'u', name: 'c', privileges: 'Update' }];
      if (st.sql.includes('mysql.procs_priv')) return [{ db: 's', name: 'p', type: 'PROCEDURE', privileges: 'Execute' }];
      if (st.sql.includes('WHERE TO_USER')) return [{ role: 'app_role', host: '%' }];
      if (st.sql.includes('WHERE FROM_USER')) return [{ user: 'bob', host: 'localhost' }];
      if (st.sql.includes('mysql.proxies_priv')) return [{ user: 'root', host: 'localhost' }];
      return [];
    };
    const holdings = await readFootprint('mysql', 'a', '%', 's', async (st) => rows(st) as RowDataPacket[]);
    assert.deepEqual(holdings, [
      { kind: 'global', what: 'PROCESS' },
      { kind: 'global', what: 'BACKUP_ADMIN' },
      { kind: 'schema', what: 'other_db: SELECT' },
      { kind: 'table', what: 's.t: SELECT, INSERT' },
      { kind: 'column', what: 's.u.c: UPDATE' },
      { kind: 'routine', what: 'procedure s.p: EXECUTE' },
      { kind: 'role', what: 'app_role@%' },
      { kind: 'proxy', what: 'root@localhost' },
      { kind: 'role-of', what: 'bob@localhost' },
    ]);
    // An account that holds one schema's privileges only has no footprint.
    const clean = await readFootprint('mariadb', 'a', '%', 's', async (st) => (st.sql.includes('information_schema.COLUMNS') ? [{ name: 'Select_priv' }] : st.sql.includes('FROM mysql.user') ? [{ Select_priv: 'N' }] : []) as RowDataPacket[]);
    assert.deepEqual(clean, []);
  });
});
