import assert from 'node:assert/strict';

import type { EngineGuide } from '../../../src/contract/engine-guide';
import type { GrantState, LeftBehindObject } from '../../../src/domain';
import { adminMail, grantMail, grantOwnerNotice } from '../../support/messages';

// The grant's messages take every word about the engine from its guide: rendered
// with another engine's guide, none of MySQL's wording is left.

const fakeGuide: EngineGuide = {
  engine: 'fakebase',
  displayName: () => 'Fakebase',
  connectCommand: (t) => `fakesql connect ${t.username}@${t.host}:${t.port}${t.database ? `/${t.database}` : ''}`,
  adminSecretKeys: ['FB_URL', 'FB_TOKEN'],
  adminNeeds: {
    createAccount: 'Fakebase: the admin role may create roles.',
    grantPrivileges: 'Fakebase: the admin role holds what it grants.',
    endAccess: 'Fakebase: the admin role may disable roles and end their sessions.',
    endSessions: ['Fakebase: the admin role may end sessions of other roles.'],
  },
  sessions: {
    endedOnLowering: 'Fakebase: your sessions were ended.',
    keptOnRaise: 'Fakebase: open sessions get the new privileges at once.',
    staleAfterLowering: 'Fakebase: an old session keeps nothing.',
  },
  manual: {
    endAccess: (account) => `fakesql disable ${account}`,
    endSessions: (account) => `fakesql end-sessions ${account}`,
  },
  storedObjects: {
    role: 'owner',
    dropRefusal: 'Fakebase refuses to drop a role that owns objects.',
    orphaned: 'Fakebase: the objects have no owner now.',
    reassign: 'Fakebase: give each object another owner.',
    notListed: 'Fakebase: some objects are not listed.',
    listIntro: 'Fakebase: list them with:',
    listQuery: (account) => `fakesql owned-by ${account}`,
    showDefinitions: (objects) => objects.map((o) => `fakesql show ${o.schema}.${o.name}`),
  },
};

const MYSQL_WORDS = /mysql|mariadb|information_schema|processlist|SHOW CREATE|definer|CONNECTION.ADMIN|SUPER|KILL|\(USE\)|CREATE USER|WITH GRANT OPTION|events were disabled|--password/i;

const objects: LeftBehindObject[] = [
  { kind: 'FUNCTION', schema: 'app', name: 'f_total' },
  { kind: 'SEQUENCE', schema: 'app', name: 's_orders' },
];

function grant(overrides: Partial<GrantState> = {}): GrantState {
  return {
    grantId: 'grant/shop/dev_project/alice@example.com',
    status: 'REVOKED',
    email: 'alice@example.com',
    name: 'Alice Example',
    project: 'shop',
    database: 'dev_project',
    schema: 'app',
    account: 'alice_k3j9qa',
    accessLevel: 'READ',
    privileges: ['SELECT'],
    expiresAt: '2026-12-31T23:59:59.000Z',
    requestedAt: '2026-12-01T23:59:50.000Z',
    requestedBy: 'ops-portal',
    grantedAt: '2026-12-01T23:59:59.000Z',
    secretName: 'dbaccess/shop/dev_project/alice_k3j9qa',
    connection: { host: 'db.dev.internal', port: 5433, engine: 'mysql' },
    accessEndedAt: '2026-12-10T08:00:01.000Z',
    failure: { step: 'createAccount then grantPrivileges', message: 'refused' },
    history: [],
    ...overrides,
  };
}

describe('messages: the engine guide', () => {
  const retained = grant({ retained: { since: '2026-12-10T08:00:01.000Z', reason: 'the role owns objects', objects, objectCount: 2 }, leftBehind: { objects, count: 2 } });
  const dropped = grant({ leftBehind: { objects, count: 2 } });
  const base = { owner: { name: 'Olga Owner', email: 'olga@example.com' }, eventId: 'run-1:000003', awsRegion: 'eu-west-1', schema: 'app', guide: fakeGuide };

  it("When every grant message and alert is rendered with another engine's guide, then it carries that guide's texts and none of MySQL's", () => {
    const messages = [
      ...(['GRANTED', 'LEVEL_CHANGED', 'EXTENDED', 'REVOKED', 'EXPIRED'] as const).flatMap((kind) =>
        [retained, dropped].map((g) => grantMail({ ...base, kind, grant: g, previous: { accessLevel: 'READ_WRITE', privileges: ['SELECT', 'INSERT'] } })),
      ),
      grantMail({ ...base, kind: 'LEVEL_CHANGED', grant: dropped, previous: { accessLevel: 'NONE', privileges: [] } }),
      grantOwnerNotice({ ...base, kind: 'GRANTED', grant: dropped })!,
      ...(['FAILED', 'REVOKE_RETRYING', 'ACCOUNT_RETAINED', 'LEVEL_CHANGE_INCOMPLETE'] as const).map((kind) =>
        adminMail({ kind, grant: retained, administrators: [{ name: 'DBA', email: 'dba@example.com' }], owner: base.owner, eventId: 'e', detail: 'd', guide: fakeGuide }),
      ),
    ];
    for (const m of messages) {
      for (const part of [m.subject, m.text, m.html]) assert.doesNotMatch(part, MYSQL_WORDS, m.subject);
    }
    const all = messages.map((m) => m.text.replace(/\s+/g, ' ')).join('\n');
    for (const text of [
      'Fakebase',
      'fakesql connect alice_k3j9qa@db.dev.internal:5433/app',
      'valid JSON (FB_URL, FB_TOKEN)',
      fakeGuide.adminNeeds.createAccount,
      fakeGuide.adminNeeds.grantPrivileges,
      fakeGuide.adminNeeds.endAccess,
      fakeGuide.adminNeeds.endSessions[0]!,
      fakeGuide.sessions.endedOnLowering,
      fakeGuide.sessions.keptOnRaise,
      fakeGuide.sessions.staleAfterLowering,
      'fakesql disable alice_k3j9qa',
      'fakesql end-sessions alice_k3j9qa',
      fakeGuide.storedObjects.dropRefusal,
      'as their owner',
      fakeGuide.storedObjects.orphaned,
      fakeGuide.storedObjects.reassign,
      fakeGuide.storedObjects.notListed,
      fakeGuide.storedObjects.listIntro,
      'fakesql owned-by alice_k3j9qa',
      'fakesql show app.f_total',
    ]) {
      assert.ok(all.includes(text), `carries: ${text}`);
    }
    // Without `disabled`, nothing is claimed to have been disabled.
    assert.doesNotMatch(all, /disabled so that/);
  });

  it('When the guide cannot write a statement for the account, then the alert leaves the hand-run sections out', () => {
    const cautious: EngineGuide = { ...fakeGuide, manual: { endAccess: () => undefined, endSessions: () => undefined }, storedObjects: { ...fakeGuide.storedObjects, listQuery: () => undefined, showDefinitions: () => [] } };
    const args = { grant: retained, administrators: [{ name: 'DBA', email: 'dba@example.com' }], eventId: 'e', detail: 'd', guide: cautious };
    assert.ok(!adminMail({ ...args, kind: 'REVOKE_RETRYING' }).text.includes('If access must end right now'));
    assert.ok(!adminMail({ ...args, kind: 'LEVEL_CHANGE_INCOMPLETE' }).text.includes('To end the sessions by hand'));
    const kept = adminMail({ ...args, kind: 'ACCOUNT_RETAINED' }).text;
    assert.ok(!kept.includes('List the objects') && !kept.includes('Their definitions'));
  });
});
