import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import mysql from 'mysql2/promise';

import { createUserStatement, dropUserStatement, grantStatement } from '../src/adapters/engines/mysql/sql';
import { mochaHooks } from '../test/support/hooks';
import { MARIADB_HOST, MARIADB_PORT, randomPassword, rootPool, RUN_PREFIX } from '../test/support/mariadb';
import { ROOT } from '../test/support/tools';
import { grantTiming, STEP_ORDER, type GrantTiming } from './breakdown';
import { expiries, type EngineUnderTest, type ExpiryRun } from './expiries';
import { forEachConcurrently, idleCost, mib, resetPeakRss, sampleProcessGroup, sleep, summarize, workerMemory, type Summary } from './measure';
import { DEFAULT_POSTGRES_URL, PG_FLOOR_CALLS, pgFloorRun } from './pg';
import { add, ENGINES, log, results, rows, table } from './report';
import { startBenchStack, type BenchStack, type BenchWorker } from './stack';
import { temporalFloor } from './temporal-floor';

// `npm run bench`: how fast a grant is given and taken away, side by side with
// what the database alone can do, on the local stack (docs/performance.md), for
// MySQL (MariaDB) and PostgreSQL.
//
//   npm run bench                     everything (about 20 minutes on two cores)
//   npm run bench -- --quick          smaller counts, one run each (about 5 minutes)
//   npm run bench -- --only floor,temporal,grant,expiry,idle
//   npm run bench -- --engine postgresql
//   npm run bench -- --only expiry --workers 2 --kill-one
//
// The MySQL parts run first, in their order, then the PostgreSQL ones (floor,
// grant path, expiries); the Temporal floor and the cost of waiting are measured
// once, with MySQL grants. Over 400 lines: each part reads the figures of the one
// before it and adds rows to the one table.
//
// Prints a table and writes the same figures as JSON to .bench/.

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    engine: { type: 'string' },
    'postgres-url': { type: 'string' },
    runs: { type: 'string' },
    cycles: { type: 'string' },
    grants: { type: 'string' },
    open: { type: 'string' },
    expiries: { type: 'string' },
    lead: { type: 'string' },
    cache: { type: 'string' },
    'worker-env': { type: 'string', multiple: true },
    workers: { type: 'string' },
    'kill-one': { type: 'boolean', default: false },
    'kill-before': { type: 'string' },
    'revocation-lead': { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write(`npm run bench [-- --quick] [--only floor,temporal,grant,expiry,idle] [--engine mysql,postgresql] [--runs N] [--open N] [--expiries N,N] [--cache N] [--workers N [--kill-one [--kill-before S]]] [--revocation-lead S] [--cpu-prof]

  --quick   smaller counts and one run of each figure
  --only    the parts to run (default: all)
  --engine  the engines of the floor, the grant path and the expiries (default mysql,postgresql)
  --postgres-url  a superuser URL of the PostgreSQL server (default ${DEFAULT_POSTGRES_URL})
  --runs    repeated runs of the floor and the grant path (default 3, quick 1)
  --cycles  cycles of each floor run, at each concurrency (default 200 and 800, quick 50 and 200)
  --grants  grants of each grant-path run, at each concurrency (default 40, 160, 320; quick 15, 48, 128)
  --open    open grants for the cost of waiting (default 10000, quick 1000)
  --expiries  comma-separated counts of simultaneous expiries (default 100,1000, quick 100)
  --lead    seconds from the first grant of a burst to its expiry (default: from the grant path's throughput)
  --cache   the worker's WORKER_MAX_CACHED_WORKFLOWS (default: the worker's default)
  --worker-env NAME=VALUE  more environment for the worker, repeatable (e.g. MALLOC_ARENA_MAX=2)
  --workers N  worker processes on the same task queues, named bench-worker-1 to N (default 1); memory is per worker
  --kill-one  in each expiry burst (needs --workers 2 or more and the expiry part), SIGKILL bench-worker-1 once the
              revocations are armed, and report the grants it held apart from the others
  --kill-before S  seconds before the expiry of the kill (default 5)
  --revocation-lead S  the configuration's revocationLead: how long before an expiry its revocation is armed (default 60)
  --cpu-prof  each worker writes a V8 CPU profile of its threads to .bench/profiles/<worker>/ when it stops
              (the profiler costs a few per cent of CPU: not for figures to compare)
`);
  process.exit(0);
}

