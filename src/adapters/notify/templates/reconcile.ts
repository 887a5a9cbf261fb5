import { RECONCILER_SCHEDULE_ID, type Person, type ReconcileSummary } from '../../../domain';
import { clean, formatUtc, uniqueAddresses } from '../format';
import type { Block, Document } from '../document';
import type { Notification } from '../port';

// The reconciler's one message per run that found something: orphans revoked (or
// reported), grants repaired, look-alike accounts, servers that could not be
// inspected. Names, hosts and privilege keywords only: never a secret.

export interface ReconcileMessageInput {
  summary: ReconcileSummary;
  administrators: Person[];
}

function more(total: number, listed: number): string[] {
  return total > listed ? [`... and ${total - listed} more (the next run continues; the worker log lists them).`] : [];
}

export function reconcileMessage(input: ReconcileMessageInput): Notification {
  const s = input.summary;
  const report = s.mode === 'report';
  const blocks: Block[] = [];
  const counts: string[] = [];

  blocks.push({
    kind: 'p',
    text: report
      ? 'The reconciler compared the accounts on the database servers with the open grants. It runs in report mode: it changed nothing. Review what it found below.'
      : 'The reconciler compared the accounts on the database servers with the open grants and put back what differed. What it found and did:',
  });
  blocks.push({
    kind: 'facts',
    rows: [
      ['Run', clean(s.runId, 120), 'code'],
      ['Started', formatUtc(s.startedAt)],
      ['Mode', report ? 'report (nothing changed)' : 'revoke'],
      ['Servers', s.servers.map((x) => `${clean(x.adminSecretId, 200)}: ${x.accountsSeen} account(s), ${x.openGrants} open grant(s)${x.error ? ' - NOT INSPECTED' : ''}`).join('; ') || 'none'],
    ],
  });

  const failed = s.servers.filter((x) => x.error !== undefined);
  if (failed.length > 0) {
    counts.push(`${failed.length} server(s) not inspected`);
    blocks.push(
      { kind: 'h', text: 'Servers that could not be inspected' },
      { kind: 'list', items: failed.map((x) => `${clean(x.adminSecretId, 200)}: ${clean(x.error, 500)}`) },
      { kind: 'p', text: 'Check that the server is reachable and that its admin secret is valid; the next run tries again.' },
    );
  }

  if (s.orphanCount > 0) {
    counts.push(`${s.orphanCount} orphan(s) ${report ? 'found' : 'revoked'}`);
    blocks.push(
      { kind: 'h', text: report ? 'Accounts without an open grant (not revoked: report mode)' : 'Accounts without an open grant' },
      {
        kind: 'p',
        text: 'Each was created by this service for a grant that is no longer running (a workflow terminated by hand, a restore from backup, a failed manual change). Its ownership was proven by its per-grant secret or by the GRANTED audit event.',
      },
      {
        kind: 'list',
        items: [
          ...s.orphans.map(
            (o) =>
              `${clean(o.account, 64)}@${clean(o.host, 255)} on ${clean(o.project, 64)}/${clean(o.database, 64)} (grant ${clean(o.grantId, 300)}; held ${clean(o.privileges.join(', '), 300) || 'no privilege'}): ${o.outcome}${o.detail ? ` - ${clean(o.detail, 500)}` : ''}`,
          ),
          ...more(s.orphanCount, s.orphans.length),
        ],
      },
    );
    if (report) blocks.push({ kind: 'p', text: `To revoke them, set reconciler.mode to revoke, restart the workers, and trigger the schedule ${RECONCILER_SCHEDULE_ID}.` });
    // An outcome the engine may report: access ended (locked, privileges revoked, sessions ended) but the drop was refused.
    if (s.orphans.some((o) => (o.outcome as string) === 'retained')) {
      blocks.push({
        kind: 'p',
        text: 'retained: access has ended (the account is locked, its password replaced, its privileges revoked, its sessions ended), but the server refused to drop the account because it defines stored objects. Give those objects another definer or drop them (they belong to the project: ask its owner); then the next run in revoke mode, the grant\'s daily retry or `dbaccess retry-drop` drops the account.',
      });
    }
  }

  if (s.driftCount > 0) {
    counts.push(`${s.driftCount} grant(s) changed by hand`);
    blocks.push(
      { kind: 'h', text: 'Grants whose account was changed by hand' },
      {
        kind: 'list',
        items: [
          ...s.drift.map((d) => {
            const found = d.missing ? 'account missing' : `held ${clean(d.actual.join(', '), 300) || 'nothing'} on ${clean(d.schema, 64)}, grant says ${clean(d.expected.join(', '), 300)}`;
            const elsewhere = d.elsewhere.length > 0 ? `; also privileges on other schemas (not changed, check by hand): ${clean(d.elsewhere.join('; '), 500)}` : '';
            return `${clean(d.account, 64)} (grant ${clean(d.grantId, 300)}): ${found}${elsewhere}: ${d.outcome}${d.detail ? ` - ${clean(d.detail, 500)}` : ''}`;
          }),
          ...more(s.driftCount, s.drift.length),
        ],
      },
      {
        kind: 'p',
        text: 'Privileges are set back to exactly the grant level by the grant itself (audited DRIFT_REPAIRED in its history). A grant whose account was dropped is revoked, not re-created: ask the grantee to request access again if it is still needed.',
      },
    );
    if (s.drift.some((d) => d.outcome === 'recurring')) {
      blocks.push({
        kind: 'p',
        text: 'recurring: the same difference as the grant\'s last repair came back with no new cause (no level change since). It was not repaired again, so that a repair that cannot hold does not end the grantee\'s sessions every run. Check by hand what puts it back: a privilege of the server the service does not know, a script or a person granting it.',
      });
    }
  }

  const retainedCount = s.retainedCount ?? 0;
  if (retainedCount > 0) {
    const retained = s.retained ?? [];
    counts.push(`${retainedCount} retained account(s)`);
    blocks.push(
      { kind: 'h', text: 'Accounts whose access has ended but that the server refuses to drop' },
      {
        kind: 'p',
        text: 'Each is locked, with a password nobody knows, no privilege and no session; its grant stays open until the drop succeeds. The server refuses the drop while the account is the definer of stored objects (the grant\'s e-mail and audit event name them). Drop those objects or give them another definer; each run tries the drop again.',
      },
      {
        kind: 'list',
        items: [
          ...retained.map(
            (r) =>
              `${clean(r.account, 64)} on ${clean(r.project, 64)}/${clean(r.database, 64)} (grant ${clean(r.grantId, 300)}; access ended ${formatUtc(r.since)}; ${r.objectCount} stored object(s)): ${r.outcome}${r.detail ? ` - ${clean(r.detail, 500)}` : ''}`,
          ),
          ...more(retainedCount, retained.length),
        ],
      },
    );
  }

  if (s.lookAlikeCount > 0) {
    counts.push(`${s.lookAlikeCount} look-alike account(s)`);
    blocks.push(
      { kind: 'h', text: 'Accounts that look like this service\'s but are not provably its own' },
      {
        kind: 'p',
        text: 'They have the shape of a dbaccess account name and privileges on a managed schema, but no per-grant secret and no GRANTED event. The reconciler never touches them. Find out who created them; drop them by hand if they should not exist.',
      },
      {
        kind: 'list',
        items: [
          ...s.lookAlikes.map((l) => `${clean(l.account, 64)}@${clean(l.host, 255)} on ${clean(l.adminSecretId, 200)}: ${clean(l.privileges.join('; '), 500) || 'no privilege'}`),
          ...more(s.lookAlikeCount, s.lookAlikes.length),
        ],
      },
    );
  }

  const doc: Document = {
    title: `Reconciler: ${counts.join(', ') || 'nothing found'}`,
    tone: s.lookAlikeCount > 0 || failed.length > 0 || report ? 'warning' : 'info',
    blocks,
    footer: [
      `Reconciler run ${clean(s.runId, 120)}`,
      `Sent by dbaccess to its administrators. The run's workflow is in the Temporal UI (WorkflowType = "reconcileAccess"); the schedule is ${RECONCILER_SCHEDULE_ID}.`,
    ],
  };
  return {
    to: uniqueAddresses(input.administrators.map((a) => a.email)),
    subject: `[dbaccess] Reconciler: ${counts.join(', ') || 'nothing found'}`,
    document: doc,
    id: { kind: 'reconcile', key: s.runId },
  };
}
