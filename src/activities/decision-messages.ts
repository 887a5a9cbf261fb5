import type { Person } from '../domain';
import type { DecisionLinks, DecisionVerb } from '../adapters/decision-links';
import type { ApprovalNotice } from '../contract/activities';

// Which approvers of a request, a review or a break-glass get one-click links of
// their own in their e-mail (docs/decisions/0502-one-click-decisions.md).

export interface DecisionLinkDeps {
  links: DecisionLinks;
  /** The API's public base URL, without a trailing slash. */
  publicUrl: string;
  /** Whether this approver (an API client's name and address) may decide on the project's requests. */
  mayDecide(approver: Person, project: string): boolean;
}

/**
 * A request's approvers who get one-click links of their own (one message each),
 * and the others, who get the message without links: nobody gets a link to decide
 * a request made by or for themselves, or one they may not decide.
 */
export function decisionMessages(request: ApprovalNotice, deps: DecisionLinkDeps | undefined): { linked: { approver: Person; approve: string; deny: string }[]; rest: Person[] } {
  const asking = request.kind === 'APPROVAL_REQUESTED' || request.kind === 'EXTENSION_REQUESTED' || request.kind === 'REVIEW_REQUESTED' || request.kind === 'REVIEW_REMINDER' || request.kind === 'BREAK_GLASS_REVIEW';
  const kind = request.kind === 'APPROVAL_REQUESTED' ? 'approval' : request.kind === 'BREAK_GLASS_REVIEW' ? 'break-glass' : request.kind.startsWith('REVIEW_') ? 'review' : 'extension';
  const made =
    kind === 'approval' ? request.grant.requestedAt : kind === 'review' ? request.grant.standing?.review?.requestedAt : kind === 'break-glass' ? request.grant.breakGlass?.requestedAt : request.grant.pendingExtension?.requestedAt;
  const deadline = request.decideBy ? Date.parse(request.decideBy) : NaN;
  if (!deps || !asking || !made || !Number.isFinite(deadline)) return { linked: [], rest: request.approvers };
  // Nobody reviews a request (or a break-glass) they asked for.
  const askedBy = kind === 'approval' || kind === 'break-glass' ? request.grant.requestedBy : kind === 'review' ? undefined : request.grant.pendingExtension?.requestedBy;
  const linked: { approver: Person; approve: string; deny: string }[] = [];
  const rest: Person[] = [];
  const seen = new Set<string>();
  for (const approver of request.approvers) {
    const email = (approver.email ?? '').toLowerCase();
    if (!email || seen.has(email)) continue;
    seen.add(email);
    if (email === request.grant.email.toLowerCase() || approver.name === askedBy || !deps.mayDecide(approver, request.grant.project)) {
      rest.push(approver);
      continue;
    }
    const url = (decision: DecisionVerb) =>
      `${deps.publicUrl}/decisions/${deps.links.mint({ grantId: request.grant.grantId, kind, request: made, decision, approver: approver.name, email, expiresAt: deadline })}`;
    // A review's pair: Keep (Acknowledge) in the first place, Revoke (Flag) in the second.
    linked.push(
      kind === 'review'
        ? { approver, approve: url('keep'), deny: url('revoke') }
        : kind === 'break-glass'
          ? { approver, approve: url('acknowledge'), deny: url('flag') }
          : { approver, approve: url('approve'), deny: url('deny') },
    );
  }
  return { linked, rest };
}
