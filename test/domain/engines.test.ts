import { strict as assert } from 'node:assert';

import { accountLabel, engineOf } from '../../src/domain';

describe('domain: engines', () => {
  it('When a target names no engine, then it is MySQL (grants begun before engines existed)', () => {
    assert.equal(engineOf({}), 'mysql');
    assert.equal(engineOf({ engine: 'postgresql' }), 'postgresql');
  });

  it('When an account is named for people, then MySQL shows its host pattern and PostgreSQL the role alone', () => {
    assert.equal(accountLabel({ hostPattern: '10.%' }, 'ann_x'), 'ann_x@10.%');
    assert.equal(accountLabel({ engine: 'mysql', hostPattern: '%' }, 'ann_x'), 'ann_x@%');
    assert.equal(accountLabel({ engine: 'postgresql', hostPattern: '%' }, 'ann_x'), 'ann_x');
  });
});
