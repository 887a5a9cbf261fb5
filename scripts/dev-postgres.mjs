// The PostgreSQL part of `npm run dev` (scripts/dev.mjs): when a server answers at
// DEV_POSTGRES_URL, the demo project gets a database pg_project (engine postgresql)
// with its own schema and admin secret; when none does, it is left out.

import { readFileSync, writeFileSync } from 'node:fs';

/** A URL as it may be printed: without its password. */
export function shownUrl(url) {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.href;
  } catch {
    return '(not a URL)';
  }
}

// pg_project lives between these two lines of the demo configuration, so that a
// restart can add or remove it as PostgreSQL comes and goes, and leaves the rest alone.
const BEGIN = '      # pg_project: added by npm run dev while PostgreSQL answers at DEV_POSTGRES_URL (docs/postgresql.md)';
const END = '      # end of pg_project';
const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const BLOCK = new RegExp(`^${escape(BEGIN)}\\n(?:.*\\n)*?${escape(END)}\\n`, 'm');

/**
 * `url`: a superuser connection; `prefix`: DEV_SCHEMA_PREFIX, which names the schema,
 * the database and the admin role, so a second stack (the dev-stack test) keeps apart.
 */
export function devPostgres({ url, prefix, project, say }) {
  const demo = prefix === 'demo';
  const pg = {
    key: 'pg_project',
    schema: `${prefix}_pg`,
    database: demo ? 'dbaccess_demo' : `${prefix}_db`,
    adminRole: demo ? 'dbaccess_pg_admin' : `${prefix}_pg_admin`,
    adminSecretId: `dev/${prefix}/postgresql`,
  };
  const present = new RegExp(`^ {6}${pg.key}:`, 'm');

  /** Whether the server answers (and lets us in); the reason when it does not. */
  async function answers() {
    try {
      const { default: client } = await import('pg');
      const c = new client.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
      c.on('error', () => undefined);
      try {
        await c.connect();
        await c.query('SELECT 1');
        return { ok: true };
      } finally {
        await c.end().catch(() => undefined);
      }
    } catch (err) {
      return { ok: false, why: err.code ?? err.message };
    }
  }

  /** Adds or removes the managed pg_project; true when the configuration has a pg_project. */
  function sync(configPath, wanted) {
    const before = readFileSync(configPath, 'utf8');
    let text = before.replace(BLOCK, '');
    // A pg_project of the user's own (outside the markers) is theirs: left as it is.
    if (!present.test(text) && wanted) {
      const databases = new RegExp(`^( {2}${project}:\\n(?: {4}.*\\n)*? {4}databases:\\n)`, 'm');
      const block = `${BEGIN}\n      ${pg.key}:\n        engine: postgresql\n        schema: ${pg.schema}\n        adminSecretId: ${pg.adminSecretId}\n        maxUserConnections: 5\n        maxDuration: 30d\n${END}\n`;
      if (databases.test(text)) text = text.replace(databases, (m) => m + block);
      else say(`${configPath} has no databases of project ${project} where pg_project could go: left out`);
    }
    if (text !== before) writeFileSync(configPath, text);
    return present.test(text);
  }

  /** The lines of the printed tour: a READ grant on pg_project, and how to connect. */
  function tour({ api, keyPath, emailDomain }) {
    const u = URL.canParse(url) ? new URL(url) : new URL('postgres://localhost:5432');
    return `
  READ on pg_project (schema ${pg.schema} in database ${pg.database} on PostgreSQL ${u.host}):
    curl -s -X POST ${api}/grants \\
      -H "Authorization: Bearer $(cat ${keyPath})" -H 'Content-Type: application/json' \\
      -d '{"email":"jane.doe@${emailDomain}","name":"Jane Doe","project":"${project}","database":"${pg.key}","accessLevel":"READ","duration":"8h"}'
    psql "host=${u.hostname} port=${u.port || 5432} dbname=${pg.database} user=<account from the answer>" -c 'SELECT * FROM ${pg.schema}.example'
      (the password is behind the one-time link in the GRANTED e-mail)
`;
  }

  return { pg, answers, sync, tour };
}
