import type { ConnectTarget, EngineGuide, StoredObjectRef } from '../../../contract/engine-guide';
import { ACCOUNT_NAME } from '../../../domain';
import { clean, shellQuote } from '../../notify/format';

// Statements below place a role name in a quoted literal or identifier only after
// checking it against the service's own account pattern, so what is pasted runs as written.

/** A value inside a libpq connection string: bare when plain, else single-quoted with `\` and `'` backslash-escaped. */
function conninfoValue(value: string): string {
  if (/^[A-Za-z0-9_.:@+-]+$/.test(value)) return value;
  return `'${value.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

/** A double-quoted identifier; undefined when the name is not printable as it is. */
function quotedIdentifier(name: string): string | undefined {
  if (name.length === 0 || name.length > 63 || clean(name, 63) !== name) return undefined;
  return `"${name.replace(/"/g, '""')}"`;
}

/** The statement that lists what a role owns in the current database (run it in each database). */
export function ownedObjectsQuery(account: string): string | undefined {
  if (!ACCOUNT_NAME.test(account)) return undefined;
  return [
    `SELECT c.relkind AS kind, n.nspname AS schema_name, c.relname AS object_name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relowner = '${account}'::regrole`,
    `UNION ALL SELECT 'function', n.nspname, p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.proowner = '${account}'::regrole`,
    `UNION ALL SELECT 'type', n.nspname, t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.typowner = '${account}'::regrole AND t.typrelid = 0;`,
  ].join('\n');
}

/** What people are told about PostgreSQL. */
export const postgresqlGuide: EngineGuide = {
  engine: 'postgresql',
  displayName: () => 'PostgreSQL',
  connectCommand(target: ConnectTarget): string {
    const parts = [
      `host=${conninfoValue(clean(target.host, 255))}`,
      `port=${Number(target.port)}`,
      `user=${conninfoValue(clean(target.username, 63))}`,
      ...(target.database ? [`dbname=${conninfoValue(clean(target.database, 63))}`] : []),
    ];
    return `psql ${shellQuote(parts.join(' '))}`;
  },

  adminSecretKeys: ['engine', 'host', 'port', 'username', 'password', 'dbname'],

  adminNeeds: {
    createAccount: 'The admin role holds CREATEROLE, may connect to the database, and the schema exists.',
    grantPrivileges: "The admin role is a member of the schema's owner (or holds the privileges it grants WITH GRANT OPTION).",
    endAccess: 'The admin role holds CREATEROLE and is a member of pg_signal_backend and of the role that receives what a grantee owned.',
    endSessions: ['On PostgreSQL: the admin role is a member of pg_signal_backend to end the sessions of other roles, and of pg_read_all_stats to see them.'],
  },

  sessions: {
    endedOnLowering: 'This change removed privileges, so your open sessions were ended. Reconnect to continue at the new level.',
    keptOnRaise: 'Open sessions were left alone: PostgreSQL checks privileges at every statement, so they have the new privileges at once.',
    staleAfterLowering: 'PostgreSQL checks privileges at every statement: open sessions already have the lower level.',
  },

  manual: {
    endAccess(account: string): string | undefined {
      if (!ACCOUNT_NAME.test(account)) return undefined;
      const role = quotedIdentifier(account);
      return [
        `ALTER ROLE ${role} NOLOGIN;`,
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${account}';`,
        `REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA <schema> FROM ${role};`,
      ].join('\n');
    },
    endSessions(account: string): string | undefined {
      if (!ACCOUNT_NAME.test(account)) return undefined;
      return `SELECT pid, client_addr, datname, backend_start FROM pg_stat_activity WHERE usename = '${account}';  -- then SELECT pg_terminate_backend(<pid>); for each`;
    },
  },

  storedObjects: {
    role: 'owner',
    dropRefusal: 'PostgreSQL refuses to drop a role that still owns objects or holds privileges in a database.',
    orphaned:
      "They were handed to the owner role before the drop and keep working, but none runs with the owner role's rights: SECURITY DEFINER routines were made SECURITY INVOKER, views check the reader's rights, and rules and triggers that run the grantee's code were disabled. The owner can turn each back on after reading it.",
    reassign: 'To give an object to another role: ALTER TABLE (or FUNCTION, VIEW...) ... OWNER TO that role.',
    notListed: 'Objects are listed per database: run the statement in each database the grantee could reach.',
    listIntro: 'Every object the role owns in the current database (run it as the admin role):',
    listQuery: ownedObjectsQuery,
    showDefinitions(objects: readonly StoredObjectRef[]): string[] {
      return objects.flatMap((o) => {
        const schema = quotedIdentifier(o.schema);
        const name = quotedIdentifier(o.name);
        return schema && name ? [`\\d+ ${schema}.${name}`] : [];
      });
    },
  },
};
