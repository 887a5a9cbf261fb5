// `npm run dev`: the whole local stack in one terminal.
//
//   Temporal dev server (+ Web UI)   DEV_TEMPORAL_PORT 7233, DEV_TEMPORAL_UI_PORT 8233, state in .dev/temporal.db
//   AWS emulator (moto)              DEV_AWS_PORT 4566
//   SMTP catcher + web inbox         DEV_SMTP_PORT 1025, DEV_INBOX_PORT 8025 (MailDev, mails kept in .dev/mail)
//   worker and API                   DEV_API_PORT 3000
//   MariaDB/MySQL (already running)  DEV_MYSQL_URL mysql://root@127.0.0.1:3306
//   PostgreSQL (optional, running)   DEV_POSTGRES_URL postgres://postgres@127.0.0.1:5432/postgres
//                                    (when it answers, the demo project gets pg_project)
//   every service binds DEV_HOST     127.0.0.1
//   state (config, keys, logs, db)   DEV_STATE_DIR .dev
//   payload encryption               key in .dev/codec-key; the UI decodes through the API's /codec
//   demo schemas / admin account     DEV_SCHEMA_PREFIX demo (demo_dev, demo_prod, demo_pg, dbaccess_admin, dbaccess_pg_admin)
//
// It installs what is missing, writes a demo configuration (.dev/dbaccess.yaml),
// seeds the emulator and the databases, keeps API keys in .dev/ (api-key: admin,
// requester-key: requester of project demo, approver-key: its approver), writes
// .dev/stack.json for scripts, prints every URL, and stops everything it
// started on Ctrl-C. Plain Node with no dependencies, so it runs on a fresh clone.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync, createWriteStream } from 'node:fs';
import { createConnection } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { devPostgres, shownUrl } from './dev-postgres.mjs';
import { ROOT, ensureNodeModules, ensureTools, tools } from './tools.mjs';

const env = process.env;
const children = [];
let stopping = false;
const DEV = env.DEV_STATE_DIR ? resolve(env.DEV_STATE_DIR) : join(ROOT, '.dev');
const HOST = env.DEV_HOST ?? '127.0.0.1';
const port = (name, fallback) => {
  const value = Number(env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1 || value > 65535) fail(`${name} must be a port number, not "${env[name]}"`);
  return value;
};
const PORTS = {
  temporal: port('DEV_TEMPORAL_PORT', 7233),
  temporalUi: port('DEV_TEMPORAL_UI_PORT', 8233),
  aws: port('DEV_AWS_PORT', 4566),
  smtp: port('DEV_SMTP_PORT', 1025),
  inbox: port('DEV_INBOX_PORT', 8025),
  api: port('DEV_API_PORT', 3000),
  workerMetrics: port('DEV_WORKER_METRICS_PORT', 9464),
  workerSdkMetrics: port('DEV_WORKER_SDK_METRICS_PORT', 9465),
};
const MYSQL_URL = env.DEV_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
const POSTGRES_URL = env.DEV_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PORT_ENV = { temporal: 'DEV_TEMPORAL_PORT', temporalUi: 'DEV_TEMPORAL_UI_PORT', aws: 'DEV_AWS_PORT', smtp: 'DEV_SMTP_PORT', inbox: 'DEV_INBOX_PORT', api: 'DEV_API_PORT', workerMetrics: 'DEV_WORKER_METRICS_PORT', workerSdkMetrics: 'DEV_WORKER_SDK_METRICS_PORT' };

const SEARCH_ATTRIBUTES = {
  DbAccessGrantee: 'Keyword',
  DbAccessProject: 'Keyword',
  DbAccessDatabase: 'Keyword',
  DbAccessLevel: 'Keyword',
  DbAccessStatus: 'Keyword',
  DbAccessExpiresAt: 'Datetime',
  DbAccessRetained: 'Keyword',
  DbAccessReviewBy: 'Datetime',
  DbAccessBreakGlass: 'Keyword',
};

// DEV_SCHEMA_PREFIX names the demo schemas and the admin account, so that a
// second stack (the dev-stack test) can share the database server without
// touching the first one's.
const SCHEMA_PREFIX = env.DEV_SCHEMA_PREFIX ?? 'demo';
if (!/^[a-z][a-z0-9_]{0,40}$/.test(SCHEMA_PREFIX)) {
  process.stderr.write(`[dev] DEV_SCHEMA_PREFIX must be lower-case letters, digits and _, not "${SCHEMA_PREFIX}"\n`);
  process.exit(1);
}
const DEMO = {
  project: 'demo',
  emailDomain: 'example.com',
  databases: { dev_project: `${SCHEMA_PREFIX}_dev`, prod_project: `${SCHEMA_PREFIX}_prod` },
  adminAccount: SCHEMA_PREFIX === 'demo' ? 'dbaccess_admin' : `${SCHEMA_PREFIX}_admin`,
  adminSecretId: `dev/${SCHEMA_PREFIX}/mysql`,
};

