import type { Document, Fact, Tone } from '../document';
import { escapeHtml } from '../format';

// A document rendered twice, as the text and the HTML part of one mail, so the two
// parts can never say different things. HTML escaping happens here, at the only
// place markup is produced.

const WRAP = 78;

function wrap(text: string, indent = ''): string {
  const words = text.split(' ');
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    if (line && indent.length + line.length + 1 + word.length > WRAP) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(indent + line);
  return lines.join('\n');
}

export function renderText(doc: Document): string {
  const out: string[] = [doc.title, '='.repeat(Math.min(doc.title.length, WRAP)), ''];
  for (const block of doc.blocks) {
    switch (block.kind) {
      case 'p':
        out.push(wrap(block.text), '');
        break;
      case 'h':
        out.push(block.text, '-'.repeat(Math.min(block.text.length, WRAP)), '');
        break;
      case 'facts': {
        const width = Math.max(...block.rows.map(([label]) => label.length)) + 2;
        for (const [label, value] of block.rows) out.push(`  ${`${label}:`.padEnd(width)}${value}`);
        out.push('');
        break;
      }
      case 'code':
        // Unwrapped and indented, so it can be copied and pasted as one command.
        for (const line of block.text.split('\n')) out.push(`    ${line}`);
        out.push('');
        break;
      case 'list':
        for (const item of block.items) out.push(wrap(`- ${item}`, '').replace(/\n/g, '\n  '));
        out.push('');
        break;
      case 'links':
        for (const item of block.items) out.push(`${item.label}:`, `    ${item.href}`);
        out.push('');
        break;
    }
  }
  out.push('--', ...doc.footer);
  return `${out.join('\n')}\n`;
}

const FONT = "-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif";
const MONO = "ui-monospace,SFMono-Regular,Menlo,Consolas,'Liberation Mono',monospace";
const TONE_COLOURS: Record<Tone, { bg: string; fg: string }> = {
  info: { bg: '#0969da', fg: '#ffffff' },
  good: { bg: '#1a7f37', fg: '#ffffff' },
  warning: { bg: '#9a6700', fg: '#ffffff' },
  alert: { bg: '#cf222e', fg: '#ffffff' },
};

function factValue(value: string, style: Fact[2]): string {
  const v = escapeHtml(value);
  if (style === 'code') return `<code style="font-family:${MONO};font-size:13px;background:#f6f8fa;padding:1px 4px;border-radius:4px;">${v}</code>`;
  if (style === 'strong') return `<strong>${v}</strong>`;
  return v;
}

export function renderHtml(doc: Document, subject: string): string {
  const tone = TONE_COLOURS[doc.tone];
  const parts: string[] = [];
  for (const block of doc.blocks) {
    switch (block.kind) {
      case 'p':
        parts.push(`<p style="margin:0 0 14px;line-height:1.5;">${escapeHtml(block.text)}</p>`);
        break;
      case 'h':
        parts.push(`<h2 style="margin:22px 0 10px;font-size:16px;">${escapeHtml(block.text)}</h2>`);
        break;
      case 'facts':
        parts.push(
          `<table role="presentation" style="border-collapse:collapse;width:100%;margin:0 0 16px;font-size:14px;">${block.rows
            .map(
              ([label, value, style]) =>
                `<tr><th scope="row" style="text-align:left;vertical-align:top;padding:6px 16px 6px 0;border-bottom:1px solid #eaeef2;color:#57606a;font-weight:600;white-space:nowrap;">${escapeHtml(label)}</th>` +
                `<td style="padding:6px 0;border-bottom:1px solid #eaeef2;word-break:break-word;">${factValue(value, style)}</td></tr>`,
            )
            .join('')}</table>`,
        );
        break;
      case 'code':
        parts.push(
          `<pre style="margin:0 0 16px;padding:12px;background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;font-family:${MONO};font-size:13px;white-space:pre-wrap;word-break:break-all;">${escapeHtml(block.text)}</pre>`,
        );
        break;
      case 'list':
        parts.push(`<ul style="margin:0 0 16px;padding-left:22px;line-height:1.5;">${block.items.map((i) => `<li>${escapeHtml(i)}</li>`).join('')}</ul>`);
        break;
      case 'links':
        parts.push(
          `<p style="margin:0 0 16px;">${block.items
            .map((i) =>
              /^https?:\/\//i.test(i.href)
                ? `<a href="${escapeHtml(i.href)}" style="display:inline-block;margin:0 10px 8px 0;padding:9px 18px;border-radius:6px;background:#0969da;color:#ffffff;text-decoration:none;font-weight:600;">${escapeHtml(i.label)}</a>`
                : `${escapeHtml(i.label)}: ${escapeHtml(i.href)}`,
            )
            .join(' ')}</p>`,
        );
        break;
    }
  }
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">',
    `<title>${escapeHtml(subject)}</title></head>`,
    `<body style="margin:0;padding:24px 12px;background:#f6f8fa;font-family:${FONT};color:#1f2328;">`,
    '<div style="max-width:680px;margin:0 auto;background:#ffffff;border:1px solid #d0d7de;border-radius:8px;overflow:hidden;">',
    `<div style="background:${tone.bg};color:${tone.fg};padding:14px 24px;font-size:17px;font-weight:600;">${escapeHtml(doc.title)}</div>`,
    `<div style="padding:20px 24px;font-size:15px;">\n${parts.join('\n')}\n</div>`,
    `<div style="padding:12px 24px;border-top:1px solid #d0d7de;color:#57606a;font-size:12px;line-height:1.5;">${doc.footer.map(escapeHtml).join('<br>')}</div>`,
    '</div></body></html>',
  ].join('\n');
}
