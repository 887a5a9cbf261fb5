import { Context } from '@temporalio/activity';
import { createHash } from 'node:crypto';
import type { GrantCredential } from '../adapters/ports';
import { hashCredentialToken, newCredentialToken, type CredentialLink, type CredentialLinkStore } from '../adapters/credential-links';
import type { MessageCredentials } from '../adapters/notify';
import type { GrantNotice } from '../contract/activities';

// How the grantee's GRANTED e-mail hands over the credentials (see README "Credentials"):
//  - by default a one-time link: a fresh random token, stored as a hash in the
//    links table under the GRANTED event id, put only into the e-mail;
//  - with CREDENTIALS_IN_EMAIL, the password itself, read from the per-grant secret.
// Neither the token nor the password leaves this module other than in the grantee's
// own message: they are not returned, not logged, never enter workflow history, and
// never go into a message to anyone else (the owner's notice has neither).

export interface CredentialDelivery {
  /** CREDENTIALS_IN_EMAIL: the password in the e-mail instead of a link. */
  inEmail: boolean;
  links: CredentialLinkStore;
  /** The API's public base URL, without a trailing slash (required for links). */
  publicUrl?: string;
  /** How long a link works; it never outlives the grant. */
  linkTtlMs: number;
  /** The per-grant secret's value; undefined when it does not exist. */
  readCredential(secretName: string): Promise<GrantCredential | undefined>;
  now?: () => number;
}

export type PreparedCredentials =
  | { status: 'none' }
  /** The link of this GRANTED event was already mailed (or even redeemed): nothing to send the grantee again. */
  | { status: 'delivered' }
  | {
      status: 'ready';
      credentials: MessageCredentials;
      /** Distinguishes the message of each new token. */
      messageTag?: string;
      /** Call once the grantee's message was sent: a retry then leaves the link and the grantee alone. */
      mailed?: () => Promise<void>;
    };

function runOf(): { workflowId?: string; runId?: string } {
  try {
    const execution = Context.current().info.workflowExecution;
    return execution ? { workflowId: execution.workflowId, runId: execution.runId } : {};
  } catch {
    return {};
  }
}

export async function prepareCredentials(delivery: CredentialDelivery, request: GrantNotice): Promise<PreparedCredentials> {
  const { grant } = request;
  if (request.kind !== 'GRANTED' || !grant.secretName) return { status: 'none' };

  if (delivery.inEmail) {
    const credential = await delivery.readCredential(grant.secretName);
    // Created by createAccount just before: gone means the grant is being undone.
    if (!credential) throw new Error(`secret ${grant.secretName} does not exist; the password cannot be e-mailed`);
    return { status: 'ready', credentials: { kind: 'password', password: credential.password } };
  }

  if (!delivery.publicUrl) throw new Error('PUBLIC_URL is not set: the one-time credential link cannot be built');
  const nowMs = (delivery.now ?? Date.now)();
  const grantEnd = Date.parse(grant.expiresAt);
  const linkEndMs = Math.min(nowMs + delivery.linkTtlMs, Number.isNaN(grantEnd) ? Infinity : grantEnd);
  const linkExpiresAt = Math.floor(linkEndMs / 1000);
  const token = newCredentialToken();
  const tokenHash = hashCredentialToken(token);
  const run = runOf();
  // runId: the run that provisioned the grant (GRANTED is mailed in it), whose tag the secret carries.
  const link: CredentialLink = {
    linkId: request.eventId,
    tokenHash,
    grantId: grant.grantId,
    secretName: grant.secretName,
    account: grant.account,
    project: grant.project,
    database: grant.database,
    email: grant.email,
    accessLevel: grant.accessLevel,
    expiresAt: grant.expiresAt,
    workflowId: run.workflowId ?? grant.grantId,
    runId: run.runId ?? '',
    linkExpiresAt,
    createdAt: new Date(nowMs).toISOString(),
  };
  const { written } = await delivery.links.put(link);
  if (!written) return { status: 'delivered' };
  return {
    status: 'ready',
    credentials: { kind: 'link', url: `${delivery.publicUrl}/credentials/${token}`, linkExpiresAt: new Date(linkExpiresAt * 1000).toISOString() },
    // A retry after a failed send carries a new link, so it is a new message: a mail system
    // that drops repeats of a Message-ID must not keep the earlier, dead link instead.
    messageTag: createHash('sha256').update(tokenHash).digest('hex').slice(0, 12),
    mailed: () => delivery.links.markMailed(link, new Date((delivery.now ?? Date.now)()).toISOString()),
  };
}
