// Mocha root hooks: shared, lazily started components are stopped once at the end.
//
// Two phases, so that the order in which things happened to be registered does
// not matter: first everything that cleans up (drops accounts, deletes secrets,
// stops workers), each in reverse order of registration; then the shared servers
// and pools those cleanups talk to (moto, SMTP, Temporal, the root pool).

// The AWS SDK warns once per process that Node 20 is past its end of life;
// docs/development.md says so, and repeating it in every test run's output hides real output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

type Cleanup = () => Promise<void>;
const cleanups: Cleanup[] = [];
const servers: Cleanup[] = [];

/** Registers a teardown to run after the whole test run. Shared servers and pools pass `{ server: true }`. */
export function onTestRunEnd(fn: Cleanup, options: { server?: boolean } = {}): void {
  (options.server ? servers : cleanups).push(fn);
}

async function runAll(list: Cleanup[]): Promise<void> {
  for (const fn of list.splice(0).reverse()) {
    try {
      await fn();
    } catch (err) {
      // eslint-disable-next-line no-console
      console.error('teardown failed:', err);
    }
  }
}

export const mochaHooks = {
  async afterAll(): Promise<void> {
    await runAll(cleanups);
    await runAll(servers);
  },
};
