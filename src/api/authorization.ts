import type { ApiClient } from '../config';

// Who may do what. Pure: the routes ask, and turn a refusal into a 403.
//
//   admin      everything
//   requester  ask for grants on its projects; revoke, extend or change the
//              level of the grants it asked for
//   approver   approve or deny requests of its projects
//   auditor    read only
//
// Every role may read grants (GET) and use the payload codec; only the roles
// above change anything.

export type Action = 'read' | 'create' | 'revoke' | 'extend' | 'changeLevel' | 'decide' | 'adopt';

/** What an action is about: the grant's project, and who asked for it (for existing grants). */
export interface Subject {
  project: string;
  requestedBy?: string;
}

const VERBS: Record<Action, string> = {
  read: 'read grants',
  create: 'ask for grants',
  revoke: 'revoke grants',
  extend: 'extend grants',
  changeLevel: 'change the level of grants',
  decide: 'approve or deny requests',
  adopt: 'adopt accounts of the old scripts',
};

export function inScope(client: ApiClient, project: string): boolean {
  return client.projects === '*' || client.projects.includes(project);
}

/** Undefined when allowed; otherwise why not, in words fit for the caller. */
export function refusal(client: ApiClient, action: Action, subject?: Subject): string | undefined {
  const who = `the ${client.role} key ${client.name}`;
  switch (client.role) {
    case 'admin':
      return undefined;
    case 'auditor':
      return action === 'read' ? undefined : `${who} is read-only: it may not ${VERBS[action]}`;
    case 'approver':
      if (action === 'read') return undefined;
      if (action !== 'decide') return `${who} may only approve or deny requests, not ${VERBS[action]}`;
      return subject && !inScope(client, subject.project) ? `${who} may not decide on requests of project ${subject.project}` : undefined;
    case 'requester':
      if (action === 'read') return undefined;
      if (action === 'decide' || action === 'adopt') return `${who} may not ${VERBS[action]}`;
      if (subject && !inScope(client, subject.project)) return `${who} may not ${VERBS[action]} of project ${subject.project}`;
      if (action !== 'create' && subject && subject.requestedBy !== client.name) return `${who} may only ${action === 'changeLevel' ? 'change the level of' : action} the grants it asked for`;
      return undefined;
  }
}
