import { cpus } from 'node:os';

import { manyExpiries, type ExpiryFigures } from '../test/load/many-expiries';
import { armedAhead } from './breakdown';
import { groupFigures, groupNote, groupOf, KILL_GROUPS, killOne, peaksNote, type KillGroup } from './kill-one';
import { cpuTimeline, mib, resetPeakRss, sampleProcessGroup, summarize, type CpuPart } from './measure';
import { pgExpiries } from './pg-expiries';
import { add, log, results, type EngineKey } from './report';
import type { BenchStack } from './stack';

// The revocation lag: N grants expiring in the same second, with every worker of
// the stack serving them; with `killBeforeMs`, bench-worker-1 is killed that long
// before the expiry, and the grants whose armed revocation it held are reported
// apart from the others (kill-one.ts).

/** What the grant path and the expiries need of an engine: the project's database on it, and which accounts exist. */
export interface EngineUnderTest {
  key: EngineKey;
  database: string;
  accountsExisting(accounts: readonly string[]): Promise<number>;
  /** Prefix of its keys in the JSON's results (none for MySQL: the keys of earlier runs). */
  results: string;
}

export interface ExpiryRun {
  /** Counts of simultaneous expiries, one burst each. */
  counts: number[];
  /** Seconds from the first grant of a burst to its expiry (default: from the grant path's throughput). */
  leadS?: number;
  /** Kill bench-worker-1 this long before each expiry (needs two workers or more). */
  killBeforeMs?: number;
}

