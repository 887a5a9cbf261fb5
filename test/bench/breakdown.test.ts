import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { temporal } from '@temporalio/proto';

import { expiryRevocation } from '../../bench/breakdown';
import { cpuOver, cpuSnapshot } from '../../bench/measure';

// The benchmark's readings of a burst: how each grant's expiry was revoked (from
// its history), and where the machine's CPU went (from /proc).

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

const EXPIRY = Date.parse('2026-12-06T12:00:00Z');
const at = (offsetMs: number) => ({ seconds: Math.floor((EXPIRY + offsetMs) / 1000), nanos: ((EXPIRY + offsetMs) % 1000) * 1e6 });
// As a history decoded from JSON: numbers where the protobuf types say Long.
const scheduled = (eventId: number, offsetMs: number, queue: string) =>
  ({ eventId, eventTime: at(offsetMs), activityTaskScheduledEventAttributes: { activityType: { name: 'revokeAccess' }, taskQueue: { name: queue } } }) as unknown as HistoryEvent;
const started = (eventId: number, offsetMs: number, scheduledEventId: number, attempt: number, identity: string) =>
  ({ eventId, eventTime: at(offsetMs), activityTaskStartedEventAttributes: { scheduledEventId, attempt, identity } }) as unknown as HistoryEvent;

describe('benchmark: reading a burst', () => {
  it('When an armed attempt was retried on another worker, then the grant counts as armed, ended by that attempt', () => {
    const r = expiryRevocation([scheduled(10, -60_000, 'bench-q-expiry'), started(20, 3_000, 10, 2, 'bench-worker-2')], EXPIRY);
    assert.deepEqual(r, { armed: true, scheduledMs: -60_000, beside: false, startedMs: 3_000, attempts: 2, ranOn: 'bench-worker-2' });
  });

  it('When the ordinary revocation ran beside a lost armed attempt and started last, then the grant still counts as armed (when it was armed), ended beside it', () => {
    const r = expiryRevocation(
      [scheduled(10, -60_000, 'bench-q-expiry'), scheduled(30, 13_000, 'bench-q'), started(31, 13_050, 30, 1, 'bench-worker-2')],
      EXPIRY,
    );
    assert.deepEqual(r, { armed: true, scheduledMs: -60_000, beside: true, startedMs: 13_050, attempts: 1, ranOn: 'bench-worker-2' });
  });

  it('When only the ordinary revocation ran, then the grant counts as not armed', () => {
    const r = expiryRevocation([scheduled(30, 100, 'bench-q'), started(31, 120, 30, 1, 'bench-worker-1')], EXPIRY);
    assert.equal(r?.armed, false);
    assert.equal(r?.beside, false);
    assert.equal(expiryRevocation([], EXPIRY), undefined);
  });

  it('When a burst ends before the second snapshot, then its CPU is read over the first interval, not as nothing', () => {
    const snap = (offsetMs: number, worker: number, machine: number) => ({ at: EXPIRY + offsetMs, parts: { worker }, machine });
    const snapshots = [snap(0, 10, 100), snap(1000, 10.8, 101.9), snap(2000, 11.5, 103.8)];
    // The last drop 0.36 s after the expiry: nearer the first snapshot, but that would be an empty window.
    assert.deepEqual(cpuOver(snapshots, EXPIRY + 360), { seconds: 1, parts: { worker: 0.8 }, machine: 1.9 });
    assert.deepEqual(cpuOver(snapshots, EXPIRY + 1900), { seconds: 2, parts: { worker: 1.5 }, machine: 3.8 });
    assert.equal(cpuOver(snapshots.slice(0, 1), EXPIRY + 360), undefined);
  });

  it('When a process group burns CPU, then its snapshot counts the seconds against its part, and the machine busy at least as long', async function () {
    this.timeout(20_000);
    // The child spins until it has used 0.3 s of CPU (however loaded the machine is), says so, and waits to be killed.
    const spin = "const t = process.cpuUsage(); while (process.cpuUsage(t).user + process.cpuUsage(t).system < 300000); process.stdout.write('spun'); setInterval(() => {}, 1000);";
    const parts = [{ name: 'busy', pgid: -1 }, { name: 'nobody', comm: 'no-such-process' }];
    const before = cpuSnapshot(parts);
    const child = spawn(process.execPath, ['-e', spin], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await new Promise((r) => child.stdout!.once('data', r));
      parts[0] = { name: 'busy', pgid: child.pid! };
      const during = cpuSnapshot(parts);
      assert.equal(before.parts.busy, 0);
      assert.ok(during.parts.busy! >= 0.29, `the spinning child used ${during.parts.busy} s`);
      assert.equal(during.parts.nobody, 0);
      assert.ok(during.machine - before.machine >= 0.29, `the machine was busy ${during.machine - before.machine} s`);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
