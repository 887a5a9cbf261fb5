import assert from 'node:assert/strict';
import { CsvError, grantRows, parseCsv } from '../../src/cli/csv';
import { expiryPhrase, relative, span, table } from '../../src/cli/format';

// The CLI's pure parts: the RFC 4180 parser, the header mapping of a grants file,
// relative times and tables.

describe('CLI: CSV', () => {
  it('When fields are quoted, then commas, doubled quotes and line breaks inside them are kept', () => {
    const records = parseCsv('a,b,c\r\n"Doe, John","say ""hi""","two\nlines"\r\nx,,z\n');
    assert.deepEqual(records, [
      { line: 1, fields: ['a', 'b', 'c'] },
      { line: 2, fields: ['Doe, John', 'say "hi"', 'two\nlines'] },
      { line: 4, fields: ['x', '', 'z'] },
    ]);
  });

  it('When the file has a BOM, blank lines or no final line break, then they do not matter', () => {
    assert.deepEqual(parseCsv('\uFEFFa,b\n\n1,2'), [
      { line: 1, fields: ['a', 'b'] },
      { line: 3, fields: ['1', '2'] },
    ]);
    assert.deepEqual(parseCsv('a\n""\n'), [
      { line: 1, fields: ['a'] },
      { line: 2, fields: [''] },
    ]);
  });

  it('When quotes are broken, then the error names the line', () => {
    assert.throws(() => parseCsv('a,b\n1,"open\n'), (e: unknown) => e instanceof CsvError && e.line === 2 && /not closed/.test(e.message));
    assert.throws(() => parseCsv('a,b\n1,"x"y\n'), (e: unknown) => e instanceof CsvError && e.line === 2 && /closing quote/.test(e.message));
    assert.throws(() => parseCsv('a,b\n1,x"y\n'), (e: unknown) => e instanceof CsvError && e.line === 2 && /quote inside/.test(e.message));
  });

  it('When the header uses the API names or the old script names, then rows become POST /grants bodies', () => {
    const rows = grantRows('Email,Name,project,database,access_level,database_expiry,reason\nann@example.com," Ann, A. ",demo,dev,READ,2026-12-31,\n');
    assert.deepEqual(rows, [{ line: 2, grant: { email: 'ann@example.com', name: 'Ann, A.', project: 'demo', database: 'dev', accessLevel: 'READ', expiresAt: '2026-12-31' } }]);
    const api = grantRows('email,name,project,database,accessLevel,duration\nb@example.com,B,demo,dev,READ,8h\n');
    assert.equal(api[0]!.grant.duration, '8h');
    assert.equal(api[0]!.grant.accessLevel, 'READ');
  });

  it('When a column is unknown, doubled, or a row has the wrong number of fields, then the error names the line', () => {
    assert.throws(() => grantRows('email,colour\n'), /line 1: unknown column "colour"/);
    assert.throws(() => grantRows('email,e-mail\n'), /line 1: two columns mean email/);
    assert.throws(() => grantRows('email,name\na@example.com\n'), /line 2: 1 fields, but the header has 2/);
    assert.throws(() => grantRows(''), /empty/);
  });
});

describe('CLI: output', () => {
  const now = Date.parse('2026-01-10T12:00:00Z');
  it('When a time is ahead or behind, then it reads as "in …" or "… ago"', () => {
    assert.equal(relative('2026-01-13T12:00:00Z', now), 'in 3 days');
    assert.equal(relative('2026-01-11T16:00:00Z', now), 'in 1 day 4 hours');
    assert.equal(relative('2026-01-10T10:00:00Z', now), '2 hours ago');
    assert.equal(relative('2026-01-10T12:05:30Z', now), 'in 5 minutes');
    assert.equal(relative('2026-01-10T12:00:20Z', now), 'in less than a minute');
    assert.equal(span(90 * 60_000), '1 hour 30 minutes');
    assert.equal(expiryPhrase('ACTIVE', '2026-01-13T12:00:00Z', now), 'expires in 3 days');
    assert.equal(expiryPhrase('EXPIRED', '2026-01-10T10:00:00Z', now), 'expired 2 hours ago');
  });

  it('When a table is printed, then its columns are aligned and control characters are neutralised', () => {
    assert.equal(table(['A', 'BB'], [['xxx', 'y'], ['z', '\u001b[31mred']]), 'A    BB\nxxx  y\nz    ?[31mred\n');
  });
});