export async function expiries(stack: BenchStack, engine: EngineUnderTest, grantsPerSecond: number | undefined, run: ExpiryRun): Promise<void> {
  for (const n of run.counts) {
    // Every grant must be ACTIVE before the common expiry: room for starting them all.
    // Without a grant path measured in this run: what a grant path of the engine did on two cores.
    const rate = grantsPerSecond && grantsPerSecond > 0 ? grantsPerSecond : engine.key === 'mysql' ? 10 : 4;
    const leadMs = run.leadS ? run.leadS * 1000 : Math.round(30_000 + (n / rate) * 2000);
    // Each worker's peak memory over the burst: the grants' creation, the arming, the drops and the audit after.
    for (const w of stack.workers) resetPeakRss(w.process.process.pid);
    const victim = stack.workers[0]!;
    const kill = run.killBeforeMs === undefined ? undefined : killOne(stack.client, { victim, killBeforeMs: run.killBeforeMs, revocationLeadMs: stack.config.revocationLeadMs, log });
    // Where the machine's CPU goes from the expiry on, each second.
    let cpu: ReturnType<typeof cpuTimeline> | undefined;
    const onActive = (grants: readonly { grantId: string }[], expiresAt: Date) => {
      cpu = cpuTimeline(cpuParts(stack), expiresAt.getTime());
      kill?.onActive(grants, expiresAt);
    };
    let f: ExpiryFigures;
    try {
      f = engine.key === 'mysql' ? await manyExpiries(stack, n, { leadMs, leadFlag: '--lead', log, onActive }) : await pgExpiries(stack, stack.postgres!, n, { database: engine.database, leadMs, leadFlag: '--lead', log, onActive });
    } catch (err) {
      if (kill) await kill.outcome().then((k) => log(`the burst failed after ${k.killedWorker} was killed holding ${[...k.holders.values()].filter((w) => w === k.killedWorker).length} armed attempts`), () => undefined);
      throw err;
    } finally {
      cpu?.stop();
    }
    const burstCpu = cpu?.over(Date.parse(f.expiresAt) + f.lastDropLagMs);
    if (burstCpu) log(`${engine.key}: ${n} expiries: ${cpuNote(burstCpu)}`);
    const k = kill ? await kill.outcome() : undefined;
    const peaks = stack.workers.map((w) => ({ identity: w.identity, ...(w === victim && k ? { ...k.killedMemory, killed: true } : { ...sampleProcessGroup(w.process.process.pid), killed: false }) }));
    const drops = summarize(f.dropLagsMs);
    const ended = summarize(f.accessEndedLagsMs);
    const armed = await armedAhead(stack.client, f.grantIds, f.expiresAt, log, k ? groupOf(k) : undefined);
    const endedNote = `${engine.key === 'mysql' ? 'locked' : 'NOLOGIN'} or gone, no session left (${f.sessionsHeld} held one open across the expiry)`;
    const armedNote = `${armed.armedBefore}/${n} armed before the expiry (the last ${(armed.lastArmedBeforeMs / 1000).toFixed(1)} s before it), ${armed.armedAfter} after, ${armed.notArmed} not armed; ${armed.besideArmed} ended by the revocation beside their armed one; ${armed.retried} needed more than one attempt; ${f.alerted} alerted REVOKE_RETRYING; last EXPIRED audited ${f.lastAuditLagMs} ms after; ${peaksNote(peaks)}${burstCpu ? `; ${cpuNote(burstCpu)}` : ''}`;
    const common = {
      alerted: f.alerted,
      audit: { p50: f.p50AuditLagMs, p99: f.p99AuditLagMs, last: f.lastAuditLagMs },
      createMs: f.createMs,
      ...(burstCpu ? { burstCpu } : {}),
      workers: peaks.map((p) => ({ identity: p.identity, peakRssMiB: mib(p.peakRssBytes), rssMiB: mib(p.rssBytes), ...(p.killed ? { killed: true } : {}) })),
    };
    if (!k) {
      add(`revocation lag: ${n} expiring in the same second, access ended`, 'ms', ended, endedNote, engine.key);
      add(`revocation lag: ${n} expiring in the same second, dropped`, 'ms', drops, `none left; ${armedNote}`, engine.key);
      const single = peaks.length === 1 ? { workerPeakRssMiB: mib(peaks[0]!.peakRssBytes), workerRssMiB: mib(peaks[0]!.rssBytes) } : {};
      results[`${engine.results}expiry_${n}`] = { accessEndedLagMs: ended, dropLagMs: drops, armed, ...common, ...single };
      log(`${engine.key}: ${n} expiries: access ended p50 ${ended.median} ms, p99 ${ended.p99} ms; dropped p50 ${drops.median} ms, p99 ${drops.p99} ms, max ${drops.max} ms`);
      continue;
    }

    const { groups: revocations, ...armedAll } = armed;
    const groups = await groupFigures(f, k, revocations ?? {}, engine.accountsExisting);
    const title = `revocation lag: ${n} expiring, ${k.killedWorker} of ${stack.workers.length} workers killed ${(k.killedBeforeMs / 1000).toFixed(1)} s before`;
    add(
      title,
      'grants',
      { count: n, median: Number.NaN },
      `${k.holders.size} armed attempts found by ${k.identify.describes} describes (${(k.identify.ms / 1000).toFixed(1)} s, ${(k.identify.startedBeforeMs / 1000).toFixed(1)} → ${(k.identify.finishedBeforeMs / 1000).toFixed(1)} s before the expiry); access ended: ${endedNote}; ${armedNote}`,
      engine.key,
    );
    for (const [group, g] of Object.entries(groups) as [KillGroup, NonNullable<(typeof groups)[KillGroup]>][]) {
      add(`  ${KILL_GROUPS[group]} (${g.grants}): access ended`, 'ms', g.accessEndedLagMs, undefined, engine.key);
      add(`  ${KILL_GROUPS[group]} (${g.grants}): dropped`, 'ms', g.dropLagMs, groupNote(g), engine.key);
      log(`${engine.key}: ${n} expiries, ${KILL_GROUPS[group]} (${g.grants}): access ended p50 ${g.accessEndedLagMs.median} ms, p99 ${g.accessEndedLagMs.p99} ms, max ${g.accessEndedLagMs.max} ms; dropped p50 ${g.dropLagMs.median} ms, p99 ${g.dropLagMs.p99} ms, max ${g.dropLagMs.max} ms; ${g.left} left`);
    }
    results[`${engine.results}expiry_${n}_kill_one`] = {
      killedWorker: k.killedWorker,
      killedBeforeMs: k.killedBeforeMs,
      identify: k.identify,
      groups,
      accessEndedLagMs: ended,
      dropLagMs: drops,
      armed: armedAll,
      ...common,
    };
    // The next burst or part has every worker again.
    await victim.process.restart();
    log(`${victim.identity} started again`);
  }
}

/** The parts of the stack whose CPU the burst reports: each worker, the servers, and the benchmark itself (API and probes). */
function cpuParts(stack: BenchStack): CpuPart[] {
  return [
    ...stack.workers.map((w) => ({ name: w.identity, pgid: w.process.process.pid })),
    { name: 'Temporal', comm: 'temporal' },
    { name: 'AWS emulator', comm: 'moto_server' },
    { name: 'MariaDB', comm: 'mariadbd' },
    { name: 'PostgreSQL', comm: 'postgres' },
    { name: 'benchmark', cmdline: 'bench/bench.ts' },
  ];
}

function cpuNote(c: { seconds: number; parts: Record<string, number>; machine: number }): string {
  const parts = Object.entries(c.parts)
    .filter(([, s]) => s >= 0.1)
    .sort((a, b) => b[1] - a[1])
    .map(([name, s]) => `${name} ${s.toFixed(1)}`)
    .join(', ');
  return `CPU from the expiry to the last drop (${c.seconds.toFixed(0)} s): ${parts} s; the machine's cores busy ${c.machine.toFixed(1)} of ${(c.seconds * cpus().length).toFixed(0)} s`;
}
