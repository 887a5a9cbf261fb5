import { strict as assert } from 'node:assert';

import { accountForSession, clientHostOf, compareSpecificity, hostPatternMatches, sessionsOfAccount } from '../../../../src/adapters/engines/mysql/hosts';

// Which account a session belongs to, from what the processlist shows (user name
// and client host) and the accounts of that name. Pure; the MariaDB side of it is
// exercised in containment.test.ts (two accounts of one name, two source addresses).

describe('sessions by user and host (pure)', () => {
  it('When the processlist shows a client host, then the port is dropped (IPv4, IPv6 with or without brackets, names) and a socket client stays localhost', () => {
    assert.equal(clientHostOf('10.0.0.7:51234'), '10.0.0.7');
    assert.equal(clientHostOf('::1:40000'), '::1');
    assert.equal(clientHostOf('[2001:db8::5]:3306'), '2001:db8::5');
    assert.equal(clientHostOf('App-7.Example.com:40000'), 'app-7.example.com');
    assert.equal(clientHostOf('localhost'), 'localhost');
  });

  it('When host patterns are matched, then % and _ are wildcards, \\ escapes them, comparison ignores case, and anything else is literal', () => {
    assert.equal(hostPatternMatches('%', '10.0.0.7'), true);
    assert.equal(hostPatternMatches('10.0.%', '10.0.0.7'), true);
    assert.equal(hostPatternMatches('10.0.%', '10.1.0.7'), false);
    assert.equal(hostPatternMatches('10.0.0._', '10.0.0.7'), true);
    assert.equal(hostPatternMatches('10.0.0._', '10.0.0.17'), false);
    assert.equal(hostPatternMatches('%.example.com', 'APP.example.COM'), true);
    assert.equal(hostPatternMatches('%.example.com', 'example.com'), false);
    assert.equal(hostPatternMatches('app\\_1.example.com', 'app_1.example.com'), true);
    assert.equal(hostPatternMatches('app\\_1.example.com', 'appx1.example.com'), false);
    assert.equal(hostPatternMatches('10.0.0.7', '10.0.0.70'), false);
    assert.equal(hostPatternMatches('a%b%c', 'aXXbYYc'), true);
    assert.equal(hostPatternMatches('a%b%c', 'aXXbYY'), false);
  });

  it('When the pattern is an IPv4 netmask (a.b.c.d/m.m.m.m, or /n on MySQL 8), then the client address is masked; a non-contiguous mask or a name matches nothing', () => {
    assert.equal(hostPatternMatches('10.1.0.0/255.255.0.0', '10.1.200.3'), true);
    assert.equal(hostPatternMatches('10.1.0.0/255.255.0.0', '10.2.0.3'), false);
    assert.equal(hostPatternMatches('10.1.0.0/16', '10.1.200.3'), true);
    assert.equal(hostPatternMatches('10.1.2.0/24', '10.1.3.1'), false);
    assert.equal(hostPatternMatches('10.1.0.0/255.0.255.0', '10.1.0.1'), false);
    assert.equal(hostPatternMatches('10.1.0.0/255.255.0.0', 'db.example.com'), false);
    // An IPv4-mapped IPv6 client answers to its IPv4 form.
    assert.equal(hostPatternMatches('10.1.0.0/255.255.0.0', '::ffff:10.1.0.9'), true);
    assert.equal(hostPatternMatches('10.1.%', '::ffff:10.1.0.9'), true);
  });

  it('When IPv6 literals are the pattern, then they match that address only', () => {
    assert.equal(hostPatternMatches('::1', '::1'), true);
    assert.equal(hostPatternMatches('::1', '::2'), false);
    assert.equal(hostPatternMatches('2001:db8::%', '2001:db8::5'), true);
  });

  it('When several accounts of a name match, then the most specific is the one the server chose: IPs (larger masks first), then names and patterns by their first wildcard, % last; a named user before the anonymous one', () => {
    const accounts = [
      { user: 'u', host: '%' },
      { user: 'u', host: '127.0.0.%' },
      { user: 'u', host: '127.0.0.0/255.255.255.0' },
      { user: 'u', host: '127.0.0.1' },
    ];
    // The order MariaDB 10.11 showed (CURRENT_USER() from 127.0.0.1 as each more specific account is dropped).
    assert.deepEqual(accountForSession('u', '127.0.0.1:5000', accounts), { user: 'u', host: '127.0.0.1' });
    assert.deepEqual(accountForSession('u', '127.0.0.1:5000', accounts.slice(0, 3)), { user: 'u', host: '127.0.0.0/255.255.255.0' });
    assert.deepEqual(accountForSession('u', '127.0.0.1:5000', accounts.slice(0, 2)), { user: 'u', host: '127.0.0.%' });
    assert.deepEqual(accountForSession('u', '127.0.0.1:5000', accounts.slice(0, 1)), { user: 'u', host: '%' });
    assert.equal(accountForSession('u', '10.0.0.1:5000', accounts.slice(1)), undefined);
    assert.ok(compareSpecificity({ user: 'u', host: '10.%' }, { user: 'u', host: '10.0.%' }) > 0);
    assert.ok(compareSpecificity({ user: 'u', host: 'db.example.com' }, { user: 'u', host: '%.example.com' }) < 0);
    assert.ok(compareSpecificity({ user: 'u', host: '10.0.0.0/8' }, { user: 'u', host: '10.0.0.0/24' }) > 0);
    // The anonymous account on a more specific host wins, as on the servers; on the same host the named one does.
    assert.deepEqual(accountForSession('u', 'localhost', [{ user: 'u', host: '%' }, { user: '', host: 'localhost' }]), { user: '', host: 'localhost' });
    assert.deepEqual(accountForSession('u', 'localhost', [{ user: '', host: 'localhost' }, { user: 'u', host: 'localhost' }]), { user: 'u', host: 'localhost' });
  });

  it("When the name has only the target account, then all its sessions are the target's; with several, only those the server gave to the target", () => {
    const sessions = [
      { id: '1', user: 'u', host: '127.0.0.1:1000' },
      { id: '2', user: 'u', host: '10.0.0.5:1000' },
      { id: '3', user: 'v', host: '10.0.0.5:1000' },
    ];
    // Alone (or already dropped, with no other account of the name): every session of the name.
    assert.deepEqual(sessionsOfAccount({ user: 'u', host: '10.0.%' }, sessions, [{ user: 'u', host: '10.0.%' }]).map((s) => s.id), ['1', '2']);
    assert.deepEqual(sessionsOfAccount({ user: 'u', host: '10.0.%' }, sessions, []).map((s) => s.id), ['1', '2']);
    // u@127.0.0.1 also exists: session 1 is its.
    const both = [{ user: 'u', host: '%' }, { user: 'u', host: '127.0.0.1' }];
    assert.deepEqual(sessionsOfAccount({ user: 'u', host: '%' }, sessions, both).map((s) => s.id), ['2']);
    assert.deepEqual(sessionsOfAccount({ user: 'u', host: '127.0.0.1' }, sessions, both).map((s) => s.id), ['1']);
    // The target was dropped meanwhile but another account of the name remains: still attributed by specificity.
    assert.deepEqual(sessionsOfAccount({ user: 'u', host: '%' }, sessions, [{ user: 'u', host: '127.0.0.1' }]).map((s) => s.id), ['2']);
  });
});
