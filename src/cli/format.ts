// Human output: aligned tables, relative times, and nothing a terminal could
// misread (control characters from an answer are shown as `?`).

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Control and invisible characters (escape sequences, bidi overrides) are replaced. */
export function clean(value: unknown): string {
  if (value === undefined || value === null) return '';
  return String(value).replace(/[\p{Cc}\p{Cf}]/gu, '?');
}

const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;

/** "3 days", "1 day 4 hours", "2 hours 5 minutes", "12 minutes", "less than a minute". */
export function span(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < MINUTE) return 'less than a minute';
  if (abs < HOUR) return plural(Math.floor(abs / MINUTE), 'minute');
  if (abs < DAY) {
    const h = Math.floor(abs / HOUR);
    const m = Math.floor((abs % HOUR) / MINUTE);
    return h < 10 && m > 0 ? `${plural(h, 'hour')} ${plural(m, 'minute')}` : plural(h, 'hour');
  }
  const d = Math.floor(abs / DAY);
  const h = Math.floor((abs % DAY) / HOUR);
  return d < 3 && h > 0 ? `${plural(d, 'day')} ${plural(h, 'hour')}` : plural(d, 'day');
}

/** "in 3 days" or "2 hours ago" (empty for no or an invalid time). */
export function relative(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '';
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return '';
  const diff = at - now;
  return diff >= 0 ? `in ${span(diff)}` : `${span(diff)} ago`;
}

/** What the expiry means for a grant in this status: "expires in 3 days", "expired 2 hours ago", "ended". */
export function expiryPhrase(status: string | undefined, expiresAt: string | undefined, now = Date.now()): string {
  if (!expiresAt) return '';
  const rel = relative(expiresAt, now);
  if (!rel) return '';
  const open = status === undefined || ['REQUESTED', 'PENDING_APPROVAL', 'PROVISIONING', 'ACTIVE'].includes(status);
  if (open) return Date.parse(expiresAt) >= now ? `expires ${rel}` : `expiry passed ${rel}`;
  if (status === 'EXPIRED') return `expired ${rel}`;
  return `was to expire ${rel}`;
}

/** A timestamp as `2026-12-31 23:59 UTC`. */
export function when(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return clean(iso);
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** Aligned columns; the last column is not padded. */
export function table(headers: string[], rows: string[][]): string {
  const all = [headers, ...rows].map((r) => r.map(clean));
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}

/** `label: value` lines, the values aligned; empty values are left out. */
export function fields(pairs: [string, string | undefined][]): string {
  const shown = pairs.filter(([, v]) => v !== undefined && v !== '');
  const width = Math.max(...shown.map(([k]) => k.length)) + 1;
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width)}  ${clean(v)}`).join('\n') + '\n';
}
