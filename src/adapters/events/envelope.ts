import { createHmac } from 'node:crypto';

import type { AuditRecord } from '../../contract/activities';

// What an endpoint of the event stream receives (docs/decisions/0410-signed-event-stream.md).
//
// cloudevents: each audit event as a CloudEvents 1.0 JSON document (structured
// mode, `application/cloudevents+json`), its `id` the audit event's id, so that a
// receiver deduplicates a redelivery by it; signed as Standard Webhooks sign:
// `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256
// of "id.timestamp.body">`. slack: one readable line for a Slack-compatible
// incoming webhook. Neither carries a credential: audit events hold none.

export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json';

/** The CloudEvents `type` of an audit event: `io.dbaccess.audit.granted`, …. */
export function eventType(event: string): string {
  return `io.dbaccess.audit.${event.toLowerCase()}`;
}

export function cloudEvent(record: AuditRecord): Record<string, unknown> {
  return {
    specversion: '1.0',
    id: record.eventId,
    source: `dbaccess/${encodeURIComponent(record.project)}/${encodeURIComponent(record.database)}`,
    type: eventType(record.event),
    subject: record.grantId,
    time: record.at,
    datacontenttype: 'application/json',
    data: record,
  };
}

/** Standard Webhooks signature headers of a body. */
export function signatureHeaders(key: Buffer, id: string, timestampSeconds: number, body: string): Record<string, string> {
  const mac = createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': String(timestampSeconds), 'webhook-signature': `v1,${mac}` };
}

/** A signing key as Standard Webhooks writes it (`whsec_` and base64) or plain base64; 24 bytes or more. */
export function parseSigningKey(text: string): Buffer | undefined {
  const raw = text.trim().replace(/^whsec_/, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(raw)) return undefined;
  const key = Buffer.from(raw, 'base64');
  return key.length >= 24 ? key : undefined;
}

/** Slack's mrkdwn needs &, < and > escaped; nothing in an event can then become a link or a mention. */
function mrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/[\u0000-\u001f\u007f]/g, ' ');
}

/** A Slack link: its URL (ours, no | or >) and a label. */
function slackLink(url: string, label: string): string {
  return /^https?:\/\/[^\s|<>]+$/.test(url) ? `<${url}|${label}>` : label;
}

/**
 * One line (two with a reason) a person reads in a channel; in an approver's
 * channel, a request still waiting carries that approver's one-click links.
 */
export function slackMessage(record: AuditRecord, links?: { approve: string; deny: string; approver: string }): { text: string } {
  const what = `*${mrkdwn(record.event)}* ${mrkdwn(record.accessLevel)} on ${mrkdwn(record.project)}/${mrkdwn(record.database)} for ${mrkdwn(record.email)}`;
  const until = record.event === 'REVOKED' || record.event === 'EXPIRED' ? '' : `, until ${record.expiresAt.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC')}`;
  const lines = [`${what}${until} (by ${mrkdwn(record.actor)})`];
  if (record.reason) lines.push(`> ${mrkdwn(record.reason).slice(0, 500)}`);
  lines.push(`\`${mrkdwn(record.grantId)}\` · event ${mrkdwn(record.eventId)}`);
  if (links) lines.push(`${slackLink(links.approve, 'Approve')} · ${slackLink(links.deny, 'Deny')} (links of ${mrkdwn(links.approver)}: each opens a page that asks to confirm)`);
  return { text: lines.join('\n') };
}
