import { startTestStack, type TestStack } from '../support/stack';
import { manyExpiries, printFigures } from './many-expiries';

// 200 grants expiring in the same second (npm run test:load does 1,000).

describe('many at once: 200 grants expiring in the same second', function () {
  this.timeout(300_000);
  let stack: TestStack;

  before(async () => {
    // POST /grants answers at once (202); the worker provisions in the background.
    stack = await startTestStack({ grantWaitMs: 0 });
  });
  after(async () => {
    await stack?.stop();
  });

  it('When 200 grants expire in the same second, then every account is gone and each grant has one EXPIRED event', async () => {
    // All 200 are ACTIVE about 19 s after the first is asked for; a 60 s lead leaves room for a
    // machine busy with the suite's other process (40 s was once too short there).
    printFigures(await manyExpiries(stack, 200, { leadMs: 60_000 }));
  });
});
