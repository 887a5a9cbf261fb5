import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';

import * as domain from '../../src/domain';
import { ACCOUNT_NAME, accountPrefix, grantSecretName, hasAccountShape, SECRET_NAME } from '../../src/domain';
import { deriveAccountName, deriveAccountNames, isDerivedAccountName } from '../../src/domain/naming';
import { prng } from '../support/random';

// Account names are what MySQL sees and what a grant finds again after a retry,
// so every derived name must fit MySQL 8's 32-character limit, stay inside the
// identifier pattern the SQL layer accepts, be stable for one grantee, and carry
// enough hash (80 bits) that nobody can craft an address that maps to another
// grantee's account.


// Characters chosen to stress the reduction: ASCII that survives, ASCII that
// does not, Latin-1, Cyrillic, CJK, emoji (astral), combining marks, and a
// character whose lower case is longer than itself (İ).
const ALPHABET = [
  ...'abcxyzABCXYZ0189._-+%!#$&\'*/=?^`{|}~ "\\@',
  'é', 'ß', 'Ø', 'е', 'д', '中', '文', '😀', '𝔘', '\u0301', 'İ', '\u202e', '\u0000',
];

function randomEmail(rand: () => number): string {
  const pick = () => ALPHABET[Math.floor(rand() * ALPHABET.length)]!;
  const shape = rand();
  const localLength = shape < 0.2 ? 100 + Math.floor(rand() * 300) : Math.floor(rand() * 40);
  let local = '';
  for (let i = 0; i < localLength; i++) local += pick();
  if (shape > 0.9) local = '.-+!#'.repeat(1 + Math.floor(rand() * 5)); // only symbols
  const domain = rand() < 0.5 ? 'example.com' : `d${Math.floor(rand() * 1000)}.org`;
  return `${local}@${domain}`;
}

