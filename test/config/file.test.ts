import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ConfigError, FILE_DEFAULTS, levelTables, loadFileConfig, own, parseFileConfig, type FileConfig } from '../../src/config';
import { resolveLevel } from '../../src/domain';

// The configuration is validated once at start-up. An operator who gets it
// wrong must learn every problem at once, each with the path of the key to fix.

const DAY = 24 * 3600_000;

function minimal(): Record<string, unknown> {
  return {
    allowedEmailDomains: ['example.com'],
    administrators: [{ name: 'Ada Admin', email: 'ada@example.com' }],
    projects: {
      project: {
        ownerName: 'Project Owner',
        ownerEmail: 'owner@example.com',
        databases: { dev_project: { adminSecretId: 'non-prod_project_mysql' } },
      },
    },
  };
}

/** The problems parseFileConfig reports for `doc`; fails the test if it accepts it. */
function problemsOf(doc: unknown): string[] {
  try {
    parseFileConfig(doc);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.match(err.message, /^invalid configuration:\n {2}- /);
    return err.problems;
  }
  assert.fail('the configuration was accepted');
}

/** The old scripts' input file, as published, plus the two lists this service requires. */
const LEGACY_FILE = {
  awsCredentials: {
    region_name: 'us-east-1',
    profile_name: 'default',
    dynamodb_table: 'user-management-audit',
    secret_manager: 'ses-smtp-user/NW-Projects',
  },
  access_level: {
    READ: ['SELECT'],
    READ_WRITE: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    ADMIN: ['ALL PRIVILEGES'],
  },
  projects: {
    project: {
      data: { owner_name: 'Project Owner', owner_email: 'owner@company.com' },
      tools: { database: { dev_project: 'non-prod_project_mysql', prod_project: 'prod_project_mysql' } },
    },
  },
  allowedEmailDomains: ['company.com'],
  administrators: [{ name: 'DBA Team', email: 'dba@company.com' }],
};

