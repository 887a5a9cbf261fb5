// CSV for `dbaccess grant --from-file`: an RFC 4180 parser (quoted fields with
// commas, doubled quotes and line breaks; CRLF or LF; a UTF-8 BOM is ignored)
// and the mapping of a header row to the fields of POST /grants.

export class CsvError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
  }
}

export interface CsvRecord {
  /** Line of the file where the record starts (1-based). */
  line: number;
  fields: string[];
}

/** Parses CSV text into records. Lines that are entirely empty are skipped. */
export function parseCsv(text: string): CsvRecord[] {
  const src = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let start = 1;
  let i = 0;
  let atFieldStart = true;
  let quotedField = false;
  const endRecord = () => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0] === '' && !quotedField)) records.push({ line: start, fields });
    fields = [];
    field = '';
    quotedField = false;
    atFieldStart = true;
  };
  while (i < src.length) {
    const c = src[i]!;
    if (atFieldStart && c === '"') {
      // A quoted field: up to the closing quote; "" is one quote.
      quotedField = true;
      const openedAt = line;
      i += 1;
      for (;;) {
        if (i >= src.length) throw new CsvError(openedAt, 'a quoted field is not closed (missing ")');
        const q = src[i]!;
        if (q === '"') {
          if (src[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i += 1;
          break;
        }
        if (q === '\n') line += 1;
        field += q;
        i += 1;
      }
      atFieldStart = false;
      const next = src[i];
      if (next !== undefined && next !== ',' && next !== '\n' && next !== '\r') throw new CsvError(line, 'after a closing quote, expected a comma or the end of the line');
      continue;
    }
    if (c === ',') {
      fields.push(field);
      field = '';
      atFieldStart = true;
      i += 1;
      continue;
    }
    if (c === '\r' || c === '\n') {
      endRecord();
      i += c === '\r' && src[i + 1] === '\n' ? 2 : 1;
      line += 1;
      start = line;
      continue;
    }
    if (c === '"') throw new CsvError(line, 'a quote inside an unquoted field (quote the whole field and double the quote: "a ""b""")');
    field += c;
    atFieldStart = false;
    i += 1;
  }
  if (field !== '' || fields.length > 0 || quotedField) endRecord();
  return records;
}

/** Column names accepted in the header (case-insensitive; `-`, `_` and spaces ignored) → field of POST /grants. */
const COLUMNS: Record<string, string> = {
  email: 'email',
  name: 'name',
  project: 'project',
  database: 'database',
  accesslevel: 'accessLevel',
  level: 'accessLevel',
  expiresat: 'expiresAt',
  expires: 'expiresAt',
  databaseexpiry: 'expiresAt',
  duration: 'duration',
  reason: 'reason',
};

export const COLUMN_NAMES = 'email, name, project, database, accessLevel (or access_level), expiresAt (or database_expiry) or duration, reason';

export interface GrantRow {
  line: number;
  grant: Record<string, string>;
}

/** The data rows of a grants file as POST /grants bodies (empty cells left out). */
export function grantRows(text: string): GrantRow[] {
  const records = parseCsv(text);
  const header = records.shift();
  if (!header) throw new CsvError(1, `the file is empty: expected a header row (${COLUMN_NAMES})`);
  const columns = header.fields.map((raw) => {
    const name = COLUMNS[raw.trim().toLowerCase().replace(/[-_\s]/g, '')];
    if (!name) throw new CsvError(header.line, `unknown column "${raw.trim()}" (known: ${COLUMN_NAMES})`);
    return name;
  });
  const dup = columns.find((c, i) => columns.indexOf(c) !== i);
  if (dup) throw new CsvError(header.line, `two columns mean ${dup}`);
  return records.map((r) => {
    if (r.fields.length !== columns.length) throw new CsvError(r.line, `${r.fields.length} fields, but the header has ${columns.length}`);
    const grant: Record<string, string> = {};
    columns.forEach((name, i) => {
      const value = r.fields[i]!.trim();
      if (value !== '') grant[name] = value;
    });
    return { line: r.line, grant };
  });
}
