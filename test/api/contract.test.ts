import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OPENAPI_PATH } from '../../src/api/plugins/docs';
import { startTestStack, type TestStack } from '../support/stack';
import { privateTemporal } from '../support/temporal';
import { toolPath } from '../support/tools';

// The OpenAPI document is the API's contract, and a schema-driven fuzzer holds the
// API to it: every request is generated from the document (valid ones, and invalid
// ones that break one rule), sent to the real API (the real Temporal dev server,
// worker, MariaDB and AWS emulator behind it) with the admin key, and every answer
// is checked with all of the fuzzer's checks: no 5xx, only documented status codes,
// content types, headers and bodies, valid requests accepted, invalid ones refused,
// 405 with Allow for a method a path does not have, and so on.
//
// Deterministic (the fuzzer's deterministic mode: the same cases on every run) and
// bounded: a fixed number of examples per operation. A few real grants exist before
// it starts (ACTIVE on a MariaDB schema, one waiting for approval), so that the
// stateful phase, which follows the grant ids GET /grants answers, revokes, extends,
// changes, approves and denies real grants through the real worker.
//
// What is not held, each with why:
//   - GET/POST /credentials/{token}: not fuzzed. Its token is one-time, so a redeemed
//     link answers differently on every request, and no generated token is ever a
//     real one (all of them would be the same 404).
//   - the generator's filter_too_much health check: with real grants to follow, PATCH
//     /grants/{grantId} makes the generator discard many candidates. It measures the
//     generator's efficiency, not an answer of the API; every case it does send is checked.
//   - 413 counts as a refusal of a valid and of an invalid request alike: the body limits
//     (16 KiB, 256 KiB for the batch) are below the largest body the schemas allow, and
//     every route with a body documents 413.
//   - 400 is accepted for a valid POST /grants/batch: a batch is all or nothing, so a
//     list of schema-valid rows of which one names a project, database or domain the
//     configuration does not have is refused as a whole with 400 and the rows' own
//     answers; the document cannot say which keys the configuration holds.
//   - 400 is accepted for a valid POST /grants/{grantId}/extend: an expiry must be later
//     than the grant's current one and within its database's maximum, which depend on the
//     grant and the clock, not on the request's shape.
//   - POST /grants is generated with Latin-1 strings: the fuzzer approximates the Unicode
//     classes of the name pattern (\p{M}) with ranges that hold unassigned code points,
//     which the API rightly refuses as no letter or mark.
//   - 400 is accepted for a valid POST /codec/decode: whether a well-formed payload
//     decrypts depends on its bytes (a ciphertext of a key the API holds), which no
//     schema says; anything else is rightly a 400.

const EXAMPLES_PER_OPERATION = 25;
const NOT_FUZZED = ['/credentials/{token}'];

/** The fuzzer's per-operation settings (its configuration file): the exceptions above. */
const CONFIG = `
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "413", "429", "5xx"]

[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]

[[operations]]
include-operation-id = "createGrants"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]

[[operations]]
include-operation-id = "codecDecode"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]

[[operations]]
include-operation-id = "extendGrant"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]

[[operations]]
include-operation-id = "createGrant"
generation.codec = "latin-1"
`;

function run(command: string, args: string[], cwd: string, timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, NO_COLOR: '1', SCHEMATHESIS_HOOKS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += String(d)));
    child.stderr.on('data', (d) => (output += String(d)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('HTTP API: the OpenAPI contract, fuzzed', function () {
  this.timeout(300_000);
  let stack: TestStack;
  let dir: string;

  before(async () => {
    // A Temporal server of its own: the fuzzer lists grants and acts on what it finds, and
    // must find none of other tests' (their workers are gone and their payload keys differ).
    stack = await startTestStack({ grantWaitMs: 2000, temporal: privateTemporal, decisionLinks: true });
    dir = mkdtempSync(join(tmpdir(), 'dbaccess-contract-'));
    writeFileSync(join(dir, 'schemathesis.toml'), CONFIG);
    const expiresAt = new Date(Date.now() + 24 * 3600_000).toISOString();
    for (const database of [stack.databases.main, stack.databases.main, stack.databases.gated]) {
      const body = { email: stack.newEmail(), name: 'Ada Lovelace', project: stack.project, database, accessLevel: 'READ', expiresAt, reason: 'contract test' };
      const res = await stack.call('POST', '/grants', body);
      assert.ok([201, 202].includes(res.status), JSON.stringify(res.body));
    }
  });
  after(async () => {
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('When the API is fuzzed from its own OpenAPI document with every check, then no check fails', async () => {
    const args = [
      'run',
      `${stack.url}${OPENAPI_PATH}`,
      '--url',
      stack.url,
      '--checks',
      'all',
      '--header',
      `Authorization: Bearer ${stack.apiKey}`,
      '--generation-deterministic',
      '--max-examples',
      String(EXAMPLES_PER_OPERATION),
      '--workers',
      '1',
      '--no-shrink',
      '--suppress-health-check',
      'filter_too_much',
      ...NOT_FUZZED.flatMap((path) => ['--exclude-path', path]),
      '--no-color',
    ];
    const started = Date.now();
    const { code, output } = await run(toolPath.schemathesis(), args, dir, 280_000);
    const seconds = Math.round((Date.now() - started) / 1000);
    assert.equal(code, 0, `the fuzzer found failures (exit ${code}, ${seconds}s):\n${output.slice(-60_000)}`);
  });
});
