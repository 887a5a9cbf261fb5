import { Context, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ActivityErrorType, accountLabel, isDowngrade, type GrantTarget, type Person } from '../domain';
import { activityError } from '../adapters/errors';
import { prepareCredentials, type CredentialDelivery } from './credential-delivery';
import { DropsFirst } from './drops-first';
import { GRANT_RUN_TAG } from '../adapters/credential-links';
import { decisionMessages, type DecisionLinkDeps } from './decision-messages';
import { deliverEvent } from './event-delivery';
import type { EventSink } from '../adapters/events/sink';
import { adminMessage, approvalMessage, grantMessage, grantOwnerMessage, noticeMessage } from '../adapters/notify';
import type { EngineGuide } from '../contract/engine-guide';
import { generatePassword } from '../adapters/password';
import type { AccountCallOptions, AccountManager, AuditRecord, AuditStore, GrantCredential, GrantSecretStore, Notifier, ServerEndpoint } from '../adapters/ports';
import type { AccountRef, AdminAlert, ApprovalNotice, EventDecision, GrantActivities, GrantNotice, GranteeNotice, PrivilegeChange, RevocationResult, RevokeRef } from '../contract/activities';

export * from '../adapters/ports';
export type { AccountRef, GrantActivities, PrivilegeChange, RevocationResult, RevokeRef } from '../contract/activities';
export type { CredentialDelivery } from './credential-delivery';
export { GRANT_RUN_TAG } from '../adapters/credential-links';
export { DropsFirst } from './drops-first';
export { decisionMessages, type DecisionLinkDeps } from './decision-messages';

// Every side effect of a grant, as Temporal activities. Each one is idempotent:
// it can run again after a partial success (a worker crash, a lost result) and
// reaches the same end state. None of them decides policy (retries, order,
// compensation): that is the workflow's. None of them accepts or returns a
// secret: the password is generated, stored and forgotten inside createAccount.

export interface ActivityDeps {
  /** What messages say about the engine of a grant's server (by its `connection.engine`; MySQL's when not known yet). */
  guideFor: (engine: string | undefined) => EngineGuide;
  accounts: AccountManager;
  /**
   * The target engine's rule (DatabaseEngine.privileges.endsSessions): whether, once a
   * level change is in place, the account's open sessions must be ended. Without it,
   * any change that takes a privilege away ends them (never wrong, only sometimes needless).
   */
  endsSessions?: (target: GrantTarget, previous: readonly string[], next: readonly string[]) => boolean;
  secrets: GrantSecretStore;
  audit: AuditStore;
  notifier: Notifier;
  /** Told when a grant fails or a revocation keeps failing. */
  administrators: Person[];
  /** Region named in the e-mail's "where is my password" command. */
  awsRegion: string;
  generatePassword?: () => string;
  /** Public base URL of the API, for the commands in approval e-mails. */
  apiUrl?: string;
  /** How the GRANTED e-mail delivers the credentials (a one-time link, or the password); without it, it only names the secret. */
  credentials?: CredentialDelivery;
  /** The event stream: where audit events are delivered as they happen; without it, deliverEvent delivers nothing. */
  events?: EventSink;
  /** One-click decision links in approval e-mails (DECISION_LINK_KEY and PUBLIC_URL); without it, the e-mails carry commands only. */
  decisionLinks?: DecisionLinkDeps;
}

/** A grant e-mail to send; the region of the secret is the worker's. */
export type GrantMailRequest = GrantNotice;
/** An e-mail to the administrators; their addresses come from the configuration. */
export type AdminMailRequest = AdminAlert;
/** A reminder or adoption notice; the API's URL is the worker's. */
export type NoticeMailRequest = GranteeNotice;
/** An approval-gate e-mail; the API's URL is the worker's. */
export type ApprovalMailRequest = ApprovalNotice;

/**
 * The per-grant secret's value, in the shape RDS and Secrets Manager rotation use
 * (`engine, host, port, username, password, dbname`), so tools that read those read it.
 */
function grantCredential(connection: ServerEndpoint, username: string, password: string, schema: string): GrantCredential {
  const dbname = connection.database ?? schema;
  return { engine: connection.engine, host: connection.host, port: connection.port, username, password, dbname, database: dbname, ...(connection.database ? { schema } : {}) };
}

