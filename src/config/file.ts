import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import YAML from 'yaml';
import {
  ACCESS_LEVEL_NAME,
  DATABASE_KEY,
  DEFAULT_ACCESS_LEVELS,
  HOST_PATTERN,
  PROJECT_KEY,
  SCHEMA_NAME,
  SECRET_ID,
  SECRET_NAME,
  checkEmail,
  isSafeText,
  normalizePrivileges,
  parseDuration,
  type LevelTable,
  type Person,
  type Privilege,
  type ReconcilerMode,
  RECONCILER_MODES,
} from '../domain';
import { ConfigError } from './errors';

// The configuration file: access levels, allowed e-mail domains, administrators,
// and per project its owner and databases. It keeps the spirit of the input file
// of the scripts this service replaces, and reads that file's keys too
// (`access_level`, `data.owner_name`, `tools.database`) so a team can start from it.

export interface DatabaseConfig {
  key: string;
  schema: string;
  adminSecretId: string;
  hostPattern: string;
  maxUserConnections: number;
  maxDurationMs: number;
  accessLevels?: Record<string, Privilege[]>;
  /** `true`: every grant here needs approval; a list: grants at these levels do. */
  requireApproval?: true | string[];
}

export interface ProjectConfig {
  key: string;
  owner: Person;
  accessLevels?: Record<string, Privilege[]>;
  databases: Record<string, DatabaseConfig>;
}

