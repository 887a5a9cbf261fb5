// MySQL / MariaDB adapter of the AccountManager port.
export {
  createMysqlAccountManager,
  type AccountCallOptions,
  type MysqlAccountManager,
  type MysqlAccountManagerOptions,
  type MysqlLogger,
} from './manager';
export { adminGrantStatements, grantSchema, MAX_USER_CONNECTIONS_LIMIT, SESSION_SQL_MODE, sessionSettingsStatement } from './sql';
export {
  adminScopes,
  checkAdminAccounts,
  describePrivileges,
  excessAdminPrivileges,
  missingAdminPrivileges,
  parseGrantLine,
  readAdminAccount,
  readAdminGrants,
  type AdminCheckOptions,
  type AdminCheckResult,
} from './admin-check';
export { mysqlEngine } from './engine';
export { parseMysqlAdminSecret } from './admin-secret';