const quick = args.quick!;
const parts = new Set((args.only ?? 'floor,temporal,grant,expiry,idle').split(',').map((s) => s.trim()));
const engines = new Set((args.engine ?? ENGINES.join(',')).split(',').map((s) => s.trim()));
for (const e of engines) if (!(ENGINES as readonly string[]).includes(e)) throw new Error(`--engine ${e}: expected one of ${ENGINES.join(', ')}`);
const RUNS = Number(args.runs ?? (quick ? 1 : 3));
const OPEN = Number(args.open ?? (quick ? 1000 : 10_000));
const SIZES = {
  floor: (args.cycles ? { 1: Number(args.cycles), 16: Number(args.cycles) } : { 1: quick ? 50 : 200, 16: quick ? 200 : 800 }) as Record<number, number>,
  grant: (args.grants ? { 1: Number(args.grants), 16: Number(args.grants), 64: Number(args.grants) } : { 1: quick ? 15 : 40, 16: quick ? 48 : 160, 64: quick ? 128 : 320 }) as Record<number, number>,
  temporal: { 1: quick ? 15 : 40, 16: quick ? 48 : 160 } as Record<number, number>,
  expiries: args.expiries ? args.expiries.split(',').map(Number) : quick ? [100] : [100, 1000],
  checkpoints: [0.1, 0.25, 0.5, 1].map((f) => Math.round(OPEN * f)),
};
const WORKERS = Number(args.workers ?? 1);
if (!Number.isInteger(WORKERS) || WORKERS < 1) throw new Error(`--workers ${args.workers}: expected a whole number, 1 or more`);
const KILL_BEFORE_MS = Number(args['kill-before'] ?? 5) * 1000;
if (args['kill-one'] && (WORKERS < 2 || !parts.has('expiry'))) throw new Error('--kill-one needs --workers 2 or more and the expiry part');
if (!(KILL_BEFORE_MS >= 0)) throw new Error(`--kill-before ${args['kill-before']}: expected seconds, 0 or more`);

// ---------------------------------------------------------------------------
// 1. The floor: mysql2 alone, the statements the account manager sends.

async function floor(stack: BenchStack): Promise<Record<number, number>> {
  const { admin, schema } = stack.components;
  const throughput: Record<number, number> = {};
  for (const concurrency of [1, 16]) {
    const pool = mysql.createPool({ host: MARIADB_HOST, port: MARIADB_PORT, user: admin.account, password: admin.password, connectionLimit: concurrency });
    const perRun: number[] = [];
    const latencies: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const n = SIZES.floor[concurrency]!;
      const names = Array.from({ length: n }, (_, i) => `${RUN_PREFIX}_f${concurrency}_${run}_${i}`);
      const t0 = performance.now();
      await forEachConcurrently(names, concurrency, async (account) => {
        const c0 = performance.now();
        for (const s of [createUserStatement(account, '%', randomPassword(), 5), grantStatement(schema, ['SELECT'], account, '%'), dropUserStatement(account, '%')]) {
          await pool.query(s.sql, [...s.values]);
        }
        latencies.push(performance.now() - c0);
      });
      perRun.push(n / ((performance.now() - t0) / 1000));
    }
    await pool.end();
    const s = summarize(perRun);
    throughput[concurrency] = s.median;
    add(`floor: create + grant + drop, concurrency ${concurrency}`, 'cycles/s', { count: RUNS, median: s.median }, `cycle p50 ${summarize(latencies).median.toFixed(1)} ms, p99 ${summarize(latencies).p99.toFixed(1)} ms`, 'mysql');
    results[`floor_c${concurrency}`] = { runs: perRun, cycleMs: summarize(latencies) };
    log(`floor at concurrency ${concurrency}: ${s.median.toFixed(1)} cycles/s`);
  }
  return throughput;
}