describe('domain: account names', () => {
  it('When account names are derived from many generated emails, then each is at most 31 characters: a prefix of at most 14, one _, and 16 base32 characters (80 bits)', () => {
    const rand = prng(20240601);
    for (let i = 0; i < 3000; i++) {
      const email = randomEmail(rand);
      const account = deriveAccountName(email, 'project', 'dev_project');
      assert.ok(account.length <= 31, `${JSON.stringify(email)} gave ${account} (${account.length} chars)`);
      assert.match(account, /^[a-z0-9_]+$/, `${JSON.stringify(email)} gave ${account}`);
      assert.match(account, ACCOUNT_NAME);
      assert.match(account, /^[a-z0-9](?:[a-z0-9_]{0,12}[a-z0-9])?_[a-z2-7]{16}$/, 'prefix, one _, sixteen base32 characters');
      assert.ok(hasAccountShape(account), `${account} has the service's shape`);
    }
  });

  it('When the local part is very long, then the account uses the 14-character maximum and stays at 31 characters', () => {
    const account = deriveAccountName(`${'a'.repeat(300)}@example.com`, 'project', 'dev_project');
    assert.equal(account.length, 31);
    assert.ok(account.startsWith(`${'a'.repeat(14)}_`));
  });

  it('When the same email, project and database are given again, in any letter case, then the account is the same', () => {
    const a = deriveAccountName('John.Doe@Example.com', 'project', 'dev_project');
    assert.equal(deriveAccountName('John.Doe@Example.com', 'project', 'dev_project'), a);
    assert.equal(deriveAccountName('john.doe@example.com', 'project', 'dev_project'), a);
    assert.equal(deriveAccountName('JOHN.DOE@EXAMPLE.COM', 'project', 'dev_project'), a);
    assert.equal(deriveAccountName('  john.doe@example.com ', 'project', 'dev_project'), a, 'surrounding spaces are not part of the address');
    assert.deepEqual(deriveAccountNames('JOHN.DOE@example.com', 'project', 'dev_project'), deriveAccountNames('john.doe@example.com', 'project', 'dev_project'));
  });

  it('When the project or the database differs, then the account differs', () => {
    const base = deriveAccountName('john.doe@example.com', 'project', 'dev_project');
    assert.notEqual(deriveAccountName('john.doe@example.com', 'other', 'dev_project'), base);
    assert.notEqual(deriveAccountName('john.doe@example.com', 'project', 'prod_project'), base);
    // The separator keeps (a|b_c) and (a_b|c) apart only if it is in the hash input.
    assert.notEqual(
      deriveAccountName('john@example.com', 'p', 'q_r'),
      deriveAccountName('john@example.com', 'p_q', 'r'),
    );
  });

  it('When local parts reduce to the same text (john.doe, john_doe, john-doe, or another domain), then the hash suffix keeps the accounts apart', () => {
    const accounts = ['john.doe@x.com', 'john_doe@x.com', 'john-doe@x.com', 'John.Doe@y.com'].map((e) =>
      deriveAccountName(e, 'project', 'dev_project'),
    );
    for (const account of accounts) assert.ok(account.startsWith('john_doe_'), account);
    assert.equal(new Set(accounts).size, accounts.length, accounts.join(', '));
  });

  it('When many distinct emails share the readable prefix, then their accounts do not collide', () => {
    // The tail beyond the prefix is free for whoever chooses an address: only the
    // hash tells these apart, so it must be taken from the whole email.
    const seen = new Map<string, string>();
    for (let i = 0; i < 2000; i++) {
      const email = `${'x'.repeat(30)}${i}@example.com`;
      const account = deriveAccountName(email, 'project', 'dev_project');
      assert.equal(seen.get(account), undefined, `${email} and ${seen.get(account)} both gave ${account}`);
      seen.set(account, email);
    }
  });

  it('When the local part is reduced, then runs of other characters become one _, edges are trimmed, and it is at most 14 characters (24 for legacy names)', () => {
    assert.equal(accountPrefix('john.doe@example.com'), 'john_doe');
    assert.equal(accountPrefix('John.Doe@example.com'), 'john_doe');
    assert.equal(accountPrefix('john..--__doe@example.com'), 'john_doe');
    assert.equal(accountPrefix('.john.doe.@example.com'), 'john_doe');
    assert.equal(accountPrefix('__john__@example.com'), 'john');
    assert.equal(accountPrefix('jöhn@example.com'), 'j_hn');
    assert.equal(accountPrefix(`${'ab'.repeat(20)}@example.com`), 'ab'.repeat(7));
    assert.equal(accountPrefix(`${'ab'.repeat(20)}@example.com`, 24), 'ab'.repeat(12));
    // The cut must not leave a trailing `_`.
    assert.equal(accountPrefix(`${'a'.repeat(13)}.bcd@example.com`), 'a'.repeat(13));
    assert.equal(accountPrefix(`${'a'.repeat(23)}.bcd@example.com`, 24), 'a'.repeat(23));
    // Only the last @ separates the domain (a quoted local part may hold one).
    assert.equal(accountPrefix('a@b@example.com'), 'a_b');
  });

  it('When nothing of the local part survives the reduction, then the prefix is "user"', () => {
    assert.equal(accountPrefix('...@example.com'), 'user');
    assert.equal(accountPrefix('中文@example.com'), 'user');
    assert.equal(accountPrefix('@example.com'), 'user');
    assert.match(deriveAccountName('!#$%@example.com', 'project', 'dev_project'), /^user_[a-z2-7]{16}$/);
  });

  it('When a known email is derived, then the current name ends in the first 16 base32 characters of sha256(email|project|database) and the legacy name in the first 6', () => {
    // Pinned so that a change to either derivation (which would orphan every
    // existing account) cannot slip in unnoticed. Computed with Node's crypto.
    const digest = createHash('sha256').update('john.doe@example.com|project|dev_project').digest();
    const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
    const bits = [...digest.subarray(0, 10)].map((b) => b.toString(2).padStart(8, '0')).join('');
    const chars = (n: number) => Array.from({ length: n }, (_, i) => alphabet[parseInt(bits.slice(i * 5, i * 5 + 5), 2)]).join('');
    assert.equal(deriveAccountName('John.Doe@example.com', 'project', 'dev_project'), `john_doe_${chars(16)}`);
    assert.deepEqual(deriveAccountNames('John.Doe@example.com', 'project', 'dev_project'), { current: `john_doe_${chars(16)}`, legacy: `john_doe_${chars(6)}` });
    const long = deriveAccountNames(`${'a'.repeat(30)}@example.com`, 'project', 'dev_project');
    assert.match(long.current, /^a{14}_[a-z2-7]{16}$/);
    assert.match(long.legacy, /^a{24}_[a-z2-7]{6}$/);
  });

  it('When an account name is checked against a grantee, then the current and the legacy name are both theirs and nothing else is', () => {
    const { current, legacy } = deriveAccountNames('john.doe@example.com', 'project', 'dev_project');
    assert.ok(isDerivedAccountName(current, 'john.doe@example.com', 'project', 'dev_project'));
    assert.ok(isDerivedAccountName(legacy, 'John.Doe@example.com', 'project', 'dev_project'));
    assert.ok(!isDerivedAccountName(current, 'john.doe@example.com', 'project', 'prod_project'));
    assert.ok(!isDerivedAccountName(legacy, 'jane.doe@example.com', 'project', 'dev_project'));
    assert.ok(!isDerivedAccountName('john_doe_mysql', 'john.doe@example.com', 'project', 'dev_project'));
  });

  it('When names are checked for the service\'s shape, then both rules\' names pass and names of neither shape do not', () => {
    const rand = prng(7);
    for (let i = 0; i < 500; i++) {
      const { current, legacy } = deriveAccountNames(randomEmail(rand), 'project', 'dev_project');
      assert.ok(hasAccountShape(current), current);
      assert.ok(hasAccountShape(legacy), legacy);
    }
    for (const name of [
      'john_doe_mysql', // the old scripts' names
      'john_doe', // no hash part
      `${'a'.repeat(15)}_${'b'.repeat(16)}`, // current hash, prefix too long
      `${'a'.repeat(25)}_${'b'.repeat(6)}`, // legacy hash, prefix too long
      'john_doe_abcdefg', // 7 characters: neither rule
      'john_doe_abcdef1', // not base32
      'john__doe_abcdef',
      '_john_abcdef',
      'John_abcdef',
    ]) {
      assert.ok(!hasAccountShape(name), name);
    }
  });

  it('When the domain index is imported (as the workflow sandbox does), then it does not carry the node:crypto derivation', () => {
    for (const name of ['deriveAccountName', 'deriveAccountNames', 'isDerivedAccountName', 'sha256']) assert.ok(!(name in domain), name);
  });

  it('When a grant secret is named, then it is {prefix}/{project}/{database}/{account} and a trailing / of the prefix is not doubled', () => {
    assert.equal(grantSecretName('dbaccess', 'project', 'dev_project', 'john_doe_abcdef'), 'dbaccess/project/dev_project/john_doe_abcdef');
    assert.equal(grantSecretName('team/dbaccess/', 'project', 'dev_project', 'john_doe_abcdef'), 'team/dbaccess/project/dev_project/john_doe_abcdef');
    assert.equal(grantSecretName('dbaccess//', 'p', 'd', 'a'), 'dbaccess/p/d/a');
    const account = deriveAccountName('john.doe@example.com', 'project', 'dev_project');
    assert.match(grantSecretName('dbaccess', 'project', 'dev_project', account), SECRET_NAME);
  });
});
