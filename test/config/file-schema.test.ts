import { strict as assert } from 'node:assert';
import YAML from 'yaml';

import { ConfigError, FileSchema, parseFileConfig } from '../../src/config';

// The schema is where each setting of the configuration file has its doc and its
// default; the problems it finds read as `$.path: reason`.

type Node = Record<string, unknown>;

/** Every setting of the schema with a fixed name, as `a.b.c` (map entries as `*`). */
function settings(node: Node, path = ''): { path: string; node: Node }[] {
  const out: { path: string; node: Node }[] = [];
  for (const [key, child] of Object.entries((node.properties ?? {}) as Record<string, Node>)) {
    out.push({ path: `${path}${key}`, node: child }, ...settings(child, `${path}${key}.`));
  }
  for (const child of Object.values((node.patternProperties ?? {}) as Record<string, Node>)) out.push(...settings(child, `${path}*.`));
  if (node.items && typeof node.items === 'object') out.push(...settings(node.items as Node, `${path}[].`));
  return out;
}

const minimal = () => ({
  allowedEmailDomains: ['example.com'],
  administrators: [{ name: 'Ada Admin', email: 'ada@example.com' }],
  projects: { demo: { ownerName: 'Owner', ownerEmail: 'owner@example.com', databases: { main: { adminSecretId: 'admin/main' } } } },
});

function problemsOf(doc: unknown): string[] {
  try {
    parseFileConfig(doc);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('the configuration was accepted');
}

describe('config: file schema', () => {
  it('When the schema is walked, then every setting has a doc', () => {
    const all = settings(FileSchema as unknown as Node);
    assert.ok(all.length > 30, `only ${all.length} settings found`);
    const undocumented = all.filter((s) => typeof s.node.description !== 'string' || (s.node.description as string).length < 10).map((s) => s.path);
    assert.deepEqual(undocumented, []);
  });

  it('When a minimal file is read, then each top-level default is the one the schema documents', () => {
    const config = parseFileConfig(minimal());
    const P = (FileSchema as unknown as { properties: Record<string, Node> }).properties;
    assert.equal(config.secretPrefix, P.secretPrefix!.default);
    assert.deepEqual(config.reminders, [3, 1].map((d) => d * 86_400_000));
    assert.deepEqual(P.reminders!.default, ['3d', '1d']);
    assert.equal(config.revocationLeadMs, 60_000);
    assert.equal(P.revocationLead!.default, '1m');
  });

  it('When settings are written without a value (YAML null), then they are not set; a project, database or level without a value is refused', () => {
    const doc = YAML.parse(
      [
        'allowedEmailDomains: [example.com]',
        'administrators: [{name: Ada, email: ada@example.com}]',
        'secretPrefix:',
        'reminders:',
        'approval:',
        'defaults: {maxDuration: }',
        'projects:',
        '  demo:',
        '    ownerName: Owner',
        '    ownerEmail: owner@example.com',
        '    databases:',
        '      main: {adminSecretId: admin/main, hostPattern: , requireApproval: }',
      ].join('\n'),
    );
    const config = parseFileConfig(doc);
    assert.equal(config.secretPrefix, 'dbaccess');
    assert.equal(config.reminders.length, 2);
    assert.equal(config.approval.timeoutMs, 86_400_000);
    assert.deepEqual(config.projects.demo!.databases.main, { key: 'main', schema: 'main', adminSecretId: 'admin/main', hostPattern: '%', maxUserConnections: 5, maxDurationMs: 90 * 86_400_000 });

    assert.deepEqual(problemsOf({ ...minimal(), projects: { demo: null } }), ['$.projects.demo: must be an object']);
    const noDatabase = minimal() as any;
    noDatabase.projects.demo.databases.other = null;
    noDatabase.projects.demo.databases.main.adminSecretId = null;
    assert.deepEqual(problemsOf(noDatabase), ['$.projects.demo.databases.main.adminSecretId: is required', '$.projects.demo.databases.other: must be an object']);
    assert.deepEqual(problemsOf({ ...minimal(), accessLevels: { READ: null } }), ['$.accessLevels.READ: must be a list of privileges']);
  });

  it('When a value fails several rules, then its key is reported once, with the reason that comes first (its type, then its content)', () => {
    const doc = minimal() as any;
    doc.projects.demo.databases.main.hostPattern = 42;
    doc.projects.demo.databases.main.requireApproval = ['admin', 7];
    doc.administrators = [{ name: 'Ada\u0000', email: 'ada@example.com' }];
    assert.deepEqual(problemsOf(doc), [
      '$.administrators[0].name: must not contain control or invisible characters',
      '$.projects.demo.databases.main.hostPattern: must be %, a host name or an address, optionally with % and _ wildcards',
      '$.projects.demo.databases.main.requireApproval: must be true (every grant), false, or a list of access levels such as [ADMIN]',
    ]);
  });

  it('When an entry of a list is wrong, then the problem names its index', () => {
    assert.deepEqual(problemsOf({ ...minimal(), reminders: ['3d', 'soon'], approval: { levels: ['ADMIN', 'admin'] } }), [
      '$.approval.levels[1]: must be an access level such as ADMIN',
      '$.reminders[1]: must be a duration such as 3d, 1d or 12h',
    ]);
  });
});
