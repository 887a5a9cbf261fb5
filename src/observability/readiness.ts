import { once } from 'node:events';

// Readiness: can this process reach Temporal right now? Used by the API's and the
// worker's /readyz. Liveness (/healthz) never calls this: a process that cannot
// reach Temporal is not ready, but restarting it would not help.

/** What both the client's Connection and the worker's NativeConnection offer. */
export interface TemporalConnectionLike {
  workflowService: { getSystemInfo(request: object): Promise<unknown> };
  withDeadline<T>(deadline: number | Date, fn: () => Promise<T>): Promise<T>;
}

export interface TemporalCheck {
  ok: boolean;
  latencyMs: number;
  /** Why not, in a few words (never the server's own message: it can name internal hosts). */
  error?: string;
}

export const READINESS_TIMEOUT_MS = 2000;

/** Asks Temporal for its system info, within `timeoutMs`. */
export async function checkTemporal(connection: TemporalConnectionLike, timeoutMs = READINESS_TIMEOUT_MS): Promise<TemporalCheck> {
  const started = performance.now();
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    // The deadline bounds the call; the signal bounds anything the deadline does not (a connection still being made).
    const expired = once(timeout, 'abort').then(() => Promise.reject(timeout.reason));
    await Promise.race([connection.withDeadline(Date.now() + timeoutMs, () => connection.workflowService.getSystemInfo({})), expired]);
    return { ok: true, latencyMs: Math.round(performance.now() - started) };
  } catch (err) {
    const timedOut = timeout.aborted || (err instanceof Error && /deadline/i.test(err.message));
    return { ok: false, latencyMs: Math.round(performance.now() - started), error: timedOut ? `no answer within ${timeoutMs} ms` : 'unreachable' };
  }
}
