// Durations written the way operators write them: `90d`, `12h`, `1d12h`, `2w`, `30m`, `45s`.

const UNIT_MS: Record<string, number> = {
  w: 7 * 24 * 3600_000,
  d: 24 * 3600_000,
  h: 3600_000,
  m: 60_000,
  s: 1000,
};

const DURATION = /^(?:\d+[wdhms])+$/;

/** Milliseconds of `text`, or undefined when it is not a duration like `90d` or `1d12h`. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (!DURATION.test(trimmed)) return undefined;
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(/(\d+)([wdhms])/g)) {
    total += Number(amount) * UNIT_MS[unit!]!;
  }
  return total > 0 && Number.isSafeInteger(total) ? total : undefined;
}

/** A readable rendering of a duration in milliseconds (`90d`, `1d12h`, `45s`). */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s';
  let rest = Math.round(ms / 1000) * 1000;
  let out = '';
  for (const unit of ['d', 'h', 'm', 's']) {
    const size = UNIT_MS[unit]!;
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out || '0s';
}
