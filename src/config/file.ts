import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import Value from 'typebox/value';
import YAML from 'yaml';
import { DEFAULT_ENGINE, PRIVILEGE_CATALOGUES, parseDuration, type PrivilegeCatalogue, type EngineKey, type GrantTarget, type LevelTable, type Person, type Privilege, type ReconcilerMode } from '../domain';
import { ConfigError } from './errors';
import { FileSchema, revocationLeadMs, type RawFile, type Role } from './file-schema';
import { eventStreamProblems, eventStreamSettings, type EventStreamSettings } from './event-stream';
export type { EventEndpointConfig, EventStreamSettings } from './event-stream';
import { displayPath, schemaProblems, withoutNullSettings, type Problem } from './schema-problems';

// The configuration file: access levels, allowed e-mail domains, administrators,
// and per project its owner and databases. Its keys, docs and defaults are the
// schema in file-schema.ts; here it is read, checked against the schema and the
// rules across keys, and turned into the typed settings the service uses. It keeps
// the spirit of the input file of the scripts this service replaces, and reads
// that file's keys too (`access_level`, `data.owner_name`, `tools.database`) so a
// team can start from it.

export { API_CLIENT_NAME, FileSchema, ROLES, type Role } from './file-schema';

export interface DatabaseConfig {
  key: string;
  /** Engine key as the file sets it; absent: MySQL (DEFAULT_ENGINE). */
  engine?: EngineKey;
  schema: string;
  adminSecretId: string;
  hostPattern: string;
  maxUserConnections: number;
  maxDurationMs: number;
  accessLevels?: Record<string, Privilege[]>;
  /** `true`: every grant here needs approval; a list: grants at these levels do. */
  requireApproval?: true | string[];
  /** Standing grants are allowed here (a request with no end), reviewed every `reviewMs`. */
  standing?: StandingSettings;
}

/** A database's standing grants: how often they are reviewed, how long before the deadline the review is asked. */
export interface StandingSettings {
  reviewMs: number;
  decideWithinMs: number;
}

/** decideWithin when the file does not set it: 7d, or half of the review period when that is shorter. */
export function defaultDecideWithinMs(reviewMs: number): number {
  return Math.min(7 * 86_400_000, Math.floor(reviewMs / 2));
}

export interface ProjectConfig {
  key: string;
  owner: Person;
  accessLevels?: Record<string, Privilege[]>;
  databases: Record<string, DatabaseConfig>;
}

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
  /** Where audit events are delivered as they happen (none when empty). */
  eventStream: EventStreamSettings;
  breakGlass: BreakGlassSettings;
}

/** Break-glass access (docs/decisions/0110-break-glass.md). */
export interface BreakGlassSettings {
  /** API clients allowed to break the glass (none when empty). */
  clients: string[];
  /** The cap of a break-glass grant (and its length when the request gives none). */
  maxDurationMs: number;
  /** The review is due this long after access was granted. */
  reviewWithinMs: number;
}

/** The reconciler's Temporal Schedule: how often it runs and whether it changes anything. */
export interface ReconcilerSettings {
  intervalMs: number;
  /** `revoke` drops orphans and repairs drift; `report` only reports both. */
  mode: ReconcilerMode;
}

/** What a file that sets nothing optional gets: the schema's defaults. */
type Defaulted = RawFile & Required<Pick<RawFile, 'secretPrefix' | 'accessLevels' | 'defaults' | 'apiClients' | 'approval' | 'reconciler' | 'reminders' | 'revocationLead' | 'eventStream' | 'breakGlass'>>;
const DEFAULTED = Value.Default(FileSchema, {}) as Defaulted;

export const FILE_DEFAULTS = {
  secretPrefix: DEFAULTED.secretPrefix,
  hostPattern: DEFAULTED.defaults.hostPattern!,
  maxUserConnections: DEFAULTED.defaults.maxUserConnections!,
  maxDuration: DEFAULTED.defaults.maxDuration!,
  approvalTimeout: DEFAULTED.approval.timeout!,
  reconcilerInterval: DEFAULTED.reconciler.interval!,
  reconcilerMode: DEFAULTED.reconciler.mode!,
  reminders: DEFAULTED.reminders,
  revocationLead: DEFAULTED.revocationLead,
};

type Raw = Record<string, unknown>;

const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);
const entries = (v: unknown): [string, unknown][] => (isObject(v) ? Object.entries(v) : []);

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
        if (data.owner_name !== undefined) project.ownerName ??= data.owner_name;
        if (data.owner_email !== undefined) project.ownerEmail ??= data.owner_email;
        delete project.data;
      }
      if (project.permissions !== undefined) project.accessLevels ??= project.permissions;
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