const POSTGRES = devPostgres({ url: POSTGRES_URL, prefix: SCHEMA_PREFIX, project: DEMO.project, say });

function say(line) {
  process.stdout.write(`[dev] ${line}\n`);
}

function fail(message) {
  process.stderr.write(`[dev] ${message}\n`);
  stopAll(1);
}

function stopAll(code = 0) {
  if (stopping) return;
  stopping = true;
  if (children.length) say('stopping...');
  for (const child of [...children].reverse()) {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + 8000;
  const wait = () => {
    const alive = children.filter((c) => c.exitCode === null && c.signalCode === null);
    if (alive.length === 0 || Date.now() > deadline) {
      for (const c of alive) {
        try {
          process.kill(-c.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      process.exit(code);
    }
    setTimeout(wait, 100);
  };
  wait();
}

process.on('SIGINT', () => stopAll(0));
process.on('SIGTERM', () => stopAll(0));

/**
 * Starts a child in its own process group; its output goes to .dev/<name>.log and,
 * unless `quiet` (the emulator logs every request), to this terminal, prefixed.
 */
function start(name, command, args, extraEnv = {}, { quiet = false } = {}) {
  const child = spawn(command, args, { cwd: ROOT, env: { ...env, ...extraEnv }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const log = createWriteStream(join(DEV, `${name}.log`), { flags: 'a' });
  const prefix = `${name.padEnd(8)}| `;
  for (const stream of [child.stdout, child.stderr]) {
    let buffer = '';
    stream.on('data', (chunk) => {
      log.write(chunk);
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop();
      if (!quiet) for (const line of lines) if (line.trim()) process.stdout.write(prefix + line + '\n');
    });
  }
  child.on('exit', (code, signal) => {
    if (!stopping) fail(`${name} exited (${signal ?? `code ${code}`}); see .dev/${name}.log`);
  });
  return child;
}

function portInUse(p) {
  return new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port: p });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitFor(what, check, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (stopping) return;
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    await sleep(250);
  }
  fail(`${what} did not come up within ${timeoutMs / 1000}s`);
}

const httpOk = (url) => async () => (await fetch(url)).ok;

function demoConfig() {
  return `# Demo configuration written by \`npm run dev\`. See docs/configuration.md for every setting.
secretPrefix: dbaccess
allowedEmailDomains: [${DEMO.emailDomain}]
administrators:
  - name: Database Administrators
    email: dba@${DEMO.emailDomain}
reconciler:                # the worker creates the schedule dbaccess-reconciler at start-up
  interval: 1h
  mode: revoke
accessLevels:
  READ: [SELECT]
  READ_WRITE: [SELECT, INSERT, UPDATE, DELETE]
  ADMIN: [ALL PRIVILEGES]
projects:
  ${DEMO.project}:
    ownerName: Olivia Owner
    ownerEmail: owner@${DEMO.emailDomain}
    databases:
      dev_project:
        schema: ${DEMO.databases.dev_project}
        adminSecretId: ${DEMO.adminSecretId}
        hostPattern: '%'
        maxUserConnections: 5
        maxDuration: 90d
        # standing grants (expiresAt NA): reviewed every 30 days, asked 7 days before
        standing:
          review: 30d
          decideWithin: 7d
      prod_project:
        schema: ${DEMO.databases.prod_project}
        adminSecretId: ${DEMO.adminSecretId}
        hostPattern: '%'
        maxUserConnections: 3
        maxDuration: 7d
        requireApproval: [ADMIN]
${API_CLIENTS}${BREAK_GLASS}`;
}

// Break-glass (docs/decisions/0110-break-glass.md): the admin key may ask for access at once,
// without approval, capped at 1h, alerted to the administrators and the owner, reviewed after.
const BREAK_GLASS = `breakGlass:
  clients: [dev-admin]
  maxDuration: 1h
  reviewWithin: 7d
`;

// Roles of the dev stack's keys (.dev/api-key, .dev/requester-key and .dev/approver-key):
// the requester asks, the approver decides, so the approval flow can be tried from both sides.
const REQUESTER_CLIENT = `  dev-requester:
    role: requester
    projects: [${DEMO.project}]
`;
const API_CLIENTS = `approval:
  timeout: 24h
apiClients:
  dev-admin:
    role: admin
${REQUESTER_CLIENT}  dev-approver:
    role: approver
    projects: [${DEMO.project}]
    email: approver@${DEMO.emailDomain}
`;

async function main() {
  ensureNodeModules();
  ensureTools();
  mkdirSync(DEV, { recursive: true });

  for (const [name, p] of Object.entries(PORTS)) {
    if (await portInUse(p)) fail(`port ${p} (${name}) is already in use on ${HOST}: stop what uses it or set ${PORT_ENV[name]}`);
  }

  const configPath = join(DEV, 'dbaccess.yaml');
  if (!existsSync(configPath)) writeFileSync(configPath, demoConfig());
  // A configuration written before keys had roles: give the dev keys theirs.
  if (!/^apiClients:/m.test(readFileSync(configPath, 'utf8'))) appendFileSync(configPath, `\n# Added by npm run dev: every API key needs a role.\n${API_CLIENTS}`);
  // One written before the requester key: add its client (every key needs an entry).
  const config = readFileSync(configPath, 'utf8');
  if (!/^ {2}dev-requester:/m.test(config)) writeFileSync(configPath, config.replace(/^apiClients:\n/m, `apiClients:\n${REQUESTER_CLIENT}`));
  const hasRequester = /^ {2}dev-requester:/m.test(readFileSync(configPath, 'utf8'));
  // One written before break-glass: allow it for the admin key.
  if (!/^breakGlass:/m.test(readFileSync(configPath, 'utf8'))) appendFileSync(configPath, `\n# Added by npm run dev: the admin key may break the glass.\n${BREAK_GLASS}`);
  const postgres = await POSTGRES.answers();
  if (!postgres.ok) say(`no PostgreSQL at ${shownUrl(POSTGRES_URL)} (${postgres.why}): pg_project is left out (DEV_POSTGRES_URL)`);
  const withPg = POSTGRES.sync(configPath, postgres.ok);
  if (!hasRequester) say(`${configPath} has no apiClients entry dev-requester (role requester, projects [${DEMO.project}]) and its apiClients could not be extended: no requester key this time`);
  const devKey = (file) => {
    const path = join(DEV, file);
    if (!existsSync(path)) writeFileSync(path, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
    return { path, key: readFileSync(path, 'utf8').trim() };
  };
  const { path: keyPath, key: apiKey } = devKey('api-key');
  const { path: approverKeyPath, key: approverKey } = devKey('approver-key');
  const { path: requesterKeyPath, key: requesterKey } = devKey('requester-key');
  // Payload encryption key, kept like the API key: a restart must still read the grants it wrote.
  const codecKeyPath = join(DEV, 'codec-key');
  if (!existsSync(codecKeyPath)) writeFileSync(codecKeyPath, `dev-1:${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  const codecKeys = readFileSync(codecKeyPath, 'utf8').trim();
  // The key that signs the one-click Approve and Deny links of approval e-mails, kept the same way.
  const decisionKeyPath = join(DEV, 'decision-link-key');
  if (!existsSync(decisionKeyPath)) writeFileSync(decisionKeyPath, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  const decisionLinkKey = readFileSync(decisionKeyPath, 'utf8').trim();
  const uiOrigin = `http://${HOST}:${PORTS.temporalUi}`;
  const codecEndpoint = `http://${HOST}:${PORTS.api}/codec`;
  // The dev UI has no login, so it cannot send an API key: the codec routes are
  // opened to it, which the API allows only on a loopback address.
  const loopback = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(HOST);

  const appEnv = {
    // Node 20 is past its end of life; the AWS SDK would say so in every process.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ?? 'true',
    DBACCESS_CONFIG: configPath,
    LOG_LEVEL: env.LOG_LEVEL ?? 'info',
    TEMPORAL_ADDRESS: `${HOST}:${PORTS.temporal}`,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_TASK_QUEUE: 'dbaccess',
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL: `http://${HOST}:${PORTS.aws}`,
    AWS_ACCESS_KEY_ID: 'dev',
    AWS_SECRET_ACCESS_KEY: 'dev',
    AUDIT_TABLE: 'dbaccess-audit',
    CREDENTIAL_LINKS_TABLE: 'dbaccess-credential-links',
    // Where the one-time credential link in the GRANTED e-mail points (http only on loopback).
    PUBLIC_URL: env.PUBLIC_URL ?? `http://${['0.0.0.0', '::'].includes(HOST) ? '127.0.0.1' : HOST}:${PORTS.api}`,
    SMTP_HOST: HOST,
    SMTP_PORT: String(PORTS.smtp),
    MAIL_FROM: 'dbaccess <dbaccess@example.com>',
    API_HOST: HOST,
    API_PORT: String(PORTS.api),
    WORKER_METRICS_HOST: HOST,
    WORKER_METRICS_PORT: String(PORTS.workerMetrics),
    WORKER_SDK_METRICS_PORT: String(PORTS.workerSdkMetrics),
    DBACCESS_API_KEYS: [`dev-admin:${apiKey}`, ...(hasRequester ? [`dev-requester:${requesterKey}`] : []), `dev-approver:${approverKey}`].join(','),
    DBACCESS_CODEC_KEYS: codecKeys,
    DECISION_LINK_KEY: decisionLinkKey,
    CODEC_CORS_ORIGINS: HOST === '127.0.0.1' ? `${uiOrigin},http://localhost:${PORTS.temporalUi}` : uiOrigin,
    CODEC_ALLOW_UNAUTHENTICATED: loopback ? 'true' : 'false',
  };
  if (!loopback) say(`DEV_HOST ${HOST} is not a loopback address: the Temporal UI will show grant payloads encrypted (the codec endpoint needs an API key there)`);

  say('starting the Temporal dev server');
  start('temporal', tools.temporal, [
    'server', 'start-dev',
    '--ip', HOST,
    '--port', String(PORTS.temporal),
    '--ui-port', String(PORTS.temporalUi),
    '--ui-codec-endpoint', codecEndpoint,
    '--db-filename', join(DEV, 'temporal.db'),
    '--namespace', 'default',
    '--log-level', 'warn',
    // By default the dev server polls its history task queues 20 times a second, which
    // delays every workflow and timer task after a burst. Same values as test/support/temporal.ts.
    ...['history.transferProcessorMaxPollRPS=10000', 'history.timerProcessorMaxPollRPS=10000', 'history.visibilityProcessorMaxPollRPS=10000'].flatMap((v) => ['--dynamic-config-value', v]),
    // Its one shard writing 8 at a time, its database file written ahead, a commit waiting for no disk flush (decision 0705).
    '--dynamic-config-value', 'history.shardIOConcurrency=8',
    ...['journal_mode=wal', 'synchronous=normal'].flatMap((v) => ['--sqlite-pragma', v]),
    ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
  ]);
  say('starting the AWS emulator');
  start('aws', tools.motoServer, ['-H', HOST, '-p', String(PORTS.aws)], {}, { quiet: true });
  say('starting the SMTP catcher');
  // Any or no AUTH, no TLS: the service can point at it with or without SMTP credentials.
  start('mail', join(ROOT, 'node_modules', '.bin', 'maildev'), [
    '--ip', HOST,
    '--smtp', String(PORTS.smtp),
    '--web-ip', HOST,
    '--web', String(PORTS.inbox),
    '--mail-directory', join(DEV, 'mail'),
    '--max-emails', '500',
  ]);

  await waitFor('the AWS emulator', httpOk(`http://${HOST}:${PORTS.aws}/moto-api/`));
  await waitFor('the Temporal Web UI', httpOk(`http://${HOST}:${PORTS.temporalUi}/`));
  await waitFor('the SMTP catcher', httpOk(`http://${HOST}:${PORTS.inbox}/api/healthz`));

  say('seeding the emulator and the database');
  await new Promise((resolve) => {
    const seed = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'scripts', 'seed.ts')], {
      cwd: ROOT,
      env: {
        ...env,
        ...appEnv,
        SEED_MYSQL_URL: MYSQL_URL,
        SEED_ADMIN_ACCOUNT: DEMO.adminAccount,
        SEED_POSTGRES_URL: POSTGRES_URL,
        SEED_POSTGRES_DATABASE: POSTGRES.pg.database,
        SEED_POSTGRES_ADMIN_ROLE: POSTGRES.pg.adminRole,
      },
      stdio: 'inherit',
    });
    const servers = `MariaDB/MySQL at ${shownUrl(MYSQL_URL)} (DEV_MYSQL_URL)${withPg ? ` and PostgreSQL at ${shownUrl(POSTGRES_URL)} (DEV_POSTGRES_URL)` : ''}`;
    seed.on('exit', (code) => (code === 0 ? resolve() : fail(`seeding failed (exit code ${code}); are ${servers} running?`)));
  });

  say('starting the worker and the API');
  const tsx = join(ROOT, 'node_modules', '.bin', 'tsx');
  start('worker', tsx, [join(ROOT, 'src', 'worker', 'index.ts')], appEnv);
  start('api', tsx, [join(ROOT, 'src', 'api', 'server.ts')], appEnv);
  await waitFor('the API', httpOk(`http://${HOST}:${PORTS.api}/healthz`));

  const stack = {
    api: `http://${HOST}:${PORTS.api}`,
    temporalUi: `http://${HOST}:${PORTS.temporalUi}`,
    inbox: `http://${HOST}:${PORTS.inbox}`,
    inboxApi: `http://${HOST}:${PORTS.inbox}/api/email`,
    project: DEMO.project,
    databases: [...Object.keys(DEMO.databases), ...(withPg ? [POSTGRES.pg.key] : [])],
    ...(withPg ? { postgres: { url: shownUrl(POSTGRES_URL), database: POSTGRES.pg.database, schema: POSTGRES.pg.schema } } : {}),
    emailDomain: DEMO.emailDomain,
    temporal: `${HOST}:${PORTS.temporal}`,
    aws: appEnv.AWS_ENDPOINT_URL,
    smtp: `${HOST}:${PORTS.smtp}`,
    config: configPath,
    apiKeyFile: keyPath,
    approverKeyFile: approverKeyPath,
    requesterKeyFile: requesterKeyPath,
    codecEndpoint,
    codecKeyFile: codecKeyPath,
  };
  writeFileSync(join(DEV, 'stack.json'), `${JSON.stringify(stack, null, 2)}\n`);

  const expires = new Date(Date.now() + 7 * 24 * 3600_000).toISOString().slice(0, 10);
  const pgTour = withPg ? POSTGRES.tour({ api: stack.api, keyPath, emailDomain: DEMO.emailDomain }) : '';
  process.stdout.write(`
  dbaccess is up.

    API           ${stack.api}        (keys: admin ${keyPath}, requester ${requesterKeyPath}, approver ${approverKeyPath})
    Temporal UI   ${stack.temporalUi}   (grants: filter by DbAccessGrantee)
    Mail inbox    ${stack.inbox}   (JSON: ${stack.inboxApi})
    Temporal      ${stack.temporal}     AWS emulator ${stack.aws}   SMTP ${stack.smtp}
    State         ${DEV} (dbaccess.yaml, stack.json, api-key, requester-key, approver-key, codec-key, *.log)
    Payloads      encrypted (key in ${codecKeyPath}); the Temporal UI decrypts them through ${codecEndpoint}

  Try:
    curl -s -X POST ${stack.api}/grants \\
      -H "Authorization: Bearer $(cat ${keyPath})" -H 'Content-Type: application/json' \\
      -d '{"email":"john.doe@${DEMO.emailDomain}","name":"John Doe","project":"${DEMO.project}","database":"dev_project","accessLevel":"READ_WRITE","expiresAt":"${expires}"}'

  ADMIN on prod_project needs approval: ask with the requester's key, then approve with the approver's:
    curl -s -X POST ${stack.api}/grants \\
      -H "Authorization: Bearer $(cat ${requesterKeyPath})" -H 'Content-Type: application/json' \\
      -d '{"email":"john.doe@${DEMO.emailDomain}","name":"John Doe","project":"${DEMO.project}","database":"prod_project","accessLevel":"ADMIN","duration":"8h"}'
    curl -s -X POST ${stack.api}/grants/grant%2F${DEMO.project}%2Fprod_project%2Fjohn.doe%40${DEMO.emailDomain}/approve \\
      -H "Authorization: Bearer $(cat ${approverKeyPath})"

  Break the glass (the admin key may): ADMIN on prod_project at once, without approval, for 1h at most;
  the administrators and the owner get an alert, the approver a review (Acknowledge / Flag) in the inbox:
    curl -s -X POST ${stack.api}/grants \\
      -H "Authorization: Bearer $(cat ${keyPath})" -H 'Content-Type: application/json' \\
      -d '{"email":"jane.roe@${DEMO.emailDomain}","name":"Jane Roe","project":"${DEMO.project}","database":"prod_project","accessLevel":"ADMIN","breakGlass":true,"reason":"incident: orders table locked"}'
${pgTour}
  Ctrl-C stops everything.

`);
}

main().catch((err) => fail(err.message));
