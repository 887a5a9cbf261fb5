import assert from 'node:assert/strict';

// How `npm test` (scripts/test.mjs) deals the test files out to its processes.

interface Group {
  files: string[];
  seconds: number;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { deal, plan } = require('../../scripts/test.mjs') as {
  deal: (files: string[], jobs: number, durations: Record<string, number>) => Group[];
  plan: (files: string[], jobs: number, durations: Record<string, number>) => { alone: string[]; groups: Group[] };
};

describe('npm test: dealing the files out to processes', () => {
  const files = ['test/a.test.ts', 'test/b.test.ts', 'test/c.test.ts', 'test/d.test.ts', 'test/dev/one.test.ts', 'test/dev/two.test.ts', 'test/ui/ui.test.ts', 'test/security/hostile-requests.test.ts'];
  const durations = { 'test/a.test.ts': 100, 'test/b.test.ts': 90, 'test/c.test.ts': 20, 'test/dev/one.test.ts': 50, 'test/dev/two.test.ts': 40, 'test/ui/ui.test.ts': 30, 'test/security/hostile-requests.test.ts': 10 };

  it('When the files are dealt to two processes, then each file runs exactly once', () => {
    const groups = deal(files, 2, durations);
    assert.equal(groups.length, 2);
    assert.deepEqual(groups.flatMap((g) => g.files).sort(), [...files].sort());
  });

  it('When files look at the whole server or run the dev stack, then one process runs them all, so they never overlap', () => {
    const groups = deal(files, 2, durations);
    const holders = ['test/dev/one.test.ts', 'test/dev/two.test.ts', 'test/ui/ui.test.ts', 'test/security/hostile-requests.test.ts'].map((f) => groups.findIndex((g) => g.files.includes(f)));
    assert.equal(new Set(holders).size, 1, JSON.stringify(groups));
  });

  it('When the files have recorded durations, then the longest go first to the least loaded process (a new file counts 10 s)', () => {
    // Units: the pinned four (130 s), a (100), b (90), c (20), d (unrecorded: 10).
    // 130 → first; 100 → second; 90 → second (100 < 130); 20 → first (130 < 190); 10 → first.
    assert.deepEqual(deal(files, 2, durations), [
      { files: ['test/dev/one.test.ts', 'test/dev/two.test.ts', 'test/ui/ui.test.ts', 'test/security/hostile-requests.test.ts', 'test/c.test.ts', 'test/d.test.ts'], seconds: 160 },
      { files: ['test/a.test.ts', 'test/b.test.ts'], seconds: 190 },
    ]);
  });

  it('When there are fewer files than processes, then no process is started empty', () => {
    assert.deepEqual(deal(['test/a.test.ts'], 4, {}), [{ files: ['test/a.test.ts'], seconds: 10 }]);
  });

  it('When a file stalls or changes the whole MariaDB server (the MySQL adapter: server-wide locks, the global sql_mode), then it runs first, alone', () => {
    const manager = 'test/adapters/engines/mysql/manager.test.ts';
    const { alone, groups } = plan([...files, manager], 2, durations);
    assert.deepEqual(alone, [manager]);
    assert.ok(groups.every((g) => !g.files.includes(manager)));
    assert.deepEqual(groups.flatMap((g) => g.files).sort(), [...files].sort());
  });
});
