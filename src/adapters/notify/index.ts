export { createSmtpMailer, toMailError, type SmtpMailerOptions } from './email/smtp';
export { grantMail, grantOwnerNotice, adminMail, type GrantMailKind, type AdminMailKind, type GrantMailInput, type AdminMailInput, type MailCredentials } from './templates/grant';
export { messageIdFor } from './format';
export { approvalMail, type ApprovalMailInput, type ApprovalMailKind } from './templates/approval';
