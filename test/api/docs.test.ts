import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import { parseApiKeys } from '../../src/api/plugins/auth';
import { DOCS_CSP, OPENAPI_PATH, registeredRoutes } from '../../src/api/plugins/docs';
import { minimalConfig } from '../support/minimal-config';

// The OpenAPI document at /docs: generated from the routes' schemas, it must
// describe every route the API serves, be a well-formed OpenAPI 3 document, and
// the interactive page must load under its own (narrow) Content-Security-Policy.
// No Temporal is needed: the client is lazy and never called.

/** Routes that are not part of the API and need not be documented. */
const UNDOCUMENTED = {
  methods: new Set(['HEAD', 'OPTIONS']),
  isDocs: (url: string) => url === '/docs' || url.startsWith('/docs/'),
};
const OPERATIONS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

describe('HTTP API: documentation (/docs)', function () {
  this.timeout(30_000);
  let app: FastifyInstance;
  let url: string;
  let doc: any;
  const key = randomBytes(24).toString('hex');

  before(async () => {
    const client = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) });
    app = await buildApp({ client, config: minimalConfig(), apiKeys: parseApiKeys(`ops:${key}`), taskQueue: 'docs-test', grantWaitMs: 0 });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
    const res = await fetch(`${url}${OPENAPI_PATH}`);
    assert.equal(res.status, 200);
    doc = await res.json();
  });
  after(async () => {
    await app?.close();
  });

  it('When the API registers a route, then the OpenAPI document describes it with each of its methods', () => {
    const routes = registeredRoutes(app).filter((r) => !UNDOCUMENTED.methods.has(r.method) && !UNDOCUMENTED.isDocs(r.url));
    assert.ok(routes.length >= 13, `only ${routes.length} routes seen: ${routes.map((r) => `${r.method} ${r.url}`).join(', ')}`);
    for (const r of ['GET /healthz', 'GET /readyz', 'GET /metrics', 'POST /grants', 'POST /grants/batch', 'POST /grants/adopt', 'PATCH /grants/:grantId']) {
      assert.ok(routes.some((x) => `${x.method} ${x.url}` === r), `${r} was not seen registering`);
    }
    const missing = routes.filter((r) => {
      const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      return !doc.paths?.[path]?.[r.method.toLowerCase()];
    });
    assert.deepEqual(missing, [], 'routes missing from the OpenAPI document');
    // And nothing documented that the API does not serve.
    const served = new Set(routes.map((r) => `${r.method.toLowerCase()} ${r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`));
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const op of Object.keys(item).filter((k) => OPERATIONS.includes(k))) assert.ok(served.has(`${op} ${path}`), `${op.toUpperCase()} ${path} is documented but not served`);
    }
  });

  it('When the document is read, then it is a well-formed OpenAPI 3 document with a bearer scheme, and every operation is described', () => {
    assert.match(doc.openapi, /^3\.\d+\.\d+$/);
    assert.equal(typeof doc.info?.title, 'string');
    assert.equal(typeof doc.info?.version, 'string');
    assert.deepEqual(doc.components?.securitySchemes?.apiKey, { type: 'http', scheme: 'bearer', description: doc.components.securitySchemes.apiKey.description });
    assert.deepEqual(doc.security, [{ apiKey: [] }]);
    const tags = new Set((doc.tags as { name: string }[]).map((t) => t.name));
    const operationIds = new Set<string>();
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      assert.ok(path.startsWith('/'), path);
      const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      for (const [method, op] of Object.entries<any>(item).filter(([k]) => OPERATIONS.includes(k))) {
        const where = `${method.toUpperCase()} ${path}`;
        assert.ok(op.summary && op.description, `${where}: summary and description`);
        assert.ok(op.tags?.length && op.tags.every((t: string) => tags.has(t)), `${where}: tags must be declared`);
        assert.ok(op.operationId && !operationIds.has(op.operationId), `${where}: a unique operationId`);
        operationIds.add(op.operationId);
        assert.ok(op.responses && Object.keys(op.responses).length > 0, `${where}: responses`);
        for (const [code, response] of Object.entries<any>(op.responses)) {
          assert.match(code, /^([1-5]\d\d|default)$/, `${where}: response ${code}`);
          assert.equal(typeof response.description, 'string', `${where} ${code}: description`);
        }
        const params = (op.parameters ?? []).filter((p: any) => p.in === 'path').map((p: any) => p.name);
        assert.deepEqual(params.sort(), [...inPath].sort(), `${where}: path parameters`);
        for (const p of op.parameters ?? []) assert.ok(['path', 'query', 'header', 'cookie'].includes(p.in) && p.schema, `${where}: parameter ${p.name}`);
        if (op.requestBody) assert.ok(op.requestBody.content?.['application/json']?.schema, `${where}: JSON body schema`);
      }
    }
    // Public operations say so; the others inherit the bearer scheme.
    for (const [path, method] of [['/healthz', 'get'], ['/readyz', 'get'], ['/metrics', 'get']] as const) assert.deepEqual(doc.paths[path][method].security, [], `${path} is public`);
    assert.equal(doc.paths['/grants'].post.security, undefined);
    // Every reference resolves.
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"([^"]+)"/g)].map((m) => m[1]!);
    for (const ref of refs) {
      assert.ok(ref.startsWith('#/'), ref);
      const target = ref.slice(2).split('/').reduce<any>((node, part) => node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
      assert.ok(target !== undefined, `${ref} does not resolve`);
    }
  });

  it('When a route validates its input, then the document carries the same schema (limits included)', () => {
    const body = doc.paths['/grants'].post.requestBody.content['application/json'].schema;
    assert.deepEqual(body.required, ['email', 'name', 'project', 'database', 'accessLevel']);
    assert.equal(body.properties.email.maxLength, 254);
    assert.equal(body.additionalProperties, false);
    const grantId = doc.paths['/grants/{grantId}'].get.parameters.find((p: any) => p.name === 'grantId');
    assert.equal(grantId.required, true);
    assert.equal(grantId.schema.maxLength, 400);
  });

  it('When /docs is opened without a key, then the page, its scripts and styles and the document load, under a CSP narrowed to this origin', async () => {
    for (const path of ['/docs', '/docs/']) {
      const res = await fetch(`${url}${path}`);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
      assert.equal(res.headers.get('content-security-policy'), DOCS_CSP);
      const html = await res.text();
      assert.match(html, /<div id="swagger-ui">/);
      // No inline script: the policy would block it.
      assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/);
      const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => new URL(m[1]!, `${url}${path}`).toString());
      assert.ok(assets.length >= 5, `assets: ${assets.join(', ')}`);
      for (const asset of assets) {
        assert.ok(asset.startsWith(`${url}/docs/`), `${asset} is not served by the API`);
        const a = await fetch(asset);
        assert.equal(a.status, 200, asset);
        assert.ok((await a.arrayBuffer()).byteLength > 0, asset);
        if (asset.endsWith('.js')) assert.match(a.headers.get('content-type') ?? '', /javascript/, asset);
        if (asset.endsWith('.css')) assert.match(a.headers.get('content-type') ?? '', /text\/css/, asset);
      }
    }
    // The page's initializer loads the document from ./json, which is the same document.
    const init = await (await fetch(`${url}/docs/static/swagger-initializer.js`)).text();
    assert.match(init, /resolveUrl\('\.\/json'\)/);
    assert.deepEqual(await (await fetch(`${url}/docs/json`)).json(), doc);
  });

  it('When the policy is relaxed for /docs, then it allows this origin only, and the API keeps its strict policy', async () => {
    assert.doesNotMatch(DOCS_CSP, /unsafe-|https?:|\*/);
    for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'"]) assert.ok(DOCS_CSP.includes(directive), directive);
    for (const path of ['/healthz', '/grants', OPENAPI_PATH]) {
      const res = await fetch(`${url}${path}`);
      assert.equal(res.headers.get('content-security-policy'), "default-src 'none'; frame-ancestors 'none'", path);
    }
    // The API itself still needs a key (a refused body proves the key passed, without reaching Temporal).
    const post = (headers: Record<string, string>) => fetch(`${url}/grants`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{}' });
    assert.equal((await post({})).status, 401);
    assert.equal((await post({ authorization: `Bearer ${key}` })).status, 400);
  });
});
