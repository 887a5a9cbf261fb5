import { strict as assert } from 'node:assert';

import { ApplicationFailure } from '@temporalio/common';

import { ActivityErrorType } from '../../../../src/adapters/errors';
import { parsePgAdminSecret, postgresqlGuide } from '../../../../src/adapters/engines/postgresql';

// The RDS-shaped admin secret and what people are told about PostgreSQL.

const rds = { engine: 'postgres', host: 'db.example.internal', port: 5432, username: 'dbaccess_admin', password: 'p@ss"word\\x', dbname: 'appdb' };

function refused(value: string | undefined, field: string): void {
  assert.throws(
    () => parsePgAdminSecret('prod/pg', value),
    (err: unknown) => err instanceof ApplicationFailure && err.type === ActivityErrorType.AdminSecretInvalid && err.message.includes(field) && !err.message.includes('p@ss'),
  );
}

describe('PostgreSQL admin secret', () => {
  it('reads the RDS shape; the port may be a string, dbname defaults to postgres', () => {
    assert.deepEqual(parsePgAdminSecret('prod/pg', JSON.stringify(rds)), { host: rds.host, port: 5432, username: rds.username, password: rds.password, database: 'appdb' });
    const { dbname: _d, ...noDb } = rds;
    assert.equal(parsePgAdminSecret('s', JSON.stringify({ ...noDb, port: '6543' })).port, 6543);
    assert.equal(parsePgAdminSecret('s', JSON.stringify(noDb)).database, 'postgres');
  });

  it('names the wrong field and never the password', () => {
    refused(undefined, 'no string value');
    refused('{', 'not JSON');
    refused('[]', 'not a JSON object');
    refused(JSON.stringify({ ...rds, engine: 'mysql' }), 'engine');
    refused(JSON.stringify({ ...rds, host: 'a b' }), 'host');
    refused(JSON.stringify({ ...rds, port: 70000 }), 'port');
    refused(JSON.stringify({ ...rds, username: "x'y" }), 'username');
    refused(JSON.stringify({ ...rds, password: '' }), 'password');
    refused(JSON.stringify({ ...rds, dbname: 'a;b' }), 'dbname');
  });
});

describe('PostgreSQL guide', () => {
  it('names the product and gives a psql command', () => {
    assert.equal(postgresqlGuide.engine, 'postgresql');
    assert.equal(postgresqlGuide.displayName(), 'PostgreSQL');
    assert.equal(postgresqlGuide.connectCommand({ host: 'db.example', port: 5432, username: 'dba_x', database: 'appdb' }), "psql 'host=db.example port=5432 user=dba_x dbname=appdb'");
    assert.equal(postgresqlGuide.connectCommand({ host: 'h', port: 1, username: 'u' }), "psql 'host=h port=1 user=u'");
  });

  it('quotes hostile values for libpq and for the shell', () => {
    const cmd = postgresqlGuide.connectCommand({ host: 'h', port: 5432, username: "a b'c", database: 'x\\y;$(rm)' });
    assert.equal(cmd, `psql 'host=h port=5432 user='\\''a b\\'\\''c'\\'' dbname='\\''x\\\\y;$(rm)'\\'''`);
  });
});
