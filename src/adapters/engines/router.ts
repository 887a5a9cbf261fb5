import { engineOf, type GrantTarget } from '../../domain';
import { ActivityErrorType, activityError } from '../errors';
import type { AccountCallOptions, EngineAccounts } from './port';

// One AccountManager (and inventory) over the engines in use: each call goes to
// the engine of its target. A target without `engine` (a grant begun before
// engines existed, or one whose caller did not say) is its admin secret's engine
// in the configuration, else MySQL's.

export interface AccountRouterOptions {
  /**
   * The account manager of an engine key, built on the first call that needs it (a
   * grant of an engine no database names any more still gets revoked); throws for a
   * key that is no engine.
   */
  create(engine: string): EngineAccounts;
  /** The configured engine of an admin secret, when the configuration names it. */
  engineOfSecret(adminSecretId: string): string | undefined;
}

/** The engine key a call on `target` goes to. */
export function engineKeyOf(target: GrantTarget, engineOfSecret: (adminSecretId: string) => string | undefined): string {
  return target.engine ?? engineOfSecret(target.adminSecretId) ?? engineOf(target);
}

export function createAccountRouter(options: AccountRouterOptions): EngineAccounts {
  const built = new Map<string, EngineAccounts>();
  const keyOf = (target: GrantTarget): string => engineKeyOf(target, options.engineOfSecret);
  const pick = (key: string): EngineAccounts => {
    let accounts = built.get(key);
    if (!accounts) {
      try {
        accounts = options.create(key);
      } catch (err) {
        throw activityError(ActivityErrorType.InvalidIdentifier, `no account manager for database engine ${key}: ${err instanceof Error ? err.message : String(err)}`);
      }
      built.set(key, accounts);
    }
    return accounts;
  };
  const forTarget = (target: GrantTarget): EngineAccounts => {
    if (!target || typeof target !== 'object') throw activityError(ActivityErrorType.InvalidIdentifier, 'target is missing');
    return pick(keyOf(target));
  };
  return {
    checkTarget: async (target, o?: AccountCallOptions) => forTarget(target).checkTarget(target, o),
    accountExists: async (target, account, o) => forTarget(target).accountExists(target, account, o),
    ensureAccount: async (target, account, password, o) => forTarget(target).ensureAccount(target, account, password, o),
    setAccountExpiry: async (target, account, validUntil, o) => forTarget(target).setAccountExpiry(target, account, validUntil, o),
    setPrivileges: async (target, account, privileges, previous, o) => forTarget(target).setPrivileges(target, account, privileges, previous, o),
    revokeAllPrivileges: async (target, account, o) => forTarget(target).revokeAllPrivileges(target, account, o),
    schemaPrivileges: async (target, account, o) => forTarget(target).schemaPrivileges(target, account, o),
    accountFootprint: async (target, account, o) => forTarget(target).accountFootprint(target, account, o),
    adoptAccount: async (target, account, grantId, o) => forTarget(target).adoptAccount(target, account, grantId, o),
    killSessions: async (target, account, o) => forTarget(target).killSessions(target, account, o),
    endAccess: async (target, account, o) => forTarget(target).endAccess(target, account, o),
    accountGrants: async (target, account, o) => forTarget(target).accountGrants(target, account, o),
    inventory: async (adminSecretId, include, o) => pick(options.engineOfSecret(adminSecretId) ?? engineOf({})).inventory(adminSecretId, include, o),
    async close() {
      const results = await Promise.allSettled([...built.values()].map((a) => a.close()));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}
