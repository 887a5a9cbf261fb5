import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { ALLOCATOR_ENV, missingTuning, WORKER_NODE_FLAGS } from '../../src/worker/process-tuning';

// The worker's memory settings (src/worker/process-tuning.ts): what the start-up log
// reports missing, and that the Node flag really bounds the young generation of
// both the main thread and a worker thread (where the workflows run).

const run = promisify(execFile);

/** The young generation's size after a burst of short-lived objects, on the main thread and on a worker thread, in MiB. */
const PROBE = `
const { Worker } = require('node:worker_threads');
const burst = "let keep = []; for (let i = 0; i < 2e6; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 100000) keep = []; }";
const youngMiB = "require('node:v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1048576";
const main = eval(burst + ';' + youngMiB);
const w = new Worker(burst + ";require('node:worker_threads').parentPort.postMessage(" + youngMiB + ')', { eval: true });
w.once('message', (thread) => { console.log(JSON.stringify({ main, thread })); w.terminate(); });
`;

async function youngGenerationMiB(flags: readonly string[]): Promise<{ main: number; thread: number }> {
  const { stdout } = await run(process.execPath, [...flags, '-e', PROBE], { env: { PATH: process.env.PATH, ...ALLOCATOR_ENV } });
  return JSON.parse(stdout) as { main: number; thread: number };
}

describe('process tuning (the worker started as the image starts it)', () => {
  it('When every setting is present, on the command line or in NODE_OPTIONS, then nothing is reported missing', () => {
    assert.deepEqual(missingTuning([...WORKER_NODE_FLAGS], { ...ALLOCATOR_ENV }), []);
    assert.deepEqual(missingTuning(['--enable-source-maps'], { ...ALLOCATOR_ENV, NODE_OPTIONS: `--enable-source-maps ${WORKER_NODE_FLAGS.join(' ')}` }), []);
  });

  it('When the flag or an allocator variable is missing or different, then each one is named with the value it should have', () => {
    assert.deepEqual(missingTuning([], {}), [...WORKER_NODE_FLAGS, ...Object.entries(ALLOCATOR_ENV).map(([k, v]) => `${k}=${v}`)]);
    assert.deepEqual(missingTuning([...WORKER_NODE_FLAGS], { ...ALLOCATOR_ENV, MALLOC_ARENA_MAX: '8' }), ['MALLOC_ARENA_MAX=2']);
    // A similar flag is not the flag.
    assert.deepEqual(missingTuning(['--max-semi-space-size=16'], { ...ALLOCATOR_ENV }), [...WORKER_NODE_FLAGS]);
  });

  it('When node runs with the worker flags, then the young generation of the main thread and of a worker thread stays small after a burst', async function () {
    this.timeout(30_000);
    const tuned = await youngGenerationMiB(WORKER_NODE_FLAGS);
    const untuned = await youngGenerationMiB([]);
    // Two semi-spaces of 4 MiB at most, against 16 MiB each by default.
    assert.ok(tuned.main <= 8 && tuned.thread <= 8, `tuned: ${JSON.stringify(tuned)}`);
    assert.ok(untuned.main > 8 && untuned.thread > 8, `the probe makes an untuned young generation grow: ${JSON.stringify(untuned)}`);
  });
});
