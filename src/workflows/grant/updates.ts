import { patched } from '@temporalio/workflow';
import { disarm } from './arming';
import { NO_UPDATE_AFTER_EXPIRY } from './patches';
import type { Grant } from './state';

/**
 * Runs `fn` after every update that arrived before it (the mutex is FIFO), once the
 * grant is still ACTIVE and before its expiry. `changing` is raised synchronously,
 * so the expiry and a revoke, which wait for it to reach zero (for a bounded time),
 * cannot slip in between an update's acceptance and its work. An armed revocation
 * stands down first; if it has already ended access, the update is refused
 * (docs/decisions/0101-one-update-at-a-time.md).
 */
export function exclusive<T>(g: Grant, fn: () => Promise<T>): Promise<T> {
  g.changing += 1;
  return g.updates
    .runExclusive(async () => {
      // Queued until the expiry: refused, so that updates kept in flight cannot hold the
      // expiry back. One that reached the front in time may still wait for the armed
      // revocation to stand down: that one decides, at the expiry, whether access ended.
      const late = g.pastExpiry();
      await disarm(g);
      g.requireActive();
      if (late && patched(NO_UPDATE_AFTER_EXPIRY)) g.refuseAtExpiry();
      return fn();
    })
    .finally(() => {
      g.changing -= 1;
    });
}
