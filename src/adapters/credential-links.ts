import { createHash, randomBytes } from 'node:crypto';

// One-time credential links. The worker creates one per GRANTED event and puts
// the token in the e-mail only; the API redeems it (src/api/credentials.ts).
// The token is 32 random bytes, base64url (43 characters). Only its SHA-256 is
// stored, so the links table never holds anything that opens a link.
//
// A link opens the secret of the grant run that made it, never a later one: the
// same person granted the same database again gets the same account and secret
// names. createAccount tags the secret with its run (GRANT_RUN_TAG), the link
// stores that run (`runId`), and redeeming compares the two.

/**
 * Tag on a per-grant secret naming the workflow run that created (or last
 * re-created) it: the first run of the grant's chain, where provisioning happens.
 */
export const GRANT_RUN_TAG = 'dbaccess:grant-run';

/** What a token looks like; anything else is refused before any lookup. */
export const CREDENTIAL_TOKEN_PATTERN = '^[A-Za-z0-9_-]{43}$';
const TOKEN = new RegExp(CREDENTIAL_TOKEN_PATTERN);

export function newCredentialToken(): string {
  return randomBytes(32).toString('base64url');
}

export function isCredentialToken(value: string): boolean {
  return TOKEN.test(value);
}

/** Lower-case hex SHA-256 of the token: the only form in which it is stored. */
export function hashCredentialToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** One link, as stored. Never holds the token or a credential. */
export interface CredentialLink {
  /** The GRANTED audit event id: one link per GRANTED event. */
  linkId: string;
  tokenHash: string;
  grantId: string;
  secretName: string;
  account: string;
  project: string;
  database: string;
  email: string;
  accessLevel: string;
  /** The grant's expiry (ISO-8601). */
  expiresAt: string;
  workflowId: string;
  /** The run that made the link, the one that provisioned the grant: the link opens only a secret tagged with it. */
  runId: string;
  /** Epoch seconds after which the link no longer works. */
  linkExpiresAt: number;
  createdAt: string;
  /** Set (ISO-8601) once the e-mail carrying the link was handed to the relay: a retry does not replace it. */
  mailedAt?: string;
  /** Set (ISO-8601) once redeemed. */
  usedAt?: string;
}

export interface CredentialLinkStore {
  /**
   * Writes the link, replacing an earlier one of the same id that was neither
   * mailed nor used (a notify retried after its e-mail failed: the earlier token
   * dies). `written: false` when the link of that id was mailed or used: it is
   * left alone.
   */
  put(link: CredentialLink): Promise<{ written: boolean }>;
  /** Records that the e-mail with this link was sent (unless it was replaced or used meanwhile). */
  markMailed(link: CredentialLink, mailedAt: string): Promise<void>;
  /** The current link whose token hash this is, or undefined. */
  findByTokenHash(tokenHash: string): Promise<CredentialLink | undefined>;
  /** Marks the link used if it is unused, still holds this hash and has not expired; false otherwise. */
  markUsed(linkId: string, tokenHash: string, usedAt: string, nowSeconds: number): Promise<boolean>;
  /** Undoes markUsed (only the mark made at `usedAt`), after a failure that disclosed nothing. */
  unmarkUsed(linkId: string, tokenHash: string, usedAt: string): Promise<void>;
}
