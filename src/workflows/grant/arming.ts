import { CancellationScope, isCancellation, log } from '@temporalio/workflow';
import { formatDuration, innermostMessage } from '../../domain';
import { armedRevocation, revokeFirst } from './options';
import type { ArmedRevocation, Grant } from './state';

// The revocation armed ahead of the expiry: a revokeAccess attempt starts `leftMs`
// before it on a worker of the expiry queue and waits there for the exact instant,
// so that nothing waits for Temporal at the expiry (docs/decisions/0102-arming-in-the-workflow.md).
// An update stands it down first; a revoke runs at once beside it.

export function arm(g: Grant, leftMs: number, leadMs: number): void {
  const expiresAt = g.state.expiresAt;
  const scope = new CancellationScope();
  const armed: ArmedRevocation = { scope, settled: Promise.resolve() };
  const ref = { ...g.accountRef(), ...(g.ownsAccount() ? { owned: true } : {}), notBefore: expiresAt };
  armed.settled = scope
    .run(() =>
      revokeFirst.revokeAccess.executeWithOptions(
        {
          ...armedRevocation(leftMs, leadMs),
          summary: `revoke at the expiry ${expiresAt}: armed ${formatDuration(leftMs)} ahead; contain ${g.state.account} (lock, replace its password, revoke its privileges, end its sessions), drop it, delete its secret`,
        },
        [ref],
      ),
    )
    .then(
      (result) => {
        armed.outcome = 'ended';
        armed.result = result;
      },
      (err: unknown) => {
        armed.outcome = isCancellation(err) ? 'stood down' : 'failed';
        if (armed.outcome === 'failed') log.warn('armed revocation failed; revoking the usual way', { grantId: g.state.grantId, message: innermostMessage(err) });
      },
    );
  g.armed = armed;
}

/** Stands the armed revocation down and waits to learn whether it did (or had already ended access). */
export async function disarm(g: Grant): Promise<void> {
  const armed = g.armed;
  if (!armed || armed.outcome) return;
  armed.scope.cancel();
  await armed.settled;
}
