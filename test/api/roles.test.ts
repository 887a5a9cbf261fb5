import assert from 'node:assert/strict';
import { DynamoAuditStore } from '../../src/adapters/aws';
import { grantIdFor } from '../../src/domain';
import { deriveAccountName } from '../../src/domain/naming';
import { accountExists, canLogin } from '../support/mariadb';
import { ROLE_CLIENTS, startTestStack, type StackKeys, type TestStack } from '../support/stack';
import { until } from '../support/wait';

// Roles over HTTP on the real stack: a matrix of every route and every role
// with the expected code, each refusal logged; then the approval gate end to end
// (approve, deny, self-approval, approval after revoke, timeout, durations).

type Role = keyof StackKeys;
const ROLES = Object.keys(ROLE_CLIENTS) as Role[];

describe('HTTP API: roles and approvals', function () {
  this.timeout(180_000);
  let stack: TestStack;
  let audit: DynamoAuditStore;

  before(async () => {
    stack = await startTestStack({ approvalTimeout: '1h' });
    audit = new DynamoAuditStore(stack.components.aws.doc, stack.components.auditTable);
  });
  after(async () => {
    await stack?.stop();
  });

  const in10days = () => new Date(Date.now() + 10 * 86_400_000).toISOString().slice(0, 10);
  const as = (role: Role) => ({ key: stack.keys[role] });
  const body = (database: string, extra: Record<string, unknown> = {}) => ({
    email: stack.newEmail(),
    name: 'Role Test',
    project: stack.project,
    database,
    accessLevel: 'READ',
    expiresAt: in10days(),
    ...extra,
  });

  /** A grant asked for by `role`; ACTIVE, or PENDING_APPROVAL on the gated database. */
  async function grantBy(role: Role, database = 'main', extra: Record<string, unknown> = {}): Promise<string> {
    const res = await stack.call('POST', '/grants', body(database, extra), as(role));
    assert.ok(res.status === 201 || res.status === 202, `${role} could not create a grant: ${res.status} ${JSON.stringify(res.body)}`);
    assert.equal(res.body.status, database === 'gated' ? 'PENDING_APPROVAL' : 'ACTIVE');
    return res.body.grantId as string;
  }

  // -------------------------------------------------------------------- matrix

  describe('every route, every role', () => {
    let active: string;
    let pending: string;

    before(async () => {
      active = await grantBy('requester');
      pending = await grantBy('requester', 'gated');
    });

    type Route = { name: string; call: (role: Role) => Promise<{ status: number; body: any }>; expect: Record<Role, number> };
    const later = () => new Date(Date.now() + 20 * 86_400_000).toISOString();
    const routes: Route[] = [
      {
        name: 'GET /grants',
        call: (r) => stack.call('GET', `/grants?project=${stack.project}`, undefined, as(r)),
        expect: { admin: 200, requester: 200, otherRequester: 200, outsideRequester: 200, approver: 200, outsideApprover: 200, auditor: 200 },
      },
      {
        name: 'GET /grants/:grantId',
        call: (r) => stack.call('GET', stack.grantPath(active), undefined, as(r)),
        expect: { admin: 200, requester: 200, otherRequester: 200, outsideRequester: 200, approver: 200, outsideApprover: 200, auditor: 200 },
      },
      {
        name: 'POST /grants',
        call: (r) => stack.call('POST', '/grants', body('main'), as(r)),
        expect: { admin: 201, requester: 201, otherRequester: 201, outsideRequester: 403, approver: 403, outsideApprover: 403, auditor: 403 },
      },
      {
        name: 'POST /grants/:grantId/extend',
        call: async (r) => stack.call('POST', stack.grantPath(await target(r, 200), '/extend'), { expiresAt: later() }, as(r)),
        expect: { admin: 200, requester: 200, otherRequester: 403, outsideRequester: 403, approver: 403, outsideApprover: 403, auditor: 403 },
      },
      {
        name: 'PATCH /grants/:grantId',
        call: async (r) => stack.call('PATCH', stack.grantPath(await target(r, 200)), { accessLevel: 'READ_WRITE' }, as(r)),
        expect: { admin: 200, requester: 200, otherRequester: 403, outsideRequester: 403, approver: 403, outsideApprover: 403, auditor: 403 },
      },
      {
        name: 'POST /grants/:grantId/revoke',
        call: async (r) => stack.call('POST', stack.grantPath(await target(r, 202), '/revoke'), {}, as(r)),
        expect: { admin: 202, requester: 202, otherRequester: 403, outsideRequester: 403, approver: 403, outsideApprover: 403, auditor: 403 },
      },
      {
        name: 'POST /grants/:grantId/approve',
        call: async (r) => stack.call('POST', stack.grantPath(await pendingTarget(r, 200), '/approve'), {}, as(r)),
        expect: { admin: 200, requester: 403, otherRequester: 403, outsideRequester: 403, approver: 200, outsideApprover: 403, auditor: 403 },
      },
      {
        name: 'POST /grants/:grantId/deny',
        call: async (r) => stack.call('POST', stack.grantPath(await pendingTarget(r, 200), '/deny'), { reason: 'not now' }, as(r)),
        expect: { admin: 200, requester: 403, otherRequester: 403, outsideRequester: 403, approver: 200, outsideApprover: 403, auditor: 403 },
      },
      {
        // Admins only; the shared grant's account is not retained: 409 for the admin.
        name: 'POST /grants/:grantId/retry-drop',
        call: async (r) => stack.call('POST', stack.grantPath(active, '/retry-drop'), {}, as(r)),
        expect: { admin: 409, requester: 403, otherRequester: 403, outsideRequester: 403, approver: 403, outsideApprover: 403, auditor: 403 },
      },
    ];

    // A change that is allowed gets a fresh grant of the requester (so that one
    // cell's change cannot decide another's); a refusal is tried on the shared one.
    let expected = 0;
    const target = async (role: Role, code: number) => (code === expected && expected < 300 ? grantBy('requester') : active);
    const pendingTarget = async (role: Role, code: number) => (code === expected && expected < 300 ? grantBy('requester', 'gated') : pending);

    for (const route of routes) {
      for (const role of ROLES) {
        it(`When ${role} calls ${route.name}, then it answers ${route.expect[role]}`, async () => {
          expected = route.expect[role];
          const res = await route.call(role);
          assert.equal(res.status, expected, JSON.stringify(res.body));
          if (expected === 403) {
            assert.equal(res.body.error, 'forbidden');
            assert.ok(res.body.message.includes(ROLE_CLIENTS[role].name), 'the refusal names the key');
            await until('the refusal in the log', async () =>
              stack.logLines.some((l) => l.includes('request refused: not allowed') && l.includes(`"actor":"${ROLE_CLIENTS[role].name}"`)) || undefined,
            );
          }
        });
      }
    }

    it('When every refusal is done, then the shared grants are unchanged', async () => {
      const a = (await stack.call('GET', stack.grantPath(active))).body;
      assert.equal(a.status, 'ACTIVE');
      assert.equal(a.accessLevel, 'READ');
      assert.deepEqual(a.history.map((h: { event: string }) => h.event), ['REQUESTED', 'GRANTED']);
      const p = (await stack.call('GET', stack.grantPath(pending))).body;
      assert.equal(p.status, 'PENDING_APPROVAL');
    });

    it('When a key without a valid token calls, then it answers 401 and the health check needs no key', async () => {
      assert.equal((await stack.call('GET', '/grants', undefined, { key: null })).status, 401);
      assert.equal((await stack.call('GET', '/healthz', undefined, { key: null })).status, 200);
    });
  });

  // ------------------------------------------------------- actors on record

  it('When a requester asks and an approver approves, then the audit trail and the messages name each key', async () => {
    const grantId = await grantBy('requester', 'gated', { reason: 'deploy' });
    const approved = await stack.call('POST', stack.grantPath(grantId, '/approve'), { reason: 'looks right' }, as('approver'));
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    const events = await until('GRANTED in the audit trail', async () => {
      const list = await audit.forGrant(grantId);
      return list.some((e) => e.event === 'GRANTED') ? list : undefined;
    });
    const actorOf = (event: string) => events.find((e) => e.event === event)?.actor;
    assert.equal(actorOf('REQUESTED'), ROLE_CLIENTS.requester.name);
    assert.equal(actorOf('APPROVAL_REQUESTED'), ROLE_CLIENTS.requester.name);
    assert.equal(actorOf('APPROVED'), ROLE_CLIENTS.approver.name);
    assert.equal(events.find((e) => e.event === 'APPROVED')?.reason, 'looks right');
    // The Temporal update itself carries the key's name.
    const history = await stack.env.client.workflow.getHandle(grantId).fetchHistory();
    const update = history.events!.find((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'approve')!.workflowExecutionUpdateAcceptedEventAttributes!;
    const payload = update.acceptedRequest?.input?.args?.payloads?.[0];
    const [clear] = await stack.codec!.decode([payload!]);
    const decoded = stack.client.options.loadedDataConverter.payloadConverter.fromPayload(clear!);
    assert.equal((decoded as { actor: string }).actor, ROLE_CLIENTS.approver.name);
  });

  // ----------------------------------------------------------- approval gate

  describe('approval gate', () => {
    it('When a grant needs approval, then nothing exists until it is approved; the approvers are e-mailed; approval makes it ACTIVE and usable', async () => {
      const email = stack.newEmail();
      const created = await stack.call('POST', '/grants', { ...body('gated'), email, accessLevel: 'READ_WRITE' }, as('requester'));
      assert.equal(created.status, 202, JSON.stringify(created.body));
      assert.equal(created.body.status, 'PENDING_APPROVAL');
      assert.match(created.body.approval.reasons[0], /every grant on .*\/gated needs approval/);
      const account = deriveAccountName(email, stack.project, 'gated');
      assert.equal(await accountExists(account, '%'), false, 'no account before approval');
      assert.equal(await stack.components.secretExists(created.body.secretName ?? `${stack.components.secretPrefix}/${stack.project}/gated/${account}`), false);

      const asked = await stack.components.smtp.waitFor((m) => m.to.includes(ROLE_CLIENTS.approver.email) && m.text.includes(email));
      assert.match(asked.subject, /approval needed/);
      assert.ok(asked.text.includes('/approve'), 'the e-mail shows how to approve');
      assert.ok(!asked.to.includes(ROLE_CLIENTS.outsideApprover.email), 'approvers of other projects are not asked');

      const approved = await stack.call('POST', stack.grantPath(created.body.grantId, '/approve'), {}, as('approver'));
      assert.equal(approved.status, 200, JSON.stringify(approved.body));
      assert.equal(approved.body.status, 'ACTIVE');
      assert.equal(approved.body.approval.decision, 'APPROVED');
      assert.equal(approved.body.approval.decidedBy, ROLE_CLIENTS.approver.name);
      const secret = (await stack.components.readGrantSecret(approved.body.secretName))!;
      assert.ok(await canLogin(account, secret.password, stack.components.schemas[1]));
    });

    it('When an approver denies, then the request ends DENIED, nothing was created, and the grantee is told the reason', async () => {
      const email = stack.newEmail();
      const created = await stack.call('POST', '/grants', { ...body('gated'), email }, as('requester'));
      const grantId = created.body.grantId as string;
      const noReason = await stack.call('POST', stack.grantPath(grantId, '/deny'), {}, as('approver'));
      assert.equal(noReason.status, 400);
      assert.match(noReason.body.message, /^reason\b/);
      const denied = await stack.call('POST', stack.grantPath(grantId, '/deny'), { reason: 'use the replica' }, as('approver'));
      assert.equal(denied.status, 200, JSON.stringify(denied.body));
      assert.equal(denied.body.status, 'DENIED');
      const mail = await stack.components.smtp.waitFor((m) => m.to.includes(email) && /denied/.test(m.subject));
      assert.ok(mail.text.includes('use the replica'));
      const state = await until('the grant to close', async () => {
        const s = (await stack.call('GET', stack.grantPath(grantId))).body;
        return s.workflow?.status === 'COMPLETED' ? s : undefined;
      });
      assert.equal(state.status, 'DENIED');
      assert.equal(await accountExists(deriveAccountName(email, stack.project, 'gated'), '%'), false);
      const again = await stack.call('POST', stack.grantPath(grantId, '/approve'), {}, as('approver'));
      assert.equal(again.status, 409, 'a closed request cannot be approved');
    });

    it('When the requester approves its own request, or an approver approves access for itself, then it is refused with 403 and the request still waits', async () => {
      const byAdmin = await grantBy('admin', 'gated');
      const own = await stack.call('POST', stack.grantPath(byAdmin, '/approve'), {}, as('admin'));
      assert.equal(own.status, 403, JSON.stringify(own.body));
      assert.equal(own.body.error, 'self_approval');

      const forApprover = await stack.call('POST', '/grants', { ...body('gated'), email: ROLE_CLIENTS.approver.email }, as('requester'));
      assert.equal(forApprover.status, 202, JSON.stringify(forApprover.body));
      const self = await stack.call('POST', stack.grantPath(forApprover.body.grantId, '/approve'), {}, as('approver'));
      assert.equal(self.status, 403);
      assert.equal(self.body.error, 'self_approval');
      for (const id of [byAdmin, forApprover.body.grantId]) {
        assert.equal((await stack.call('GET', stack.grantPath(id))).body.status, 'PENDING_APPROVAL');
        // Clean up: withdraw.
        assert.equal((await stack.call('POST', stack.grantPath(id, '/revoke'), { reason: 'test done' })).status, 202);
      }
    });

    it('When a request is revoked while it waits, then it ends REVOKED, and an approval afterwards is refused', async () => {
      const grantId = await grantBy('requester', 'gated');
      const revoked = await stack.call('POST', stack.grantPath(grantId, '/revoke'), { reason: 'not needed' }, as('requester'));
      assert.equal(revoked.status, 202);
      const late = await stack.call('POST', stack.grantPath(grantId, '/approve'), {}, as('approver'));
      assert.equal(late.status, 409, JSON.stringify(late.body));
      const state = await until('the request to close', async () => {
        const s = (await stack.call('GET', stack.grantPath(grantId))).body;
        return s.workflow?.status === 'COMPLETED' ? s : undefined;
      });
      assert.equal(state.status, 'REVOKED');
      assert.ok(!state.history.some((h: { event: string }) => h.event === 'GRANTED'));
    });

    it('When a requester changes its grant to a level that needs approval elsewhere, then it is refused; an admin may', async () => {
      const active = await grantBy('requester', 'main');
      // On main no level is gated: allowed. The gated database gates every level: a
      // PATCH there can only reach an ACTIVE (approved) grant.
      const gated = await grantBy('requester', 'gated');
      assert.equal((await stack.call('POST', stack.grantPath(gated, '/approve'), {}, as('approver'))).status, 200);
      const refused = await stack.call('PATCH', stack.grantPath(gated), { accessLevel: 'READ_WRITE' }, as('requester'));
      assert.equal(refused.status, 403, JSON.stringify(refused.body));
      assert.match(refused.body.message, /^accessLevel: .*needs approval/);
      const byAdmin = await stack.call('PATCH', stack.grantPath(gated), { accessLevel: 'READ_WRITE' }, as('admin'));
      assert.equal(byAdmin.status, 200, JSON.stringify(byAdmin.body));
      assert.equal((await stack.call('PATCH', stack.grantPath(active), { accessLevel: 'READ_WRITE' }, as('requester'))).status, 200);
    });

    describe('extensions beyond what was approved', () => {
      const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();
      /** A gated grant of the requester for one hour, approved by the approver. */
      async function approvedHour(): Promise<{ grantId: string; expiresAt: string }> {
        const grantId = await grantBy('requester', 'gated', { expiresAt: undefined, duration: '1h' });
        const approved = await stack.call('POST', stack.grantPath(grantId, '/approve'), {}, as('approver'));
        assert.equal(approved.status, 200, JSON.stringify(approved.body));
        assert.equal(approved.body.approvedUntil, approved.body.expiresAt);
        return { grantId, expiresAt: approved.body.expiresAt };
      }

      it('When the requester extends an approved grant beyond the approval, then it answers 202 and the expiry stays until an approver approves', async () => {
        const { grantId, expiresAt } = await approvedHour();
        const to = inDays(5);
        const asked = await stack.call('POST', stack.grantPath(grantId, '/extend'), { expiresAt: to, reason: 'quarter close' }, as('requester'));
        assert.equal(asked.status, 202, JSON.stringify(asked.body));
        assert.equal(asked.body.expiresAt, expiresAt, 'the grant keeps its expiry');
        assert.equal(asked.body.pending.requestedExpiresAt, to);
        const waiting = (await stack.call('GET', stack.grantPath(grantId))).body;
        assert.equal(waiting.expiresAt, expiresAt);
        assert.equal(waiting.pendingExtension.to, to);
        assert.equal(waiting.pendingExtension.requestedBy, ROLE_CLIENTS.requester.name);

        const again = await stack.call('POST', stack.grantPath(grantId, '/extend'), { expiresAt: inDays(6) }, as('requester'));
        assert.equal(again.status, 409, JSON.stringify(again.body));
        assert.equal(again.body.error, 'extension_pending');
        assert.equal((await stack.call('POST', stack.grantPath(grantId, '/approve'), {}, as('requester'))).status, 403);

        const approved = await stack.call('POST', stack.grantPath(grantId, '/approve'), { reason: 'ok for the close' }, as('approver'));
        assert.equal(approved.status, 200, JSON.stringify(approved.body));
        assert.equal(approved.body.expiresAt, to);
        assert.equal(approved.body.pendingExtension, undefined);
        const events = await until('EXTENDED in the audit trail', async () => {
          const list = await audit.forGrant(grantId);
          return list.some((e) => e.event === 'EXTENDED') ? list : undefined;
        });
        assert.equal(events.find((e) => e.event === 'EXTENSION_REQUESTED')?.actor, ROLE_CLIENTS.requester.name);
        assert.equal(events.find((e) => e.event === 'EXTENDED')?.actor, ROLE_CLIENTS.approver.name);
        assert.equal(events.find((e) => e.event === 'EXTENDED')?.expiresAt, to);
      });

      it('When an approver denies the extension, then the grant keeps its expiry; an admin extends it at once', async () => {
        const { grantId, expiresAt } = await approvedHour();
        assert.equal((await stack.call('POST', stack.grantPath(grantId, '/extend'), { expiresAt: inDays(3) }, as('requester'))).status, 202);
        const denied = await stack.call('POST', stack.grantPath(grantId, '/deny'), { reason: 'one hour is enough' }, as('approver'));
        assert.equal(denied.status, 200, JSON.stringify(denied.body));
        assert.equal(denied.body.status, 'ACTIVE');
        const after = (await stack.call('GET', stack.grantPath(grantId))).body;
        assert.equal(after.expiresAt, expiresAt);
        assert.equal(after.pendingExtension, undefined);
        assert.ok(after.history.some((h: { event: string }) => h.event === 'EXTENSION_DENIED'));

        const to = inDays(2);
        const byAdmin = await stack.call('POST', stack.grantPath(grantId, '/extend'), { expiresAt: to }, as('admin'));
        assert.equal(byAdmin.status, 200, JSON.stringify(byAdmin.body));
        assert.equal(byAdmin.body.expiresAt, to);
        assert.equal(byAdmin.body.pending, undefined);
      });
    });

    it('When a request asks for a duration, then the expiry is counted from the grant, and a duration beyond the maximum is refused', async () => {
      const grantId = await grantBy('requester', 'gated', { expiresAt: undefined, duration: '8h' });
      await new Promise((r) => setTimeout(r, 1500));
      const approved = await stack.call('POST', stack.grantPath(grantId, '/approve'), {}, as('approver'));
      assert.equal(approved.status, 200);
      const granted = approved.body.history.find((h: { event: string }) => h.event === 'GRANTED');
      const span = Date.parse(approved.body.expiresAt) - Date.parse(granted.at);
      assert.ok(span <= 8 * 3600_000 && span > 8 * 3600_000 - 5000, `expires ${span} ms after the grant`);
      assert.equal(approved.body.durationMs, 8 * 3600_000);

      for (const [extra, field] of [
        [{ expiresAt: undefined, duration: '400d' }, /^duration: must be at most/],
        [{ expiresAt: undefined, duration: '8 hours' }, /^duration: must be a duration/],
        [{ duration: '8h' }, /^duration: give either/],
        [{ expiresAt: undefined }, /^expiresAt: is required/],
      ] as const) {
        const res = await stack.call('POST', '/grants', body('main', extra), as('requester'));
        assert.equal(res.status, 400, JSON.stringify(res.body));
        assert.match(res.body.message, field);
      }
    });
  });

  describe('approval timeout', () => {
    let quick: TestStack;
    before(async () => {
      quick = await startTestStack({ approvalTimeout: '10s' });
    });
    after(async () => {
      await quick?.stop();
    });

    it('When nobody decides within the configured time, then the request is DENIED by the service and the grantee is told', async () => {
      const email = quick.newEmail();
      const created = await quick.call('POST', '/grants', { ...body('gated'), project: quick.project, email }, { key: quick.keys.requester });
      assert.equal(created.status, 202, JSON.stringify(created.body));
      const grantId = created.body.grantId as string;
      assert.equal(grantId, grantIdFor(quick.project, 'gated', email));
      const state = await until(
        'the request to time out',
        async () => {
          const s = (await quick.call('GET', quick.grantPath(grantId))).body;
          return s.status === 'DENIED' ? s : undefined;
        },
        30_000,
      );
      assert.equal(state.approval.decidedBy, 'dbaccess');
      assert.match(state.approval.reason, /no decision by/);
      await quick.components.smtp.waitFor((m) => m.to.includes(email) && /denied/.test(m.subject));
      assert.equal(await accountExists(deriveAccountName(email, quick.project, 'gated'), '%'), false);
    });
  });
});
