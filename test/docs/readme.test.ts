import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import { ENV_VARS } from '../../src/config';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../../src/contract/search-attributes';
import { AUDIT_EVENTS } from '../../src/domain/grant';
import { minimalConfig } from '../support/minimal-config';
import { ROOT } from '../support/tools';
import { codeBlocks, referenceDocs } from './markdown';

// The README and docs/ are the operators' reference: these checks keep them true
// when a setting, a dev-stack override, a search attribute, an audit event or a
// route is added. The decision records do not count: they are history.

const docs = referenceDocs();
const text = docs.map((d) => d.text).join('\n');
const lines = text.split('\n');

describe('README and docs/', () => {
  it('When the README is read, then it is a path of at most 250 lines that leads into docs/', () => {
    const readme = docs.find((d) => d.path === 'README.md')!.text;
    const count = readme.trimEnd().split('\n').length;
    assert.ok(count <= 250, `README.md has ${count} lines: move the depth into docs/`);
    for (const page of ['api', 'cli', 'configuration', 'lifecycle', 'operations', 'security', 'performance', 'migration', 'development']) {
      assert.ok(readme.includes(`](docs/${page}.md`), `the README does not lead to docs/${page}.md`);
    }
  });

  it('When an environment variable is read by the service, then the configuration table documents it with its default', () => {
    for (const v of ENV_VARS) {
      const row = lines.find((line) => line.startsWith(`| \`${v.name}\` |`));
      assert.ok(row, `${v.name} is missing from the environment table`);
      if ('default' in v && v.default !== undefined) assert.ok(row.includes(`\`${v.default}\``), `${v.name}: the default ${v.default} is not documented`);
    }
  });

  it('When the dev stack reads an override, then the docs name it', () => {
    const dev = readFileSync(join(ROOT, 'scripts', 'dev.mjs'), 'utf8');
    const names = new Set([...dev.matchAll(/\b(DEV_[A-Z_]+)\b/g)].map((m) => m[1]!));
    assert.ok(names.size >= 7);
    for (const name of names) assert.ok(text.includes(`\`${name}\``), `${name} is not documented`);
  });

  it('When a search attribute is defined, then the docs show how to register and query it', () => {
    const registration = docs.flatMap((d) => codeBlocks(d.text)).filter((block) => block.includes('temporal operator search-attribute create'));
    assert.ok(registration.length > 0, 'no block registers the search attributes');
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTE_DEFINITIONS)) {
      assert.ok(registration.some((block) => block.includes(name)), `${name} is not registered`);
      if (type === 'Datetime') assert.ok(registration.some((block) => block.includes(`--name ${name} --type Datetime`)), `${name} is not registered as a Datetime`);
      assert.ok(text.includes(`${name} = "`) || text.includes(`${name} < "`), `no query with ${name} is shown`);
    }
  });

  it('When the audit trail has an event, then the docs name it', () => {
    for (const event of AUDIT_EVENTS) assert.ok(text.includes(`\`${event}\``), `${event} is not documented`);
  });

  describe('routes', function () {
    this.timeout(30_000);
    let app: FastifyInstance;

    before(async () => {
      // Every optional route area switched on; none of them is called, so nothing behind them is reached.
      const client = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) });
      app = await buildApp({
        client,
        config: minimalConfig(),
        apiKeys: [],
        taskQueue: 'docs-test',
        grantWaitMs: 0,
        codec: { codec: { encode: async (p) => p, decode: async (p) => p }, corsOrigins: [] },
        credentials: { links: {} as never, audit: {} as never, readCredential: async () => undefined },
      });
      await app.ready();
    });
    after(async () => {
      await app?.close();
    });

    it('When the API serves a route, then the docs document it by method and path', () => {
      const doc = app.swagger() as { paths: Record<string, Record<string, unknown>> };
      const routes = Object.entries(doc.paths).flatMap(([path, item]) =>
        Object.keys(item)
          .filter((method) => ['get', 'post', 'put', 'patch', 'delete'].includes(method))
          .map((method) => `${method.toUpperCase()} ${path.replace(/\{([^}]+)\}/g, ':$1')}`),
      );
      for (const r of ['GET /healthz', 'POST /grants', 'PATCH /grants/:grantId', 'POST /grants/batch', 'POST /grants/adopt', 'GET /credentials/:token', 'POST /codec/decode']) {
        assert.ok(routes.includes(r), `${r} was not seen among the API's routes: ${routes.join(', ')}`);
      }
      const undocumented = routes.filter((route) => !text.includes(`\`${route}\``));
      assert.deepEqual(undocumented, [], 'routes the docs do not name');
    });
  });
});
