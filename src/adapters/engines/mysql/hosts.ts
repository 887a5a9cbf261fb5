// Which account a session belongs to. The processlist shows a session's user
// name and its client host (`10.0.0.7:51234`), not the account (user@host
// pattern) it logged in as. When a user name has several accounts (`u@%` and
// `u@10.0.%`), the server chose, at login, the most specific one whose host
// pattern matches the client; this module makes the same choice, so that ending
// one account's access never ends another account's sessions. Pure functions.
//
// The order is the documented one of both servers (MySQL 8.4 "Access Control,
// Stage 1"; MariaDB agrees, checked on 10.11): accounts whose host is an IP
// address or an IPv4 netmask first (larger masks first), then host names and
// patterns, a pattern ranking by how late its first wildcard comes (`%` last);
// for the same host, a named user before the anonymous one (''). The client is
// matched by what the processlist shows: its IP address (skip_name_resolve), or
// its host name when the server resolves names.

export interface AccountId {
  user: string;
  host: string;
}

/** The client host of a processlist HOST value: `h:port`, `[v6]:port`, `v6:port` or a bare `localhost`. */
export function clientHostOf(processHost: string): string {
  const text = String(processHost ?? '').trim();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(text);
  if (bracketed) return bracketed[1]!.toLowerCase();
  const withPort = /^(.+):(\d{1,5})$/.exec(text);
  return (withPort ? withPort[1]! : text).toLowerCase();
}

function ipv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

/** The client's IPv4 address, also when it is IPv4-mapped IPv6 (`::ffff:10.0.0.7`). */
function clientIpv4(client: string): number | undefined {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(client);
  return ipv4(mapped ? mapped[1]! : client);
}

/** `a.b.c.d/m.m.m.m` (both servers) or `a.b.c.d/n` (MySQL 8.0.23+): base and mask, or undefined. */
function netmask(pattern: string): { base: number; mask: number; bits: number } | undefined {
  const slash = pattern.indexOf('/');
  if (slash < 0) return undefined;
  const base = ipv4(pattern.slice(0, slash));
  const maskText = pattern.slice(slash + 1);
  if (base === undefined) return undefined;
  let mask: number | undefined;
  if (/^\d{1,2}$/.test(maskText)) {
    const n = Number(maskText);
    if (n > 32) return undefined;
    mask = n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
  } else {
    mask = ipv4(maskText);
    // Only contiguous masks are valid.
    if (mask === undefined || ((~mask >>> 0) & ((~mask >>> 0) + 1)) !== 0) return undefined;
  }
  const bits = mask.toString(2).replace(/0/g, '').length;
  return { base: (base & mask) >>> 0, mask, bits };
}

/** SQL LIKE semantics (`%` any run, `_` one character, `\` escapes), case-insensitive, as the servers compare hosts. */
function likeMatches(pattern: string, text: string): boolean {
  const p = pattern.toLowerCase();
  const t = text.toLowerCase();
  // Iterative matcher with backtracking on the last `%`.
  let pi = 0;
  let ti = 0;
  let star = -1;
  let mark = 0;
  while (ti < t.length) {
    if (pi < p.length && p[pi] === '\\' && pi + 1 < p.length) {
      if (p[pi + 1] === t[ti]) {
        pi += 2;
        ti += 1;
        continue;
      }
    } else if (pi < p.length && (p[pi] === '_' || p[pi] === t[ti]) && p[pi] !== '%') {
      pi += 1;
      ti += 1;
      continue;
    } else if (pi < p.length && p[pi] === '%') {
      star = pi;
      mark = ti;
      pi += 1;
      continue;
    }
    if (star < 0) return false;
    pi = star + 1;
    mark += 1;
    ti = mark;
  }
  while (pi < p.length && p[pi] === '%') pi += 1;
  return pi === p.length;
}

/** Whether an account's host pattern admits a client (as the processlist shows it). */
export function hostPatternMatches(pattern: string, client: string): boolean {
  const host = client.toLowerCase();
  if (pattern === '' || pattern === '%') return true;
  const net = netmask(pattern);
  if (net) {
    const ip = clientIpv4(host);
    return ip !== undefined && ((ip & net.mask) >>> 0) === net.base;
  }
  if (likeMatches(pattern, host)) return true;
  // An IPv4-mapped IPv6 client also answers to its IPv4 form.
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(host);
  return mapped !== null && likeMatches(pattern, mapped[1]!);
}

function isIpLiteral(pattern: string): boolean {
  return ipv4(pattern) !== undefined || (/^[0-9a-f:.]+$/i.test(pattern) && pattern.includes(':'));
}

/** Position (1-based) of the first unescaped wildcard, or 0 when there is none. */
function firstWildcard(text: string): number {
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\' && i + 1 < text.length) {
      i += 1;
      continue;
    }
    if (text[i] === '%' || text[i] === '_') return i + 1;
  }
  return 0;
}

/** Sort key of one part (host or user): a literal ranks above every pattern, a pattern by where its first wildcard is, empty last. */
function partRank(text: string): number {
  if (text === '') return 0;
  const wild = firstWildcard(text);
  return wild === 0 ? 128 : Math.min(wild, 127);
}

/**
 * Negative when `a` is more specific than `b` (the server tries it first).
 * Exported for its tests; use accountForSession.
 */
export function compareSpecificity(a: AccountId, b: AccountId): number {
  const netA = netmask(a.host);
  const netB = netmask(b.host);
  const ipA = netA ? netA.bits : isIpLiteral(a.host) ? 128 : -1;
  const ipB = netB ? netB.bits : isIpLiteral(b.host) ? 128 : -1;
  if (ipA >= 0 || ipB >= 0) {
    if (ipA !== ipB) return ipB - ipA;
  } else {
    const byHost = partRank(b.host) - partRank(a.host);
    if (byHost !== 0) return byHost;
  }
  return partRank(b.user) - partRank(a.user);
}

/**
 * The account a session of `user` from `processHost` logged in as, among
 * `accounts` (every account of that user name, and the anonymous ones): the most
 * specific whose host pattern matches. Undefined when none matches (the
 * session's account has since been dropped and was none of these).
 */
export function accountForSession(user: string, processHost: string, accounts: readonly AccountId[]): AccountId | undefined {
  const client = clientHostOf(processHost);
  const candidates = accounts.filter((a) => (a.user === user || a.user === '') && hostPatternMatches(a.host, client));
  candidates.sort(compareSpecificity);
  return candidates[0];
}

/**
 * Which of `sessions` belong to the account `user@host`. When the user name has
 * only that account on the server, every session of the name is that account's;
 * otherwise each session goes to the account the server would have chosen.
 * `accounts`: the server's accounts of that name and the anonymous ones (the
 * account itself may be among them or already dropped).
 */
export function sessionsOfAccount<S extends { user: string; host: string }>(target: AccountId, sessions: readonly S[], accounts: readonly AccountId[]): S[] {
  const host = target.host.toLowerCase();
  const mine = sessions.filter((s) => s.user === target.user);
  const others = accounts.filter((a) => !(a.user === target.user && a.host.toLowerCase() === host));
  if (!others.some((a) => a.user === target.user || a.user === '')) return mine;
  const candidates = [...others, { user: target.user, host }];
  return mine.filter((s) => {
    const chosen = accountForSession(s.user, s.host, candidates);
    return chosen !== undefined && chosen.user === target.user && chosen.host.toLowerCase() === host;
  });
}
