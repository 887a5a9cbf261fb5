import type { Client } from '@temporalio/client';

import type { ExpiryFigures } from '../test/load/many-expiries';
import type { RevocationGroup } from './breakdown';
import { forEachConcurrently, mib, sampleProcessGroup, sleep, summarize, type ProcessSample, type Summary } from './measure';
import type { BenchWorker } from './stack';

// --kill-one: in an expiry burst served by several workers, one worker is killed
// (SIGKILL to its process group, as a crash would) once the revocations are armed,
// a few seconds before the expiry. Before the kill, each grant's armed attempt is
// looked up with a describe of its workflow (the pending revokeAccess, started,
// and the identity of the worker that started it), so that the grants the killed
// worker held are reported apart from the others.

/** The groups of a burst with a worker killed: by the worker that held the armed attempt at the kill. */
export const KILL_GROUPS = {
  killedWorker: 'held by the killed worker',
  others: 'the others',
  /** Grants whose armed attempt had not been seen started when the kill came. */
  unidentified: 'holder not known at the kill',
} as const;
export type KillGroup = keyof typeof KILL_GROUPS;

export interface KillOutcome {
  killedWorker: string;
  /** When the kill was sent, ms before the expiry. */
  killedBeforeMs: number;
  /** Per grant: the worker that held its armed attempt (absent when not known at the kill). */
  holders: Map<string, string>;
  identify: {
    describes: number;
    sweeps: number;
    /** From the first describe to the last. */
    ms: number;
    /** The first and the last describe, ms before the expiry. */
    startedBeforeMs: number;
    finishedBeforeMs: number;
  };
  /** The killed worker's memory right before the kill (its peak since the burst began). */
  killedMemory: ProcessSample;
}

const STARTED = [2, 'PENDING_ACTIVITY_STATE_STARTED'];

/**
 * Arms the kill of `victim` for a burst: `onActive` (given to the burst once every
 * grant is ACTIVE) starts the describes of the grants' armed attempts, halfway
 * from the arming (`revocationLeadMs` before the expiry) to the kill or at once
 * when that is past, repeated every second for those not yet started, then kills
 * `victim` `killBeforeMs` before the expiry. `outcome()` resolves after the kill.
 */
export function killOne(client: Client, options: { victim: BenchWorker; killBeforeMs: number; revocationLeadMs: number; log: (line: string) => void }) {
  const { victim, killBeforeMs, revocationLeadMs, log } = options;
  let running: Promise<KillOutcome> | undefined;

  const run = async (grantIds: readonly string[], expiresAt: Date): Promise<KillOutcome> => {
    const expiry = expiresAt.getTime();
    const killAt = expiry - killBeforeMs;
    const armingAt = expiry - revocationLeadMs;
    if (Date.now() >= killAt) throw new Error(`every grant was ACTIVE only ${expiry - Date.now()} ms before the expiry, after the kill's time: lengthen --lead`);
    await sleep(armingAt + (killAt - armingAt) / 2 - Date.now());

    const holders = new Map<string, string>();
    const unknown = new Set(grantIds);
    const identify = { describes: 0, sweeps: 0, ms: 0, startedBeforeMs: expiry - Date.now(), finishedBeforeMs: 0 };
    const t0 = Date.now();
    while (unknown.size > 0 && Date.now() < killAt) {
      identify.sweeps += 1;
      await forEachConcurrently([...unknown], 8, async (grantId) => {
        if (Date.now() >= killAt) return;
        identify.describes += 1;
        const d = await client.workflow.getHandle(grantId).describe();
        const armed = (d.raw.pendingActivities ?? []).find((a) => a.activityType?.name === 'revokeAccess' && STARTED.includes(a.state as never) && a.lastWorkerIdentity);
        if (!armed) return;
        holders.set(grantId, armed.lastWorkerIdentity!);
        unknown.delete(grantId);
      });
      if (unknown.size > 0) await sleep(Math.min(1000, killAt - Date.now()));
    }
    identify.ms = Date.now() - t0;
    identify.finishedBeforeMs = expiry - Date.now();
    const held = [...holders.values()].filter((w) => w === victim.identity).length;
    log(
      `${holders.size} armed attempts found by ${identify.describes} describes in ${identify.sweeps} sweeps (${(identify.ms / 1000).toFixed(1)} s, from ${(identify.startedBeforeMs / 1000).toFixed(1)} s to ${(identify.finishedBeforeMs / 1000).toFixed(1)} s before the expiry): ${victim.identity} holds ${held}${unknown.size > 0 ? `; ${unknown.size} not yet started` : ''}`,
    );

    await sleep(killAt - Date.now());
    const killedMemory = sampleProcessGroup(victim.process.process.pid);
    const killedBeforeMs = expiry - Date.now();
    await victim.process.kill();
    log(`killed ${victim.identity} (SIGKILL to its process group) ${(killedBeforeMs / 1000).toFixed(1)} s before the expiry`);
    return { killedWorker: victim.identity, killedBeforeMs, holders, identify, killedMemory };
  };

  return {
    onActive(grants: readonly { grantId: string }[], expiresAt: Date): void {
      running = run(grants.map((g) => g.grantId), expiresAt);
      running.catch(() => undefined); // reported by outcome()
    },
    async outcome(): Promise<KillOutcome> {
      if (!running) throw new Error('the burst never reported its grants ACTIVE: no kill');
      return running;
    },
  };
}