/** Validates a parsed configuration document; throws ConfigError listing every problem. */
export function parseFileConfig(doc: unknown): FileConfig {
  if (!isObject(doc)) throw new ConfigError(['the configuration must be an object']);
  const raw = Value.Default(FileSchema, fromLegacy(withoutNullSettings(FileSchema, structuredClone(doc)) as Raw)) as Raw;
  const problems = schemaProblems(FileSchema, raw);
  problems.push(...ruleProblems(raw, problems));
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `${displayPath(p.path)}: ${p.reason}`));
  return settings(raw as Defaulted);
}

/** The rules across keys, checked where the schema found the keys they read valid. */
function ruleProblems(raw: Raw, found: readonly Problem[]): Problem[] {
  const out: Problem[] = [];
  const fail = (path: (string | number)[], reason: string) => out.push({ path, reason });
  // Valid so far: no problem at `path` or at a key that holds it.
  const ok = (...path: string[]) => !found.some((p) => p.path.length <= path.length && p.path.every((s, i) => s === path[i]));
  const databases = entries(raw.projects).flatMap(([project, p]) =>
    ok('projects', project) && isObject(p) ? entries(p.databases).flatMap(([database, d]) => (ok('projects', project, 'databases', database) && isObject(d) ? [{ project, database, d }] : [])) : [],
  );

  // The worker writes per-grant secrets under {secretPrefix}/: an admin secret
  // there could be overwritten by a grant, so it must live elsewhere.
  if (ok('secretPrefix')) {
    const prefix = String(raw.secretPrefix).replace(/\/+$/, '');
    for (const { project, database, d } of databases) {
      if (ok('projects', project, 'databases', database, 'adminSecretId') && String(d.adminSecretId).startsWith(`${prefix}/`)) {
        fail(['projects', project, 'databases', database, 'adminSecretId'], `must not be under secretPrefix "${prefix}/", where the service writes per-grant secrets`);
      }
    }
  }

  out.push(...engineProblems(raw, databases, ok));
  out.push(...eventStreamProblems(raw, ok));

  const clients: ApiClient[] = [];
  for (const [name, c] of entries(raw.apiClients)) {
    if (!ok('apiClients', name) || !isObject(c) || !ok('apiClients', name, 'role')) continue;
    const role = c.role as Role;
    const path = ['apiClients', name];
    if (role === 'requester' || role === 'approver') {
      if (c.projects === undefined) {
        fail([...path, 'projects'], `${role === 'approver' ? 'an' : 'a'} ${role} must list its projects (or "*" for all)`);
        continue;
      }
      if (Array.isArray(c.projects) && ok(...path, 'projects') && ok('projects')) {
        for (const p of new Set(c.projects as string[])) if (!own(raw.projects as Raw, p)) fail([...path, 'projects'], `${p} is not a configured project`);
      }
    } else if (c.projects !== undefined) {
      fail([...path, 'projects'], `an ${role} acts on every project; remove projects`);
    }
    if (role === 'approver' && c.email === undefined) fail([...path, 'email'], 'an approver needs an e-mail address: approval requests are sent there');
    clients.push({ name, role, projects: Array.isArray(c.projects) ? (c.projects as string[]) : '*' });
  }

  // Who may break the glass must be a configured API client.
  const breakGlass = isObject(raw.breakGlass) ? raw.breakGlass : {};
  if (Array.isArray(breakGlass.clients) && ok('breakGlass', 'clients') && ok('apiClients')) {
    for (const name of new Set(breakGlass.clients as string[])) if (!own((raw.apiClients ?? {}) as Raw, name)) fail(['breakGlass', 'clients'], `${name} is not a configured apiClient`);
  }

  // A review is asked before its deadline, inside the period it reviews.
  for (const { project, database, d } of databases) {
    const path = ['projects', project, 'databases', database, 'standing'];
    if (!isObject(d.standing) || !ok(...path) || typeof d.standing.decideWithin !== 'string') continue;
    const review = parseDuration(String(d.standing.review));
    const within = parseDuration(d.standing.decideWithin);
    if (review !== undefined && within !== undefined && within >= review) fail([...path, 'decideWithin'], `must be shorter than review (${String(d.standing.review)})`);
  }

  // A database that needs approval must have someone who can give it.
  const approvalLevels = isObject(raw.approval) && Array.isArray(raw.approval.levels) ? raw.approval.levels : [];
  if (clients.length > 0) {
    for (const { project, database, d } of databases) {
      if (!d.requireApproval && approvalLevels.length === 0) continue;
      if (!clients.some((c) => mayDecide(c, project))) {
        fail(['projects', project, 'databases', database, 'requireApproval'], `no apiClient can approve grants of project ${project}: add an approver (role approver, projects [${project}]) or an admin`);
      }
    }
  }
  return out;
}

