import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from '../support/tools';

// What the documentation tests read: the README and docs/, as prose (code blocks
// and code spans set apart), with their headings and links.

export interface Doc {
  /** Path from the repository's root, e.g. `docs/api.md`. */
  path: string;
  text: string;
}

/** README.md and every Markdown file under docs/, decision records included. */
export function allDocs(): Doc[] {
  const files = ['README.md', ...walk(join(ROOT, 'docs')).map((f) => relative(ROOT, f))];
  return files.map((path) => ({ path, text: readFileSync(join(ROOT, path), 'utf8') }));
}

/** The reference: README.md and docs/*.md, without the decision records (which are history). */
export function referenceDocs(): Doc[] {
  return allDocs().filter((d) => !d.path.startsWith('docs/decisions/'));
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return walk(path);
    return e.name.endsWith('.md') ? [path] : [];
  });
}

/** The text with fenced code blocks blanked (line count kept), so that `# comment` lines are no headings. */
export function withoutCodeBlocks(text: string): string {
  let fence: string | undefined;
  return text
    .split('\n')
    .map((line) => {
      const marker = /^\s{0,3}(`{3,}|~{3,})/.exec(line)?.[1];
      if (fence === undefined && marker) {
        fence = marker[0]!.repeat(marker.length);
        return '';
      }
      if (fence !== undefined) {
        if (marker && marker.startsWith(fence)) fence = undefined;
        return '';
      }
      return line;
    })
    .join('\n');
}

/** The fenced code blocks' contents. */
export function codeBlocks(text: string): string[] {
  return [...text.matchAll(/^\s{0,3}(`{3,}|~{3,})[^\n]*\n([\s\S]*?)^\s{0,3}\1\s*$/gm)].map((m) => m[2]!);
}

/**
 * The anchor GitHub gives a heading: its text as rendered (code spans, emphasis and
 * link syntax removed), lower-cased, without punctuation other than `-` and `_`,
 * spaces turned into `-`; a repeated slug gets `-1`, `-2`...
 */
export function headingAnchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const m of withoutCodeBlocks(text).matchAll(/^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/gm)) {
    const rendered = m[1]!
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/`([^`]*)`/g, '$1')
      .replace(/(\*\*|__|\*|_)(?=\S)([^*_]*?\S)\1/g, '$2');
    const base = rendered
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

export interface Link {
  target: string;
  line: number;
}

/** Inline links `[text](target)`, images and reference definitions `[x]: target`, outside code. */
export function links(text: string): Link[] {
  const prose = withoutCodeBlocks(text)
    .split('\n')
    // Code spans are literal text, not links.
    .map((line) => line.replace(/(`+)(?:(?!\1)[\s\S])*?\1/g, (span) => ' '.repeat(span.length)));
  const out: Link[] = [];
  prose.forEach((line, i) => {
    for (const m of line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ target: m[1]!, line: i + 1 });
    const def = /^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/.exec(line);
    if (def) out.push({ target: def[1]!, line: i + 1 });
  });
  return out;
}
