import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { simpleParser, type AddressObject } from 'mailparser';
import { SMTPServer, type SMTPServerError } from 'smtp-server';

// The dev stack's SMTP catcher: accepts every message on loopback, keeps the
// latest ones in memory and shows them in a small web inbox, so the e-mails of a
// grant can be read without a real relay. Run: `tsx scripts/mail-catcher.ts`.
// Accepts any AUTH and offers no STARTTLS, so the service can be pointed at it
// with or without SMTP credentials configured.

export interface MailCatcherOptions {
  /** 0 picks a free port. */
  smtpPort?: number;
  httpPort?: number;
  host?: string;
  /** Older messages are dropped beyond this many. */
  maxMessages?: number;
}

export interface CaughtMail {
  id: string;
  receivedAt: string;
  from: string;
  to: string[];
  cc: string[];
  envelopeFrom: string;
  envelopeTo: string[];
  subject: string;
  messageId: string;
  text: string;
  html: string;
  size: number;
}

export interface MailCatcher {
  host: string;
  smtpPort: number;
  httpPort: number;
  smtpUrl: string;
  httpUrl: string;
  /** Newest first. */
  messages(): CaughtMail[];
  clear(): void;
  stop(): Promise<void>;
}

interface Stored extends CaughtMail {
  raw: Buffer;
}

const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

export function addresses(header: AddressObject | AddressObject[] | undefined): string[] {
  const list = Array.isArray(header) ? header : header ? [header] : [];
  return list.flatMap((h) => h.value.flatMap((a) => (a.group ? a.group : [a]))).flatMap((a) => (a.address ? [a.address] : []));
}

export function smtpError(code: number, message: string): SMTPServerError {
  const err: SMTPServerError = new Error(message);
  err.responseCode = code;
  return err;
}

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function publicView({ raw: _raw, ...mail }: Stored): CaughtMail {
  return mail;
}

// Mail HTML is hostile by assumption: it is only ever shown inside a sandboxed
// iframe (no scripts, no same-origin, no forms), and the policy below, which the
// srcdoc document inherits, also keeps it from loading anything remote.
const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

const STYLE = `body{font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:12px 24px;display:flex;gap:16px;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:600}
main{padding:16px 24px}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d0d7de}
th,td{text-align:left;padding:8px 12px;border-bottom:1px solid #eaeef2;font-size:14px;vertical-align:top}
th{background:#f6f8fa}
td.t{white-space:nowrap;color:#57606a}
pre{background:#fff;border:1px solid #d0d7de;padding:12px;white-space:pre-wrap;word-break:break-word}
iframe{width:100%;height:640px;border:1px solid #d0d7de;background:#fff}
button{cursor:pointer}
.muted{color:#57606a}`;