/** Privilege catalogues by engine key (the domain's; a test may pass others). */
type Catalogues = Readonly<Record<string, PrivilegeCatalogue>>;

/**
 * Engines and privileges: one admin secret is one server, so every database of it
 * names the same engine; and every level a database can be granted (its own table's,
 * its project's, the top-level one, most specific first) lists only privileges its
 * engine accepts. A problem is reported at the table that defines the level.
 */
export function engineProblems(
  raw: Raw,
  databases: { project: string; database: string; d: Raw }[],
  ok: (...path: string[]) => boolean,
  catalogues: Catalogues = PRIVILEGE_CATALOGUES,
): Problem[] {
  const out: Problem[] = [];
  // The default when a database names no engine, or one the schema refuses.
  const engineOfEntry = (d: Raw): string => (typeof d.engine === 'string' && Object.prototype.hasOwnProperty.call(catalogues, d.engine) ? d.engine : DEFAULT_ENGINE);
  const bySecret = new Map<string, { engine: string; where: string }>();
  for (const { project, database, d } of databases) {
    if (!ok('projects', project, 'databases', database, 'engine') || !ok('projects', project, 'databases', database, 'adminSecretId')) continue;
    const engine = engineOfEntry(d);
    const seen = bySecret.get(String(d.adminSecretId));
    if (!seen) bySecret.set(String(d.adminSecretId), { engine, where: `${project}/${database}` });
    else if (seen.engine !== engine) {
      out.push({ path: ['projects', project, 'databases', database, 'engine'], reason: `is ${engine}, but ${seen.where} names the same adminSecretId with engine ${seen.engine}: one admin secret is one server` });
    }
  }
  const reported = new Set<string>();
  for (const { project, database, d } of databases) {
    if (!ok('projects', project, 'databases', database, 'engine')) continue;
    const catalogue = catalogues[engineOfEntry(d)]!;
    const p = isObject(raw.projects) && isObject(raw.projects[project]) ? (raw.projects[project] as Raw) : {};
    const tables: [string[], unknown][] = [
      [['projects', project, 'databases', database, 'accessLevels'], d.accessLevels],
      [['projects', project, 'accessLevels'], p.accessLevels],
      [['accessLevels'], raw.accessLevels],
    ];
    const levelsSeen = new Set<string>();
    for (const [path, table] of tables) {
      if (!ok(...path)) continue;
      for (const [level, list] of entries(table)) {
        if (levelsSeen.has(level)) continue;
        levelsSeen.add(level);
        if (!ok(...path, level) || !Array.isArray(list)) continue;
        try {
          catalogue.normalize(list as string[]);
        } catch (err) {
          const key = [...path, level].join('\u0000');
          if (reported.has(key)) continue;
          reported.add(key);
          out.push({ path: [...path, level], reason: `${(err as Error).message} (for ${project}/${database}, engine ${catalogue.engine})` });
        }
      }
    }
  }
  return out;
}

/** A level table in the canonical form of the engines it applies to (the default engine's when it applies to several that accept it). */
function levels(table: Record<string, string[]>, engines: ReadonlySet<EngineKey>): Record<string, Privilege[]> {
  const order = [...engines].sort((a, b) => Number(b === DEFAULT_ENGINE) - Number(a === DEFAULT_ENGINE));
  const normalize = (list: string[]): string[] => {
    for (const engine of order) {
      try {
        return PRIVILEGE_CATALOGUES[engine].normalize(list);
      } catch {
        // Another engine's name: the rules across keys report a level an engine of its databases refuses.
      }
    }
    return PRIVILEGE_CATALOGUES[DEFAULT_ENGINE].normalize(list);
  };
  return Object.fromEntries(Object.entries(table).map(([name, list]) => [name, normalize(list) as Privilege[]]));
}
const durationMs = (text: string): number => parseDuration(text)!;

function standingOf(raw: { review: string; decideWithin?: string }): StandingSettings {
  const reviewMs = durationMs(raw.review);
  return { reviewMs, decideWithinMs: raw.decideWithin !== undefined ? durationMs(raw.decideWithin) : defaultDecideWithinMs(reviewMs) };
}

