// MySQL / MariaDB adapter of the AccountManager port.
export { createMysqlAccountManager, type MysqlAccountManagerOptions, type MysqlLogger } from './manager';
export { adminGrantStatements, grantSchema, MAX_USER_CONNECTIONS_LIMIT } from './sql';
