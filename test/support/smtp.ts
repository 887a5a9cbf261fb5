import type { AddressInfo } from 'node:net';
import { simpleParser, type AddressObject } from 'mailparser';
import { SMTPServer, type SMTPServerError } from 'smtp-server';

import { onTestRunEnd } from './hooks';

// A real SMTP server on loopback that keeps what it receives, so mail tests go
// through an actual SMTP dialogue (envelope, DATA, reply codes) and read back
// the parsed message rather than trusting a fake transport.

/** The addresses of a parsed header, groups flattened. */
export function addresses(header: AddressObject | AddressObject[] | undefined): string[] {
  const list = Array.isArray(header) ? header : header ? [header] : [];
  return list.flatMap((h) => h.value.flatMap((a) => (a.group ? a.group : [a]))).flatMap((a) => (a.address ? [a.address] : []));
}

/** An error the SMTP server answers with `code`. */
export function smtpError(code: number, message: string): SMTPServerError {
  const err: SMTPServerError = new Error(message);
  err.responseCode = code;
  return err;
}

export interface CapturedMail {
  /** Address of the From header. */
  from: string;
  to: string[];
  cc: string[];
  subject: string;
  text: string;
  html: string;
  /** With angle brackets, as in the header. */
  messageId: string;
  raw: string;
  /** Envelope recipients (RCPT TO), which include Bcc. */
  envelopeTo: string[];
  receivedAt: Date;
}

export interface SmtpCaptureOptions {
  /** When set, AUTH is required and only these credentials are accepted (plain text AUTH, no TLS). */
  auth?: { user: string; password: string };
}

export type RejectStage = 'rcpt' | 'data';

export interface SmtpCapture {
  port: number;
  host: string;
  messages: CapturedMail[];
  waitFor(pred: (m: CapturedMail) => boolean, timeoutMs?: number): Promise<CapturedMail>;
  clear(): void;
  /**
   * Refuses the next `n` messages with `code` (default 550): at `rcpt` every
   * recipient is refused, at `data` the message is refused after it was sent.
   */
  rejectNext(n: number, code?: number, stage?: RejectStage): void;
  stop(): Promise<void>;
}

export async function startSmtpCapture(options: SmtpCaptureOptions = {}): Promise<SmtpCapture> {
  const messages: CapturedMail[] = [];
  const waiters = new Set<() => void>();
  let rejecting = { left: 0, code: 550, stage: 'rcpt' as RejectStage };
  // Transactions chosen for rejection, so every recipient of one message is refused alike.
  const doomed = new Map<string, { code: number; stage: RejectStage }>();
  const txKey = (session: { id: string; transaction: number }): string => `${session.id}:${session.transaction}`;

  const server = new SMTPServer({
    name: 'smtp-capture.test',
    secure: false,
    disabledCommands: options.auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: !options.auth,
    allowInsecureAuth: true,
    disableReverseLookup: true,
    logger: false,
    size: 10 * 1024 * 1024,
    socketTimeout: 10_000,
    closeTimeout: 1000,
    onAuth(auth, _session, callback) {
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.password) {
        callback(null, { user: auth.username });
      } else {
        callback(smtpError(535, 'Authentication credentials invalid'));
      }
    },
    onMailFrom(_address, session, callback) {
      // A transaction refused at RCPT never reaches DATA; forget it so it cannot doom the next one.
      doomed.delete(txKey(session));
      if (rejecting.left > 0) {
        rejecting.left -= 1;
        doomed.set(txKey(session), { code: rejecting.code, stage: rejecting.stage });
      }
      callback();
    },
    onRcptTo(_address, session, callback) {
      const fate = doomed.get(txKey(session));
      if (fate?.stage === 'rcpt') {
        callback(smtpError(fate.code, 'Recipient refused by test'));
        return;
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const fate = doomed.get(txKey(session));
        doomed.delete(txKey(session));
        if (fate) {
          callback(smtpError(fate.code, 'Message refused by test'));
          return;
        }
        if (stream.sizeExceeded) {
          callback(smtpError(552, 'Message too big'));
          return;
        }
        const raw = Buffer.concat(chunks).toString('utf8');
        const envelopeTo = session.envelope.rcptTo.map((r) => r.address);
        simpleParser(raw)
          .then((parsed) => {
            messages.push({
              from: addresses(parsed.from)[0] ?? '',
              to: addresses(parsed.to),
              cc: addresses(parsed.cc),
              subject: parsed.subject ?? '',
              text: parsed.text ?? '',
              html: typeof parsed.html === 'string' ? parsed.html : '',
              messageId: parsed.messageId ?? '',
              raw,
              envelopeTo,
              receivedAt: new Date(),
            });
            for (const wake of [...waiters]) wake();
            callback();
          })
          .catch((err: Error) => callback(smtpError(451, `cannot parse message: ${err.message}`)));
      });
    },
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Errors after start-up (a client that vanished mid-dialogue) are part of what tests provoke.
  server.on('error', () => undefined);
  const { port } = server.server.address() as AddressInfo;

  let stopped: Promise<void> | undefined;
  return {
    port,
    host: '127.0.0.1',
    messages,
    waitFor(pred, timeoutMs = 5000) {
      const found = messages.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise<CapturedMail>((resolve, reject) => {
        const check = (): void => {
          const hit = messages.find(pred);
          if (!hit) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          const seen = messages.map((m) => `"${m.subject}" to ${m.to.join(', ')}`).join('; ') || 'none';
          reject(new Error(`no matching mail within ${timeoutMs} ms (received: ${seen})`));
        }, timeoutMs);
        waiters.add(check);
      });
    },
    clear() {
      messages.splice(0);
    },
    rejectNext(n, code = 550, stage = 'rcpt') {
      rejecting = { left: n, code, stage };
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return stopped;
    },
  };
}

let shared: Promise<SmtpCapture> | undefined;

/** One capture server for the whole run, stopped after the last test. Tests tell their mail apart by Message-ID or subject. */
export function getSharedSmtp(): Promise<SmtpCapture> {
  if (!shared) {
    shared = startSmtpCapture();
    const started = shared;
    onTestRunEnd(async () => {
      await (await started).stop();
    }, { server: true });
  }
  return shared;
}