function page(title: string, body: string, refresh = false): string {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>${
    refresh ? '<meta http-equiv="refresh" content="10">' : ''
  }<style>${STYLE}</style></head><body><header><a href="/">Mail catcher</a><span class="muted">${escapeHtml(title)}</span></header><main>${body}</main></body></html>`;
}

function inboxPage(list: Stored[]): string {
  const rows = list
    .map(
      (m) =>
        `<tr><td class="t">${escapeHtml(m.receivedAt.replace('T', ' ').slice(0, 19))}</td><td>${escapeHtml(m.from)}</td><td>${escapeHtml(
          [...m.to, ...m.cc].join(', '),
        )}</td><td><a href="/messages/${encodeURIComponent(m.id)}">${escapeHtml(m.subject || '(no subject)')}</a></td></tr>`,
    )
    .join('');
  return page(
    `${list.length} message${list.length === 1 ? '' : 's'}`,
    `<form method="post" action="/clear" style="margin:0 0 12px"><button type="submit">Delete all</button> <span class="muted">Refreshes every 10 s. JSON: <a href="/api/messages">/api/messages</a></span></form>` +
      (list.length
        ? `<table><thead><tr><th>Received (UTC)</th><th>From</th><th>To / Cc</th><th>Subject</th></tr></thead><tbody>${rows}</tbody></table>`
        : '<p class="muted">No messages yet.</p>'),
    true,
  );
}

function messagePage(m: Stored): string {
  const facts: [string, string][] = [
    ['From', m.from],
    ['To', m.to.join(', ')],
    ['Cc', m.cc.join(', ')],
    ['Envelope', `${m.envelopeFrom} → ${m.envelopeTo.join(', ')}`],
    ['Subject', m.subject],
    ['Received', m.receivedAt],
    ['Message-ID', m.messageId],
  ];
  const table = `<table>${facts
    .filter(([, v]) => v)
    .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`)
    .join('')}</table>`;
  const html = m.html ? `<h3>HTML</h3><iframe sandbox="" referrerpolicy="no-referrer" srcdoc="${escapeHtml(m.html)}"></iframe>` : '';
  const text = `<h3>Text</h3><pre>${escapeHtml(m.text || '(no text part)')}</pre>`;
  const raw = `<p><a href="/api/messages/${encodeURIComponent(m.id)}/raw">Raw message</a> · <a href="/api/messages/${encodeURIComponent(m.id)}">JSON</a></p>`;
  return page(m.subject || '(no subject)', table + html + text + raw);
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(JSON.stringify(body));
}

export async function startMailCatcher(options: MailCatcherOptions = {}): Promise<MailCatcher> {
  const host = options.host ?? '127.0.0.1';
  const maxMessages = options.maxMessages ?? 500;
  // Oldest first internally; the views reverse it.
  const store: Stored[] = [];
  let nextId = 1;

  const smtp = new SMTPServer({
    name: 'mail-catcher.local',
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    allowInsecureAuth: true,
    disableReverseLookup: true,
    logger: false,
    size: MAX_MESSAGE_BYTES,
    // Pooled clients keep connections open; do not let them hold up a shutdown.
    closeTimeout: 1000,
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username ?? 'anonymous' });
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (stream.sizeExceeded) {
          callback(smtpError(552, 'Message exceeds the catcher limit'));
          return;
        }
        const raw = Buffer.concat(chunks);
        const base = {
          id: String(nextId++),
          receivedAt: new Date().toISOString(),
          envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          envelopeTo: session.envelope.rcptTo.map((r) => r.address),
          size: raw.length,
          raw,
        };
        simpleParser(raw)
          .then((parsed) => ({
            ...base,
            from: addresses(parsed.from)[0] ?? '',
            to: addresses(parsed.to),
            cc: addresses(parsed.cc),
            subject: parsed.subject ?? '',
            messageId: parsed.messageId ?? '',
            text: parsed.text ?? '',
            html: typeof parsed.html === 'string' ? parsed.html : '',
          }))
          // A message the parser chokes on is still worth keeping: the raw source is what one debugs.
          .catch(() => ({ ...base, from: base.envelopeFrom, to: base.envelopeTo, cc: [], subject: '(unparseable message)', messageId: '', text: '', html: '' }))
          .then((mail: Stored) => {
            store.push(mail);
            if (store.length > maxMessages) store.splice(0, store.length - maxMessages);
            callback(null, `Caught as message ${mail.id}`);
          });
      });
    },
  });
  smtp.on('error', (err: Error) => console.error(`mail-catcher: SMTP error: ${err.message}`));

  const find = (id: string): Stored | undefined => store.find((m) => m.id === id);
  const newestFirst = (): Stored[] => [...store].reverse();

  const web = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://catcher');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    const one = /^\/api\/messages\/([^/]+)(\/raw)?$/.exec(path);
    const view = /^\/messages\/([^/]+)$/.exec(path);
    try {
      if (path === '/' && method === 'GET') {
        res.writeHead(200, PAGE_HEADERS).end(inboxPage(newestFirst()));
      } else if (path === '/clear' && method === 'POST') {
        store.splice(0);
        req.resume();
        res.writeHead(303, { location: '/' }).end();
      } else if (view && method === 'GET') {
        const m = find(decodeURIComponent(view[1]!));
        if (m) res.writeHead(200, PAGE_HEADERS).end(messagePage(m));
        else res.writeHead(404, PAGE_HEADERS).end(page('Not found', '<p>No such message (it may have been deleted).</p>'));
      } else if (path === '/api/messages' && method === 'GET') {
        const messages = newestFirst().map(publicView);
        sendJson(res, 200, { total: messages.length, messages });
      } else if (path === '/api/messages' && method === 'DELETE') {
        store.splice(0);
        res.writeHead(204).end();
      } else if (one && method === 'GET') {
        const m = find(decodeURIComponent(one[1]!));
        if (!m) sendJson(res, 404, { error: 'not_found', message: 'no such message' });
        else if (one[2]) res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' }).end(m.raw);
        else sendJson(res, 200, publicView(m));
      } else if (one && !one[2] && method === 'DELETE') {
        const index = store.findIndex((m) => m.id === decodeURIComponent(one[1]!));
        if (index >= 0) store.splice(index, 1);
        res.writeHead(index >= 0 ? 204 : 404).end();
      } else {
        sendJson(res, 404, { error: 'not_found', message: `${method} ${path} is not a route of the mail catcher` });
      }
    } catch (err) {
      sendJson(res, 500, { error: 'internal', message: (err as Error).message });
    }
  });

  const listenSmtp = new Promise<number>((resolve, reject) => {
    smtp.server.once('error', reject);
    smtp.listen(options.smtpPort ?? 1025, host, () => {
      smtp.server.off('error', reject);
      resolve((smtp.server.address() as AddressInfo).port);
    });
  });
  const listenHttp = new Promise<number>((resolve, reject) => {
    web.once('error', reject);
    web.listen(options.httpPort ?? 8025, host, () => {
      web.off('error', reject);
      resolve((web.address() as AddressInfo).port);
    });
  });
  const closeSmtp = (): Promise<void> => new Promise((resolve) => smtp.close(() => resolve()));
  const closeHttp = (): Promise<void> =>
    new Promise((resolve) => {
      web.close(() => resolve());
      web.closeAllConnections();
    });

  let smtpPort: number;
  let httpPort: number;
  try {
    [smtpPort, httpPort] = await Promise.all([listenSmtp, listenHttp]);
  } catch (err) {
    // One of the two could not bind: release the other so the process can exit or retry.
    await Promise.allSettled([smtp.server.listening ? closeSmtp() : undefined, web.listening ? closeHttp() : undefined]);
    throw err;
  }

  const urlHost = host.includes(':') ? `[${host}]` : host;
  let stopping: Promise<void> | undefined;
  return {
    host,
    smtpPort,
    httpPort,
    smtpUrl: `smtp://${urlHost}:${smtpPort}`,
    httpUrl: `http://${urlHost}:${httpPort}/`,
    messages: () => newestFirst().map(publicView),
    clear: () => void store.splice(0),
    stop() {
      stopping ??= Promise.all([closeSmtp(), closeHttp()]).then(() => undefined);
      return stopping;
    },
  };
}

function portFromEnv(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`${name} must be a port number (0-65535), got "${value}"`);
  }
  return port;
}

async function main(): Promise<void> {
  const catcher = await startMailCatcher({
    smtpPort: portFromEnv('MAIL_CATCHER_SMTP_PORT', 1025),
    httpPort: portFromEnv('MAIL_CATCHER_HTTP_PORT', 8025),
    host: process.env.MAIL_CATCHER_HOST || '127.0.0.1',
  });
  console.log(`mail-catcher: SMTP  ${catcher.smtpUrl} (any or no AUTH, no TLS)`);
  console.log(`mail-catcher: inbox ${catcher.httpUrl}  (JSON: ${catcher.httpUrl}api/messages)`);
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) {
      // A second signal means "now": do not wait for lingering SMTP clients.
      process.exit(1);
    }
    stopping = true;
    console.log(`mail-catcher: ${signal}, stopping`);
    catcher.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

if (require.main === module) {
  main().catch((err: Error) => {
    console.error(`mail-catcher: ${err.message}`);
    process.exit(1);
  });
}
