import { isCancellation, log } from '@temporalio/workflow';
import type { RevocationResult } from '../../contract/activities';
import { describeLeftBehind, innermostMessage, type LeftBehindObject } from '../../domain';
import { writeAuditUntilDone } from './audit';
import { alertAdmins } from './notify';
import { REVOKE_ATTEMPTS_BEFORE_ALERT, REVOKE_FIRST, UNTIL_DONE, revokeFirst, untilDone } from './options';
import type { Grant } from './state';

// Ending access: contain the account, drop it, delete its secret. A drop the
// server refuses is not a failure: access has ended, and the result says so.

/**
 * Revokes, retrying without limit. After the first attempts fail, administrators
 * are alerted once (audit REVOKE_RETRYING and an alert) while it goes on retrying.
 */
export async function revokeUntilDone(g: Grant, why: 'revoke' | 'expiry' | 'rollback'): Promise<RevocationResult> {
  // During a rollback the account may not be this grant's (AccountConflict), so ownership is checked.
  const owned = why !== 'rollback' && g.ownsAccount();
  const ref = { ...g.accountRef(), ...(owned ? { owned: true } : {}) };
  const summary = `revoke: contain ${g.state.account} (lock, replace its password, revoke its privileges, end its sessions), drop it, delete its secret (${why})`;
  try {
    return await revokeFirst.revokeAccess.executeWithOptions({ ...REVOKE_FIRST, summary }, [ref]);
  } catch (err) {
    if (isCancellation(err)) throw err;
    const detail = `revocation failed ${REVOKE_ATTEMPTS_BEFORE_ALERT} times (last error: ${innermostMessage(err)}); retrying until it succeeds`;
    log.error('revocation keeps failing', { grantId: g.state.grantId, detail });
    const record = g.auditRecord('REVOKE_RETRYING', 'dbaccess', { detail });
    g.commitEvent(record);
    const alert = Promise.all([
      writeAuditUntilDone(record, 'audit REVOKE_RETRYING'),
      alertAdmins(g, { kind: 'REVOKE_RETRYING', grant: g.state, eventId: record.eventId, detail }, 'alert administrators: revocation keeps failing'),
    ]);
    const result = await untilDone.revokeAccess.executeWithOptions({ ...UNTIL_DONE, summary: `${summary}, retrying until done` }, [ref]);
    await alert;
    return result;
  }
}

/** What a revocation reported, with what older results lack filled in. */
export interface Ending {
  dropped: boolean;
  containedAt?: string;
  refusal?: string;
  leftBehind: LeftBehindObject[];
  leftBehindCount: number;
}

export function endingOf(result: RevocationResult | undefined): Ending {
  const leftBehind = result?.leftBehind ?? [];
  return {
    dropped: result?.dropped !== false,
    ...(result?.containedAt ? { containedAt: result.containedAt } : {}),
    ...(result?.refusal ? { refusal: result.refusal } : {}),
    leftBehind,
    leftBehindCount: result?.leftBehindCount ?? leftBehind.length,
  };
}

/** The REVOKED / EXPIRED event's detail: what stayed behind, and a refused drop. */
export function endingDetail(ending: Ending): string | undefined {
  const objects = ending.leftBehindCount > 0 ? describeLeftBehind(ending.leftBehind, ending.leftBehindCount) : '';
  if (!ending.dropped) {
    return (
      `access ended${ending.containedAt ? ` at ${ending.containedAt}` : ''}: the account was contained (locked, password replaced, privileges revoked, sessions ended); ` +
      `the server refused to drop it (${ending.refusal ?? 'no reason given'}), so it is retained` +
      (objects ? `; it defines ${ending.leftBehindCount} stored object(s): ${objects}` : '')
    );
  }
  return objects ? `the account left ${ending.leftBehindCount} stored object(s) behind, kept as they are: ${objects}` : undefined;
}
