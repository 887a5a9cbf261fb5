import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { parseApiKeys, resolveClients } from '../../src/api/plugins/auth';
import { refusal } from '../../src/api/authorization';
import { ConfigError, approvalReasons, approversOf, parseFileConfig, type ApiClient } from '../../src/config';

// Who may use the API (apiClients), and which grants need approval: parsed
// once at start-up, every problem named with its path; then the pure rules.

function doc(extra: Record<string, unknown> = {}, database: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    allowedEmailDomains: ['example.com'],
    administrators: [{ name: 'Ada Admin', email: 'ada@example.com' }],
    projects: {
      shop: { ownerName: 'Owner', ownerEmail: 'owner@example.com', databases: { prod: { adminSecretId: 'admin/prod', ...database }, dev: { adminSecretId: 'admin/dev' } } },
      blog: { ownerName: 'Owner', ownerEmail: 'owner@example.com', databases: { main: { adminSecretId: 'admin/blog' } } },
    },
    ...extra,
  };
}

function problemsOf(d: unknown): string[] {
  try {
    parseFileConfig(d);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('the configuration was accepted');
}

const CLIENTS = {
  ops: { role: 'admin' },
  ci: { role: 'requester', projects: ['shop'] },
  ann: { role: 'approver', projects: ['shop'], email: 'Ann@Example.com' },
  any: { role: 'approver', projects: '*', email: 'any@example.com' },
  audit: { role: 'auditor' },
};

describe('config: apiClients and approval', () => {
  it('When clients and approval rules are valid, then they are read with defaults (24h timeout, no global levels)', () => {
    const config = parseFileConfig(doc({ apiClients: CLIENTS }, { requireApproval: ['ADMIN'] }));
    assert.deepEqual(config.apiClients.ci, { name: 'ci', role: 'requester', projects: ['shop'] });
    assert.equal(config.apiClients.ann?.email, 'ann@example.com', 'addresses are lower-cased');
    assert.equal(config.apiClients.ops?.projects, '*');
    assert.deepEqual(config.approval, { timeoutMs: 24 * 3600_000, levels: [] });
    assert.deepEqual(config.projects.shop?.databases.prod?.requireApproval, ['ADMIN']);
    assert.equal(config.projects.shop?.databases.dev?.requireApproval, undefined);
  });

  it('When a client is wrong, then each problem names its path', () => {
    const problems = problemsOf(
      doc({
        apiClients: {
          'bad name!': { role: 'admin' },
          nobody: { role: 'root' },
          lost: { role: 'requester' },
          stray: { role: 'requester', projects: ['nope'] },
          mute: { role: 'approver', projects: ['shop'] },
          wide: { role: 'auditor', projects: ['shop'] },
          typo: { role: 'admin', projcts: [] },
        },
      }),
    );
    const expect = [
      /^\$\.apiClients\.bad name!: names are/,
      /^\$\.apiClients\.nobody\.role: must be one of admin, requester, approver, auditor/,
      /^\$\.apiClients\.lost\.projects: a requester must list its projects/,
      /^\$\.apiClients\.stray\.projects: nope is not a configured project/,
      /^\$\.apiClients\.mute\.email: an approver needs an e-mail address/,
      /^\$\.apiClients\.wide\.projects: an auditor acts on every project/,
      /^\$\.apiClients\.typo\.projcts: is not a known setting/,
    ];
    for (const re of expect) assert.ok(problems.some((p) => re.test(p)), `${re} not in ${JSON.stringify(problems)}`);
  });

  it('When approval settings are wrong, or nobody could approve, then the problem is named', () => {
    assert.ok(problemsOf(doc({ approval: { timeout: '5s' } })).some((p) => p.startsWith('$.approval.timeout: must be from 10s to 30d')));
    assert.ok(problemsOf(doc({ approval: { levels: 'ADMIN' } })).some((p) => p.startsWith('$.approval.levels: must be a list')));
    assert.ok(problemsOf(doc({}, { requireApproval: 'yes' })).some((p) => p.startsWith('$.projects.shop.databases.prod.requireApproval: must be true')));
    const nobody = problemsOf(doc({ apiClients: { ci: CLIENTS.ci } }, { requireApproval: true }));
    assert.ok(nobody.some((p) => p.startsWith('$.projects.shop.databases.prod.requireApproval: no apiClient can approve grants of project shop')), JSON.stringify(nobody));
  });

  it('When a grant is checked against the rules, then the reasons name the database rule and the global level rule', () => {
    const config = parseFileConfig(doc({ apiClients: CLIENTS, approval: { levels: ['ADMIN'], timeout: '8h' } }, { requireApproval: ['READ_WRITE'] }));
    const shop = config.projects.shop!;
    assert.deepEqual(approvalReasons(config, shop, shop.databases.prod!, 'READ'), []);
    assert.deepEqual(approvalReasons(config, shop, shop.databases.prod!, 'READ_WRITE'), ['READ_WRITE on shop/prod needs approval']);
    assert.deepEqual(approvalReasons(config, shop, shop.databases.dev!, 'ADMIN'), ['every ADMIN grant needs approval']);
    assert.equal(config.approval.timeoutMs, 8 * 3600_000);
    const all = parseFileConfig(doc({ apiClients: CLIENTS }, { requireApproval: true }));
    assert.deepEqual(approvalReasons(all, all.projects.shop!, all.projects.shop!.databases.prod!, 'READ'), ['every grant on shop/prod needs approval']);
    assert.deepEqual(approversOf(config, 'shop').map((c) => c.name).sort(), ['ann', 'any', 'ops']);
    assert.deepEqual(approversOf(config, 'blog').map((c) => c.name).sort(), ['any', 'ops']);
  });

  it('When an API key has no client entry, then the API refuses to start, naming the key (never its value)', () => {
    const config = parseFileConfig(doc({ apiClients: CLIENTS }));
    const secret = randomBytes(24).toString('hex');
    assert.throws(() => resolveClients(parseApiKeys(`ops:${randomBytes(24).toString('hex')},ghost:${secret}`), config), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /the key named ghost has no entry in the configuration's apiClients/);
      assert.ok(!err.message.includes(secret));
      return true;
    });
    const rotated = resolveClients(parseApiKeys(`ci:${randomBytes(24).toString('hex')},ci:${randomBytes(24).toString('hex')}`), config);
    assert.equal(rotated.get('ci')?.role, 'requester', 'two keys of one name (a rotation) share its role');
  });
});

