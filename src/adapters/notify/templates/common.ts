import type { GrantEvent, GrantState, LeftBehindObject, Person } from '../../../domain';
import type { Document, Fact } from '../document';
import { clean, formatUtc, relativePhrase } from '../format';
import type { Notification } from '../port';

// What the grant's messages share: how a grant, a person and a list of objects are
// written, the footers, and the notification a document becomes.

/** A notification of `doc`, identified by what it announces (`kind`) and the event's id. */
export function notification(doc: Document, subject: string, to: string[], cc: string[], kind: string, eventId: string): Notification {
  return { to, ...(cc.length > 0 ? { cc } : {}), subject, document: doc, id: { kind, key: eventId } };
}

export function where(grant: GrantState): string {
  return `${clean(grant.project)}/${clean(grant.database)}`;
}

export function person(p: Person): string {
  const name = clean(p.name, 120);
  const email = clean(p.email, 254);
  return name ? `${name} <${email}>` : email;
}

export function privilegeList(privileges: readonly string[] | undefined): string {
  return privileges && privileges.length > 0 ? privileges.map((p) => clean(p, 40)).join(', ') : 'unknown';
}

export function expiryText(expiresAt: string, reference: string | undefined): string {
  const phrase = relativePhrase(reference, expiresAt);
  return phrase ? `${formatUtc(expiresAt)} (${phrase})` : formatUtc(expiresAt);
}

/** The latest history event of one of `types`, with the event just before it. */
export function findEvent(grant: GrantState, types: readonly string[]): { event?: GrantEvent; before?: GrantEvent } {
  const history = grant.history ?? [];
  for (const type of types) {
    for (let i = history.length - 1; i >= 0; i--) {
      if (history[i]!.event === type) return { event: history[i], before: i > 0 ? history[i - 1] : undefined };
    }
  }
  return {};
}

/** The facts about a grant the administrators' alerts open with. */
export function grantRows(grant: GrantState, withSecret: boolean, displayName: (dialect?: string) => string): Fact[] {
  const rows: Fact[] = [
    ['Grantee', person({ name: grant.name, email: grant.email })],
    ['Project / database', where(grant)],
    ['Access level', `${clean(grant.accessLevel, 40)} (${privilegeList(grant.privileges)})`],
    ['Account', clean(grant.account, 64), 'code'],
    ['Expiry', formatUtc(grant.expiresAt)],
    ['Status', clean(grant.status, 40)],
    ['Requested by', `${clean(grant.requestedBy, 120)} at ${formatUtc(grant.requestedAt)}`],
  ];
  if (grant.reason) rows.push(['Reason', clean(grant.reason)]);
  if (grant.connection) rows.push(['Server', `${clean(grant.connection.host, 255)}:${Number(grant.connection.port)} (${displayName(grant.connection.engine)})`, 'code']);
  if (withSecret && grant.secretName) rows.push(['Grant secret', clean(grant.secretName, 512), 'code']);
  return rows;
}

export function adminFooter(grant: GrantState, eventId: string): string[] {
  return [
    `Grant ${clean(grant.grantId)} - event ${clean(eventId, 120)}`,
    'Sent by dbaccess to its administrators. Find the workflow in the Temporal UI by its id (the grant id) for the full event history.',
  ];
}

export interface LeftBehind {
  objects: LeftBehindObject[];
  count: number;
}

/** What the account left behind, from the retained account or the report of its drop; undefined when nothing. */
export function leftBehindOf(grant: GrantState): LeftBehind | undefined {
  const objects = grant.retained?.objects ?? grant.leftBehind?.objects ?? [];
  const count = Math.max(grant.retained?.objectCount ?? grant.leftBehind?.count ?? 0, objects.length);
  return count > 0 ? { objects, count } : undefined;
}

/** One line per object: names only (grantee-controlled, cleaned), never a definition. */
export function objectLines(objects: LeftBehind): string[] {
  const lines = objects.objects.map((o) => `${clean(o.kind, 20)} ${clean(o.schema, 64)}.${clean(o.name, 64)}${o.note ? ` (${clean(o.note, 200)})` : ''}`);
  if (objects.count > objects.objects.length) lines.push(`... and ${objects.count - objects.objects.length} more (the query in the administrators' alert lists them all).`);
  return lines;
}

/** A clause as the start of a sentence. */
export function sentence(clause: string): string {
  return clause.charAt(0).toUpperCase() + clause.slice(1);
}
