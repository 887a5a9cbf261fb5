import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Client } from '@temporalio/client';
import { defaultPayloadConverter, METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';
import { buildApp } from '../../src/api/app';
import { parseApiKeys } from '../../src/api/plugins/auth';
import { AesGcmPayloadCodec, granteeHasher } from '../../src/adapters/temporal/codec';
import { grantStateQuery } from '../../src/contract/messages';
import { SA } from '../../src/contract/search-attributes';
import { CHECK_WITH_REQUESTED_AUDIT } from '../../src/workflows/grant-access';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { decodeAll, isEncrypted, payloadsIn, rawText } from '../support/codec';
import { toolPath } from '../support/tools';
import { startTestStack, type TestStack } from '../support/stack';
import { until } from '../support/wait';

// Encrypted payloads against the real stack: the Temporal dev server, the real
// worker and the API, both with the codec. What Temporal stores (read raw,
// without a codec) holds no e-mail, name or reason; the grant works; a client
// without the key cannot read it; the codec endpoint decodes it over HTTP for
// the Temporal UI's origin only; and with GRANTEE_SEARCH_HASH_KEY the
// visibility record holds a keyed hash instead of the e-mail.

const UI_ORIGIN = 'http://127.0.0.1:8233';

/** The paths of every string or byte field of a raw proto object that contains `needle`. */
function fieldsHolding(value: unknown, needle: string, path = '$', out: string[] = []): string[] {
  if (value instanceof Uint8Array) {
    if (Buffer.from(value).includes(Buffer.from(needle))) out.push(path);
  } else if (typeof value === 'string') {
    if (value.includes(needle)) out.push(path);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) fieldsHolding(v, needle, `${path}.${k}`, out);
  }
  return out;
}
const OTHER_ORIGIN = 'http://evil.example.com';

