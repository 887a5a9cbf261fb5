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
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let stat: string;
    let status: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      status = readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    // fields[2] is field 5, the process group.
    if (Number(fields[2]) !== pgid || comm === 'sh' || comm === 'cat') continue;
    yield { pid, fields, status };
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
