import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateSecretCommand, DeleteSecretCommand } from '@aws-sdk/client-secrets-manager';
import { DynamoAuditStore } from '../../src/adapters/aws';
import { startTestStack, type TestStack } from '../support/stack';
import { RUN_PREFIX } from '../support/mariadb';
import { until } from '../support/wait';

// The signed event stream on the real stack: every audit event of a grant is
// posted to HTTP receivers on loopback as it happens, in order, signed, retried
// by Temporal. One receiver is down for a while, one answers 500 then 200, one
// refuses for good, one is a Slack-compatible webhook. Nothing is lost, and what
// a receiver sees twice it can tell by the event id.

interface Received {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

class Receiver {
  readonly received: Received[] = [];
  private server?: Server;
  port = 0;

  constructor(private readonly answer: (n: number) => number) {}

  async listen(port = 0): Promise<this> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const status = this.answer(this.received.length);
        this.received.push({ status, headers: req.headers, body });
        res.writeHead(status).end(status < 300 ? 'ok' : 'no');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  /** The event ids answered with 2xx, each once, in the order first delivered. */
  delivered(id: (r: Received) => string): string[] {
    const out: string[] = [];
    for (const r of this.received) if (r.status < 300 && !out.includes(id(r))) out.push(id(r));
    return out;
  }
}

describe('end to end: the signed event stream', function () {
  this.timeout(180_000);
  const key = randomBytes(32);
  const signed = new Receiver(() => 204);
  const flaky = new Receiver((n) => (n < 2 ? 500 : 200));
  const late = new Receiver(() => 200);
  const refusing = new Receiver(() => 400);
  const slack = new Receiver(() => 200);
  const approverChannel = new Receiver(() => 200);
  const keySecret = `dbaccess-test-events/${RUN_PREFIX}/key`;
  const slackSecret = `dbaccess-test-events/${RUN_PREFIX}/slack`;
  let stack: TestStack;

  before(async () => {
    await Promise.all([signed.listen(), flaky.listen(), refusing.listen(), slack.listen(), approverChannel.listen()]);
    // Down at first: a port that was free, not listened on until later.
    await late.listen();
    await late.close();
    const endpoint = (r: Receiver) => ({ url: r.url, secretId: keySecret });
    stack = await startTestStack({
      decisionLinks: true,
      reconciler: { mode: 'revoke' },
      eventStream: {
        deliverFor: '5m',
        endpoints: {
          signed: endpoint(signed),
          flaky: endpoint(flaky),
          late: endpoint(late),
          refusing: { ...endpoint(refusing), events: ['GRANTED'] },
          slack: { format: 'slack', urlSecretId: slackSecret },
          approvers: { format: 'slack', url: approverChannel.url, approver: 'test-approver', events: ['APPROVAL_REQUESTED', 'EXTENSION_REQUESTED'] },
        },
      },
    });
    const secrets = stack.components.aws.secrets;
    await secrets.send(new CreateSecretCommand({ Name: keySecret, SecretString: JSON.stringify({ key: `whsec_${key.toString('base64')}` }) }));
    await secrets.send(new CreateSecretCommand({ Name: slackSecret, SecretString: JSON.stringify({ url: slack.url }) }));
  });

  after(async () => {
    await stack?.stop();
    for (const id of [keySecret, slackSecret]) await stack?.components.aws.secrets.send(new DeleteSecretCommand({ SecretId: id, ForceDeleteWithoutRecovery: true })).catch(() => undefined);
    await Promise.all([signed, flaky, late, refusing, slack, approverChannel].map((r) => r.close()));
  });

  const verify = (r: Received) => {
    const id = String(r.headers['webhook-id']);
    const ts = String(r.headers['webhook-timestamp']);
    const expected = createHmac('sha256', key).update(`${id}.${ts}.${r.body}`).digest('base64');
    return r.headers['webhook-signature'] === `v1,${expected}`;
  };
  const idOf = (r: Received) => String(r.headers['webhook-id']);

  it('When a grant is made, its credentials viewed and it is revoked, then every receiver gets every event of its trail (the CREDENTIALS_VIEWED the API writes too), in order, signed, even the one that was down and the one that failed first; the one that refused gets its event once', async () => {
    const email = stack.newEmail();
    const res = await stack.call('POST', '/grants', { email, name: 'Stream Test', project: stack.project, database: stack.databases.main, accessLevel: 'READ', expiresAt: new Date(Date.now() + 3 * 86_400_000).toISOString() });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const grantId = res.body.grantId as string;
    const password = (await stack.components.readGrantSecret(res.body.secretName))!.password;
    // The grantee opens the one-time link: CREDENTIALS_VIEWED, written by the API, is streamed too.
    const mail = await stack.components.smtp.waitFor((m) => m.to.includes(email) && /granted/i.test(m.subject), 15_000);
    const token = /\/credentials\/([A-Za-z0-9_-]+)/.exec(mail.text)![1]!;
    assert.equal((await stack.call('GET', `/credentials/${token}`, undefined, { key: null, headers: { accept: 'application/json' } })).status, 200);
    // The late receiver comes up while the first events wait for it.
    await new Promise((r) => setTimeout(r, 3000));
    await late.listen(late.port);
    assert.equal((await stack.call('POST', stack.grantPath(grantId, '/revoke'), { reason: 'stream test' })).status, 202);
    // The workflow completes once every event has been delivered.
    await until('the grant workflow to complete', async () => (await stack.call('GET', stack.grantPath(grantId))).body.workflow?.status === 'COMPLETED', 90_000);

    const trail = await new DynamoAuditStore(stack.components.aws.doc, stack.components.auditTable).forGrant(grantId);
    const ids = trail.map((e) => e.eventId);
    assert.ok(['GRANTED', 'CREDENTIALS_VIEWED', 'REVOKED'].every((event) => trail.some((e) => e.event === event)), JSON.stringify(trail.map((e) => e.event)));
    for (const [name, r] of Object.entries({ signed, flaky, late })) {
      assert.deepEqual(r.delivered(idOf), ids, `${name}: every event, in order`);
      assert.ok(r.received.every(verify), `${name}: every request is signed with the key`);
      for (const got of r.received) {
        assert.equal(got.headers['content-type'], 'application/cloudevents+json');
        const event = JSON.parse(got.body) as { specversion: string; id: string; type: string; subject: string; data: { eventId: string; event: string } };
        assert.equal(event.specversion, '1.0');
        assert.equal(event.subject, grantId);
        assert.equal(event.id, idOf(got));
        assert.equal(event.data.eventId, event.id);
        assert.equal(event.type, `io.dbaccess.audit.${event.data.event.toLowerCase()}`);
        assert.ok(!got.body.includes(password), `${name}: no password in an event`);
      }
    }
    assert.ok(flaky.received.filter((r) => r.status === 500).length === 2, 'the flaky receiver failed twice first');
    // Refused for good (400): not retried; it only takes GRANTED.
    assert.equal(refusing.received.length, 1);
    assert.equal(JSON.parse(refusing.received[0]!.body).data.event, 'GRANTED');
    // Slack: a readable line per event, unsigned, no password.
    assert.equal(slack.received.length, ids.length);
    const texts = slack.received.map((r) => (JSON.parse(r.body) as { text: string }).text);
    assert.match(texts.find((t) => t.startsWith('*GRANTED*'))!, new RegExp(`READ on ${stack.project}/main for ${email.replace(/[.]/g, '\\.')}`));
    assert.ok(texts.every((t) => !t.includes(password)));
    assert.equal(slack.received[0]!.headers['webhook-signature'], undefined);
  });

  it('When the reconciler revokes an orphan (its grant workflow was terminated), then its ORPHAN_REVOKED reaches the receivers too, signed, once per receiver', async () => {
    const res = await stack.call('POST', '/grants', { email: stack.newEmail(), name: 'Orphan Stream', project: stack.project, database: stack.databases.main, accessLevel: 'READ', duration: '1d' });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const grantId = res.body.grantId as string;
    await stack.client.workflow.getHandle(grantId).terminate('orphan for the event stream test');
    await stack.client.workflow.execute('reconcileAccess', { taskQueue: stack.taskQueue, workflowId: `reconcile-stream-${RUN_PREFIX}-${Date.now()}`, args: [{ mode: 'revoke' }] });
    const orphanEvent = (r: Received) => r.status < 300 && (JSON.parse(r.body) as { subject?: string; type?: string }).subject === grantId && (JSON.parse(r.body) as { type?: string }).type === 'io.dbaccess.audit.orphan_revoked';
    await until('ORPHAN_REVOKED at the signed receiver', async () => signed.received.some(orphanEvent), 30_000);
    const got = signed.received.filter(orphanEvent);
    assert.equal(got.length, 1);
    assert.ok(verify(got[0]!));
    const trail = await new DynamoAuditStore(stack.components.aws.doc, stack.components.auditTable).forGrant(grantId);
    assert.equal(idOf(got[0]!), trail.find((e) => e.event === 'ORPHAN_REVOKED')!.eventId);
    await until('ORPHAN_REVOKED at the Slack receiver', async () => slack.received.some((r) => (JSON.parse(r.body) as { text: string }).text.startsWith('*ORPHAN_REVOKED*')), 30_000);
  });

  it("When a request waits for approval, then the approver's channel gets it with that approver's one-click links, which approve it; none for a request of the approver's own access", async () => {
    const email = stack.newEmail();
    const asked = await stack.call('POST', '/grants', { email, name: 'Channel Test', project: stack.project, database: stack.databases.gated, accessLevel: 'READ', duration: '1d', reason: 'report' }, { key: stack.keys.requester });
    assert.equal(asked.status, 202, JSON.stringify(asked.body));
    const grantId = asked.body.grantId as string;
    const posted = await until('the request in the approver channel', async () => approverChannel.received.map((r) => (JSON.parse(r.body) as { text: string }).text).find((t) => t.includes(email)), 20_000);
    assert.match(posted, /^\*APPROVAL_REQUESTED\*/);
    const approve = /<(https?:\/\/[^|>]+\/decisions\/[^|>]+)\|Approve>/.exec(posted)?.[1];
    assert.ok(approve && /\|Deny> \(links of test-approver/.test(posted), posted);
    const decided = await fetch(approve!, { method: 'POST', headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
    assert.equal(decided.status, 200, await decided.clone().text());
    assert.equal(((await decided.json()) as { status: string }).status, 'ACTIVE');
    const approved = (await new DynamoAuditStore(stack.components.aws.doc, stack.components.auditTable).forGrant(grantId)).find((e) => e.event === 'APPROVED')!;
    assert.match(approved.detail ?? '', /one-click link [0-9a-f]{16}, sent to approver@example\.com/);

    // The approver's own access: posted, without links.
    const own = await stack.call('POST', '/grants', { email: 'approver@example.com', name: 'Approver Self', project: stack.project, database: stack.databases.gated, accessLevel: 'READ', duration: '1d', reason: 'self' }, { key: stack.keys.requester });
    assert.equal(own.status, 202, JSON.stringify(own.body));
    const self = await until('the own request in the channel', async () => approverChannel.received.map((r) => (JSON.parse(r.body) as { text: string }).text).find((t) => t.includes('for approver@example.com')), 20_000);
    assert.ok(!self.includes('/decisions/'), self);
    await stack.call('POST', stack.grantPath(own.body.grantId, '/deny'), { reason: 'cleanup' });
    await stack.call('POST', stack.grantPath(grantId, '/revoke'), { reason: 'done' });
  });
});
