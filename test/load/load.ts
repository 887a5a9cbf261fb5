import { startTestStack, type TestStack } from '../support/stack';
import { manyExpiries, printFigures } from './many-expiries';

// `npm run test:load`: LOAD_GRANTS (default 1,000) grants expiring in the same
// second, on the same real stack as the tests. Not part of npm test.

const n = Number(process.env.LOAD_GRANTS ?? 1000);

describe(`load: ${n} grants expiring in the same second`, function () {
  this.timeout(0);
  let stack: TestStack;

  before(async () => {
    stack = await startTestStack({ grantWaitMs: 0 });
  });
  after(async () => {
    await stack?.stop();
  });

  it(`When ${n} grants expire in the same second, then every account is gone and each grant has one EXPIRED event`, async () => {
    // Generous: every grant must be ACTIVE before the common expiry, and starting
    // 1,000 of them takes over a minute on a small, busy machine.
    printFigures(await manyExpiries(stack, n, { leadMs: 30_000 + n * 250, log: (line) => process.stdout.write(`      ${line}\n`) }));
  });
});