describe('encrypted payloads on the real stack', function () {
  this.timeout(90_000);
  let stack: TestStack;
  const hash = granteeHasher(randomBytes(32).toString('hex'));
  let grantId = '';
  let email = '';
  const name = 'Grace Hopper';
  const reason = 'ticket SEC-1234 cobol audit';

  const rawHistory = async (workflowId: string) =>
    (await stack.env.client.workflowService.getWorkflowExecutionHistory({ namespace: stack.env.namespace ?? 'default', execution: { workflowId } })).history!;

  before(async () => {
    stack = await startTestStack({ granteeSearchValue: hash, codecEndpoint: { corsOrigins: [UI_ORIGIN] } });
    email = stack.newEmail();
    const created = await stack.call('POST', '/grants', {
      email,
      name,
      project: stack.project,
      database: stack.databases.main,
      accessLevel: 'READ',
      expiresAt: new Date(Date.now() + 24 * 3600_000).toISOString(),
      reason,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    grantId = created.body.grantId;
  });

  after(async () => {
    await stack?.stop();
  });

  it('When a grant is made, then it works, and its raw history holds no e-mail, name or reason, only encrypted payloads', async () => {
    const state = await stack.call('GET', stack.grantPath(grantId));
    assert.equal(state.status, 200, JSON.stringify(state.body));
    assert.equal(state.body.status, 'ACTIVE');
    assert.equal(state.body.email, email);

    const history = await rawHistory(grantId);
    const payloads = payloadsIn(history);
    // Search attributes are Temporal's index and are never encoded by a codec.
    const data = payloads.filter((p) => !p.path.includes('.searchAttributes.'));
    assert.ok(data.length > 10, `payloads found: ${data.length}`);
    // Patch markers are written by the SDK's core, outside any codec: they hold a patch id of the code, no data.
    const isPatchMarker = (path: string) => path.includes('.markerRecordedEventAttributes.details.patch-data.');
    for (const p of data.filter((d) => isPatchMarker(d.path))) {
      assert.match(Buffer.from(p.payload.data ?? new Uint8Array()).toString('utf8'), new RegExp(CHECK_WITH_REQUESTED_AUDIT), 'a patch marker holds the patch id');
    }
    const clear = data.filter((p) => !isEncrypted(p.payload) && !isPatchMarker(p.path)).map((p) => p.path);
    assert.deepEqual(clear, [], 'every payload of the history is encrypted');
    const bytes = Buffer.concat(payloads.map((p) => Buffer.concat([...Object.values(p.payload.metadata ?? {}), p.payload.data ?? new Uint8Array()])));
    for (const secret of [email, name, reason]) assert.ok(!bytes.includes(Buffer.from(secret)), `${secret} is in the payload bytes`);
    // Anywhere else in the raw history, the e-mail is only in the workflow id, which is the grant id
    // (grant/{project}/{database}/{email}): Temporal shows it, as the README says.
    assert.deepEqual(fieldsHolding(history, email), ['$.events.0.workflowExecutionStartedEventAttributes.workflowId']);
    for (const secret of [name, reason]) assert.deepEqual(fieldsHolding(history, secret), [], `${secret} is in the raw history`);
    // The check can fail: the same history, decoded with the key, holds all three.
    const decoded = rawText(await decodeAll(history, stack.codec!));
    for (const secret of [email, name, reason]) assert.ok(decoded.includes(secret), `${secret} is not in the decoded history`);
  });

  it('When the workflow has activity summaries, a static summary and current details, then they are encrypted too (user metadata goes through the codec)', async () => {
    const history = await rawHistory(grantId);
    const events = history.events ?? [];
    const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes);
    const summaries = scheduled.map((e) => e.userMetadata?.summary).filter((s): s is Payload => Boolean(s));
    assert.ok(summaries.length >= 4, `activity summaries: ${summaries.length}`);
    for (const s of summaries) assert.ok(isEncrypted(s), 'an activity summary is stored in clear');
    const decodedSummaries = (await stack.codec!.decode(summaries)).map((p) => defaultPayloadConverter.fromPayload<string>(p));
    assert.ok(decodedSummaries.some((s) => s.startsWith(`email GRANTED to ${email}`)), decodedSummaries.join(' | '));

    const started = events[0]!;
    assert.ok(started.userMetadata?.summary && isEncrypted(started.userMetadata.summary), 'the static summary is stored in clear');
    assert.ok(started.userMetadata?.details && isEncrypted(started.userMetadata.details), 'the static details are stored in clear');

    // Current details are not in the history: the UI asks the worker for them with a query, whose answer is encrypted.
    const metadataRaw = await stack.env.client.workflowService.queryWorkflow({
      namespace: stack.env.namespace ?? 'default',
      execution: { workflowId: grantId },
      query: { queryType: '__temporal_workflow_metadata' },
    });
    const answer = metadataRaw.queryResult?.payloads ?? [];
    assert.equal(answer.length, 1);
    assert.ok(isEncrypted(answer[0]!), 'the current details answer is in clear');
    assert.ok(!rawText(answer).includes(email));
    const metadata = await stack.client.workflow.getHandle(grantId).query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    assert.ok(metadata.currentDetails?.includes(email), String(metadata.currentDetails));
  });

  it('When a client has no key, or another key, then it cannot read the grant; with the key it can', async () => {
    const handle = (client: Client) => client.workflow.getHandle(grantId);
    await assert.rejects(handle(stack.env.client).query(grantStateQuery), /binary\/encrypted/);
    const other = new AesGcmPayloadCodec([{ id: 'someone-else', key: randomBytes(32) }]);
    const wrongKey = new Client({ connection: stack.env.connection, namespace: stack.env.namespace ?? 'default', dataConverter: { payloadCodecs: [other] } });
    await assert.rejects(handle(wrongKey).query(grantStateQuery), (err: Error) => {
      assert.match(err.message, new RegExp(`key id ${stack.codec!.keyId}, which is not configured`));
      return true;
    });
    const state = await handle(stack.client).query(grantStateQuery);
    assert.equal(state.email, email);
    assert.equal(state.reason, reason);
  });

  describe('grantee search attribute hashed (GRANTEE_SEARCH_HASH_KEY)', () => {
    it('When grants are listed by e-mail, then the hash finds the grant and the answer shows its e-mail', async () => {
      const listed = await until('the grant in visibility', async () => {
        const res = await stack.call('GET', `/grants?email=${encodeURIComponent(email.toUpperCase())}`);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        return res.body.grants.length > 0 && res.body.grants;
      });
      assert.equal(listed.length, 1);
      assert.equal(listed[0].grantId, grantId);
      assert.equal(listed[0].email, email);
      const byProject = await stack.call('GET', `/grants?project=${stack.project}`);
      const entry = byProject.body.grants.find((g: { grantId: string }) => g.grantId === grantId);
      assert.equal(entry?.email, email, 'list answers without an e-mail filter show the e-mail too');
    });

    it('When the visibility record is read raw, then DbAccessGrantee holds the keyed hash and no e-mail; a query by e-mail finds nothing', async () => {
      const described = await stack.env.client.workflowService.describeWorkflowExecution({ namespace: stack.env.namespace ?? 'default', execution: { workflowId: grantId } });
      const fields = described.workflowExecutionInfo?.searchAttributes?.indexedFields ?? {};
      assert.ok(fields[SA.grantee.name], 'DbAccessGrantee is set');
      assert.ok(!rawText(fields).includes(email), 'an e-mail is in the search attributes');
      const typed = (await stack.client.workflow.getHandle(grantId).describe()).typedSearchAttributes;
      assert.equal(typed.get(SA.grantee), hash(email));
      assert.match(typed.get(SA.grantee) ?? '', /^h:[0-9a-f]{64}$/);
      const ids = async (query: string) => {
        const out: string[] = [];
        for await (const wf of stack.client.workflow.list({ query })) out.push(wf.workflowId);
        return out;
      };
      assert.deepEqual(await until('the grant by hash', async () => (await ids(`${SA.grantee.name} = '${hash(email)}'`)).length > 0 && ids(`${SA.grantee.name} = '${hash(email)}'`)), [grantId]);
      assert.deepEqual(await ids(`${SA.grantee.name} = '${email}'`), []);
    });
  });

  describe('codec endpoint over HTTP', () => {
    const json = (p: Payload) => ({
      metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
      data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
    });
    const fromJson = (p: { metadata: Record<string, string>; data: string }): Payload => ({
      metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
      data: Buffer.from(p.data, 'base64'),
    });
    const headers = { origin: UI_ORIGIN, 'x-namespace': 'default' };

    it('When a payload of the grant is posted to /codec/decode with a key, then the answer is the clear payload; /codec/encode round-trips', async () => {
      const history = await rawHistory(grantId);
      const input = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
      assert.ok(isEncrypted(input));
      const decoded = await stack.call('POST', '/codec/decode', { payloads: [json(input)] }, { headers });
      assert.equal(decoded.status, 200, JSON.stringify(decoded.body));
      assert.equal(decoded.headers.get('access-control-allow-origin'), UI_ORIGIN);
      const clear = fromJson(decoded.body.payloads[0]);
      assert.equal(Buffer.from(clear.metadata![METADATA_ENCODING_KEY]!).toString(), 'json/plain');
      assert.equal(defaultPayloadConverter.fromPayload<{ email: string }>(clear).email, email);

      const original = defaultPayloadConverter.toPayload({ hello: 'world' });
      const encoded = await stack.call('POST', '/codec/encode', { payloads: [json(original)] }, { headers });
      assert.equal(encoded.status, 200, JSON.stringify(encoded.body));
      assert.ok(isEncrypted(fromJson(encoded.body.payloads[0])));
      const back = await stack.call('POST', '/codec/decode', encoded.body, { headers });
      assert.deepEqual(back.body.payloads, [json(original)]);
      // A clear payload passes through decode unchanged.
      const passthrough = await stack.call('POST', '/codec/decode', { payloads: [json(original)] });
      assert.deepEqual(passthrough.body.payloads, [json(original)]);
    });

    it('When the temporal CLI is pointed at the endpoint with an API key, then it shows the history decoded; without the key it cannot', async () => {
      const show = (...extra: string[]) =>
        promisify(execFile)(toolPath.temporal(), ['workflow', 'show', '--address', stack.env.address, '--namespace', stack.env.namespace ?? 'default', '-w', grantId, '--output', 'json', ...extra], { timeout: 30_000 });
      const decoded = await show('--codec-endpoint', `${stack.url}/codec`, '--codec-auth', `Bearer ${stack.apiKey}`);
      // The CLI prints payloads as base64: read every base64 string of its output as text.
      const readable = (out: string) => out + [...out.matchAll(/"([A-Za-z0-9+/]{16,}={0,2})"/g)].map((m) => Buffer.from(m[1]!, 'base64').toString('utf8')).join('\n');
      // The name and the reason are only in payloads (the e-mail is in the workflow id too).
      for (const secret of [name, reason]) assert.ok(readable(decoded.stdout).includes(secret), `${secret} is not in the decoded CLI output`);
      assert.ok(!decoded.stdout.includes('YmluYXJ5L2VuY3J5cHRlZA=='), 'the CLI output still holds encrypted payloads');
      const plain = await show();
      assert.ok(plain.stdout.includes('YmluYXJ5L2VuY3J5cHRlZA=='), 'without the codec, the payloads are binary/encrypted');
      for (const secret of [name, reason]) assert.ok(!readable(plain.stdout).includes(secret), `${secret} is in the CLI output without the codec`);
      await assert.rejects(show('--codec-endpoint', `${stack.url}/codec`));
    });

    it('When a batch is larger than the API\'s 16 KiB body limit, then the codec routes still take it', async () => {
      const big = defaultPayloadConverter.toPayload('x'.repeat(64 * 1024));
      const res = await stack.call('POST', '/codec/encode', { payloads: [json(big), json(big)] });
      assert.equal(res.status, 200, JSON.stringify(res.body).slice(0, 300));
      assert.equal(res.body.payloads.length, 2);
      const grants = await stack.call('POST', '/grants', { email: 'x'.repeat(20 * 1024) });
      assert.equal(grants.status, 413, 'other routes keep their small limit');
    });

    it('When there is no API key, then 401, with CORS headers for the UI origin so the UI can show why', async () => {
      for (const path of ['/codec/decode', '/codec/encode']) {
        const res = await stack.call('POST', path, { payloads: [] }, { key: null, headers });
        assert.equal(res.status, 401, path);
        assert.equal(res.body.error, 'unauthorized');
        assert.equal(res.headers.get('access-control-allow-origin'), UI_ORIGIN);
      }
      const wrong = await stack.call('POST', '/codec/decode', { payloads: [] }, { key: 'not-a-valid-key-but-long-enough-0000' });
      assert.equal(wrong.status, 401);
    });

    it('When the browser sends a preflight, then the UI origin is allowed without a key, and another origin gets no CORS headers', async () => {
      const preflight = (origin: string) =>
        fetch(`${stack.url}/codec/decode`, {
          method: 'OPTIONS',
          headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,x-namespace' },
        });
      const ok = await preflight(UI_ORIGIN);
      assert.equal(ok.status, 204);
      assert.equal(ok.headers.get('access-control-allow-origin'), UI_ORIGIN);
      assert.match(ok.headers.get('access-control-allow-methods') ?? '', /POST/);
      assert.deepEqual(
        (ok.headers.get('access-control-allow-headers') ?? '').split(',').map((h) => h.trim()).sort(),
        ['authorization', 'content-type', 'x-namespace'],
      );
      const evil = await preflight(OTHER_ORIGIN);
      assert.equal(evil.status, 204);
      for (const h of ['access-control-allow-origin', 'access-control-allow-methods', 'access-control-allow-headers']) assert.equal(evil.headers.get(h), null, h);
      const call = await stack.call('POST', '/codec/decode', { payloads: [] }, { headers: { origin: OTHER_ORIGIN } });
      assert.equal(call.status, 200);
      assert.equal(call.headers.get('access-control-allow-origin'), null);
      // Other routes answer no preflight and send no CORS headers at all.
      const grantsPreflight = await fetch(`${stack.url}/grants`, { method: 'OPTIONS', headers: { origin: UI_ORIGIN, 'access-control-request-method': 'POST' } });
      assert.notEqual(grantsPreflight.status, 204);
      assert.equal(grantsPreflight.headers.get('access-control-allow-origin'), null);
    });

    it('When the body is wrong, then 400 names the field; a payload of an unknown key names the key id', async () => {
      const cases: [unknown, RegExp][] = [
        [{}, /^payloads: is required$/],
        [{ payloads: 'x' }, /^payloads: must be an? array$/],
        [{ payloads: [{ data: 5 }] }, /^payloads\.0\.data: must be a string$/],
        [{ payloads: [{ metadata: { encoding: 7 } }] }, /^payloads\.0\.metadata\.encoding: must be a string$/],
        [{ payloads: [{ data: 'not base64!' }] }, /^payloads\.0\.data: must be base64$/],
      ];
      for (const [body, message] of cases) {
        const res = await stack.call('POST', '/codec/decode', body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(res.body.error, 'invalid_request');
        assert.match(res.body.message, message);
      }
      const [foreign] = await new AesGcmPayloadCodec([{ id: 'retired-2020', key: randomBytes(32) }]).encode([defaultPayloadConverter.toPayload('x')]);
      const res = await stack.call('POST', '/codec/decode', { payloads: [json(defaultPayloadConverter.toPayload('ok')), json(foreign!)] });
      assert.equal(res.status, 400);
      assert.deepEqual(Object.keys(res.body).sort(), ['error', 'message', 'requestId']);
      assert.equal(res.body.error, 'undecodable_payload');
      assert.match(res.body.message, /^payloads\.1: encrypted payload uses key id retired-2020, which is not configured/);
    });

    it('When the app allows unauthenticated codec calls (dev stack), then decode needs no key but every other route still does', async () => {
      const open = await buildApp({
        client: stack.client,
        config: stack.config,
        apiKeys: parseApiKeys(`test-admin:${stack.apiKey}`),
        taskQueue: 'unused',
        grantWaitMs: 0,
        codec: { codec: stack.codec!, corsOrigins: [UI_ORIGIN], allowUnauthenticated: true },
      });
      try {
        await open.listen({ host: '127.0.0.1', port: 0 });
        const url = `http://127.0.0.1:${(open.server.address() as AddressInfo).port}`;
        const [encrypted] = await stack.codec!.encode([defaultPayloadConverter.toPayload('dev')]);
        const res = await fetch(`${url}/codec/decode`, { method: 'POST', headers: { 'content-type': 'application/json', origin: UI_ORIGIN }, body: JSON.stringify({ payloads: [json(encrypted!)] }) });
        assert.equal(res.status, 200);
        assert.equal(defaultPayloadConverter.fromPayload(fromJson(((await res.json()) as { payloads: never[] }).payloads[0]!)), 'dev');
        assert.equal((await fetch(`${url}/grants`)).status, 401);
      } finally {
        await open.close();
      }
    });
  });
});