/** The typed settings of a valid document. */
function settings(raw: Defaulted): FileConfig {
  const defaults = raw.defaults;
  const projects: Record<string, ProjectConfig> = {};
  const engineOf = (d: { engine?: EngineKey }): EngineKey => d.engine ?? DEFAULT_ENGINE;
  const everyEngine = new Set(Object.values(raw.projects).flatMap((p) => Object.values(p.databases).map(engineOf)));
  for (const [key, p] of Object.entries(raw.projects)) {
    const databases: Record<string, DatabaseConfig> = {};
    for (const [dkey, d] of Object.entries(p.databases)) {
      databases[dkey] = {
        key: dkey,
        ...(d.engine ? { engine: d.engine } : {}),
        schema: d.schema ?? dkey,
        adminSecretId: d.adminSecretId,
        hostPattern: d.hostPattern ?? defaults.hostPattern!,
        maxUserConnections: d.maxUserConnections ?? defaults.maxUserConnections!,
        maxDurationMs: durationMs(d.maxDuration ?? defaults.maxDuration!),
        ...(d.accessLevels ? { accessLevels: levels(d.accessLevels, new Set([engineOf(d)])) } : {}),
        ...(d.requireApproval === true ? { requireApproval: true as const } : Array.isArray(d.requireApproval) ? { requireApproval: [...new Set(d.requireApproval)] } : {}),
        ...(d.standing ? { standing: standingOf(d.standing) } : {}),
      };
    }
    projects[key] = { key, owner: { name: p.ownerName, email: p.ownerEmail.toLowerCase() }, ...(p.accessLevels ? { accessLevels: levels(p.accessLevels, new Set(Object.values(p.databases).map(engineOf))) } : {}), databases };
  }
  const apiClients: Record<string, ApiClient> = {};
  for (const [name, c] of Object.entries(raw.apiClients)) {
    const scoped = c.role === 'requester' || c.role === 'approver';
    apiClients[name] = { name, role: c.role, projects: scoped && Array.isArray(c.projects) ? [...new Set(c.projects)] : '*', ...(c.email ? { email: c.email.toLowerCase() } : {}) };
  }
  return {
    secretPrefix: raw.secretPrefix.replace(/\/+$/, ''),
    allowedEmailDomains: raw.allowedEmailDomains.map((d) => d.toLowerCase()),
    administrators: raw.administrators.map((a) => ({ name: a.name, email: a.email.toLowerCase() })),
    accessLevels: levels(raw.accessLevels, everyEngine),
    projects,
    apiClients,
    approval: { timeoutMs: durationMs(raw.approval.timeout!), levels: [...new Set(raw.approval.levels)] },
    reconciler: { intervalMs: durationMs(raw.reconciler.interval!), mode: raw.reconciler.mode! },
    eventStream: eventStreamSettings(raw.eventStream),
    breakGlass: { clients: [...new Set(raw.breakGlass.clients ?? [])], maxDurationMs: durationMs(raw.breakGlass.maxDuration!), reviewWithinMs: durationMs(raw.breakGlass.reviewWithin!) },
    reminders: [...new Set(raw.reminders.map(durationMs))].sort((a, b) => b - a),
    revocationLeadMs: revocationLeadMs(raw.revocationLead)!,
  };
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

const mayDecide = (c: Pick<ApiClient, 'role' | 'projects'>, project: string) => c.role === 'admin' || (c.role === 'approver' && (c.projects === '*' || c.projects.includes(project)));

/** API clients that may approve or deny grants of a project. */
export function approversOf(config: FileConfig, project: string): ApiClient[] {
  return Object.values(config.apiClients).filter((c) => mayDecide(c, project));
}

/** Where a grant on `database` lives: what the workflow's input carries (`engine` only when the file names one; absent is MySQL). */
export function grantTargetOf(database: DatabaseConfig): GrantTarget {
  return {
    schema: database.schema,
    adminSecretId: database.adminSecretId,
    hostPattern: database.hostPattern,
    maxUserConnections: database.maxUserConnections,
    ...(database.engine ? { engine: database.engine } : {}),
  };
}

/** Engine key of each admin secret of the configuration (one secret is one server, of one engine). */
export function enginesBySecret(config: FileConfig): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of Object.values(config.projects)) for (const d of Object.values(p.databases)) out.set(d.adminSecretId, d.engine ?? DEFAULT_ENGINE);
  return out;
}
