import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import type { AuditRecord, GrantActivities, PrivilegeChange, ReconcileActivities, RevocationResult } from '../../src/contract/activities';
import { grantIdFor, grantSecretName, type GrantRequest, type PrivilegeRepair } from '../../src/domain';
import { deriveAccountName } from '../../src/domain/naming';

// Recorded activities for workflow tests: every call is logged in order, and any
// step can be made to fail for a number of attempts (or for ever).

/** The activities the grant workflow calls: its own, and the reconciler's repairPrivileges (drift repair). */
export type WorkflowActivities = GrantActivities & Pick<ReconcileActivities, 'repairPrivileges'>;

export type StepName = keyof WorkflowActivities;

export interface Call {
  name: StepName;
  /** The audit event or e-mail kind, when there is one. */
  kind?: string;
  attempt: number;
  input: unknown;
}

type Failure = { remaining: number; skip: number; type: string; kind?: string };

export class RecordedActivities {
  readonly calls: Call[] = [];
  private readonly failures = new Map<string, Failure>();

  /**
   * Makes `step` (optionally only for one audit event / mail kind) fail `times`
   * times (Infinity: always), after letting the first `skip` calls succeed.
   */
  fail(step: StepName, opts: { times?: number; type?: string; kind?: string; skip?: number } = {}): this {
    this.failures.set(`${step}:${opts.kind ?? '*'}`, {
      remaining: opts.times ?? Infinity,
      skip: opts.skip ?? 0,
      type: opts.type ?? 'InjectedFailure',
      ...(opts.kind ? { kind: opts.kind } : {}),
    });
    return this;
  }

  /** How many changePrivileges calls ran at the same time, at most. */
  maxConcurrentChanges = 0;
  private changesInFlight = 0;

  /** What successive revokeAccess calls report (the last one repeats); a plain drop when empty. */
  private revocations: RevocationResult[] = [];
  /** What successive repairPrivileges calls report (the last one repeats); `clean` when empty. */
  private repairs: ((change: PrivilegeChange) => PrivilegeRepair)[] = [];
  /** While set, changePrivileges waits for it (or for its cancellation). */
  private changeGate?: Promise<void>;

  /** Makes revokeAccess report these, in turn (e.g. a refused drop, then a successful one). */
  revokeReports(...results: RevocationResult[]): this {
    this.revocations = results;
    return this;
  }

  /** Makes repairPrivileges answer these, in turn. */
  repairReports(...answers: ((change: PrivilegeChange) => PrivilegeRepair)[]): this {
    this.repairs = answers;
    return this;
  }

  /** Holds every changePrivileges call until the returned function is called. */
  holdChanges(): () => void {
    let release!: () => void;
    this.changeGate = new Promise<void>((r) => (release = r));
    return () => {
      this.changeGate = undefined;
      release();
    };
  }

  /** Calls that completed without an injected failure. */
  succeeded(): Call[] {
    return this.calls.filter((c) => !(c as Call & { failed?: boolean }).failed);
  }

  /**
   * `name` or `name:kind` of each successful call, in order. The target is checked
   * while REQUESTED is audited (either may finish first): that pair is listed in
   * the order of the workflow's code, audit first.
   */
  trace(): string[] {
    const names = this.succeeded().map((c) => (c.kind ? `${c.name}:${c.kind}` : c.name));
    if (names[0] === 'checkTarget' && names[1] === 'recordAudit:REQUESTED') names.splice(0, 2, 'recordAudit:REQUESTED', 'checkTarget');
    return names;
  }

  audits(): AuditRecord[] {
    return this.succeeded()
      .filter((c) => c.name === 'recordAudit')
      .map((c) => c.input as AuditRecord);
  }

  private enter(name: StepName, input: unknown, kind?: string): void {
    const attempt = Context.current().info.attempt;
    const call: Call & { failed?: boolean } = { name, attempt, input, ...(kind ? { kind } : {}) };
    this.calls.push(call);
    for (const key of new Set([`${name}:${kind ?? '*'}`, `${name}:*`])) {
      const f = this.failures.get(key);
      if (f && f.skip > 0 && (!f.kind || f.kind === kind)) {
        f.skip -= 1;
        continue;
      }
      if (f && f.remaining > 0 && (!f.kind || f.kind === kind)) {
        f.remaining -= 1;
        call.failed = true;
        throw ApplicationFailure.create({ type: f.type, message: `injected failure in ${name}${kind ? ` (${kind})` : ''}` });
      }
    }
  }