export const ROLES = ['admin', 'requester', 'approver', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

/** Who an API key belongs to and what it may do; the key itself is in DBACCESS_API_KEYS. */
export interface ApiClient {
  name: string;
  role: Role;
  /** Projects a requester may ask for, or an approver decide on; `*` for all. */
  projects: '*' | string[];
  /** A person behind the key: approvers are e-mailed here, and may not approve a grant for this address. */
  email?: string;
}

export interface ApprovalSettings {
  /** A request without a decision within this time is DENIED. */
  timeoutMs: number;
  /** Levels that need approval on every database. */
  levels: string[];
}

export interface FileConfig {
  secretPrefix: string;
  allowedEmailDomains: string[];
  administrators: Person[];
  accessLevels: Record<string, Privilege[]>;
  projects: Record<string, ProjectConfig>;
  /** API callers by key name. */
  apiClients: Record<string, ApiClient>;
  approval: ApprovalSettings;
  /** When to remind grantees before their expiry: offsets in ms, longest first; empty for none. */
  reminders: number[];
  /**
   * How long before an expiry its revocation is handed to a worker, which drops
   * the account at the exact instant without waiting for Temporal (ms; 0: off).
   */
  revocationLeadMs: number;
  reconciler: ReconcilerSettings;
}

/** The reconciler's Temporal Schedule: how often it runs and whether it changes anything. */
export interface ReconcilerSettings {
  intervalMs: number;
  /** `revoke` drops orphans and repairs drift; `report` only reports both. */
  mode: ReconcilerMode;
}

export const FILE_DEFAULTS = {
  secretPrefix: 'dbaccess',
  hostPattern: '%',
  maxUserConnections: 5,
  maxDuration: '90d',
  approvalTimeout: '24h',
  reconcilerInterval: '1h',
  reconcilerMode: 'revoke',
  reminders: ['3d', '1d'],
  revocationLead: '1m',
} as const;

/** Names of API keys: what DBACCESS_API_KEYS pairs with a key, and audit trails record as the actor. */
export const API_CLIENT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;

type Raw = Record<string, unknown>;

const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

class Reader {
  readonly problems: string[] = [];

  fail(path: string, why: string): undefined {
    this.problems.push(`${path}: ${why}`);
    return undefined;
  }

  string(obj: Raw, key: string, path: string, opts: { pattern?: RegExp; rule?: string; fallback?: string } = {}): string | undefined {
    const value = obj[key] ?? opts.fallback;
    if (value === undefined) return this.fail(`${path}.${key}`, 'is required');
    if (typeof value !== 'string' || value.trim() === '') return this.fail(`${path}.${key}`, 'must be a non-empty string');
    if (!isSafeText(value)) return this.fail(`${path}.${key}`, 'must not contain control or invisible characters');
    if (opts.pattern && !opts.pattern.test(value)) return this.fail(`${path}.${key}`, `must ${opts.rule ?? `match ${opts.pattern}`}`);
    return value;
  }

  integer(obj: Raw, key: string, path: string, fallback: number, min: number, max: number): number | undefined {
    const value = obj[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      return this.fail(`${path}.${key}`, `must be an integer from ${min} to ${max}`);
    }
    return value;
  }

  duration(obj: Raw, key: string, path: string, fallback: string): number | undefined {
    const value = obj[key] ?? fallback;
    const ms = typeof value === 'string' ? parseDuration(value) : undefined;
    if (ms === undefined) return this.fail(`${path}.${key}`, 'must be a duration such as 90d, 12h or 1d12h');
    return ms;
  }

  /** A {name, email} pair read from `obj[nameKey]` and `obj[emailKey]`. */
  person(obj: Raw, path: string, nameKey = 'name', emailKey = 'email'): Person | undefined {
    const n = this.string(obj, nameKey, path);
    const e = this.string(obj, emailKey, path);
    if (e && checkEmail(e)) return this.fail(`${path}.${emailKey}`, checkEmail(e)!);
    return n && e ? { name: n, email: e.toLowerCase() } : undefined;
  }

  levels(value: unknown, path: string): Record<string, Privilege[]> | undefined {
    if (value === undefined) return undefined;
    if (!isObject(value)) return this.fail(path, 'must map level names to lists of privileges');
    if (Object.keys(value).length === 0) return this.fail(path, 'must define at least one level');
    const out: Record<string, Privilege[]> = {};
    for (const [name, list] of Object.entries(value)) {
      if (!ACCESS_LEVEL_NAME.test(name)) {
        this.fail(`${path}.${name}`, 'level names are upper-case letters, digits and _ (READ, READ_WRITE)');
        continue;
      }
      if (!Array.isArray(list) || !list.every((p) => typeof p === 'string')) {
        this.fail(`${path}.${name}`, 'must be a list of privileges');
        continue;
      }
      try {
        out[name] = normalizePrivileges(list as string[]);
      } catch (err) {
        this.fail(`${path}.${name}`, (err as Error).message);
      }
    }
    return out;
  }
}

/** Accepts the input-file keys of the scripts this service replaces. */
function fromLegacy(raw: Raw): Raw {
  const out: Raw = { ...raw };
  if (out.accessLevels === undefined && out.access_level !== undefined) out.accessLevels = out.access_level;
  delete out.access_level;
  delete out.awsCredentials;
  if (isObject(out.projects)) {
    const projects: Raw = {};
    for (const [key, p] of Object.entries(out.projects)) {
      if (!isObject(p)) {
        projects[key] = p;
        continue;
      }
      const project: Raw = { ...p };
      const data = isObject(p.data) ? p.data : undefined;
      if (data) {
        project.ownerName ??= data.owner_name;
        project.ownerEmail ??= data.owner_email;
        delete project.data;
      }
      project.accessLevels ??= project.permissions;
      delete project.permissions;
      const tools = isObject(p.tools) && isObject(p.tools.database) ? p.tools.database : undefined;
      if (tools && project.databases === undefined) {
        project.databases = Object.fromEntries(Object.entries(tools).map(([db, secret]) => [db, { adminSecretId: secret }]));
      }
      delete project.tools;
      projects[key] = project;
    }
    out.projects = projects;
  }
  return out;
}

const KNOWN_TOP = new Set(['secretPrefix', 'allowedEmailDomains', 'administrators', 'accessLevels', 'defaults', 'projects', 'apiClients', 'approval', 'reconciler', 'reminders', 'revocationLead']);
const KNOWN_PROJECT = new Set(['ownerName', 'ownerEmail', 'accessLevels', 'databases']);
const KNOWN_DATABASE = new Set(['schema', 'adminSecretId', 'hostPattern', 'maxUserConnections', 'maxDuration', 'accessLevels', 'requireApproval']);

function unknownKeys(r: Reader, obj: Raw, known: Set<string>, path: string): void {
  for (const key of Object.keys(obj)) if (!known.has(key)) r.fail(`${path}.${key}`, 'is not a known setting');
}

/** Validates a parsed configuration document; throws ConfigError listing every problem. */
export function parseFileConfig(doc: unknown): FileConfig {
  const r = new Reader();
  if (!isObject(doc)) throw new ConfigError(['the configuration must be an object']);
  const raw = fromLegacy(doc);
  unknownKeys(r, raw, KNOWN_TOP, '$');

  const secretPrefix = r.string(raw, 'secretPrefix', '$', { fallback: FILE_DEFAULTS.secretPrefix, pattern: SECRET_NAME, rule: 'be a valid secret name prefix' })?.replace(/\/+$/, '');
  const accessLevels = r.levels(raw.accessLevels ?? DEFAULT_ACCESS_LEVELS, '$.accessLevels') ?? {};

  const domains: string[] = [];
  if (!Array.isArray(raw.allowedEmailDomains) || raw.allowedEmailDomains.length === 0) {
    r.fail('$.allowedEmailDomains', 'must list at least one e-mail domain');
  } else {
    raw.allowedEmailDomains.forEach((d, i) => {
      if (typeof d !== 'string' || !/^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/.test(d)) {
        r.fail(`$.allowedEmailDomains[${i}]`, 'must be a domain name such as example.com');
      } else domains.push(d.toLowerCase());
    });
  }

  const administrators: Person[] = [];
  if (!Array.isArray(raw.administrators) || raw.administrators.length === 0) {
    r.fail('$.administrators', 'must list at least one {name, email}: they are told when a grant fails or a revocation keeps failing');
  } else {
    raw.administrators.forEach((a, i) => {
      const p = isObject(a) ? r.person(a, `$.administrators[${i}]`) : r.fail(`$.administrators[${i}]`, 'must be {name, email}');
      if (p) administrators.push(p);
    });
  }

  // Defaults are checked once, where they are written; databases then inherit valid values.
  const rawDefaults = raw.defaults ?? {};
  if (!isObject(rawDefaults)) r.fail('$.defaults', 'must be an object');
  const defaultsObj = isObject(rawDefaults) ? rawDefaults : {};
  unknownKeys(r, defaultsObj, new Set(['hostPattern', 'maxUserConnections', 'maxDuration']), '$.defaults');
  const hostPatternDefault = r.string(defaultsObj, 'hostPattern', '$.defaults', { fallback: FILE_DEFAULTS.hostPattern, pattern: HOST_PATTERN, rule: 'be %, a host name or an address, optionally with % and _ wildcards' }) ?? FILE_DEFAULTS.hostPattern;
  const connectionsDefault = r.integer(defaultsObj, 'maxUserConnections', '$.defaults', FILE_DEFAULTS.maxUserConnections, 1, 10_000) ?? FILE_DEFAULTS.maxUserConnections;
  const durationDefault = isObject(rawDefaults) && typeof rawDefaults.maxDuration === 'string' && parseDuration(rawDefaults.maxDuration) !== undefined ? rawDefaults.maxDuration : FILE_DEFAULTS.maxDuration;
  r.duration(defaultsObj, 'maxDuration', '$.defaults', FILE_DEFAULTS.maxDuration);

  const projects: Record<string, ProjectConfig> = {};
  if (!isObject(raw.projects) || Object.keys(raw.projects).length === 0) {
    r.fail('$.projects', 'must define at least one project');
  } else {
    for (const [pkey, p] of Object.entries(raw.projects)) {
      const ppath = `$.projects.${pkey}`;
      if (!PROJECT_KEY.test(pkey)) {
        r.fail(ppath, 'project keys are lower-case letters, digits, _ and - (at most 63)');
        continue;
      }
      if (!isObject(p)) {
        r.fail(ppath, 'must be an object');
        continue;
      }
      unknownKeys(r, p, KNOWN_PROJECT, ppath);
      const owner = r.person(p, ppath, 'ownerName', 'ownerEmail');
      const pLevels = r.levels(p.accessLevels, `${ppath}.accessLevels`);
      const databases: Record<string, DatabaseConfig> = {};
      if (!isObject(p.databases) || Object.keys(p.databases).length === 0) {
        r.fail(`${ppath}.databases`, 'must define at least one database');
      } else {
        for (const [dkey, d] of Object.entries(p.databases)) {
          const dpath = `${ppath}.databases.${dkey}`;
          if (!DATABASE_KEY.test(dkey)) {
            r.fail(dpath, 'database keys are letters, digits, _ and - (at most 64)');
            continue;
          }
          if (!isObject(d)) {
            r.fail(dpath, 'must be an object');
            continue;
          }
          unknownKeys(r, d, KNOWN_DATABASE, dpath);
          const schema = r.string(d, 'schema', dpath, { fallback: dkey, pattern: SCHEMA_NAME, rule: 'be a plain schema name (letters, digits, _; at most 64)' });
          const adminSecretId = r.string(d, 'adminSecretId', dpath, { pattern: SECRET_ID, rule: 'be a Secrets Manager secret name or ARN' });
          const hostPattern = r.string(d, 'hostPattern', dpath, {
            fallback: hostPatternDefault,
            pattern: HOST_PATTERN,
            rule: 'be %, a host name or an address, optionally with % and _ wildcards',
          });
          const maxUserConnections = r.integer(d, 'maxUserConnections', dpath, connectionsDefault, 1, 10_000);
          const maxDurationMs = r.duration(d, 'maxDuration', dpath, durationDefault);
          const dLevels = r.levels(d.accessLevels, `${dpath}.accessLevels`);
          const requireApproval = readRequireApproval(r, d.requireApproval, `${dpath}.requireApproval`);
          if (schema && adminSecretId && hostPattern && maxUserConnections !== undefined && maxDurationMs !== undefined) {
            databases[dkey] = {
              key: dkey,
              schema,
              adminSecretId,
              hostPattern,
              maxUserConnections,
              maxDurationMs,
              ...(dLevels ? { accessLevels: dLevels } : {}),
              ...(requireApproval ? { requireApproval } : {}),
            };
          }
        }
      }
      if (owner) projects[pkey] = { key: pkey, owner, ...(pLevels ? { accessLevels: pLevels } : {}), databases };
    }
  }

  // The worker writes per-grant secrets under {secretPrefix}/: an admin secret
  // there could in principle be overwritten by a grant, so it must live elsewhere.
  if (secretPrefix) {
    for (const p of Object.values(projects)) {
      for (const d of Object.values(p.databases)) {
        if (d.adminSecretId.startsWith(`${secretPrefix}/`)) {
          r.fail(`$.projects.${p.key}.databases.${d.key}.adminSecretId`, `must not be under secretPrefix "${secretPrefix}/", where the service writes per-grant secrets`);
        }
      }
    }
  }

  const approval = readApproval(r, raw.approval);
  const reconciler = readReconciler(r, raw.reconciler);
  const reminders = readReminders(r, raw.reminders);
  const revocationLeadMs = readRevocationLead(r, raw.revocationLead);
  const apiClients = readApiClients(r, raw.apiClients, projects);

  // A database that needs approval must have someone who can give it.
  for (const p of Object.values(projects)) {
    for (const d of Object.values(p.databases)) {
      if (!d.requireApproval && approval.levels.length === 0) continue;
      const deciders = Object.values(apiClients).filter((c) => c.role === 'admin' || (c.role === 'approver' && (c.projects === '*' || c.projects.includes(p.key))));
      if (Object.keys(apiClients).length > 0 && deciders.length === 0) {
        r.fail(`$.projects.${p.key}.databases.${d.key}.requireApproval`, `no apiClient can approve grants of project ${p.key}: add an approver (role approver, projects [${p.key}]) or an admin`);
      }
    }
  }

  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return { secretPrefix: secretPrefix!, allowedEmailDomains: domains, administrators, accessLevels, projects, apiClients, approval, reconciler, reminders, revocationLeadMs };
}

function readReconciler(r: Reader, value: unknown): ReconcilerSettings {
  const fallback: ReconcilerSettings = { intervalMs: parseDuration(FILE_DEFAULTS.reconcilerInterval)!, mode: FILE_DEFAULTS.reconcilerMode };
  if (value === undefined) return fallback;
  if (!isObject(value)) {
    r.fail('$.reconciler', 'must be an object with interval and mode');
    return fallback;
  }
  unknownKeys(r, value, new Set(['interval', 'mode']), '$.reconciler');
  const intervalMs = r.duration(value, 'interval', '$.reconciler', FILE_DEFAULTS.reconcilerInterval) ?? fallback.intervalMs;
  if (intervalMs < 60_000 || intervalMs > 7 * 86_400_000) r.fail('$.reconciler.interval', 'must be from 1m to 7d');
  const mode = value.mode ?? FILE_DEFAULTS.reconcilerMode;
  if (typeof mode !== 'string' || !(RECONCILER_MODES as readonly string[]).includes(mode)) {
    r.fail('$.reconciler.mode', `must be one of ${RECONCILER_MODES.join(', ')}`);
    return { intervalMs, mode: fallback.mode };
  }
  return { intervalMs, mode: mode as ReconcilerMode };

}

/** `reminders: [3d, 1d]`: durations before the expiry; `[]` sends none. */
function readReminders(r: Reader, value: unknown): number[] {
  const list = value === undefined ? FILE_DEFAULTS.reminders : value;
  if (!Array.isArray(list)) {
    r.fail('$.reminders', 'must be a list of durations before the expiry, such as [3d, 1d] ([] for none)');
    return [];
  }
  const out = new Set<number>();
  list.forEach((v, i) => {
    const ms = typeof v === 'string' ? parseDuration(v) : undefined;
    if (ms === undefined) r.fail(`$.reminders[${i}]`, 'must be a duration such as 3d, 1d or 12h');
    else out.add(ms);
  });
  return [...out].sort((a, b) => b - a);
}

/** `revocationLead: 1m`: from 5s to 1h, or `off`. */
function readRevocationLead(r: Reader, value: unknown): number {
  const text = value === undefined ? FILE_DEFAULTS.revocationLead : value;
  if (text === 'off' || text === '0s' || text === 0) return 0;
  const ms = typeof text === 'string' ? parseDuration(text) : undefined;
  if (ms === undefined || ms < 5000 || ms > 3600_000) {
    r.fail('$.revocationLead', 'must be a duration from 5s to 1h, such as 1m, or off');
    return parseDuration(FILE_DEFAULTS.revocationLead)!;
  }
  return ms;
}

function readRequireApproval(r: Reader, value: unknown, path: string): true | string[] | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return true;
  if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string' && ACCESS_LEVEL_NAME.test(v))) return [...new Set(value as string[])];
  return r.fail(path, 'must be true (every grant), false, or a list of access levels such as [ADMIN]');
}

