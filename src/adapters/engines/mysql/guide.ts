import type { ConnectTarget, EngineGuide, StoredObjectRef } from '../../../contract/engine-guide';
import { ACCOUNT_NAME } from '../../../domain';
import { clean, shellQuote } from '../../notify/format';

// Statements below place the account name in a quoted literal only after checking
// it against the service's own account pattern, so what is pasted runs as written.

/** A backquoted identifier; undefined when the name is not printable as it is (it could not be pasted back). */
function quotedIdentifier(name: string): string | undefined {
  if (name.length === 0 || name.length > 64 || clean(name, 64) !== name) return undefined;
  return `\`${name.replace(/`/g, '``')}\``;
}

const SHOW_CREATE: Readonly<Record<string, string>> = { VIEW: 'VIEW', PROCEDURE: 'PROCEDURE', FUNCTION: 'FUNCTION', TRIGGER: 'TRIGGER', EVENT: 'EVENT' };

/** The statement that lists every stored object the account defines, on MySQL and MariaDB. */
export function definerObjectsQuery(account: string): string | undefined {
  if (!ACCOUNT_NAME.test(account)) return undefined;
  const definedBy = `SUBSTRING_INDEX(DEFINER, '@', 1) = '${account}'`;
  return [
    `SELECT 'VIEW' AS kind, TABLE_SCHEMA AS schema_name, TABLE_NAME AS object_name FROM information_schema.VIEWS WHERE ${definedBy}`,
    `UNION ALL SELECT ROUTINE_TYPE, ROUTINE_SCHEMA, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ${definedBy}`,
    `UNION ALL SELECT 'TRIGGER', TRIGGER_SCHEMA, TRIGGER_NAME FROM information_schema.TRIGGERS WHERE ${definedBy}`,
    `UNION ALL SELECT 'EVENT', EVENT_SCHEMA, EVENT_NAME FROM information_schema.EVENTS WHERE ${definedBy};`,
  ].join('\n');
}

/** What people are told about MySQL and MariaDB. */
export const mysqlGuide: EngineGuide = {
  engine: 'mysql',
  displayName: (dialect) => (dialect === 'mariadb' ? 'MariaDB' : 'MySQL'),
  connectCommand(target: ConnectTarget): string {
    const db = target.database ? ` ${shellQuote(clean(target.database, 64))}` : '';
    return `mysql --host=${shellQuote(clean(target.host, 255))} --port=${Number(target.port)} --user=${shellQuote(clean(target.username, 64))} --password${db}`;
  },

  adminSecretKeys: ['MYSQL_HOST', 'MYSQL_PORT', 'MYSQL_USERNAME', 'MYSQL_PASSWORD'],

  adminNeeds: {
    createAccount: 'The admin account may create users (CREATE USER) and the schema exists.',
    grantPrivileges: 'The admin account holds the privileges it grants, WITH GRANT OPTION, on the schema.',
    endAccess: 'The admin account may still lock, change and drop users and end their sessions (CREATE USER, and CONNECTION_ADMIN or SUPER, and PROCESS).',
    endSessions: [
      'On MySQL: the admin account holds CONNECTION_ADMIN (or SUPER) to end the sessions of other accounts, and PROCESS to see them (SHOW GRANTS FOR CURRENT_USER()).',
      'On MariaDB: the admin account holds CONNECTION ADMIN (or SUPER) and PROCESS.',
    ],
  },

  sessions: {
    endedOnLowering:
      'This change removed privileges, so your open sessions were ended: a server applies reduced privileges to an open session only when it next selects the database. Reconnect to continue at the new level.',
    keptOnRaise: 'Open sessions were left alone; new connections get the new privileges at once, an open session once it selects the database again (USE).',
    staleAfterLowering: 'A session opened before the change may keep the higher privileges until it ends or selects the database again (USE).',
  },

  manual: {
    endAccess(account: string): string | undefined {
      if (!ACCOUNT_NAME.test(account)) return undefined;
      return [
        `SELECT user, host FROM mysql.user WHERE user = '${account}';`,
        `ALTER USER '${account}'@'<host from the query above>' ACCOUNT LOCK;`,
        `REVOKE ALL PRIVILEGES, GRANT OPTION FROM '${account}'@'<host from the query above>';`,
        `SELECT id FROM information_schema.processlist WHERE user = '${account}';  -- then KILL <id>; for each`,
      ].join('\n');
    },
    endSessions(account: string): string | undefined {
      if (!ACCOUNT_NAME.test(account)) return undefined;
      return `SELECT id, host, db, time FROM information_schema.processlist WHERE user = '${account}';  -- then KILL <id>; for each`;
    },
  },

  storedObjects: {
    role: 'definer',
    dropRefusal: 'MySQL refuses to drop an account that is the definer of a view, routine, trigger or event.',
    disabled: "its events were disabled so that nothing runs with the account's rights",
    orphaned:
      'Their definer no longer exists, so a view or routine that runs with its definer\'s rights fails, and a trigger makes writes to its table fail, until someone gives it another definer or drops it.',
    reassign:
      'To keep an object, give it another definer: read its definition with SHOW CREATE (below) and create it again with DEFINER set to an account that should own it (CREATE OR REPLACE for a view, DROP and CREATE for a procedure, function or trigger, ALTER DEFINER = ... EVENT for an event).',
    notListed: 'Tables are not listed: MySQL and MariaDB do not record who created a table.',
    listIntro: 'Every stored object the account defines, on MySQL or MariaDB (run it as the admin account):',
    listQuery: definerObjectsQuery,
    showDefinitions(objects: readonly StoredObjectRef[]): string[] {
      return objects.flatMap((o) => {
        const what = SHOW_CREATE[o.kind];
        const schema = quotedIdentifier(o.schema);
        const name = quotedIdentifier(o.name);
        return what && schema && name ? [`SHOW CREATE ${what} ${schema}.${name};`] : [];
      });
    },
  },
};