  activities(): WorkflowActivities {
    return {
      recordAudit: async (record) => {
        this.enter('recordAudit', record, record.event);
        return { written: true };
      },
      deliverEvent: async ({ record }) => {
        this.enter('deliverEvent', record, record.event);
        return { delivered: ['recorded'], refused: [] };
      },
      checkTarget: async (ref) => {
        this.enter('checkTarget', ref);
        return { host: '127.0.0.1', port: 3306, engine: 'mariadb' as const };
      },
      createAccount: async (ref) => {
        this.enter('createAccount', ref);
        return { secretName: ref.secretName, connection: { host: '127.0.0.1', port: 3306, engine: 'mariadb' as const } };
      },
      setAccountExpiry: async (ref) => {
        this.enter('setAccountExpiry', ref);
        return { moved: false };
      },
      verifyAdoption: async (change) => {
        this.enter('verifyAdoption', change);
        return { connection: { host: '127.0.0.1', port: 3306, engine: 'mariadb' as const } };
      },
      grantPrivileges: async (change) => {
        this.enter('grantPrivileges', change);
      },
      changePrivileges: async (change) => {
        this.enter('changePrivileges', change);
        // Long enough for a second change to overlap, were changes not serialised.
        this.changesInFlight += 1;
        this.maxConcurrentChanges = Math.max(this.maxConcurrentChanges, this.changesInFlight);
        await new Promise((r) => setTimeout(r, 150));
        if (this.changeGate) {
          const context = Context.current();
          const beat = setInterval(() => context.heartbeat(), 1000);
          await Promise.race([this.changeGate, context.cancelled]).finally(() => clearInterval(beat));
        }
        this.changesInFlight -= 1;
        return { sessionsKilled: 1 };
      },
      revokePrivileges: async (ref) => {
        this.enter('revokePrivileges', ref);
      },
      revokeAccess: async (ref) => {
        this.enter('revokeAccess', ref);
        const reported = this.revocations.length > 1 ? this.revocations.shift()! : this.revocations[0];
        return reported ?? { accountExisted: true, sessionsKilled: 0, secretDeleted: true };
      },
      endSessions: async (ref) => {
        this.enter('endSessions', ref);
        return { sessionsKilled: 1 };
      },
      repairPrivileges: async (change) => {
        this.enter('repairPrivileges', change);
        const answer = this.repairs.length > 1 ? this.repairs.shift()! : this.repairs[0];
        return answer ? answer(change) : { status: 'clean', before: change.privileges, removed: [], restored: [], sessionsKilled: 0 };
      },
      notifyGrant: async (req) => {
        this.enter('notifyGrant', req, req.kind);
      },
      notifyAdmins: async (req) => {
        this.enter('notifyAdmins', req, req.kind);
      },
      notifyApproval: async (req) => {
        this.enter('notifyApproval', req, req.kind);
      },
      notifyGrantee: async (req) => {
        this.enter('notifyGrantee', req, req.kind);
      },
    };
  }
}

export const DAY = 24 * 3600_000;

export function grantRequest(overrides: Partial<GrantRequest> & { now: Date; ttlMs: number }): GrantRequest {
  const email = overrides.email ?? 'john.doe@example.com';
  const project = overrides.project ?? 'project';
  const database = overrides.database ?? 'dev_project';
  const account = deriveAccountName(email, project, database);
  const { now, ttlMs, ...rest } = overrides;
  return {
    grantId: grantIdFor(project, database, email),
    email,
    name: 'John Doe',
    project,
    database,
    accessLevel: 'READ_WRITE',
    privileges: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    expiresAt: new Date(now.getTime() + ttlMs).toISOString(),
    requestedBy: 'test',
    account,
    secretName: grantSecretName('dbaccess', project, database, account),
    target: { schema: database, adminSecretId: 'admin/secret', hostPattern: '%', maxUserConnections: 5 },
    owner: { name: 'Project Owner', email: 'owner@example.com' },
    maxDurationMs: 90 * DAY,
    ...rest,
  };
}