export function groupOf(kill: KillOutcome): (grantId: string) => KillGroup {
  return (grantId) => {
    const holder = kill.holders.get(grantId);
    return holder === undefined ? 'unidentified' : holder === kill.killedWorker ? 'killedWorker' : 'others';
  };
}

export interface GroupFigures {
  grants: number;
  accessEndedLagMs: Summary;
  dropLagMs: Summary;
  /** Its accounts that still exist after the burst (0 expected). */
  left: number;
  /** From the histories: attempts, failures, the worker of the last attempt, when a retried attempt started. */
  attempts: Record<string, number>;
  failures: Record<string, number>;
  ranOn: Record<string, number>;
  retryStartedMs: Summary;
}

/** The lags of each group's accounts, with what their histories say and how many of their accounts are left. */
export async function groupFigures(
  f: ExpiryFigures,
  kill: KillOutcome,
  revocations: Record<string, RevocationGroup>,
  accountsExisting: (accounts: readonly string[]) => Promise<number>,
): Promise<Partial<Record<KillGroup, GroupFigures>>> {
  const of = groupOf(kill);
  const out: Partial<Record<KillGroup, GroupFigures>> = {};
  for (const group of Object.keys(KILL_GROUPS) as KillGroup[]) {
    const accounts = f.accounts.filter((_, i) => of(f.grantIds[i]!) === group);
    if (accounts.length === 0) continue;
    const lags = (by: Map<string, number>) => summarize(accounts.flatMap((a) => (by.has(a) ? [by.get(a)!] : [])));
    const r = revocations[group];
    out[group] = {
      grants: accounts.length,
      accessEndedLagMs: lags(f.endedLagByAccount),
      dropLagMs: lags(f.dropLagByAccount),
      left: await accountsExisting(accounts),
      attempts: r?.attempts ?? {},
      failures: r?.failures ?? {},
      ranOn: r?.ranOn ?? {},
      retryStartedMs: summarize((r?.retryStartedMs ?? []).map(Math.round)),
    };
  }
  return out;
}

/** `2 ×48, 1 ×2`: counts by key, largest first. */
export const counted = (of: Record<string, number>) =>
  Object.entries(of)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ×${n}`)
    .join(', ');

/** The note of a group's drop row: none left, attempts, where and when its last attempts ran. */
export function groupNote(g: GroupFigures): string {
  const retried = g.retryStartedMs.count > 0 ? `; retried attempts started ${(g.retryStartedMs.median / 1000).toFixed(1)} s p50, ${(g.retryStartedMs.max / 1000).toFixed(1)} s max after the expiry` : '';
  return `${g.left} left; attempts per grant: ${counted(g.attempts)}; last attempt on ${counted(g.ranOn)}${retried}`;
}

/** `bench-worker-1 412 MiB (killed), bench-worker-2 380 MiB`: each worker's peak resident memory over the burst. */
export function peaksNote(peaks: readonly { identity: string; peakRssBytes: number; rssBytes: number; killed?: boolean }[]): string {
  if (peaks.length === 1) return `worker peak RSS ${mib(peaks[0]!.peakRssBytes)} MiB, ${mib(peaks[0]!.rssBytes)} MiB at the end`;
  return `peak RSS ${peaks.map((p) => `${p.identity} ${mib(p.peakRssBytes)} MiB${p.killed ? ' (until killed)' : `, ${mib(p.rssBytes)} at the end`}`).join('; ')}`;
}
