import assert from 'node:assert/strict';
import { DropsFirst } from '../../src/activities';

// The ordering that puts secret deletions after the drops in flight (pure logic).

describe('DropsFirst', () => {
  const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

  it('When no drop is in flight, then settled() resolves at once', async () => {
    const gate = new DropsFirst();
    let done = false;
    void gate.settled().then(() => (done = true));
    await tick(0);
    assert.equal(done, true);
  });

  it('When drops are in flight, then settled() waits for the last of them, also when one fails', async () => {
    const gate = new DropsFirst();
    const order: string[] = [];
    let release: Record<string, () => void> = {};
    const drop = (name: string, fail = false) =>
      gate.drop(() => new Promise<void>((resolve, reject) => (release[name] = () => (fail ? reject(new Error(name)) : resolve())))).then(
        () => order.push(`dropped ${name}`),
        () => order.push(`failed ${name}`),
      );
    const a = drop('a');
    const b = drop('b', true);
    const waiter = gate.settled().then(() => order.push('secret deleted'));
    await tick();
    release.a!();
    await tick();
    assert.deepEqual(order, ['dropped a'], 'still waiting for b');
    release.b!();
    await Promise.all([a, b, waiter]);
    assert.deepEqual(order, ['dropped a', 'failed b', 'secret deleted']);
    release = {};
  });

  it('When drops keep coming, then settled() gives up waiting after its bound', async () => {
    const gate = new DropsFirst(30);
    void gate.drop(() => new Promise(() => undefined)); // never ends
    const started = Date.now();
    await gate.settled();
    const waited = Date.now() - started;
    assert.ok(waited >= 25 && waited < 1000, `waited ${waited} ms`);
  });

  it('When more clean-ups come than its bound, then the rest wait their turn in order, also after one fails', async () => {
    const gate = new DropsFirst(10_000, 2);
    const running = new Set<string>();
    let most = 0;
    const order: string[] = [];
    const release: Record<string, (fail?: boolean) => void> = {};
    const cleanup = (name: string) =>
      gate
        .cleanup(
          () =>
            new Promise<void>((resolve, reject) => {
              running.add(name);
              most = Math.max(most, running.size);
              order.push(name);
              release[name] = (fail) => {
                running.delete(name);
                if (fail) reject(new Error(name));
                else resolve();
              };
            }),
        )
        .catch(() => undefined);
    const all = ['a', 'b', 'c', 'd', 'e'].map(cleanup);
    await tick();
    assert.deepEqual(order, ['a', 'b'], 'two at a time');
    release.a!(true);
    await tick();
    assert.deepEqual(order, ['a', 'b', 'c'], 'a failed clean-up frees its slot');
    release.b!();
    release.c!();
    await tick();
    assert.deepEqual(order, ['a', 'b', 'c', 'd', 'e']);
    release.d!();
    release.e!();
    await Promise.all(all);
    assert.equal(most, 2);
    assert.equal(running.size, 0);
  });

  it('When a drop is in flight, then a clean-up waits for it before it starts', async () => {
    const gate = new DropsFirst();
    const order: string[] = [];
    let releaseDrop!: () => void;
    const drop = gate.drop(() => new Promise<void>((resolve) => (releaseDrop = resolve))).then(() => order.push('dropped'));
    const cleanup = gate.cleanup(async () => order.push('secret deleted'));
    await tick();
    assert.deepEqual(order, []);
    releaseDrop();
    await Promise.all([drop, cleanup]);
    assert.deepEqual(order, ['dropped', 'secret deleted']);
  });
});
