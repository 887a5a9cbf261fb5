import type { Document } from './document';

export type { Block, Document, Fact, Tone } from './document';

// The notify port: what the activities hand over to tell people something. A
// channel adapter (e-mail under ./email; another channel as a folder beside it)
// renders the document and delivers it. Nothing here is e-mail-shaped except that
// people are named by their e-mail address, the one identity every channel can map.

/** Identifies a message: the same kind and key on every retry of the same event, so a channel can recognise a repeat. */
export interface NotificationId {
  /** What is announced (`GRANTED`, `GRANTED_OWNER`, `reconcile`...). */
  kind: string;
  /** The audit event id (or reconciler run id) it announces, plus a tag when one event yields distinct messages. */
  key: string;
}

export interface Notification {
  /** Addressees, by e-mail address, already deduplicated. */
  to: string[];
  /** Told as well, in copy; absent when nobody is. */
  cc?: string[];
  /** One line that says what happened (a mail's subject, a chat message's heading). */
  subject: string;
  document: Document;
  id: NotificationId;
}

export interface Notifier {
  /**
   * Delivers one notification. A refusal that no retry can change (an address the
   * channel rejects, no recipient) throws an ActivityError of type MailRejected, the
   * type the workflows' retry policies name, whatever the channel; anything else
   * that fails is a plain Error, retried. Error messages carry no credential.
   */
  notify(notification: Notification): Promise<void>;
  close(): void;
}
