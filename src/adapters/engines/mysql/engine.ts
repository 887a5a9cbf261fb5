import { MYSQL_PRIVILEGES, isDowngrade } from '../../../domain';
import type { DatabaseEngine } from '../port';
import { checkAdminAccounts } from './admin-check';
import { parseMysqlAdminSecret } from './admin-secret';
import { mysqlGuide } from './guide';
import { createMysqlAccountManager } from './manager';
import { MYSQL_REDACTION } from './redaction';

/** MySQL and MariaDB behind the DatabaseEngine port. */
export const mysqlEngine: DatabaseEngine = {
  key: 'mysql',
  guide: mysqlGuide,
  privileges: {
    ...MYSQL_PRIVILEGES,
    // MySQL applies a database-level privilege change to an open session only at
    // its next USE: a change that takes anything away must end the sessions.
    endsSessions: (previous, next) => isDowngrade(previous, next),
  },
  parseAdminSecret: (json) => parseMysqlAdminSecret(json),
  checkAdmin: (options) => checkAdminAccounts(options),
  createAccounts: (options) => createMysqlAccountManager(options),
  redaction: MYSQL_REDACTION,
};
