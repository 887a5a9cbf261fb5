// Pure helpers for rendering messages. Everything a user typed (name, reason, e-mail,
// a failure message) passes through `clean` before it is placed anywhere, and
// through `escapeHtml` when it lands in HTML, so a hostile value can neither
// forge lines in the text part, inject markup, nor add headers.

/** Control characters (C0, DEL, C1), line/paragraph separators, bidi overrides and zero-width characters. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/gu;

/** One line of user-supplied text: unsafe characters become spaces, runs of spaces collapse, long values are cut. */
export function clean(value: string | undefined | null, max = 500): string {
  if (value === undefined || value === null) return '';
  const flat = String(value).replace(UNSAFE, ' ').replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** A header value (Subject): one line, no control characters, bounded so it folds sanely. */
export function headerSafe(value: string, max = 200): string {
  return clean(value, max);
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** A plain address for a recipient list; anything that could split into two addresses is removed. */
export function cleanAddress(value: string): string {
  return clean(value, 254).replace(/[\s,;<>"()\\]/g, '');
}

/** Recipients without duplicates (case-insensitive) and without empty entries, first spelling kept. */
export function uniqueAddresses(values: readonly string[], exclude: readonly string[] = []): string[] {
  const seen = new Set(exclude.map((a) => cleanAddress(a).toLowerCase()));
  const out: string[] = [];
  for (const raw of values) {
    const address = cleanAddress(raw);
    const key = address.toLowerCase();
    if (!address || seen.has(key)) continue;
    seen.add(key);
    out.push(address);
  }
  return out;
}

function parseTime(iso: string | undefined): number | undefined {
  if (!iso) return undefined;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms;
}

/** `2026-12-31 23:59:59 UTC`; the raw (cleaned) value when it is not a timestamp. */
export function formatUtc(iso: string | undefined, precision: 'seconds' | 'minutes' = 'seconds'): string {
  const ms = parseTime(iso);
  if (ms === undefined) return clean(iso) || 'unknown';
  const text = new Date(ms).toISOString();
  const time = precision === 'seconds' ? text.slice(11, 19) : text.slice(11, 16);
  return `${text.slice(0, 10)} ${time} UTC`;
}

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/**
 * "in 30 days" / "3 hours ago", measured from `fromIso` (a time recorded in the
 * grant, not the clock, so the same event always renders the same text).
 */
export function relativePhrase(fromIso: string | undefined, toIso: string | undefined): string | undefined {
  const from = parseTime(fromIso);
  const to = parseTime(toIso);
  if (from === undefined || to === undefined) return undefined;
  const diff = to - from;
  const abs = Math.abs(diff);
  let amount: string;
  const minutes = Math.round(abs / 60_000);
  const hours = Math.round(abs / 3_600_000);
  if (minutes < 1) return 'now';
  if (minutes < 120) amount = plural(minutes, 'minute');
  else if (hours < 48) amount = plural(hours, 'hour');
  else amount = plural(Math.round(abs / 86_400_000), 'day');
  return diff > 0 ? `in ${amount}` : `${amount} ago`;
}

/** A word for a POSIX shell: bare when it is plainly safe, single-quoted otherwise. */
export function shellQuote(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
