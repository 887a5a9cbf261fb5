import { log } from '@temporalio/activity';
import { isDowngrade, type GrantTarget, type Person } from '../domain';
import { adminMail, grantMail, type AdminMailInput, type GrantMailInput } from './mail';
import { generatePassword } from './password';
import type { AccountManager, AuditRecord, AuditStore, GrantSecretStore, Mailer, ServerEndpoint } from './ports';

export * from './ports';

// Every side effect of a grant, as Temporal activities. Each one is idempotent:
// it can run again after a partial success (a worker crash, a lost result) and
// reaches the same end state. None of them decides policy (retries, order,
// compensation): that is the workflow's. None of them accepts or returns a
// secret: the password is generated, stored and forgotten inside createAccount.

export interface ActivityDeps {
  accounts: AccountManager;
  secrets: GrantSecretStore;
  audit: AuditStore;
  mailer: Mailer;
  /** Told when a grant fails or a revocation keeps failing. */
  administrators: Person[];
  /** Region named in the e-mail's "where is my password" command. */
  awsRegion: string;
  generatePassword?: () => string;
}

/** Identifies an account and where it lives; never a credential. */
export interface AccountRef {
  grantId: string;
  project: string;
  database: string;
  account: string;
  secretName: string;
  target: GrantTarget;
}

export interface PrivilegeChange extends AccountRef {
  privileges: string[];
  /** The privileges before a level change; absent when provisioning. */
  previous?: string[];
}

/** A grant e-mail to send; the region of the secret is the worker's. */
export type GrantMailRequest = Omit<GrantMailInput, 'awsRegion'>;

/** An e-mail to the administrators; their addresses come from the configuration. */
export type AdminMailRequest = Omit<AdminMailInput, 'administrators'>;

export function createActivities(deps: ActivityDeps) {
  const newPassword = deps.generatePassword ?? generatePassword;

  return {
    /** Appends one audit event; a repeat of the same event id is a no-op. */
    async recordAudit(record: AuditRecord): Promise<{ written: boolean }> {
      return deps.audit.append(record);
    },

    /**
     * Creates the account (or resets it on a retry) with a fresh password and
     * stores that password in the per-grant secret. Returns only the secret's
     * name and where to connect: the password never leaves this function.
     */
    async createAccount(ref: AccountRef): Promise<{ secretName: string; connection: ServerEndpoint }> {
      const password = newPassword();
      const connection = await deps.accounts.ensureAccount(ref.target, ref.account, password);
      await deps.secrets.put(
        ref.secretName,
        { engine: connection.engine, host: connection.host, port: connection.port, username: ref.account, password, database: ref.target.schema },
        { 'dbaccess:grant-id': ref.grantId, 'dbaccess:project': ref.project, 'dbaccess:database': ref.database, 'managed-by': 'dbaccess' },
      );
      log.info('account ready', { grantId: ref.grantId, account: ref.account, secretName: ref.secretName });
      return { secretName: ref.secretName, connection };
    },

    /** Makes the account's privileges exactly the level's. */
    async grantPrivileges(change: PrivilegeChange): Promise<void> {
      await deps.accounts.setPrivileges(change.target, change.account, change.privileges);
    },

    /**
     * Moves the account to another level. A downgrade also ends the account's
     * open sessions: MySQL applies a database-level privilege change to an open
     * session only at its next USE, so without this a session opened under the
     * old level would keep it.
     */
    async changePrivileges(change: PrivilegeChange): Promise<{ sessionsKilled: number }> {
      const previous = change.previous ?? [];
      await deps.accounts.setPrivileges(change.target, change.account, change.privileges, previous);
      if (!isDowngrade(previous, change.privileges)) return { sessionsKilled: 0 };
      const sessionsKilled = await deps.accounts.killSessions(change.target, change.account);
      return { sessionsKilled };
    },

    /** Compensation of grantPrivileges. */
    async revokePrivileges(ref: AccountRef): Promise<void> {
      await deps.accounts.revokeAllPrivileges(ref.target, ref.account);
    },

    /** Ends access for good: lock, kill sessions, drop the account, delete its secret. */
    async revokeAccess(ref: AccountRef): Promise<{ accountExisted: boolean; sessionsKilled: number; secretDeleted: boolean }> {
      const dropped = await deps.accounts.dropAccount(ref.target, ref.account);
      const secret = await deps.secrets.delete(ref.secretName);
      log.info('access revoked', { grantId: ref.grantId, account: ref.account, ...dropped, secretDeleted: secret.existed });
      return { accountExisted: dropped.existed, sessionsKilled: dropped.sessionsKilled, secretDeleted: secret.existed };
    },

    /** E-mails the grantee and the project owner. */
    async notifyGrant(request: GrantMailRequest): Promise<void> {
      await deps.mailer.send(grantMail({ ...request, awsRegion: deps.awsRegion }));
    },

    /** E-mails the administrators (a failed grant, a revocation that keeps failing). */
    async notifyAdmins(request: AdminMailRequest): Promise<void> {
      await deps.mailer.send(adminMail({ ...request, administrators: deps.administrators }));
    },
  };
}

export type GrantActivities = ReturnType<typeof createActivities>;
