import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import { listWorkflows } from '../../src/adapters/temporal/visibility';
import { decodeAll } from './codec';

// A scanner for secrets in everything the service leaves behind: workflow
// histories, log lines, e-mails, or any other text a test adds.
//
//   const scan = new LeakScanner();
//   scan.secret('admin password', admin.password);          // one per secret (names, never values, are reported)
//   scan.source('log line 3', line);                         // or sources from helpers below
//   await addHistories(scan, client, `TaskQueue = '${q}'`);
//   assert.deepEqual(scan.findings(), []);                   // "admin password (base64) in log line 3"
//
// Each secret is searched as is and in the encodings it could be stored in:
// base64 (of the secret, and at each of the 3 alignments inside a longer base64
// text), base64url, URL-encoding, JSON string escaping and quoted-printable soft
// line breaks are undone in the source rather than tried as variants.
//
// Extending it: call `secret()` for new kinds of secret (one-time link tokens),
// and `source()` or a new `add...` helper for new places (audit items, HTTP answers).

export interface Finding {
  secret: string;
  encoding: string;
  source: string;
}

interface Needle {
  name: string;
  encoding: string;
  text: string;
}

/** The forms a secret can take when written somewhere. */
export function encodingsOf(secret: string): { encoding: string; text: string }[] {
  const out: { encoding: string; text: string }[] = [{ encoding: 'plain', text: secret }];
  const add = (encoding: string, text: string): void => {
    if (text.length >= 6 && !out.some((o) => o.text === text)) out.push({ encoding, text });
  };
  add('url-encoded', encodeURIComponent(secret));
  add('json-escaped', JSON.stringify(secret).slice(1, -1));
  add('json-escaped twice', JSON.stringify(JSON.stringify(secret).slice(1, -1)).slice(1, -1));
  // base64 of the secret on its own, and inside a longer base64 text at each alignment:
  // drop the characters that depend on the neighbouring bytes.
  const bytes = Buffer.from(secret, 'utf8');
  for (let shift = 0; shift < 3; shift++) {
    const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64');
    const start = shift === 0 ? 0 : Math.ceil((shift * 4) / 3) + 1;
    const stable = encoded.slice(start, start + Math.floor((bytes.length * 4) / 3) - 2);
    add(`base64${shift ? ` (offset ${shift})` : ''}`, stable);
    add(`base64url${shift ? ` (offset ${shift})` : ''}`, stable.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  add('hex', bytes.toString('hex'));
  return out;
}

/** Views of a text that undo how it may have been folded: quoted-printable (soft breaks, `=XX`) and wrapped lines (base64 in MIME). */
function views(text: string): string[] {
  return [
    text,
    text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
    text.replace(/\r?\n/g, ''),
  ];
}

export class LeakScanner {
  private readonly needles: Needle[] = [];
  private readonly sources: { name: string; text: string }[] = [];

  /** A secret to look for, under a name that is safe to print. Empty or very short values are refused: they would match anything. */
  secret(name: string, value: string | undefined): this {
    if (!value || value.length < 8) throw new Error(`leak scanner: the secret "${name}" is missing or shorter than 8 characters`);
    for (const e of encodingsOf(value)) this.needles.push({ name, encoding: e.encoding, text: e.text });
    return this;
  }

  /** A text to search, under a name that says where it came from. */
  source(name: string, text: string): this {
    this.sources.push({ name, text });
    return this;
  }

  get secretCount(): number {
    return new Set(this.needles.map((n) => n.name)).size;
  }

  get sourceCount(): number {
    return this.sources.length;
  }

  /** Every (secret, encoding, source) hit; secrets are named, never printed. */
  findings(): Finding[] {
    const found: Finding[] = [];
    for (const s of this.sources) {
      const texts = views(s.text);
      for (const n of this.needles) {
        if (texts.some((t) => t.includes(n.text))) found.push({ secret: n.name, encoding: n.encoding, source: s.name });
      }
    }
    return found;
  }

  /** A readable list of the findings, for an assertion message. */
  report(): string {
    return this.findings()
      .map((f) => `${f.secret} (${f.encoding}) in ${f.source}`)
      .join('\n');
  }
}

/**
 * A history (or any proto object) as JSON text, with every byte array (payloads, summaries)
 * shown both as base64 and decoded as UTF-8, so a secret is found whichever way it was
 * stored. Walks the object itself: JSON.stringify would call the messages' own toJSON
 * first, which turns bytes into base64 only.
 */
export function historyToText(history: unknown): string {
  const seen = new WeakSet<object>();
  const plain = (v: unknown): unknown => {
    if (v instanceof Uint8Array) {
      const buf = Buffer.from(v);
      const utf8 = buf.toString('utf8');
      // Payloads are mostly JSON: parsed, their strings are searched without a second escaping.
      let json: unknown;
      try {
        json = JSON.parse(utf8);
      } catch {
        json = undefined;
      }
      return { base64: buf.toString('base64'), utf8, ...(json !== undefined ? { json } : {}) };
    }
    if (typeof v === 'bigint') return v.toString();
    if (v === null || typeof v !== 'object') return v;
    // Long values of protobufjs.
    if ('low' in v && 'high' in v && 'unsigned' in v) return String(v);
    if (seen.has(v)) return '[cycle]';
    seen.add(v);
    if (Array.isArray(v)) return v.map(plain);
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = plain(x);
    return out;
  };
  return JSON.stringify(plain(history));
}

/** Adds the history of every workflow run matching a visibility `query`; returns how many runs were added. */
export async function addHistories(scan: LeakScanner, client: Client, query: string, codec?: PayloadCodec): Promise<number> {
  let n = 0;
  for await (const wf of listWorkflows(client, query)) {
    const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    // As stored, and decrypted as anyone holding the payload key (or the UI's codec endpoint) reads it.
    scan.source(`the history of ${wf.workflowId} (run ${wf.runId})`, historyToText(history));
    if (codec) scan.source(`the history of ${wf.workflowId} (run ${wf.runId}), decrypted`, historyToText(await decodeAll(history, codec)));
    n += 1;
  }
  return n;
}

/** Adds log lines, each as its own source ("log line N: <message>"). */
export function addLogLines(scan: LeakScanner, lines: readonly string[], label = 'log line'): void {
  lines.forEach((line, i) => {
    let msg = '';
    try {
      msg = String((JSON.parse(line) as { msg?: unknown }).msg ?? '');
    } catch {
      // not JSON: name it by number only
    }
    scan.source(`${label} ${i + 1}${msg ? ` ("${msg.slice(0, 60)}")` : ''}`, line);
  });
}

/** Adds e-mails: the raw MIME (headers, every part, as sent) and the decoded text and HTML. */
export function addMails(scan: LeakScanner, mails: readonly { subject: string; raw: string; text: string; html: string; to: string[] }[]): void {
  for (const m of mails) scan.source(`the e-mail "${m.subject}" to ${m.to.join(', ')}`, `${m.raw}\n${m.text}\n${m.html}`);
}