function readApproval(r: Reader, value: unknown): ApprovalSettings {
  const fallback: ApprovalSettings = { timeoutMs: parseDuration(FILE_DEFAULTS.approvalTimeout)!, levels: [] };
  if (value === undefined) return fallback;
  if (!isObject(value)) {
    r.fail('$.approval', 'must be an object with timeout and levels');
    return fallback;
  }
  unknownKeys(r, value, new Set(['timeout', 'levels']), '$.approval');
  const timeoutMs = r.duration(value, 'timeout', '$.approval', FILE_DEFAULTS.approvalTimeout) ?? fallback.timeoutMs;
  if (timeoutMs < 10_000 || timeoutMs > 30 * 86_400_000) r.fail('$.approval.timeout', 'must be from 10s to 30d');
  let levels: string[] = [];
  if (value.levels !== undefined) {
    if (!Array.isArray(value.levels) || !value.levels.every((v) => typeof v === 'string' && ACCESS_LEVEL_NAME.test(v))) {
      r.fail('$.approval.levels', 'must be a list of access levels such as [ADMIN]');
    } else levels = [...new Set(value.levels as string[])];
  }
  return { timeoutMs, levels };
}

function readApiClients(r: Reader, value: unknown, projects: Record<string, ProjectConfig>): Record<string, ApiClient> {
  const out: Record<string, ApiClient> = {};
  if (value === undefined) return out;
  if (!isObject(value)) {
    r.fail('$.apiClients', 'must map API key names to {role, projects, email}');
    return out;
  }
  for (const [name, c] of Object.entries(value)) {
    const path = `$.apiClients.${name}`;
    if (!API_CLIENT_NAME.test(name)) {
      r.fail(path, 'names are letters, digits, _ . @ - (at most 64), as in DBACCESS_API_KEYS');
      continue;
    }
    if (!isObject(c)) {
      r.fail(path, 'must be {role, projects, email}');
      continue;
    }
    unknownKeys(r, c, new Set(['role', 'projects', 'email']), path);
    const role = c.role;
    if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) {
      r.fail(`${path}.role`, `must be one of ${ROLES.join(', ')}`);
      continue;
    }
    let scope: '*' | string[] = '*';
    if (role === 'requester' || role === 'approver') {
      if (c.projects === '*') scope = '*';
      else if (Array.isArray(c.projects) && c.projects.length > 0 && c.projects.every((p) => typeof p === 'string')) {
        scope = [...new Set(c.projects as string[])];
        for (const p of scope) if (!own(projects, p)) r.fail(`${path}.projects`, `${p} is not a configured project`);
      } else {
        r.fail(`${path}.projects`, `a ${role} must list its projects (or "*" for all)`);
        continue;
      }
    } else if (c.projects !== undefined) {
      r.fail(`${path}.projects`, `an ${role} acts on every project; remove projects`);
    }
    let email: string | undefined;
    if (c.email !== undefined) {
      const problem = typeof c.email === 'string' ? checkEmail(c.email) : 'must be an e-mail address';
      if (problem) r.fail(`${path}.email`, problem);
      else email = (c.email as string).toLowerCase();
    }
    if (role === 'approver' && !email) r.fail(`${path}.email`, 'an approver needs an e-mail address: approval requests are sent there');
    out[name] = { name, role: role as Role, projects: scope, ...(email ? { email } : {}) };
  }
  return out;
}

