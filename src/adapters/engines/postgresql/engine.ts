import { PG_PRIVILEGES } from '../../../domain';
import type { AdminCredentialSource, DatabaseEngine, EngineAccountsOptions } from '../port';
import { checkPgAdminAccounts } from './admin-check';
import { postgresqlGuide } from './guide';
import { createPostgresAccountManager } from './manager';
import { PG_REDACTION } from './redaction';
import { parsePgAdminSecretObject, type PgAdminCredentialSource } from './secret';

/** The engine's credential source: the database a secret names (`postgres` when a source gives none). */
function withDatabase(source: AdminCredentialSource): PgAdminCredentialSource {
  return { get: async (secretId, options) => {
    const credentials = await source.get(secretId, options);
    return { ...credentials, database: credentials.database ?? 'postgres' };
  } };
}

/** PostgreSQL behind the DatabaseEngine port: one tagged LOGIN role per grant (decisions 0600-0603). */
export const postgresqlEngine: DatabaseEngine = {
  key: 'postgresql',
  guide: postgresqlGuide,
  privileges: {
    ...PG_PRIVILEGES,
    // PostgreSQL checks privileges at every statement: a lowered level holds for open sessions at once.
    endsSessions: () => false,
  },
  parseAdminSecret: (json) => parsePgAdminSecretObject(json),
  checkAdmin: (options) => checkPgAdminAccounts(options),
  createAccounts: (options: EngineAccountsOptions) =>
    createPostgresAccountManager({
      credentials: withDatabase(options.credentials),
      allowSuperuserAdmin: options.allowExtraPrivileges ?? false,
      ...(options.logger ? { logger: options.logger } : {}),
    }),
  redaction: PG_REDACTION,
};
