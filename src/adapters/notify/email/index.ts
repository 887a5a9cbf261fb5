import type { SmtpSettings } from '../../../config';
import type { Notification, Notifier } from '../port';
import { toMailMessage, type Mailer } from './message';
import { createSmtpMailer, type SmtpMailerOptions } from './smtp';

export { createSmtpMailer, toMailError, type SmtpMailerOptions } from './smtp';
export { messageIdFor, toMailMessage, type Mailer, type MailMessage } from './message';
export { renderHtml, renderText } from './render';

// The e-mail channel: a notification becomes one mail (text and HTML of the same
// document), sent through a Mailer.

/** A Notifier that e-mails each notification through `mailer`. */
export function createEmailNotifier(mailer: Mailer): Notifier {
  return {
    notify: (notification: Notification) => mailer.send(toMailMessage(notification)),
    close: () => mailer.close(),
  };
}

/** The e-mail Notifier over a pooled SMTP connection to a relay. */
export function createSmtpNotifier(settings: SmtpSettings, options: SmtpMailerOptions = {}): Notifier {
  return createEmailNotifier(createSmtpMailer(settings, options));
}