/** The floor on PostgreSQL: the adapter's calls for a grant and its end (bench/pg.ts), on a pool as large as the concurrency. */
async function pgFloor(stack: BenchStack): Promise<Record<number, number>> {
  const throughput: Record<number, number> = {};
  const privileges = stack.config.accessLevels.READ!;
  for (const concurrency of [1, 16]) {
    const perRun: number[] = [];
    const latencies: number[] = [];
    const calls: Record<string, number[]> = {};
    const retried: Record<string, number> = {};
    for (let run = 0; run < RUNS; run++) {
      const r = await pgFloorRun(stack.postgres!, stack.components.aws.secrets, { concurrency, n: SIZES.floor[concurrency]!, tag: `${concurrency}_${run}`, privileges });
      perRun.push(r.cyclesPerSecond);
      latencies.push(...r.latencies);
      for (const [call, ms] of Object.entries(r.calls)) (calls[call] ??= []).push(...ms);
      for (const [reason, count] of Object.entries(r.retried)) retried[reason] = (retried[reason] ?? 0) + count;
    }
    const s = summarize(perRun);
    const cycle = summarize(latencies);
    const perCall = Object.fromEntries(Object.entries(calls).map(([call, ms]) => [call, summarize(ms)]));
    const retries = Object.values(retried).reduce((a, b) => a + b, 0);
    throughput[concurrency] = s.median;
    add(
      `floor: create role + grant READ + end access, concurrency ${concurrency}`,
      'cycles/s',
      { count: RUNS, median: s.median },
      `cycle p50 ${cycle.median.toFixed(1)} ms, p99 ${cycle.p99.toFixed(1)} ms; p50 ${PG_FLOOR_CALLS.map((c) => `${c} ${perCall[c]!.median.toFixed(1)}`).join(', ')} ms; ${retries} attempts retried`,
      'postgresql',
    );
    for (const [reason, count] of Object.entries(retried)) log(`  PostgreSQL floor at ${concurrency}: retried ×${count}: ${reason}`);
    results[`postgresql_floor_c${concurrency}`] = { runs: perRun, cycleMs: cycle, callMs: perCall, retried };
    log(`PostgreSQL floor at concurrency ${concurrency}: ${s.median.toFixed(1)} cycles/s`);
  }
  return throughput;
}

// ---------------------------------------------------------------------------
// 1b. The Temporal floor: a workflow of a grant's shape with activities that do
// nothing, on the same Temporal server. The grant path cannot be faster than this.

async function temporal(stack: BenchStack): Promise<number | undefined> {
  const f = await temporalFloor(stack.temporal.address, stack.client, { runs: RUNS, sizes: SIZES.temporal, log });
  for (const [kind, floor] of [
    ['activities', f.activities],
    ['local activities', f.local],
  ] as const) {
    add(`Temporal floor (${kind}): grant-shaped workflow, concurrency 1`, 'ms', floor.latencyMs, 'start → result; 6 no-op steps, 2 of them side by side');
    for (const [concurrency, runs] of Object.entries(floor.throughput)) {
      add(`Temporal floor (${kind}): throughput, concurrency ${concurrency}`, 'workflows/s', { count: runs.length, median: summarize(runs).median });
    }
  }
  results.temporal_floor = f;
  return f.activities.throughput[16] ? summarize(f.activities.throughput[16]).median : undefined;
}

// ---------------------------------------------------------------------------
// 2. The grant path: POST /grants until ACTIVE (201), then revoked between runs.

async function grantOnce(stack: BenchStack, email: string, expiresAt = new Date(Date.now() + 24 * 3600_000).toISOString(), database = 'main'): Promise<{ grantId: string; account: string; ms: number }> {
  const t0 = performance.now();
  const res = await stack.call('POST', '/grants', { email, name: 'Bench Mark', project: stack.project, database, accessLevel: 'READ', expiresAt });
  if (res.status !== 201 && res.status !== 202) throw new Error(`POST /grants answered ${res.status} ${JSON.stringify(res.body)}`);
  // 202: the API's short wait ran out (an overloaded worker); ACTIVE is then read with GET.
  let status: string = res.body.status;
  while (status !== 'ACTIVE') {
    if (!['REQUESTED', 'PROVISIONING'].includes(status)) throw new Error(`${res.body.grantId} ended ${status}`);
    await sleep(50);
    const got = await stack.call('GET', `/grants/${encodeURIComponent(res.body.grantId)}`);
    status = got.status === 200 ? got.body.status : status;
  }
  return { grantId: res.body.grantId, account: res.body.account, ms: performance.now() - t0 };
}

async function accountsExisting(accounts: readonly string[]): Promise<number> {
  if (accounts.length === 0) return 0;
  const [found] = await rootPool().query('SELECT COUNT(*) AS n FROM mysql.user WHERE User IN (?)', [accounts]);
  return Number((found as { n: number }[])[0]!.n);
}

async function revokeAll(stack: BenchStack, engine: EngineUnderTest, grants: readonly { grantId: string; account: string }[]): Promise<void> {
  await forEachConcurrently(grants, 16, async ({ grantId }) => {
    const res = await stack.call('POST', `/grants/${encodeURIComponent(grantId)}/revoke`, { reason: 'benchmark' });
    if (res.status !== 202) throw new Error(`revoke ${grantId}: ${res.status} ${JSON.stringify(res.body)}`);
  });
  const accounts = grants.map((g) => g.account);
  const deadline = Date.now() + 120_000;
  while ((await engine.accountsExisting(accounts)) > 0) {
    if (Date.now() > deadline) throw new Error('revoked accounts still exist after 120 s');
    await sleep(200);
  }
}

