// What every message is before it meets a channel: a title, a tone and a list of
// blocks of plain text. Templates write documents; each channel (e-mail today)
// renders them its own way, and escapes for its own markup, so no template can
// produce markup or forget to escape it.

export type Fact = [label: string, value: string, style?: 'code' | 'strong'];

export type Block =
  | { kind: 'p'; text: string }
  | { kind: 'h'; text: string }
  | { kind: 'facts'; rows: Fact[] }
  /** One command or statement per line, to be copied as it is (never wrapped). */
  | { kind: 'code'; text: string }
  | { kind: 'list'; items: string[] }
  /** Buttons in HTML, one `label: URL` line each in text (never wrapped); only http(s) URLs become links. */
  | { kind: 'links'; items: { label: string; href: string }[] };

export type Tone = 'info' | 'good' | 'warning' | 'alert';

export interface Document {
  /** Shown first: a coloured banner in HTML, the first line of the text. */
  title: string;
  tone: Tone;
  blocks: Block[];
  footer: string[];
}
