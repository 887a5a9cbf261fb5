import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

import { quantile } from '../test/support/stats';

export { forEachConcurrently } from '../test/support/stats';

// Small measuring tools of the benchmark: summaries of samples, and a worker's
// resident memory and CPU time read from /proc.

export interface Summary {
  count: number;
  median: number;
  p99: number;
  max: number;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  return { count: sorted.length, median: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1) ?? Number.NaN };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ProcessSample {
  /** Resident memory of the group's processes, in bytes. */
  rssBytes: number;
  /** Their peak resident memory since they started or since resetPeakRss (VmHWM), in bytes. */
  peakRssBytes: number;
  /** User + system CPU time they have used, in seconds. */
  cpuSeconds: number;
}

const CLOCK_TICKS = 100;

/**
 * The processes of a process group (the worker and what it started), without the
 * small shell that guards the group (`sh`, `cat`: test/support/processes.ts).
 */
export function sampleProcessGroup(pgid: number): ProcessSample {
  let rssBytes = 0;
  let peakRssBytes = 0;
  let ticks = 0;
  for (const { fields, status } of groupProcesses(pgid)) {
    // fields[0] is field 3 (state): utime is field 14, stime 15.
    ticks += Number(fields[11]) + Number(fields[12]);
    const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    rssBytes += kib('VmRSS');
    peakRssBytes += kib('VmHWM');
  }
  return { rssBytes, peakRssBytes, cpuSeconds: ticks / CLOCK_TICKS };
}

/** Starts the group's peak resident memory (VmHWM) over from what each process holds now. */
export function resetPeakRss(pgid: number): void {
  for (const { pid } of groupProcesses(pgid)) {
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
    } catch {
      // exited meanwhile
    }
  }
}

function* groupProcesses(pgid: number): Generator<{ pid: string; fields: string[]; status: string }> {
  for (const p of processes('status')) {
    // fields[2] is field 5, the process group.
    if (Number(p.fields[2]) !== pgid || p.comm === 'sh' || p.comm === 'cat') continue;
    yield { pid: p.pid, fields: p.fields, status: p.extra };
  }
}

/**
 * Every process, from /proc: its command name, the fields of its stat line after the name
 * (fields[0] is field 3, the state), and one more file of its own (`status`, `cmdline`).
 */
function* processes(extra: 'status' | 'cmdline'): Generator<{ pid: string; comm: string; fields: string[]; extra: string }> {
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let stat: string;
    let more: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      more = readFileSync(`/proc/${pid}/${extra}`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const close = stat.lastIndexOf(')');
    yield { pid, comm: stat.slice(stat.indexOf('(') + 1, close), fields: stat.slice(close + 2).split(' '), extra: more };
  }
}

/** Mean CPU use of the group over `ms` (1.0 = one core busy), and its resident memory (and peak) at the end. */
export async function idleCost(pgid: number, ms: number): Promise<{ cpuCores: number; rssBytes: number; peakRssBytes: number }> {
  const before = sampleProcessGroup(pgid);
  const t0 = Date.now();
  await sleep(ms);
  const after = sampleProcessGroup(pgid);
  return { cpuCores: (after.cpuSeconds - before.cpuSeconds) / ((Date.now() - t0) / 1000), rssBytes: after.rssBytes, peakRssBytes: after.peakRssBytes };
}

export const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

/** What the worker's own /metrics says of its memory: the main thread's V8 heap and the memory V8 tracks outside it. */
export interface WorkerMemory {
  heapTotalBytes: number;
  heapUsedBytes: number;
  externalBytes: number;
}

export async function workerMemory(metricsUrl: string): Promise<WorkerMemory> {
  const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`worker metrics answered ${res.status}`);
  const text = await res.text();
  const value = (name: string) => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text);
    if (!m) throw new Error(`worker metrics lack ${name}`);
    return Number(m[1]);
  };
  return {
    heapTotalBytes: value('nodejs_heap_size_total_bytes'),
    heapUsedBytes: value('nodejs_heap_size_used_bytes'),
    externalBytes: value('nodejs_external_memory_bytes'),
  };
}

/** CPU seconds used so far by each part of the stack (and the whole machine), read from /proc. */
export interface CpuSnapshot {
  at: number;
  /** Per part: the seconds its processes have used (user + system, and their reaped children's). */
  parts: Record<string, number>;
  /** Seconds the machine's cores have been busy, all processes together. */
  machine: number;
}

/** A part of the stack: a worker by its process group, or a server by what its process is called. */
export type CpuPart = { name: string; pgid: number } | { name: string; comm?: string; cmdline?: string };

export function cpuSnapshot(parts: readonly CpuPart[]): CpuSnapshot {
  const seconds: Record<string, number> = Object.fromEntries(parts.map((p) => [p.name, 0]));
  for (const { comm, fields, extra } of processes('cmdline')) {
    const cmdline = extra.replaceAll('\0', ' ');
    // The process group is field 5, utime 14, stime 15, cutime 16, cstime 17.
    const pgid = Number(fields[2]);
    const part = parts.find((p) => ('pgid' in p ? p.pgid === pgid : (p.comm === undefined || p.comm === comm) && (p.cmdline === undefined || cmdline.includes(p.cmdline))));
    if (!part) continue;
    seconds[part.name]! += (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS;
  }
  // The first line of /proc/stat: user nice system idle iowait irq softirq steal ...
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const busy = cpu[0]! + cpu[1]! + cpu[2]! + cpu[5]! + cpu[6]! + (cpu[7] ?? 0);
  return { at: Date.now(), parts: seconds, machine: busy / CLOCK_TICKS };
}

/**
 * What each part used from the first snapshot to the later one nearest `untilAt`, in seconds
 * (rounded to tenths). Never the first snapshot itself: a burst shorter than the sampling
 * interval is reported over one interval, not as nothing. Undefined before two snapshots.
 */
export function cpuOver(snapshots: readonly CpuSnapshot[], untilAt: number): { seconds: number; parts: Record<string, number>; machine: number } | undefined {
  const [first, ...later] = snapshots;
  if (!first || later.length === 0) return undefined;
  const last = later.reduce((best, s) => (Math.abs(s.at - untilAt) < Math.abs(best.at - untilAt) ? s : best));
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    seconds: round((last.at - first.at) / 1000),
    parts: Object.fromEntries(Object.entries(last.parts).map(([k, v]) => [k, round(v - first.parts[k]!)])),
    machine: round(last.machine - first.machine),
  };
}

/** Snapshots every second from `startAt` on, until stopped: where the CPU went over any stretch of them. */
export function cpuTimeline(parts: readonly CpuPart[], startAt: number) {
  const snapshots: CpuSnapshot[] = [];
  let timer: NodeJS.Timeout | undefined;
  const take = () => {
    snapshots.push(cpuSnapshot(parts));
    timer = setTimeout(take, 1000);
  };
  timer = setTimeout(take, Math.max(0, startAt - Date.now()));
  return {
    stop: () => clearTimeout(timer),
    /** What each part used from the first snapshot to the one nearest `untilAt` (see cpuOver). */
    over: (untilAt: number) => cpuOver(snapshots, untilAt),
  };
}
