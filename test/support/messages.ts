import {
  adminMessage,
  approvalMessage,
  grantMessage,
  grantOwnerMessage,
  noticeMessage,
  reconcileMessage,
  toMailMessage,
  type AdminMessageInput,
  type ApprovalMessageInput,
  type GrantMessageInput,
  type MailMessage,
  type NoticeMessageInput,
  type ReconcileMessageInput,
} from '../../src/adapters/notify';
import { mysqlGuide } from '../../src/adapters/engines/mysql/guide';

// The templates as the e-mail channel renders them: the message a test of the
// wording reads. The guide is MySQL's unless a test passes another.

type WithGuide<T extends { guide: unknown }> = Omit<T, 'guide'> & Partial<Pick<T, 'guide'>>;

export const grantMail = (input: WithGuide<GrantMessageInput>): MailMessage => toMailMessage(grantMessage({ guide: mysqlGuide, ...input }));

export function grantOwnerNotice(input: WithGuide<GrantMessageInput>): MailMessage | undefined {
  const n = grantOwnerMessage({ guide: mysqlGuide, ...input });
  return n && toMailMessage(n);
}

export const adminMail = (input: WithGuide<AdminMessageInput>): MailMessage => toMailMessage(adminMessage({ guide: mysqlGuide, ...input }));
export const approvalMail = (input: ApprovalMessageInput): MailMessage => toMailMessage(approvalMessage(input));
export const noticeMail = (input: NoticeMessageInput): MailMessage => toMailMessage(noticeMessage(input));
export const reconcileMail = (input: ReconcileMessageInput): MailMessage => toMailMessage(reconcileMessage(input));
