// PostgreSQL adapter of the AccountManager port.
export {
  createPostgresAccountManager,
  type PgAccountOptions,
  type PgLogger,
  type PostgresAccountManager,
  type PostgresAccountManagerOptions,
} from './manager';
export { postgresqlGuide } from './guide';
export { parsePgAdminSecret, type PgAdminCredentialSource, type PgAdminCredentials } from './secret';
export { pgLevels, pgPrivileges, privilegePlan, type PgPrivilegeSet } from './privileges';
export { isOurs, ownershipTag, quoteIdent, quoteLiteral, scramVerifier } from './sql';
export { postgresqlEngine } from './engine';
export { PG_REDACTION } from './redaction';
export { checkPgAdminAccounts, judgeAdmin } from './admin-check';
