import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { grantIdFor } from '../../src/domain';
import { startTestStack, type TestStack } from '../support/stack';
import { ROOT } from '../support/tools';

// The built `dbaccess` binary, run as a child process against the real stack:
// both flag styles, --json, exit codes, approvals, CSV batches, help, and that the
// key never appears in what it prints.

const BUILD = join(ROOT, '.test', 'cli-build');
const DAY = 24 * 60 * 60 * 1000;
const dateIn = (days: number) => new Date(Date.now() + days * DAY).toISOString().slice(0, 10);
const endOf = (date: string) => `${date}T23:59:59.000Z`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('CLI: dbaccess against the real stack', function () {
  this.timeout(120_000);
  let stack: TestStack;
  let bin: string;
  let tmp: string;
  /** Everything the CLI printed, searched for the keys at the end. */
  const printed: string[] = [];

  before(async function () {
    this.timeout(240_000);
    // The production build (tsconfig.build.json), into a git-ignored folder.
    rmSync(BUILD, { recursive: true, force: true });
    await promisify(execFile)(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', BUILD], { cwd: ROOT });
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    // package.json's bin names a file of the build (dist/ → our outDir).
    bin = join(BUILD, relative('dist', pkg.bin.dbaccess!));
    assert.ok(existsSync(bin), `${bin} was not built`);
    assert.ok(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n'));
    tmp = mkdtempSync(join(tmpdir(), 'dbaccess-cli-'));
    stack = await startTestStack({ standing: { review: '30d' }, breakGlass: { clients: ['test-admin'], maxDuration: '30m' } });
  });
  after(async () => {
    await stack?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** Runs the binary (asynchronously: the API answers from this process). */
  function cli(args: string[], options: { key?: string | null; env?: Record<string, string> } = {}): Promise<Run> {
    const key = options.key === undefined ? stack.keys.admin : options.key;
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', DBACCESS_URL: stack.url, ...(key !== null ? { DBACCESS_API_KEY: key } : {}), ...options.env };
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => {
        printed.push(stdout, stderr);
        resolve({ code: code ?? -1, stdout, stderr });
      });
    });
  }
  const ok = (r: Run) => assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  const get = async (id: string) => stack.call('GET', stack.grantPath(id));
  async function eventually(check: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
    const end = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
      await sleep(200);
    }
  }
  const person = () => ({ email: stack.newEmail(), name: 'Ada Lovelace' });

  it('When a command is given --help, then it exits 0 and shows its usage and an example', async () => {
    for (const command of ['grant', 'show', 'list', 'extend', 'update', 'revoke', 'approve', 'deny', 'retry-drop']) {
      for (const args of [[command, '--help'], ['help', command]]) {
        const r = await cli(args, { key: null });
        ok(r);
        assert.match(r.stdout, new RegExp(`^Usage: dbaccess ${command}`));
        assert.match(r.stdout, new RegExp(`Examples:\\n  dbaccess ${command} `));
        assert.match(r.stdout, /Exit codes:/);
      }
    }
    const main = await cli(['--help'], { key: null });
    ok(main);
    assert.match(main.stdout, /Commands:[\s\S]*grant[\s\S]*approve[\s\S]*Examples:/);
    const legacy = await cli(['--action', 'ADD', '--help'], { key: null });
    ok(legacy);
    assert.match(legacy.stdout, /--database_expiry YYYY-MM-DD[\s\S]*NA \(never\s+expires\) on ADD asks for a standing grant[\s\S]*Examples:\n  dbaccess --action ADD/);
    const none = await cli([], { key: null });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^Usage: dbaccess/);
  });

  it('When grants are managed with the new commands, then grant, show, list, extend, update and revoke work and read well', async () => {
    const { email, name } = person();
    const id = grantIdFor(stack.project, 'main', email);
    const granted = await cli(['grant', '--email', email, '--name', name, '--project', stack.project, '--database', 'main', '--level', 'READ', '--expires', dateIn(5), '--reason', 'ticket OPS-1']);
    ok(granted);
    assert.match(granted.stdout, new RegExp(`^Granted READ on ${stack.project}/main for ${email.replace(/\./g, '\\.')}: expires in (4|5) days`));
    assert.match(granted.stdout, /grant: +grant\//);
    assert.match(granted.stdout, /password: +in the secret /);

    const shown = await cli(['show', id]);
    ok(shown);
    assert.match(shown.stdout, /^grant: +grant\//);
    assert.match(shown.stdout, /\nstatus: +ACTIVE\n/);
    assert.match(shown.stdout, /\nexpires: +\d{4}-\d\d-\d\d 23:59 UTC \(expires in \d days/);
    assert.match(shown.stdout, /\nHistory:\nWHEN +EVENT +BY +LEVEL +EXPIRES +REASON\n[^\n]*ago +REQUESTED +test-admin +READ [^\n]*ticket OPS-1\n[^\n]*GRANTED/);

    // --json: the API's document, unchanged.
    const json = await cli(['show', '--email', email.toUpperCase(), '--project', stack.project, '--database', 'main', '--json']);
    ok(json);
    assert.deepEqual(JSON.parse(json.stdout), (await get(id)).body);

    await eventually(async () => (await cli(['list', '--email', email, '--status', 'ACTIVE'])).stdout.includes(email), 'the grant in the list');
    const listed = await cli(['list', '--email', email, '--project', stack.project, '--database', 'main']);
    ok(listed);
    const [header, line, footer] = listed.stdout.split('\n');
    assert.match(header!, /^EMAIL +PROJECT +DATABASE +LEVEL +STATUS +EXPIRES$/);
    assert.match(line!, new RegExp(`^${email.replace(/\./g, '\\.')} +${stack.project} +main +READ +ACTIVE +in \\d days`));
    assert.equal(header!.indexOf('STATUS'), line!.indexOf('ACTIVE'));
    assert.equal(footer, '1 grant');
    const listJson = await cli(['list', '--email', email, '--json']);
    assert.deepEqual(JSON.parse(listJson.stdout), (await stack.call('GET', `/grants?email=${encodeURIComponent(email)}`)).body);

    const extended = await cli(['extend', id, '--expires', dateIn(9), '--reason', 'slipped']);
    ok(extended);
    assert.match(extended.stdout, /^Extended grant\/.*: expires in (8|9) days/);
    const updated = await cli(['update', id, '--level', 'READ_WRITE']);
    ok(updated);
    assert.match(updated.stdout, /^Changed grant\/.* to READ_WRITE\.\n$/);
    const state = (await get(id)).body;
    assert.equal(state.accessLevel, 'READ_WRITE');
    assert.equal(state.expiresAt, endOf(dateIn(9)));

    const revoked = await cli(['revoke', id, '--reason', 'done', '--json']);
    ok(revoked);
    assert.deepEqual(JSON.parse(revoked.stdout), { grantId: id, status: 'REVOKING' });
    await eventually(async () => (await get(id)).body.status === 'REVOKED', 'REVOKED');
    const after = await cli(['show', id]);
    assert.match(after.stdout, /\nstatus: +REVOKED\n[\s\S]*was to expire in[\s\S]*\nended: +\d{4}-\d\d-\d\d \d\d:\d\d UTC \((less than a minute|\d+ minutes?) ago\)\n/);
  });

  it("When the old script's flags are used, then ADD, UPDATE and REMOVE do the same", async () => {
    const { email } = person();
    const id = grantIdFor(stack.project, 'main', email);
    const common = ['--name', 'John Doe', '--email', email, '--project', stack.project, '--database', 'main'];
    const add = await cli(['--action', 'ADD', ...common, '--access_level', 'READ_WRITE', '--database_expiry', dateIn(5)]);
    ok(add);
    assert.match(add.stdout, /^Granted READ_WRITE on /);
    let state = (await get(id)).body;
    assert.equal(state.status, 'ACTIVE');
    assert.equal(state.name, 'John Doe');
    assert.equal(state.expiresAt, endOf(dateIn(5)));

    // UPDATE with both: the level changes and the expiry moves.
    const upd = await cli(['--action', 'UPDATE', ...common, '--access_level', 'ADMIN', '--database_expiry', dateIn(9)]);
    ok(upd);
    assert.match(upd.stdout, /^Changed grant\/.* to ADMIN\.\nExtended grant\/.*: expires in/);
    state = (await get(id)).body;
    assert.equal(state.accessLevel, 'ADMIN');
    assert.equal(state.expiresAt, endOf(dateIn(9)));
    // The same UPDATE again changes nothing; only the level (lower case action) changes only the level.
    const again = await cli(['--action', 'UPDATE', ...common, '--access_level', 'ADMIN', '--database_expiry', dateIn(9)]);
    ok(again);
    assert.match(again.stdout, /^Nothing to change/);
    const levelOnly = await cli(['--action=update', ...common, '--access_level', 'READ', '--json']);
    ok(levelOnly);
    const doc = JSON.parse(levelOnly.stdout);
    assert.equal(doc.level.accessLevel, 'READ');
    assert.equal(doc.extend, null);

    // NA on UPDATE is refused with a reason, and nothing is sent; on ADD it asks the API for a
    // standing grant, which main does not allow (refused, naming the field).
    const na = await cli(['--action', 'UPDATE', ...common, '--access_level', 'READ', '--database_expiry', 'NA']);
    assert.equal(na.code, 2);
    assert.match(na.stderr, /NA \(no end\) cannot be given to an existing grant[\s\S]*Give a date/);
    const { email: other } = person();
    const naAdd = await cli(['--action', 'ADD', '--name', 'X', '--email', other, '--project', stack.project, '--database', 'main', '--access_level', 'READ', '--database_expiry', 'NA']);
    assert.equal(naAdd.code, 3, naAdd.stderr);
    assert.match(naAdd.stderr, /expiresAt: NA \(no end\) is not allowed on [^ ]+\/main; databases of project [^ ]+ that allow standing grants: standing \(reviewed every 30d\)/);
    assert.equal((await get(grantIdFor(stack.project, 'main', other))).status, 404);

    const remove = await cli(['--action', 'REMOVE', ...common, '--access_level', 'READ', '--database_expiry', dateIn(9)]);
    ok(remove);
    assert.match(remove.stdout, /^Revoking grant\//);
    await eventually(async () => (await get(id)).body.status === 'REVOKED', 'REVOKED');
    // Removing again: the grant has ended.
    const twice = await cli(['--action', 'REMOVE', ...common]);
    assert.equal(twice.code, 3);
    assert.match(twice.stderr, /refused \(409 grant_closed\)/);
    // UPDATE of someone without a grant: not found.
    const missing = await cli(['--action', 'UPDATE', ...common.slice(0, 2), '--email', other, '--project', stack.project, '--database', 'main', '--access_level', 'READ']);
    assert.equal(missing.code, 5);
    assert.match(missing.stderr, /no grant .* to update; use --action ADD/);
  });

  it('When something is wrong, then the exit code says what: 2 usage, 3 refused, 4 failed, 5 not found', async () => {
    const bad = await cli(['list', '--colour', 'blue']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Unknown option '--colour'/);
    const missing = await cli(['grant', '--email', stack.newEmail(), '--name', 'A']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--project is required/);
    assert.equal((await cli(['frobnicate'])).code, 2);
    const noKey = await cli(['list'], { key: null });
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /no API key/);

    const base = ['grant', '--email', stack.newEmail(), '--name', 'A B', '--database', 'main', '--level', 'READ', '--duration', '1h'];
    const unknown = await cli([...base, '--project', 'no-such-project']);
    assert.equal(unknown.code, 3);
    assert.match(unknown.stderr, /^dbaccess: refused \(404 unknown_project\): project: no-such-project is not a configured project\n$/);
    const unknownJson = await cli([...base, '--project', 'no-such-project', '--json']);
    assert.equal(unknownJson.code, 3);
    assert.equal(JSON.parse(unknownJson.stdout).error, 'unknown_project');
    const badLevel = await cli([...base, '--project', stack.project, '--level', 'GOD']);
    assert.equal(badLevel.code, 3);
    assert.match(badLevel.stderr, /accessLevel: must be one of/);
    // The key on the command line (not recommended) works the same, and is not printed.
    const auditor = await cli([...base, '--project', stack.project, '--key', stack.keys.auditor], { key: null });
    assert.equal(auditor.code, 3);
    assert.match(auditor.stderr, /refused \(403 forbidden\): the auditor key test-auditor is read-only/);
    const wrongKey = await cli(['list'], { key: 'not-a-key' });
    assert.equal(wrongKey.code, 3);
    assert.match(wrongKey.stderr, /401 unauthorized/);

    const notFound = await cli(['show', grantIdFor(stack.project, 'main', stack.newEmail())]);
    assert.equal(notFound.code, 5);
    assert.match(notFound.stderr, /not found: no grant/);

    // A closed port: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const down = await cli(['list', '--url', `http://127.0.0.1:${port}`]);
    assert.equal(down.code, 4);
    assert.match(down.stderr, new RegExp(`cannot reach the dbaccess API at http://127\\.0\\.0\\.1:${port}: ECONNREFUSED`));

    // An API that cannot serve now (503): the exit code says failed, and the message says when to try again.
    const busy = createHttpServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '30' });
      res.end(JSON.stringify({ error: 'grant_unavailable', message: 'the grant cannot take a change now', requestId: 'req-1' }));
    });
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    try {
      const unavailable = await cli(['list', '--url', `http://127.0.0.1:${(busy.address() as AddressInfo).port}`]);
      assert.equal(unavailable.code, 4);
      assert.equal(unavailable.stderr, 'dbaccess: failed (503 grant_unavailable): the grant cannot take a change now (retry after 30 s) (request id req-1)\n');
    } finally {
      busy.close();
    }
  });

  it('When a grant needs approval, then the approver approves or denies it from the command line', async () => {
    const keyFile = join(tmp, 'requester-key');
    writeFileSync(keyFile, `${stack.keys.requester}\n`, { mode: 0o600 });
    const asRequester = { key: null, env: { DBACCESS_API_KEY_FILE: keyFile } };
    const ask = async () => {
      const { email } = person();
      const r = await cli(['grant', '--email', email, '--name', 'Ann', '--project', stack.project, '--database', 'gated', '--level', 'READ', '--duration', '8h'], asRequester);
      ok(r);
      assert.match(r.stdout, /^Waiting for approval: READ on .*\/gated[\s\S]*approve: +dbaccess approve grant\//);
      return grantIdFor(stack.project, 'gated', email);
    };
    const first = await ask();
    // A requester may not decide.
    const refused = await cli(['approve', first], asRequester);
    assert.equal(refused.code, 3);
    const approved = await cli(['approve', first, '--reason', 'on call'], { key: stack.keys.approver });
    ok(approved);
    assert.match(approved.stdout, /^Approved\. Granted READ on .*gated .*: expires in 7 hours/);
    assert.equal((await get(first)).body.status, 'ACTIVE');

    // Beyond the eight approved hours: the requester's extension asks the approvers.
    const stretched = await cli(['extend', first, '--duration', '5d'], asRequester);
    ok(stretched);
    assert.match(stretched.stdout, /^Asked the approvers: grant\/.* is beyond what was approved\. Until one of them approves \(by .*\), it still expires in 7 hours/);
    const waiting = await cli(['show', first]);
    assert.match(waiting.stdout, /\nextension: +to \d{4}-\d\d-\d\d \d\d:\d\d UTC asked by test-requester, waiting for approval/);
    const extended = await cli(['approve', first], { key: stack.keys.approver });
    ok(extended);
    assert.match(extended.stdout, /expires in (4|5) days/);
    // Nothing retained: an admin's retry-drop is refused (exit 3) and says why.
    const notRetained = await cli(['retry-drop', first]);
    assert.equal(notRetained.code, 3);
    assert.match(notRetained.stderr, /not retained/);

    const second = await ask();
    const noReason = await cli(['deny', second], { key: stack.keys.approver });
    assert.equal(noReason.code, 2);
    const denied = await cli(['deny', second, '--reason', 'use the replica'], { key: stack.keys.approver });
    ok(denied);
    assert.match(denied.stdout, /^Denied grant\/.*: DENIED\.\n$/);
    const again = await cli(['approve', second], { key: stack.keys.approver });
    assert.equal(again.code, 3);
    await cli(['revoke', first]);
  });

  it('When a standing grant is asked for with --expires NA, then show and list print its review deadline, and review keeps it (approvers) or revokes it (with a reason)', async () => {
    const { email, name } = person();
    const id = grantIdFor(stack.project, 'standing', email);
    ok(await cli(['grant', '--email', email, '--name', name, '--project', stack.project, '--database', 'standing', '--level', 'READ', '--expires', 'NA']));
    const shown = await cli(['show', id]);
    ok(shown);
    assert.match(shown.stdout, /\nreview by: +\d{4}-\d\d-\d\d \d\d:\d\d UTC \(in (29|30) days; standing grant, reviewed every 30d\)/);
    const listed = await cli(['list', '--database', 'standing']);
    ok(listed);
    assert.match(listed.stdout, /review by \d{4}-\d\d-\d\d \d\d:\d\d UTC \(in (29|30) days, standing\)/);
    const before = (await get(id)).body.expiresAt as string;
    assert.equal((await cli(['review', id])).code, 2, 'one of --keep and --revoke');
    assert.equal((await cli(['review', id, '--revoke'], { key: stack.keys.approver })).code, 2, 'a revoke needs a reason');
    assert.equal((await cli(['review', id, '--keep'], { key: stack.keys.requester })).code, 3, 'a requester does not review');
    const kept = await cli(['review', id, '--keep'], { key: stack.keys.approver });
    ok(kept);
    assert.match(kept.stdout, /^Kept grant\/.*: the next review is due by \d{4}-/);
    const after = (await get(id)).body;
    assert.ok(Date.parse(after.expiresAt) > Date.parse(before));
    assert.equal(after.standing.lastReviewedBy, 'test-approver');
    const revoked = await cli(['review', id, '--revoke', '--reason', 'left the team'], { key: stack.keys.approver });
    ok(revoked);
    await eventually(async () => (await get(id)).body.status === 'REVOKED', 'REVOKED');
  });

  it('When the glass is broken with --break-glass, then a reason is required, the grant is ACTIVE at once for the cap where approval is needed, and review --acknowledge (approvers) records the review; --flag needs a reason', async () => {
    const { email, name } = person();
    const id = grantIdFor(stack.project, 'gated', email);
    const args = ['grant', '--email', email, '--name', name, '--project', stack.project, '--database', 'gated', '--level', 'READ', '--break-glass'];
    assert.equal((await cli(args)).code, 2, 'a break-glass needs a reason');
    const broken = await cli([...args, '--reason', 'incident 4712']);
    ok(broken);
    assert.match(broken.stdout, /^Granted READ on [^ ]+\/gated for /);
    assert.match(broken.stdout, /\nbreak-glass: +no approval, never extended; administrators and owner alerted; review pending by /);
    const state = (await get(id)).body;
    assert.ok(Math.abs(Date.parse(state.expiresAt) - Date.now() - 30 * 60_000) < 60_000, state.expiresAt);
    assert.equal((await cli(['review', id, '--flag'], { key: stack.keys.approver })).code, 2, 'a flag needs a reason');
    assert.equal((await cli(['review', id, '--acknowledge', '--keep'], { key: stack.keys.approver })).code, 2, 'one decision');
    const acknowledged = await cli(['review', id, '--acknowledge'], { key: stack.keys.approver });
    ok(acknowledged);
    assert.match(acknowledged.stdout, /^Acknowledged the break-glass grant grant\/.* \(ACTIVE\)\.\n$/);
    assert.equal((await get(id)).body.breakGlass.review, 'acknowledged');
    ok(await cli(['revoke', id, '--reason', 'incident over']));
  });

  it('When a CSV file onboards a team, then every row becomes a grant; one bad row starts nothing and is named', async () => {
    const people = [person(), person(), person()];
    const good = join(tmp, 'team.csv');
    writeFileSync(
      good,
      'email,name,project,database,access_level,expiresAt,reason\r\n' +
        `${people[0]!.email},"Doe, John",${stack.project},main,READ,${dateIn(3)},\r\n` +
        `${people[1]!.email},"Lee, Ann (Annie)",${stack.project},other,READ_WRITE,${dateIn(1)},"own ""reason"", quoted"\r\n` +
        `${people[2]!.email},Bob,${stack.project},main,READ,,\r\n`.replace(',,\r\n', `,${dateIn(2)},\r\n`),
    );
    const r = await cli(['grant', '--from-file', good, '--reason', 'onboarding']);
    ok(r);
    assert.match(r.stdout, /^LINE +EMAIL +DATABASE +RESULT\n2 +\S+ +\S+\/main +ACTIVE grant\/[\s\S]*\n3 [\s\S]*\n4 [\s\S]*\n3 started, 0 failed\n$/);
    const states = await Promise.all(people.map((p, i) => get(grantIdFor(stack.project, i === 1 ? 'other' : 'main', p.email))));
    assert.deepEqual(states.map((s) => s.body.status), ['ACTIVE', 'ACTIVE', 'ACTIVE']);
    assert.equal(states[0]!.body.name, 'Doe, John');
    assert.equal(states[0]!.body.reason, 'onboarding');
    assert.equal(states[1]!.body.name, 'Lee, Ann (Annie)');
    assert.equal(states[1]!.body.reason, 'own "reason", quoted');

    // Again: every row now has an open grant: each row says so, exit 3.
    const again = await cli(['grant', '--from-file', good, '--json']);
    assert.equal(again.code, 3);
    const doc = JSON.parse(again.stdout);
    assert.equal(doc.failed, 3);
    assert.deepEqual(doc.rows.map((x: { error: string }) => x.error), ['grant_exists', 'grant_exists', 'grant_exists']);
    for (const [i, p] of people.entries()) await cli(['revoke', grantIdFor(stack.project, i === 1 ? 'other' : 'main', p.email)]);

    const fresh = [person(), person(), person()];
    const badFile = join(tmp, 'typo.csv');
    writeFileSync(
      badFile,
      'email,name,project,database,accessLevel,duration\n' +
        `${fresh[0]!.email},A,${stack.project},main,READ,8h\n` +
        `${fresh[1]!.email},B,${stack.project},main,RAED,8h\n` +
        `${fresh[2]!.email},C,${stack.project},main,READ,8h\n`,
    );
    const bad = await cli(['grant', '--from-file', badFile]);
    assert.equal(bad.code, 3);
    assert.match(bad.stderr, /1 of 3 rows are invalid \(row 2\); nothing was started\n {2}line 3 \(row 2\): accessLevel: must be one of /);
    for (const p of fresh) assert.equal((await get(grantIdFor(stack.project, 'main', p.email))).status, 404);

    const broken = join(tmp, 'broken.csv');
    writeFileSync(broken, 'email,name\n"unclosed,x\n');
    const parse = await cli(['grant', '--from-file', broken]);
    assert.equal(parse.code, 2);
    assert.match(parse.stderr, /broken\.csv, line 2: a quoted field is not closed/);
    const na = join(tmp, 'na.csv');
    writeFileSync(na, `email,name,project,database,access_level,database_expiry\n${fresh[0]!.email},A,${stack.project},main,READ,NA\n`);
    // A row with NA asks for a standing grant: main does not allow one, so nothing starts.
    const naRun = await cli(['grant', '--from-file', na]);
    assert.equal(naRun.code, 3, naRun.stderr);
    assert.match(naRun.stdout + naRun.stderr, /expiresAt: NA \(no end\) is not allowed on [^ ]+\/main/);
    assert.equal((await cli(['grant', '--from-file', join(tmp, 'missing.csv')])).code, 2);
  });

  it('When the CLI has printed anything, then no API key is in it', () => {
    assert.ok(printed.length > 20);
    const all = printed.join('\n');
    for (const key of Object.values(stack.keys)) assert.ok(!all.includes(key), 'an API key was printed');
  });
});