/** Tag on a per-grant secret naming the grant that owns the secret and its account. */
export const GRANT_ID_TAG = 'dbaccess:grant-id';

/**
 * Runs an activity while heartbeating, so that a worker that dies mid-step is
 * noticed within the heartbeat timeout rather than the whole start-to-close
 * timeout, and so that cancellation reaches the attempt. The SDK throttles
 * heartbeats but sends none unless asked: the timer asks during a long await.
 */
async function heartbeating<T>(work: (call: AccountCallOptions) => Promise<T>, options: { cancellable?: boolean } = {}): Promise<T> {
  const context = Context.current();
  const timer = setInterval(() => context.heartbeat(), 5000);
  try {
    return await work(options.cancellable === false ? {} : { signal: context.cancellationSignal });
  } finally {
    clearInterval(timer);
  }
}

/**
 * Waits until `instant`, heartbeating so that a cancellation reaches the attempt
 * (the SDK sends the heartbeats it is given at its own pace, see worker.ts). Throws
 * the SDK's CancelledFailure when cancelled before the instant.
 */
async function waitUntil(instant: number): Promise<void> {
  const context = Context.current();
  try {
    for (;;) {
      const left = instant - Date.now();
      if (left <= 0) return;
      context.heartbeat();
      await context.sleep(Math.min(left, 1000));
    }
  } catch (err) {
    // Stood down by the workflow: reported as cancelled. Interrupted for another
    // reason (this worker is stopping, a heartbeat timed out): a failed attempt,
    // which Temporal retries on a worker that is still there.
    if (context.cancellationDetails?.cancelRequested) throw err;
    throw ApplicationFailure.retryable(`the armed revocation was interrupted before the expiry (${(err as Error).message}); retrying`, 'ArmedRevocationInterrupted');
  }
}

