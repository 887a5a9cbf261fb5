import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import { parseApiKeys } from '../../src/api/plugins/auth';
import { parseFileConfig } from '../../src/config';
import { RUN_PREFIX, randomName } from '../support/mariadb';
import { localTemporal, uniqueTaskQueue } from '../support/temporal';

// When no worker serves the task queue (a deploy gone wrong, every worker
// down), the API must not hang: a new grant is accepted and reported as
// REQUESTED, and reading a grant answers 503 with what to check.

describe('HTTP API without a worker', function () {
  this.timeout(60_000);
  let app: FastifyInstance;
  const key = randomBytes(24).toString('hex');
  const started: string[] = [];

  before(async () => {
    const env = await localTemporal();
    const config = parseFileConfig({
      allowedEmailDomains: ['example.com'],
      administrators: [{ name: 'Admins', email: 'admins@example.com' }],
      projects: { nowork: { ownerName: 'Owner', ownerEmail: 'owner@example.com', databases: { main: { schema: `${RUN_PREFIX}_nowork`, adminSecretId: 'nowhere/admin' } } } },
      apiClients: { t: { role: 'admin' } },
    });
    app = await buildApp({ client: env.client, config, apiKeys: parseApiKeys(`t:${key}`), taskQueue: uniqueTaskQueue('noworker'), grantWaitMs: 1000 });
  });
  after(async () => {
    const env = await localTemporal();
    for (const id of started) await env.client.workflow.getHandle(id).terminate('test cleanup').catch(() => undefined);
    await app?.close();
  });

  it('When a grant is asked for and no worker picks it up, then the answer is 202 REQUESTED and reading it is 503 naming the task queue', async () => {
    const email = `${RUN_PREFIX}.${randomName(5)}@example.com`;
    const t0 = Date.now();
    const res = await app.inject({
      method: 'POST',
      url: '/grants',
      headers: { authorization: `Bearer ${key}` },
      payload: { email, name: 'No Worker', project: 'nowork', database: 'main', accessLevel: 'READ', expiresAt: new Date(Date.now() + 3600_000).toISOString() },
    });
    started.push(`grant/nowork/main/${email}`);
    assert.equal(res.statusCode, 202, res.body);
    assert.equal(res.json().status, 'REQUESTED');
    assert.ok(Date.now() - t0 < 4000, 'answered within about the configured wait');

    const get = await app.inject({ method: 'GET', url: `/grants/${encodeURIComponent(`grant/nowork/main/${email}`)}`, headers: { authorization: `Bearer ${key}` } });
    assert.equal(get.statusCode, 503);
    assert.equal(get.json().error, 'unavailable');
    assert.equal(get.headers['retry-after'], '10', 'the caller is told when to try again');
    assert.match(get.json().message, /is a dbaccess worker running on task queue noworker-/);
  });

  it('When the Temporal server cannot do update-with-start, then the grant is started the plain way and accepted', async () => {
    const env = await localTemporal();
    // A server before 1.26 refuses ExecuteMultiOperation without starting anything.
    const oldServer = new Client({
      connection: env.connection,
      namespace: env.namespace ?? 'default',
      interceptors: {
        workflow: [
          {
            async startUpdateWithStart() {
              throw new Error('ExecuteMultiOperation API is disabled');
            },
          },
        ],
      },
    });
    const config = parseFileConfig({
      allowedEmailDomains: ['example.com'],
      administrators: [{ name: 'Admins', email: 'admins@example.com' }],
      projects: { nowork: { ownerName: 'Owner', ownerEmail: 'owner@example.com', databases: { main: { schema: `${RUN_PREFIX}_nowork`, adminSecretId: 'nowhere/admin' } } } },
      apiClients: { t: { role: 'admin' } },
    });
    const old = await buildApp({ client: oldServer, config, apiKeys: parseApiKeys(`t:${key}`), taskQueue: uniqueTaskQueue('noworker'), grantWaitMs: 1000 });
    try {
      const email = `${RUN_PREFIX}.${randomName(5)}@example.com`;
      const grantId = `grant/nowork/main/${email}`;
      const res = await old.inject({
        method: 'POST',
        url: '/grants',
        headers: { authorization: `Bearer ${key}` },
        payload: { email, name: 'Old Server', project: 'nowork', database: 'main', accessLevel: 'READ', expiresAt: new Date(Date.now() + 3600_000).toISOString() },
      });
      started.push(grantId);
      assert.equal(res.statusCode, 202, res.body);
      assert.equal(res.json().grantId, grantId);
      const described = await env.client.workflow.getHandle(grantId).describe();
      assert.equal(described.status.name, 'RUNNING', 'the workflow was started');
      const again = await old.inject({
        method: 'POST',
        url: '/grants',
        headers: { authorization: `Bearer ${key}` },
        payload: { email, name: 'Old Server', project: 'nowork', database: 'main', accessLevel: 'READ', expiresAt: new Date(Date.now() + 3600_000).toISOString() },
      });
      assert.equal(again.statusCode, 409, 'a second request finds the open grant');
    } finally {
      await old.close();
    }
  });
});
