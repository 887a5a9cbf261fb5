import { formatDuration } from './duration';

// `expiresAt` accepts a calendar date (`2026-12-31`, meaning the end of that day in
// UTC) or a full ISO-8601 timestamp with an explicit offset. A timestamp without
// an offset is refused: "09:00" in whose time zone is exactly the kind of
// ambiguity that makes access end at the wrong hour.

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})$/;

export type ExpiryResult = { ok: true; expiresAt: Date } | { ok: false; reason: string };

function validDate(y: number, m: number, d: number): boolean {
  const date = new Date(Date.UTC(y, m - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}

/** Parses an expiry without judging it against the clock. */
export function parseExpiry(text: string): ExpiryResult {
  const dateOnly = DATE_ONLY.exec(text);
  if (dateOnly) {
    const [y, m, d] = [Number(dateOnly[1]), Number(dateOnly[2]), Number(dateOnly[3])];
    if (!validDate(y, m, d)) return { ok: false, reason: `${text} is not a calendar date` };
    return { ok: true, expiresAt: new Date(Date.UTC(y, m - 1, d, 23, 59, 59)) };
  }
  const ts = TIMESTAMP.exec(text);
  if (!ts) {
    return {
      ok: false,
      reason: 'must be a date (YYYY-MM-DD, end of that day UTC) or an ISO-8601 timestamp with a time zone (2026-12-31T18:00:00Z)',
    };
  }
  const [y, m, d, hh, mm, ss] = [1, 2, 3, 4, 5, 6].map((i) => Number(ts[i] ?? 0)) as [number, number, number, number, number, number];
  if (!validDate(y, m, d) || hh > 23 || mm > 59 || ss > 59) return { ok: false, reason: `${text} is not a valid timestamp` };
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) return { ok: false, reason: `${text} is not a valid timestamp` };
  return { ok: true, expiresAt: new Date(ms) };
}

/**
 * Checks an expiry against the clock and the database's maximum duration.
 * The maximum is a rolling window: at any moment a grant may run at most
 * `maxDurationMs` into the future, so an extension is measured from now.
 */
export function checkExpiryWindow(expiresAt: Date, now: Date, maxDurationMs: number): string | undefined {
  if (expiresAt.getTime() <= now.getTime()) return 'must be in the future';
  if (expiresAt.getTime() - now.getTime() > maxDurationMs) {
    const latest = new Date(now.getTime() + maxDurationMs).toISOString();
    return `is beyond the maximum duration of ${formatDuration(maxDurationMs)} for this database (latest allowed: ${latest})`;
  }
  return undefined;
}

/** Parses and checks an expiry in one step. */
export function resolveExpiry(text: string, now: Date, maxDurationMs: number): ExpiryResult {
  const parsed = parseExpiry(text);
  if (!parsed.ok) return parsed;
  const reason = checkExpiryWindow(parsed.expiresAt, now, maxDurationMs);
  return reason ? { ok: false, reason } : parsed;
}