export function createActivities(deps: ActivityDeps) {
  const newPassword = deps.generatePassword ?? generatePassword;
  const endsSessions = deps.endsSessions ?? ((_target: GrantTarget, previous: readonly string[], next: readonly string[]) => isDowngrade(previous, next));
  // One per worker: the activities of both its task queues share it.
  const dropsFirst = new DropsFirst();

  return {
    /** Checks the target (admin secret, server, privileges, schema) before anything is created. */
    async checkTarget(ref: AccountRef): Promise<ServerEndpoint> {
      return heartbeating((call) => deps.accounts.checkTarget(ref.target, call));
    },

    /** Appends one audit event; a repeat of the same event id is a no-op. */
    async recordAudit(record: AuditRecord): Promise<{ written: boolean }> {
      return deps.audit.append(record);
    },

    /**
     * Creates the account (or resets it on a retry) with a fresh password and
     * stores that password in the per-grant secret. Returns only the secret's
     * name and where to connect: the password never leaves this function.
     */
    async createAccount(ref: AccountRef & { validUntil?: string }): Promise<{ secretName: string; connection: ServerEndpoint }> {
      return heartbeating(async (call) => {
        // The account name must be free, or this grant's: never take over an account
        // (or a secret) that another grant, or a person, created.
        const owner = (await deps.secrets.describe(ref.secretName))?.tags[GRANT_ID_TAG];
        if (owner !== undefined && owner !== ref.grantId) {
          throw activityError(ActivityErrorType.AccountConflict, `secret ${ref.secretName} belongs to another grant (${owner})`);
        }
        if (owner === undefined && (await deps.accounts.accountExists(ref.target, ref.account, call))) {
          throw activityError(
            ActivityErrorType.AccountConflict,
            `an account ${accountLabel(ref.target, ref.account)} already exists on the server of ${ref.database} and was not created by this grant; it is left untouched`,
          );
        }
        const connection = await deps.accounts.checkTarget(ref.target, call);
        const password = newPassword();
        // The secret first, tagged with its grant: once it exists, a retry knows the
        // account is this grant's, and the account never has a password that is not stored.
        // The run tag binds it to this lifecycle: a credential link of an earlier grant of
        // the same id (same secret name) no longer opens it.
        const run = Context.current().info.workflowExecution?.runId;
        await deps.secrets.put(
          ref.secretName,
          grantCredential(connection, ref.account, password, ref.target.schema),
          { [GRANT_ID_TAG]: ref.grantId, ...(run ? { [GRANT_RUN_TAG]: run } : {}), 'dbaccess:project': ref.project, 'dbaccess:database': ref.database, 'managed-by': 'dbaccess' },
        );
        await deps.accounts.ensureAccount(ref.target, ref.account, password, { ...call, grantId: ref.grantId, ...(ref.validUntil !== undefined ? { validUntil: ref.validUntil } : {}) });
        log.info('account ready', { grantId: ref.grantId, account: ref.account, secretName: ref.secretName });
        return { secretName: ref.secretName, connection };
      });
    },

    /**
     * Checks that an account the old scripts created can be adopted, then marks it as
     * the grant's where the engine records an owner (nothing else changes): the target is sound, the account exists for the host pattern, it
     * holds exactly the level's privileges on the schema and nothing else (no global
     * privilege, other schema, table, column or routine privilege, role or proxy grant:
     * the revoke would drop them with the account), and no other grant owns the name.
     * Refuses (AdoptionRefused) otherwise, and the account is not touched.
     */
    async verifyAdoption(change: PrivilegeChange): Promise<{ connection: ServerEndpoint }> {
      return heartbeating(async (call) => {
        const refuse = (why: string) => activityError(ActivityErrorType.AdoptionRefused, why);
        const owner = (await deps.secrets.describe(change.secretName))?.tags[GRANT_ID_TAG];
        if (owner !== undefined && owner !== change.grantId) throw refuse(`the account ${change.account} belongs to another grant (${owner})`);
        const connection = await deps.accounts.checkTarget(change.target, call);
        const held = await deps.accounts.schemaPrivileges(change.target, change.account, call);
        const at = accountLabel(change.target, change.account);
        if (held === undefined) throw refuse(`the account ${at} does not exist on the server of ${change.database}`);
        const wanted = [...change.privileges].sort();
        if (held.length !== wanted.length || [...held].sort().some((p, i) => p !== wanted[i])) {
          throw refuse(`the account ${at} holds ${held.length ? held.join(', ') : 'no privilege'} on ${change.target.schema}, not exactly ${change.privileges.join(', ')}`);
        }
        const beyond = (await deps.accounts.accountFootprint(change.target, change.account, call)) ?? [];
        if (beyond.length > 0) {
          const words: Record<string, string> = {
            global: 'global privileges',
            schema: 'privileges on other schemas',
            table: 'table privileges',
            column: 'column privileges',
            routine: 'routine privileges',
            role: 'roles',
            proxy: 'proxy grants for',
            'role-of': 'granted as a role to',
          };
          const parts = Object.entries(words).flatMap(([kind, word]) => {
            const items = beyond.filter((h) => h.kind === kind).map((h) => h.what);
            return items.length ? [`${word} ${items.slice(0, 5).join('; ')}${items.length > 5 ? ` and ${items.length - 5} more` : ''}`] : [];
          });
          throw refuse(`the account ${at} holds more than its privileges on ${change.target.schema} (${parts.join('; ')}); only an account that holds one schema's privileges and nothing else is adopted`);
        }
        // Verified: where the engine records an owner on the account, it now names this grant.
        await deps.accounts.adoptAccount(change.target, change.account, change.grantId, call);
        log.info('account verified for adoption', { grantId: change.grantId, account: change.account, privileges: held });
        return { connection };
      });
    },

    /** Moves the instant after which the server refuses the account's password (an extension); idempotent. */
    async setAccountExpiry(ref: AccountRef & { validUntil: string }): Promise<{ moved: boolean }> {
      return heartbeating(async (call) => {
        const moved = await deps.accounts.setAccountExpiry(ref.target, ref.account, ref.validUntil, call);
        if (moved) log.info('account expiry moved', { grantId: ref.grantId, account: ref.account, validUntil: ref.validUntil });
        return { moved };
      });
    },

    /** Makes the account's privileges exactly the level's. */
    async grantPrivileges(change: PrivilegeChange): Promise<void> {
      await heartbeating((call) => deps.accounts.setPrivileges(change.target, change.account, change.privileges, undefined, call));
    },

    /**
     * Moves the account to another level. When the engine says so (MySQL: a change
     * that takes a privilege away, since it applies a database-level change to an
     * open session only at its next USE), the account's open sessions are ended
     * too, so that none keeps the old level. When the lower level is in place but the sessions
     * could not be ended, the failure is SessionsNotEnded and not retryable: the
     * workflow keeps the lower level (it must never raise it again), alerts, and
     * retries endSessions.
     */
    async changePrivileges(change: PrivilegeChange & { previous: string[] }): Promise<{ sessionsKilled: number }> {
      return heartbeating(async (call) => {
        await deps.accounts.setPrivileges(change.target, change.account, change.privileges, change.previous, call);
        if (!endsSessions(change.target, change.previous, change.privileges)) return { sessionsKilled: 0 };
        try {
          const sessionsKilled = await deps.accounts.killSessions(change.target, change.account, call);
          return { sessionsKilled };
        } catch (err) {
          const why = err instanceof Error ? err.message : String(err);
          log.warn('privileges lowered, but the open sessions could not be ended', { grantId: change.grantId, account: change.account, privileges: change.privileges });
          throw ApplicationFailure.create({
            type: ActivityErrorType.SessionsNotEnded,
            message: `the privileges of ${change.account} were lowered to ${change.privileges.join(', ')}, but its open sessions could not be ended: ${why}`,
            nonRetryable: true,
            details: [{ privileges: change.privileges, cause: err instanceof ApplicationFailure && err.type ? err.type : 'Error' }],
          });
        }
      });
    },

    /**
     * Ends the account's open sessions (its own: matched by user name and host).
     * The workflow retries it after a lowering whose sessions could not be ended.
     */
    async endSessions(ref: AccountRef): Promise<{ sessionsKilled: number }> {
      return heartbeating(async (call) => {
        const sessionsKilled = await deps.accounts.killSessions(ref.target, ref.account, call);
        log.info('sessions ended', { grantId: ref.grantId, account: ref.account, sessionsKilled });
        return { sessionsKilled };
      });
    },

    /** Compensation of grantPrivileges. */
    async revokePrivileges(ref: AccountRef): Promise<void> {
      await heartbeating((call) => deps.accounts.revokeAllPrivileges(ref.target, ref.account, call));
    },

    /** Ends access for good: contain the account, drop it, then delete its secret (at most 8 deletions at a time per worker). */
    async revokeAccess(ref: RevokeRef): Promise<RevocationResult> {
      // Armed ahead of the expiry: wait for it here, so that nothing but this
      // worker's clock stands between the expiry and the end of access (README: Performance).
      const armed = ref.notBefore !== undefined;
      if (armed) {
        log.info('revocation armed; waiting for the expiry', { grantId: ref.grantId, account: ref.account, expiry: ref.notBefore, waitMs: Date.parse(ref.notBefore!) - Date.now() });
        await waitUntil(Date.parse(ref.notBefore!));
      }
      return heartbeating(async (call) => {
        // Only this grant's account: an account of the same name that the grant does
        // not own (see createAccount) is not its to drop. When the workflow knows the
        // account is its own, access ends first and Secrets Manager is asked nothing.
        // A secret it looked up and found absent was not deleted by this attempt; one it
        // did not look up was (or was already gone: one call deletes it either way).
        let secretFound = true;
        if (!ref.owned) {
          const described = await deps.secrets.describe(ref.secretName);
          const owner = described?.tags[GRANT_ID_TAG];
          if (owner !== undefined && owner !== ref.grantId) {
            log.warn('secret belongs to another grant; leaving account and secret alone', { grantId: ref.grantId, owner });
            return { accountExisted: false, sessionsKilled: 0, secretDeleted: false };
          }
          secretFound = described !== undefined;
        }
        const ended = await dropsFirst.drop(() => deps.accounts.endAccess(ref.target, ref.account, call));
        // Also when the drop was refused: the account is contained, the password in the secret no longer works.
        await dropsFirst.cleanup(() => deps.secrets.delete(ref.secretName));
        log.info('access revoked', { grantId: ref.grantId, account: ref.account, existed: ended.existed, sessionsKilled: ended.sessionsKilled, dropped: ended.dropped, secretDeleted: secretFound, ...(armed ? { expiry: ref.notBefore } : {}) });
        return {
          accountExisted: ended.existed,
          sessionsKilled: ended.sessionsKilled,
          secretDeleted: secretFound,
          ...(ended.containedAt ? { containedAt: ended.containedAt } : {}),
          dropped: ended.dropped,
          ...(ended.refusal ? { refusal: ended.refusal } : {}),
          leftBehind: ended.leftBehind,
          leftBehindCount: ended.leftBehindCount,
        };
      }, { cancellable: !armed });
    },

    /**
     * E-mails the grantee and the project owner. GRANTED is two messages: the
     * grantee's alone carries a fresh one-time credential link (or the password,
     * with CREDENTIALS_IN_EMAIL); the owner's notice carries neither. The other
     * kinds are one message with the owner in copy. Nothing secret is returned or logged.
     */
    async notifyGrant(request: GrantMailRequest): Promise<void> {
      const input = { ...request, awsRegion: deps.awsRegion, guide: deps.guideFor(request.grant.connection?.engine) };
      const prepared = deps.credentials ? await prepareCredentials(deps.credentials, request) : { status: 'none' as const };
      if (prepared.status === 'delivered') {
        // A retry after the grantee's message went out (the owner's failed, or a result was lost).
        log.info('credential link already mailed; not sending it again', { grantId: request.grant.grantId, eventId: request.eventId });
      } else {
        const message = grantMessage({ ...input, ...(prepared.status === 'ready' ? { credentials: prepared.credentials } : {}) });
        if (prepared.status === 'ready' && prepared.messageTag) message.id = { kind: request.kind, key: `${request.eventId}.${prepared.messageTag}` };
        await deps.notifier.notify(message);
        if (prepared.status === 'ready' && prepared.mailed) {
          // Best effort: without the mark a retry sends a fresh link (the earlier one dies), which is safe.
          await prepared.mailed().catch((err: unknown) => log.warn('could not record that the credential link was mailed', { grantId: request.grant.grantId, eventId: request.eventId, message: (err as Error).message }));
        }
      }
      const notice = grantOwnerMessage(input);
      if (!notice) return;
      try {
        await deps.notifier.notify(notice);
      } catch (err) {
        // Refused for good (the owner's address): the grantee has access and their message, and a
        // wrong owner address must not undo every grant of the project. (As a copy, it was dropped too.)
        if (err instanceof ApplicationFailure && err.type === ActivityErrorType.MailRejected) {
          log.error('the project owner\'s GRANTED notice was refused; the grantee\'s message went out', { grantId: request.grant.grantId, eventId: request.eventId, message: err.message });
          return;
        }
        throw err;
      }
    },

    /** E-mails the approvers of a request, or tells the grantee it was denied. */
    async notifyApproval(request: ApprovalMailRequest): Promise<void> {
      const base = { ...request, ...(deps.apiUrl ? { apiUrl: deps.apiUrl } : {}) };
      const { linked, rest } = decisionMessages(request, deps.decisionLinks);
      for (const decision of linked) await deps.notifier.notify(approvalMessage({ ...base, decision }));
      if (linked.length > 0 && rest.length === 0) return;
      const message = approvalMessage({ ...base, approvers: linked.length > 0 ? rest : request.approvers });
      if (message.to.length === 0) {
        log.warn('approval e-mail has no recipient', { grantId: request.grant.grantId, kind: request.kind });
        return;
      }
      await deps.notifier.notify(message);
    },

    /** E-mails the grantee and the project owner a notice: a reminder before the expiry, an adoption. */
    async notifyGrantee(request: NoticeMailRequest): Promise<void> {
      await deps.notifier.notify(noticeMessage({ ...request, ...(deps.apiUrl ? { apiUrl: deps.apiUrl } : {}) }));
    },

    deliverEvent: (request: { record: AuditRecord; decision?: EventDecision }) => deliverEvent(deps.events, request),

    /** E-mails the administrators (a failed grant, a revocation that keeps failing). */
    async notifyAdmins(request: AdminMailRequest): Promise<void> {
      await deps.notifier.notify(adminMessage({ ...request, administrators: deps.administrators, guide: deps.guideFor(request.grant.connection?.engine) }));
    },
  } satisfies GrantActivities;
}
