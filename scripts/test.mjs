// `npm test`: installs what is missing, then type-checks and runs the whole suite
// against real components, split over a few mocha processes that run side by side.
//
//   node scripts/test.mjs                    the whole suite (TEST_JOBS processes, default 2)
//   node scripts/test.mjs test/e2e/x.test.ts  those files only, in one process
//
// Most of the suite waits on real time (expiries, heartbeats, servers starting),
// so two processes finish it in a little over half the time on two cores
// (docs/decisions/0016-the-suite-in-two-processes.md). Each process is a plain
// mocha run with its own shared servers (Temporal dev server, moto, SMTP
// capture); every name a test makes carries its process's random prefix, so the
// processes never see each other's accounts, secrets or mail. Files that stall
// or change the whole MariaDB server run first, alone (ALONE); files that read
// every account, or run the dev stack, share one process (SAME_PROCESS). Files are dealt out longest first
// by test/durations.json (seconds per file from an earlier run; a new file counts
// as DEFAULT_SECONDS). Each process's output goes to .test/processes/N.log and is
// printed whole when it ends.

import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';

import { ROOT } from './tools.mjs';

const DEFAULT_SECONDS = 10;

/** Files that stall or change the whole MariaDB server (server-wide locks, the global sql_mode, every account counted): run first, alone. */
const ALONE = [/^test\/adapters\/engines\/mysql\/manager\.test\.ts$/];
/** Files that read every account of the server, or run the dev stack with its fixed grantees: one process runs them all, one after the other. */
const SAME_PROCESS = [/^test\/dev\//, /^test\/ui\//, /^test\/security\/hostile-requests\.test\.ts$/];

function testFiles(dir = join(ROOT, 'test')) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...testFiles(path));
    else if (entry.name.endsWith('.test.ts')) out.push(relative(ROOT, path));
  }
  return out.sort();
}

/** Groups of files, each run by one process, balanced by their recorded durations (longest first, to the least loaded). */
export function deal(files, jobs, durations) {
  const seconds = (f) => durations[f] ?? DEFAULT_SECONDS;
  const pinned = files.filter((f) => SAME_PROCESS.some((re) => re.test(f)));
  const units = [...(pinned.length > 0 ? [pinned] : []), ...files.filter((f) => !pinned.includes(f)).map((f) => [f])];
  units.sort((a, b) => b.reduce((s, f) => s + seconds(f), 0) - a.reduce((s, f) => s + seconds(f), 0));
  const groups = Array.from({ length: jobs }, () => ({ files: [], seconds: 0 }));
  for (const unit of units) {
    const g = groups.reduce((min, x) => (x.seconds < min.seconds ? x : min));
    g.files.push(...unit);
    g.seconds += unit.reduce((s, f) => s + seconds(f), 0);
  }
  return groups.filter((g) => g.files.length > 0);
}

/** The files run first, alone, and the groups run side by side after them. */
export function plan(files, jobs, durations) {
  const alone = files.filter((f) => ALONE.some((re) => re.test(f)));
  return { alone, groups: deal(files.filter((f) => !alone.includes(f)), jobs, durations) };
}

function say(msg) {
  process.stdout.write(`[test] ${msg}\n`);
}

/** Runs a command to its end; output to `logFile` (and nothing else) when given, else inherited. */
function runChild(cmd, args, logFile) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: logFile ? ['ignore', 'pipe', 'pipe'] : 'inherit', env: { ...process.env, FORCE_COLOR: process.env.FORCE_COLOR ?? '0' } });
    children.add(child);
    const out = logFile ? createWriteStream(logFile) : undefined;
    if (out) {
      child.stdout.pipe(out, { end: false });
      child.stderr.pipe(out, { end: false });
    }
    child.on('close', (code, signal) => {
      children.delete(child);
      const result = code ?? (signal ? 1 : 0);
      // Resolved once the log file holds everything, so that reading it prints the whole run.
      if (out) out.end(() => resolve(result));
      else resolve(result);
    });
  });
}

const children = new Set();
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const c of children) c.kill(signal);
  });
}

async function main() {
  const setup = spawnSync(process.execPath, [join(ROOT, 'scripts', 'tools.mjs')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  if (setup.status !== 0) process.exit(setup.status ?? 1);

  const bin = (name) => join(ROOT, 'node_modules', '.bin', name);
  const given = process.argv.slice(2);
  if (given.length > 0) {
    const code = await runChild(bin('tsc'), ['--noEmit']);
    process.exit(code !== 0 ? code : await runChild(bin('mocha'), given));
  }

  const durationsFile = join(ROOT, 'test', 'durations.json');
  const durations = existsSync(durationsFile) ? JSON.parse(readFileSync(durationsFile, 'utf8')) : {};
  const jobs = Math.max(1, Number(process.env.TEST_JOBS) || Math.min(2, availableParallelism()));
  const { alone, groups } = plan(testFiles(), jobs, durations);
  const logs = join(ROOT, '.test', 'processes');
  mkdirSync(logs, { recursive: true });

  const started = Date.now();
  const typecheck = runChild(bin('tsc'), ['--noEmit'], join(logs, 'tsc.log')).then((code) => {
    say(`type-check ${code === 0 ? 'passed' : 'FAILED'} (${Math.round((Date.now() - started) / 1000)} s)`);
    if (code !== 0) process.stdout.write(readFileSync(join(logs, 'tsc.log'), 'utf8'));
    return code;
  });
  let aloneCode = 0;
  if (alone.length > 0) {
    const log = join(logs, 'alone.log');
    aloneCode = await runChild(bin('mocha'), alone, log);
    process.stdout.write(`\n[test] ${alone.join(', ')}, alone, ${aloneCode === 0 ? 'passed' : 'FAILED'} after ${Math.round((Date.now() - started) / 1000)} s:\n`);
    process.stdout.write(readFileSync(log, 'utf8'));
  }
  say(`${groups.reduce((n, g) => n + g.files.length, 0)} files in ${groups.length} processes (estimated ${groups.map((g) => `${Math.round(g.seconds / 60)} min`).join(', ')})`);
  const results = await Promise.all(
    groups.map(async (g, i) => {
      const log = join(logs, `${i + 1}.log`);
      const code = await runChild(bin('mocha'), g.files, log);
      process.stdout.write(`\n[test] process ${i + 1} of ${groups.length} (${g.files.length} files), ${code === 0 ? 'passed' : 'FAILED'} after ${Math.round((Date.now() - started) / 1000)} s:\n`);
      process.stdout.write(readFileSync(log, 'utf8'));
      return code;
    }),
  );
  const failed = [aloneCode, ...results].filter((c) => c !== 0).length;
  const tscCode = await typecheck;
  say(`${failed === 0 && tscCode === 0 ? 'passed' : 'FAILED'}: ${failed} of ${groups.length + (alone.length > 0 ? 1 : 0)} mocha runs failed, type-check ${tscCode === 0 ? 'passed' : 'failed'}, ${Math.round((Date.now() - started) / 1000)} s`);
  process.exit(failed === 0 && tscCode === 0 ? 0 : 1);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    process.stderr.write(`[test] ${err.stack ?? err}\n`);
    process.exit(1);
  });
}
