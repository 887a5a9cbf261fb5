import { strict as assert } from 'node:assert';

import { CLOSED_STATUSES, GRANT_STATUSES, grantIdFor, parseGrantId } from '../../src/domain';

// The grant id is the workflow id (invariant 6: one open grant per grantee and
// database), so two spellings of one address must give one id.

describe('domain: grant ids', () => {
  it('When a grant id is built, then it is grant/{project}/{database}/{email} with the email trimmed and lower-cased', () => {
    assert.equal(grantIdFor('project', 'dev_project', 'John.Doe@Example.COM'), 'grant/project/dev_project/john.doe@example.com');
    assert.equal(grantIdFor('project', 'dev_project', ' john.doe@example.com '), 'grant/project/dev_project/john.doe@example.com');
    assert.equal(grantIdFor('p', 'd', 'A@X.COM'), grantIdFor('p', 'd', 'a@x.com'));
  });

  it('When a built id is parsed, then the parts come back', () => {
    for (const [project, database, email] of [
      ['project', 'dev_project', 'john.doe@example.com'],
      ['my-app', 'Prod-DB', 'a+b@sub.example.org'],
      ['0', '9', 'x@y.io'],
    ] as const) {
      assert.deepEqual(parseGrantId(grantIdFor(project, database, email)), { project, database, email });
    }
  });

  it('When an id is malformed, then parsing gives undefined', () => {
    for (const id of [
      '',
      'grant',
      'grant/',
      'grant/project/dev_project',
      'grant/project/dev_project/',
      'grant/project/dev_project/john.doe',
      'grant//dev_project/john@example.com',
      'grant/project//john@example.com',
      'grant/project/dev_project/@example.com',
      'grant/project/dev_project/john@',
      'grants/project/dev_project/john@example.com',
      'Grant/project/dev_project/john@example.com',
      '/grant/project/dev_project/john@example.com',
      'grant/project/dev_project/john@example.com/',
      'grant/project/dev/extra/john@example.com',
      'grant/project/dev_project/john/x@example.com',
      'x grant/project/dev_project/john@example.com',
    ]) {
      assert.equal(parseGrantId(id), undefined, JSON.stringify(id));
    }
  });

  it('When statuses are listed, then the closed ones are among them and ACTIVE is not closed', () => {
    for (const s of CLOSED_STATUSES) assert.ok(GRANT_STATUSES.includes(s));
    assert.deepEqual([...CLOSED_STATUSES].sort(), ['DENIED', 'EXPIRED', 'FAILED', 'REVOKED']);
  });
});
