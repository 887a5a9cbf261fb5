import { clean, formatUtc, shellQuote } from '../format';
import type { Block, Document } from '../document';
import type { AdminMessageInput } from './admin';
import { adminFooter, grantRows, leftBehindOf, objectLines, person, where } from './common';

// The retained-account guidance: access has ended, but the server refuses to drop
// the account because of the objects it is responsible for. To the administrators,
// with the project's owner in copy: the objects belong to the project.

export function retainedDocument(input: AdminMessageInput, detail: string): { subject: string; doc: Document } {
  const { grant, guide } = input;
  const { dropRefusal, disabled, reassign, listIntro } = guide.storedObjects;
  const account = clean(grant.account, 64);
  const retained = grant.retained;
  const since = retained?.since ?? grant.accessEndedAt;
  const reason = clean(retained?.reason, 500) || detail || 'the server refused to drop the account';
  const objects = leftBehindOf(grant) ?? { objects: [], count: 0 };
  const rows = grantRows(grant, false, guide.displayName);
  rows.push(
    ['Access ended at', formatUtc(since), 'strong'],
    ['Account kept', `${account} (locked)`, 'code'],
    ['Drop refused', reason],
    ['Objects it defines', String(objects.count)],
  );
  if (detail && detail !== reason) rows.push(['Detail', detail]);
  rows.push(['Grant id', clean(grant.grantId), 'code']);
  const owner = input.owner ? person(input.owner) : `the owner of project ${clean(grant.project)}`;
  const blocks: Block[] = [
    {
      kind: 'p',
      text: `The access of ${person({ name: grant.name, email: grant.email })} to ${where(grant)} has ended (${clean(grant.status, 40)}) at ${formatUtc(since)}: the account ${account} was locked, its password replaced with one nobody knows, its privileges revoked and its sessions ended. It cannot log in.`,
    },
    {
      kind: 'p',
      text: `The database server refused to drop the account: ${reason}. ${dropRefusal} The account is kept, locked, and shown as retained on the grant, until it can be dropped. You are told once.`,
    },
    { kind: 'facts', rows },
  ];
  if (objects.objects.length > 0) blocks.push({ kind: 'h', text: 'The objects it defines' }, { kind: 'list', items: objectLines(objects) });
  blocks.push(
    { kind: 'h', text: 'What to do' },
    {
      kind: 'list',
      items: [
        `Decide with ${owner} what becomes of each object: they belong to the project, the owner decides. Nothing was deleted${disabled ? `, and ${disabled}` : ''}.`,
        reassign,
        'Drop the objects nobody needs.',
        'Then the account is dropped at its next try: the reconciler\'s next run (in revoke mode), the grant\'s own daily retry, or at once with the command below.',
        'Until then the account stays locked and without privileges: it cannot log in.',
      ],
    },
    { kind: 'code', text: `dbaccess retry-drop ${shellQuote(clean(grant.grantId))}` },
  );
  const query = guide.storedObjects.listQuery(grant.account);
  if (query) blocks.push({ kind: 'h', text: 'List the objects' }, { kind: 'p', text: listIntro }, { kind: 'code', text: query });
  const shows = guide.storedObjects.showDefinitions(objects.objects);
  if (shows.length > 0) blocks.push({ kind: 'p', text: 'Their definitions:' }, { kind: 'code', text: shows.join('\n') });
  return {
    subject: `[dbaccess] ACTION NEEDED: account ${account} on ${where(grant)} kept after access ended: it defines stored objects`,
    doc: { title: `Access ended; account ${account} kept for its stored objects`, tone: 'warning', blocks, footer: adminFooter(grant, input.eventId) },
  };
}