describe('authorization rules', () => {
  const c = (name: string, role: ApiClient['role'], projects: ApiClient['projects'] = '*'): ApiClient => ({ name, role, projects });
  const admin = c('ops', 'admin');
  const requester = c('ci', 'requester', ['shop']);
  const approver = c('ann', 'approver', ['shop']);
  const auditor = c('audit', 'auditor');
  const own = { project: 'shop', requestedBy: 'ci' };
  const theirs = { project: 'shop', requestedBy: 'someone' };
  const elsewhere = { project: 'blog', requestedBy: 'ci' };

  it('When an admin acts, then everything is allowed', () => {
    for (const action of ['read', 'create', 'revoke', 'extend', 'changeLevel', 'decide'] as const) assert.equal(refusal(admin, action, theirs), undefined);
  });

  it('When a requester acts, then it may ask on its projects and change only its own grants', () => {
    assert.equal(refusal(requester, 'create', { project: 'shop' }), undefined);
    assert.match(refusal(requester, 'create', { project: 'blog' })!, /may not ask for grants of project blog/);
    for (const action of ['revoke', 'extend', 'changeLevel'] as const) {
      assert.equal(refusal(requester, action, own), undefined);
      assert.match(refusal(requester, action, theirs)!, /only .* the grants it asked for/);
      assert.match(refusal(requester, action, elsewhere)!, /of project blog/);
    }
    assert.match(refusal(requester, 'decide', own)!, /may not approve or deny/);
    assert.equal(refusal(requester, 'read'), undefined);
  });

  it('When an approver or an auditor acts, then only deciding (on its projects) or reading is allowed', () => {
    assert.equal(refusal(approver, 'decide', theirs), undefined);
    assert.match(refusal(approver, 'decide', elsewhere)!, /of project blog/);
    for (const action of ['create', 'revoke', 'extend', 'changeLevel'] as const) assert.match(refusal(approver, action, theirs)!, /may only approve or deny/);
    for (const action of ['create', 'revoke', 'extend', 'changeLevel', 'decide'] as const) assert.match(refusal(auditor, action, theirs)!, /read-only/);
    assert.equal(refusal(auditor, 'read'), undefined);
    assert.equal(refusal(approver, 'read'), undefined);
  });
});
