import { log, patched } from '@temporalio/workflow';
import { innermostMessage } from '../../domain';
import { DATABASE, db } from './options';
import { ACCOUNT_EXPIRY, ADOPTED_ACCOUNT_EXPIRY } from './patches';
import type { Grant } from './state';

// The server's own bound on the account (PostgreSQL's VALID UNTIL) follows the
// grant's expiry: createAccount sets it, adoption sets it on the adopted account, an
// accepted extension moves it. It is a second line of defence: the revocation still
// ends access at the expiry.

/** After an extension is in the grant's state: moves the account's expiry on the server, where its engine keeps one. */
export async function moveAccountExpiry(g: Grant, validUntil: string): Promise<void> {
  // Grants whose histories predate this step replay without it.
  if (!patched(ACCOUNT_EXPIRY)) return;
  await setAccountExpiry(g, validUntil);
}

/** After an adoption was verified: bounds the adopted account by the grant's expiry on the server. */
export async function boundAdoptedAccount(g: Grant): Promise<void> {
  if (!patched(ADOPTED_ACCOUNT_EXPIRY)) return;
  await setAccountExpiry(g, g.state.expiresAt);
}

async function setAccountExpiry(g: Grant, validUntil: string): Promise<void> {
  try {
    await db.setAccountExpiry.executeWithOptions({ ...DATABASE, summary: `move the server-side expiry of ${g.state.account} to ${validUntil}` }, [{ ...g.accountRef(), validUntil }]);
  } catch (err) {
    // The extension stands: at worst the server refuses the password from the earlier expiry on, which ends access early, never late.
    log.warn("the account's server-side expiry could not be moved", { grantId: g.state.grantId, validUntil, message: innermostMessage(err) });
  }
}