async function grantPath(stack: BenchStack, engine: EngineUnderTest, floorC16: number | undefined, temporalC16: number | undefined): Promise<number | undefined> {
  let c16: number | undefined;
  const timings: GrantTiming[] = [];
  /** Request time minus workflow time, per grant at concurrency 1. */
  const apiShare: number[] = [];
  for (const concurrency of [1, 16, 64]) {
    const perRun: number[] = [];
    const latencies: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const emails = Array.from({ length: SIZES.grant[concurrency]! }, () => stack.newEmail());
      const grants: { grantId: string; account: string; ms: number }[] = [];
      const t0 = performance.now();
      await forEachConcurrently(emails, concurrency, async (email) => {
        grants.push(await grantOnce(stack, email, undefined, engine.database));
      });
      perRun.push(grants.length / ((performance.now() - t0) / 1000));
      latencies.push(...grants.map((g) => g.ms));
      // Usable: every account exists on the server once the API said ACTIVE.
      const existing = await engine.accountsExisting(grants.map((g) => g.account));
      if (existing !== grants.length) throw new Error(`${grants.length - existing} ACTIVE grants have no account`);
      if (concurrency === 1) {
        for (const g of grants) {
          const history = await stack.client.workflow.getHandle(g.grantId).fetchHistory();
          const t = grantTiming(history.events ?? []);
          if (!t) throw new Error(`${g.grantId}: no provisioning in its history`);
          timings.push(t);
          apiShare.push(g.ms - t.workflowMs);
        }
      }
      await revokeAll(stack, engine, grants);
    }
    const lat = summarize(latencies);
    if (concurrency === 1) {
      add('grant path: POST /grants until ACTIVE, concurrency 1', 'ms', lat, undefined, engine.key);
    }
    const tp = summarize(perRun);
    if (concurrency === 16) c16 = tp.median;
    const ratio =
      concurrency === 16
        ? [floorC16 ? `; ${((tp.median / floorC16) * 100).toFixed(1)}% of the floor at 16` : '', temporalC16 ? `; ${((tp.median / temporalC16) * 100).toFixed(0)}% of the Temporal floor at 16` : ''].join('')
        : '';
    add(`grant path: throughput, concurrency ${concurrency}`, 'grants/s', { count: RUNS, median: tp.median }, `latency p50 ${lat.median.toFixed(0)} ms, p99 ${lat.p99.toFixed(0)} ms${ratio}`, engine.key);
    results[`${engine.results}grant_c${concurrency}`] = { runs: perRun, latencyMs: lat };
    log(`${engine.key} grant path at concurrency ${concurrency}: ${tp.median.toFixed(1)} grants/s, p50 ${lat.median.toFixed(0)} ms`);
  }

  // 5. Where the time of a grant goes (concurrency 1).
  const breakdown: Record<string, { queued: Summary; ran: Summary }> = {};
  for (const step of STEP_ORDER) {
    const of = timings.flatMap((t) => t.steps.filter((s) => s.step === step));
    breakdown[step] = { queued: summarize(of.map((s) => s.queuedMs)), ran: summarize(of.map((s) => s.ranMs)) };
    add(`  step: ${step}`, 'ms', breakdown[step]!.ran, `queued p50 ${breakdown[step]!.queued.median.toFixed(1)} ms`, engine.key);
  }
  const workflow = summarize(timings.map((t) => t.workflowMs));
  const temporalShare = summarize(timings.map((t) => t.workflowMs - t.steps.reduce((sum, s) => sum + s.ranMs, 0)));
  add('  Temporal: workflow time not in an activity', 'ms', temporalShare, `workflow start → ACTIVE p50 ${workflow.median.toFixed(0)} ms`, engine.key);
  add('  API: request time outside the workflow', 'ms', summarize(apiShare), 'start call, waiting for ACTIVE, HTTP', engine.key);
  results[`${engine.results}breakdown`] = { steps: breakdown, workflowMs: workflow, temporalMs: temporalShare };
  return c16;
}

// ---------------------------------------------------------------------------
// 3. Revocation lag: N grants expiring in the same second (bench/expiries.ts).

// ---------------------------------------------------------------------------
// 4. The cost of waiting: open grants sleeping until a far expiry.

