import { strict as assert } from 'node:assert';

import { postgresqlEngine } from '../../../../src/adapters/engines/postgresql';
import type { EngineAccounts } from '../../../../src/adapters/engines/port';
import { loginAs, seedServiceDatabase, startPgCluster, type PgCluster, type PgServiceDatabase } from '../../../support/pg-cluster';
import { randomName, randomPassword } from './pg';

// VALID UNTIL on a cluster with password authentication (the shared server trusts
// local logins, so it never checks a password or its validity): the server itself
// refuses a grantee after its grant's expiry, with nothing of the service running.

describe('PostgreSQL VALID UNTIL: the server refuses an expired grantee on its own', function () {
  this.timeout(90_000);
  let cluster: PgCluster;
  let db: PgServiceDatabase;
  let accounts: EngineAccounts;
  const target = () => ({ schema: db.schema, adminSecretId: 'admin/pg-valid-until', hostPattern: '%', maxUserConnections: 2, engine: 'postgresql' });
  const account = (tag: string) => `vu_${tag}${randomName(4)}`;
  const open = () => postgresqlEngine.createAccounts({ credentials: { get: async () => postgresqlEngine.parseAdminSecret(db.secret, 'admin/pg-valid-until') } });

  before(async () => {
    cluster = await startPgCluster();
    db = await seedServiceDatabase(cluster, `vu${randomName(4)}`);
    accounts = open();
  });
  after(async () => {
    await accounts?.close();
    await cluster?.stop();
  });

  async function refusal(user: string, password: string): Promise<string | undefined> {
    try {
      await (await loginAs(cluster, user, password, db.database)).end();
      return undefined;
    } catch (err) {
      return (err as { code?: string }).code ?? String(err);
    }
  }

  it('When a role is created VALID UNTIL 2 s ahead, then its password logs in until then and is refused after, with the manager closed', async () => {
    const name = account('a');
    const password = randomPassword();
    await accounts.ensureAccount(target(), name, password, { validUntil: new Date(Date.now() + 2000).toISOString(), grantId: 'grant/p/d/a@example.com' });
    assert.equal(await refusal(name, password), undefined, 'logs in before its expiry');
    assert.equal(await refusal(name, 'not-the-password'), '28P01', 'a wrong password is refused (the cluster checks passwords)');
    // Nothing of the service is left running: only the server stands between the grantee and the data.
    await accounts.close();
    await new Promise((r) => setTimeout(r, 2600));
    assert.equal(await refusal(name, password), '28P01', 'refused once VALID UNTIL has passed');
    accounts = open();
  });

  it('When the expiry is moved before it passes, then the password keeps working past the first instant; moving it on a missing role says false', async () => {
    const name = account('b');
    const password = randomPassword();
    await accounts.ensureAccount(target(), name, password, { validUntil: new Date(Date.now() + 2000).toISOString(), grantId: 'grant/p/d/b@example.com' });
    assert.equal(await accounts.setAccountExpiry(target(), name, new Date(Date.now() + 3600_000).toISOString()), true);
    await new Promise((r) => setTimeout(r, 2600));
    assert.equal(await refusal(name, password), undefined, 'still logs in: the expiry moved');
    assert.equal(await accounts.setAccountExpiry(target(), account('none'), new Date(Date.now() + 3600_000).toISOString()), false);
  });
});
