import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
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
/** The node a local `$ref` (`#/components/...`) points at. */
const resolveRef = (doc: any, ref: string): any => ref.slice(2).split('/').reduce<any>((node, part) => node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
const OPERATIONS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

describe('HTTP API: documentation (/docs)', function () {
  this.timeout(30_000);
  let app: FastifyInstance;
  let url: string;
  let doc: any;
  const key = randomBytes(24).toString('hex');

  before(async () => {
    const client = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) });
    // The credential routes exist only with their stores; nothing here reaches them.
    const credentials = { links: {} as never, audit: {} as never, readCredential: async () => undefined };
    app = await buildApp({ client, config: minimalConfig(), apiKeys: parseApiKeys(`ops:${key}`), taskQueue: 'docs-test', grantWaitMs: 0, credentials });
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
    // The levels are the configuration's (minimalConfig defines READ only).
    const level = body.properties.accessLevel.$ref ? resolveRef(doc, body.properties.accessLevel.$ref) : body.properties.accessLevel;
    assert.deepEqual(level.enum, ['READ']);
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

  it('When an authenticated route is documented, then its answers include 401 and 429 (with Retry-After) in the error shape; the public routes say security: []', () => {
    for (const [path, method] of [['/grants', 'post'], ['/grants', 'get'], ['/grants/{grantId}', 'get'], ['/grants/{grantId}', 'patch'], ['/grants/batch', 'post'], ['/grants/adopt', 'post']] as const) {
      const op = doc.paths[path][method];
      const where = `${method.toUpperCase()} ${path}`;
      assert.equal(op.security, undefined, `${where} needs the API key`);
      for (const code of ['401', '429', '500']) {
        const body = op.responses[code]?.content?.['application/json']?.schema;
        assert.deepEqual(body?.required, ['error', 'message'], `${where} ${code}: the error body`);
      }
      assert.ok(op.responses['429'].headers?.['retry-after'], `${where} 429: Retry-After`);
    }
    for (const [path, method] of [['/healthz', 'get'], ['/readyz', 'get'], ['/metrics', 'get'], ['/credentials/{token}', 'get'], ['/credentials/{token}', 'post']] as const) {
      assert.deepEqual(doc.paths[path][method].security, [], `${method.toUpperCase()} ${path} is public`);
    }
    // What each grant route can answer, beyond its successes.
    const codes = (path: string, method: string) => Object.keys(doc.paths[path][method].responses).sort();
    assert.deepEqual(codes('/grants', 'post'), ['201', '202', '400', '401', '403', '404', '409', '413', '415', '429', '500', '502', '503']);
    assert.deepEqual(codes('/grants/{grantId}/extend', 'post'), ['200', '202', '400', '401', '403', '404', '409', '413', '414', '415', '429', '500', '503', '504']);
  });

  it('When the document describes a field, then its pattern is the one the handler enforces: limit from 1, reasons without control characters, rows that are objects', () => {
    const pattern = (schema: { pattern: string }) => new RegExp(schema.pattern, 'u');
    const limit = doc.paths['/grants'].get.parameters.find((p: any) => p.name === 'limit').schema;
    for (const ok of ['1', '25', '1000']) assert.ok(pattern(limit).test(ok), ok);
    for (const bad of ['0', '1001', '-1', 'ten', '']) assert.ok(!pattern(limit).test(bad), bad);
    const body = doc.paths['/grants'].post.requestBody.content['application/json'].schema;
    assert.ok(pattern(body.properties.reason).test('ticket «OPS-1» — naïve café <b>&amp; 🚀\u00a0ok'));
    assert.ok(!pattern(body.properties.reason).test('ticket\u001b[31m'));
    assert.ok(!pattern(body.properties.reason).test('ticket \u2067OPS-1\u2069'));
    const rows = doc.paths['/grants/batch'].post.requestBody.content['application/json'].schema.properties.grants;
    assert.equal(rows.items.type, 'object', 'a batch row is an object: [null] is not a valid batch');
    assert.deepEqual(rows.items.required, body.required);
  });

  describe('methods a path does not have', () => {
    /** node:http rather than fetch, which refuses to send TRACE. */
    const send = (method: string, path: string, withKey = true) =>
      new Promise<{ status: number; headers: IncomingHttpHeaders; body: any }>((resolve, reject) => {
        const req = httpRequest(`${url}${path}`, { method, headers: withKey ? { authorization: `Bearer ${key}` } : {} }, (res) => {
          let text = '';
          res.on('data', (d) => (text += String(d)));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text ? JSON.parse(text) : undefined }));
        });
        req.on('error', reject);
        req.end();
      });

    for (const [method, path, allow] of [
      ['TRACE', '/grants', 'GET, HEAD, POST'],
      ['TRACE', '/healthz', 'GET, HEAD'],
      ['PUT', '/grants/grant%2Fdemo%2Fmain%2Fa%40example.com', 'GET, HEAD, PATCH'],
      ['DELETE', '/grants/grant%2Fdemo%2Fmain%2Fa%40example.com/revoke', 'POST'],
      ['DELETE', '/grants/batch', 'POST'],
      ['OPTIONS', '/grants/adopt', 'POST'],
    ] as const) {
      it(`When ${method} ${path.replace(/%2F.*/, '/…')} is sent, then it answers 405 with Allow: ${allow}, in the error shape`, async () => {
        const res = await send(method, path);
        assert.equal(res.status, 405);
        assert.equal(res.headers.allow, allow);
        const body = res.body as { error: string; message: string; requestId: string };
        assert.equal(body.error, 'method_not_allowed');
        assert.match(body.message, new RegExp(`^${method} is not a method of `));
        assert.equal(typeof body.requestId, 'string');
      });
    }

    it('When a path does not exist, then it is still 404 (and 401 without a key: unknown paths are not a way around it)', async () => {
      assert.equal((await send('GET', '/nope')).status, 404);
      assert.equal((await send('TRACE', '/nope')).status, 404);
      assert.equal((await send('TRACE', '/grants', false)).status, 401);
    });
  });
});