async function idle(stack: BenchStack): Promise<void> {
  // Fresh workers: what they hold is what the open grants cost, not the earlier parts.
  for (const w of stack.workers) await w.process.restart();
  const pgid = (w: BenchWorker) => w.process.process.pid;
  /** With several workers, each figure is per worker: named after it. */
  const of = (w: BenchWorker) => (stack.workers.length > 1 ? ` (${w.identity})` : '');
  const expiresAt = new Date(Date.now() + 300 * 24 * 3600_000).toISOString();
  const open: string[] = [];
  const memory: { worker: string; grants: number; rssMiB: number; peakRssMiB: number; cpuCores: number; heapTotalMiB: number; heapUsedMiB: number; externalMiB: number }[] = [];
  const measure = async () => {
    await sleep(10_000); // let the last workflow tasks and timers settle
    const costs = await Promise.all(stack.workers.map((w) => idleCost(pgid(w), 20_000)));
    for (const [i, w] of stack.workers.entries()) {
      const cost = costs[i]!;
      // The main thread's V8 heap; the rest of the RSS is the workflow thread's heap, the SDK's native core, code and allocator slack.
      const m = await workerMemory(w.metricsUrl);
      const split = { heapTotalMiB: mib(m.heapTotalBytes), heapUsedMiB: mib(m.heapUsedBytes), externalMiB: mib(m.externalBytes) };
      // The peak since the burst of grants before this measure began (resetPeakRss).
      const peakRssMiB = mib(cost.peakRssBytes);
      memory.push({ worker: w.identity, grants: open.length, rssMiB: mib(cost.rssBytes), peakRssMiB, cpuCores: cost.cpuCores, ...split });
      log(
        `${open.length} open grants: worker${of(w)} RSS ${mib(cost.rssBytes)} MiB, ${peakRssMiB} MiB at the peak of the burst (main heap ${split.heapUsedMiB} of ${split.heapTotalMiB} MiB, external ${split.externalMiB} MiB, ` +
          `the rest ${mib(cost.rssBytes - m.heapTotalBytes - m.externalBytes)} MiB), idle CPU ${(cost.cpuCores * 100).toFixed(1)}% of a core`,
      );
    }
  };
  await measure();
  for (const target of SIZES.checkpoints) {
    const emails = Array.from({ length: target - open.length }, () => stack.newEmail());
    const t0 = Date.now();
    for (const w of stack.workers) resetPeakRss(pgid(w));
    await forEachConcurrently(emails, 32, async (email) => {
      open.push((await grantOnce(stack, email, expiresAt)).grantId);
    });
    log(`opened ${emails.length} more grants in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    await measure();
  }
  for (const m of memory) {
    add(`cost of waiting: worker RSS with ${m.grants} open grants${stack.workers.length > 1 ? ` (${m.worker})` : ''}`, 'MiB', { count: 1, median: m.rssMiB }, `idle CPU ${(m.cpuCores * 100).toFixed(1)}% of a core; main heap ${m.heapTotalMiB} MiB; peak while opening ${m.peakRssMiB} MiB`, 'mysql');
  }

  const sample = Array.from({ length: Math.min(50, open.length) }, (_, i) => open[Math.floor((i * open.length) / Math.min(50, open.length))]!);
  const lengths: number[] = [];
  for (const id of sample) lengths.push((await stack.client.workflow.getHandle(id).describe()).historyLength);
  const events = summarize(lengths);
  add('cost of waiting: history events per open grant', 'events', events, undefined, 'mysql');

  // A worker restart (every worker, one after the other): killed, started again, and every sampled grant answering a query (each replayed).
  const t0 = Date.now();
  for (const w of stack.workers) await w.process.restart();
  const startedMs = Date.now() - t0;
  const queryMs: number[] = [];
  await forEachConcurrently(sample, 8, async (id) => {
    const q0 = Date.now();
    await stack.client.workflow.getHandle(id).query('grantState');
    queryMs.push(Date.now() - q0);
  });
  const resumedMs = Date.now() - t0;
  const afterRestart = stack.workers.map((w) => `${mib(sampleProcessGroup(pgid(w)).rssBytes)} MiB${of(w)}`).join(', ');
  const restarted = stack.workers.length > 1 ? `${stack.workers.length} workers restart` : 'worker restart';
  add(`${restarted}: killed → polling again`, 'ms', { count: 1, median: startedMs }, 'loads the workflow bundle of npm run build', 'mysql');
  add(`${restarted}: → ${sample.length} sampled grants answer (replayed)`, 'ms', { count: 1, median: resumedMs }, `query p50 ${summarize(queryMs).median} ms; RSS then ${afterRestart}`, 'mysql');
  results.idle = { memory, historyEvents: events, restart: { startedMs, resumedMs, queryMs: summarize(queryMs) } };

  // Clean-up, not a measurement: the open grants end with the Temporal server; their accounts are dropped here.
  for (const w of stack.workers) await w.process.stop();
  log(`dropped ${await stack.dropGrantAccounts()} accounts of open grants`);
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  log('building the worker (npm run build)');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  const [version] = await rootPool().query('SELECT VERSION() AS v');
  const machine: Record<string, string | number> = {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
    mariadb: (version as { v: string }[])[0]!.v,
  };
  log(`machine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB} GiB, Node ${machine.node}, MariaDB ${machine.mariadb}`);
  const workerEnv: Record<string, string> = {};
  for (const pair of args['worker-env'] ?? []) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new Error(`--worker-env ${pair}: expected NAME=VALUE`);
    workerEnv[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  if (args.cache) workerEnv.WORKER_MAX_CACHED_WORKFLOWS = args.cache;
  const withPostgres = engines.has('postgresql') && ['floor', 'grant', 'expiry'].some((p) => parts.has(p));
  const stack = await startBenchStack({ log, workerEnv, workers: WORKERS, cpuProfile: args['cpu-prof']!, ...(args['revocation-lead'] ? { revocationLeadS: Number(args['revocation-lead']) } : {}), ...(withPostgres ? { postgres: { url: args['postgres-url'] ?? DEFAULT_POSTGRES_URL } } : {}) });
  const started = Date.now();
  if (stack.postgres) {
    machine.postgresql = stack.postgres.version;
    log(`PostgreSQL ${machine.postgresql}`);
  }
  const expiryRun: ExpiryRun = { counts: SIZES.expiries, ...(args.lead ? { leadS: Number(args.lead) } : {}), ...(args['kill-one'] ? { killBeforeMs: KILL_BEFORE_MS } : {}) };
  try {
    if (args['kill-one'] && KILL_BEFORE_MS >= stack.config.revocationLeadMs) throw new Error(`--kill-before ${args['kill-before']}: the revocations are armed only ${stack.config.revocationLeadMs / 1000} s before the expiry`);
    const mysqlEngine: EngineUnderTest = { key: 'mysql', database: 'main', accountsExisting, results: '' };
    const floorTp = parts.has('floor') && engines.has('mysql') ? await floor(stack) : {};
    const temporalC16 = parts.has('temporal') ? await temporal(stack) : undefined;
    if (engines.has('mysql')) {
      const c16 = parts.has('grant') ? await grantPath(stack, mysqlEngine, floorTp[16], temporalC16) : undefined;
      if (parts.has('expiry')) await expiries(stack, mysqlEngine, c16, expiryRun);
    }
    if (stack.postgres) {
      const pgEngine: EngineUnderTest = { key: 'postgresql', database: 'pg', accountsExisting: stack.postgres.accountsExisting, results: 'postgresql_' };
      const pgFloorTp = parts.has('floor') ? await pgFloor(stack) : {};
      const c16 = parts.has('grant') ? await grantPath(stack, pgEngine, pgFloorTp[16], temporalC16) : undefined;
      if (parts.has('expiry')) await expiries(stack, pgEngine, c16, expiryRun);
    }
    if (parts.has('idle') && engines.has('mysql')) await idle(stack);
  } finally {
    await stack.stop();
    await mochaHooks.afterAll();
  }
  const out = { at: new Date().toISOString(), quick, runs: RUNS, engines: [...engines], cache: args.cache ?? 'default', workerEnv, workers: WORKERS, ...(args['kill-one'] ? { killOne: { killBeforeMs: KILL_BEFORE_MS } } : {}), ...(args['revocation-lead'] ? { revocationLeadS: Number(args['revocation-lead']) } : {}), machine, durationS: Math.round((Date.now() - started) / 1000), rows, results };
  const dir = join(ROOT, '.bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `bench-${out.at.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(
    `\ndbaccess benchmark — ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, MariaDB ${machine.mariadb}${machine.postgresql ? `, PostgreSQL ${machine.postgresql}` : ''}; ${quick ? 'quick, ' : ''}${RUNS} run(s) per figure\n\n${table()}\n\nJSON: .bench/${file.split('/').pop()}\n`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`[bench] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
