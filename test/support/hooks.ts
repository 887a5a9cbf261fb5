// Mocha root hooks: shared, lazily started components are stopped once at the end.

const cleanups: (() => Promise<void>)[] = [];

/** Registers a teardown to run after the whole test run (in reverse order). */
export function onTestRunEnd(fn: () => Promise<void>): void {
  cleanups.push(fn);
}

export const mochaHooks = {
  async afterAll(): Promise<void> {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        // eslint-disable-next-line no-console
        console.error('teardown failed:', err);
      }
    }
  },
};
