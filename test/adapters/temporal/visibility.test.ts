import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { AesGcmPayloadCodec } from '../../../src/adapters/temporal/codec';
import { listWorkflows } from '../../../src/adapters/temporal/visibility';
import { SA } from '../../../src/contract/search-attributes';
import { localTemporal } from '../../support/temporal';
import { until } from '../../support/wait';

// Listing grants reads search attributes only: a memo this process cannot decrypt
// (another deployment's key, a retired key) must not fail the listing. No worker
// polls the task queue: the workflows stay RUNNING until the test terminates them.

describe('adapters: temporal visibility', function () {
  this.timeout(60_000);
  const taskQueue = `visibility-${randomBytes(4).toString('hex')}`;
  const ids = [`grant/p/main/ada.${taskQueue}@example.com`, `grant/p/main/bob.${taskQueue}@example.com`];
  let ours: Client;

  before(async () => {
    const env = await localTemporal();
    const client = (key: string) => new Client({ connection: env.connection, namespace: env.namespace ?? 'default', dataConverter: { payloadCodecs: [new AesGcmPayloadCodec([{ id: key, key: randomBytes(32) }])] } });
    ours = client('ours');
    const theirs = client('theirs');
    const start = (c: Client, workflowId: string, email: string) =>
      c.workflow.start('grantAccess', {
        taskQueue,
        workflowId,
        args: [{}],
        memo: { requestedBy: 'ops' },
        typedSearchAttributes: new TypedSearchAttributes([
          { key: SA.grantee, value: email },
          { key: SA.project, value: 'p' },
          { key: SA.status, value: 'ACTIVE' },
          { key: SA.expiresAt, value: new Date('2030-01-02T03:04:05.000Z') },
        ]),
      });
    await start(ours, ids[0]!, 'ada@example.com');
    await start(theirs, ids[1]!, 'bob@example.com');
  });

  after(async () => {
    await Promise.allSettled(ids.map((id) => ours.workflow.getHandle(id).terminate('test done')));
  });

  it('When a listed workflow has a memo encrypted with a key this process does not hold, then the listing still returns it with its search attributes', async () => {
    const query = `TaskQueue = '${taskQueue}'`;
    const listed = await until('both workflows in visibility', async () => {
      const out = [];
      for await (const wf of listWorkflows(ours, query)) out.push(wf);
      return out.length === 2 && out;
    });
    const byId = new Map(listed.map((wf) => [wf.workflowId, wf]));
    assert.deepEqual([...byId.keys()].sort(), [...ids].sort());
    const bob = byId.get(ids[1]!)!;
    assert.equal(bob.status, 'RUNNING');
    assert.equal(bob.searchAttributes.get(SA.grantee), 'bob@example.com');
    assert.equal(bob.searchAttributes.get(SA.project), 'p');
    assert.equal(bob.searchAttributes.get(SA.expiresAt)?.toISOString(), '2030-01-02T03:04:05.000Z');
    assert.ok(bob.startTime instanceof Date && bob.closeTime === undefined);
    // What the listing avoids: the same query through the client's own data converter.
    await assert.rejects(async () => {
      for await (const _ of ours.workflow.list({ query })) void _;
    }, /key id theirs, which is not configured/);
  });
});
