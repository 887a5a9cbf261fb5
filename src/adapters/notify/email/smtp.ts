import nodemailer, { type NodemailerError, type SendMailOptions } from 'nodemailer';

import type { SmtpSettings } from '../../../config';
import { activityError, ActivityErrorType, scrub } from '../../errors';
import type { Mailer, MailMessage } from './message';
import { clean, cleanAddress } from '../format';

export interface SmtpMailerOptions {
  /** TCP connect; an unreachable relay should fail the attempt fast so the activity retries. Default 10 s. */
  connectionTimeoutMs?: number;
  /** Wait for the 220 greeting after connecting. Default 10 s. */
  greetingTimeoutMs?: number;
  /** Inactivity on an open connection. Default 30 s. */
  socketTimeoutMs?: number;
  /**
   * Whole send, including waiting in the pool's queue: a relay that trickles its
   * replies never trips the socket timeout, and the activity must not hang until
   * its own start-to-close timeout. Default 60 s.
   */
  sendTimeoutMs?: number;
  /** Parallel connections to the relay. Default 2: mail is a trickle here. */
  maxConnections?: number;
}

/** Codes of failures that happened on the way to the server rather than in what it answered. */
const CONNECTION_CODES = new Set(['ECONNECTION', 'ESOCKET', 'ETIMEDOUT', 'EDNS', 'ETLS', 'EREQUIRETLS', 'EPROXY']);

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/**
 * Turns a nodemailer failure into what the workflow needs: MailRejected when the
 * relay refused the message for good (retrying the same message gets the same
 * answer), a plain retryable Error otherwise. Messages are rebuilt from scratch
 * (never the original error or its cause chain) and scrubbed of the SMTP
 * credentials, including their AUTH PLAIN / LOGIN encodings, because activity
 * failures end up in Temporal history.
 */
export function toMailError(err: unknown, settings: SmtpSettings): Error {
  const e = (err ?? {}) as NodemailerError;
  const secrets = [settings.user, settings.password];
  if (settings.password) {
    secrets.push(base64(settings.password), base64(`\u0000${settings.user ?? ''}\u0000${settings.password}`));
    if (settings.user) secrets.push(base64(`${settings.user}\u0000${settings.user}\u0000${settings.password}`));
  }
  const safe = (text: string | undefined): string => scrub(clean(text, 300), ...secrets);
  const server = `${settings.host}:${settings.port}`;
  const code = typeof e.code === 'string' ? e.code : undefined;

  if (e.name === 'AbortError' || code === 'EABORT') {
    return new Error(`sending mail through ${server} did not finish in time`);
  }
  if (code === 'EAUTH' || code === 'ENOAUTH') {
    // Not MailRejected: nothing is wrong with the message, and once the credentials
    // are fixed (or rotated back) the same message goes through.
    return new Error(`SMTP authentication at ${server} failed${e.responseCode ? ` (${e.responseCode})` : ''}: check the SMTP user and password`);
  }
  const responseCode = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  const permanent = e.permanent ?? (responseCode !== undefined && responseCode >= 500 && responseCode < 600 && responseCode !== 503);
  const reply = safe(e.response);
  const at = e.command ? ` at ${safe(e.command.split(' ')[0])}` : '';
  if (responseCode !== undefined && permanent) {
    const rejected = Array.isArray(e.rejected) ? e.rejected.length : 0;
    return activityError(
      ActivityErrorType.MailRejected,
      `SMTP server ${server} rejected the message (${responseCode}${at})${reply ? `: ${reply}` : ''}`,
      { responseCode, ...(rejected ? { rejectedRecipients: rejected } : {}) },
    );
  }
  if (responseCode === undefined && code === 'EENVELOPE') {
    // Refused before anything reached the server (no or malformed recipients): no retry helps.
    return activityError(ActivityErrorType.MailRejected, `the message cannot be sent: ${safe(e.message)}`);
  }
  if (responseCode !== undefined) {
    return new Error(`SMTP server ${server} deferred the message (${responseCode}${at})${reply ? `: ${reply}` : ''}`);
  }
  if (code && CONNECTION_CODES.has(code)) {
    const detail = e.originalCode && e.originalCode !== code ? `${code}/${safe(e.originalCode)}` : code;
    return new Error(`cannot reach SMTP server ${server} (${detail})`);
  }
  return new Error(`sending mail through ${server} failed (${code ? safe(code) : safe(e.message) || 'unknown error'})`);
}

/** A Mailer over a pooled SMTP connection to a relay (Mailpit, Postfix, SES SMTP...). */
export function createSmtpMailer(settings: SmtpSettings, options: SmtpMailerOptions = {}): Mailer {
  const transport = nodemailer.createTransport({
    pool: true,
    host: settings.host,
    port: settings.port,
    secure: settings.secure,
    requireTLS: settings.requireTls,
    ...(settings.user && settings.password ? { auth: { user: settings.user, pass: settings.password } } : {}),
    maxConnections: options.maxConnections ?? 2,
    connectionTimeout: options.connectionTimeoutMs ?? 10_000,
    greetingTimeout: options.greetingTimeoutMs ?? 10_000,
    socketTimeout: options.socketTimeoutMs ?? 30_000,
    dnsTimeout: options.connectionTimeoutMs ?? 10_000,
    // Idle pooled connections are dropped early: relays close them anyway, and a
    // stale one costs a failed attempt.
    idleTimeout: 30_000,
    // The SMTP dialogue includes AUTH: never log it.
    logger: false,
    debug: false,
    // Messages carry user-supplied text; make sure none of it can make nodemailer read files or fetch URLs.
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  const sendTimeoutMs = options.sendTimeoutMs ?? 60_000;

  return {
    async send(message: MailMessage): Promise<void> {
      // Address objects, not strings: nodemailer would parse a string and could
      // split one odd value into several recipients.
      const to = message.to.map(cleanAddress).filter(Boolean);
      const cc = (message.cc ?? []).map(cleanAddress).filter(Boolean);
      if (to.length + cc.length === 0) {
        throw activityError(ActivityErrorType.MailRejected, 'the message has no recipients');
      }
      const mail: SendMailOptions = {
        from: settings.from,
        to: to.map((address) => ({ name: '', address })),
        ...(cc.length > 0 ? { cc: cc.map((address) => ({ name: '', address })) } : {}),
        subject: clean(message.subject, 250),
        text: message.text,
        html: message.html,
        ...(message.messageId ? { messageId: message.messageId } : {}),
        headers: {
          // RFC 3834: keeps vacation responders and ticket systems from answering.
          'Auto-Submitted': 'auto-generated',
          'X-Auto-Response-Suppress': 'All',
        },
        signal: AbortSignal.timeout(sendTimeoutMs),
      };
      try {
        await transport.sendMail(mail);
      } catch (err) {
        throw toMailError(err, settings);
      }
    },
    close(): void {
      transport.close();
    },
  };
}
