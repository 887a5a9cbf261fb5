// The notify adapter: templates write channel-independent notifications; the
// channels under it (./email) deliver them. Activities see only the Notifier port.

export type { Notification, NotificationId, Notifier } from './port';
export type { Block, Document, Fact, Tone } from './document';
export { createEmailNotifier, createSmtpMailer, createSmtpNotifier, messageIdFor, renderHtml, renderText, toMailError, toMailMessage, type Mailer, type MailMessage, type SmtpMailerOptions } from './email';
export { grantMessage, type GrantMessageInput, type MessageCredentials } from './templates/grantee';
export { grantOwnerMessage } from './templates/owner';
export { adminMessage, type AdminMessageInput } from './templates/admin';
export { approvalMessage, type ApprovalMessageInput, type ApprovalMessageKind } from './templates/approval';
export { noticeMessage, type NoticeMessageInput, type NoticeMessageKind } from './templates/notices';
export { reconcileMessage, type ReconcileMessageInput } from './templates/reconcile';