describe('config: file', () => {
  describe('parseFileConfig', () => {
    it('When a minimal file is given, then every default is filled in', () => {
      const config = parseFileConfig(minimal());
      assert.deepEqual(config, {
        secretPrefix: 'dbaccess',
        allowedEmailDomains: ['example.com'],
        administrators: [{ name: 'Ada Admin', email: 'ada@example.com' }],
        accessLevels: { READ: ['SELECT'], READ_WRITE: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'], ADMIN: ['ALL PRIVILEGES'] },
        projects: {
          project: {
            key: 'project',
            owner: { name: 'Project Owner', email: 'owner@example.com' },
            databases: {
              dev_project: {
                key: 'dev_project',
                schema: 'dev_project',
                adminSecretId: 'non-prod_project_mysql',
                hostPattern: '%',
                maxUserConnections: 5,
                maxDurationMs: 90 * DAY,
              },
            },
          },
        },
        apiClients: {},
        approval: { timeoutMs: DAY, levels: [] },
        reconciler: { intervalMs: DAY / 24, mode: 'revoke' },
        reminders: [3 * DAY, DAY],
        revocationLeadMs: 60_000,
        eventStream: { deliverForMs: 24 * 3600_000, endpoints: {} },
        breakGlass: { clients: [], maxDurationMs: 3600_000, reviewWithinMs: 7 * DAY },
      } satisfies FileConfig);
      assert.equal(FILE_DEFAULTS.maxDuration, '90d');
    });

    it('When every database setting is given, then each is kept', () => {
      const doc = minimal();
      (doc.projects as any).project.databases.dev_project = {
        schema: 'dev_schema',
        adminSecretId: 'prod/project/mysql',
        hostPattern: '10.0.%',
        maxUserConnections: 20,
        maxDuration: '1d12h',
      };
      doc.secretPrefix = 'team/dbaccess';
      const config = parseFileConfig(doc);
      assert.equal(config.secretPrefix, 'team/dbaccess');
      assert.deepEqual(config.projects.project!.databases.dev_project, {
        key: 'dev_project',
        schema: 'dev_schema',
        adminSecretId: 'prod/project/mysql',
        hostPattern: '10.0.%',
        maxUserConnections: 20,
        maxDurationMs: 36 * 3600_000,
      });
    });

    it('When a defaults section is given, then databases without their own setting use it and the others keep theirs', () => {
      const doc = minimal();
      doc.defaults = { hostPattern: '10.%', maxUserConnections: 3, maxDuration: '30d' };
      (doc.projects as any).project.databases.prod_project = { adminSecretId: 'prod', hostPattern: '%', maxUserConnections: 9, maxDuration: '7d' };
      const { databases } = parseFileConfig(doc).projects.project!;
      assert.deepEqual(
        [databases.dev_project!.hostPattern, databases.dev_project!.maxUserConnections, databases.dev_project!.maxDurationMs],
        ['10.%', 3, 30 * DAY],
      );
      assert.deepEqual(
        [databases.prod_project!.hostPattern, databases.prod_project!.maxUserConnections, databases.prod_project!.maxDurationMs],
        ['%', 9, 7 * DAY],
      );
    });

    it('When e-mail addresses and domains are written in upper case, then they are stored in lower case', () => {
      const doc = minimal();
      doc.allowedEmailDomains = ['Example.COM'];
      doc.administrators = [{ name: 'Ada', email: 'Ada@Example.com' }];
      (doc.projects as any).project.ownerEmail = 'Owner@Example.com';
      const config = parseFileConfig(doc);
      assert.deepEqual(config.allowedEmailDomains, ['example.com']);
      assert.equal(config.administrators[0]!.email, 'ada@example.com');
      assert.equal(config.projects.project!.owner.email, 'owner@example.com');
    });

    it('When a required database setting is missing, then the problem names its full path', () => {
      const doc = minimal();
      (doc.projects as any).project.databases.dev_project = {};
      assert.deepEqual(problemsOf(doc), ['$.projects.project.databases.dev_project.adminSecretId: is required']);
    });

    it('When a file has many problems, then all of them are reported at once, each with its path', () => {
      const problems = problemsOf({
        secretPrefix: 'has space',
        allowedEmailDomains: ['example.com', 'not a domain', 42],
        administrators: [{ name: 'Ada' }, 'bob@example.com'],
        accessLevels: { READ: ['SELECT'], read: ['SELECT'], DBA: ['FILE'], OPS: 'SELECT' },
        projects: {
          project: {
            ownerName: 'Owner',
            ownerEmail: 'owner@exa mple.com',
            databases: {
              dev_project: { schema: 'dev.project', hostPattern: "%'", maxUserConnections: 0, maxDuration: '1.5d' },
              'bad.key': { adminSecretId: 'x' },
              other: 'x',
            },
          },
          Upper: { databases: {} },
          empty: { ownerName: 'Owner', ownerEmail: 'owner@example.com', databases: {} },
        },
      });
      const expected = [
        '$.secretPrefix: must be a valid secret name prefix',
        '$.accessLevels.read: level names are upper-case letters, digits and _ (READ, READ_WRITE)',
        '$.accessLevels.DBA: "FILE" is not an allowed privilege',
        '$.accessLevels.OPS: must be a list of privileges',
        '$.allowedEmailDomains[1]: must be a domain name such as example.com',
        '$.allowedEmailDomains[2]: must be a domain name such as example.com',
        '$.administrators[0].email: is required',
        '$.administrators[1]: must be {name, email}',
        '$.projects.project.ownerEmail: must be a valid e-mail address',
        '$.projects.project.databases.dev_project.schema: must be a plain schema name',
        '$.projects.project.databases.dev_project.adminSecretId: is required',
        '$.projects.project.databases.dev_project.hostPattern: must be %, a host name or an address',
        '$.projects.project.databases.dev_project.maxUserConnections: must be an integer from 1 to 10000',
        '$.projects.project.databases.dev_project.maxDuration: must be a duration such as 90d',
        '$.projects.project.databases.bad.key: database keys are letters, digits, _ and - (at most 64)',
        '$.projects.project.databases.other: must be an object',
        '$.projects.Upper: project keys are lower-case letters, digits, _ and - (at most 63)',
        '$.projects.empty.databases: must define at least one database',
      ];
      for (const start of expected) {
        assert.ok(problems.some((p) => p.startsWith(start)), `missing "${start}" in:\n${problems.join('\n')}`);
      }
      assert.equal(problems.length, expected.length, problems.join('\n'));
    });

    it('When the top-level lists are missing, then each is reported', () => {
      assert.deepEqual(problemsOf({}), [
        '$.allowedEmailDomains: must list at least one e-mail domain',
        '$.administrators: must list at least one {name, email}: they are told when a grant fails or a revocation keeps failing',
        '$.projects: must define at least one project',
      ]);
      assert.deepEqual(problemsOf([]), ['the configuration must be an object']);
      assert.deepEqual(problemsOf(null), ['the configuration must be an object']);
      assert.deepEqual(problemsOf('projects: {}'), ['the configuration must be an object']);
    });

    it('When a key is not a known setting, at any level, then it is refused with its path', () => {
      const doc = minimal();
      doc.secretsPrefix = 'typo';
      doc.defaults = { maxDurations: '30d' };
      (doc.projects as any).project.owner = 'x';
      (doc.projects as any).project.databases.dev_project.max_user_connections = 3;
      assert.deepEqual(problemsOf(doc).sort(), [
        '$.defaults.maxDurations: is not a known setting',
        '$.projects.project.databases.dev_project.max_user_connections: is not a known setting',
        '$.projects.project.owner: is not a known setting',
        '$.secretsPrefix: is not a known setting',
      ]);
    });

    it('When the reconciler is configured, then its interval and mode are read; wrong values are refused with their path', () => {
      const doc = minimal();
      doc.reconciler = { interval: '15m', mode: 'report' };
      assert.deepEqual(parseFileConfig(doc).reconciler, { intervalMs: 15 * 60_000, mode: 'report' });
      doc.reconciler = { interval: '10s', mode: 'drop', every: '1h' };
      assert.deepEqual(problemsOf(doc).sort(), [
        '$.reconciler.every: is not a known setting',
        '$.reconciler.interval: must be from 1m to 7d',
        '$.reconciler.mode: must be one of revoke, report',
      ]);
    });

    it('When revocationLead is given, then it is read (off turns arming off); out of range or not a duration is refused with its path', () => {
      const doc = minimal();
      assert.equal(parseFileConfig(doc).revocationLeadMs, 60_000);
      doc.revocationLead = '5m';
      assert.equal(parseFileConfig(doc).revocationLeadMs, 300_000);
      doc.revocationLead = 'off';
      assert.equal(parseFileConfig(doc).revocationLeadMs, 0);
      for (const bad of ['2s', '2h', 'soon', 60]) {
        doc.revocationLead = bad;
        assert.deepEqual(problemsOf(doc), ['$.revocationLead: must be a duration from 5s to 1h, such as 1m, or off'], String(bad));
      }
    });

    it('When text holds control or invisible characters, then it is refused', () => {
      const doc = minimal();
      doc.administrators = [{ name: 'Ada\r\nBcc: eve@evil.org', email: 'ada@example.com' }];
      (doc.projects as any).project.ownerName = 'Own\u202eer';
      assert.deepEqual(problemsOf(doc), [
        '$.administrators[0].name: must not contain control or invisible characters',
        '$.projects.project.ownerName: must not contain control or invisible characters',
      ]);
    });

    it('When an admin secret lives under the per-grant secret prefix, then it is refused (a grant could overwrite it)', () => {
      const doc = minimal();
      doc.secretPrefix = 'team/dbaccess/';
      (doc.projects as any).project.databases.dev_project.adminSecretId = 'team/dbaccess/admin';
      (doc.projects as any).project.databases.prod_project = { adminSecretId: 'team/dbaccess-admin/prod' };
      const problems = problemsOf(doc);
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.equal(problems[0], '$.projects.project.databases.dev_project.adminSecretId: must not be under secretPrefix "team/dbaccess/", where the service writes per-grant secrets');
      const defaults = minimal();
      (defaults.projects as any).project.databases.dev_project.adminSecretId = 'dbaccess/project/dev_project';
      assert.equal(problemsOf(defaults).length, 1, 'the default prefix counts too');
    });

    it('When a numeric setting is not a whole number in range, then it is refused', () => {
      for (const value of [0, 10_001, 1.5, '5', -1, true]) {
        const doc = minimal();
        (doc.projects as any).project.databases.dev_project.maxUserConnections = value;
        assert.deepEqual(problemsOf(doc), ['$.projects.project.databases.dev_project.maxUserConnections: must be an integer from 1 to 10000'], String(value));
      }
    });

    it('When access levels are defined, then privileges are normalised and the defaults are replaced', () => {
      const doc = minimal();
      doc.accessLevels = { READ: ['select', 'show view'], OWNER: ['all'] };
      const config = parseFileConfig(doc);
      assert.deepEqual(config.accessLevels, { READ: ['SELECT', 'SHOW VIEW'], OWNER: ['ALL PRIVILEGES'] });
    });

    it('When a level lists a privilege outside the whitelist, then the file is refused naming the level', () => {
      for (const bad of ['FILE', 'SUPER', 'GRANT OPTION', 'SELECT; DROP USER root', 'PROCESS']) {
        const doc = minimal();
        doc.accessLevels = { READ: ['SELECT', bad] };
        const problems = problemsOf(doc);
        assert.equal(problems.length, 1);
        assert.ok(problems[0]!.startsWith(`$.accessLevels.READ: "${bad}" is not an allowed privilege`), problems[0]);
      }
      const doc = minimal();
      doc.accessLevels = { READ: [] };
      assert.deepEqual(problemsOf(doc), ['$.accessLevels.READ: an access level needs at least one privilege']);
    });

    it('When a project or a database overrides a level, then the override is kept and takes precedence in that order', () => {
      const doc = minimal();
      (doc.projects as any).project.accessLevels = { READ: ['SELECT', 'SHOW VIEW'], AUDITOR: ['SELECT'] };
      (doc.projects as any).project.databases.dev_project.accessLevels = { READ: ['SELECT', 'EXECUTE'] };
      (doc.projects as any).project.databases.prod_project = { adminSecretId: 'prod' };
      const config = parseFileConfig(doc);
      const project = config.projects.project!;
      assert.deepEqual(project.accessLevels, { READ: ['SELECT', 'SHOW VIEW'], AUDITOR: ['SELECT'] });
      assert.deepEqual(project.databases.dev_project!.accessLevels, { READ: ['SELECT', 'EXECUTE'] });
      assert.equal(project.databases.prod_project!.accessLevels, undefined);

      const dev = levelTables(config, project, project.databases.dev_project!);
      const prod = levelTables(config, project, project.databases.prod_project!);
      assert.deepEqual(resolveLevel('READ', ...dev), ['SELECT', 'EXECUTE']);
      assert.deepEqual(resolveLevel('READ', ...prod), ['SELECT', 'SHOW VIEW']);
      assert.deepEqual(resolveLevel('AUDITOR', ...dev), ['SELECT']);
      assert.deepEqual(resolveLevel('READ_WRITE', ...dev), ['SELECT', 'INSERT', 'UPDATE', 'DELETE']);
    });

    it('When an override lists a forbidden privilege, then the problem names the project or database level', () => {
      const doc = minimal();
      (doc.projects as any).project.accessLevels = { READ: ['FILE'] };
      (doc.projects as any).project.databases.dev_project.accessLevels = { READ: ['SUPER'] };
      const problems = problemsOf(doc);
      assert.equal(problems.length, 2);
      assert.ok(problems[0]!.startsWith('$.projects.project.accessLevels.READ: "FILE" is not an allowed privilege'), problems[0]);
      assert.ok(problems[1]!.startsWith('$.projects.project.databases.dev_project.accessLevels.READ: "SUPER" is not an allowed privilege'), problems[1]);
    });

    it("When the old scripts' input file is given (access_level, data.owner_*, tools.database), then it loads into the new shape", () => {
      const config = parseFileConfig(structuredClone(LEGACY_FILE));
      assert.deepEqual(config, {
        secretPrefix: 'dbaccess',
        allowedEmailDomains: ['company.com'],
        administrators: [{ name: 'DBA Team', email: 'dba@company.com' }],
        accessLevels: { READ: ['SELECT'], READ_WRITE: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'], ADMIN: ['ALL PRIVILEGES'] },
        projects: {
          project: {
            key: 'project',
            owner: { name: 'Project Owner', email: 'owner@company.com' },
            databases: {
              dev_project: { key: 'dev_project', schema: 'dev_project', adminSecretId: 'non-prod_project_mysql', hostPattern: '%', maxUserConnections: 5, maxDurationMs: 90 * DAY },
              prod_project: { key: 'prod_project', schema: 'prod_project', adminSecretId: 'prod_project_mysql', hostPattern: '%', maxUserConnections: 5, maxDurationMs: 90 * DAY },
            },
          },
        },
        apiClients: {},
        approval: { timeoutMs: DAY, levels: [] },
        reconciler: { intervalMs: DAY / 24, mode: 'revoke' },
        reminders: [3 * DAY, DAY],
        revocationLeadMs: 60_000,
        eventStream: { deliverForMs: 24 * 3600_000, endpoints: {} },
        breakGlass: { clients: [], maxDurationMs: 3600_000, reviewWithinMs: 7 * DAY },
      } satisfies FileConfig);
    });

    it("When the old file's levels hold a forbidden privilege or its owner is missing, then the problem is reported like any other", () => {
      const doc = structuredClone(LEGACY_FILE) as any;
      doc.access_level.DBA = ['SUPER'];
      delete doc.projects.project.data.owner_email;
      const problems = problemsOf(doc);
      assert.equal(problems.length, 2, problems.join('\n'));
      assert.ok(problems[0]!.startsWith('$.accessLevels.DBA: "SUPER" is not an allowed privilege'));
      assert.equal(problems[1], '$.projects.project.ownerEmail: is required');
    });

    it("When the old file lacks the lists this service requires, then it is refused saying so", () => {
      const { allowedEmailDomains: _a, administrators: _b, ...legacyOnly } = structuredClone(LEGACY_FILE);
      assert.deepEqual(problemsOf(legacyOnly).map((p) => p.split(':')[0]), ['$.allowedEmailDomains', '$.administrators']);
    });

    it('When the parsed document is handed in, then it is not modified', () => {
      const doc = structuredClone(LEGACY_FILE);
      const before = JSON.stringify(doc);
      parseFileConfig(doc);
      assert.equal(JSON.stringify(doc), before);
    });

    it('When defaults is not an object, or holds a bad value, then the problem is reported once, at $.defaults', () => {
      assert.deepEqual(problemsOf({ ...minimal(), defaults: 'oops' }), ['$.defaults: must be an object']);
      assert.deepEqual(problemsOf({ ...minimal(), defaults: { maxDuration: 'forever' } }), ['$.defaults.maxDuration: must be a duration such as 90d, 12h or 1d12h']);
    });

    it('When an admin secret is given as an ARN, then it is accepted', () => {
      const doc = minimal();
      const arn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:dev-AbCdEf';
      ((doc.projects as any).project.databases.dev_project as Record<string, unknown>).adminSecretId = arn;
      assert.equal(parseFileConfig(doc).projects.project!.databases.dev_project!.adminSecretId, arn);
    });

    it('When a request names a built-in object member as a key, then own() finds nothing', () => {
      const config = parseFileConfig(minimal());
      for (const key of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
        assert.equal(own(config.projects, key), undefined, key);
        assert.equal(own(config.projects.project!.databases, key), undefined, key);
      }
      assert.ok(own(config.projects, 'project'));
    });

    it('When a level table is empty, then it is refused', () => {
      assert.deepEqual(problemsOf({ ...minimal(), accessLevels: {} }), ['$.accessLevels: must define at least one level']);
    });
  });

  describe('loadFileConfig', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'dbaccess-config-'));
    });
    after(() => {
      rmSync(dir, { recursive: true, force: true });
    });
    const write = (name: string, text: string) => {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    };

    it('When a YAML file is given, then it loads', () => {
      const path = write(
        'dbaccess.yaml',
        [
          'allowedEmailDomains: [example.com]',
          'administrators:',
          '  - { name: Ada Admin, email: ada@example.com }',
          'accessLevels:',
          '  READ: [SELECT]',
          '  READ_WRITE: [SELECT, INSERT, UPDATE, DELETE]',
          'projects:',
          '  project:',
          '    ownerName: Project Owner',
          '    ownerEmail: owner@example.com',
          '    databases:',
          '      dev_project:',
          '        adminSecretId: non-prod_project_mysql',
          '        maxDuration: 30d',
          '        maxUserConnections: 2',
          '',
        ].join('\n'),
      );
      const config = loadFileConfig(path);
      assert.deepEqual(Object.keys(config.accessLevels), ['READ', 'READ_WRITE']);
      assert.equal(config.projects.project!.databases.dev_project!.maxDurationMs, 30 * DAY);
      assert.equal(config.projects.project!.databases.dev_project!.maxUserConnections, 2);
    });

    it("When the old scripts' JSON file is given, then it loads", () => {
      const path = write('input.json', JSON.stringify(LEGACY_FILE, null, 4));
      assert.deepEqual(loadFileConfig(path), parseFileConfig(structuredClone(LEGACY_FILE)));
    });

    it('When JSON is given in a .yaml file, then it loads too (YAML reads JSON)', () => {
      const path = write('input-as.yaml', JSON.stringify(LEGACY_FILE));
      assert.deepEqual(Object.keys(loadFileConfig(path).projects.project!.databases), ['dev_project', 'prod_project']);
    });

    it('When the file cannot be read, then the ConfigError names the file', () => {
      const path = join(dir, 'missing.yaml');
      assert.throws(() => loadFileConfig(path), (err: unknown) => err instanceof ConfigError && err.message.includes(path) && err.message.includes('ENOENT'));
      assert.throws(() => loadFileConfig(dir), (err: unknown) => err instanceof ConfigError && err.message.includes(dir));
    });

    it('When the YAML is malformed, then the ConfigError names the file', () => {
      const path = write('bad.yaml', 'projects:\n  project: [unclosed\n');
      assert.throws(() => loadFileConfig(path), (err: unknown) => err instanceof ConfigError && err.message.includes(`${path} is not valid YAML`));
      const dup = write('dup.yaml', 'projects: {}\nprojects: {}\n');
      assert.throws(() => loadFileConfig(dup), (err: unknown) => err instanceof ConfigError && err.message.includes(`${dup} is not valid YAML`), 'a duplicated key is an error, not a silent override');
    });

    it('When the JSON is malformed, then the ConfigError names the file', () => {
      const path = write('bad.json', '{"projects": ');
      assert.throws(() => loadFileConfig(path), (err: unknown) => err instanceof ConfigError && err.message.includes(`${path} is not valid JSON`));
    });

    it('When a readable file is invalid, then its problems are reported with paths', () => {
      const path = write('invalid.yaml', 'allowedEmailDomains: [example.com]\nadministrators: [{name: A, email: a@example.com}]\nprojects: {p: {ownerName: O, ownerEmail: o@example.com, databases: {d: {}}}}\n');
      assert.throws(() => loadFileConfig(path), (err: unknown) => err instanceof ConfigError && err.problems.includes('$.projects.p.databases.d.adminSecretId: is required'));
    });
  });

  describe('standing grants', () => {
    const withStanding = (standing: unknown) => {
      const doc = minimal() as { projects: { project: { databases: { dev_project: Record<string, unknown> } } } };
      doc.projects.project.databases.dev_project.standing = standing;
      return doc;
    };

    it('When a database sets standing, then its review and decideWithin are kept; decideWithin defaults to 7d, or half of a shorter review; databases without it have none', () => {
      assert.deepEqual(parseFileConfig(withStanding({ review: '90d', decideWithin: '10d' })).projects.project!.databases.dev_project!.standing, { reviewMs: 90 * DAY, decideWithinMs: 10 * DAY });
      assert.deepEqual(parseFileConfig(withStanding({ review: '90d' })).projects.project!.databases.dev_project!.standing, { reviewMs: 90 * DAY, decideWithinMs: 7 * DAY });
      assert.deepEqual(parseFileConfig(withStanding({ review: '40s' })).projects.project!.databases.dev_project!.standing, { reviewMs: 40_000, decideWithinMs: 20_000 });
      assert.equal(parseFileConfig(minimal()).projects.project!.databases.dev_project!.standing, undefined);
    });

    it('When standing is wrong, then each problem names its path: no review, a review out of range, decideWithin not shorter than review, an unknown key', () => {
      const at = '$.projects.project.databases.dev_project.standing';
      assert.ok(problemsOf(withStanding({})).some((p) => p.startsWith(`${at}.review:`)), problemsOf(withStanding({})).join('; '));
      assert.deepEqual(problemsOf(withStanding({ review: '5s' })), [`${at}.review: must be from 20s to 366d`]);
      assert.deepEqual(problemsOf(withStanding({ review: '30d', decideWithin: '30d' })), [`${at}.decideWithin: must be shorter than review (30d)`]);
      assert.ok(problemsOf(withStanding({ review: '30d', every: '1d' })).some((p) => p.startsWith(at)));
    });
  });

  describe('break-glass', () => {
    const withBreakGlass = (breakGlass: unknown) => ({ ...minimal(), apiClients: { oncall: { role: 'requester', projects: ['project'] } }, breakGlass });

    it('When breakGlass lists configured clients, then they, the cap and the review deadline are kept; without it nobody may break the glass (1h cap, 7d review)', () => {
      assert.deepEqual(parseFileConfig(withBreakGlass({ clients: ['oncall'], maxDuration: '30m', reviewWithin: '2d' })).breakGlass, { clients: ['oncall'], maxDurationMs: 1_800_000, reviewWithinMs: 2 * DAY });
      assert.deepEqual(parseFileConfig(minimal()).breakGlass, { clients: [], maxDurationMs: 3600_000, reviewWithinMs: 7 * DAY });
    });

    it('When breakGlass names an unknown client, a cap out of 5m..24h or an unknown key, then each problem names its path', () => {
      assert.deepEqual(problemsOf(withBreakGlass({ clients: ['oncall', 'ghost'] })), ['$.breakGlass.clients: ghost is not a configured apiClient']);
      assert.deepEqual(problemsOf(withBreakGlass({ maxDuration: '2d' })), ['$.breakGlass.maxDuration: must be from 5m to 24h']);
      assert.deepEqual(problemsOf(withBreakGlass({ maxDuration: '1m' })), ['$.breakGlass.maxDuration: must be from 5m to 24h']);
      assert.ok(problemsOf(withBreakGlass({ approvers: [] })).some((p) => p.startsWith('$.breakGlass')));
    });
  });
});
