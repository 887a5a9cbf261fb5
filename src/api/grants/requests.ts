import { approvalReasons, approversOf, grantTargetOf, levelTables, own, type ApiClient, type DatabaseConfig, type ProjectConfig } from '../../config';
import { ACCESS_LEVEL_NAME, DATABASE_KEY, PROJECT_KEY, checkEmail, grantIdFor, grantSecretName, isAllowedDomain, isSafeText, levelNames, normalizeEmail, parseDuration, resolveExpiry, resolveLevel, formatDuration, type ApprovalRequirement, type GrantRequest, type Person, type StandingRequest } from '../../domain';
import { deriveAccountName } from '../../domain/naming';
import { HttpError, badRequest, notFound } from '../errors';
import { GrantReader, type NewGrant } from './reader';

// A request for a grant checked against the configuration and the caller's rights,
// and turned into the grant workflow's input: the rules POST /grants, the batch
// route and GrantService.create share.

/** A display name: letters (any script), digits, spaces and . , ' ( ) _ - only (the document's `name` pattern, schemas/fields.ts, is this with surrounding whitespace). */
export const PERSON_NAME = /^[\p{L}\p{M}\p{N}][\p{L}\p{M}\p{N} .,'()_-]*$/u;
/** `NA` (any case): the old scripts' "never expires"; here a standing grant where the database allows one. */
export function isNoEnd(expiresAt: string): boolean {
  return expiresAt.trim().toUpperCase() === 'NA';
}

/** Which databases of a project allow standing grants, for a refusal of `NA` elsewhere. */
export function standingDatabases(project: ProjectConfig): string {
  const allowing = Object.values(project.databases).filter((d) => d.standing);
  return allowing.length === 0
    ? `no database of project ${project.key} allows standing grants; give an end date, or ask an administrator to set standing.review on the database`
    : `databases of project ${project.key} that allow standing grants: ${allowing.map((d) => `${d.key} (reviewed every ${formatDuration(d.standing!.reviewMs)})`).join(', ')}`;
}

/** The shortest duration a request may ask for. */
const MIN_DURATION_MS = 60_000;

export class GrantRequests extends GrantReader {
  /** Checks a request against the configuration and the caller's rights, and builds the workflow's input. */
  prepare(input: NewGrant, client: ApiClient): GrantRequest {
    const actor = client.name;
    const { config } = this.options;
    const emailProblem = checkEmail(input.email);
    if (emailProblem) throw badRequest(`email: ${emailProblem}`);
    const email = normalizeEmail(input.email);
    const name = input.name.trim();
    if (!name || !isSafeText(name) || !PERSON_NAME.test(name)) {
      throw badRequest("name: must be a person's name (letters, digits, spaces and . , ' ( ) _ -)");
    }
    if (input.reason !== undefined && !isSafeText(input.reason)) throw badRequest('reason: must not contain control or invisible characters');
    if (!PROJECT_KEY.test(input.project)) throw badRequest('project: must be a project key (lower-case letters, digits, _ and -)');
    if (!DATABASE_KEY.test(input.database)) throw badRequest('database: must be a database key (letters, digits, _ and -)');
    if (!isAllowedDomain(email, config.allowedEmailDomains)) {
      throw new HttpError(403, 'domain_not_allowed', `email: the domain of ${email} is not allowed (allowed: ${config.allowedEmailDomains.join(', ')})`);
    }
    this.authorize(client, 'create', { project: input.project });
    const project = own(config.projects, input.project);
    if (!project) throw notFound('unknown_project', `project: ${input.project} is not a configured project`);
    const database = own(project.databases, input.database);
    if (!database) throw notFound('unknown_database', `database: ${input.database} is not a database of project ${input.project}`);
    const privileges = this.privilegesOf(input.accessLevel, project, database);
    const breakGlass = input.breakGlass === true ? this.breakGlassOf(input, client) : undefined;
    const { expiresAt, durationMs, standing } = breakGlass ? this.breakGlassExpiryOf(input, database, breakGlass.capMs) : this.expiryOf(input, database, project);
    // Break-glass: no approval gate, whatever the level or the database; reviewed after the fact instead.
    const reasons = breakGlass ? [] : approvalReasons(config, project, database, input.accessLevel);

    const account = deriveAccountName(email, project.key, database.key);
    const reason = input.reason?.trim();
    return {
      grantId: grantIdFor(project.key, database.key, email),
      email,
      name,
      project: project.key,
      database: database.key,
      accessLevel: input.accessLevel,
      privileges: [...privileges],
      expiresAt,
      ...(durationMs !== undefined ? { durationMs } : {}),
      ...(reasons.length > 0 ? { approval: this.approvalFor(project, reasons) } : {}),
      ...(reason ? { reason } : {}),
      requestedBy: actor,
      account,
      secretName: grantSecretName(config.secretPrefix, project.key, database.key, account),
      target: grantTargetOf(database),
      owner: project.owner,
      maxDurationMs: breakGlass ? Math.min(breakGlass.capMs, database.maxDurationMs) : database.maxDurationMs,
      ...(standing ? { standing } : {}),
      ...(breakGlass ? { breakGlass: { reviewWithinMs: config.breakGlass.reviewWithinMs, reviewers: this.reviewersOf(project) } } : {}),
      reminderOffsetsMs: [...config.reminders],
      ...(config.revocationLeadMs > 0 ? { revocationLeadMs: config.revocationLeadMs } : {}),
      ...(Object.keys(config.eventStream.endpoints).length > 0 ? { eventStream: { deliverForMs: config.eventStream.deliverForMs } } : {}),
    };
  }

  /** The expiry (or the duration and its estimated expiry) of a request. */
  protected expiryOf(input: NewGrant, database: DatabaseConfig, project: ProjectConfig): { expiresAt: string; durationMs?: number; standing?: StandingRequest } {
    if (input.expiresAt === undefined && input.duration === undefined) {
      throw badRequest('expiresAt: is required (an end date or timestamp), unless a duration such as 8h or 14d is given instead');
    }
    if (input.expiresAt !== undefined && input.duration !== undefined) throw badRequest('duration: give either expiresAt or duration, not both');
    if (input.expiresAt !== undefined && isNoEnd(input.expiresAt)) {
      // No end: a standing grant, reviewed; its expiry is the first review's deadline (maxDuration does not apply: the review bounds it).
      const settings = database.standing;
      if (!settings) throw badRequest(`expiresAt: NA (no end) is not allowed on ${project.key}/${database.key}; ${standingDatabases(project)}`);
      return { expiresAt: new Date(this.now().getTime() + settings.reviewMs).toISOString(), standing: { reviewMs: settings.reviewMs, decideWithinMs: settings.decideWithinMs, reviewers: this.reviewersOf(project) } };
    }
    if (input.expiresAt !== undefined) {
      const expiry = resolveExpiry(input.expiresAt, this.now(), database.maxDurationMs);
      if (!expiry.ok) throw badRequest(`expiresAt: ${expiry.reason}`);
      return { expiresAt: expiry.expiresAt.toISOString() };
    }
    const durationMs = parseDuration(input.duration!);
    if (durationMs === undefined) throw badRequest('duration: must be a duration such as 30m, 8h, 14d or 1d12h');
    if (durationMs < MIN_DURATION_MS) throw badRequest('duration: must be at least 1m');
    if (durationMs > database.maxDurationMs) throw badRequest(`duration: must be at most ${formatDuration(database.maxDurationMs)} on ${database.key}`);
    return { expiresAt: new Date(this.now().getTime() + durationMs).toISOString(), durationMs };
  }

  /** Whether the caller may break the glass (403 naming breakGlass) and has said why (400 naming reason); the cap. */
  protected breakGlassOf(input: NewGrant, client: ApiClient): { capMs: number } {
    const settings = this.options.config.breakGlass;
    if (!settings.clients.includes(client.name)) {
      throw new HttpError(403, 'break_glass_not_allowed', `breakGlass: ${client.name} may not break the glass (only the API clients listed in the configuration's breakGlass.clients may)`);
    }
    if (input.reason === undefined || input.reason.trim() === '') throw badRequest('reason: is required to break the glass: say why access is needed now, without approval');
    return { capMs: settings.maxDurationMs };
  }

  /** A break-glass grant's expiry: at most the cap (and the database's own maximum); without one, for the cap, counted from when access is granted. */
  protected breakGlassExpiryOf(input: NewGrant, database: DatabaseConfig, capMs: number): { expiresAt: string; durationMs?: number; standing?: undefined } {
    const limit = Math.min(capMs, database.maxDurationMs);
    const cap = formatDuration(limit);
    if (input.expiresAt !== undefined && input.duration !== undefined) throw badRequest('duration: give either expiresAt or duration, not both');
    if (input.expiresAt !== undefined) {
      if (isNoEnd(input.expiresAt)) throw badRequest(`expiresAt: a break-glass grant always has an end, at most ${cap} from now`);
      const expiry = resolveExpiry(input.expiresAt, this.now(), limit);
      if (!expiry.ok) throw badRequest(`expiresAt: ${expiry.reason} (a break-glass grant lasts at most ${cap})`);
      return { expiresAt: expiry.expiresAt.toISOString() };
    }
    let durationMs = limit;
    if (input.duration !== undefined) {
      const asked = parseDuration(input.duration);
      if (asked === undefined) throw badRequest('duration: must be a duration such as 30m, 8h, 14d or 1d12h');
      if (asked < MIN_DURATION_MS) throw badRequest('duration: must be at least 1m');
      if (asked > limit) throw badRequest(`duration: must be at most ${cap} for a break-glass grant`);
      durationMs = asked;
    }
    return { expiresAt: new Date(this.now().getTime() + durationMs).toISOString(), durationMs };
  }

  /** Who reviews a standing grant, besides the owner: the project's approvers with an e-mail address, else the administrators. */
  protected reviewersOf(project: ProjectConfig): Person[] {
    const { config } = this.options;
    const approvers = approversOf(config, project.key).flatMap((c) => (c.email ? [{ name: c.name, email: c.email }] : []));
    return approvers.length > 0 ? approvers : config.administrators;
  }

  /** Who is asked to approve: the project's approvers with an e-mail address, else the administrators. */
  protected approvalFor(project: ProjectConfig, reasons: string[]): ApprovalRequirement {
    const { config } = this.options;
    const approvers = approversOf(config, project.key).flatMap((c) => (c.email ? [{ name: c.name, email: c.email }] : []));
    return { reasons, timeoutMs: config.approval.timeoutMs, approvers: approvers.length > 0 ? approvers : config.administrators };
  }

  /** The privileges of a level on a database; a refusal lists the levels that exist there (and never echoes the input). */
  protected privilegesOf(accessLevel: string, project: ProjectConfig, database: DatabaseConfig): readonly string[] {
    const tables = levelTables(this.options.config, project, database);
    const privileges = ACCESS_LEVEL_NAME.test(accessLevel) ? resolveLevel(accessLevel, ...tables) : undefined;
    if (!privileges) throw badRequest(`accessLevel: must be one of ${levelNames(...tables).join(', ')} on ${project.key}/${database.key}`);
    return privileges;
  }
}
