import { createHash } from 'node:crypto';

import type { Notification } from '../port';
import { headerSafe } from '../format';
import { renderHtml, renderText } from './render';

/** One e-mail as the SMTP adapter sends it. */
export interface MailMessage {
  to: string[];
  cc?: string[];
  subject: string;
  text: string;
  html: string;
  /** Deterministic Message-ID, so that a retried send can be recognised as the same message. */
  messageId?: string;
}

/** Sends e-mails; the e-mail notifier's transport. */
export interface Mailer {
  send(message: MailMessage): Promise<void>;
  close(): void;
}

/**
 * `<granted.{eventId}@dbaccess>`: the same event always yields the same id, so a
 * retried send is recognisable as the same message. Characters outside
 * `[A-Za-z0-9_-]` are written as `=XX` (UTF-8), which keeps the id a valid
 * dot-atom and distinct ids distinct.
 */
export function messageIdFor(kind: string, eventId: string): string {
  const encode = (text: string): string =>
    Array.from(Buffer.from(text, 'utf8'))
      .map((b) => {
        const c = String.fromCharCode(b);
        return /[A-Za-z0-9_-]/.test(c) ? c : `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
      })
      .join('');
  let id = encode(eventId) || 'no-event';
  // Message-ID lines must stay short; a hash keeps overlong ids distinct.
  if (id.length > 160) id = `${id.slice(0, 100)}-${createHash('sha256').update(eventId).digest('hex').slice(0, 32)}`;
  return `<${encode(kind.toLowerCase())}.${id}@dbaccess>`;
}

/** The e-mail for a notification: both parts rendered, a safe subject, the Message-ID of its id. */
export function toMailMessage(notification: Notification): MailMessage {
  const subject = headerSafe(notification.subject);
  const cc = notification.cc ?? [];
  return {
    to: notification.to,
    ...(cc.length > 0 ? { cc } : {}),
    subject,
    text: renderText(notification.document),
    html: renderHtml(notification.document, subject),
    messageId: messageIdFor(notification.id.kind, notification.id.key),
  };
}