/** Reads a YAML or JSON configuration file. */
export function loadFileConfig(path: string): FileConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`cannot read the configuration file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
  let doc: unknown;
  try {
    doc = extname(path) === '.json' ? JSON.parse(text) : YAML.parse(text);
  } catch (err) {
    throw new ConfigError([`${path} is not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message}`]);
  }
  if (doc === null || doc === undefined) throw new ConfigError([`${path} is empty`]);
  try {
    return parseFileConfig(doc);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(err.problems, path);
    throw err;
  }
}

/**
 * `map[key]` for a key that came from a request: own entries only, so that
 * `constructor` or `toString` finds nothing rather than a built-in.
 */
export function own<T>(map: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.prototype.hasOwnProperty.call(map, key) ? map[key] : undefined;
}

/** Level tables that apply to a database, most specific first. */
export function levelTables(config: FileConfig, project: ProjectConfig, database: DatabaseConfig): LevelTable[] {
  return [database.accessLevels, project.accessLevels, config.accessLevels].filter((t): t is Record<string, Privilege[]> => t !== undefined);
}

/** Why a grant at `level` on `database` needs approval; empty when it does not. */
export function approvalReasons(config: FileConfig, project: ProjectConfig, database: DatabaseConfig, level: string): string[] {
  const reasons: string[] = [];
  if (database.requireApproval === true) reasons.push(`every grant on ${project.key}/${database.key} needs approval`);
  else if (database.requireApproval?.includes(level)) reasons.push(`${level} on ${project.key}/${database.key} needs approval`);
  if (config.approval.levels.includes(level)) reasons.push(`every ${level} grant needs approval`);
  return reasons;
}

/** API clients that may approve or deny grants of a project. */
export function approversOf(config: FileConfig, project: string): ApiClient[] {
  return Object.values(config.apiClients).filter((c) => c.role === 'admin' || (c.role === 'approver' && (c.projects === '*' || c.projects.includes(project))));
}
