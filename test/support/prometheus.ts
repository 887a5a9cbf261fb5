/**
 * The sum of the samples of `name` whose labels include `labels`, in a Prometheus
 * text exposition; undefined when there is none.
 */
export function sampleValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!m || m[1] !== name) continue;
    const found = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) sum = (sum ?? 0) + Number(m[3]);
  }
  return sum;
}

/** Every line of an exposition is a comment or `name{labels} value`: what a scraper accepts (NaN and Inf in any case, as Prometheus parses them). */
export function isExposition(text: string): boolean {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .every((l) => /^# (HELP|TYPE) [a-zA-Z_:][\w:]* .+$/.test(l) || /^#/.test(l) || /^[a-zA-Z_:][\w:]*(\{([a-zA-Z_]\w*="(?:[^"\\]|\\.)*",?)*\})? [-+]?(\d|inf|nan)/i.test(l));
}
