import { strict as assert } from 'node:assert';

import {
  checkEmail,
  DATABASE_KEY,
  emailDomain,
  EMAIL_MAX_LENGTH,
  HOST_PATTERN,
  isAllowedDomain,
  isSafeText,
  normalizeEmail,
  PROJECT_KEY,
  SCHEMA_NAME,
  SECRET_NAME,
} from '../../src/domain';

// Every string that reaches SQL, a workflow id, a secret name or a mail header
// passes one of these checks first (invariant 4), so each must refuse the
// characters that would let it escape its place.

const INJECTION = ["a'b", 'a"b', 'a`b', 'a;b', 'a b', 'a\tb', 'a\nb', 'a\\b', 'a\u0000b', 'a,b', 'a(b', 'a*b', 'a#b', 'a/*b', 'é', 'a\u202eb'];

describe('domain: identifiers', () => {
  describe('checkEmail', () => {
    it('When an ordinary address is given, then it is accepted', () => {
      for (const email of ['john.doe@example.com', 'John.Doe@Example.COM', 'j@example.co', 'john+tag@mail.example.org', 'john_doe-1@sub-domain.example.io', 'a%b@example.com', '1@x.example.museum']) {
        assert.equal(checkEmail(email), undefined, email);
      }
    });

    it('When an address holds quotes, spaces, NUL, angle brackets or other separators, then it is refused', () => {
      for (const email of ['"john"@example.com', "jo'hn@example.com", 'john doe@example.com', ' john@example.com', 'john@example.com ', 'john\u0000@example.com', 'john@example.com\n', 'john@example.com\r\nBcc: x@evil.org', '<john@example.com>', 'john@example.com,eve@evil.org', 'john;eve@example.com', 'jo`hn@example.com', 'john\\@example.com']) {
        assert.notEqual(checkEmail(email), undefined, JSON.stringify(email));
      }
    });

    it('When an address holds consecutive dots or a dot at an edge of the local part, then it is refused', () => {
      assert.match(checkEmail('john..doe@example.com')!, /consecutive dots/);
      assert.match(checkEmail('john@example..com')!, /consecutive dots/);
      assert.notEqual(checkEmail('.john@example.com'), undefined);
      assert.notEqual(checkEmail('john.@example.com'), undefined);
    });

    it('When the domain is malformed or missing, then the address is refused', () => {
      for (const email of ['john', 'john@', '@example.com', 'john@example', 'john@-example.com', 'john@example-.com', 'john@example.c', 'john@example.123', 'john@[127.0.0.1]', 'john@@example.com', 'john@ex_ample.com']) {
        assert.notEqual(checkEmail(email), undefined, email);
      }
    });

    it('When the domain uses a homoglyph or any non-ASCII letter, then the address is refused', () => {
      assert.notEqual(checkEmail('john@\u0435xample.com'), undefined, 'Cyrillic е');
      assert.notEqual(checkEmail('john@ex\u0430mple.com'), undefined, 'Cyrillic а');
      assert.notEqual(checkEmail('j\u043ehn@example.com'), undefined, 'Cyrillic о in the local part');
      assert.notEqual(checkEmail('john@bücher.de'), undefined);
      assert.notEqual(checkEmail('john@example.\u0441om'), undefined, 'Cyrillic с in the top-level domain');
      assert.notEqual(checkEmail('john@example.\u0440\u0444'), undefined, 'a Cyrillic top-level domain');
      assert.notEqual(checkEmail('john@example\uff0ecom'), undefined, 'full-width dot');
    });

    it('When an address holds bidi or zero-width characters, then it is refused', () => {
      for (const ch of ['\u202e', '\u202d', '\u2066', '\u2069', '\u200e', '\u200f', '\u200b', '\u200d', '\ufeff', '\u061c']) {
        assert.notEqual(checkEmail(`john${ch}@example.com`), undefined, `U+${ch.codePointAt(0)!.toString(16)}`);
        assert.notEqual(checkEmail(`john@exa${ch}mple.com`), undefined, `U+${ch.codePointAt(0)!.toString(16)}`);
      }
    });

    it('When an address is longer than 254 characters, then it is refused naming the limit', () => {
      const domain = `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.example.com`;
      const fits = `${'x'.repeat(EMAIL_MAX_LENGTH - domain.length - 1)}@${domain}`;
      assert.equal(fits.length, 254);
      assert.equal(checkEmail(fits), undefined);
      const tooLong = `y${fits}`;
      assert.equal(checkEmail(tooLong), 'must be at most 254 characters');
      assert.equal(checkEmail(`${'x'.repeat(10_000)}@example.com`), 'must be at most 254 characters');
    });

    it('When the local part is longer than 64 characters, then the address is refused', () => {
      assert.equal(checkEmail(`${'x'.repeat(64)}@example.com`), undefined);
      assert.notEqual(checkEmail(`${'x'.repeat(65)}@example.com`), undefined);
    });

    it('When an address is normalised, then it is trimmed and lower-cased, and its domain is the part after the last @', () => {
      assert.equal(normalizeEmail('  John.Doe@Example.COM '), 'john.doe@example.com');
      assert.equal(emailDomain('john@Example.COM'), 'example.com');
    });
  });

  describe('isAllowedDomain', () => {
    const allowed = ['example.com', 'Corp.Example.org'];

    it('When the domain is on the list, in any letter case, then it is allowed', () => {
      assert.equal(isAllowedDomain('john@example.com', allowed), true);
      assert.equal(isAllowedDomain('john@EXAMPLE.COM', allowed), true);
      assert.equal(isAllowedDomain('john@corp.example.org', allowed), true);
    });

    it('When the domain only ends with, starts with or contains an allowed one, then it is not allowed', () => {
      for (const email of ['john@example.com.evil.org', 'john@evilexample.com', 'john@sub.example.com', 'john@example.co', 'john@xample.com', 'john@example.com.', 'john@example.org', 'john@example.com@evil.org', 'john@evil.org@example.com.evil.org']) {
        assert.equal(isAllowedDomain(email, allowed), false, email);
      }
    });

    it('When the list is empty, then nothing is allowed', () => {
      assert.equal(isAllowedDomain('john@example.com', []), false);
    });
  });

  describe('isSafeText', () => {
    it('When text is ordinary, in any script, then it is safe', () => {
      for (const text of ['John Doe', "O'Brien", 'José Müller', 'Иван Петров', '山田 太郎', 'Ana-María (ops)', 'emoji 😀 ok', 'needed for the Q3 audit, ticket #123']) {
        assert.equal(isSafeText(text), true, text);
      }
    });

    it('When text holds any C0 control, DEL or C1 control, then it is refused', () => {
      for (let cp = 0; cp <= 0x1f; cp++) assert.equal(isSafeText(`a${String.fromCharCode(cp)}b`), false, `U+${cp.toString(16)}`);
      for (let cp = 0x7f; cp <= 0x9f; cp++) assert.equal(isSafeText(`a${String.fromCharCode(cp)}b`), false, `U+${cp.toString(16)}`);
    });

    it('When text holds a bidi override, embedding, isolate or mark, then it is refused', () => {
      // U+202A–U+202E embeddings/overrides, U+2066–U+2069 isolates, U+200E/F marks.
      for (const cp of [0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069, 0x200e, 0x200f]) {
        assert.equal(isSafeText(`a${String.fromCodePoint(cp)}b`), false, `U+${cp.toString(16)}`);
      }
      // U+061C ARABIC LETTER MARK, the one other Unicode Bidi_Control character,
      // and the line/paragraph separators and other invisible characters.
      for (const cp of [0x061c, 0x2028, 0x2029, 0x00ad, 0x180e]) assert.equal(isSafeText(`a${String.fromCodePoint(cp)}b`), false, `U+${cp.toString(16)}`);
    });

    it('When text holds a zero-width or invisible joiner character, then it is refused', () => {
      for (const cp of [0x200b, 0x200c, 0x200d, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xfeff]) {
        assert.equal(isSafeText(`a${String.fromCodePoint(cp)}b`), false, `U+${cp.toString(16)}`);
      }
    });
  });

  describe('patterns', () => {
    it('When a project key is checked, then only lower-case letters, digits, _ and - pass, starting with a letter or digit, at most 63', () => {
      for (const key of ['project', 'p', '0app', 'my-app_2', 'a'.repeat(63)]) assert.match(key, PROJECT_KEY);
      for (const key of ['', 'Project', '_app', '-app', 'my.app', 'my/app', 'a'.repeat(64), ...INJECTION]) assert.doesNotMatch(key, PROJECT_KEY, JSON.stringify(key));
    });

    it('When a database key is checked, then letters, digits, _ and - pass, starting with a letter or digit, at most 64', () => {
      for (const key of ['dev_project', 'Prod-DB', '9db', 'a'.repeat(64)]) assert.match(key, DATABASE_KEY);
      for (const key of ['', '_db', 'db.x', 'db/x', 'a'.repeat(65), ...INJECTION]) assert.doesNotMatch(key, DATABASE_KEY, JSON.stringify(key));
    });

    it('When a schema name is checked, then only plain identifiers pass (no dots, dashes or quoting)', () => {
      for (const name of ['dev_project', 'Sales2024', '_tmp', 'a'.repeat(64)]) assert.match(name, SCHEMA_NAME);
      for (const name of ['', 'db.table', 'dev-project', 'mysql.user', 'a'.repeat(65), 'db%', ...INJECTION]) assert.doesNotMatch(name, SCHEMA_NAME, JSON.stringify(name));
    });

    it('When a host pattern is checked, then %, host names, addresses, netmasks and wildcards pass, and quotes, spaces, ; and @ do not', () => {
      for (const host of ['%', 'localhost', '10.0.%', '10.0.0.0/255.255.255.0', '192.168.1._', '::1', 'fe80::1', 'db-host.internal.example.com']) assert.match(host, HOST_PATTERN, host);
      for (const host of ['', 'a@b', '%\n', 'a'.repeat(256), ...INJECTION]) assert.doesNotMatch(host, HOST_PATTERN, JSON.stringify(host));
    });

    it('When a secret name is checked, then AWS characters pass and spaces, quotes and controls do not', () => {
      for (const name of ['dbaccess/project/dev/john_doe_abcdef', 'prod/project/mysql', 'arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf'.replace(/:/g, '/'), 'a+b=c.d@e-f']) assert.match(name, SECRET_NAME, name);
      for (const name of ['', 'a b', "a'b", 'a"b', 'a;b', 'a\nb', 'a'.repeat(513)]) assert.doesNotMatch(name, SECRET_NAME, JSON.stringify(name));
    });
  });
});
