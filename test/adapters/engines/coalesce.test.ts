import { strict as assert } from 'node:assert';

import { Coalescer, type Outcome } from '../../../src/adapters/engines/coalesce';

// The natural batching of endAccess calls per server, with a fake batch (pure
// queueing logic; what a batch sends is tested against MariaDB in
// containment.test.ts and through the fault proxy in definer-refusal.test.ts).

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const tick = () => new Promise((r) => setImmediate(r));

/** A coalescer whose batches wait for `gate` (when set), recording each batch and its signal. */
function harness(options: { concurrency?: number; maxBatch?: number } = {}) {
  const batches: { key: string; inputs: string[]; signal: AbortSignal }[] = [];
  let gate: Deferred | undefined;
  const coalescer = new Coalescer<string, string>({
    concurrency: options.concurrency ?? 1,
    maxBatch: options.maxBatch ?? 100,
    process: async (key, inputs, signal) => {
      batches.push({ key, inputs, signal });
      const waitFor = gate;
      if (waitFor) await waitFor.promise;
      return inputs.map((i): Outcome<string> => (i.startsWith('bad') ? { ok: false, error: new Error(`no ${i}`) } : { ok: true, value: `done ${i}` }));
    },
    cancelled: (_key, input, started) => new Error(`cancelled ${started ? 'while' : 'before'} ${input}`),
  });
  return {
    coalescer,
    batches,
    hold: () => {
      gate = deferred();
      return gate;
    },
    open: () => {
      gate = undefined;
    },
  };
}

describe('coalescing endAccess calls (pure)', () => {
  it('When nothing is running, then a call starts its own batch at once', async () => {
    const h = harness();
    assert.equal(await h.coalescer.run('s1', 'a'), 'done a');
    assert.deepEqual(h.batches.map((b) => b.inputs), [['a']]);
  });

  it('When calls come in one turn of the event loop, each after its own chain of microtasks, then they start one batch together, not a batch of the first alone', async () => {
    // As armed revocations wake at their expiry (timers due at the same instant fire in one turn, each
    // callback followed by its microtasks): the first must not hold a slot for itself while the rest queue.
    // One timer and chains of different lengths make that turn here whatever the clock does.
    const h = harness({ concurrency: 3, maxBatch: 100 });
    const after = (hops: number, f: () => void): void => {
      if (hops === 0) f();
      else if (hops % 2 === 0) queueMicrotask(() => after(hops - 1, f));
      else process.nextTick(() => after(hops - 1, f));
    };
    const calls = await new Promise<Promise<string>[]>((made) =>
      setTimeout(() => made(['a', 'b', 'c', 'd', 'e'].map((x, i) => new Promise<string>((resolve, reject) => after(1 + i * 40, () => void h.coalescer.run('s1', x).then(resolve, reject))))), 20),
    );
    assert.deepEqual(await Promise.all(calls), ['done a', 'done b', 'done c', 'done d', 'done e']);
    assert.deepEqual(h.batches.map((b) => b.inputs), [['a', 'b', 'c', 'd', 'e']]);
  });

  it('When calls arrive while every slot is busy, then the next free slot takes all of them as one batch (up to maxBatch), and each caller gets its own outcome', async () => {
    const h = harness({ concurrency: 1, maxBatch: 3 });
    const gate = h.hold();
    const first = h.coalescer.run('s1', 'a');
    await tick();
    h.open();
    const later = ['b', 'bad-c', 'd', 'e'].map((x) => h.coalescer.run('s1', x).then((v) => v, (e: Error) => e.message));
    await tick();
    assert.equal(h.coalescer.waiting('s1'), 4);
    gate.resolve();
    assert.equal(await first, 'done a');
    assert.deepEqual(await Promise.all(later), ['done b', 'no bad-c', 'done d', 'done e']);
    assert.deepEqual(h.batches.map((b) => b.inputs), [['a'], ['b', 'bad-c', 'd'], ['e']]);
  });

  it('When calls are for different servers, then they never share a batch or wait for each other', async () => {
    const h = harness({ concurrency: 1 });
    const gate = h.hold();
    const one = h.coalescer.run('s1', 'a');
    await tick();
    h.open();
    assert.equal(await h.coalescer.run('s2', 'b'), 'done b');
    gate.resolve();
    await one;
    assert.deepEqual(h.batches.map((b) => [b.key, b.inputs]), [['s1', ['a']], ['s2', ['b']]]);
  });

  it('When a queued caller is cancelled, then it is answered at once and never reaches a batch; an already aborted signal sends nothing', async () => {
    const h = harness({ concurrency: 1 });
    const gate = h.hold();
    const first = h.coalescer.run('s1', 'a');
    await tick();
    h.open();
    const controller = new AbortController();
    const cancelled = h.coalescer.run('s1', 'x', controller.signal).then(() => 'resolved', (e: Error) => e.message);
    const other = h.coalescer.run('s1', 'y');
    await tick();
    controller.abort();
    assert.equal(await cancelled, 'cancelled before x');
    gate.resolve();
    await first;
    assert.equal(await other, 'done y');
    assert.deepEqual(h.batches.map((b) => b.inputs), [['a'], ['y']]);
    await assert.rejects(h.coalescer.run('s1', 'z', AbortSignal.abort()), /cancelled before z/);
    assert.equal(h.batches.length, 2);
  });

  it('When a caller in a running batch is cancelled, then it is answered at once and the batch goes on for the others; the batch is told to stop only when all its callers are gone', async () => {
    const h = harness({ concurrency: 1 });
    const gate = h.hold();
    const ca = new AbortController();
    const cb = new AbortController();
    const a = h.coalescer.run('s1', 'a', ca.signal).then((v) => v, (e: Error) => e.message);
    const b = h.coalescer.run('s1', 'b', cb.signal).then((v) => v, (e: Error) => e.message);
    await tick();
    assert.deepEqual(h.batches.map((x) => x.inputs), [['a', 'b']]);
    ca.abort();
    assert.equal(await a, 'cancelled while a');
    assert.equal(h.batches[0]!.signal.aborted, false);
    cb.abort();
    assert.equal(await b, 'cancelled while b');
    assert.equal(h.batches[0]!.signal.aborted, true);
    gate.resolve();
  });

  it('When a batch fails as a whole, then every caller in it gets that error and the next batch still runs', async () => {
    let calls = 0;
    const coalescer = new Coalescer<string, string>({
      concurrency: 1,
      maxBatch: 10,
      process: async (_key, inputs) => {
        calls += 1;
        if (calls === 1) throw new Error('server unavailable');
        return inputs.map((i) => ({ ok: true as const, value: i }));
      },
      cancelled: () => new Error('cancelled'),
    });
    const results = await Promise.all(['a', 'b'].map((x) => coalescer.run('s', x).then((v) => v, (e: Error) => e.message)));
    assert.deepEqual(results, ['server unavailable', 'server unavailable']);
    assert.equal(await coalescer.run('s', 'c'), 'c');
  });
});
