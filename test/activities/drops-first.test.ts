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
});
